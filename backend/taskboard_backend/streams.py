"""Server-Sent Event streams: task logs, task progress and the global watch stream.

Every event carries an `id`; a client that reconnects with `Last-Event-ID`
(or `?after=`) gets exactly what it missed. A backlog goes out many events per
chunk; a live stream sleeps on the broker between commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Send

from taskboard.models import TaskStatus
from taskboard_backend.store import Store

BATCH = 500
MAX_EVENT_ID = 2**62
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


log = logging.getLogger("taskboard.server")


class EventStreamResponse(StreamingResponse):
    """An event stream that drops a client which has taken no data for `stall_seconds`.

    A client that stops reading fills the socket's buffers, and the stream then waits on it forever,
    holding its connection and (for the watch stream) a queue of changes. Dropped, it reconnects
    with Last-Event-ID when it wakes and misses nothing."""

    def __init__(self, content: AsyncIterator[str], stall_seconds: float) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self.stall_seconds = stall_seconds

    async def stream_response(self, send: Send) -> None:
        async def send_or_give_up(message: Any) -> None:
            async with asyncio.timeout(self.stall_seconds):  # no task per send, unlike wait_for
                await send(message)

        try:
            await super().stream_response(send_or_give_up)
        except TimeoutError:
            log.warning("dropped a stream client that took no data for %g s", self.stall_seconds)
            DroppedStreamFilter.expected += 1
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


class DroppedStreamFilter(logging.Filter):
    """uvicorn reports a response left unfinished as an error; for a stream dropped on purpose
    (already logged as a warning above) that line is noise."""

    expected = 0

    def filter(self, record: logging.LogRecord) -> bool:
        dropped = record.getMessage() == "ASGI callable returned without completing response."
        if DroppedStreamFilter.expected and dropped:
            DroppedStreamFilter.expected -= 1
            return False
        return True


def frame(event_id: int | None, data: str, event: str | None = None) -> str:
    parts = []
    if event_id is not None:
        parts.append(f"id: {event_id}\n")
    if event:
        parts.append(f"event: {event}\n")
    parts.append(f"data: {data}\n\n")
    return "".join(parts)


def parse_last_event_id(header: str | None, after: int | None) -> int | None:
    if header is not None and header.strip():
        try:
            # Capped as ?after= is: no id is that large, and SQLite's integers stop at 2**63 - 1.
            return min(max(0, int(header.strip())), MAX_EVENT_ID)
        except ValueError:
            return None
    return after


def _progress_wire(row: Any) -> dict[str, Any]:
    data = json.loads(row["data"]) if row["data"] else {}
    body: dict[str, Any] = {"id": row["id"], "taskId": row["task_id"], "status": data.get("status"),
                            "timestamp": row["ts"]}
    if data.get("progress"):
        body["progress"] = data["progress"]
    return body


async def task_stream(store: Store, task_id: str, kind: str, after: int, heartbeat: float) -> AsyncIterator[str]:
    """Log lines (kind 'log') or progress updates (kind 'progress') of one task.

    Ends with an `end` event once the task is in a final state and its backlog is sent.
    Log events have no event name, so seed 001's `EventSource.onmessage` receives them.
    """
    broker = store.broker
    broker.open_streams += 1
    try:
        async with contextlib.aclosing(_task_stream(store, task_id, kind, after,  # type: ignore[type-var]
                                                    heartbeat)) as chunks:
            async for chunk in chunks:
                yield chunk
    finally:
        broker.open_streams -= 1


async def _task_stream(store: Store, task_id: str, kind: str, last: int, heartbeat: float) -> AsyncIterator[str]:
    broker = store.broker
    yield "retry: 1000\n\n"
    while not broker.shutting_down.is_set():
        waiter = broker.task_waiter(task_id)
        try:
            # Status first, then rows: logs are committed before the final transition, so a
            # final status read here means every line is visible to the read that follows.
            status = await store.task_status(task_id)
            if kind == "log":
                frames = await store.read_log_frames(task_id, last, BATCH)
                if frames:
                    last = frames[-1][0]
                    yield "".join(f[1] for f in frames)
                    continue
            else:
                rows = await store.read_task_events(task_id, kind, last, BATCH)
                if rows:
                    last = rows[-1]["id"]
                    yield "".join(frame(r["id"], json.dumps(_progress_wire(r), separators=(",", ":")), "progress")
                                  for r in rows)
                    continue
            if status is None:
                yield frame(None, json.dumps({"taskId": task_id, "reason": "deleted"}), "end")
                return
            if TaskStatus(status).is_final:
                yield frame(None, json.dumps({"taskId": task_id, "status": status}), "end")
                return
            try:
                async with asyncio.timeout(heartbeat):
                    await waiter.wait()
            except TimeoutError:
                yield ": keepalive\n\n"
        finally:
            broker.drop_waiter(task_id, waiter)


async def watch_stream(store: Store, last_event_id: int | None, heartbeat: float) -> AsyncIterator[str]:
    """Every change, in revision order. An unknown or pruned revision gets a `reset` event.

    Subscribed before the database is read: whatever commits after the read reaches the subscription
    (on PostgreSQL, from any replica), and what the read already gave is skipped by revision."""
    broker = store.broker
    sub = broker.subscribe()
    broker.open_streams += 1
    try:
        yield "retry: 1000\n\n"
        last = head = await store.head_revision()
        if last_event_id is not None:
            oldest = await store.oldest_event_revision()
            gap = oldest is not None and last_event_id + 1 < oldest
            unknown = last_event_id > head
            if gap or unknown or (oldest is None and last_event_id < head):
                reset = {"revision": last, "type": "reset"}
                yield frame(last, json.dumps(reset), "reset")
            else:
                last = last_event_id
                while True:
                    rows = await store.read_events(last, 1000)
                    if not rows:
                        break
                    last = rows[-1]["revision"]
                    yield "".join(frame(r["revision"], r["payload"], r["type"]) for r in rows)
        else:
            hello = {"revision": last, "type": "hello"}
            yield frame(None, json.dumps(hello), "hello")
        while not broker.shutting_down.is_set():
            if sub.overflowed:
                return  # too slow: the client reconnects with Last-Event-ID and replays from the store
            if not await sub.wait(heartbeat):
                yield ": keepalive\n\n"
                continue
            if sub.closed:
                return  # shutting down, or overflowed: the client reconnects and replays from the store
            batch = sub.take(1000)
            out = []
            for revision, type_, payload in batch:
                if revision <= last:
                    continue
                last = revision
                out.append(frame(revision, payload, type_))
            if out:
                yield "".join(out)
    finally:
        broker.open_streams -= 1
        broker.unsubscribe(sub)
