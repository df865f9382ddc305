"""The TUI against each third-party API's contract server: the board, the panes, the actions the
server allows, and a reason for every action it does not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskboard.client.dialects import make_client
from taskboard.connect import RemoteServer
from taskboard.tui.app import make_app
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.message import MessageScreen
from taskboard.tui.screens.new_task import NewTaskScreen
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, fill, loaded, notifications, select, until

WORKSPACE = str(uuid.uuid4())


def control(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body)
    response.raise_for_status()
    return response.json()


async def seeded(name: str, server: ServerProcess, tmp_path: Path) -> tuple[dict[str, Any], str, str | None]:
    """(settings, id of a running task, api key) for one contract server with a running task on it."""
    if name == "v1-envelope":
        control(server, "POST", "/_contract/tasks", {"status": "running", "progress": 40,
                                                      "params": {"query": "graph neural networks"}})
        return {}, "1", None
    if name == "cortex":
        control(server, "POST", "/_contract/tasks", {"task_id": "task_1", "status": "running",
                                                      "progress_percent": 40, "message": "Analyzing graph"})
        return {}, "task_1", "cortex-key"
    if name == "background-tasks":
        settings = {"workspace_id": WORKSPACE, "conversation_id": str(uuid.uuid4())}
        async with make_client(name, server.url, **settings) as client:
            task = await client.create_task(description="Synthesize all interview sources")
        control(server, "PATCH", f"/_contract/tasks/{task.id}", {"status": "running", "phase": "reading",
                                                                  "progress": 40, "message": "Analyzing graph"})
        return settings, task.id, None
    control(server, "PUT", "/_contract/agents/agent-1", {"state": "active"})
    settings = {"agent_id": "agent-1", "registry_path": str(tmp_path / "registry.json")}
    async with make_client(name, server.url, "jwt", **settings) as client:
        task = await client.create_task(message="Analyzing graph for the Q3 report")
    control(server, "PATCH", f"/_contract/tasks/{task.id}", {"status": "running"})
    return settings, task.id, "jwt"


# A line the log tail shows for the running task: the server's progress stream (background-tasks),
# or the changes polling saw (the others).
TAIL = {
    "v1-envelope": "progress 40/100, 40%",
    "cortex": "Analyzing graph",
    "background-tasks": "[running] reading: 40% Analyzing graph",
    "agent-platform": "status: running",
}

# What each server cannot do, and a word its reason must contain.
CANNOT = {
    "v1-envelope": ("new_task", "pipelines"),
    "cortex": ("new_task", "spawned by other operations"),
    "background-tasks": ("delete", "no delete"),
    "agent-platform": ("resume", "submit it again"),
}


@pytest.mark.parametrize("name", list(CANNOT))
async def test_board_panes_cancel_and_reasons(name: str, contract_server: Callable[..., ServerProcess],
                                              tmp_path: Path) -> None:
    key = {"cortex": "cortex-key", "agent-platform": "jwt"}.get(name)
    server = contract_server(name, api_key=key)
    settings, task_id, key = await seeded(name, server, tmp_path)
    connector = RemoteServer(server.url, key, dialect=name, poll_interval=0.5, settings=settings)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task_id)
        assert app.board.tasks[task_id].status == "running"
        await select(pilot, task_id)
        # The detail pane fetched the task; the log tail shows what the server offers about it.
        await until(pilot, lambda: app.detail.view and app.detail.view.detail, what="the detail")
        expected = TAIL[name]
        await until(pilot, lambda: any(expected in e.message for e in app.log_tail.entries),
                    what=f"{expected!r} in the log tail")

        action, words = CANNOT[name]
        assert app.check_action(action, ()) is None
        assert words in (app.why_disabled(action) or "")
        await pilot.press({"new_task": "n", "delete": "D", "resume": "r"}[action])
        assert not isinstance(app.screen, NewTaskScreen | ConfirmScreen)
        assert any(words in n for n in notifications(app))

        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: app.board.tasks[task_id].status == "cancelled", what="the polled row to update")
        async with make_client(name, server.url, key, **settings) as client:
            assert (await client.get_task(task_id)).status == "cancelled"


async def test_spawn_from_the_form_on_background_tasks(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("background-tasks")
    settings = {"workspace_id": WORKSPACE, "conversation_id": str(uuid.uuid4())}
    connector = RemoteServer(server.url, dialect="background-tasks", poll_interval=0.5, settings=settings)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), what="the form")
        await fill(pilot, "title", "Draft the onboarding doc")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), what="the form to close")
        row = await until(pilot, lambda: next(iter(app.board.tasks.values()), None), what="the new row")
        assert row.title == "agent: Draft the onboarding doc" and row.status == "queued"


async def test_message_a_task_awaiting_input_on_the_agent_platform(
        contract_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = contract_server("agent-platform")
    settings, task_id, _ = await seeded("agent-platform", server, tmp_path)
    connector = RemoteServer(server.url, dialect="agent-platform", poll_interval=0.5, settings=settings)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task_id)
        await select(pilot, task_id)
        assert "not awaiting input" in (app.why_disabled("message") or "")
        control(server, "PATCH", f"/_contract/tasks/{task_id}", {"status": "awaiting_input"})
        await until(pilot, lambda: app.board.tasks[task_id].status == "awaiting_input", what="awaiting input")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MessageScreen))
        await pilot.press(*"use the final figures", "enter")
        await until(pilot, lambda: control(server, "GET", f"/_contract/tasks/{task_id}").get("messages"),
                    what="the message to arrive")
        assert control(server, "GET", f"/_contract/tasks/{task_id}")["messages"] == ["use the final figures"]
        await until(pilot, lambda: app.board.tasks[task_id].status == "running", what="running again")


async def test_the_board_on_a_plain_seed_001_server(server: ServerProcess,
                                                    contract_server: Callable[..., ServerProcess]) -> None:
    plain = contract_server("plain-seed-001", upstream=server.url)
    async with make_client("taskboard", server.url) as native:
        task = await native.create_task(title="watched through a plain server",
                                        params={"steps": 100_000, "stepSeconds": 0.2, "costPerStepMicros": 0})
        await native.queue(task.id)
        await native.execute(task.id)
        connector = RemoteServer(plain.url, poll_interval=0.5)
        async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
            app = await loaded(pilot, task.id)
            await select(pilot, task.id)
            await until(pilot, lambda: app.log_tail.stream_state.startswith("no log stream"), what="the tail")
            assert "plain seed-001" in app.log_tail.stream_state
            assert "plain seed-001" in (app.why_disabled("message") or "")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: app.board.tasks[task.id].status == "cancelled", what="the polled row")
            assert (await native.get_task(task.id)).status == "cancelled"


async def test_cleanup_from_the_board_on_cortex(contract_server: Callable[..., ServerProcess]) -> None:
    from datetime import UTC, datetime, timedelta

    server = contract_server("cortex")
    old = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    control(server, "POST", "/_contract/tasks", {"task_id": "old", "status": "completed", "updated_at": old,
                                                  "result": {"communities": 3}})
    control(server, "POST", "/_contract/tasks", {"task_id": "new", "status": "running"})
    connector = RemoteServer(server.url, dialect="cortex", poll_interval=0.5)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, "old", "new")
        await select(pilot, "old")
        # A completed Cortex task's result (a second call) is in the detail.
        await until(pilot, lambda: app.detail.view and app.detail.view.detail
                    and app.detail.view.detail.result_data == {"communities": 3}, what="the result")
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: "old" not in app.board.tasks, what="the cleaned task to go")
        assert "new" in app.board.tasks
        assert any("Removed 1 finished task" in n for n in notifications(app))


async def test_submit_from_the_form_on_the_agent_platform(contract_server: Callable[..., ServerProcess],
                                                          tmp_path: Path) -> None:
    server = contract_server("agent-platform", api_key="platform-key")
    control(server, "PUT", "/_contract/agents/agent-1", {"state": "paused"})
    settings = {"agent_id": "agent-1", "registry_path": str(tmp_path / "registry.json"),
                "auth_header": "X-API-Key"}  # a platform API key rather than a JWT
    connector = RemoteServer(server.url, "platform-key", dialect="agent-platform", poll_interval=0.5,
                             settings=settings)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("n")
        screen = await until(pilot, lambda: isinstance(app.screen, NewTaskScreen) and app.screen)
        # The platform takes a message: the form asks for what it can send, not taskboard's priorities.
        assert not screen.query_one("#priority").display and not screen.query_one("#start").display
        await fill(pilot, "title", "Summarize the Q3 report")
        await fill(pilot, "description", "Use the final figures")
        await pilot.press("ctrl+s")
        # The agent is paused: the platform's 503, said as what it is, and the form stays open.
        error = await until(pilot, lambda: str(screen.query_one("#form-error").render()), what="the error")
        assert "503: Agent agent-1 is unavailable (paused, stopped, or in an error state)" in error
        control(server, "PUT", "/_contract/agents/agent-1", {"state": "active"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), what="the form to close")
        row = await until(pilot, lambda: next(iter(app.board.tasks.values()), None), what="the new row")
        assert row.title == "Summarize the Q3 report Use the final figures" and row.status == "queued"
        sent = control(server, "GET", f"/_contract/tasks/{row.id}")
        assert sent["message"] == "Summarize the Q3 report\n\nUse the final figures" and sent["priority"] == 5


async def test_a_board_larger_than_the_servers_page_loads_whole(contract_server: Callable[..., ServerProcess]) -> None:
    """Background Tasks gives at most 100 a page: the board asks for its pages that far apart."""
    server = contract_server("background-tasks")
    settings = {"workspace_id": WORKSPACE, "conversation_id": str(uuid.uuid4())}
    async with make_client("background-tasks", server.url, **settings) as client:
        # Side by side: this server answers a POST on a kept-alive connection only after ~40 ms.
        created = await asyncio.gather(*(client.create_task(description=f"task {i}") for i in range(250)))
        ids = {task.id for task in created}
    connector = RemoteServer(server.url, dialect="background-tasks", poll_interval=0.5, settings=settings)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await until(pilot, lambda: len(app.board.tasks) >= len(ids), what="every page")
        await pilot.pause(0.2)
        assert set(app.board.tasks) == ids and len(app.board) == len(ids)


async def test_auto_guesses_on_an_empty_server_and_detects_again_when_tasks_appear(
        contract_server: Callable[..., ServerProcess]) -> None:
    """An empty list proves nothing: `auto` says it guessed, keeps asking, and when the first task shows
    which API this is, the board starts over on it."""
    server = contract_server("cortex")
    # Unknown paths answer seed 001's {"error"} body here, so the first guess is a plain seed-001 server.
    httpx.post(server.url + "/_quirks", json={"path": "/api/health", "status": 404,
                                               "contentType": "application/json",
                                               "body": '{"error": "Not found"}'}).raise_for_status()
    connector = RemoteServer(server.url, dialect="auto", poll_interval=0.5)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        assert connector.label.endswith("(taskboard, guessed)") and connector.in_use == "taskboard"
        control(server, "POST", "/_contract/tasks", {"task_id": "task_1", "status": "running"})
        await until(pilot, lambda: "task_1" in app.board.tasks, timeout=20, what="the board on the right dialect")
        assert connector.in_use == "cortex" and connector.label.endswith("(cortex, detected)")
        assert app.status_bar.server == connector.label
        assert any("speaks cortex, not taskboard" in n for n in notifications(app))
