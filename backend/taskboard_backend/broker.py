"""In-process fan-out of committed changes to stream clients.

Watch subscribers get (revision, type, payload) triples on a bounded queue; a
subscriber that falls too far behind is marked overflowed and its stream ends,
so the client reconnects with Last-Event-ID and catches up from the store.
Log and progress streams are pull-based: they read the store and sleep on a
per-task signal until something new is committed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque


class Subscription:
    """One watch client's pending changes: a deque and at most one waiting stream.

    Cheaper than an asyncio.Queue plus a closed Event: a publish to a hundred subscribers
    appends to a hundred deques and wakes each stream once, with no task or timer per event.
    """

    __slots__ = ("_waiter", "closed", "maxsize", "overflowed", "pending")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.pending: deque[tuple[int, str, str]] = deque()
        self.overflowed = False
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    def put(self, events: list[tuple[int, str, str]]) -> None:
        if self.overflowed:
            return
        if len(self.pending) + len(events) > self.maxsize:
            self.overflowed = True  # too slow: its stream ends and it replays from the store
            self.pending.clear()
            self.close()
            return
        self.pending.extend(events)
        self._wake()

    def take(self, limit: int) -> list[tuple[int, str, str]]:
        pending = self.pending
        count = min(limit, len(pending))
        return [pending.popleft() for _ in range(count)]

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 - the stall guard's one timer, not a caller's
        """Until something is pending or the subscription is closed; False on timeout."""
        if self.pending or self.closed:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


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
            sub.put(events)

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

    def notify_all_tasks(self) -> None:
        """Every log and progress stream looks again (a change too wide to name its tasks one by one)."""
        for waiters in self._task_waiters.values():
            for event in waiters:
                event.set()

    def shutdown(self) -> None:
        self.shutting_down.set()
        for sub in self._subscribers:
            sub.close()
        self.notify_all_tasks()
