"""`TaskboardClient`: one async method per endpoint of the native API, each returning a model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from taskboard.client.dialects.base import (
    ALL_CAPABILITIES,
    DEFAULT_POLL_INTERVAL,
    Capability,
    Capable,
    poll_changes,
)
from taskboard.client.errors import ApiError, NotFound
from taskboard.client.streams import StreamStatus, sse_event_batches, sse_events
from taskboard.client.transport import (
    HttpTransport,
    int_header,
    parse_json,
    parse_response,
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
                                     Capability.MESSAGE, Capability.CLEANUP, Capability.USAGE}

def _camel_body(body: BaseModel | dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A request body: a model's wire form, or keyword fields camelCased as they are.

    Keyword fields are not validated here on purpose: the server is the one judge, and its
    400 (with per-field messages) is what a caller shows the user.
    """
    if isinstance(body, BaseModel):
        data = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    else:
        data = dict(body or {})
    data.update({to_camel(k): v for k, v in fields.items()})
    return data


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

    async def _addition(self, call: Awaitable[M], empty: M) -> M:
        """A call to one of taskboard's additions: on a plain seed-001 server, `empty`."""
        try:
            return await call
        except NotFound:
            self.plain = True
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
        items = _compact(parse_response(response, list[Task]), share_progress=summary)
        total = int_header(response, "x-total-count", len(items) + offset)
        revision = int_header(response, "x-revision", None)
        return TaskPage(items=items, total=total, revision=revision, limit=limit, offset=offset)

    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None) -> SummaryPage:
        """A page of the board: summaries parsed straight into slots, about twice as fast as Tasks."""
        params: list[tuple[str, str | int]] = [("limit", limit), ("view", "summary")]
        if sort is not None:
            params.append(("sort", sort))
        if offset:
            params.append(("offset", offset))
        response = await self._request("GET", "/api/tasks", params=params)
        items = _share_progress(parse_response(response, list[TaskSummary]))
        return SummaryPage(items=items, total=int_header(response, "x-total-count", len(items) + offset),
                           revision=int_header(response, "x-revision", None), offset=offset)

    async def iter_task_pages(self, *, page_size: int = 1000, **filters: Any) -> AsyncIterator[TaskPage]:
        """Every task matching the filters, a page at a time (the first page comes at once)."""
        offset = 0
        while True:
            page = await self.list_tasks(limit=page_size, offset=offset, **filters)
            yield page
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def create_task(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("POST", "/api/tasks", Task, _camel_body(body, fields))

    async def spawn(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("POST", "/api/tasks/spawn", Task, _camel_body(body, fields))

    async def get_task(self, task_id: str) -> TaskDetail:
        return await self._get(f"/api/tasks/{path_segment(task_id)}", TaskDetail)

    async def update_task(self, task_id: str, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("PATCH", f"/api/tasks/{path_segment(task_id)}", Task, _camel_body(body, fields))

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
                      always_allow: bool | None = None, permission_pattern: str | None = None) -> Success:
        body: dict[str, Any] = {"notificationId": notification_id, "behavior": behavior}
        for key, value in (("message", message), ("updatedInput", updated_input), ("alwaysAllow", always_allow),
                           ("permissionPattern", permission_pattern)):
            if value is not None:
                body[key] = value
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/respond", Success, body)

    async def get_output(self, task_id: str) -> TaskOutput:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/output", TaskOutput)

    async def get_result(self, task_id: str) -> TaskResult:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/result", TaskResult)

    async def provenance(self, task_id: str) -> Provenance:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/provenance", Provenance)

    async def siblings(self, task_id: str) -> list[Sibling]:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/siblings", list[Sibling])

    async def send_message(self, task_id: str, message: str) -> Task:
        return await self._send("POST", f"/api/tasks/{path_segment(task_id)}/messages", Task, {"message": message})

    async def list_messages(self, task_id: str) -> list[TaskMessage]:
        return await self._get(f"/api/tasks/{path_segment(task_id)}/messages", list[TaskMessage])

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
        return await self._addition(self._get("/api/permissions", list[PermissionRequest], params), [])

    async def list_rules(self) -> list[PermissionRule]:
        return await self._get("/api/permissions/rules", list[PermissionRule])

    async def create_rule(self, pattern: str, behavior: Literal["allow", "deny"]) -> PermissionRule:
        return await self._send("POST", "/api/permissions/rules", PermissionRule,
                                {"pattern": pattern, "behavior": behavior})

    async def delete_rule(self, rule_id: str) -> Success:
        return await self._send("DELETE", f"/api/permissions/rules/{path_segment(rule_id)}", Success)

    # ------------------------------------------------------------------ projects, workflows, server

    async def list_projects(self) -> list[Project]:
        return [] if self.plain else await self._addition(self._get("/api/projects", list[Project]), [])

    async def create_project(self, name: str, description: str | None = None, *,
                             working_directory: str | None = None) -> Project:
        body = {"name": name, **({"description": description} if description is not None else {}),
                **({"workingDirectory": working_directory} if working_directory is not None else {})}
        return await self._send("POST", "/api/projects", Project, body)

    async def get_project(self, project_id: str) -> Project:
        return await self._get(f"/api/projects/{path_segment(project_id)}", Project)

    async def create_workflow(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Workflow:
        return await self._send("POST", "/api/workflows", Workflow, _camel_body(body, fields))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self._get(f"/api/workflows/{path_segment(workflow_id)}", Workflow)

    async def list_workflows(self) -> list[Workflow]:
        return await self._get("/api/workflows", list[Workflow])

    async def runtimes(self) -> list[Runtime]:
        return [] if self.plain else await self._addition(self._get("/api/runtimes", list[Runtime]), [])

    async def health(self) -> Health:
        return await self._get("/api/health", Health)

    # ------------------------------------------------------------------ streams

    async def stream_logs(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                          on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncIterator[LogEntry]:
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
                                 ) -> AsyncIterator[list[LogEntry]]:
        """`stream_logs` a network chunk at a time: a replayed backlog arrives hundreds of lines per
        list, parsed in one go (twice as fast as line by line)."""
        self.require(Capability.LOG_STREAM)
        async with aclosing(sse_event_batches(self._http, f"/api/tasks/{path_segment(task_id)}/logs", last_id=after,
                                              reconnect=reconnect, on_status=on_status,
                                              base_url=self.base_url)) as stream:
            async for events in stream:
                lines = [sse.data for sse in events if sse.event == "message"]
                if lines:
                    yield parse_json("[" + ",".join(lines) + "]", list[LogEntry])
                if events[-1].event == "end":
                    return

    async def stream_progress(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                              on_status: Callable[[StreamStatus], Any] | None = None
                              ) -> AsyncIterator[ProgressEvent]:
        self.require(Capability.PROGRESS_STREAM)
        async with aclosing(sse_events(self._http, f"/api/tasks/{path_segment(task_id)}/progress", last_id=after,
                                       reconnect=reconnect, on_status=on_status, base_url=self.base_url)) as stream:
            async for sse in stream:
                if sse.event == "end":
                    return
                if sse.event == "progress":
                    yield parse_json(sse.data, ProgressEvent)

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncIterator[Event]:
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
