"""taskboard on Stagent as it really runs (the stand-in in tests/contract/stagent.py follows
shared/peers/stagent.md, quirks included): the CLI as a person runs it, and the client's log tail,
inbox and questions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from taskboard.client.dialects import Capability, detect_dialect, make_client
from taskboard.client.dialects.stagent import StagentClient
from taskboard.models import PermissionStatus, TaskStatus
from tests.helpers import wait_until
from tests.server import ServerProcess
from tests.test_cli import as_json, taskboard


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body, timeout=10)
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def stagent(contract_server: Callable[..., ServerProcess]) -> ServerProcess:
    return contract_server("stagent")


async def waiting(client: StagentClient, task_id: str) -> Any:
    """The request the task's agent is waiting on, once it is in the inbox."""
    async def found() -> Any:
        requests = await client.list_permissions(task_id=task_id)
        return requests[0] if requests else None

    return await wait_until(found, timeout=10)


async def status_of(client: StagentClient, task_id: str, *wanted: TaskStatus) -> Any:
    async def reached() -> Any:
        task = await client.get_task(task_id)
        return task if task.status in wanted else None

    return await wait_until(reached, timeout=10)


def notification(server: ServerProcess, request_id: str) -> dict[str, Any]:
    return next(n for n in api(server, "GET", "/api/notifications") if n["id"] == request_id)


# ---------------------------------------------------------------------------- detection and the list


async def test_auto_says_stagent_on_an_empty_server_and_lists_as_asked(
        contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    found = await detect_dialect(server.url)
    assert (found.dialect, found.certain) == ("stagent", True) and "/api/profiles" in found.seen
    listed = taskboard("ls", "--url", server.url, "--dialect", "auto")
    assert listed.returncode == 0 and "speaks stagent" in listed.stderr, listed.stderr

    url = ("--url", server.url, "--dialect", "stagent")
    made = [as_json(taskboard("create", f"task {n}", "-d", f"about {word}", "-p", str(n % 4), *url, "--json"))
            for n, word in enumerate(["json", "yaml", "json files", "toml"])]
    queued = as_json(taskboard("ls", "-s", "queued", *url, "--json"))
    assert queued == []
    api(server, "PATCH", f"/api/tasks/{made[1]['id']}", {"status": "queued"})
    both = as_json(taskboard("ls", "-s", "planned", "-s", "queued", *url, "--json"))
    assert {t["id"] for t in both} == {t["id"] for t in made}
    only_queued = as_json(taskboard("ls", "-s", "queued", *url, "--json"))
    assert [t["id"] for t in only_queued] == [made[1]["id"]]
    searched = as_json(taskboard("ls", "-q", "json", *url, "--json"))
    assert {t["id"] for t in searched} == {made[0]["id"], made[2]["id"]}
    assert len(as_json(taskboard("ls", "-n", "2", *url, "--json"))) == 2

    bad = taskboard("create", "", *url)
    assert bad.returncode == 1 and "title: Title is required" in bad.stderr
    cleanup = taskboard("cleanup", *url)
    assert cleanup.returncode == 1 and "Stagent has no cleanup" in cleanup.stderr
    missing = taskboard("show", "nope", *url)
    assert missing.returncode == 1 and "Not found" in missing.stderr


# ---------------------------------------------------------------------------- run, logs, approvals


async def test_run_approve_deny_and_always_allow_from_the_cli(contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    url = ("--url", server.url, "--dialect", "stagent")
    async with make_client("stagent", server.url, poll_interval=0.5) as client:
        # run: Stagent has no spawn, so create, queue and execute.
        allowed = as_json(taskboard("run", "write a file", "-d", "SCENARIO:write PATH=/srv/a.txt", *url, "--json"))
        assert allowed["status"] == "running"
        request = await waiting(client, allowed["id"])
        assert (request.tool_name, request.message, request.suggested_pattern) == ("Write", "/srv/a.txt", "Write")
        assert taskboard("approve", allowed["id"], *url).returncode == 0
        stored = json.loads(notification(server, request.id)["response"])
        assert stored == {"behavior": "allow", "updatedInput": {"file_path": "/srv/a.txt",
                                                                "content": "hello from fake model\n"}}
        done = await status_of(client, allowed["id"], TaskStatus.COMPLETED)
        assert "Write ran with" in (done.result or "")

        denied = as_json(taskboard("run", "run a command", "-d", "SCENARIO:bash CMD=npm+test", *url, "--json"))
        request = await waiting(client, denied["id"])
        assert request.suggested_pattern == "Bash(command:npm *)"
        assert taskboard("deny", denied["id"], "-m", "not on this machine", *url).returncode == 0
        assert json.loads(notification(server, request.id)["response"]) == {"behavior": "deny",
                                                                            "message": "not on this machine"}
        done = await status_of(client, denied["id"], TaskStatus.COMPLETED)
        assert "denied: not on this machine" in (done.result or "")

        always = as_json(taskboard("run", "always", "-d", "SCENARIO:bash CMD=npm+test", *url, "--json"))
        request = await waiting(client, always["id"])
        assert taskboard("approve", always["id"], "--always", *url).returncode == 0
        assert api(server, "GET", "/api/permissions") == {"permissions": ["Bash(command:npm *)"]}
        assert json.loads(notification(server, request.id)["response"])["alwaysAllow"] is True
        await status_of(client, always["id"], TaskStatus.COMPLETED)
        # The saved pattern answers the next such request by itself: no notification at all.
        again = as_json(taskboard("run", "again", "-d", "SCENARIO:bash CMD=npm+run+lint", *url, "--json"))
        await status_of(client, again["id"], TaskStatus.COMPLETED)
        assert await client.list_permissions(task_id=again["id"]) == []

        nothing = taskboard("approve", again["id"], *url)
        assert nothing.returncode == 1 and "no permission request waiting" in nothing.stderr


async def test_a_request_older_than_stagents_time_out_is_expired_not_answerable(
        contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    task = api(server, "POST", "/api/tasks", {"title": "old request"})
    old = api(server, "POST", "/_contract/notifications", {"taskId": task["id"], "toolName": "Bash",
                                                           "toolInput": {"command": "ls"}, "ageSeconds": 70})
    fresh = api(server, "POST", "/_contract/notifications", {"taskId": task["id"], "toolName": "Bash",
                                                             "toolInput": {"command": "pwd"}, "ageSeconds": 5})
    async with make_client("stagent", server.url) as client:
        assert [r.id for r in await client.list_permissions()] == [fresh["id"]]
        everything = {r.id: r for r in await client.list_permissions(status=None)}
        assert everything[old["id"]].status is PermissionStatus.EXPIRED
        assert (await client.get_task(task["id"])).pending_permissions == 1
    refused = taskboard("approve", task["id"], "--request", old["id"], "--url", server.url, "--dialect", "stagent")
    assert refused.returncode == 1 and "no permission request waiting" in refused.stderr
    assert notification(server, old["id"])["response"] is None


async def test_log_tail_every_row_once_across_a_reconnect_and_the_lossy_cursor(
        contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    async with make_client("stagent", server.url, poll_interval=0.5) as client:
        slow = await client.spawn(title="slow", description="SCENARIO:slow N=4")
        lines: list[str] = []
        async for batch in client.stream_log_batches(slow.id):
            lines += [entry.message for entry in batch]
            if "Working on step 2" in lines and not any("dropped" in x for x in lines):
                api(server, "POST", "/_contract/drop", {})  # the stream ends; Stagent replays all on reconnect
                lines.append("dropped")
        steps = [line for line in lines if line.startswith("Working on step")]
        assert steps == [f"Working on step {n}" for n in range(1, 5)], lines
        assert lines[-1] == "completed: FINAL: slow done"

        # 200 rows in well under a second: the live stream's 1-second cursor loses some; the tail
        # reads them again at the end, so every turn is there once.
        burst = await client.spawn(title="burst", description="SCENARIO:burst N=200")
        seen: list[str] = []
        async for batch in client.stream_log_batches(burst.id):
            seen += [entry.message for entry in batch]
        turns = [line for line in seen if line.startswith("turn ")]
        assert sorted(turns) == sorted(f"turn {n}" for n in range(1, 201)), seen
    # `logs -f` on a final task returns; `logs` prints the tool and its input in a line.
    follow = taskboard("logs", "-f", burst.id, "--url", server.url, "--dialect", "stagent", timeout=30)
    assert follow.returncode == 0 and "completed: FINAL: burst done" in follow.stdout


async def test_questions_answered_with_msg_and_the_task_shown_awaiting_input(
        contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    url = ("--url", server.url, "--dialect", "stagent")
    async with make_client("stagent", server.url) as client:
        asked = await client.spawn(title="ask", description="SCENARIO:ask")
        await status_of(client, asked.id, TaskStatus.AWAITING_INPUT)
        question = (await client.list_messages(asked.id))[-1]
        assert question.role == "agent" and question.message.startswith("Which color should the banner use?")
        answered = taskboard("msg", asked.id, "blue", *url)
        assert answered.returncode == 0, answered.stderr
        done = await status_of(client, asked.id, TaskStatus.COMPLETED)
        assert '"Which color should the banner use?"="Blue"' in (done.result or "")
        row = next(n for n in api(server, "GET", "/api/notifications?type=agent_message"))
        sent = json.loads(row["response"])
        assert sent["behavior"] == "allow" and sent["updatedInput"]["answers"] == {
            "Which color should the banner use?": "Blue"}
        assert sent["updatedInput"]["questions"][0]["options"][0]["label"] == "Blue"
        none_left = taskboard("msg", asked.id, "red", *url)
        assert none_left.returncode == 1 and "no question waiting" in none_left.stderr


async def test_cancel_resume_to_the_limit_delete_and_failures(contract_server: Callable[..., ServerProcess]) -> None:
    server = stagent(contract_server)
    url = ("--url", server.url, "--dialect", "stagent")
    async with make_client("stagent", server.url) as client:
        failing = await client.spawn(title="fails", description="SCENARIO:fail")
        failed = await status_of(client, failing.id, TaskStatus.FAILED)
        assert failed.error == "Claude Code process exited with code 1" and failed.result is None
        shown = taskboard("show", failing.id, *url)
        assert "Claude Code process exited with code 1" in shown.stdout
        for attempt in range(1, 4):
            assert taskboard("resume", failing.id, *url).returncode == 0
            await wait_until(lambda a=attempt: _resumed(server, failing.id, a), timeout=10)
            await status_of(client, failing.id, TaskStatus.FAILED)
        limit = taskboard("resume", failing.id, *url)
        assert limit.returncode == 1 and "Resume limit reached" in limit.stderr
        assert client.why_not(Capability.DELETE, failing.id) is not None
        with pytest.raises(Exception, match="cannot delete a task that has run"):
            await client.delete_task(failing.id)

        slow = await client.spawn(title="slow", description="SCENARIO:slow N=30")
        assert taskboard("cancel", slow.id, *url).returncode == 0
        assert (await client.get_task(slow.id)).status is TaskStatus.CANCELLED

        planned = await client.create_task(title="never ran")
        assert client.why_not(Capability.RESUME, planned.id) is not None
        assert client.why_not(Capability.DELETE, planned.id) is None
        await client.delete_task(planned.id)
        with pytest.raises(Exception, match="Not found"):
            await client.get_task(planned.id)
        with pytest.raises(Exception, match="Not found"):
            await client.execute("no-such-task")  # Stagent's empty 500, said as what it means


async def _resumed(server: ServerProcess, task_id: str, count: int) -> bool:
    return bool(api(server, "GET", f"/api/tasks/{task_id}")["resumeCount"] >= count)
