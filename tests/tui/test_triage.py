"""The triage queue and the saved rules (issue 25), driven by keys against real servers (and Stagent's
contract server): `i` is one queue of what needs a person on every server, answered without leaving it;
`R` lists the saved rules with who saved them, when, how often they matched and until when, and `D`
deletes one, after which the same request asks a person again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskboard import format as fmt
from taskboard.client import TaskboardClient
from taskboard.connect import MultiServer, RemoteServer
from taskboard.models import Task
from taskboard.tui.app import make_app
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.message import MessageScreen
from taskboard.tui.screens.permission import PermissionScreen
from taskboard.tui.screens.rules import RulesScreen
from taskboard.tui.screens.triage import TriageScreen
from tests.helpers import start_task, wait_for_status, wait_until
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, triage_to, until
from tests.tui.test_actions import asks, pending
from tests.tui.test_keyboard import actions_done, focused_id, review

QUESTION = {"steps": 3, "stepSeconds": 0.02, "question": {"message": "Which region, EU or US?", "atStep": 1}}


async def rules_screen(pilot, keys: tuple[str, ...] = ("R",)) -> RulesScreen:
    app = pilot.app
    await pilot.press(*keys)
    screen = await until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.loaded and app.screen,
                         what="the rules screen")
    return screen


@asynccontextmanager
async def reviewing(url: str, client: TaskboardClient, title: str,
                    **app_args: Any) -> AsyncIterator[tuple[Any, Any, Task]]:
    """A task waiting on a request, the board open on it, and its review open (p)."""
    task = await start_task(client, title, params=asks())
    await pending(client, task.id)
    async with make_app(url, bell=False, **app_args).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, task.id)
        await review(pilot, task.id)
        yield pilot, app, task


async def always_allow_from_the_review(pilot, lifetime: str = "") -> None:
    """In the open review: Tab past the input to the suggested pattern, on to its lifetime, type it, enter."""
    await pilot.press("tab", "tab", "tab")
    assert focused_id(pilot.app) == "rule-expiry"
    await pilot.press(*lifetime, "enter")


# ---------------------------------------------------------------- rules you can see and revoke


@pytest.mark.parametrize("keys", [("R",), ("colon", *"rules", "enter")], ids=["R", ":rules"])
async def test_a_rule_saved_from_the_modal_is_listed_and_deleting_it_makes_the_next_request_ask(
        backend, keys: tuple[str, ...]) -> None:
    server, client = backend
    async with reviewing(server.url, client, "runs the tests") as (pilot, app, first):
        await always_allow_from_the_review(pilot)
        await wait_for_status(client, first.id, "completed")
        [rule] = await client.list_rules()
        assert (rule.pattern, rule.saved_by, rule.expires_at) == ("bash:npm test", fmt.who(), None)

        second = await start_task(client, "runs them again", params=asks())  # answered by the rule
        await wait_for_status(client, second.id, "completed")
        screen = await rules_screen(pilot, keys)
        text = screen_text(app)
        line = next(line for line in text.splitlines() if "bash:npm test" in line)
        assert "allow" in line and fmt.who()[:18] in line
        assert re.search(r" 1  no expiry ", line)  # matched once since; lasts until deleted
        assert screen.current is not None and screen.current[1].id == rule.id

        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_until(lambda: _no_rules(client))
        await until(pilot, lambda: isinstance(app.screen, RulesScreen) and "bash:npm test" not in screen_text(app)
                    and "no saved rules" in screen_text(app), what="the list without it")
        assert any("Deleted the rule bash:npm test" in n for n in notifications(app))

        third = await start_task(client, "and once more", params=asks())
        asked = await pending(client, third.id)  # no rule any more: a person is asked
        assert asked.status == "pending"
        await client.respond(third.id, asked.id, "deny")


async def _no_rules(client: TaskboardClient) -> bool:
    return not await client.list_rules()


async def test_a_rule_saved_for_eight_hours_stops_matching_after_them(start_server, tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    clock.write_text(start.isoformat())
    server = start_server("--clock-file", str(clock), "--heartbeat", "0.5")

    def now() -> datetime:  # the board reads the same clock as the server
        return datetime.fromisoformat(clock.read_text())

    async with (TaskboardClient(server.url) as client,
                reviewing(server.url, client, "writes the report", clock=now) as (pilot, app, first)):
        await always_allow_from_the_review(pilot, "8h")
        await wait_for_status(client, first.id, "completed")
        [rule] = await client.list_rules()
        assert rule.expires_at == start + timedelta(hours=8)
        await until(pilot, lambda: any("Allowing bash:npm test for 8h00m" in n for n in notifications(app)),
                    what="the toast saying for how long")

        clock.write_text((start + timedelta(hours=7, minutes=59)).isoformat())
        inside = await start_task(client, "within the eight hours", params=asks())
        await wait_for_status(client, inside.id, "completed")  # the rule answered
        await rules_screen(pilot)
        assert re.search(r" 1  in 1m00s ", screen_text(app))  # once, and a minute to go
        await pilot.press("escape")

        clock.write_text((start + timedelta(hours=8, seconds=1)).isoformat())
        after = await start_task(client, "after them", params=asks())
        asked = await pending(client, after.id)  # expired: a person is asked again
        assert asked.status == "pending"
        await rules_screen(pilot)
        line = next(line for line in screen_text(app).splitlines() if "bash:npm test" in line)
        assert re.search(r" 1  expired ", line)
        await client.cancel(after.id)


async def test_a_bad_lifetime_is_refused_in_the_review_and_nothing_is_saved(backend) -> None:
    server, client = backend
    async with reviewing(server.url, client, "runs the tests") as (pilot, app, task):
        await always_allow_from_the_review(pilot, "soon")
        assert isinstance(app.screen, PermissionScreen) and focused_id(app) == "rule-expiry"
        assert "is not a duration" in str(app.screen.query_one("#pattern-error").render())
        await actions_done(pilot)
        assert not await client.list_rules()
        assert await client.list_permissions("pending", task_id=task.id)


async def test_stagent_rules_are_its_patterns_and_d_deletes_one_there(
        contract_server: Callable[..., ServerProcess]) -> None:
    from tests.tui.test_stagent import api

    server = contract_server("stagent")
    api(server, "POST", "/api/permissions", {"pattern": "Bash(command:make *)"})
    api(server, "POST", "/api/permissions", {"pattern": "Read"})
    connector = RemoteServer(server.url, dialect="stagent", poll_interval=0.5)
    async with make_app(connector=connector, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        screen = await rules_screen(pilot)
        text = screen_text(app)
        assert "Bash(command:make *)" in text and "Stagent keeps only the pattern" in text
        assert screen.current is not None and screen.current[1].pattern == "Bash(command:make *)"
        await pilot.press("D", "y")
        await until(pilot, lambda: api(server, "GET", "/api/permissions") == {"permissions": ["Read"]},
                    what="the pattern gone from Stagent")
        await until(pilot, lambda: "Bash(command:make *)" not in screen_text(app), what="the list without it")


# ---------------------------------------------------------------- the triage queue


async def test_one_queue_across_two_servers_answers_a_permission_and_a_question_without_leaving_it(
        start_server) -> None:
    one = start_server("--heartbeat", "0.5")
    two = start_server("--heartbeat", "0.5")
    async with TaskboardClient(one.url) as first, TaskboardClient(two.url) as second:
        asker = await start_task(first, "wants to run the tests", params=asks())
        questioner = await start_task(second, "needs a region", params=QUESTION)
        await pending(first, asker.id)
        await wait_for_status(second, questioner.id, "awaiting_input")
        board = MultiServer({"one": RemoteServer(one.url), "two": RemoteServer(two.url)})
        async with make_app(connector=board, bell=False).run_test(size=SIZE) as pilot:
            app = await loaded(pilot, f"one/{asker.id}", f"two/{questioner.id}")
            await until(pilot, lambda: app.board.permissions, what="the request")
            await pilot.press("i")
            queue = await until(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen)
            await until(pilot, lambda: "Which region, EU or US?" in screen_text(app), what="the question, shown")
            assert [(i.server, i.kind) for i in queue.items] == [("one", "permission"), ("two", "question")]
            text = screen_text(app)
            assert "PERMIT" in text and "ASKS" in text and "wants to run the tests" in text

            await triage_to(pilot, f"one/{asker.id}", "permission")
            await pilot.press("a")
            await wait_for_status(first, asker.id, "completed")
            assert [r.status for r in await first.list_permissions(None, task_id=asker.id)] == ["allowed"]
            assert app.screen is queue  # still open

            await triage_to(pilot, f"two/{questioner.id}", "question")
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, MessageScreen), what="the answer dialog")
            await pilot.press(*"EU", "enter")
            await wait_for_status(second, questioner.id, "completed")
            assert [m.message for m in await second.list_messages(questioner.id) if m.role == "user"] == ["EU"]
            await until(pilot, lambda: app.screen is queue, what="back in the queue")
            # Both tasks finished since the queue opened: they show as finished now, nothing else waits.
            await until(pilot, lambda: {(i.server, i.kind) for i in queue.items} == {("one", "finished"),
                                                                                   ("two", "finished")},
                        what="the queue to follow")


async def test_three_identical_requests_are_one_item_allowed_with_one_key(backend) -> None:
    server, client = backend
    tasks = [await start_task(client, f"test run {n}", params=asks()) for n in range(3)]
    other = await start_task(client, "writes elsewhere", params=asks(tool="Write", command="x"))
    for task in (*tasks, other):
        await pending(client, task.id)
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in tasks))
        await until(pilot, lambda: len(app.board.permissions) == 4, what="four requests")
        await pilot.press("i")
        item = await triage_to(pilot, tasks[0].id, "permission")
        assert item.count == 3 and {r.task_id for r in item.requests} == {t.id for t in tasks}
        assert "3× Bash npm test" in screen_text(app)
        await pilot.press("a")
        for task in tasks:
            await wait_for_status(client, task.id, "completed")
            [answer] = await client.list_permissions(None, task_id=task.id)
            assert (answer.status, answer.decided_by) == ("allowed", "user")
        assert await client.list_permissions("pending", task_id=other.id)  # not one of them: still waiting
        assert not await client.list_rules()  # allowed once each, no rule saved
        await until(pilot, lambda: any("Allowed 3 identical Bash requests" in n for n in notifications(app)),
                    what="one toast for the three")
        await until(pilot, lambda: [i.task_id for i in app.screen.items if i.kind == "permission"] == [other.id],
                    what="the queue to follow")


async def test_a_failed_task_is_resumed_from_the_queue_and_a_finished_one_dismissed(backend) -> None:
    server, client = backend
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        failed = await start_task(client, "fails once", params={"steps": 3, "stepSeconds": 0.02, "failAtStep": 1})
        done = await start_task(client, "just finishes", params={"steps": 1, "stepSeconds": 0.01})
        await wait_for_status(client, failed.id, "failed")
        await wait_for_status(client, done.id, "completed")
        await pilot.press("i")
        await triage_to(pilot, failed.id, "failed")
        assert "FAILED" in screen_text(app)
        await pilot.press("r")
        await wait_until(lambda: _resumed(client, failed.id))
        await triage_to(pilot, done.id, "finished")
        await pilot.press("x")
        await until(pilot, lambda: not any(i.task_id == done.id for i in app.screen.items), what="dismissed")
        await pilot.press("escape")
        await pilot.press("i")  # seen: it does not come back
        queue = await until(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen)
        assert not any(i.task_id == done.id for i in queue.items)


async def _resumed(client: TaskboardClient, task_id: str) -> bool:
    return (await client.get_task(task_id)).resume_count == 1
