"""The board on Stagent as it really runs (the stand-in follows shared/peers/stagent.md), driven by keys:
it opens on `auto`, its approvals are answered from the modal and the inbox through Tab (allow with an
edited input, deny with a message, always allow in Stagent's pattern form), a question is answered with
`m`, the log tail follows, the detail pane follows a change made elsewhere, a failure says why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from taskboard.connect import RemoteServer
from taskboard.tui.app import make_app
from taskboard.tui.screens.message import MessageScreen
from taskboard.tui.screens.permission import PermissionScreen
from taskboard.tui.screens.triage import TriageScreen
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, select, triage_to, until


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body, timeout=10)
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def create(server: ServerProcess, title: str, scenario: str, priority: int) -> str:
    task = api(server, "POST", "/api/tasks", {"title": title, "description": scenario, "priority": priority})
    return str(task["id"])


def run(server: ServerProcess, task_id: str) -> str:
    api(server, "PATCH", f"/api/tasks/{task_id}", {"status": "queued"})
    api(server, "POST", f"/api/tasks/{task_id}/execute")
    return task_id


def start(server: ServerProcess, title: str, scenario: str, priority: int) -> str:
    return run(server, create(server, title, scenario, priority))


def answer_to(server: ServerProcess, task_id: str) -> dict[str, Any] | None:
    rows = [n for n in api(server, "GET", "/api/notifications") if n["taskId"] == task_id
            and n["type"] in ("permission_required", "agent_message")]
    return json.loads(rows[0]["response"]) if rows and rows[0]["response"] else None


def task_of(server: ServerProcess, task_id: str) -> dict[str, Any]:
    return dict(api(server, "GET", f"/api/tasks/{task_id}"))


async def test_approvals_on_stagent_from_the_modal_and_the_inbox(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("stagent")
    connector = RemoteServer(server.url, dialect="auto", poll_interval=0.5)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        assert "stagent" in connector.label and app.status_bar.server == connector.label

        # The task under the cursor asks: the modal opens by itself. Allow with an edited input, through Tab.
        writer = create(server, "write the report", "SCENARIO:write PATH=/srv/report.txt", 0)
        await until(pilot, lambda: writer in app.board.tasks, what="the task on the board")
        await select(pilot, writer)
        run(server, writer)
        screen = await until(pilot, lambda: isinstance(app.screen, PermissionScreen) and app.screen,
                             what="the permission modal")
        assert screen.request.task_id == writer and screen.request.suggested_pattern == "Write"
        await until(pilot, lambda: screen.armed, what="the modal to take decisions (it opened by itself)")
        await pilot.press("tab")  # from the request's text to its input, to edit it
        assert app.focused is not None and app.focused.id == "edited-input"
        await pilot.press("end", "ctrl+u", *'{"file_path": "/srv/elsewhere.txt", "content": "edited"}', "enter")
        await until(pilot, lambda: answer_to(server, writer), what="the answer on the server")
        assert answer_to(server, writer) == {"behavior": "allow", "updatedInput": {
            "file_path": "/srv/elsewhere.txt", "content": "edited"}}
        await until(pilot, lambda: task_of(server, writer)["status"] == "completed", what="the run to end")
        assert "/srv/elsewhere.txt" in task_of(server, writer)["result"]

        # Another task asks: a toast; the inbox lists it; deny with a message typed after shift+Tab.
        runner = start(server, "run the tests", "SCENARIO:bash CMD=npm+test", 1)
        await until(pilot, lambda: runner in {p.task_id for p in app.board.permissions.values()},
                    what="the request in the inbox")
        # The toast comes with the board's PermissionRequested message, handled after the board has the request.
        await until(pilot, lambda: any("asks to use Bash" in n for n in notifications(app)), what="the toast")
        await pilot.press("i")
        await triage_to(pilot, runner, "permission")
        assert [i.task_id for i in app.screen.items if i.kind == "permission"] == [runner]
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the review dialog")
        await pilot.press("tab", "tab", "tab")
        assert app.focused is not None and app.focused.id == "deny-message"
        await pilot.press(*"not on this machine", "enter")
        await until(pilot, lambda: answer_to(server, runner), what="the denial on the server")
        assert answer_to(server, runner) == {"behavior": "deny", "message": "not on this machine"}

        # Always allow, in Stagent's own pattern form (Bash(command:<first word> *)).
        builder = start(server, "build it", "SCENARIO:bash CMD=make+build", 2)
        await until(pilot, lambda: builder in {p.task_id for p in app.board.permissions.values()},
                    what="the third request")
        await triage_to(pilot, builder, "permission")  # the queue stayed open, and shows it as it comes
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen))
        await pilot.press("tab", "tab")
        assert app.focused is not None and app.focused.id == "pattern"
        assert getattr(app.focused, "value", None) == "Bash(command:make *)"
        await pilot.press("enter")
        await until(pilot, lambda: answer_to(server, builder), what="always allow on the server")
        assert answer_to(server, builder)["alwaysAllow"] is True  # type: ignore[index]
        assert api(server, "GET", "/api/permissions") == {"permissions": ["Bash(command:make *)"]}
        await until(pilot, lambda: not app.board.permissions, what="the inbox to empty")
        assert isinstance(app.screen, TriageScreen)


async def test_questions_logs_detail_and_failures_on_stagent(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("stagent")
    done = start(server, "say hello", "plain", 0)
    await _until_server(lambda: task_of(server, done)["status"] == "completed")
    connector = RemoteServer(server.url, dialect="stagent", poll_interval=0.5)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, done)
        # The log tail of the selected (top) task: its rows as lines, and the end.
        await until(pilot, lambda: app.table.selected_id == done, what="the task under the cursor")
        await until(pilot, lambda: any(e.message == "completed: FINAL: hello" for e in app.log_tail.entries),
                    what="the log tail")
        await until(pilot, lambda: app.log_tail.stream_state == "ended", what="the tail to end")

        # Stagent cannot delete a task that has run: D says so instead of asking.
        await pilot.press("D")
        await until(pilot, lambda: any("cannot delete a task that has run" in n for n in notifications(app)),
                    what="the reason delete is off")
        assert not isinstance(app.screen, MessageScreen | PermissionScreen) and len(app.screen_stack) == 1

        # The detail pane follows a change made elsewhere (Stagent sends no revision).
        api(server, "PATCH", f"/api/tasks/{done}", {"title": "say hello, renamed"})
        await until(pilot, lambda: "say hello, renamed" in app.detail.text, what="the detail pane to follow")

        # A question: the task shows as awaiting input; m shows it and sends the answer.
        asker = start(server, "pick a colour", "SCENARIO:ask", 1)
        await until(pilot, lambda: asker in app.board.tasks and app.board.tasks[asker].status == "awaiting_input",
                    what="awaiting input")
        await select(pilot, asker)
        await until(pilot, lambda: app.why_disabled("message") is None, what="m to be offered")
        await pilot.press("m")
        screen = await until(pilot, lambda: isinstance(app.screen, MessageScreen) and app.screen,
                             what="the question")
        assert screen.question is not None and "Which color should the banner use?" in screen.question
        await pilot.press(*"2", "enter")
        await until(pilot, lambda: answer_to(server, asker), what="the answer on the server")
        assert answer_to(server, asker)["updatedInput"]["answers"] == {  # type: ignore[index]
            "Which color should the banner use?": "Red"}
        await until(pilot, lambda: app.board.tasks[asker].status == "completed", what="the run to end")

        # A failure's reason, from where Stagent writes it (the result).
        start(server, "breaks", "SCENARIO:fail", 2)
        await until(pilot, lambda: any("Claude Code process exited with code 1" in n for n in notifications(app)),
                    what="the failure toast")


async def _until_server(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_native_dialect_on_stagent_opens_and_says_what_is_off(
        contract_server: Callable[..., ServerProcess]) -> None:
    """`taskboard --url <stagent>` without a dialect: the board opens (it used to retry for ever on
    GET /api/permissions), and a toast says the inbox is off and why."""
    server = contract_server("stagent")
    done = start(server, "say hello", "plain", 0)
    await _until_server(lambda: task_of(server, done)["status"] == "completed")
    async with make_app(connector=RemoteServer(server.url), bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, done)
        await until(pilot, lambda: any("GET /api/permissions" in n for n in notifications(app)),
                    what="the toast saying the inbox is off")
        assert "GET /api/permissions" in (app.why_disabled("approve") or "")


async def test_a_request_expiring_while_shown_closes_the_modal_and_says_why(
        contract_server: Callable[..., ServerProcess]) -> None:
    """Stagent denies on its own after 55 s: a request the modal shows goes away when its time is up, with why."""
    server = contract_server("stagent")
    waiting = create(server, "waits for a person", "plain", 0)
    async with make_app(connector=RemoteServer(server.url, dialect="stagent", poll_interval=0.5),
                        bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, waiting)
        await select(pilot, waiting)
        api(server, "POST", "/_contract/notifications", {"taskId": waiting, "toolName": "Bash",
                                                         "toolInput": {"command": "make deploy"}, "ageSeconds": 51})
        await until(pilot, lambda: isinstance(app.screen, PermissionScreen), what="the modal")
        await until(pilot, lambda: not isinstance(app.screen, PermissionScreen), timeout=15,
                    what="the modal to close when the request expires")
        await until(pilot, lambda: any("after 55 s without an answer" in n for n in notifications(app)),
                    what="the toast saying why")
        assert not app.board.permissions
