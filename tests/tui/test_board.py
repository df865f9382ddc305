"""The live board: rows updated in place, the log tail following and pausing, reconnecting."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.seed import seed_tasks
from taskboard.client import TaskboardClient
from taskboard.models import SummaryPage, TaskStatus
from taskboard.tui.app import OVERLAP, PAGE_SIZE, make_app
from taskboard.tui.board import SortOrder
from taskboard.tui.messages import BoardLoaded
from taskboard.tui.screens.disconnected import DisconnectedScreen
from taskboard.tui.widgets.log_tail import LogTail, LogView
from taskboard.tui.widgets.task_table import TaskTable
from tests.helpers import LONG, start_task, wait_for_status
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, select, tab_to, until


def row_text(table: TaskTable, task_id: str) -> str:
    index = table.board.index_of(task_id)
    assert index is not None
    y = index - int(table.scroll_y) + 1
    return "".join(segment.text for segment in table.render_line(y))


async def test_another_clients_change_updates_the_row_in_place(backend) -> None:
    server, client = backend
    tasks = [await client.create_task(title=f"task {i}", priority=2) for i in range(5)]
    watched, changed = tasks[1], tasks[3]
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in tasks))
        await select(pilot, watched.id)
        table = app.table
        cursor_before = table.cursor
        await client.update_task(changed.id, title="renamed elsewhere", status="queued")
        await until(pilot, lambda: app.board.tasks[changed.id].title == "renamed elsewhere")
        await pilot.pause(0.1)
        assert app.table is table  # the same widget: nothing was rebuilt
        assert table.selected_id == watched.id and table.cursor == cursor_before
        text = row_text(table, changed.id)
        assert "renamed elsewhere" in text and "queued" in text
        assert app.board.counts[TaskStatus.QUEUED] == 1 and app.board.counts[TaskStatus.PLANNED] == 4

        # Sorted to the top by a priority change elsewhere: the cursor stays on its task.
        await client.update_task(watched.id, priority=0)
        await until(pilot, lambda: app.board.tasks[watched.id].priority == 0)
        await until(pilot, lambda: table.cursor == 0, what="the batched repaint")
        assert table.selected_id == watched.id

        # Deleted elsewhere: the row goes, the cursor lands on a neighbour.
        await client.delete_task(watched.id)
        await until(pilot, lambda: watched.id not in app.board.tasks)
        await until(pilot, lambda: table.selected_id != watched.id, what="the batched repaint")
        assert table.selected_id in {t.id for t in tasks} - {watched.id}
        assert len(app.board) == 4


async def test_keys_move_the_cursor_and_search_filters(backend) -> None:
    server, client = backend
    for title in ("alpha report", "beta report", "gamma notes"):
        await client.create_task(title=title)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await until(pilot, lambda: len(app.board) == 3)
        await pilot.pause(0.1)
        first = app.table.selected_id
        await pilot.press("j")
        assert app.table.cursor == 1 and app.table.selected_id != first
        await pilot.press("G")
        assert app.table.cursor == 2
        await pilot.click(app.table, offset=(20, 2))  # the header, then the rows: line 2 is the second
        assert app.table.cursor == 1 and app.table.selected_id == app.board.order[1]
        await pilot.press("slash")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "search")
        await pilot.press(*"report")
        await until(pilot, lambda: len(app.board) == 2, what="the search to filter")
        assert all("report" in app.board.tasks[i].title for i in app.board.order)
        await pilot.press("enter", "escape")
        await until(pilot, lambda: len(app.board) == 3)
        await pilot.press("s")
        assert app.board.sort is SortOrder.CREATED
        await pilot.press("A")
        assert app.board.attention_first is False


async def test_attention_first_puts_waiting_tasks_on_top(backend) -> None:
    server, client = backend
    urgent = await client.create_task(title="urgent but idle", priority=0)
    asking = await start_task(client, "low priority question", priority=3,
                              params={"steps": 3, "stepSeconds": 0.02, "question": {"message": "?", "atStep": 1}})
    await wait_for_status(client, asking.id, "awaiting_input")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, urgent.id, asking.id)
        assert app.board.order[0] == asking.id
        await pilot.press("A")
        assert app.board.order[0] == urgent.id


async def test_the_log_tail_follows_pauses_on_scroll_and_resumes(backend) -> None:
    server, client = backend
    task = await start_task(client, "chatty", params={"steps": 100_000, "stepSeconds": 0.1, "costPerStepMicros": 1})
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        tail = app.query_one(LogTail)
        view = app.query_one(LogView)
        await until(pilot, lambda: len(view.lines) > 50, what="log lines")
        await until(pilot, lambda: view.scroll_y == view.max_scroll_y, what="the view at the end")
        assert tail.following
        await tab_to(pilot, view)
        await pilot.press("pageup")
        await until(pilot, lambda: not tail.following, what="pausing")
        paused_at = view.scroll_y
        await until(pilot, lambda: tail.pending >= 10, what="lines waiting")
        assert view.scroll_y == paused_at  # new lines did not move the view
        assert f"{tail.pending} new" in tail.border_subtitle
        await pilot.press("f")
        await pilot.pause(0.2)
        assert tail.following and tail.pending == 0
        await until(pilot, lambda: view.scroll_y == view.max_scroll_y)
        # A filter inside the log shows only matching lines.
        await pilot.press("slash")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "log-filter")
        await pilot.press(*"tool_use")
        await pilot.pause(0.2)
        assert tail.filter_text == "tool_use"
        assert all("tool_use" in line for line in view.lines)
        await client.cancel(task.id)


async def test_switching_tasks_switches_the_stream(backend) -> None:
    server, client = backend
    one = await start_task(client, "first stream", params=LONG)
    two = await start_task(client, "second stream", params=LONG)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, one.id, two.id)
        tail = app.query_one(LogTail)
        await select(pilot, one.id)
        await until(pilot, lambda: tail.entries, what="the first task's lines")
        await select(pilot, two.id)
        await until(pilot, lambda: tail.entries and tail.task_id == two.id, what="the second task's lines")
        await pilot.pause(0.6)
        assert {e.task_id for e in tail.entries} == {two.id}
        streams = [w for w in tail.workers if w.group == "logs" and not w.is_finished]
        assert len(streams) == 1  # the first stream was closed, not left running
        await client.cancel(one.id)
        await client.cancel(two.id)


async def test_unreachable_server_shows_a_screen_and_connects_when_it_comes(
        start_server: Callable[..., ServerProcess]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    loads: list[BoardLoaded] = []

    def hook(message: object) -> None:
        if isinstance(message, BoardLoaded):
            loads.append(message)

    app = make_app(f"http://127.0.0.1:{port}", bell=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen) and app.screen)
        body = await until(pilot, lambda: "Trying again" in (text := str(screen.query_one("#disconnected-body").render()))
                           and text)
        assert f"127.0.0.1:{port}" in body and "All connection attempts failed" in body
        assert app.connection == "disconnected"
        start_server("--port", str(port))
        await pilot.press("r")  # retry now instead of waiting
        await until(pilot, lambda: app.loaded, what="the board after the server came")
        await until(pilot, lambda: loads, what="the BoardLoaded message")
        assert not isinstance(app.screen, DisconnectedScreen)
        assert app.connection == "live" and loads[0].count == 0


async def test_a_server_restart_is_survived(backend) -> None:
    server, client = backend
    task = await client.create_task(title="before the restart")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        port = server.url.rsplit(":", 1)[1]
        server.kill()
        await until(pilot, lambda: app.connection == "reconnecting", what="reconnecting")
        server.args += ["--port", port]
        server.start()
        await until(pilot, lambda: app.connection == "live", what="live again")
        async with TaskboardClient(server.url) as again:
            await again.update_task(task.id, title="after the restart")
        await until(pilot, lambda: app.board.tasks[task.id].title == "after the restart")


async def test_a_task_failing_anywhere_is_announced(backend) -> None:
    server, client = backend
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        task = await start_task(client, "doomed", params={"steps": 3, "stepSeconds": 0.02, "failAtStep": 2})
        await wait_for_status(client, task.id, "failed")
        found = await until(pilot, lambda: [n for n in notifications(app) if "“doomed” failed" in n])
        assert "Simulated failure at step 2" in found[0]


async def test_a_crash_under_the_tui_loses_no_line_and_a_new_database_is_relisted(backend, tmp_path) -> None:
    """Issue 5's TUI under faults: SIGKILL mid-run, restart on the same database, then on a new one."""
    server, client = backend
    running = await start_task(client, "mid-run when the server dies", params=LONG)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, running.id)
        await select(pilot, running.id)
        tail = app.query_one(LogTail)
        await until(pilot, lambda: tail.task_id == running.id and len(tail.entries) >= 4, what="lines in the tail")
        port = server.url.rsplit(":", 1)[1]

        server.kill()
        await until(pilot, lambda: app.connection == "reconnecting" and tail.stream_state == "reconnecting",
                    what="reconnecting shown on the board and the tail")
        assert "reconnecting" in tail.border_title
        server.args += ["--port", port]
        server.start()  # the same database: the run is recovered as failed, resumable
        await until(pilot, lambda: app.connection == "live", what="live again")
        await until(pilot, lambda: app.board.tasks[running.id].status == TaskStatus.FAILED, what="the row failed")
        await until(pilot, lambda: tail.entries and tail.entries[-1].message.startswith("Interrupted"),
                    what="the tail resumed to the end")
        with sqlite3.connect(server.db_path) as db:
            stored = [r[0] for r in db.execute(
                "SELECT id FROM task_events WHERE task_id = ? AND kind = 'log' ORDER BY id", (running.id,))]
        assert [e.id for e in tail.entries] == stored  # nothing missing, nothing twice

        server.kill()
        fresh = ServerProcess(tmp_path / "another.db", "--port", port, "--heartbeat", "0.5")
        fresh.start()  # a server that never knew our revision: its watch says reset, the board re-lists
        try:
            async with TaskboardClient(fresh.url) as other:
                newcomer = await other.create_task(title="only on the new server")
            await until(pilot, lambda: newcomer.id in app.board.tasks and running.id not in app.board.tasks,
                        what="the board re-listed from the new server")
            assert app.connection == "live"
        finally:
            fresh.stop()


async def test_a_board_of_several_pages_shows_its_top_at_once_and_loses_nothing_created_meanwhile(
        start_server: Callable[..., ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three pages, newest first. The rows on top after the first page are the ones on top when the
    board is whole; tasks created after the first page push the oldest past where the pages were to
    end (the last page would end OVERLAP rows past the board), and the load follows them there."""
    db = tmp_path / "paged.db"
    seeded = 3 * (PAGE_SIZE - OVERLAP)
    seed_tasks(db, seeded)
    server = start_server(db=db)
    created: list[str] = []
    pages: list[tuple[int, int]] = []
    list_summaries = TaskboardClient.list_summaries

    async def then_create(self: TaskboardClient, *, limit: int, offset: int = 0, sort: str | None = None,
                          **more: Any) -> SummaryPage:
        page = await list_summaries(self, limit=limit, offset=offset, sort=sort, **more)
        pages.append((offset, len(page.items)))
        if offset == 0 and not created:  # another client, while the rest is still to come
            async with TaskboardClient(server.url) as other:
                created.extend([(await other.create_task(title=f"meanwhile {i}", priority=3)).id
                                for i in range(OVERLAP + 10)])
        return page

    monkeypatch.setattr(TaskboardClient, "list_summaries", then_create)
    loads: list[BoardLoaded] = []
    top_after_first: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, BoardLoaded):
            loads.append(message)
            if not message.complete:
                top_after_first.extend(app.board.order[i] for i in range(40))

    app = make_app(server.url, bell=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await until(pilot, lambda: any(load.complete for load in loads), what="the whole board")
        await until(pilot, lambda: all(t in app.board.tasks for t in created), what="the new tasks")
        async with TaskboardClient(server.url) as check:
            everything = {t.id async for page in check.iter_task_pages(page_size=1000) for t in page.items}
        assert len(everything) == seeded + OVERLAP + 10
        assert set(app.board.tasks) == everything
        assert len(app.board) == len(everything)
        assert not loads[0].complete and loads[0].count == PAGE_SIZE
        assert top_after_first == [app.board.order[i] for i in range(40)]
        # The last page asked for began where the first page's total said the board ended.
        assert max(offset for offset, _ in pages) == seeded


@pytest.mark.parametrize("deleted", [10, 60])
async def test_tasks_deleted_while_the_board_loads_leave_no_task_unseen(
        deleted: int, start_server: Callable[..., ServerProcess], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting tasks the first page holds slides every later row up: 10 stay within the overlap the
    next page starts with, 60 go past it and that page is asked for again from further back."""
    db = tmp_path / "paged.db"
    seed_tasks(db, 3 * PAGE_SIZE)
    server = start_server(db=db)
    gone: list[str] = []
    pages: list[int] = []
    list_summaries = TaskboardClient.list_summaries

    async def then_delete(self: TaskboardClient, *, limit: int, offset: int = 0, sort: str | None = None,
                          **more: Any) -> SummaryPage:
        page = await list_summaries(self, limit=limit, offset=offset, sort=sort, **more)
        pages.append(offset)
        if offset == 0 and not gone:  # the newest, on the board already
            async with TaskboardClient(server.url) as other:
                for task in page.items[:deleted]:
                    await other.delete_task(task.id)
                    gone.append(task.id)
        return page

    monkeypatch.setattr(TaskboardClient, "list_summaries", then_delete)
    loads: list[BoardLoaded] = []
    app = make_app(server.url, bell=False)
    async with app.run_test(size=SIZE, message_hook=lambda m: isinstance(m, BoardLoaded) and loads.append(m)) as pilot:
        await until(pilot, lambda: any(load.complete for load in loads), what="the whole board")
        await until(pilot, lambda: not any(t in app.board.tasks for t in gone), what="the deletions")
        async with TaskboardClient(server.url) as check:
            everything = {t.id async for page in check.iter_task_pages(page_size=1000) for t in page.items}
        assert len(everything) == 3 * PAGE_SIZE - deleted
        assert set(app.board.tasks) == everything and len(app.board) == len(everything)
        asked_again = len(pages) != len(set(pages))
        assert asked_again == (deleted > OVERLAP)


async def test_the_detail_pane_follows_its_task_and_scrolls_what_it_grew(backend) -> None:
    server, client = backend
    task = await client.create_task(title="watched", description="one line")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        pane = app.detail
        await until(pilot, lambda: "one line" in pane.text, what="the description")
        height = pane.virtual_size.height
        assert pane.max_scroll_y == 0

        long = "\n".join(f"line {i}" for i in range(40))
        await client.update_task(task.id, title="watched, renamed", description=long)
        await until(pilot, lambda: "line 39" in pane.text and "watched, renamed" in pane.text,
                    what="the changed task in the pane")
        assert pane.virtual_size.height == height + 39
        await tab_to(pilot, pane)
        await pilot.press("end")
        await until(pilot, lambda: pane.scroll_y == pane.max_scroll_y > 0, what="scrolled to the end")
        await pilot.pause()
        # What the screen shows (the pane's drawn lines, border included), not what the pane would draw.
        shown = ["".join(s.text for s in strip) for strip in pane.render_lines(pane.region.reset_offset)]
        assert "line 39" in shown[-2] and "line 38" in shown[-3]


async def test_the_table_draws_the_rows_its_scroll_position_says(backend) -> None:
    """A scrollbar dragged (or a scroll animated) leaves the position between two rows: the rows drawn
    are those Textual's rounding says, the one it redraws by."""
    server, client = backend
    tasks = [await client.create_task(title=f"row {i}", priority=2) for i in range(60)]
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in tasks))
        table = app.table
        await until(pilot, lambda: table.max_scroll_y > 5, what="a table taller than the screen")
        for position in (2.6, 4.4, 5.5):
            table.scroll_to(y=position, animate=False, immediate=True)
            await pilot.pause()
            top = app.board.at(table.scroll_offset.y)
            assert top is not None
            drawn = "".join(s.text for s in table.render_lines(table.region.reset_offset)[1])
            assert f"{top.title} " in drawn


async def test_an_empty_server_says_so_and_how_to_start_once_it_has_answered(backend) -> None:
    """Until the first page is in, the table says it is loading; an empty answer must replace that on screen
    (the table redraws only rows whose age changed, and an empty one has none)."""
    server, _ = backend
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.loaded, what="the board")
        await until(pilot, lambda: "No tasks yet. Press n to create one." in screen_text(app), what="the empty board")
        assert "Loading tasks" not in screen_text(app)
