"""Saved rules a person can see and revoke (issue 25): who saved one, when, how often it has answered since,
an optional lifetime by the server's clock, and the log line that names the rule that answered.

The expiry is tested on a server whose clock is a file (`--clock-file`, tests only): writing a later time
moves the server there at once, so "after eight hours" takes no sleep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from taskboard.client import TaskboardClient, ValidationFailed
from tests.helpers import start_task, wait_for_status
from tests.test_permissions import asks_to_write, pending_for

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def set_clock(path: Path, at: datetime) -> None:
    path.write_text(at.isoformat())


@pytest.fixture
async def clocked(start_server, tmp_path: Path):
    """A server of its own whose clock is the file `clock` (at START until a test moves it)."""
    clock = tmp_path / "clock"
    set_clock(clock, START)
    server = start_server("--clock-file", str(clock))
    async with TaskboardClient(server.url) as client:
        yield client, clock


async def test_a_rule_says_who_saved_it_when_and_how_often_it_matched(clocked) -> None:
    client, _ = clocked
    rule = await client.create_rule("write:/counted/*", "allow", saved_by="ana@laptop")
    assert (rule.saved_by, rule.created_at, rule.match_count, rule.expires_at) == ("ana@laptop", START, 0, None)
    for name in ("a", "b"):
        task = await start_task(client, f"writes {name}", params=asks_to_write(f"/counted/{name}.md"))
        await wait_for_status(client, task.id, "completed")
    [listed] = await client.list_rules()
    assert (listed.id, listed.match_count, listed.last_matched_at, listed.expired) == (rule.id, 2, START, False)
    logs = [e.message async for e in client.stream_logs(task.id)]
    assert f"Auto-allowed Write by rule 'write:/counted/*' (rule {rule.id[:8]}, saved by ana@laptop) " \
           "for write:/counted/b.md" in logs


async def test_an_always_allow_for_a_while_stops_matching_after_its_time(clocked) -> None:
    client, clock = clocked
    first = await start_task(client, "first", params=asks_to_write("/for-a-while/one.md"))
    request = await pending_for(client, first.id)
    await client.respond(first.id, request.id, "allow", always_allow=True, expires_in_seconds=8 * 3600,
                         saved_by="ana@laptop")
    [rule] = await client.list_rules()
    assert (rule.source, rule.saved_by, rule.expires_at) == ("always-allow", "ana@laptop", START + timedelta(hours=8))

    set_clock(clock, START + timedelta(hours=8) - timedelta(seconds=1))  # still in force
    inside = await start_task(client, "inside", params=asks_to_write("/for-a-while/two.md"))
    await wait_for_status(client, inside.id, "completed")
    assert [r.decided_by for r in await client.list_permissions(None, task_id=inside.id)] == ["rule"]

    set_clock(clock, START + timedelta(hours=8))  # its time is up: a person is asked again
    after = await start_task(client, "after", params=asks_to_write("/for-a-while/three.md"))
    asked = await pending_for(client, after.id)
    assert asked.status == "pending"
    [expired] = await client.list_rules()
    assert (expired.expired, expired.match_count) == (True, 1)
    await client.cancel(after.id)


async def test_a_rule_created_with_a_lifetime_expires_by_the_servers_clock(clocked) -> None:
    client, clock = clocked
    rule = await client.create_rule("write:/short/*", "deny", expires_in_seconds=60)
    assert rule.expires_at == START + timedelta(seconds=60) and not rule.expired
    set_clock(clock, START + timedelta(minutes=5))
    [listed] = await client.list_rules()
    assert listed.expired
    task = await start_task(client, "no longer denied", params=asks_to_write("/short/x.md"))
    assert (await pending_for(client, task.id)).status == "pending"
    await client.cancel(task.id)


@pytest.mark.parametrize(("body", "field"), [
    ({"pattern": "write:/x/*", "behavior": "allow", "expiresInSeconds": 0}, "expiresInSeconds"),
    ({"pattern": "write:/x/*", "behavior": "allow", "expiresInSeconds": "8h"}, "expiresInSeconds"),
    ({"pattern": "write:/x/*", "behavior": "allow", "expiresInSeconds": 10**12}, "expiresInSeconds"),
    ({"pattern": "write:/x/*", "behavior": "allow", "expiresInSeconds": True}, "expiresInSeconds"),
    ({"pattern": "write:/x/*", "behavior": "allow", "savedBy": ""}, "savedBy"),
    ({"pattern": "write:/x/*", "behavior": "allow", "savedBy": "x" * 201}, "savedBy"),
])
async def test_a_bad_lifetime_or_saver_is_the_documented_400_and_saves_nothing(server, client: TaskboardClient,
                                                                              body, field) -> None:
    before = await client.list_rules()
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post("/api/permissions/rules", json=body)
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fieldErrors"]) == [field]
    assert await client.list_rules() == before


async def test_a_lifetime_without_always_allow_is_refused(client: TaskboardClient) -> None:
    task = await start_task(client, "once only", params=asks_to_write("/once/x.md"))
    request = await pending_for(client, task.id)
    with pytest.raises(ValidationFailed) as refused:
        await client.respond(task.id, request.id, "allow", expires_in_seconds=3600)
    assert "send it with alwaysAllow" in refused.value.field_errors["expiresInSeconds"][0]
    assert (await pending_for(client, task.id)).id == request.id  # nothing was decided
    await client.respond(task.id, request.id, "allow")
    await wait_for_status(client, task.id, "completed")


async def test_the_schema_documents_the_new_fields(server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        schemas = (await http.get("/openapi.json")).json()["components"]["schemas"]
    rule = schemas["PermissionRule"]["properties"]
    assert {"savedBy", "matchCount", "lastMatchedAt", "expiresAt", "expired"} <= rule.keys()
    for name in ("PermissionRuleCreate", "PermissionResponse"):
        fields = schemas[name]["properties"]
        lifetime, saver = ({k: v for part in fields[f].get("anyOf", []) if part.get("type") != "null"
                            for k, v in part.items()} | fields[f] for f in ("expiresInSeconds", "savedBy"))
        assert (lifetime["type"], lifetime["minimum"], saver["maxLength"]) == ("integer", 1, 200)
        assert "description" in lifetime and "description" in saver


async def test_approve_always_for_8h_from_the_cli_saves_a_rule_that_lasts_8h(clocked) -> None:
    from taskboard import format as fmt
    from tests.test_cli import taskboard

    client, _ = clocked
    task = await start_task(client, "asks", params=asks_to_write("/cli-for/a.md"))
    request = await pending_for(client, task.id)
    base = ("--url", client.base_url)
    refused = taskboard("approve", task.id, "--for", "8h", *base)
    assert refused.returncode == 2 and "--for is how long the rule --always saves lasts" in refused.stderr
    bad = taskboard("approve", task.id, "--always", "--for", "soon", *base)
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr
    assert not await client.list_rules() and (await pending_for(client, task.id)).id == request.id
    done = taskboard("approve", task.id, "--always", "--for", "8h", *base)
    assert done.returncode == 0, done.stderr
    [rule] = await client.list_rules()
    assert (rule.pattern, rule.expires_at, rule.saved_by) == ("write:/cli-for/*", START + timedelta(hours=8),
                                                              fmt.who())
