"""`TaskboardClient`: one async method per endpoint of the native API, each returning a model."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from taskboard import __version__
from taskboard.client.errors import (
    ApiError,
    ConnectionLost,
    UnexpectedResponse,
    error_from_response,
)
from taskboard.client.streams import StreamStatus, sse_event_batches, sse_events
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
    Task,
    TaskDetail,
    TaskMessage,
    TaskOutput,
    TaskPage,
    TaskResult,
    Workflow,
)

M = TypeVar("M")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


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


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class TaskboardClient:
    """Async client for a taskboard server (the bundled backend, or any seed-001 server).

    Idempotent calls are retried on connection errors and 429/502/503/504, honouring Retry-After;
    the streams reconnect by themselves and resume with Last-Event-ID.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, http_client: httpx.AsyncClient | None = None,
                 timeout: float = 10.0, max_retries: int = 2, max_retry_wait: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        headers = {"User-Agent": f"taskboard/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), headers=headers,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        if http_client is not None:
            self._http.headers.update(headers)

    async def __aenter__(self) -> TaskboardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:  # never shows the key
        return f"TaskboardClient({self.base_url!r}, api_key={'***' if self.api_key else None})"

    # ------------------------------------------------------------------ transport

    async def _request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                       retries: int | None = None) -> httpx.Response:
        attempts = (self.max_retries if retries is None else retries) if method in IDEMPOTENT else 0
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(method, path, json=json, params=params)
            except httpx.TimeoutException as exc:
                error: Exception = ConnectionLost(f"Timed out talking to {self.base_url} ({exc.__class__.__name__})",
                                                  url=self.base_url)
            except httpx.TransportError as exc:
                error = ConnectionLost(f"Cannot reach {self.base_url}: {exc or exc.__class__.__name__}",
                                       url=self.base_url)
            else:
                if response.status_code < 400:
                    return response
                error = error_from_response(response)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= attempts:
                raise error
            attempt += 1
            wait = _retry_after(response)
            if wait is None:
                wait = min(0.25 * 2 ** attempt, 8.0) * (0.5 + random.random() / 2)
            if wait > self.max_retry_wait:
                raise error
            await asyncio.sleep(wait)

    async def _get(self, path: str, model: Any, params: Any = None) -> Any:
        return _parse(await self._request("GET", path, params=params), model)

    async def _send(self, method: str, path: str, model: Any, body: Any = None) -> Any:
        return _parse(await self._request(method, path, json=body), model)

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
        items = _compact(_parse(response, list[Task]), share_progress=summary)
        total = _int_header(response, "x-total-count", len(items) + offset)
        revision = _int_header(response, "x-revision", None)
        return TaskPage(items=items, total=total, revision=revision, limit=limit, offset=offset)

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
        return await self._get(f"/api/tasks/{_seg(task_id)}", TaskDetail)

    async def update_task(self, task_id: str, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Task:
        return await self._send("PATCH", f"/api/tasks/{_seg(task_id)}", Task, _camel_body(body, fields))

    async def delete_task(self, task_id: str) -> Success:
        return await self._send("DELETE", f"/api/tasks/{_seg(task_id)}", Success)

    async def queue(self, task_id: str) -> Task:
        return await self.update_task(task_id, status="queued")

    async def execute(self, task_id: str) -> Accepted:
        return await self._send("POST", f"/api/tasks/{_seg(task_id)}/execute", Accepted)

    async def resume(self, task_id: str) -> Accepted:
        return await self._send("POST", f"/api/tasks/{_seg(task_id)}/resume", Accepted)

    async def cancel(self, task_id: str) -> Success:
        return await self._send("POST", f"/api/tasks/{_seg(task_id)}/cancel", Success)

    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"], *,
                      message: str | None = None, updated_input: dict[str, Any] | None = None,
                      always_allow: bool | None = None, permission_pattern: str | None = None) -> Success:
        body: dict[str, Any] = {"notificationId": notification_id, "behavior": behavior}
        for key, value in (("message", message), ("updatedInput", updated_input), ("alwaysAllow", always_allow),
                           ("permissionPattern", permission_pattern)):
            if value is not None:
                body[key] = value
        return await self._send("POST", f"/api/tasks/{_seg(task_id)}/respond", Success, body)

    async def get_output(self, task_id: str) -> TaskOutput:
        return await self._get(f"/api/tasks/{_seg(task_id)}/output", TaskOutput)

    async def get_result(self, task_id: str) -> TaskResult:
        return await self._get(f"/api/tasks/{_seg(task_id)}/result", TaskResult)

    async def provenance(self, task_id: str) -> Provenance:
        return await self._get(f"/api/tasks/{_seg(task_id)}/provenance", Provenance)

    async def siblings(self, task_id: str) -> list[Sibling]:
        return await self._get(f"/api/tasks/{_seg(task_id)}/siblings", list[Sibling])

    async def send_message(self, task_id: str, message: str) -> Task:
        return await self._send("POST", f"/api/tasks/{_seg(task_id)}/messages", Task, {"message": message})

    async def list_messages(self, task_id: str) -> list[TaskMessage]:
        return await self._get(f"/api/tasks/{_seg(task_id)}/messages", list[TaskMessage])

    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult:
        body = {} if older_than_hours is None else {"olderThanHours": older_than_hours}
        return await self._send("POST", "/api/tasks/cleanup", CleanupResult, body)

    async def stats(self) -> Stats:
        return await self._get("/api/tasks/stats", Stats)

    # ------------------------------------------------------------------ permissions

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        params = {k: v for k, v in (("status", status), ("taskId", task_id), ("limit", limit)) if v is not None}
        return await self._get("/api/permissions", list[PermissionRequest], params)

    async def list_rules(self) -> list[PermissionRule]:
        return await self._get("/api/permissions/rules", list[PermissionRule])

    async def create_rule(self, pattern: str, behavior: Literal["allow", "deny"]) -> PermissionRule:
        return await self._send("POST", "/api/permissions/rules", PermissionRule,
                                {"pattern": pattern, "behavior": behavior})

    async def delete_rule(self, rule_id: str) -> Success:
        return await self._send("DELETE", f"/api/permissions/rules/{_seg(rule_id)}", Success)

    # ------------------------------------------------------------------ projects, workflows, server

    async def list_projects(self) -> list[Project]:
        return await self._get("/api/projects", list[Project])

    async def create_project(self, name: str, description: str | None = None) -> Project:
        body = {"name": name, **({"description": description} if description is not None else {})}
        return await self._send("POST", "/api/projects", Project, body)

    async def get_project(self, project_id: str) -> Project:
        return await self._get(f"/api/projects/{_seg(project_id)}", Project)

    async def create_workflow(self, body: BaseModel | dict[str, Any] | None = None, **fields: Any) -> Workflow:
        return await self._send("POST", "/api/workflows", Workflow, _camel_body(body, fields))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self._get(f"/api/workflows/{_seg(workflow_id)}", Workflow)

    async def list_workflows(self) -> list[Workflow]:
        return await self._get("/api/workflows", list[Workflow])

    async def runtimes(self) -> list[Runtime]:
        return await self._get("/api/runtimes", list[Runtime])

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
        async with aclosing(sse_event_batches(self._http, f"/api/tasks/{_seg(task_id)}/logs", last_id=after,
                                              reconnect=reconnect, on_status=on_status,
                                              base_url=self.base_url)) as stream:
            async for events in stream:
                lines = [sse.data for sse in events if sse.event == "message"]
                if lines:
                    yield _parse_json("[" + ",".join(lines) + "]", list[LogEntry])
                if events[-1].event == "end":
                    return

    async def stream_progress(self, task_id: str, *, after: int | None = None, reconnect: bool = True,
                              on_status: Callable[[StreamStatus], Any] | None = None
                              ) -> AsyncIterator[ProgressEvent]:
        async with aclosing(sse_events(self._http, f"/api/tasks/{_seg(task_id)}/progress", last_id=after,
                                       reconnect=reconnect, on_status=on_status, base_url=self.base_url)) as stream:
            async for sse in stream:
                if sse.event == "end":
                    return
                if sse.event == "progress":
                    yield _parse_json(sse.data, ProgressEvent)

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncIterator[Event]:
        """Every change on the server, in revision order, forever.

        Start from the `revision` of a `list_tasks` page to miss nothing. A `reset` event means
        the server no longer holds the revision asked for: list again, then carry on.
        """
        async with aclosing(sse_events(self._http, "/api/events", last_id=since, reconnect=reconnect,
                                       on_status=on_status, base_url=self.base_url,
                                       id_from_data="revision")) as stream:
            async for sse in stream:
                if sse.event in ("", "message"):
                    continue
                yield _parse_json(sse.data, Event)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


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
        values = model.__dict__
        progress = values.get("progress")
        if share_progress and isinstance(progress, Progress):
            key = tuple(progress.__dict__.values())
            shared = _PROGRESSES.get(key)
            if shared is None:
                if len(_PROGRESSES) > 10_000:
                    _PROGRESSES.clear()
                shared = _PROGRESSES[key] = progress
            values["progress"] = shared
    return models


def _parse_json(data: str, model: Any) -> Any:
    try:
        return _adapter(model).validate_json(data)
    except ValidationError as exc:
        raise UnexpectedResponse(f"Unexpected event from the server: {exc.errors()[0]['msg']}") from exc


def _parse(response: httpx.Response, model: Any) -> Any:
    try:
        return _adapter(model).validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UnexpectedResponse(
            f"Unexpected response from {response.request.method} {response.request.url.path}: "
            f"{where or 'body'}: {first['msg']}", status=response.status_code) from exc


def _int_header(response: httpx.Response, name: str, default: Any) -> Any:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return default


def _seg(value: str) -> str:
    """One path segment, escaped, so an id can never change the path."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(str(value), safe="")


__all__ = ["ApiError", "TaskboardClient"]
