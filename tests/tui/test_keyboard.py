"""The board as a person drives it (issue 18): keys only, typed text included, the server as the judge.

These tests press keys (pilot.press, or `burst` for keys that arrive faster than the app handles them)
and read the screen or the server. They never set a widget's value or call an action method: the
walls a keyboard user hits (a Tab that moves nowhere, an enter that allows, a key that runs as a
command) only show when the keys go the whole way through the app.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from textual.command import CommandPalette
from textual.widgets import Input

from taskboard.client import TaskboardClient
from taskboard.connect import RemoteServer
from taskboard.tui.app import ContextChoice, make_app
from taskboard.tui.screens.contexts import ContextScreen
from taskboard.tui.screens.detail import DetailScreen
from taskboard.tui.screens.disconnected import DisconnectedScreen
from taskboard.tui.screens.filter import FilterScreen
from taskboard.tui.screens.new_task import NewTaskScreen
from taskboard.tui.screens.permission import PermissionScreen
from taskboard.tui.screens.triage import TriageScreen
from tests.helpers import LONG, start_task, wait_for_status, wait_until
from tests.tui.pilot import SIZE, burst, loaded, notifications, screen_text, select, until
from tests.tui.test_actions import asks, pending


def focused_id(app: Any) -> str | None:
    return app.focused.id if app.focused is not None else None


async def review(pilot: Any, task_id: str) -> None:
    """Open the review dialog of a task's waiting request, as a person does: cursor on it, then p."""
    app = pilot.app
    await until(pilot, lambda: any(r.task_id == task_id for r in app.board.permissions.values()),
                what="the request")
    await select(pilot, task_id)
    await pilot.press("p")
    await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the review dialog")


async def actions_done(pilot: Any) -> None:
    """Every server call a key started has come back (the app's own workers, not a sleep)."""
    app = pilot.app
    await pilot.pause()
    await until(pilot, lambda: not [w for w in app.workers if w.group == "actions" and not w.is_finished],
                what="the actions to finish")


# ---------------------------------------------------------------- 1. Tab and shift+Tab in every dialog


async def test_the_new_task_form_is_filled_by_typing_through_tab(backend) -> None:
    server, client = backend
    project = await client.create_project("Docs", "the docs")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await until(pilot, lambda: app.projects, what="the projects")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen) and focused_id(app) == "title")
        await pilot.press(*"hello", "tab", *"desc")
        assert focused_id(app) == "description"
        await pilot.press("tab")  # priority: P2 by default; one up is P1
        assert focused_id(app) == "priority"
        await pilot.press("enter", "up", "enter")
        await pilot.press("tab")  # agent: the first one offered
        assert focused_id(app) == "assignedAgent"
        agent = app.agents[0]
        await pilot.press("enter", "down", "enter")
        await pilot.press("tab")  # project
        assert focused_id(app) == "projectId"
        await pilot.press("enter", "down", "enter")
        await pilot.press("tab", *'{"steps": 2}')
        assert focused_id(app) == "params"
        await pilot.press("tab", "space")  # "start now" off: the task stays planned
        assert focused_id(app) == "start"
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "shift+tab", "shift+tab")
        assert focused_id(app) == "description"  # shift+tab walks back the same way
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), what="the form to close")
        page = await client.list_tasks()
        [task] = page.items
        assert (task.title, task.description, task.priority) == ("hello", "desc", 1)
        assert (task.assigned_agent, task.project_id, task.status) == (agent, project.id, "planned")
        assert (await client.get_task(task.id)).params == {"steps": 2}


async def test_review_always_allows_an_edited_pattern_typed_through_tab(backend) -> None:
    server, client = backend
    task = await start_task(client, "npm tests", params=asks(command="npm test --watch"))
    await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await review(pilot, task.id)
        await pilot.press("tab", "tab")  # past the input (allow with an edited input) to the pattern
        assert focused_id(app) == "pattern"
        await pilot.press("end", "ctrl+u", *"not a pattern", "enter")
        assert isinstance(app.screen, PermissionScreen)  # refused inline
        assert "tool:argument" in str(app.screen.query_one("#pattern-error").render())
        await pilot.press("end", "ctrl+u", *"Bash:npm test*", "enter")
        await wait_for_status(client, task.id, "completed")
        assert [(r.pattern, r.behavior) for r in await client.list_rules()] == [("Bash:npm test*", "allow")]


async def test_review_denies_with_a_message_typed_through_tab(backend) -> None:
    server, client = backend
    task = await start_task(client, "drops a table", params=asks(command="psql -c 'drop table users'"))
    await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await review(pilot, task.id)
        await pilot.press("tab", "tab", "tab", "tab")  # the input, the pattern, its lifetime, the message
        assert focused_id(app) == "deny-message"
        await pilot.press(*"use the staging db", "shift+tab")
        assert focused_id(app) == "rule-expiry"
        await pilot.press("tab", "tab", "tab", "tab")  # past Allow once and Always allow, to Deny
        assert focused_id(app) == "deny"
        await pilot.press("enter")
        await wait_for_status(client, task.id, "completed")
        [answered] = await client.list_permissions(None, task_id=task.id)
        assert (answered.status, answered.response_message) == ("denied", "use the staging db")


async def test_the_filter_dialog_reaches_the_project_by_tab(backend) -> None:
    server, client = backend
    docs = await client.create_project("Docs", "")
    ops = await client.create_project("Ops", "")
    in_docs = await client.create_task(title="in docs", project_id=docs.id)
    in_ops = await client.create_task(title="in ops", project_id=ops.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, in_docs.id, in_ops.id)
        await until(pilot, lambda: len(app.projects) == 2, what="the projects")
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen), what="the filter dialog")
        await pilot.press("tab")
        assert focused_id(app) == "project"
        await pilot.press("enter", "down", "down", "enter", "ctrl+s")  # the second project: Ops
        await until(pilot, lambda: not isinstance(app.screen, FilterScreen), what="the dialog to close")
        await until(pilot, lambda: "in ops" in screen_text(app) and
                    "in docs" not in screen_text(app), what="only Ops's task on screen")


async def test_a_burst_through_the_form_puts_each_part_in_its_field(backend) -> None:
    server, _client = backend
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen) and focused_id(app) == "title")
        burst(pilot, "hello", "tab", "desc", "tab", "tab", "tab", "tab", "{}")  # as tmux send-keys delivers it
        screen = app.screen
        fields = [screen.query_one(f"#{name}", Input) for name in ("title", "description", "params")]
        await until(pilot, lambda: [f.value for f in fields] == ["hello", "desc", "{}"],
                    what="each part in its own field")


# ---------------------------------------------------------------- 10. no sequence of enters allows


async def test_enter_enter_from_the_triage_queue_allows_nothing(backend) -> None:
    server, client = backend
    task = await start_task(client, "asks once", params=asks())
    request = await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await until(pilot, lambda: app.board.permissions, what="the request")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), what="the triage queue")
        await pilot.press("enter")  # goes to the task on the board, decides nothing
        await until(pilot, lambda: len(app.screen_stack) == 1 and app.table.selected_id == task.id,
                    what="the board, on the task")
        assert [r.id for r in await client.list_permissions("pending", task_id=task.id)] == [request.id]
        await pilot.press("i", "p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the review dialog")
        assert focused_id(app) == "permission-input"  # on the request's text, not on a button
        await pilot.press("enter", "enter")
        await actions_done(pilot)
        assert isinstance(app.screen, PermissionScreen)
        assert [r.id for r in await client.list_permissions("pending", task_id=task.id)] == [request.id]
        await pilot.press("a")  # allowing takes a
        await wait_for_status(client, task.id, "completed")


async def test_a_key_typed_as_the_modal_opens_by_itself_does_not_answer_it(backend) -> None:
    server, client = backend
    task = await client.create_task(title="asks while watched", params=asks())
    await client.queue(task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await client.execute(task.id)
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the modal", timeout=20)
        burst(pilot, "d")  # meant for the board; lands on the modal just opened
        await actions_done(pilot)
        assert isinstance(app.screen, PermissionScreen)
        assert await client.list_permissions("pending", task_id=task.id)
        screen = app.screen
        await until(pilot, lambda: screen.armed, what="the modal to arm")
        await pilot.press("a")
        await wait_for_status(client, task.id, "completed")
        [answered] = await client.list_permissions(None, task_id=task.id)
        assert answered.status == "allowed"


# ---------------------------------------------------------------- 11. q and escape close a modal


async def test_q_and_escape_close_the_permission_modal_and_q_on_the_board_quits(backend) -> None:
    server, client = backend
    task = await client.create_task(title="asks while watched", params=asks())
    await client.queue(task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await client.execute(task.id)
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the modal", timeout=20)
        await pilot.press("q")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="q to close the modal")
        assert app.is_running
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the review dialog")
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="escape to close it")
        assert await client.list_permissions("pending", task_id=task.id)  # closing decides nothing
        for key, screen in (("n", NewTaskScreen), ("F", FilterScreen), ("i", TriageScreen)):
            await pilot.press(key)
            await until(pilot, lambda s=screen: isinstance(app.screen, s), what=f"{key}'s dialog")
            await pilot.press("tab", "tab", "tab") if key == "n" else None  # off the text fields
            await pilot.press("escape" if key == "n" else "q")
            await until(pilot, lambda: len(app.screen_stack) == 1, what=f"{key}'s dialog to close")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="q on the board to quit")


# ---------------------------------------------------------------- 2. read-only holds on every path


async def test_read_only_holds_from_the_inbox_the_review_dialog_and_the_palette(backend) -> None:
    server, client = backend
    task = await start_task(client, "watched only", params=asks())
    await pending(client, task.id)
    async with make_app(server.url, read_only=True, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await until(pilot, lambda: app.board.permissions, what="the request")
        await pilot.press("i", "a", "d")  # the triage queue's own keys: refused
        await actions_done(pilot)
        assert any("Read-only" in n for n in notifications(app))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the request, shown")
        await pilot.press("a", "d", "A", "enter")
        await pilot.press("tab", "tab", "tab", "tab", "enter")  # enter in the message denies: refused
        await actions_done(pilot)
        assert app.focused is not None and app.focused.id == "deny-message"
        await pilot.press("tab")  # the decision buttons are off: Tab goes past them to Later
        assert app.focused is not None and app.focused.id == "later"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), what="the dialog to close")
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="the queue to close")
        await select(pilot, task.id)
        await pilot.press("p")  # the review key: refused
        await pilot.press("ctrl+p", *"allow the pending", "enter")
        await pilot.pause()
        await actions_done(pilot)
        assert [r.status for r in await client.list_permissions(None, task_id=task.id)] == ["pending"]
        assert (await client.get_task(task.id)).status == "running"
        assert not await client.list_rules()


# ---------------------------------------------------------------- 4. keys after / go to the search box


async def test_keys_typed_in_a_burst_after_slash_go_to_the_search_box(backend) -> None:
    server, client = backend
    long = await client.create_task(title="Long report")
    other = await client.create_task(title="short note")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, long.id, other.id)
        burst(pilot, "/Long")
        search = app.query_one("#search", Input)
        await until(pilot, lambda: search.value == "Long", what="the search box to hold what was typed")
        assert len(app.screen_stack) == 1  # `n` did not open the new-task form
        await until(pilot, lambda: "short note" not in screen_text(app), what="the search")
        await pilot.press("enter")
        await until(pilot, lambda: app.focused is app.table, what="enter to keep the search")
        burst(pilot, "/deploy")  # `d` would be deny, `D` delete
        await until(pilot, lambda: search.value == "deploy", what="the second burst in the box (a new search)")
        assert len(app.screen_stack) == 1


# ---------------------------------------------------------------- 3. context switch from every screen; a crash


def _nothing_listens() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_switch_context_from_the_cannot_reach_screen_by_key_and_by_palette(backend) -> None:
    server, client = backend
    task = await client.create_task(title="on the live server")
    down = _nothing_listens()
    contexts = {
        "down": ContextChoice(down, lambda: RemoteServer(down, label="down")),
        "up": ContextChoice(server.url, lambda: RemoteServer(server.url, label="up")),
    }
    app = make_app(connector=contexts["down"].connect(), contexts=contexts, context="down", bell=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen) and app.screen,
                             what="cannot reach")
        # The palette stays usable while the retries go on: no second screen over it, no crash.
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await until(pilot, lambda: screen.attempt[1] >= 2, what="a retry", timeout=10)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="the palette to close")
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen), what="the context list")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.loaded and task.id in app.board.tasks, what="the live board")
        assert len(app.screen_stack) == 1 and app.context == "up"
        # And back to the dead one and out again, through the palette's command this time.
        await pilot.press("ctrl+k", "up", "enter")
        await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen), what="cannot reach again")
        await pilot.press("ctrl+p", *"Switch context: up")
        await until(pilot, lambda: "Switch context: up" in screen_text(app), what="the command")
        await pilot.press("enter")
        await until(pilot, lambda: app.loaded and task.id in app.board.tasks and len(app.screen_stack) == 1,
                    what="the live board again")
        assert app.is_running


async def test_switch_context_from_the_full_screen_view(backend) -> None:
    server, client = backend
    task = await client.create_task(title="seen full screen")
    other = await client.create_task(title="the other board")  # same server, two contexts: enough here
    contexts = {
        "one": ContextChoice(server.url, lambda: RemoteServer(server.url, label="one")),
        "two": ContextChoice(server.url, lambda: RemoteServer(server.url, label="two")),
    }
    app = make_app(connector=contexts["one"].connect(), contexts=contexts, context="one", bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, task.id, other.id)
        await select(pilot, task.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the full-screen view")
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen), what="the context list")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.context == "two" and app.loaded and len(app.screen_stack) == 1,
                    what="the board of the other context")


class _Broken:
    """A connector whose label is a bug: the app cannot even draw its header."""

    @property
    def label(self) -> str:
        raise RuntimeError("the label is broken")

    async def connect(self) -> Any:
        raise AssertionError("never reached")

    def close(self) -> None:
        pass


def test_a_crash_exits_non_zero_with_a_short_message_and_the_log_path(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = make_app(connector=_Broken(), bell=False)  # type: ignore[arg-type]
    app.run(headless=True, size=SIZE)
    assert app.return_code == 1
    err = capsys.readouterr().err
    log = tmp_path / "taskboard" / "crash.log"
    assert "taskboard crashed: RuntimeError: the label is broken" in err and str(log) in err
    assert len(err.splitlines()) <= 4  # a message, not a screenful of traceback
    assert "Traceback" in log.read_text() and "the label is broken" in log.read_text()


# ---------------------------------------------------------------- 6. a title of only spaces


async def test_a_blank_title_is_refused_by_the_server_and_inline_in_the_form(backend) -> None:
    server, client = backend
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/api/tasks", "/api/tasks/spawn"):
            response = await http.post(path, json={"title": "   "})
            assert response.status_code == 400, response.text
            empty = await http.post(path, json={"title": ""})
            assert response.json() == empty.json()  # the seed's body, as for an empty title
            assert response.json()["error"]["fieldErrors"]["title"] == ["String must contain at least 1 character(s)"]
        task = (await http.post("/api/tasks", json={"title": "x"})).json()
        patched = await http.patch(f"/api/tasks/{task['id']}", json={"title": " \t "})
        assert patched.status_code == 400
    assert (await client.list_tasks()).total == 1
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task["id"])
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen) and focused_id(app) == "title")
        await pilot.press("space", "space", "space", "ctrl+s")
        await until(pilot, lambda: "String must contain at least 1 character(s)" in screen_text(app),
                    what="the error under the title")
        assert isinstance(app.screen, NewTaskScreen)
        assert (await client.list_tasks()).total == 1  # nothing was sent


# ---------------------------------------------------------------- 9. a saved rule answers what is waiting


def writes(path: str) -> dict:
    return {"steps": 3, "stepSeconds": 0.02,
            "permission": {"tool": "Write", "input": {"file_path": path}, "atStep": 1, "message": "Save it"}}


async def test_always_allow_answers_the_waiting_requests_it_covers_and_says_how_many(backend) -> None:
    server, client = backend
    first = await start_task(client, "writes the overview", params=writes("/reports/023-overview.md"))
    second = await start_task(client, "writes the summary", params=writes("/reports/024-summary.md"))
    elsewhere = await start_task(client, "writes elsewhere", params=writes("/tmp/scratch.md"))
    for task in (first, second, elsewhere):
        await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, first.id, second.id, elsewhere.id)
        await until(pilot, lambda: len(app.board.permissions) == 3, what="three requests")
        await review(pilot, first.id)
        await pilot.press("tab", "tab", "end", "ctrl+u", *"write:/reports/*", "enter")
        await wait_for_status(client, first.id, "completed")
        await wait_for_status(client, second.id, "completed")  # answered by the rule, not left waiting
        [by_rule] = await client.list_permissions(None, task_id=second.id)
        assert (by_rule.status, by_rule.decided_by) == ("allowed", "rule")
        assert await client.list_permissions("pending", task_id=elsewhere.id)  # not covered: still waiting
        await until(pilot, lambda: any("and 1 more waiting request it covers" in n for n in notifications(app)),
                    what="the toast to say how many")
        await until(pilot, lambda: list(app.board.permissions) == [
            p.id for p in app.board.permissions.values() if p.task_id == elsewhere.id], what="the board's inbox")


# ---------------------------------------------------------------- 5. the log follows a resumed task


async def test_the_log_follows_a_resumed_task_into_its_next_attempt(backend) -> None:
    server, client = backend
    task = await start_task(client, "long job", params={"steps": 100_000, "stepSeconds": 0.2})
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await until(pilot, lambda: app.log_tail.entries, what="the first attempt's lines")
        await pilot.press("c", "y")
        await wait_for_status(client, task.id, "cancelled")
        await until(pilot, lambda: "· ended" in screen_text(app), what="the log to end with the attempt")
        await pilot.press("r")
        await until(pilot, lambda: any("attempt 2" in e.message for e in app.log_tail.entries),
                    what="a line where attempt 2 begins")
        after = await until(pilot, lambda: _lines_after_the_marker(app), what="the new attempt's lines")
        assert "· ended" not in screen_text(app)
        # The server's log has the same lines (the tail streamed on from where it was, no gap).
        server_lines = [e.message async for e in _log_until(client, task.id, len(app.log_tail.entries))]
        assert after[0] in server_lines


def _lines_after_the_marker(app: Any) -> list[str]:
    messages = [e.message for e in app.log_tail.entries]
    marker = next((i for i, m in enumerate(messages) if "attempt 2" in m), None)
    return messages[marker + 1:] if marker is not None else []


async def _log_until(client: Any, task_id: str, count: int):
    seen = 0
    async for entry in client.stream_logs(task_id):
        yield entry
        seen += 1
        if seen >= count:
            return


# ---------------------------------------------------------------- 8. the detail pane stays true


async def test_the_detail_pane_ticks_and_says_what_a_stopped_task_is(backend) -> None:
    server, client = backend
    failed = await start_task(client, "fails at two", params={"steps": 4, "stepSeconds": 0.02, "failAtStep": 2})
    cancelled = await start_task(client, "cancelled midway", params=LONG)
    await wait_for_status(client, failed.id, "failed")
    await wait_until(lambda: _has_progress(client, cancelled.id))
    await client.cancel(cancelled.id)
    await wait_for_status(client, cancelled.id, "cancelled")
    later = [timedelta(0)]
    app = make_app(server.url, bell=False, clock=lambda: datetime.now(UTC) + later[0])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, failed.id, cancelled.id)
        await select(pilot, failed.id)
        lines = (await until(pilot, lambda: app.detail.view and app.detail.view.task.id == failed.id
                             and app.detail.view.detail and app.detail.text, what="the failed task's detail")
                 ).splitlines()
        error = next(i for i, line in enumerate(lines) if line.startswith("✘") and "fails at two" not in line)
        assert error < next(i for i, line in enumerate(lines) if line.startswith("id"))  # at the top
        assert error < app.detail.size.height  # on screen, not below the fold
        await select(pilot, cancelled.id)
        text = await until(pilot, lambda: app.detail.view and app.detail.view.task.id == cancelled.id
                           and "stopped" in app.detail.text and app.detail.text, what="stopped")
        assert "working" not in text  # not what it was doing when it was stopped
        assert "(0s ago)" in text or "(1s ago)" in text or "(2s ago)" in text
        later[0] = timedelta(minutes=5)
        await until(pilot, lambda: "(5m ago)" in app.detail.text, what="the ages to tick", timeout=5)


async def _has_progress(client: Any, task_id: str) -> bool:
    task = await client.get_task(task_id)
    return task.progress is not None and task.progress.current >= 1


# ---------------------------------------------------------------- 7. nothing that carries meaning is cut


async def test_at_80x24_the_header_counts_footer_and_dialog_buttons_are_whole(backend) -> None:
    server, client = backend
    task = await start_task(client, "asks for a write", params=writes("/reports/024-summary.md"))
    for title in ("first", "second", "third"):
        await client.create_task(title=title)
    await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, task.id)
        await until(pilot, lambda: app.board.permissions, what="the request")
        await pilot.press("escape") if len(app.screen_stack) > 1 else None
        await until(pilot, lambda: len(app.screen_stack) == 1 and "Help" in screen_text(app).splitlines()[-1],
                    what="the board and its footer")
        lines = screen_text(app).splitlines()
        assert "live" in lines[0] and "approval waiting" in lines[0] and lines[0].rstrip().endswith("spent")
        assert "▶ 1" in lines[1] and "○ 3" in lines[1] and "shown" in lines[1] and "sort priority" in lines[1]
        assert "? Help" in lines[-1] and "q Quit" in lines[-1]
        await select(pilot, task.id)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the review dialog")
        await pilot.pause()
        text = screen_text(app)
        for button in ("Allow once (a)", "Always allow (A)", "Deny (d)", "Later (esc)"):
            assert button in text, button
        await pilot.press("escape", "n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), what="the form")
        await pilot.pause()
        assert "Create (ctrl+s)" in screen_text(app) and "Cancel (esc)" in screen_text(app)


async def test_at_140_columns_the_summary_is_whole_and_the_log_filter_shows_what_is_typed(backend) -> None:
    server, client = backend
    task = await start_task(client, "writes a log", params=LONG)
    for status in ("planned", "queued"):
        for n in range(10):  # two-digit counts
            made = await client.create_task(title=f"writes nothing {n}")
            await client.queue(made.id) if status == "queued" else None
    async with make_app(server.url, bell=False).run_test(size=(140, 40)) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await until(pilot, lambda: app.log_tail.entries, what="log lines")
        await pilot.press("slash", *"writes", "enter")  # a search makes the summary longer
        await until(pilot, lambda: "/writes" in screen_text(app).splitlines()[1], what="the search in the summary")
        line = screen_text(app).splitlines()[1].rstrip()
        assert line.endswith("sort priority, attention first"), line
        await pilot.press("tab", "tab")
        assert app.log_tail.has_focus_within
        await pilot.press("slash", *"zzq")
        await until(pilot, lambda: any(line.strip("│ ").startswith("zzq") for line in screen_text(app).splitlines()
                                       if "│" in line) or "│zzq" in screen_text(app), what="the typed filter")


# ---------------------------------------------------------------- 12. the smaller ones


async def test_P_moves_a_finished_task_back_to_planned_and_the_help_lists_every_key(backend) -> None:
    server, client = backend
    done = await start_task(client, "done once", params={"steps": 2, "stepSeconds": 0.01})
    await wait_for_status(client, done.id, "completed")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, done.id)
        await select(pilot, done.id)
        await pilot.press("P")
        await wait_for_status(client, done.id, "planned")
        await pilot.press("question_mark")
        await until(pilot, lambda: "Keys" in screen_text(app), what="the help")
        text = screen_text(app)
        for key in ("j k", "g G", "pgdn pgup", "Back to planned", "tab shift+tab", "esc q"):
            assert key in text, key


async def test_slash_in_the_full_screen_view_leaves_no_search_box_on_the_board(backend) -> None:
    server, client = backend
    task = await client.create_task(title="seen full screen")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the full-screen view")
        await pilot.press("slash", "escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="back on the board")
        assert not app.query_one("#search").has_class("visible") and app.focused is app.table


async def test_read_only_holds_for_the_cli_verbs_of_a_read_only_context(backend, tmp_path) -> None:
    import asyncio

    from tests.test_cli import taskboard

    server, client = backend
    task = await start_task(client, "watched only", params=asks())
    await pending(client, task.id)
    config = tmp_path / "config.toml"
    config.write_text(f'[contexts.watched]\nurl = "{server.url}"\nread_only = true\n')
    for verb in (("approve", task.id), ("deny", task.id), ("cancel", task.id), ("resume", task.id),
                 ("msg", task.id, "hello"), ("create", "a new one"), ("run", "another"), ("cleanup",)):
        done = await asyncio.to_thread(taskboard, *verb, "-c", "watched", config=config)
        assert done.returncode == 1 and "read-only" in done.stderr, (verb, done.stderr)
    assert [r.status for r in await client.list_permissions(None, task_id=task.id)] == ["pending"]
    assert (await client.get_task(task.id)).status == "running"
    assert (await client.list_tasks()).total == 1


async def test_a_task_waiting_for_a_runner_slot_shows_as_waiting_and_age_is_since_creation(start_server) -> None:
    server = start_server("--heartbeat", "0.5", "--concurrency", "1", "--alias-agents")
    async with TaskboardClient(server.url) as client:
        first = await start_task(client, "takes the only slot", params=LONG, assigned_agent="openai-codex-app-server")
        await wait_for_status(client, first.id, "running")
        second = await start_task(client, "waits for it", params=LONG)
        later = [timedelta(0)]
        app = make_app(server.url, bell=False, clock=lambda: datetime.now(UTC) + later[0])
        async with app.run_test(size=(200, 50)) as pilot:
            await loaded(pilot, first.id, second.id)
            await until(pilot, lambda: "◌ waiting" in screen_text(app), what="the second task as waiting")
            lines = screen_text(app).splitlines()
            assert "▶ 1 running" in lines[1] and "◌ 1 waiting" in lines[1]
            assert any("openai-codex-app-server" in line for line in lines)  # AGENT whole at 200 columns
            later[0] = timedelta(minutes=10)
            await select(pilot, second.id)
            await pilot.press("c", "y")
            await wait_for_status(client, second.id, "cancelled")
            await until(pilot, lambda: "⊘ cancelled" in screen_text(app), what="the cancelled row")
            row = next(line for line in screen_text(app).splitlines() if "waits for it" in line)
            assert " 10m " in row  # AGE is since creation, not since the cancel (0s)
            await client.cancel(first.id)


async def test_clearing_the_log_filter_at_the_end_of_an_ended_log_keeps_following(backend) -> None:
    server, client = backend
    task = await start_task(client, "many lines", params={"steps": 40, "stepSeconds": 0.001})
    await wait_for_status(client, task.id, "completed")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await until(pilot, lambda: "· ended" in screen_text(app), what="the whole log")
        await pilot.press("tab", "tab", "slash", *"tool_use")
        await until(pilot, lambda: "filter: tool_use" in screen_text(app), what="the filter")
        await pilot.press("escape")
        await until(pilot, lambda: "filter: tool_use" not in screen_text(app), what="the filter cleared")
        await pilot.pause()
        assert "paused" not in screen_text(app) and app.log_tail.following


async def test_the_cannot_reach_box_says_what_failed_as_soon_as_it_shows() -> None:
    down = _nothing_listens()
    app = make_app(down, bell=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen), what="cannot reach")
        await pilot.pause()
        assert "All connection attempts failed" in screen_text(app) and "Attempt 1" in screen_text(app)
