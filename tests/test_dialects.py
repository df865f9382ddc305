"""Each dialect against its contract server (real HTTP on loopback): the board's calls, the
actions its capability set allows, the errors its document names, and the reasons for the rest."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskboard.client import (
    BadRequest,
    NotFound,
    ServiceUnavailable,
    TaskboardClient,
    Unauthorized,
    Unsupported,
)
from taskboard.client.dialects import Capability, detect_dialect, make_client
from taskboard.models import TaskStatus
from tests.server import ServerProcess

WORKSPACE = str(uuid.uuid4())
CONVERSATION = str(uuid.uuid4())


def control(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body)
    response.raise_for_status()
    return response.json()


async def next_event(events: Any, timeout: float = 10.0) -> Any:
    return await asyncio.wait_for(anext(events), timeout)


# ---------------------------------------------------------------------------- seed 003


async def test_v1_envelope_lists_shows_and_cancels(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("v1-envelope")
    control(server, "POST", "/_contract/tasks", {"status": "running", "progress": 30, "total": 120,
                                                  "params": {"query": "machine learning"}})
    control(server, "POST", "/_contract/tasks", {"status": "completed", "task_type": "crawl", "progress": 100,
                                                  "result": {"papers_found": 15}, "completed_at": "2025-03-12T10:02:30"})
    control(server, "POST", "/_contract/tasks", {"status": "failed", "error_message": "quota exceeded"})
    async with make_client("v1-envelope", server.url, poll_interval=0.5) as client:
        page = await client.list_tasks(limit=100)
        assert [t.id for t in page.items] == ["3", "2", "1"] and page.total == 3
        running = await client.get_task("1")
        assert running.status is TaskStatus.RUNNING and running.title == "search #1"
        assert running.progress is not None and (running.progress.current, running.progress.total) == (30, 120)
        assert running.progress.percent == 25.0 and running.params == {"query": "machine learning"}
        done = await client.get_task("2")
        assert done.result_data == {"papers_found": 15} and done.finished_at == datetime(2025, 3, 12, 10, 2, 30,
                                                                                          tzinfo=UTC)
        assert (await client.get_task("3")).error == "quota exceeded"
        assert [t.id for t in (await client.list_tasks(status="failed")).items] == ["3"]

        await client.cancel("1")
        assert (await client.get_task("1")).status is TaskStatus.CANCELLED
        with pytest.raises(BadRequest) as refused:
            await client.cancel("2")
        assert refused.value.status == 400 and refused.value.message == "Cannot cancel task (already completed)"
        with pytest.raises(NotFound) as missing:
            await client.get_task("99")
        assert missing.value.message == "Task not found"
        with pytest.raises(Unsupported) as unsupported:
            await client.delete_task("1")
        assert unsupported.value.capability == "delete" and "no delete" in unsupported.value.message
        assert client.why_not(Capability.CREATE) is not None and client.why_not(Capability.CANCEL) is None


async def test_a_polled_server_still_streams_changes_and_a_log(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("v1-envelope")
    control(server, "POST", "/_contract/tasks", {"status": "running", "progress": 10})
    async with make_client("v1-envelope", server.url, poll_interval=0.5) as client:
        await client.list_tasks()  # what the board loaded: the first poll does not repeat it
        watch = client.watch()
        log = client.stream_logs("1")
        first = await next_event(log)
        assert first.message == "status: running"
        assert (await next_event(log)).message == "progress 10/100, 10%"
        control(server, "PATCH", "/_contract/tasks/1", {"progress": 60})
        event = await next_event(watch)
        assert event.type == "task.upserted" and event.task.progress.current == 60
        assert (await next_event(log)).message == "progress 60/100, 60%"
        control(server, "POST", "/_contract/tasks", {"status": "pending"})
        added = await next_event(watch)
        assert added.type == "task.upserted" and added.task_id == "2" and added.task.status is TaskStatus.QUEUED
        control(server, "PATCH", "/_contract/tasks/1", {"status": "completed", "progress": 100,
                                                         "result": {"ok": True}})
        lines = [(await next_event(log)).message for _ in range(2)]
        assert lines == ["status: completed", "progress 100/100, 100%"]
        with pytest.raises(StopAsyncIteration):
            await next_event(log)  # a final task ends its tail
        await watch.aclose()


# ---------------------------------------------------------------------------- seed 004


async def test_cortex_key_list_result_cancel_and_cleanup(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("cortex", api_key="cortex-key")
    control(server, "POST", "/_contract/tasks", {"task_id": "task_a", "status": "running", "progress_percent": 65,
                                                  "message": "Analyzing graph structure..."})
    control(server, "POST", "/_contract/tasks", {"task_id": "task_b", "status": "completed",
                                                  "task_type": "relationship_analysis",
                                                  "result": {"communities": 12}})
    old = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    control(server, "POST", "/_contract/tasks", {"task_id": "task_c", "status": "failed", "updated_at": old})
    async with make_client("cortex", server.url, "wrong") as bad:
        with pytest.raises(Unauthorized):
            await bad.list_tasks()
    async with make_client("cortex", server.url, "cortex-key") as client:
        page = await client.list_tasks()
        assert {t.id for t in page.items} == {"task_a", "task_b", "task_c"}
        running = await client.get_task("task_a")
        assert running.title == "community detection" and running.status is TaskStatus.RUNNING
        assert running.progress is not None and running.progress.percent == 65
        assert running.progress.message == "Analyzing graph structure..."
        # A result is only asked for once the task is completed.
        assert (await client.get_result("task_a")).result_data is None
        assert (await client.get_result("task_b")).result_data == {"communities": 12}
        assert (await client.get_task("task_b")).result_data == {"communities": 12}  # the detail shows it
        await client.cancel("task_a")
        assert (await client.get_task("task_a")).status is TaskStatus.CANCELLED
        with pytest.raises(BadRequest) as refused:
            await client.cancel("task_b")
        assert refused.value.message == "Task is already completed"
        cleaned = await client.cleanup()
        assert cleaned.deleted == 1
        assert {t.id for t in (await client.list_tasks()).items} == {"task_a", "task_b"}
        with pytest.raises(Unsupported) as unsupported:
            await client.create_task(title="x")
        assert "spawned by other operations" in unsupported.value.message


# ---------------------------------------------------------------------------- seed 000


async def test_background_tasks_spawn_page_progress_and_cancel(
        contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("background-tasks")
    settings = {"workspace_id": WORKSPACE, "conversation_id": CONVERSATION, "task_type": "synthesis"}
    async with make_client("background-tasks", server.url, **settings) as client:
        task = await client.create_task(title="Synthesize", description="Synthesize all interview sources from Q1")
        assert task.status is TaskStatus.QUEUED and task.task_type == "synthesis"
        assert task.title == "synthesis: Synthesize all interview sources from Q1"
        for n in range(104):
            await client.spawn(description=f"drafting {n}")
        pages = [page async for page in client.iter_task_pages()]
        assert [len(p.items) for p in pages] == [100, 5] and pages[0].total == 105
        assert len({t.id for p in pages for t in p.items}) == 105

        log = client.stream_logs(task.id)
        assert (await next_event(log)).message == "[pending] queued: 0% Task created"
        control(server, "PATCH", f"/_contract/tasks/{task.id}", {"status": "running", "phase": "reading",
                                                                  "progress": 40, "message": "12 sources read"})
        assert (await next_event(log)).message == "[running] reading: 40% 12 sources read"
        control(server, "PATCH", f"/_contract/tasks/{task.id}",
                {"status": "completed", "phase": "done", "progress": 100, "message": "Extracted 12 insights",
                 "result_summary": "Extracted 12 insights across 5 themes", "result_data": {"insight_ids": ["u1"]}})
        assert (await next_event(log)).message == "[completed] done: 100% Extracted 12 insights"
        with pytest.raises(StopAsyncIteration):
            await next_event(log)
        done = await client.get_task(task.id)
        assert done.result == "Extracted 12 insights across 5 themes" and done.result_data == {"insight_ids": ["u1"]}
        assert (await client.get_result(task.id)).result == done.result
        with pytest.raises(BadRequest) as refused:
            await client.cancel(task.id)
        assert refused.value.message == "Task is completed and cannot be cancelled"

        other = pages[0].items[0]
        await client.cancel(other.id)
        assert (await client.get_task(other.id)).status is TaskStatus.CANCELLED
        assert [t.id for t in (await client.list_tasks(status="cancelled")).items] == [other.id]
        with pytest.raises(NotFound):
            await client.get_task(str(uuid.uuid4()))


async def test_background_tasks_needs_a_workspace() -> None:
    with pytest.raises(ValueError, match="workspace_id"):
        make_client("background-tasks", "http://127.0.0.1:9")


# ---------------------------------------------------------------------------- seed 002


async def test_agent_platform_submit_registry_message_cancel(
        contract_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = contract_server("agent-platform", api_key="jwt-token")
    control(server, "PUT", "/_contract/agents/agent-1", {"state": "active"})
    control(server, "PUT", "/_contract/agents/agent-2", {"state": "paused"})
    settings = {"agent_id": "agent-1", "registry_path": tmp_path / "registry.json"}
    async with make_client("agent-platform", server.url, "jwt-token", **settings) as client:
        task = await client.create_task(message="Summarize the Q3 report", priority=8, metadata={"team": "ops"})
        assert task.status is TaskStatus.QUEUED and task.priority == 8 and task.assigned_agent == "agent-1"
        second = await client.create_task(title="Draft release notes")
        listed = await client.list_tasks()
        assert [t.id for t in listed.items] == [second.id, task.id] and listed.total == 2

        with pytest.raises(BadRequest) as not_waiting:
            await client.send_message(task.id, "hello")
        assert not_waiting.value.message == "Task is queued; messages go to running tasks"
        control(server, "PATCH", f"/_contract/tasks/{task.id}", {"status": "awaiting_input"})
        assert (await client.get_task(task.id)).status is TaskStatus.AWAITING_INPUT
        answered = await client.send_message(task.id, "Use the final figures")
        assert answered.status is TaskStatus.RUNNING
        assert control(server, "GET", f"/_contract/tasks/{task.id}")["messages"] == ["Use the final figures"]

        await client.cancel(second.id)
        with pytest.raises(BadRequest) as refused:
            await client.cancel(second.id)
        assert refused.value.message == "Task cannot be cancelled (already cancelled)"
        with pytest.raises(ServiceUnavailable) as unavailable:
            await client.create_task(message="x", agent_id="agent-2")
        assert unavailable.value.status == 503
        assert unavailable.value.message.startswith("Agent agent-2 is unavailable (paused, stopped, or in an error")
        with pytest.raises(NotFound) as no_agent:
            await client.create_task(message="x", agent_id="agent-9")
        assert no_agent.value.message == "Agent not found"
        with pytest.raises(BadRequest, match="priority must be a number from 1 to 10"):
            await client._request("POST", "/api/agents/agent-1/tasks", json={"message": "x", "priority": 11})
    # The registry outlives the client: a new one lists the same tasks.
    async with make_client("agent-platform", server.url, "jwt-token", **settings) as again:
        assert {t.id for t in (await again.list_tasks()).items} == {task.id, second.id}
    async with make_client("agent-platform", server.url, "not-the-token", **settings) as bad:
        with pytest.raises(Unauthorized):
            await bad.get_task(task.id)


# ---------------------------------------------------------------------------- auto


async def test_auto_detects_each_api(contract_server: Callable[..., ServerProcess], server: ServerProcess) -> None:
    assert (await detect_dialect(server.url))[0] == "taskboard"
    for name in ("v1-envelope", "background-tasks"):
        assert (await detect_dialect(contract_server(name).url))[0] == name
    cortex = contract_server("cortex")
    empty = await detect_dialect(cortex.url)
    # An empty list alone proves nothing: a guess, said to be one, checked again when tasks appear.
    assert (empty.dialect, empty.certain) == ("cortex", False) and "until tasks appear" in empty.seen
    control(cortex, "POST", "/_contract/tasks", {"task_id": "task_1"})
    dialect, seen, certain = await detect_dialect(cortex.url)
    assert dialect == "cortex" and "task_id" in seen and certain
    plain = await detect_dialect(contract_server("plain-seed-001", upstream=server.url).url)
    assert plain.dialect == "taskboard" and plain.certain is (plain.seen.startswith("GET /api/tasks answered with"))


# ---------------------------------------------------------------------------- a plain seed-001 server


async def test_a_plain_seed_001_server_is_detected_and_polled(
        contract_server: Callable[..., ServerProcess], server: ServerProcess) -> None:
    plain = contract_server("plain-seed-001", upstream=server.url)
    async with TaskboardClient(server.url) as native, make_client("taskboard", plain.url, poll_interval=0.5) as client:
        task = await native.create_task(title="on a plain server",
                                        params={"steps": 100_000, "stepSeconds": 0.2, "costPerStepMicros": 0})
        assert await client.probe() == "taskboard (plain seed 001)"
        assert client.plain and not client.can(Capability.EVENTS)
        assert "plain seed-001 server" in (client.why_not(Capability.MESSAGE) or "")
        assert await client.list_permissions() == [] and await client.list_projects() == []
        page = await client.list_tasks(limit=1000)
        assert task.id in {t.id for t in page.items}
        watch = client.watch(page.revision)  # no /api/events there: polled
        await client.queue(task.id)
        await client.execute(task.id)
        while True:
            event = await next_event(watch)
            if event.task_id == task.id and event.task.status is TaskStatus.RUNNING:
                break
        with pytest.raises(Unsupported):
            await anext(client.stream_logs(task.id))
        await client.cancel(task.id)
        while True:
            event = await next_event(watch)
            if event.task_id == task.id and event.task.status is TaskStatus.CANCELLED:
                break
        await watch.aclose()


async def test_polling_backs_off_while_the_server_is_away() -> None:
    """The poll loop's policy, timed: an unreachable server is asked again after 2x, 4x... the interval
    (capped), the stream says `reconnecting`, and the first answer after that resumes the interval."""
    import time

    from taskboard.client import ConnectionLost, StreamStatus
    from taskboard.client.base import poll_changes

    calls: list[float] = []
    statuses: list[StreamStatus] = []

    async def list_all() -> list:
        calls.append(time.monotonic())
        if 2 <= len(calls) <= 3:
            raise ConnectionLost("away")
        return []

    events = poll_changes(list_all, 0.1, on_status=statuses.append)  # 0.1 is clamped to 0.5
    task = asyncio.create_task(anext(events))
    while len(calls) < 5:
        await asyncio.sleep(0.02)
    task.cancel()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.45 < gaps[0] < 0.8  # the interval, at least 0.5 s
    assert 0.95 < gaps[1] < 1.4 and 1.95 < gaps[2] < 2.5  # backing off: 2x, 4x
    assert 0.45 < gaps[3] < 0.8  # back to the interval once it answers
    assert statuses == [StreamStatus.CONNECTED, StreamStatus.RECONNECTING, StreamStatus.CONNECTED]
