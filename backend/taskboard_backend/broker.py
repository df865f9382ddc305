"""In-process fan-out of committed changes to stream clients.

Watch subscribers get (revision, type, payload) triples on a bounded queue; a
subscriber that falls too far behind is marked overflowed and its stream ends,
so the client reconnects with Last-Event-ID and catches up from the store.
Log and progress streams are pull-based: they read the store and sleep on a
per-task signal until something new is committed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = asyncio.Event()


class Broker:
    def __init__(self, queue_size: int = 10_000) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._task_waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.shutting_down = asyncio.Event()
        self.open_streams = 0  # watch, log and progress streams being served, for /api/health

    # ------------------------------------------------------------------ watch

    def subscribe(self) -> Subscription:
        sub = Subscription(self.queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, events: list[tuple[int, str, str]]) -> None:
        if not events:
            return
        for sub in list(self._subscribers):
            if sub.overflowed:
                continue
            for event in events:
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.overflowed = True
                    sub.closed.set()
                    break

    # ------------------------------------------------------------------ per-task signals

    def task_waiter(self, task_id: str) -> asyncio.Event:
        """Register before reading the store, then wait: a commit in between is not missed."""
        event = asyncio.Event()
        self._task_waiters[task_id].add(event)
        return event

    def drop_waiter(self, task_id: str, event: asyncio.Event) -> None:
        waiters = self._task_waiters.get(task_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                self._task_waiters.pop(task_id, None)

    def notify_task(self, task_id: str) -> None:
        for event in self._task_waiters.get(task_id, ()):
            event.set()

    def shutdown(self) -> None:
        self.shutting_down.set()
        for sub in self._subscribers:
            sub.closed.set()
        for waiters in self._task_waiters.values():
            for event in waiters:
                event.set()
