"""What the adapters for other task APIs share: `DialectClient`, the `TaskSource` interface over another
API, whose calls the server cannot answer raise `Unsupported` with the reason; its watch and log tail are
polled (taskboard.client.base) unless the API has streams of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from taskboard.client.base import (
    DEFAULT_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    Capability,
    Capable,
    iter_pages,
    meant,
    poll_changes,
    poll_task_log,
)
from taskboard.client.errors import ApiError, UnexpectedResponse
from taskboard.client.streams import StreamStatus
from taskboard.client.transport import HttpTransport
from taskboard.models import (
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

    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None,
                             before_parse: Callable[[], Awaitable[None]] | None = None) -> SummaryPage:
        return SummaryPage.of(await self.list_tasks(limit=limit, offset=offset, sort=sort, summary=True))

    def iter_task_pages(self, *, page_size: int = 100, **filters: Any) -> AsyncGenerator[TaskPage, None]:
        return iter_pages(self.list_tasks, page_size, **filters)

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

    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"], *,
                      message: str | None = None, updated_input: dict[str, Any] | None = None,
                      always_allow: bool | None = None, permission_pattern: str | None = None,
                      expires_in_seconds: int | None = None, saved_by: str | None = None) -> Success:
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

    async def provenance(self, task_id: str) -> Provenance | None:
        task = await self.get_task(task_id)
        return Provenance(task_id=task.id, source_type=task.source_type, project_id=task.project_id,
                          created_at=task.created_at)

    async def siblings(self, task_id: str) -> list[Sibling]:
        return []

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        return []  # no permission requests on these APIs

    async def list_rules(self) -> list[PermissionRule]:
        self.require(Capability.RULES)
        return []

    async def delete_rule(self, rule_id: str) -> Success:
        self.require(Capability.RULES)
        raise NotImplementedError

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
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[Event, None]:
        async with contextlib.aclosing(poll_changes(self.list_all, self.poll_interval, on_status=on_status,
                                                    known=self._known, reconnect=reconnect)) as events:
            async for event in events:
                yield event

    async def stream_log_batches(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                                 on_status: Callable[[StreamStatus], Any] | None = None
                                 ) -> AsyncGenerator[list[LogEntry], None]:
        """The API's own log stream (`_log_stream`) where it has one; otherwise, or when that stream turns
        out not to be one (a web page, an empty answer), a line per change seen on the task, polled."""
        if self.can(Capability.LOG_STREAM):
            given = False
            try:
                async with contextlib.aclosing(self._log_stream(task_id, after=after, reconnect=reconnect,
                                                                on_status=on_status)) as stream:
                    async for batch in stream:
                        given = given or bool(batch)
                        yield batch
                return
            except (UnexpectedResponse, ApiError) as exc:
                if given or meant(exc):
                    raise
                self.turn_off(self.log_stream_name, exc, Capability.LOG_STREAM)
        async with contextlib.aclosing(poll_task_log(lambda: self.get_task(task_id), self.poll_interval,
                                                     on_status=on_status, after=after)) as batches:
            async for batch in batches:
                yield batch

    #: What the API calls its log stream, for the reason when it is off.
    log_stream_name: ClassVar[str] = "The log stream"

    def _log_stream(self, task_id: str, *, after: int | None, reconnect: bool,
                    on_status: Callable[[StreamStatus], Any] | None) -> AsyncGenerator[list[LogEntry], None]:
        """The API's own log stream, for dialects whose API has one (and LOG_STREAM among its capabilities)."""
        raise NotImplementedError

    async def stream_logs(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                          on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[LogEntry, None]:
        async with contextlib.aclosing(self.stream_log_batches(task_id, after=after, reconnect=reconnect,
                                                               on_status=on_status)) as batches:
            async for batch in batches:
                for entry in batch:
                    yield entry

    async def stream_progress(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                              on_status: Callable[[StreamStatus], Any] | None = None
                              ) -> AsyncGenerator[ProgressEvent, None]:
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


