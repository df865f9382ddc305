"""Switching context inside the TUI, and one board over several servers."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from taskboard.client import TaskboardClient
from taskboard.connect import MultiServer, RemoteServer
from taskboard.tui.app import ContextChoice, make_app
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.contexts import ContextScreen
from tests.helpers import wait_for_status
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, select, until


def control(server: ServerProcess, method: str, path: str, body: object = None) -> object:
    response = httpx.request(method, server.url + path, json=body)
    response.raise_for_status()
    return response.json()


def three_servers(local: ServerProcess, cortex: ServerProcess, v1: ServerProcess) -> MultiServer:
    """One board over the bundled server (local), a Cortex stand-in (graph, key "ck") and a read-only
    v1-envelope stand-in (lab)."""
    return MultiServer({
        "local": RemoteServer(local.url, label="local"),
        "graph": RemoteServer(cortex.url, "ck", label="graph", dialect="cortex", poll_interval=0.5),
        "lab": RemoteServer(v1.url, label="lab", dialect="v1-envelope", poll_interval=0.5, read_only=True),
    })


async def test_switch_context_with_the_key_and_the_palette(server: ServerProcess, client: TaskboardClient,
                                                           contract_server: Callable[..., ServerProcess]) -> None:
    native = await client.create_task(title="native task on the bundled backend")
    v1 = contract_server("v1-envelope")
    control(v1, "POST", "/_contract/tasks", {"status": "running", "task_type": "crawl"})
    contexts = {
        "local": ContextChoice(server.url, lambda: RemoteServer(server.url, label="local")),
        "research": ContextChoice(v1.url + "  v1-envelope",
                                  lambda: RemoteServer(v1.url, label="research", dialect="v1-envelope",
                                                       poll_interval=0.5), read_only=True),
    }
    app = make_app(connector=contexts["local"].connect(), contexts=contexts, context="local", bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, native.id)
        await pilot.press("ctrl+k")
        screen = await until(pilot, lambda: isinstance(app.screen, ContextScreen) and app.screen)
        assert [name for name, _ in screen.contexts] == ["local", "research"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.loaded and "1" in app.board.tasks, what="the research board")
        assert native.id not in app.board.tasks and app.board.tasks["1"].title == "crawl #1"
        assert app.context == "research" and app.status_bar.server.startswith("research")
        # research is read-only: the keys that change things are off, with the reason.
        await select(pilot, "1")
        assert app.check_action("cancel", ()) is None and "Read-only" in (app.why_disabled("cancel") or "")
        # And back, from the command palette's command.
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Switch context: local" in commands and "Switch context: research" not in commands
        await pilot.press("ctrl+p", *"Switch context: local")
        await until(pilot, lambda: "Switch context: local" in screen_text(app).split("\n", 3)[-1],
                    what="the command offered")
        await pilot.press("enter")
        await until(pilot, lambda: app.loaded and native.id in app.board.tasks, what="the local board again")
        assert "1" not in app.board.tasks and not app.read_only


async def test_one_board_over_several_servers(server: ServerProcess, client: TaskboardClient,
                                              contract_server: Callable[..., ServerProcess]) -> None:
    native = await client.create_task(title="on the bundled backend",
                                      params={"steps": 100_000, "stepSeconds": 0.2, "costPerStepMicros": 0})
    await client.queue(native.id)
    await client.execute(native.id)
    cortex = contract_server("cortex", api_key="ck")
    control(cortex, "POST", "/_contract/tasks", {"task_id": "t1", "status": "running", "progress_percent": 10})
    v1 = contract_server("v1-envelope")
    control(v1, "POST", "/_contract/tasks", {"status": "running"})
    board = three_servers(server, cortex, v1)
    async with make_app(connector=board, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, f"local/{native.id}", "graph/t1", "lab/1")
        # A column names each row's server.
        assert app.table.server_of is not None
        header = "".join(s.text for s in app.table.render_line(0))
        assert "SERVER" in header
        await select(pilot, "graph/t1")
        row = "".join(s.text for s in app.table.render_line(1 + app.table.cursor))
        assert "graph" in row
        # Each row's actions are its server's: cortex cannot create or resume, the lab is read-only.
        assert "Cortex cannot resume" in (app.why_disabled("resume") or "")
        await select(pilot, "lab/1")
        assert "lab is a read-only context" in (app.why_disabled("cancel") or "")
        assert "open one" in (app.why_disabled("new_task") or "")
        # Cancel goes to the row's own server; the polled row and the native row both follow.
        await select(pilot, "graph/t1")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.board.tasks["graph/t1"].status == "cancelled", what="the cortex row")
        on_cortex = httpx.get(f"{cortex.url}/api/tasks/t1", headers={"X-API-Key": "ck"}).json()
        assert on_cortex["status"] == "cancelled"
        await select(pilot, f"local/{native.id}")
        await pilot.press("c", "y")
        await wait_for_status(client, native.id, "cancelled")
        await until(pilot, lambda: app.board.tasks[f"local/{native.id}"].status == "cancelled",
                    what="the native row (its event stream)")
        assert not [n for n in notifications(app) if "refused" in n or "failed" in n]
