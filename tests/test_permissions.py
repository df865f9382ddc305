"""Permission requests block the run until answered; rules auto-answer; deny always wins."""

from __future__ import annotations

import asyncio

import pytest

from taskboard.client import Conflict, NotFound, TaskboardClient, ValidationFailed
from taskboard.models import PermissionRequest
from taskboard_backend.permissions import Rule, compile_pattern, decide, request_key, suggest_pattern
from tests.helpers import start_task, wait_for_status, wait_until


def asks_to_write(path: str, steps: int = 3) -> dict:
    return {"steps": steps, "stepSeconds": 0.01,
            "permission": {"tool": "Write", "input": {"file_path": path, "content": "x"}, "atStep": 1}}


async def pending_for(client: TaskboardClient, task_id: str) -> PermissionRequest:
    async def found() -> PermissionRequest | None:
        pending = await client.list_permissions("pending", task_id=task_id)
        return pending[0] if pending else None
    return await wait_until(found)


async def test_a_request_blocks_the_run_until_it_is_allowed(client: TaskboardClient) -> None:
    task = await start_task(client, "writes a report", params=asks_to_write("/reports/q4.md"))
    request = await pending_for(client, task.id)
    assert (request.tool_name, request.tool_input["file_path"]) == ("Write", "/reports/q4.md")
    assert request.suggested_pattern == "write:/reports/*"
    assert request.task_title == "writes a report"
    blocked = await client.get_task(task.id)
    assert blocked.status == "running" and blocked.pending_permissions == 1 and blocked.needs_attention
    await asyncio.sleep(0.3)  # long enough for the rest of the run, were it not blocked
    still = await client.get_task(task.id)
    assert still.status == "running" and still.progress.current == blocked.progress.current

    await client.respond(task.id, request.id, "allow")
    done = await wait_for_status(client, task.id, "completed")
    assert done.pending_permissions == 0
    logs = [e.message async for e in client.stream_logs(task.id)]
    assert any(m.startswith("Write: ") and "/reports/q4.md" in m for m in logs)
    assert "Wrote /reports/q4.md." in (await client.get_output(task.id)).result


async def test_deny_with_a_message_reaches_the_agent(client: TaskboardClient) -> None:
    task = await start_task(client, "denied", params=asks_to_write("/etc/passwd"))
    request = await pending_for(client, task.id)
    await client.respond(task.id, request.id, "deny", message="not there")
    await wait_for_status(client, task.id, "completed")
    logs = [e.message async for e in client.stream_logs(task.id)]
    assert "Permission for Write denied: not there; continuing without it" in logs
    resolved = await client.list_permissions(None, task_id=task.id)
    assert (resolved[0].status, resolved[0].behavior, resolved[0].decided_by) == ("denied", "deny", "user")


async def test_a_second_answer_is_a_409_and_changes_nothing(client: TaskboardClient) -> None:
    task = await start_task(client, "answered twice", params=asks_to_write("/reports/a.md"))
    request = await pending_for(client, task.id)
    await client.respond(task.id, request.id, "deny")
    with pytest.raises(Conflict, match="Already responded"):
        await client.respond(task.id, request.id, "allow")
    resolved = (await client.list_permissions(None, task_id=task.id))[0]
    assert resolved.behavior == "deny"


async def test_unknown_notification_is_404(client: TaskboardClient) -> None:
    task = await client.create_task(title="no requests")
    with pytest.raises(NotFound, match="Notification not found"):
        await client.respond(task.id, "notif-nope", "allow")


async def test_updated_input_may_not_add_keys(client: TaskboardClient) -> None:
    task = await start_task(client, "sneaky", params=asks_to_write("/reports/b.md"))
    request = await pending_for(client, task.id)
    with pytest.raises(Exception) as refused:
        await client.respond(task.id, request.id, "allow", updated_input={"file_path": "/reports/c.md", "mode": "777"})
    assert refused.value.status == 400 and "Disallowed input keys: mode" in refused.value.message
    await client.respond(task.id, request.id, "allow", updated_input={"file_path": "/reports/c.md"})
    await wait_for_status(client, task.id, "completed")
    assert "Wrote /reports/c.md." in (await client.get_output(task.id)).result


async def test_always_allow_saves_a_rule_and_the_next_match_is_auto_allowed(client: TaskboardClient) -> None:
    first = await start_task(client, "first", params=asks_to_write("/auto-allow-test/one.md"))
    request = await pending_for(client, first.id)
    await client.respond(first.id, request.id, "allow", always_allow=True)
    rules = await client.list_rules()
    rule = next(r for r in rules if r.pattern == "write:/auto-allow-test/*")
    assert rule.behavior == "allow"

    second = await start_task(client, "second", params=asks_to_write("/auto-allow-test/two.md"))
    await wait_for_status(client, second.id, "completed")
    [auto] = await client.list_permissions(None, task_id=second.id)
    assert (auto.status, auto.decided_by, auto.rule_id) == ("allowed", "rule", rule.id)
    # `..` is normalised away before matching: this is /etc/x.md, which the rule does not cover.
    third = await start_task(client, "third", params=asks_to_write("/auto-allow-test/../etc/x.md"))
    escaped = await pending_for(client, third.id)
    assert escaped.status == "pending"
    await client.cancel(third.id)
    await client.delete_rule(rule.id)


async def test_a_deny_rule_beats_an_allow_rule(client: TaskboardClient) -> None:
    allow = await client.create_rule("write:/both/**", "allow")
    deny = await client.create_rule("write:/both/secret/*", "deny")
    try:
        ok = await start_task(client, "allowed part", params=asks_to_write("/both/public/a.md"))
        no = await start_task(client, "denied part", params=asks_to_write("/both/secret/b.md"))
        await wait_for_status(client, ok.id, "completed")
        await wait_for_status(client, no.id, "completed")
        assert (await client.list_permissions(None, task_id=ok.id))[0].status == "allowed"
        denied = (await client.list_permissions(None, task_id=no.id))[0]
        assert (denied.status, denied.rule_id) == ("denied", deny.id)
    finally:
        await client.delete_rule(allow.id)
        await client.delete_rule(deny.id)


async def test_an_unparseable_pattern_is_refused(client: TaskboardClient) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await client.create_rule("no-colon-here", "allow")
    assert refused.value.field_errors["pattern"][0].startswith("Pattern 'no-colon-here' must look like tool:argument")


# ----------------------------------------------------------------------------- the matcher itself


@pytest.mark.parametrize(("pattern", "tool", "path", "matches"), [
    ("write:/reports/*", "Write", "/reports/q4.md", True),
    ("write:/reports/*", "Write", "/reports/sub/q4.md", False),
    ("write:/reports/**", "Write", "/reports/sub/q4.md", True),
    ("write:/reports/*", "Write", "/reports/../etc/passwd", False),
    ("write:/reports/*", "Write", "/reports/./q4.md", True),
    ("write:/reports/*", "Write", "//reports//q4.md", True),
    ("write:/reports/../etc/*", "Write", "/etc/passwd", True),
    ("read:/reports/*", "Write", "/reports/q4.md", False),
])
def test_file_patterns_are_normalised_before_matching(pattern: str, tool: str, path: str, matches: bool) -> None:
    assert compile_pattern(pattern).matches(request_key(tool, {"file_path": path})) is matches


def test_command_patterns_collapse_whitespace() -> None:
    assert compile_pattern("bash:npm test*").matches(request_key("Bash", {"command": "npm   test -- --watch"}))
    assert not compile_pattern("bash:npm test*").matches(request_key("Bash", {"command": "rm -rf / && npm test"}))


def test_suggested_patterns_are_the_narrowest_useful_rule() -> None:
    assert suggest_pattern("Write", {"file_path": "/a/b/../c/d.txt"}) == "write:/a/c/*"
    assert suggest_pattern("Bash", {"command": "ls  -la"}) == "bash:ls -la"


def test_deny_wins_and_unreadable_rules_block_auto_allow() -> None:
    key = request_key("Write", {"file_path": "/x/y"})
    allow, deny = Rule("a", "write:/x/*", "allow"), Rule("d", "write:/x/y", "deny")
    assert decide([allow, deny], key) == ("deny", deny)
    assert decide([deny, allow], key) == ("deny", deny)
    assert decide([allow], key) == ("allow", allow)
    assert decide([allow, Rule("bad", "garbage", "deny")], key) is None


async def test_a_rule_created_answers_the_requests_already_waiting_that_it_covers(client: TaskboardClient) -> None:
    denied = await start_task(client, "writes a secret", params=asks_to_write("/secrets/key.pem"))
    kept = await start_task(client, "writes a report", params=asks_to_write("/reports/a.md"))
    await pending_for(client, denied.id)
    await pending_for(client, kept.id)
    rule = await client.create_rule("write:/secrets/*", "deny")
    await wait_for_status(client, denied.id, "completed")  # the demo agent carries on after a denial
    [answered] = await client.list_permissions(None, task_id=denied.id)
    assert (answered.status, answered.decided_by) == ("denied", "rule")
    assert [r.status for r in await client.list_permissions(None, task_id=kept.id)] == ["pending"]
    await client.delete_rule(rule.id)  # the session's server is shared: leave no rule behind
    await client.respond(kept.id, (await pending_for(client, kept.id)).id, "allow")
