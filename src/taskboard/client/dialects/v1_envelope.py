"""Seed 003: `/api/v1/tasks`, every answer wrapped in `{code, message, data}`, integer ids.

Tasks are made by the server's pipelines: this API lists, shows and cancels. The list has a
`limit` and no offset or total, so the board shows the newest `list_limit` tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from taskboard.client.base import Capability, utc
from taskboard.client.dialects.base import DialectClient
from taskboard.client.errors import UnexpectedResponse, error_from_response
from taskboard.client.transport import path_segment
from taskboard.models import Progress, Success, TaskDetail, TaskStatus

BASE = "/api/v1/tasks"


class V1EnvelopeClient(DialectClient):
    dialect = "v1-envelope"
    api_name = "/api/v1 tasks API"
    statuses: ClassVar = {
        "pending": TaskStatus.QUEUED, "running": TaskStatus.RUNNING, "completed": TaskStatus.COMPLETED,
        "failed": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED,
    }
    supported = frozenset({Capability.LIST, Capability.CANCEL, Capability.OUTPUT})
    reasons: ClassVar = {
        Capability.CREATE: "Tasks on this server are created by its pipelines; the /api/v1 tasks API cannot.",
        Capability.DELETE: "The /api/v1 tasks API has no delete; cancel is all it offers.",
        Capability.EXECUTE: "Tasks on this server start by themselves.",
        Capability.RESUME: "The /api/v1 tasks API cannot resume a task.",
        Capability.MESSAGE: "The /api/v1 tasks API takes no messages.",
        Capability.RESPOND: "The /api/v1 tasks API has no permission requests.",
        Capability.PRIORITY: "The /api/v1 tasks API has no priorities.",
        Capability.CLEANUP: "The /api/v1 tasks API has no cleanup.",
    }

    def __init__(self, base_url: str, api_key: str | None = None, *, project_id: int | None = None,
                 list_limit: int = 1000, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self.project_id = project_id
        self.list_limit = list_limit

    async def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        return unwrap(response, self.parse)

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        if offset:
            return [], offset  # no offset on this API: the first page is everything it gives
        wanted = {self._wire_status(s) for s in status} if status else set()
        params: dict[str, Any] = {"limit": max(limit, self.list_limit)}
        if self.project_id is not None:
            params["project_id"] = self.project_id
        if len(wanted) == 1:
            params["status"] = next(iter(wanted))
        rows = await self._data("GET", BASE, params=params)
        if not isinstance(rows, list):
            raise UnexpectedResponse(f"GET {BASE}: data is not a list")
        tasks = [self.to_task(row) for row in rows]
        if len(wanted) > 1:
            tasks = [t for t in tasks if self._wire_status(t.status) in wanted]
        return tasks, len(tasks)

    def _wire_status(self, status: str | TaskStatus) -> str:
        status = TaskStatus(status)
        return next((wire for wire, ours in self.statuses.items() if ours is status), status.value)

    async def get_task(self, task_id: str) -> TaskDetail:
        return self.to_task(await self._data("GET", f"{BASE}/{path_segment(task_id)}"))

    async def cancel(self, task_id: str) -> Success:
        await self._data("POST", f"{BASE}/{path_segment(task_id)}/cancel")
        return Success()

    def to_task(self, row: Any) -> TaskDetail:
        if not isinstance(row, dict) or "id" not in row:
            raise UnexpectedResponse(f"{BASE}: a task without an id")
        created = utc(row.get("created_at"))
        if created is None:
            raise UnexpectedResponse(f"{BASE}: task {row['id']} has no created_at")
        started, completed = utc(row.get("started_at")), utc(row.get("completed_at"))
        current, total = int(row.get("progress") or 0), row.get("total")
        progress = Progress(current=current, total=total,
                            percent=round(100 * current / total, 1) if total else None)
        result = row.get("result")
        task_type = str(row.get("task_type") or "task")
        return TaskDetail(
            id=str(row["id"]), title=f"{task_type} #{row['id']}", status=self.status(row.get("status")),
            priority=2, task_type=task_type, params=row.get("params"),
            project_id=str(row["project_id"]) if row.get("project_id") is not None else None,
            result_data=result, error=row.get("error_message") or None, progress=progress,
            created_at=created, updated_at=completed or started or created, started_at=started,
            finished_at=completed, source_type="pipeline",
        )


def unwrap(response: httpx.Response, parse: Callable[[httpx.Response], Any] = httpx.Response.json) -> Any:
    """The envelope's data; an envelope whose `code` is an error is that error, whatever the HTTP status."""
    try:
        body = parse(response)
    except ValueError as exc:
        raise UnexpectedResponse(f"{response.request.url.path}: the answer is not JSON",
                                 status=response.status_code) from exc
    if not isinstance(body, dict) or "code" not in body or "data" not in body:
        raise UnexpectedResponse(f"{response.request.url.path}: the answer is not a {{code, message, data}} envelope",
                                 status=response.status_code)
    code = body.get("code")
    if isinstance(code, int) and code >= 400:
        raise error_from_response(httpx.Response(code, json=body, request=response.request))
    return body["data"]
