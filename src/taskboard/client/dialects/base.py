"""What every dialect shares: the capability set, and a client with the TaskboardClient interface
whose calls the server cannot answer raise `Unsupported` with the reason.

Servers without a push stream are polled: `watch` lists the tasks every `poll_interval` seconds
and yields the differences as the same `Event`s the native stream sends, and the log tail is
made of the changes seen on the task (status, progress, message, error, result).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from taskboard.client.errors import (
    ApiError,
    ConnectionLost,
    TaskboardError,
    UnexpectedResponse,
    Unsupported,
)
from taskboard.client.streams import StreamStatus
from taskboard.client.transport import HttpTransport
from taskboard.models import (
    PATTERN_REGEX,
    Accepted,
    CleanupResult,
    Event,
    Health,
    LogEntry,
    PermissionRequest,
    PermissionRule,
    ProgressEvent,
    Project,
    Provenance,
    Runtime,
    Sibling,
    Success,
    SummaryPage,
    Task,
    TaskDetail,
    TaskMessage,
    TaskOutput,
    TaskPage,
    TaskResult,
    TaskStatus,
)

T = TypeVar("T")

MIN_POLL_INTERVAL = 0.5
DEFAULT_POLL_INTERVAL = 2.0
MAX_POLL_BACKOFF = 30.0


class Capability(StrEnum):
    LIST = "list"
    CREATE = "create"
    EXECUTE = "execute"
    RESUME = "resume"
    CANCEL = "cancel"
    DELETE = "delete"
    RESPOND = "respond"
    MESSAGE = "message"
    LOG_STREAM = "log stream"
    PROGRESS_STREAM = "progress stream"
    OUTPUT = "output"
    CLEANUP = "cleanup"
    USAGE = "usage"
    PRIORITY = "priority"
    EVENTS = "events"  # a push stream of every change; without it the board polls


ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True)
class PatternForm:
    """How a server writes an "always allow" pattern: checked before it is sent, explained when wrong."""

    regex: str
    label: str
    hint: str


NATIVE_PATTERNS = PatternForm(PATTERN_REGEX, "Always allow calls matching (tool:argument glob):",
                              "A pattern is tool:argument, e.g. Bash:npm test* or Read:src/**")


class Capable:
    """A client that says what its server can do, and why not when it cannot."""

    dialect: ClassVar[str] = "taskboard"
    api_name: ClassVar[str] = "taskboard API"
    #: Why each missing capability is missing, in words for a notification.
    reasons: ClassVar[Mapping[Capability, str]] = {}
    #: The form of the server's "always allow" patterns.
    patterns: ClassVar[PatternForm] = NATIVE_PATTERNS

    @property
    def capabilities(self) -> frozenset[Capability]:
        return ALL_CAPABILITIES

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities and capability not in self.disabled

    def why_not(self, capability: Capability, task_id: str | None = None) -> str | None:
        """None when the server can (for that task, on a board of several servers); otherwise a
        sentence saying why not."""
        if self.can(capability):
            return None
        return self.disabled.get(capability) or self.reasons.get(capability) \
            or f"The {self.api_name} has no way to {capability.value}."

    # Degrade, never fail: an optional call that answers something unexpected (another shape at the
    # same path, a web page, an empty 500) turns that one thing off, with the reason, and nothing else.

    @property
    def disabled(self) -> dict[Capability, str]:
        """Capabilities the API has but this server turned out not to offer, with why."""
        return self.__dict__.setdefault("_disabled", {})  # type: ignore[no-any-return]

    @property
    def degraded(self) -> dict[str, str]:
        """Everything turned off on this server (capabilities and extras such as projects), with why."""
        return self.__dict__.setdefault("_degraded", {})  # type: ignore[no-any-return]

    def disable(self, capability: Capability, reason: str, what: str | None = None) -> None:
        self.disabled.setdefault(capability, reason)
        self.degraded.setdefault(what or capability.value, reason)

    def degrade(self, what: str, reason: str) -> None:
        self.degraded.setdefault(what, reason)

    def turn_off(self, what: str, exc: TaskboardError, capability: Capability | None = None) -> str:
        """Record that `what` is off for this server because of the answer in `exc`; the reason."""
        said = getattr(exc, "message", None) or str(exc)
        if isinstance(exc, ApiError):
            said = f"HTTP {exc.status}, {said}"
        reason = f"{what} is off for this server: it answered something else ({said})."
        if capability is not None:
            self.disable(capability, reason, what)
        else:
            self.degrade(what, reason)
        return reason

    async def optional(self, what: str, call: Awaitable[T], empty: T, capability: Capability | None = None) -> T:
        """An optional call: an answer that is not the API (another shape, a web page, an empty 500, a
        404 page, a 405) turns `what` off with the reason and gives `empty`. A key refused, a budget, or a
        500 that says what failed still raise: the server is there and means it."""
        try:
            return await call
        except (UnexpectedResponse, ApiError) as exc:
            if isinstance(exc, ApiError) and (exc.status in (401, 429) or (exc.status >= 500 and exc.body)
                                              or (exc.status == 404 and exc.body is not None)):
                raise
            self.turn_off(what, exc, capability)
            return empty

    def patterns_for(self, task_id: str | None = None) -> PatternForm:
        """The pattern form of the server a task is on."""
        return self.patterns

    def require(self, capability: Capability) -> None:
        reason = self.why_not(capability)
        if reason is not None:
            raise Unsupported(reason, capability=capability.value, dialect=self.dialect)


def utc(value: Any) -> datetime | None:
    """An ISO 8601 string (a naive one is UTC, as seed 003 writes them), or None."""
    if not value:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class DialectClient(HttpTransport, Capable):
    """The TaskboardClient interface over another task API.

    Subclasses set `dialect`, `api_name`, `reasons`, `statuses` and `capabilities`, and implement
    `_list_page` and `get_task` (and whatever else their API offers).
    """

    #: The server's status words, mapped onto taskboard's.
    statuses: ClassVar[Mapping[str, TaskStatus]] = {}
    supported: ClassVar[frozenset[Capability]] = frozenset({Capability.LIST})

    def __init__(self, base_url: str, api_key: str | None = None, *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 **transport: Any) -> None:
        super().__init__(base_url, api_key, **transport)
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self._known: dict[str, Task] = {}  # what the last listing showed, so the first poll is quiet

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.supported

    def status(self, value: Any) -> TaskStatus:
        try:
            return self.statuses[str(value)]
        except KeyError:
            raise UnexpectedResponse(f"The {self.api_name} sent an unknown status {value!r}") from None

    # ------------------------------------------------------------------ listing

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        """One page of tasks and the total; the statuses are taskboard's."""
        raise NotImplementedError

    async def list_tasks(self, *, status: str | Iterable[str] | None = None, limit: int | None = None,
                         offset: int = 0, q: str | None = None, sort: str | None = None, summary: bool = False,
                         **ignored: Any) -> TaskPage:
        statuses = [status] if isinstance(status, str) else list(status) if status else None
        if statuses and "," in statuses[0]:
            statuses = statuses[0].split(",")
        items, total = await self._list_page(status=statuses, limit=limit or 100, offset=offset)
        if q:
            needle = q.casefold()
            items = [t for t in items if needle in f"{t.title}\0{t.id}".casefold()]
        for task in items:
            self._known[task.id] = task
        return TaskPage(items=list(items), total=total, limit=limit, offset=offset)

    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None) -> SummaryPage:
        return SummaryPage.of(await self.list_tasks(limit=limit, offset=offset, sort=sort, summary=True))

    async def iter_task_pages(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[TaskPage]:
        offset = 0
        while True:
            page = await self.list_tasks(limit=page_size, offset=offset, **filters)
            yield page
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def list_all(self) -> list[Task]:
        tasks: list[Task] = []
        async for page in self.iter_task_pages():
            tasks.extend(page.items)
        return tasks

    async def get_task(self, task_id: str) -> TaskDetail:
        raise NotImplementedError

    # ------------------------------------------------------------------ what most of them cannot do

    async def create_task(self, body: Any = None, **fields: Any) -> Task:
        self.require(Capability.CREATE)
        raise NotImplementedError

    async def spawn(self, body: Any = None, **fields: Any) -> Task:
        """Create and start: on these APIs a new task starts by itself."""
        return await self.create_task(body, **fields)

    async def update_task(self, task_id: str, body: Any = None, **fields: Any) -> Task:
        self.require(Capability.PRIORITY)
        raise NotImplementedError

    async def delete_task(self, task_id: str) -> Success:
        self.require(Capability.DELETE)
        raise NotImplementedError

    async def queue(self, task_id: str) -> Task:
        self.require(Capability.EXECUTE)
        raise NotImplementedError

    async def execute(self, task_id: str) -> Accepted:
        self.require(Capability.EXECUTE)
        raise NotImplementedError

    async def resume(self, task_id: str) -> Accepted:
        self.require(Capability.RESUME)
        raise NotImplementedError

    async def cancel(self, task_id: str) -> Success:
        self.require(Capability.CANCEL)
        raise NotImplementedError

    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"],
                      **options: Any) -> Success:
        self.require(Capability.RESPOND)
        raise NotImplementedError

    async def send_message(self, task_id: str, message: str) -> Task:
        self.require(Capability.MESSAGE)
        raise NotImplementedError

    async def list_messages(self, task_id: str) -> list[TaskMessage]:
        return []  # none of the other APIs keep a conversation to read back

    async def get_output(self, task_id: str) -> TaskOutput:
        result = await self.get_result(task_id)
        return TaskOutput(task_id=result.task_id, status=result.status, result=result.result or "",
                          content_type=result.content_type)

    async def get_result(self, task_id: str) -> TaskResult:
        self.require(Capability.OUTPUT)
        task = await self.get_task(task_id)
        return TaskResult(task_id=task.id, status=task.status, result=task.result, result_data=task.result_data,
                          content_type="json" if task.result_data is not None else "text")

    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult:
        self.require(Capability.CLEANUP)
        raise NotImplementedError

    async def provenance(self, task_id: str) -> Provenance:
        task = await self.get_task(task_id)
        return Provenance(task_id=task.id, source_type=task.source_type, project_id=task.project_id,
                          created_at=task.created_at)

    async def siblings(self, task_id: str) -> list[Sibling]:
        return []

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        return []  # no permission requests on these APIs

    async def list_rules(self) -> list[PermissionRule]:
        return []

    async def list_projects(self) -> list[Project]:
        return []

    async def runtimes(self) -> list[Runtime]:
        return []

    async def health(self) -> Health:
        """Reachable and speaking this API: one small listing answers both."""
        started = asyncio.get_running_loop().time()
        await self._list_page(status=None, limit=1, offset=0)
        return Health(version=self.dialect, revision=0,
                      uptime_seconds=asyncio.get_running_loop().time() - started)

    async def probe(self) -> str:
        await self.health()
        return self.dialect

    # ------------------------------------------------------------------ polled streams

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncIterator[Event]:
        async with contextlib.aclosing(poll_changes(self.list_all, self.poll_interval, on_status=on_status,
                                                    known=self._known, reconnect=reconnect)) as events:
            async for event in events:
                yield event

    async def stream_log_batches(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                                 on_status: Callable[[StreamStatus], Any] | None = None
                                 ) -> AsyncIterator[list[LogEntry]]:
        """The log of a server with no log stream (or whose stream turned out not to be one): a line
        per change seen on the task."""
        async with contextlib.aclosing(poll_task_log(lambda: self.get_task(task_id), self.poll_interval,
                                                     on_status=on_status, after=after)) as batches:
            async for batch in batches:
                yield batch

    async def stream_logs(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                          on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncIterator[LogEntry]:
        async with contextlib.aclosing(self.stream_log_batches(task_id, after=after, reconnect=reconnect,
                                                               on_status=on_status)) as batches:
            async for batch in batches:
                for entry in batch:
                    yield entry

    async def stream_progress(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                              on_status: Callable[[StreamStatus], Any] | None = None
                              ) -> AsyncIterator[ProgressEvent]:
        """The task's progress as it changes (polled), ending when the task is final."""
        last: tuple[Any, ...] | None = None
        while True:
            task = await self.get_task(task_id)
            key = (task.status, task.progress)
            if key != last:
                last = key
                yield ProgressEvent(task_id=task.id, status=task.status, progress=task.progress,
                                    timestamp=datetime.now(UTC))
            if task.status.is_final:
                return
            await asyncio.sleep(self.poll_interval)


# Errors worth waiting out: the server is away or busy. Anything else (401, a 404 for the list)
# will not mend by itself, so it ends the stream and the caller shows it.
def _transient(exc: TaskboardError) -> bool:
    return isinstance(exc, ConnectionLost) or (isinstance(exc, ApiError) and (exc.status >= 500 or exc.status == 429))


async def poll_changes(list_all: Callable[[], Awaitable[list[Task]]], interval: float, *,
                       on_status: Callable[[StreamStatus], Any] | None = None,
                       known: Mapping[str, Task] | None = None, reconnect: bool = True) -> AsyncIterator[Event]:
    """The watch stream of a server that has none: list every `interval` seconds and yield what
    changed as `task.upserted` / `task.deleted` events, backing off while the server is away."""
    interval = max(MIN_POLL_INTERVAL, interval)
    seen: dict[str, Task] = dict(known or {})
    revision = 0
    failures = 0
    state: StreamStatus | None = None
    while True:
        try:
            tasks = await list_all()
        except TaskboardError as exc:
            if not reconnect or not _transient(exc):
                raise
            failures += 1
            if state is not StreamStatus.RECONNECTING and on_status is not None:
                on_status(StreamStatus.RECONNECTING)
            state = StreamStatus.RECONNECTING
            await asyncio.sleep(min(interval * 2 ** failures, MAX_POLL_BACKOFF))
            continue
        failures = 0
        if state is not StreamStatus.CONNECTED and on_status is not None:
            on_status(StreamStatus.CONNECTED)
        state = StreamStatus.CONNECTED
        now = datetime.now(UTC)
        current = {task.id: task for task in tasks}
        for task_id, task in current.items():
            if seen.get(task_id) != task:
                revision += 1
                yield Event(revision=revision, type="task.upserted", task_id=task_id, task=task, timestamp=now)
        for task_id in seen.keys() - current.keys():
            revision += 1
            yield Event(revision=revision, type="task.deleted", task_id=task_id, timestamp=now)
        seen = current
        await asyncio.sleep(interval)


def describe_change(before: Task | None, task: Task) -> list[tuple[str, str]]:
    """What changed on a task, as (event type, line) pairs for the log tail."""
    lines: list[tuple[str, str]] = []
    if before is None or before.status != task.status:
        lines.append(("status", f"status: {task.status.value.replace('_', ' ')}"))
    progress, old = task.progress, before.progress if before else None
    if progress is not None and progress != old:
        parts = []
        if progress.total:
            parts.append(f"{progress.current}/{progress.total}")
        if progress.percent is not None:
            parts.append(f"{progress.percent:g}%")
        if progress.phase and (old is None or old.phase != progress.phase):
            parts.append(f"phase {progress.phase}")
        if parts:
            lines.append(("progress", "progress " + ", ".join(parts)))
        if progress.message and (old is None or old.message != progress.message):
            lines.append(("message", progress.message))
    if task.error and (before is None or before.error != task.error):
        lines.append(("error", f"error: {task.error}"))
    if task.result and (before is None or before.result != task.result):
        lines.append(("result", f"result: {one_line(task.result, 500)}"))
    return lines


async def poll_task_log(fetch: Callable[[], Awaitable[TaskDetail]], interval: float, *,
                        on_status: Callable[[StreamStatus], Any] | None = None,
                        after: int | None = None) -> AsyncIterator[list[LogEntry]]:
    """A log tail for a server with no log stream: one line per change seen on the task, until it is final."""
    interval = max(MIN_POLL_INTERVAL, interval)
    before: Task | None = None
    number = 0
    failures = 0
    while True:
        try:
            task = await fetch()
        except TaskboardError as exc:
            if not _transient(exc):
                raise
            failures += 1
            if on_status is not None:
                on_status(StreamStatus.RECONNECTING)
            await asyncio.sleep(min(interval * 2 ** failures, MAX_POLL_BACKOFF))
            continue
        if failures or before is None:
            failures = 0
            if on_status is not None:
                on_status(StreamStatus.CONNECTED)
        now = datetime.now(UTC)
        batch = []
        for kind, line in describe_change(before, task):
            number += 1
            if after is None or number > after:
                batch.append(LogEntry(id=number, task_id=task.id, event_type=kind, message=line, timestamp=now))
        before = task
        if batch:
            yield batch
        if task.status.is_final:
            return
        await asyncio.sleep(interval)
