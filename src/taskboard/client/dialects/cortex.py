"""Seed 004: Cortex's background tasks. X-API-Key; list, status, result (only once completed),
cancel by DELETE, cleanup of old finished tasks. Tasks are spawned by other Cortex operations."""

from __future__ import annotations

from typing import Any, ClassVar

from taskboard.client.base import Capability, one_line, utc
from taskboard.client.dialects.base import DialectClient
from taskboard.client.errors import UnexpectedResponse, summary_of_body
from taskboard.client.transport import path_segment
from taskboard.models import (
    CleanupResult,
    ContentType,
    Progress,
    Success,
    TaskDetail,
    TaskResult,
    TaskStatus,
)


class CortexClient(DialectClient):
    dialect = "cortex"
    api_name = "Cortex tasks API"
    statuses: ClassVar = {
        "pending": TaskStatus.QUEUED, "running": TaskStatus.RUNNING, "completed": TaskStatus.COMPLETED,
        "failed": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED,
    }
    supported = frozenset({Capability.LIST, Capability.CANCEL, Capability.OUTPUT, Capability.CLEANUP})
    reasons: ClassVar = {
        Capability.CREATE: "Cortex tasks are spawned by other operations (community detection, "
                           "summarization, document processing); they cannot be created directly.",
        Capability.DELETE: "Cortex deletes only through cleanup (finished tasks older than 24 hours).",
        Capability.EXECUTE: "Cortex tasks start by themselves.",
        Capability.RESUME: "Cortex cannot resume a task.",
        Capability.MESSAGE: "Cortex tasks take no messages.",
        Capability.RESPOND: "Cortex has no permission requests.",
        Capability.PRIORITY: "Cortex tasks have no priority.",
    }

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        if offset:
            return [], offset  # the list is not paged: the first call has everything
        body = self.parse(await self._request("GET", "/api/tasks"))
        rows = body
        if isinstance(body, dict):  # the document shows no list body: accept the usual wrappers
            rows = next((body[k] for k in ("tasks", "items", "data") if isinstance(body.get(k), list)), None)
        if not isinstance(rows, list):
            raise UnexpectedResponse("GET /api/tasks: no list of tasks in the answer")
        tasks = [self.to_task(row) for row in rows]
        if status:
            wanted = {TaskStatus(s) for s in status}
            tasks = [t for t in tasks if t.status in wanted]
        tasks.sort(key=lambda t: t.created_at, reverse=True)
        return tasks, len(tasks)

    async def get_task(self, task_id: str) -> TaskDetail:
        """The status; for a completed task, with its result (a second call), as the detail pane shows it."""
        task = self.to_task(self.parse(await self._request("GET", f"/api/tasks/{path_segment(task_id)}")))
        if task.status is TaskStatus.COMPLETED and "results" not in self.degraded:
            text, data = await self.optional("Results", self._result(task_id), (None, None))
            task = task.model_copy(update={"result": text, "result_data": data})
        return task

    async def _result(self, task_id: str) -> tuple[str | None, Any]:
        response = await self._request("GET", f"/api/tasks/{path_segment(task_id)}/result")
        try:
            return None, response.json()
        except ValueError:
            kind = response.headers.get("content-type", "")
            if "html" in kind or response.text.lstrip()[:1] == "<":
                raise UnexpectedResponse(f"GET /result: {summary_of_body(response)}") from None
            return response.text, None

    async def get_result(self, task_id: str) -> TaskResult:
        task = await self.get_task(task_id)
        # Cortex answers nothing useful before completion; nothing is asked until then.
        kind: ContentType = "json" if task.result_data is not None else "text" if task.result else "unknown"
        return TaskResult(task_id=task.id, status=task.status, result=task.result, result_data=task.result_data,
                          content_type=kind)

    async def cancel(self, task_id: str) -> Success:
        await self._request("DELETE", f"/api/tasks/{path_segment(task_id)}", retries=0)
        return Success()

    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult:
        body = (await self._request("POST", "/api/tasks/cleanup")).json()
        deleted = 0
        if isinstance(body, dict):
            deleted = next((int(body[k]) for k in ("deleted", "removed", "count", "deleted_count")
                            if isinstance(body.get(k), int)), 0)
        return CleanupResult(deleted=deleted)

    def to_task(self, row: Any) -> TaskDetail:
        if not isinstance(row, dict):
            raise UnexpectedResponse("Cortex: a task that is not an object")
        task_id = row.get("task_id") or row.get("id")
        created = utc(row.get("created_at"))
        if not task_id or created is None:
            raise UnexpectedResponse("Cortex: a task without task_id or created_at")
        task_type = str(row.get("task_type") or "task")
        percent = row.get("progress_percent")
        message = row.get("message")
        status = self.status(row.get("status"))
        updated = utc(row.get("updated_at")) or created
        return TaskDetail(
            id=str(task_id), title=task_type.replace("_", " "), status=status, priority=2, task_type=task_type,
            description=message, created_at=created, updated_at=updated,
            progress=Progress(current=int(percent or 0), total=100,
                              percent=float(percent) if percent is not None else None,
                              message=message) if percent is not None or message else None,
            error=one_line(str(row["error"]), 2000) if row.get("error") else None,
            finished_at=updated if status.is_final else None, source_type="cortex",
        )
