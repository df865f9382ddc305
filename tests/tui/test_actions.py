"""Every action from the keyboard, against the real backend: the server's state is the judge."""

from __future__ import annotations

from taskboard.client import TaskboardClient
from taskboard.models import PermissionRequest
from taskboard.tui.app import make_app
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.message import MessageScreen
from taskboard.tui.screens.new_task import NewTaskScreen
from taskboard.tui.screens.permission import PermissionScreen
from taskboard.tui.screens.triage import TriageScreen
from taskboard.tui.widgets.key_footer import KeyFooter
from tests.helpers import FAST, LONG, start_task, wait_for_status, wait_until
from tests.tui.pilot import SIZE, fill, loaded, notifications, select, triage_to, until


def asks(tool: str = "Bash", command: str = "npm test", at: int = 1) -> dict:
    return {"steps": 3, "stepSeconds": 0.02,
            "permission": {"tool": tool, "input": {"command": command}, "atStep": at,
                           "message": "Run the test suite"}}


async def pending(client: TaskboardClient, task_id: str) -> PermissionRequest:
    async def found() -> PermissionRequest | None:
        requests = await client.list_permissions("pending", task_id=task_id)
        return requests[0] if requests else None
    return await wait_until(found)


async def test_cancel_asks_first_then_cancels(backend) -> None:
    server, client = backend
    task = await start_task(client, "long job", params=LONG)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # declined: nothing happens
        assert (await client.get_task(task.id)).status == "running"
        await pilot.press("c", "y")
        await wait_for_status(client, task.id, "cancelled")
        await until(pilot, lambda: app.board.tasks[task.id].status == "cancelled", what="the row to update")
        # Cancel is now disabled: pressing it says why instead of asking again.
        assert app.check_action("cancel", ()) is None
        await pilot.press("c")
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("already cancelled" in n for n in notifications(app))


async def test_footer_greys_keys_in_place_as_the_cursor_rests(backend) -> None:
    server, client = backend
    running = await start_task(client, "still going", params=LONG)
    finished = await start_task(client, "all done", params=FAST)
    await wait_for_status(client, finished.id, "completed")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, running.id, finished.id)

        def cancel_key():
            return next(k for k in app.query_one(KeyFooter).query("FooterKey") if k.action in ("cancel", "app.cancel"))

        await select(pilot, running.id)
        await until(pilot, lambda: not cancel_key().has_class("-disabled"), what="cancel enabled")
        key = cancel_key()
        await select(pilot, finished.id)
        await until(pilot, lambda: key.has_class("-disabled"), what="cancel greyed")
        assert cancel_key() is key  # the same widget: greyed in place, the footer was not rebuilt
        await select(pilot, running.id)
        await until(pilot, lambda: not key.has_class("-disabled"), what="cancel enabled again")
        await pilot.click(key)  # a click on an enabled key presses it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the cancel dialog")


async def test_resume_a_failed_task(backend) -> None:
    server, client = backend
    task = await start_task(client, "fails once", params={"steps": 3, "stepSeconds": 0.02, "failAtStep": 2})
    await wait_for_status(client, task.id, "failed")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        assert app.check_action("resume", ()) is True
        await pilot.press("r")
        detail = await wait_until(lambda: _resumed(client, task.id))
        assert detail.resume_count == 1
        await until(pilot, lambda: app.board.tasks[task.id].resume_count == 1)


async def _resumed(client: TaskboardClient, task_id: str):
    task = await client.get_task(task_id)
    return task if task.resume_count == 1 else None


async def test_queue_then_execute(backend) -> None:
    server, client = backend
    task = await client.create_task(title="planned work", params=FAST)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        assert app.check_action("execute", ()) is None  # planned: queue first
        await pilot.press("u")
        await wait_for_status(client, task.id, "queued")
        await until(pilot, lambda: app.board.tasks[task.id].status == "queued")
        await pilot.press("x")
        await wait_for_status(client, task.id, "completed")
        await until(pilot, lambda: app.board.tasks[task.id].status == "completed", what="completed row")


async def test_the_modal_opens_when_the_task_in_view_asks_and_allow_once_answers(backend) -> None:
    server, client = backend
    task = await client.create_task(title="runs the tests", params=asks())
    await client.queue(task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await client.execute(task.id)
        screen = await until(pilot, lambda: isinstance(app.screen, PermissionScreen) and app.screen,
                             what="the permission modal")
        assert screen.request.tool_name == "Bash" and screen.request.tool_input == {"command": "npm test"}
        await until(pilot, lambda: screen.armed, what="the modal to take its keys")  # opened by itself
        await pilot.press("a")
        await wait_for_status(client, task.id, "completed")
        answered = await client.list_permissions(None, task_id=task.id)
        assert (answered[0].status, answered[0].decided_by) == ("allowed", "user")
        assert not await client.list_rules()


async def test_approve_and_deny_keys_answer_the_selected_tasks_request(backend) -> None:
    server, client = backend
    allowed = await start_task(client, "to allow", params=asks())
    denied = await start_task(client, "to deny", params=asks(command="rm -rf build"))
    await pending(client, allowed.id)
    await pending(client, denied.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, allowed.id, denied.id)
        await until(pilot, lambda: len(app.board.permissions) == 2)
        await select(pilot, allowed.id)
        await pilot.press("a")
        await select(pilot, denied.id)
        await pilot.press("d")
        await wait_for_status(client, allowed.id, "completed")
        await wait_for_status(client, denied.id, "completed")
        a = (await client.list_permissions(None, task_id=allowed.id))[0]
        d = (await client.list_permissions(None, task_id=denied.id))[0]
        assert (a.status, d.status) == ("allowed", "denied")
        await until(pilot, lambda: not app.board.permissions, what="the inbox to empty")


async def test_always_allow_saves_the_edited_pattern(backend) -> None:
    server, client = backend
    task = await start_task(client, "npm tests", params=asks(command="npm test --watch"))
    request = await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await until(pilot, lambda: request.id in app.board.permissions)
        await select(pilot, task.id)
        await pilot.press("p")
        screen = app.screen
        assert isinstance(screen, PermissionScreen)
        pattern = screen.query_one("#pattern")
        assert pattern.value == request.suggested_pattern  # prefilled from the request
        await fill(pilot, "pattern", "not a pattern")
        await pilot.click("#always")
        assert isinstance(app.screen, PermissionScreen)  # refused inline
        assert "tool:argument" in str(screen.query_one("#pattern-error").render())
        await fill(pilot, "pattern", "Bash:npm test*")
        await pilot.pause(0.1)  # the error line moved the buttons down: click where they are now
        await pilot.click("#always")
        await wait_for_status(client, task.id, "completed")
        rules = await client.list_rules()
        assert [(r.pattern, r.behavior) for r in rules] == [("Bash:npm test*", "allow")]


async def test_the_triage_queue_lists_every_request_reviews_one_and_goes_to_another(backend) -> None:
    server, client = backend
    first = await start_task(client, "first asker", params=asks())
    second = await start_task(client, "second asker", params=asks(tool="Write", command="x"))
    await pending(client, first.id)
    await pending(client, second.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, first.id, second.id)
        await until(pilot, lambda: len(app.board.permissions) == 2)
        await pilot.press("i")
        queue = await until(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen)
        assert [i.task_id for i in queue.items] == [first.id, second.id]  # oldest first
        await pilot.press("down", "p")
        screen = await until(pilot, lambda: isinstance(app.screen, PermissionScreen) and app.screen)
        assert screen.request.task_id == second.id
        await pilot.press("d")
        await wait_for_status(client, second.id, "completed")
        assert (await client.list_permissions(None, task_id=second.id))[0].status == "denied"
        await triage_to(pilot, first.id, "permission")  # still open, on the other request
        assert app.screen is queue
        # The answered request leaves the queue when the board hears it was resolved (the watch), not before.
        await until(pilot, lambda: not any(i.kind == "permission" and i.task_id == second.id for i in queue.items),
                    what="the answered request gone from the queue")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.screen_stack) == 1 and app.table.selected_id == first.id,
                    what="the board, on the task")


async def test_message_answers_a_task_awaiting_input(backend) -> None:
    server, client = backend
    task = await start_task(client, "asks a question",
                            params={"steps": 3, "stepSeconds": 0.02, "question": {"message": "Which region?", "atStep": 1}})
    await wait_for_status(client, task.id, "awaiting_input")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("m")
        screen = await until(pilot, lambda: isinstance(app.screen, MessageScreen) and app.screen)
        assert screen.question == "Which region?"
        await pilot.press(*"eu-west-1", "enter")
        await wait_for_status(client, task.id, "completed")
        messages = await client.list_messages(task.id)
        assert [(m.role, m.message) for m in messages][-1] == ("user", "eu-west-1")


async def test_new_task_shows_validation_inline_and_creates_nothing_until_valid(backend) -> None:
    server, client = backend
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, NewTaskScreen)
        await pilot.press("ctrl+s")  # empty title
        assert "String must contain at least 1 character(s)" in str(screen.query_one("#title-error").render())
        await pilot.press(*"x" * 201)
        await pilot.press("ctrl+s")
        assert "at most 200" in str(screen.query_one("#title-error").render())
        await fill(pilot, "title", "Write the changelog")
        await fill(pilot, "params", "{steps: 3")
        await pilot.press("ctrl+s")
        assert "Invalid JSON" in str(screen.query_one("#params-error").render())
        assert str(screen.query_one("#title-error").render()) == ""
        assert (await client.list_tasks()).total == 0  # nothing was sent
        await fill(pilot, "params", '{"steps": 2, "stepSeconds": 0.01}')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), what="the form to close")
        page = await client.list_tasks()
        assert [t.title for t in page.items] == ["Write the changelog"]
        created = page.items[0]
        await wait_for_status(client, created.id, "completed")  # "start now" was on
        await until(pilot, lambda: app.table.selected_id == created.id)


async def test_read_only_refuses_every_change(backend) -> None:
    server, client = backend
    task = await start_task(client, "watched only", params=asks())
    await pending(client, task.id)
    async with make_app(server.url, read_only=True, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await until(pilot, lambda: app.board.permissions)
        await select(pilot, task.id)
        for action in ("cancel", "approve", "deny", "review", "new_task", "delete", "priority_up", "message"):
            assert app.check_action(action, ()) is None, action
        await pilot.press("c", "a", "d", "n", "D", "+")
        assert app.screen is app.screen_stack[0]  # no confirm, no form opened
        assert any("Read-only" in n for n in notifications(app))
        current = await client.get_task(task.id)
        assert current.status == "running" and current.priority == task.priority
        assert (await client.list_permissions("pending", task_id=task.id))
        assert app.query_one("#status").connection == "live"
        assert "read-only" in str(app.query_one("#status").render())


async def test_server_errors_become_notifications(backend) -> None:
    server, client = backend
    # This server has no shell runtime: executing the task is a 400 that says so.
    task = await client.create_task(title="needs a shell", assigned_agent="shell", params={"command": "true"})
    await client.queue(task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("x")
        message = await until(pilot, lambda: [n for n in notifications(app) if "refused (400)" in n],
                              what="the server's 400 as a notification")
        assert "Runtime 'shell' is not configured on this server" in message[0]
        assert app.is_running and (await client.get_task(task.id)).status == "queued"


async def test_priority_keys_and_copy_id(backend) -> None:
    server, client = backend
    task = await client.create_task(title="reprioritise me", priority=2)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("plus")
        await wait_until(lambda: _priority_is(client, task.id, 1))
        await until(pilot, lambda: app.board.tasks[task.id].priority == 1)
        await pilot.press("minus")
        await wait_until(lambda: _priority_is(client, task.id, 2))
        await pilot.press("y")
        assert app.clipboard == task.id


async def _priority_is(client: TaskboardClient, task_id: str, value: int) -> bool:
    return (await client.get_task(task_id)).priority == value
