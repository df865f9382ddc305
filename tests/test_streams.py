"""Log, progress and watch streams: resumable with Last-Event-ID, no gap, no duplicate."""

from __future__ import annotations

import asyncio
import json

import httpx

from taskboard.client import StreamStatus, TaskboardClient
from taskboard.models import Event
from taskboard_backend.broker import Broker
from tests.helpers import FAST, start_task, wait_for_status


async def read_events(http: httpx.AsyncClient, path: str, headers: dict[str, str], stop_after: int | None = None
                      ) -> list[tuple[str | None, str | None, str]]:
    """Raw SSE (id, event, data) triples; returns early (breaking the connection) after `stop_after`."""
    out: list[tuple[str | None, str | None, str]] = []
    async with http.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if "data" in fields:
                    out.append((fields.get("id"), fields.get("event"), fields["data"]))
                    if fields.get("event") == "end" or (stop_after is not None and len(out) >= stop_after):
                        return out
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value
    return out


async def test_a_log_stream_broken_midway_resumes_with_every_line_once(client: TaskboardClient, server) -> None:
    task = await start_task(client, "chatty", params={"steps": 12, "stepSeconds": 0.02})
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        received: list[tuple[str | None, str | None, str]] = []
        last_id = None
        for cut in (3, 5, 4, 7):  # break the connection several times while the task runs
            headers = {"Last-Event-ID": last_id} if last_id else {}
            part = await read_events(http, f"/api/tasks/{task.id}/logs", headers, stop_after=cut)
            received += [e for e in part if e[1] != "end"]
            last_id = next(i for i, _, _ in reversed(part) if i) if any(i for i, _, _ in part) else last_id
        rest = await read_events(http, f"/api/tasks/{task.id}/logs", {"Last-Event-ID": last_id})
        assert rest[-1][1] == "end"
        received += [e for e in rest if e[1] != "end"]
        await wait_for_status(client, task.id, "completed")
        everything = await read_events(http, f"/api/tasks/{task.id}/logs", {})
    expected = [e for e in everything if e[1] != "end"]
    assert [i for i, _, _ in received] == [i for i, _, _ in expected]
    assert len({i for i, _, _ in received}) == len(received)
    assert received[-1][2] == expected[-1][2] and json.loads(received[-1][2])["message"] == "Task completed"


async def test_the_client_reconnects_by_itself(client: TaskboardClient, start_server, tmp_path) -> None:
    """Kill the server mid-stream and start it again on the same database: the client resumes."""
    server = start_server("--heartbeat", "0.2", db=tmp_path / "resume.db")
    statuses: list[StreamStatus] = []
    async with TaskboardClient(server.url) as c:
        task = await c.create_task(title="done before the crash", params={"steps": 6, "stepSeconds": 0.01})
        await c.queue(task.id)
        await c.execute(task.id)
        await wait_for_status(c, task.id, "completed")
        seen = []
        stream = c.stream_logs(task.id, on_status=statuses.append)
        seen.append(await anext(stream))
        seen.append(await anext(stream))
        # Same port, same database: restart the process under the open stream.
        port = server.url.rsplit(":", 1)[1]
        server.kill()
        server.args = [*server.args, "--port", port]
        server.start()
        seen += [e async for e in stream]
    ids = [e.id for e in seen]
    assert ids == sorted(set(ids)) and seen[-1].message == "Task completed"
    async with TaskboardClient(server.url) as fresh:
        assert ids == [e.id async for e in fresh.stream_logs(task.id)]


async def test_progress_stream_has_status_and_progress(client: TaskboardClient) -> None:
    task = await start_task(client, "progress", params=FAST)
    events = [e async for e in client.stream_progress(task.id)]
    statuses = [e.status for e in events]
    assert statuses[0] == "planned" and statuses[-1] == "completed"
    assert any(e.progress and e.progress.total == 3 for e in events)
    resumed = [e async for e in client.stream_progress(task.id, after=events[2].id)]
    assert [e.id for e in resumed] == [e.id for e in events[3:]]


async def test_watch_delivers_every_change_with_increasing_revisions(client: TaskboardClient) -> None:
    start = (await client.list_tasks(limit=1)).revision
    events: list[Event] = []

    async def watch() -> None:
        async for event in client.watch(since=start):
            events.append(event)

    watcher = asyncio.create_task(watch())
    task = await client.create_task(title="watched", params=FAST)
    await client.update_task(task.id, priority=0)
    await client.queue(task.id)
    await client.execute(task.id)
    await wait_for_status(client, task.id, "completed")
    await client.delete_task(task.id)
    for _ in range(200):
        if any(e.type == "task.deleted" and e.task_id == task.id for e in events):
            break
        await asyncio.sleep(0.02)
    watcher.cancel()
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions)) and revisions[0] > start
    own = [e for e in events if e.task_id == task.id]
    statuses = [e.task.status for e in own if e.type == "task.upserted"]
    assert statuses[0] == "planned"
    assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == [
        "planned", "queued", "running", "completed"]
    assert any(e.task.priority == 0 for e in own if e.task)
    assert own[-1].type == "task.deleted"
    # Every revision a task carries is the revision of the event that announced it.
    assert all(e.task.revision == e.revision for e in own if e.task)


async def test_an_unknown_revision_gets_reset(client: TaskboardClient) -> None:
    current = (await client.stats()).revision
    stream = client.watch(since=current + 10_000)
    first = await anext(stream)
    await stream.aclose()
    assert first.type == "reset" and first.revision == current


async def test_a_pruned_revision_gets_reset_then_live_events(start_server) -> None:
    server = start_server("--event-retention", "10", "--heartbeat", "0.2")
    async with TaskboardClient(server.url) as c:
        for i in range(1100):  # pruning runs every 1,000 revisions
            await c.create_task(title=f"t{i}")
        stream = c.watch(since=1)
        first = await anext(stream)
        assert first.type == "reset"
        task = await c.create_task(title="after the reset")
        async for event in stream:
            if event.task_id == task.id:
                assert event.revision > first.revision
                break
        await stream.aclose()


async def test_a_watch_subscriber_that_falls_behind_is_closed_not_grown() -> None:
    """The broker's bound: past its limit a subscriber is marked overflowed, holds nothing, and its
    stream's wait returns at once (the stream ends and the client replays from the store)."""
    broker = Broker(queue_size=3)
    slow, live = broker.subscribe(), broker.subscribe()
    broker.publish([(1, "task.updated", "{}"), (2, "task.updated", "{}")])
    assert live.take(10) == [(1, "task.updated", "{}"), (2, "task.updated", "{}")]
    broker.publish([(3, "task.updated", "{}"), (4, "task.updated", "{}")])
    assert slow.overflowed and slow.closed and not slow.pending
    assert not live.overflowed and [e[0] for e in live.take(10)] == [3, 4]
    assert await asyncio.wait_for(slow.wait(5), 1) is True


async def test_a_watch_subscriber_wakes_on_publish_and_times_out_otherwise() -> None:
    broker = Broker()
    sub = broker.subscribe()
    assert await sub.wait(0.01) is False
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    broker.publish([(7, "task.created", "{}")])
    assert await asyncio.wait_for(waiting, 1) is True
    assert sub.take(1000) == [(7, "task.created", "{}")]
    closing = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    broker.shutdown()
    assert await asyncio.wait_for(closing, 1) is True and sub.closed
