"""Self-reconnecting Server-Sent Event streams (httpx, httpx-sse's connection and event types).

A broken connection is retried with backoff (honouring the server's `retry:`),
resuming with `Last-Event-ID`, so the caller sees every event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Callable
from enum import StrEnum
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from taskboard.client.errors import (
    ConnectionLost,
    UnexpectedResponse,
    error_from_response,
)
from taskboard.client.sse import SSEChunkDecoder

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class StreamStatus(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


async def sse_events(http: httpx.AsyncClient, path: str, **options: Any) -> AsyncGenerator[ServerSentEvent, None]:
    """Yield events from `path` one at a time; see `sse_event_batches` for the options."""
    async with contextlib.aclosing(sse_event_batches(http, path, **options)) as batches:
        async for batch in batches:
            for sse in batch:
                yield sse


async def sse_event_batches(http: httpx.AsyncClient, path: str, *, last_id: int | None, reconnect: bool = True,
                            on_status: Callable[[StreamStatus], Any] | None = None, base_url: str = "",
                            id_from_data: str | None = None, max_backoff: float = 5.0,
                            read_timeout: float = 60.0) -> AsyncGenerator[list[ServerSentEvent], None]:
    """Yield the events from `path` a network chunk at a time, reconnecting after breaks; stops
    after an `end` event.

    `id_from_data` names a field of an id-less event's JSON data that also moves the resume point
    (the watch stream's `hello` carries the revision it starts from).
    """
    retry_ms = 1000
    failures = 0
    status: StreamStatus | None = None

    def set_status(new: StreamStatus) -> None:
        nonlocal status
        if new != status:
            status = new
            if on_status is not None:
                on_status(new)

    timeout = httpx.Timeout(10.0, read=read_timeout)
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        try:
            async with aconnect_sse(http, "GET", path, headers=headers, timeout=timeout) as source:
                response = source.response
                if response.status_code >= 400:
                    await response.aread()
                    error = error_from_response(response)
                    if response.status_code not in RETRYABLE_STATUSES or not reconnect:
                        raise error
                    raise _Retry()
                content_type = response.headers.get("content-type", "").partition(";")[0]
                if "text/event-stream" not in content_type:
                    raise SSEError(f"Content-Type is {content_type!r}, not text/event-stream")
                set_status(StreamStatus.CONNECTED)
                failures = 0
                decoder = SSEChunkDecoder()
                # Closed here, in this task: closed later by the garbage collector, it would be
                # closed from another task, which anyio refuses.
                async with contextlib.aclosing(response.aiter_bytes()) as chunks:  # type: ignore[type-var]
                    while True:
                        chunk = await anext(chunks, None)
                        events = decoder.feed(chunk) if chunk is not None else decoder.close()
                        batch: list[ServerSentEvent] = []
                        for sse in events:
                            if sse.retry:
                                retry_ms = sse.retry
                            if sse.id:
                                try:
                                    last_id = int(sse.id)
                                except ValueError:
                                    pass
                            elif id_from_data and sse.data:
                                try:
                                    value = json.loads(sse.data).get(id_from_data)
                                    if isinstance(value, int):
                                        last_id = value
                                except (ValueError, AttributeError):
                                    pass
                            if not sse.data and sse.event in ("", "message"):
                                continue  # a block holding only an id or a retry dispatches nothing
                            batch.append(sse)
                            if sse.event == "end":
                                yield batch
                                return
                        if batch:
                            yield batch
                        if chunk is None:
                            break
        except SSEError as exc:
            raise UnexpectedResponse(f"{base_url}{path} is not an event stream: {exc}") from exc
        except (httpx.TransportError, _Retry) as exc:
            if not reconnect:
                raise ConnectionLost(f"Stream from {base_url}{path} broke: {exc or exc.__class__.__name__}",
                                     url=base_url) from exc
        if not reconnect:
            raise ConnectionLost(f"Stream from {base_url}{path} ended unexpectedly", url=base_url)
        set_status(StreamStatus.RECONNECTING)
        failures += 1
        delay = min(max(retry_ms / 1000, 0.1) * 2 ** min(failures - 1, 5), max_backoff)
        await asyncio.sleep(delay * (0.75 + random.random() / 2))


class _Retry(Exception):
    pass
