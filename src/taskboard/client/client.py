"""`TaskboardClient`: one async method per endpoint of the native API, each returning a model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from taskboard.client.base import (
    ALL_CAPABILITIES,
    DEFAULT_POLL_INTERVAL,
    Capability,
    Capable,
    iter_pages,
    meant,
    poll_changes,
)
from taskboard.client.errors import (
    ApiError,
    NotFound,
    UnexpectedResponse,
    Unsupported,
)
from taskboard.client.streams import StreamStatus, sse_event_batches, sse_events
from taskboard.client.transport import (
    HttpTransport,
    camel_body,
    int_header,
    parse_json,
    path_segment,
)
from taskboard.models import (
    Accepted,
    CleanupResult,
    Event,
    Health,
    LogEntry,
    PermissionRequest,
    PermissionRule,
    Progress,
    ProgressEvent,
    Project,
    Provenance,
    Runtime,
    Sibling,
    Stats,
    Success,
    SummaryPage,
    Task,
    TaskDetail,
    TaskMessage,
    TaskOutput,
    TaskPage,
    TaskResult,
    TaskSummary,
    Workflow,
)

M = TypeVar("M")

# What a plain seed-001 server (none of taskboard's additions) can do.
PLAIN_SEED_001 = ALL_CAPABILITIES - {Capability.EVENTS, Capability.LOG_STREAM, Capability.PROGRESS_STREAM,
                                     Capability.MESSAGE, Capability.CLEANUP, Capability.USAGE, Capability.STATS,
                                     Capability.RULES, Capability.RULE_EXPIRY}

class TaskboardClient(HttpTransport, Capable):
    """Async client for a taskboard server (the bundled backend, or any seed-001 server).

    Idempotent calls are retried on connection errors and 429/502/503/504, honouring Retry-After;
    the streams reconnect by themselves and resume with Last-Event-ID.

    A plain seed-001 server lacks the additions (health, events, logs, permissions list, projects):
    the first 404 from one of them marks the server plain, and the board polls it instead.
    """

    dialect = "taskboard"
    api_name = "taskboard API"
    reasons: ClassVar = {
        Capability.EVENTS: "This is a plain seed-001 server (no /api/events); the board polls it.",
        Capability.LOG_STREAM: "This is a plain seed-001 server: it has no log stream.",
        Capability.PROGRESS_STREAM: "This is a plain seed-001 server: it has no progress stream.",
        Capability.MESSAGE: "This is a plain seed-001 server: it takes no messages.",
        Capability.CLEANUP: "This is a plain seed-001 server: it has no cleanup.",
        Capability.USAGE: "This is a plain seed-001 server: it reports no usage.",
        Capability.RULES: "This is a plain seed-001 server: it saves no rules to list.",
        Capability.RULE_EXPIRY: "This is a plain seed-001 server: it saves no rules.",
    }
    poll_interval = DEFAULT_POLL_INTERVAL
    plain: bool = False  # a seed-001 server without taskboard's additions

    @property
    def capabilities(self) -> frozenset[Capability]:
        return PLAIN_SEED_001 if self.plain else ALL_CAPABILITIES

    async def probe(self) -> str:
        """Which API this is: "taskboard", or "taskboard (plain seed 001)" when the additions are missing."""
        try:
            await self.health()
        except NotFound:
            await self.list_tasks(limit=1)  # still a task server?
            self.plain = True
        return self.dialect + (" (plain seed 001)" if self.plain else "")

    async def _addition(self, call: Awaitable[M], empty: M, *, what: str = "",
                        capability: Capability | None = None, seed: bool = False) -> M:
        """A call to one of taskboard's additions: on a plain seed-001 server, `empty`.

        Optional calls degrade, never fail: an answer that is not this API (another shape at the same
        path, a web page, an empty 500, a 405) turns that one thing off with the reason, and gives `empty`.
        `seed`: a route seed 001 documents, where the API's own 404 means the task is not there."""
        try:
            return await call
        except NotFound as exc:
            if exc.body is None and what:  # a web server's 404 page, not the API's
                self.turn_off(what, exc, capability)
            elif seed:
                raise
            else:
                self.plain = True
            return empty
        except (UnexpectedResponse, ApiError) as exc:
            if meant(exc):
                raise  # the server is there and means it (a key, a budget, a real failure)
            self.turn_off(what or "an optional call", exc, capability)
            return empty

    # ------------------------------------------------------------------ tasks

    async def list_tasks(self, *, status: str | Iterable[str] | None = None, project_id: str | None = None,
                         q: str | None = None, sort: str | None = None, limit: int | None = None,
                         offset: int = 0, workflow_id: str | None = None,
                         assigned_agent: str | None = None, summary: bool = False) -> TaskPage:
        """A page of tasks. `summary=True` leaves out description, params, result, resultData and
        documentIds (the server's `view=summary`): for boards, which fetch one task in full when shown."""
        params: list[tuple[str, str | int]] = []
        if status:
            params.append(("status", status if isinstance(status, str) else ",".join(status)))
        for key, value in (("projectId", project_id), ("q", q), ("sort", sort), ("limit", limit),
                           ("workflowId", workflow_id), ("assignedAgent", assigned_agent)):
            if value is not None:
                params.append((key, value))
        if offset:
            params.append(("offset", offset))
        if summary:
            params.append(("view", "summary"))
        response = await self._request("GET", "/api/tasks", params=params)
        items = _compact(self.parse(response, list[Task]), share_progress=summary)
        total = int_header(response, "x-total-count", len(items) + offset)
        revision = int_header(response, "x-revision", None)
        return TaskPage(items=items, total=total, revision=revision, limit=limit, offset=offset)

    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None,
                             before_parse: Callable[[], Awaitable[None]] | None = None) -> SummaryPage:
        """A page of the board: summaries parsed straight into slots, about twice as fast as Tasks.

        `before_parse` is awaited once the answer is in, before the parse (~5 ms that cannot yield): a board
        loading many pages lets a key pressed meanwhile be drawn first (TaskboardApp._key_first)."""
        params: list[tuple[str, str | int]] = [("limit", limit), ("view", "summary")]
        if sort is not None:
            params.append(("sort", sort))
        if offset:
            params.append(("offset", offset))
        response = await self._request("GET", "/api/tasks", params=params)
        if before_parse is not None:
            await before_parse()
        items = _share_progress(self.parse(response, list[TaskSummary]))
        return SummaryPage(items=items, total=int_header(response, "x-total-count", len(items) + offset),
                           revision=int_header(response, "x-revision", None), offset=offset)

    def iter_task_pages(self, *, page_size: int = 1000, **filters: Any) -> AsyncGenerator[TaskPage, None]:
        """Every task matching the filters, a page at a time (the first page comes at once)."""
        return iter_pages(self.list_tasks, page_size, **filters)

    async def create_task(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("POST", "/api/tasks", Task, camel_body(body, fields))

    async def spawn(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        """Create and start. A server without /spawn (plain seed 001) gets create, queue and execute."""
        data = camel_body(body, fields)
        if not self.plain:
            try:
                return await self._send("POST", "/api/tasks/spawn", Task, data)
            except ApiError as exc:
                if exc.status not in (404, 405):
                    raise
                self.plain = True
        task = await self.create_task(data)
        await self.queue(task.id)
        await self.execute(task.id)
        return await self.get_task(task.id)

    async def get_task(self, task_id: str) -> TaskDetail:
        return await self._get(f"/api/tasks/{path_segment(task_id)}", TaskDetail)

    async def update_task(self, task_id: str, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("PATCH", f"/api/tasks/{path_segment(task_id)}", Task, camel_body(body, fields))

    async def delete_task(self, task_id: str) -> Success:
        return await self._send("DELETE", f"/api/tasks/{path_segment(task_id)}", Success)

    async def queue(self, task_id: str) -> Task:
        return await self.update_task(task_id, status="queued")

    async def execute(self, task_id: str) -> Accepted:
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/execute", Accepted)

    async def resume(self, task_id: str) -> Accepted:
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/resume", Accepted)

    async def cancel(self, task_id: str) -> Success:
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/cancel", Success)

    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"], *,
                      message: str | None = None, updated_input: dict[str, Any] | None = None,
                      always_allow: bool | None = None, permission_pattern: str | None = None,
                      expires_in_seconds: int | None = None, saved_by: str | None = None) -> Success:
        body: dict[str, Any] = {"notificationId": notification_id, "behavior": behavior}
        for key, value in (("message", message), ("updatedInput", updated_input), ("alwaysAllow", always_allow),
                           ("permissionPattern", permission_pattern), ("expiresInSeconds", expires_in_seconds),
                           ("savedBy", saved_by)):
            if value is not None:
                body[key] = value
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/respond", Success, body)

    async def get_output(self, task_id: str) -> TaskOutput:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/output", TaskOutput)

    async def get_result(self, task_id: str) -> TaskResult:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/result", TaskResult)

    async def provenance(self, task_id: str) -> Provenance | None:
        """The task's lineage; None when this server answers something else (the detail pane goes on)."""
        return await self._addition(self._get(f"/api/tasks/{path_segment(task_id)}/provenance", Provenance), None,
                                    what="Provenance", seed=True)

    async def siblings(self, task_id: str) -> list[Sibling]:
        return await self._addition(self._get(f"/api/tasks/{path_segment(task_id)}/siblings", list[Sibling]), [],
                                    what="Workflow siblings", seed=True)

    async def send_message(self, task_id: str, message: str) -> Task:
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/messages", Task, {"message": message})

    async def list_messages(self, task_id: str) -> list[TaskMessage]:
        return await self._addition(self._get(f"/api/tasks/{path_segment(task_id)}/messages", list[TaskMessage]),
                                    [], what="The conversation")

    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult:
        body = {} if older_than_hours is None else {"olderThanHours": older_than_hours}
        return await self._send("POST", "/api/tasks/cleanup", CleanupResult, body)

    async def stats(self) -> Stats:
        return await self._get("/api/tasks/stats", Stats)

    # ------------------------------------------------------------------ permissions

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        params = {k: v for k, v in (("status", status), ("taskId", task_id), ("limit", limit)) if v is not None}
        if self.plain:
            return []
        return await self._addition(self._get("/api/permissions", list[PermissionRequest], params), [],
                                    what="The permission inbox (GET /api/permissions)",
                                    capability=Capability.RESPOND)

    async def list_rules(self) -> list[PermissionRule]:
        if self.plain:
            self.require(Capability.RULES)
        return await self._get("/api/permissions/rules", list[PermissionRule])

    async def create_rule(self, pattern: str, behavior: Literal["allow", "deny"], *,
                          expires_in_seconds: int | None = None, saved_by: str | None = None) -> PermissionRule:
        body: dict[str, Any] = {"pattern": pattern, "behavior": behavior}
        for key, value in (("expiresInSeconds", expires_in_seconds), ("savedBy", saved_by)):
            if value is not None:
                body[key] = value
        return await self._send("POST", "/api/permissions/rules", PermissionRule, body)

    async def delete_rule(self, rule_id: str) -> Success:
        return await self._send("DELETE", f"/api/permissions/rules/{path_segment(rule_id)}", Success)

    # ------------------------------------------------------------------ projects, workflows, server

    async def list_projects(self) -> list[Project]:
        return [] if self.plain else await self._addition(self._get("/api/projects", list[Project]), [],
                                                          what="Projects")

    async def create_project(self, name: str, description: str | None = None, *,
                             working_directory: str | None = None) -> Project:
        body = {"name": name, **({"description": description} if description is not None else {}),
                **({"workingDirectory": working_directory} if working_directory is not None else {})}
        return await self._send("POST", "/api/projects", Project, body)

    async def get_project(self, project_id: str) -> Project:
        return await self._get(f"/api/projects/{path_segment(project_id)}", Project)

    async def create_workflow(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Workflow:
        return await self._send("POST", "/api/workflows", Workflow, camel_body(body, fields))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self._get(f"/api/workflows/{path_segment(workflow_id)}", Workflow)

    async def list_workflows(self) -> list[Workflow]:
        return await self._get("/api/workflows", list[Workflow])

    async def runtimes(self) -> list[Runtime]:
        return [] if self.plain else await self._addition(self._get("/api/runtimes", list[Runtime]), [],
                                                          what="The runtime list")

    async def health(self) -> Health:
        return await self._get("/api/health", Health)

    # ------------------------------------------------------------------ streams

    async def stream_logs(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                          on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[LogEntry, None]:
        """The task's log lines, live; ends after the task is final and its backlog is sent."""
        # Each wrapper closes the stream it wraps (aclosing), so breaking out of a loop over it
        # closes the connection at once, from this task.
        async with aclosing(self.stream_log_batches(task_id, after=after, reconnect=reconnect,
                                                    on_status=on_status)) as batches:
            async for batch in batches:
                for entry in batch:
                    yield entry

    async def stream_log_batches(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                                 on_status: Callable[[StreamStatus], Any] | None = None
                                 ) -> AsyncGenerator[list[LogEntry], None]:
        """`stream_logs` a network chunk at a time: a replayed backlog arrives hundreds of lines per
        list, parsed in one go (twice as fast as line by line)."""
        self.require(Capability.LOG_STREAM)
        given = False
        try:
            async with aclosing(sse_event_batches(self._http, f"/api/tasks/{path_segment(task_id)}/logs",
                                                  last_id=after, reconnect=reconnect, on_status=on_status,
                                                  base_url=self.base_url)) as stream:
                async for events in stream:
                    lines = [sse.data for sse in events if sse.event == "message"]
                    if lines:
                        entries = parse_json("[" + ",".join(lines) + "]", list[LogEntry])
                        given = True
                        yield entries
                    if events[-1].event == "end":
                        return
        except (UnexpectedResponse, ApiError) as exc:
            # Not taskboard's log stream (a web page, another server's events): off, with the reason.
            if given or (isinstance(exc, ApiError) and (exc.status in (401, 429) or exc.body is not None)):
                raise
            reason = self.turn_off("The log stream", exc, Capability.LOG_STREAM)
            raise Unsupported(reason, capability=Capability.LOG_STREAM.value, dialect=self.dialect) from exc

    async def stream_progress(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                              on_status: Callable[[StreamStatus], Any] | None = None
                              ) -> AsyncGenerator[ProgressEvent, None]:
        self.require(Capability.PROGRESS_STREAM)
        async with aclosing(sse_events(self._http, f"/api/tasks/{path_segment(task_id)}/progress", last_id=after,
                                       reconnect=reconnect, on_status=on_status, base_url=self.base_url)) as stream:
            async for sse in stream:
                if sse.event == "end":
                    return
                if sse.event == "progress":
                    yield parse_json(sse.data, ProgressEvent)

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[Event, None]:
        """Every change on the server, in revision order, forever.

        Start from the `revision` of a `list_tasks` page to miss nothing. A `reset` event means
        the server no longer holds the revision asked for: list again, then carry on. A plain
        seed-001 server has no event stream: it is polled, and the changes come as the same events.
        """
        if not self.plain:
            try:
                async with aclosing(sse_events(self._http, "/api/events", last_id=since, reconnect=reconnect,
                                               on_status=on_status, base_url=self.base_url,
                                               id_from_data="revision")) as stream:
                    async for sse in stream:
                        if sse.event in ("", "message"):
                            continue
                        yield parse_json(sse.data, Event)
                return
            except NotFound:
                self.plain = True
        async with aclosing(poll_changes(self._list_everything, self.poll_interval, on_status=on_status,
                                         reconnect=reconnect)) as events:
            async for event in events:
                yield event

    async def _list_everything(self) -> list[Task]:
        tasks: list[Task] = []
        async for page in self.iter_task_pages(sort="created", summary=True):
            tasks.extend(page.items)
        return tasks


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_PROGRESSES: dict[tuple[Any, ...], Progress] = {}


def _compact(models: list[Any], *, share_progress: bool = False) -> list[Any]:
    """Shrinks a page of tasks for 100,000-task boards, where memory is the limit.

    - Models given the same fields share one record of which fields were given. pydantic keeps that
      record (a set, over 2 KB for a task) per instance; only exclude_unset dumps read it, and they
      still see the same fields.
    - With `share_progress` (summary lists, which nobody edits), equal progress values are one object.
    """
    for model in models:
        for obj in (model, getattr(model, "progress", None)):
            if isinstance(obj, BaseModel):
                given = frozenset(obj.__pydantic_fields_set__)
                object.__setattr__(obj, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(given, set(given)))
        if share_progress:
            model.__dict__["progress"] = _shared_progress(model.__dict__.get("progress"))
    return models


def _share_progress(summaries: list[TaskSummary]) -> list[TaskSummary]:
    for summary in summaries:
        progress = summary.progress
        if progress is not None:
            given = frozenset(progress.__pydantic_fields_set__)
            object.__setattr__(progress, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(given, set(given)))
            summary.progress = _shared_progress(progress)
    return summaries


def _shared_progress(progress: Progress | None) -> Progress | None:
    """One object for equal progress values (read-only in summaries): most finished tasks share one."""
    if progress is None:
        return None
    key = tuple(progress.__dict__.values())
    shared = _PROGRESSES.get(key)
    if shared is None:
        if len(_PROGRESSES) > 10_000:
            _PROGRESSES.clear()
        shared = _PROGRESSES[key] = progress
    return shared


__all__ = ["ApiError", "TaskboardClient"]
