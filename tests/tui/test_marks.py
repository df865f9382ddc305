"""Marks and bulk actions, from the keyboard, against the real backend and a contract server: the
servers' state is the judge (each got its own calls), and the screen says which could not take it."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from taskboard.client import TaskboardClient
from taskboard.models import TaskStatus
from taskboard.tui.app import make_app
from taskboard.tui.screens.confirm import ConfirmScreen
from tests.helpers import FAST, start_task, wait_for_status
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, select, until
from tests.tui.test_actions import asks, pending
from tests.tui.test_contexts import control, three_servers


async def test_ten_marked_tasks_cancelled_in_one_go(backend) -> None:
    server, client = backend
    done = [await start_task(client, f"finished {i}", params=FAST) for i in range(2)]
    for task in done:
        await wait_for_status(client, task.id, "completed")
    planned = [await client.create_task(title=f"planned {i}") for i in range(10)]
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in [*done, *planned]))
        # space marks the row under the cursor and moves down (it no longer pages down).
        await pilot.press("g")
        first = app.table.selected_id
        await pilot.press("space")
        assert app.table.cursor == 1 and app.board.marked == {first}
        assert "1 marked" in screen_text(app).splitlines()[0]
        await pilot.press("escape")  # clears the marks
        assert not app.board.marked and "marked" not in screen_text(app).splitlines()[0]
        # Mark all shown (12), two of them completed: one question names them and why.
        await pilot.press("asterisk")
        await until(pilot, lambda: "12 marked" in screen_text(app).splitlines()[0], what="the count in the bar")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="one confirmation")
        question = screen_text(app)
        assert "Cancel 10 tasks of the 12 marked?" in question
        assert "2 cannot be cancelled" in question
        for task in done:
            assert f"“{task.title}”: The task is already completed." in question
        await pilot.press("y")
        await until(pilot, lambda: any("Cancelled: 10 tasks; 2 skipped" in n for n in notifications(app)),
                    what="the outcome")
        cancelled = (await client.list_tasks(status="cancelled")).items
        assert sorted(t.id for t in cancelled) == sorted(t.id for t in planned)  # ten cancels, these ten
        assert {(await client.get_task(t.id)).status for t in done} == {TaskStatus.COMPLETED}
        # The two that could not take it stay marked, for the next key; the others are unmarked.
        assert app.board.marked == {t.id for t in done}
        assert "2 marked" in screen_text(app).splitlines()[0]
        # Nothing a cancel can take is left among the marks: the key says why instead of asking.
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("None of the 2 marked tasks" in n for n in notifications(app))


async def test_marks_on_a_board_over_several_servers_go_to_each_tasks_own_server(
        server: ServerProcess, client: TaskboardClient, contract_server: Callable[..., ServerProcess]) -> None:
    local = [await client.create_task(title=f"local bulk {i}") for i in range(2)]
    cortex = contract_server("cortex", api_key="ck")
    for name in ("c1", "c2"):
        control(cortex, "POST", "/_contract/tasks", {"task_id": name, "status": "running", "progress_percent": 5})
    v1 = contract_server("v1-envelope")
    control(v1, "POST", "/_contract/tasks", {"status": "running"})
    board = three_servers(server, cortex, v1)
    wanted = [f"local/{local[0].id}", f"local/{local[1].id}", "graph/c1", "graph/c2", "lab/1"]
    async with make_app(connector=board, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *wanted)
        for task_id in wanted:
            await select(pilot, task_id)
            await pilot.press("space")
        assert app.board.marked == set(wanted)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        question = screen_text(app)
        assert "Cancel 4 tasks of the 5 marked?" in question and "lab is a read-only context" in question
        await pilot.press("y")
        await until(pilot, lambda: any("Cancelled: 4 tasks; 1 skipped" in n for n in notifications(app)),
                    what="the outcome")
        for task in local:
            assert (await client.get_task(task.id)).status == "cancelled"
        for name in ("c1", "c2"):
            on_cortex = httpx.get(f"{cortex.url}/api/tasks/{name}", headers={"X-API-Key": "ck"}).json()
            assert on_cortex["status"] == "cancelled"
        assert httpx.get(f"{v1.url}/api/v1/tasks/1").json()["data"]["status"] == "running"
        assert app.board.marked == {"lab/1"}


async def test_three_marked_tasks_requests_allowed_with_one_key(backend) -> None:
    server, client = backend
    asking = [await start_task(client, f"asking {i}", params=asks(command=f"make part{i}")) for i in range(3)]
    for task in asking:
        await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in asking))
        await until(pilot, lambda: len(app.board.permissions) == 3, what="the requests")
        for task in asking:
            await select(pilot, task.id)
            await pilot.press("space")
        while app.screen is not app.screen_stack[0]:  # a modal that opened by itself for the cursor's task
            await pilot.press("escape")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "Allow 3 tasks marked?" in screen_text(app)
        await pilot.press("y")
        for task in asking:
            await wait_for_status(client, task.id, "completed")
        assert not await client.list_permissions("pending")
        assert {r.behavior for r in await client.list_permissions(None)} == {"allow"}
