"""What a far link needs (issue 24): gzip on answers and streams, and polls that cost little while nothing
changes (conditional requests, answers compared, nothing parsed again, the wait backing off)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from taskboard.client import TaskboardClient
from taskboard.client.base import poll_changes
from taskboard.client.dialects import make_client
from taskboard.client.sse import SSEChunkDecoder
from taskboard.models import Task
from tests.server import ServerProcess

WORDS = "the board over a slow far link should feel like the near one "


async def raw(http: httpx.AsyncClient, path: str, encoding: str) -> tuple[httpx.Headers, bytes]:
    """An answer's headers and its bytes as they came over the wire (not decoded by httpx)."""
    async with http.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        assert response.status_code == 200, path
        return response.headers, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_gzipped_and_plain_answers_are_the_same_json(client: TaskboardClient, server: ServerProcess) -> None:
    made = [await client.create_task(title=f"far {n}", description=WORDS * 20) for n in range(30)]
    paths = ["/api/tasks?limit=50", "/api/tasks?limit=50&view=summary&sort=-created",  # the fast path
             "/api/tasks?limit=50&q=far", f"/api/tasks/{made[0].id}",  # FastAPI's routes
             "/openapi.json"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for path in paths:
            plain_headers, plain = await raw(http, path, "identity")
            gz_headers, gz = await raw(http, path, "gzip")
            assert "content-encoding" not in plain_headers, path
            assert gz_headers["content-encoding"] == "gzip" and "accept-encoding" in gz_headers["vary"].lower(), path
            assert int(gz_headers["content-length"]) == len(gz) < len(plain), path
            assert json.loads(gzip.decompress(gz)) == json.loads(plain), path
        # A client that refuses gzip (q=0) gets it plain, and a small answer is never gzipped.
        headers, _ = await raw(http, "/api/tasks?limit=50", "gzip;q=0, identity")
        assert "content-encoding" not in headers
        for small in ("/api/health", "/api/tasks/stats"):
            headers, _ = await raw(http, small, "gzip")
            assert "content-encoding" not in headers


async def test_a_gzipped_stream_delivers_each_batch_as_it_is_written(start_server: Callable[..., ServerProcess]
                                                                     ) -> None:
    """Heartbeats 60 s apart: nothing but the per-batch flush can bring the change while the stream is open."""
    server = start_server("--heartbeat", "60")
    http = httpx.AsyncClient(base_url=server.url, timeout=30)
    async with http, TaskboardClient(server.url) as client, \
            http.stream("GET", "/api/events", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        decoder = SSEChunkDecoder()
        chunks = response.aiter_bytes()  # httpx undoes the gzip a piece at a time

        async def next_events() -> list[Any]:
            while not (events := [e for e in decoder.feed(await anext(chunks)) if e.data]):
                pass  # the stream's first block holds only its retry
            return events

        hello = await asyncio.wait_for(next_events(), 10)
        assert hello[0].event == "hello"
        task = await client.create_task(title="seen at once")
        upserted = await asyncio.wait_for(next_events(), 10)
        assert upserted[0].event == "task.upserted" and json.loads(upserted[0].data)["task"]["id"] == task.id


async def test_a_gzipped_watch_stream_gives_every_change_once_across_a_reconnect(
        start_server: Callable[..., ServerProcess], tmp_path: Any) -> None:
    """The client asks for gzip; the server is killed and started again under the open stream: the
    client resumes with Last-Event-ID and sees each change exactly once, in order."""
    server = start_server("--heartbeat", "0.2", db=tmp_path / "far.db")
    async with TaskboardClient(server.url) as client, httpx.AsyncClient(base_url=server.url) as http:
        async with http.stream("GET", "/api/events", headers=dict(client._http.headers)) as response:
            assert response.headers["content-encoding"] == "gzip"  # what the typed client asks for, it gets
        since = (await client.list_tasks(limit=1)).revision
        watch = client.watch(since)
        before = [await client.create_task(title=f"before {n}") for n in range(5)]
        seen = [await asyncio.wait_for(anext(watch), 10) for _ in before]
        port = server.url.rsplit(":", 1)[1]
        server.kill()
        server.args = [*server.args, "--port", port]
        server.start()
        after = [await client.create_task(title=f"after {n}") for n in range(5)]
        seen += [await asyncio.wait_for(anext(watch), 20) for _ in after]
        await watch.aclose()
    revisions = [e.revision for e in seen]
    assert revisions == sorted(set(revisions))
    assert [e.task_id for e in seen] == [t.id for t in before + after]


async def test_a_poll_answered_304_is_not_parsed_again(client: TaskboardClient, server: ServerProcess) -> None:
    """The bundled server gives its list an ETag (the revision): a poller sending it back while nothing
    changed gets a 304, and the client hands back what it parsed before."""
    await client.create_task(title="polled")
    async with httpx.AsyncClient(base_url=server.url) as http:
        first = await http.get("/api/tasks?limit=1000&sort=created")
        again = await http.get("/api/tasks?limit=1000&sort=created", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    statuses: list[int] = []

    async def record(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    http = httpx.AsyncClient(base_url=server.url, event_hooks={"response": [record]})
    async with http, TaskboardClient(server.url, http_client=http) as poller:
        known = {t.id: t for t in (await poller.list_tasks(limit=1000, sort="created")).items}
        polls: list[int] = []

        async def list_all() -> list[Task]:
            polls.append(poller.parses)
            return (await poller.list_tasks(limit=1000, sort="created")).items

        events = poll_changes(list_all, 0.5, known=known)
        pending = asyncio.ensure_future(anext(events))
        while len(statuses) < 4:  # the first list and three polls answered (the third's answer is the signal)
            await asyncio.sleep(0.02)
        assert not pending.done()
        quiet = poller.parses
        assert polls[1:] == [quiet] * len(polls[1:])  # polled twice since the first, nothing parsed again
        assert statuses[-2:] == [304, 304]  # because the server said so, not only because the bodies matched
        task = await client.create_task(title="a change")
        event = await asyncio.wait_for(pending, 10)
        assert event.type == "task.upserted" and event.task_id == task.id
        assert poller.parses == quiet + 1  # the changed list, parsed once
        await events.aclose()


async def test_a_server_without_validators_is_compared_not_parsed_again(
        contract_server: Callable[..., ServerProcess]) -> None:
    """Seed 003's API sends no ETag (nor does any of the seeds' servers): the client compares the body
    with the last one, and an unchanged body is not parsed again."""
    server = contract_server("v1-envelope")
    httpx.post(server.url + "/_contract/tasks", json={"status": "running", "progress": 10}).raise_for_status()
    async with make_client("v1-envelope", server.url, poll_interval=0.5) as client:
        await client.list_tasks()
        watch = client.watch()
        pending = asyncio.ensure_future(anext(watch))
        deadline = time.monotonic() + 10
        start = client.parses
        while client.parses == start and time.monotonic() < deadline:  # the first poll: a new answer
            await asyncio.sleep(0.02)
        quiet = client.parses
        await asyncio.sleep(1.6)  # two more polls (0.5 s, then 1 s: backing off)
        assert client.parses == quiet and not pending.done()
        httpx.patch(server.url + "/_contract/tasks/1", json={"progress": 60}).raise_for_status()
        event = await asyncio.wait_for(pending, 10)
        assert event.task is not None and event.task.progress is not None and event.task.progress.current == 60
        assert client.parses == quiet + 1
        await watch.aclose()


async def test_polling_backs_off_while_nothing_changes_and_comes_back_on_a_change() -> None:
    """The poll loop's policy, timed: no change doubles the wait after the first interval; a change
    brings the interval back."""
    calls: list[float] = []
    task = Task.model_validate({"id": "a", "title": "t", "status": "planned", "priority": 3,
                                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"})

    async def list_all() -> list[Task]:
        calls.append(time.monotonic())
        return [task] if len(calls) >= 4 else []

    events = poll_changes(list_all, 0.5)
    changed = await asyncio.wait_for(anext(events), 10)
    assert changed.task_id == "a"
    pending = asyncio.ensure_future(anext(events))
    while len(calls) < 7:
        await asyncio.sleep(0.02)
    pending.cancel()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.45 < gaps[0] < 0.8 and 0.95 < gaps[1] < 1.4 and 1.95 < gaps[2] < 2.5  # quiet: 1x, 2x, 4x
    assert 0.45 < gaps[3] < 0.8  # the change (seen by the 4th poll) brought the interval back
    assert 0.45 < gaps[4] < 0.8 and 0.95 < gaps[5] < 1.4  # and quiet again, backing off again
