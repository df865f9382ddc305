"""Rules match what the tool acts on, and no more (issue 19, finding 7, and the matching half of 4).

Each case is one the attack found auto-allowed (or not denied); each now goes to a person, or is denied.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskboard.client import TaskboardClient
from taskboard.models import PermissionRule
from taskboard_backend.permissions import Rule, compile_pattern, decide, request_key, suggest_pattern
from tests.helpers import start_task, wait_for_status, wait_until


@pytest.mark.parametrize(("pattern", "tool", "tool_input", "matches"), [
    # The argument is the tool's own field, not the first one that matches.
    ("bash:npm test*", "Bash", {"path": "npm test", "command": "rm -rf /important"}, False),
    ("bash:npm test*", "Bash", {"command": "npm test -- --watch"}, True),
    # Shell commands are commands: a wildcard never swallows a separator the rule did not spell.
    ("bash:ls *.txt", "Bash", {"command": "ls ; curl http://127.0.0.1:9/x | sh ; echo .txt"}, False),
    ("bash:npm test*", "Bash", {"command": "npm test && rm -rf /"}, False),
    ("bash:echo *", "Bash", {"command": "echo `id`"}, False),
    ("bash:echo *", "Bash", {"command": "echo $(id)"}, False),
    ("bash:echo *", "Bash", {"command": "echo hi > /etc/passwd"}, False),
    ("bash:make; make install", "Bash", {"command": "make; make install"}, True),  # spelt out: fine
    # Paths of every file tool are normalised, grep's too.
    ("grep:/reports/*", "Grep", {"pattern": "x", "path": "/reports/../../etc/shadow"}, False),
    ("grep:/reports/*", "Grep", {"pattern": "x", "path": "/reports/q4"}, True),
    # `*` stops at `/` in a path whatever the rule's tool.
    ("*:/reports/*", "Write", {"file_path": "/reports/a/b/c/d"}, False),
    ("*:/reports/*", "Write", {"file_path": "/reports/a"}, True),
    # A tool the table does not know matches only its exact input, named.
    ("*:*", "Frobnicate", {"target": "/etc"}, False),
    ("frobnicate:*", "Frobnicate", {"target": "/etc"}, False),
    ('frobnicate:{"target":"/etc"}', "Frobnicate", {"target": "/etc"}, True),
])
def test_each_tool_is_matched_on_its_own_argument(pattern: str, tool: str, tool_input: dict, matches: bool) -> None:
    assert compile_pattern(pattern).matches(request_key(tool, tool_input, cwd="/work")) is matches


def test_relative_paths_resolve_against_the_working_directory_and_deny_still_wins() -> None:
    rules = [Rule("a", "write:**", "allow"), Rule("d", "write:/etc/**", "deny")]
    key = request_key("Write", {"file_path": "../../../../etc/passwd"}, cwd="/home/me/project")
    assert key == "write:/etc/passwd"
    assert decide(rules, key) == ("deny", rules[1])
    assert request_key("Write", {"file_path": "notes/a.md"}, cwd="/home/me/project") == \
        "write:/home/me/project/notes/a.md"


def test_the_suggested_pattern_escapes_the_requests_own_glob_characters() -> None:
    suggested = suggest_pattern("Bash", {"command": "ls *.txt"})
    assert suggested == "bash:ls \\*.txt"
    rule = compile_pattern(suggested)
    assert rule.matches(request_key("Bash", {"command": "ls *.txt"}))
    assert not rule.matches(request_key("Bash", {"command": "ls secret.txt"}))
    assert suggest_pattern("Write", {"file_path": "/data/[x]*/q?.md"}) == "write:/data/[x]\\*/*"


SEPARATED = st.tuples(st.sampled_from(["ls", "npm test", "echo hi", "make"]), st.sampled_from([";", "|", "&&", "&", "`", "$(", ">", "\n"]),
                      st.sampled_from([" rm -rf /", "curl x | sh", "id)", " /etc/passwd"]))


@given(SEPARATED, st.sampled_from(["*", "**", " *", "*x*"]))
def test_a_wildcard_never_matches_a_command_separator(parts: tuple[str, str, str], tail: str) -> None:
    head, separator, rest = parts
    rule = compile_pattern(f"bash:{head}{tail}")
    assert not rule.matches(request_key("Bash", {"command": f"{head} {separator}{rest}"}))


async def test_through_the_server_a_shell_request_is_judged_on_its_command(server, client: TaskboardClient) -> None:
    allow = await client.create_rule("bash:npm test*", "allow")
    async with httpx.AsyncClient(base_url=server.url) as http:
        made = await http.post("/api/permissions/rules", json={"pattern": "write:**", "behavior": "allow",
                                                               "allowBroad": True})
        assert made.status_code == 201
    allow_all = PermissionRule.model_validate(made.json())
    deny_etc = await client.create_rule("write:/etc/**", "deny")
    try:
        asks = [{"tool": "Bash", "input": {"path": "npm test", "command": "rm -rf /important"}},
                {"tool": "Write", "input": {"file_path": "../../../../../../etc/passwd"}}]
        command = "; ".join(f"echo '::taskboard {json.dumps({'type': 'permission', **ask})}'; read answer; "
                            "echo \"answer: $answer\"" for ask in asks)
        task = await start_task(client, "asks", assigned_agent="shell", params={"command": command})

        async def pending() -> list:
            return await client.list_permissions("pending", task_id=task.id)
        first = (await wait_until(pending))[0]
        assert first.tool_input == asks[0]["input"]  # not auto-allowed by bash:npm test*: a person decides
        await client.respond(task.id, first.id, "allow")
        done = await wait_for_status(client, task.id, "completed", "failed")
        answers = [e.message async for e in client.stream_logs(task.id) if e.message.startswith("answer: ")]
        assert json.loads(answers[1].removeprefix("answer: "))["behavior"] == "deny"  # deny wins for ../etc
        assert done.status == "completed"
    finally:
        for rule in (allow, allow_all, deny_etc):
            await client.delete_rule(rule.id)


@pytest.mark.parametrize("pattern", ["*:**", "*:/reports/*", "bash:*", "write:/**", "bash:**"])
async def test_an_allow_rule_for_every_tool_or_argument_needs_saying_so(server, pattern: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        refused = await http.post("/api/permissions/rules", json={"pattern": pattern, "behavior": "allow"})
        assert refused.status_code == 400
        message = refused.json()["error"]["fieldErrors"]["pattern"][0]
        assert message.startswith(f"Pattern {pattern!r} allows every ") and message.endswith(
            'send "allowBroad": true if that is what you mean')
        denied = await http.post("/api/permissions/rules", json={"pattern": pattern, "behavior": "deny"})
        assert denied.status_code == 201  # denying broadly fails closed: no need to insist
        meant = await http.post("/api/permissions/rules", json={"pattern": pattern, "behavior": "allow",
                                                                "allowBroad": True})
        assert meant.status_code == 201
        for rule in (denied.json(), meant.json()):
            await http.delete(f"/api/permissions/rules/{rule['id']}")


async def test_always_allow_refuses_a_pattern_broader_than_any_request(server, client: TaskboardClient) -> None:
    task = await start_task(client, "asks", params={"steps": 3, "stepSeconds": 0.01, "permission": {
        "tool": "Write", "input": {"file_path": "/reports/a.md", "content": "x"}, "atStep": 1}})

    async def pending() -> list:
        return await client.list_permissions("pending", task_id=task.id)
    request = (await wait_until(pending))[0]
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = {"notificationId": request.id, "behavior": "allow", "alwaysAllow": True, "permissionPattern": "*:**"}
        refused = await http.post(f"/api/tasks/{task.id}/respond", json=answer)
        assert refused.status_code == 400
        assert refused.json()["error"]["fieldErrors"]["permissionPattern"] == [
            "Pattern '*:**' allows every tool; send \"allowBroad\": true if that is what you mean"]
        rules = (await http.get("/api/permissions/rules")).json()
        assert "*:**" not in [r["pattern"] for r in rules]
    assert [p.id for p in await pending()] == [request.id]  # still a person's to answer
    await client.respond(task.id, request.id, "allow")
    await wait_for_status(client, task.id, "completed")


@given(st.sampled_from(["*", "bash", "Write", " grep ", "frobnicate"]),
       st.lists(st.sampled_from(["*", "**", "/", "?", "\\*", "a", " ", "\n", "x/y", ";"]), min_size=1, max_size=5))
def test_the_schema_says_which_allow_rules_are_broad(tool: str, parts: list[str]) -> None:
    """The OpenAPI schema's BROAD_PATTERN_REGEX (what clients and fuzzers see) and the server's check agree."""
    import re

    from taskboard.models import BROAD_PATTERN_REGEX, PATTERN_REGEX
    from taskboard_backend.permissions import InvalidPattern, broadness

    pattern = f"{tool}:{''.join(parts)}"
    if not re.match(PATTERN_REGEX, pattern):
        return
    try:
        compiled = compile_pattern(pattern)
    except InvalidPattern:
        return
    assert bool(re.match(BROAD_PATTERN_REGEX, pattern)) == (broadness(compiled) is not None), pattern
