"""The one client interface: what every client (the native one, each dialect, the board over several
servers) offers the board, the CLI and scripts, as the `TaskSource` protocol; the capability set and the
reasons a call cannot be made; and the polling that stands in for a push stream on servers without one.

Servers without a push stream are polled: `poll_changes` lists the tasks every `poll_interval` seconds
and yields the differences as the same `Event`s the native stream sends, and `poll_task_log` makes a log
tail of the changes seen on a task (status, progress, message, error, result). Their requests are
conditional (transport.polling: If-None-Match / If-Modified-Since where the server offers validators,
the body compared with the last one where it does not; an unchanged answer is not parsed again), and
while nothing changes the wait doubles, up to MAX_IDLE_POLL, back to the set interval on the first change.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar, runtime_checkable

from taskboard.client.errors import (
    ApiError,
    ConnectionLost,
    TaskboardError,
    UnexpectedResponse,
    Unsupported,
)
from taskboard.client.streams import StreamStatus
from taskboard.client.transport import polling
from taskboard.models import (
    PATTERN_REGEX,
    Accepted,
    CleanupResult,
    Event,
    LogEntry,
    PermissionRequest,
    PermissionRule,
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
)

T = TypeVar("T")

MIN_POLL_INTERVAL = 0.5
DEFAULT_POLL_INTERVAL = 2.0
MAX_POLL_BACKOFF = 30.0
# While a polled server shows no change, the wait between polls doubles up to this (never below the set
# interval); the first change brings it back to the interval.
MAX_IDLE_POLL = 10.0


def idle_wait(interval: float, quiet: int) -> float:
    """The wait before the next poll after `quiet` polls in a row that showed no change: the interval
    after the first, then twice as long after each more."""
    return min(interval * (1 << min(max(quiet - 1, 0), 16)), max(interval, MAX_IDLE_POLL))


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
    STATS = "stats"  # counts and cost totals (the header's pulses)
    RULES = "keep saved rules"  # always-allow / deny rules a person can list and delete
    RULE_EXPIRY = "let a saved rule expire"  # a rule saved for a while (--for 8h), then no more


ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True)
class PatternForm:
    """How a server writes an "always allow" pattern: checked before it is sent, explained when wrong."""

    regex: str
    label: str
    hint: str


NATIVE_PATTERNS = PatternForm(PATTERN_REGEX, "Always allow calls matching (tool:argument glob):",
                              "A pattern is tool:argument, e.g. Bash:npm test* or Read:src/**")


def meant(exc: TaskboardError) -> bool:
    """Whether an error answer is the API's own (a key refused, a budget, a 404 or 500 that says what):
    then it stands. A web page, an empty body, a 405 or another shape is not: that call is off."""
    return isinstance(exc, ApiError) and (exc.status in (401, 429) or (exc.status >= 500 and bool(exc.body))
                                          or (exc.status == 404 and exc.body is not None))


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
            if meant(exc):
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


# Errors worth waiting out: the server is away or busy. Anything else (401, a 404 for the list)
# will not mend by itself, so it ends the stream and the caller shows it.
def _transient(exc: TaskboardError) -> bool:
    return isinstance(exc, ConnectionLost) or (isinstance(exc, ApiError) and (exc.status >= 500 or exc.status == 429))


async def poll_changes(list_all: Callable[[], Awaitable[list[Task]]], interval: float, *,
                       on_status: Callable[[StreamStatus], Any] | None = None,
                       known: Mapping[str, Task] | None = None, reconnect: bool = True,
                       extra: Callable[[], Iterable[dict[str, Any]]] | None = None) -> AsyncGenerator[Event, None]:
    """The watch stream of a server that has none: list every `interval` seconds and yield what
    changed as `task.upserted` / `task.deleted` events, backing off while the server is away.
    `extra` gives, after each listing, the other events the poll saw (their fields but the revision)."""
    interval = max(MIN_POLL_INTERVAL, interval)
    seen: dict[str, Task] = dict(known or {})
    revision = 0
    failures = 0
    quiet = 0
    state: StreamStatus | None = None
    while True:
        try:
            with polling():
                tasks = await list_all()
        except TaskboardError as exc:
            if not reconnect or not _transient(exc):
                raise
            failures += 1
            quiet = 0  # back from an outage, the interval again: anything may have changed meanwhile
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
        before = revision
        for task_id, task in current.items():
            if seen.get(task_id) != task:
                revision += 1
                yield Event(revision=revision, type="task.upserted", task_id=task_id, task=task, timestamp=now)
        for task_id in seen.keys() - current.keys():
            revision += 1
            yield Event(revision=revision, type="task.deleted", task_id=task_id, timestamp=now)
        seen = current
        for fields in extra() if extra is not None else ():  # after the tasks they are about
            revision += 1
            yield Event(revision=revision, timestamp=now, **fields)
        quiet = 0 if revision != before else quiet + 1
        await asyncio.sleep(idle_wait(interval, quiet))


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
                        after: int | None = None) -> AsyncGenerator[list[LogEntry], None]:
    """A log tail for a server with no log stream: one line per change seen on the task, until it is final."""
    interval = max(MIN_POLL_INTERVAL, interval)
    before: Task | None = None
    number = 0
    failures = 0
    quiet = 0
    while True:
        try:
            with polling():
                task = await fetch()
        except TaskboardError as exc:
            if not _transient(exc):
                raise
            failures += 1
            quiet = 0
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
        changed = before is None or task != before
        before = task
        if batch:
            yield batch
        if task.status.is_final:
            return
        quiet = 0 if changed else quiet + 1
        await asyncio.sleep(idle_wait(interval, quiet))


@runtime_checkable
class TaskSource(Protocol):
    """What every client offers the board, the CLI and scripts: the native client, each dialect and the
    board over several servers. A call a server cannot answer raises `Unsupported` with the reason
    (`why_not` says it before asking); an optional call that answers something else turns that one thing
    off (`degraded`) instead of failing."""

    dialect: ClassVar[str]
    api_name: ClassVar[str]

    @property
    def poll_interval(self) -> float: ...

    # what the server can do, and why not
    def can(self, capability: Capability) -> bool: ...
    def why_not(self, capability: Capability, task_id: str | None = None) -> str | None: ...
    def require(self, capability: Capability) -> None: ...
    def patterns_for(self, task_id: str | None = None) -> PatternForm: ...
    @property
    def degraded(self) -> dict[str, str]: ...

    # the board
    async def list_tasks(self, *, status: str | Iterable[str] | None = None, limit: int | None = None,
                         offset: int = 0, q: str | None = None, sort: str | None = None,
                         summary: bool = False) -> TaskPage: ...
    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None,
                             before_parse: Callable[[], Awaitable[None]] | None = None) -> SummaryPage: ...
    def iter_task_pages(self, *, page_size: int = ..., **filters: Any) -> AsyncGenerator[TaskPage, None]: ...
    async def get_task(self, task_id: str) -> TaskDetail: ...
    async def provenance(self, task_id: str) -> Provenance | None: ...
    async def siblings(self, task_id: str) -> list[Sibling]: ...
    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]: ...
    async def list_messages(self, task_id: str) -> list[TaskMessage]: ...
    async def list_projects(self) -> list[Project]: ...
    async def runtimes(self) -> list[Runtime]: ...
    async def get_output(self, task_id: str) -> TaskOutput: ...

    # what a person does
    async def create_task(self, body: Any = None, **fields: Any) -> Task: ...
    async def spawn(self, body: Any = None, **fields: Any) -> Task: ...
    async def update_task(self, task_id: str, body: Any = None, **fields: Any) -> Task: ...
    async def delete_task(self, task_id: str) -> Success: ...
    async def queue(self, task_id: str) -> Task: ...
    async def execute(self, task_id: str) -> Accepted: ...
    async def resume(self, task_id: str) -> Accepted: ...
    async def cancel(self, task_id: str) -> Success: ...
    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"], *,
                      message: str | None = None, updated_input: dict[str, Any] | None = None,
                      always_allow: bool | None = None, permission_pattern: str | None = None,
                      expires_in_seconds: int | None = None, saved_by: str | None = None) -> Success: ...
    async def send_message(self, task_id: str, message: str) -> Task: ...
    async def list_rules(self) -> list[PermissionRule]: ...
    async def delete_rule(self, rule_id: str) -> Success: ...
    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult: ...

    # live
    def watch(self, since: int | None = None, *, reconnect: bool = True,
              on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[Event, None]: ...
    def stream_log_batches(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                           on_status: Callable[[StreamStatus], Any] | None = None
                           ) -> AsyncGenerator[list[LogEntry], None]: ...

    async def close(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...


async def iter_pages(list_tasks: Callable[..., Awaitable[TaskPage]], page_size: int,
                     **filters: Any) -> AsyncGenerator[TaskPage, None]:
    """Every task matching the filters, a page at a time (the first page comes at once): the paging
    every client shares."""
    offset = 0
    while True:
        page = await list_tasks(limit=page_size, offset=offset, **filters)
        yield page
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return
