"""Seed 000: Background Tasks. Spawn, list by workspace (limit/offset, total), get, cancel, and the
progress stream (`GET /api/tasks/{id}/progress`, SSE) shown as the log tail.

The progress page the document points to is not among our documents, so its events are read
generously: any of `status`, `phase`, `progress`/`percent`, `message` in an event's JSON data.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from taskboard.client.base import Capability, one_line, utc
from taskboard.client.dialects.base import DialectClient
from taskboard.client.errors import UnexpectedResponse
from taskboard.client.streams import StreamStatus, sse_events
from taskboard.client.transport import path_segment
from taskboard.models import LogEntry, Success, Task, TaskDetail, TaskStatus

PAGE_MAX = 100  # the document's limit maximum


class BackgroundTasksClient(DialectClient):
    dialect = "background-tasks"
    api_name = "Background Tasks API"
    statuses: ClassVar = {
        "pending": TaskStatus.QUEUED, "running": TaskStatus.RUNNING, "completed": TaskStatus.COMPLETED,
        "failed": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED,
    }
    supported = frozenset({Capability.LIST, Capability.CREATE, Capability.CANCEL, Capability.OUTPUT,
                           Capability.LOG_STREAM, Capability.PROGRESS_STREAM})
    reasons: ClassVar = {
        Capability.DELETE: "The Background Tasks API has no delete.",
        Capability.EXECUTE: "Background tasks start as soon as they are spawned.",
        Capability.RESUME: "The Background Tasks API cannot resume a task; spawn a new one.",
        Capability.MESSAGE: "Background tasks take no messages.",
        Capability.RESPOND: "The Background Tasks API has no permission requests.",
        Capability.PRIORITY: "Background tasks have no priority.",
        Capability.CLEANUP: "The Background Tasks API has no cleanup.",
    }

    def __init__(self, base_url: str, api_key: str | None = None, *, workspace_id: str | None = None,
                 conversation_id: str | None = None, task_type: str = "agent", **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        if not workspace_id:
            raise ValueError("the background-tasks dialect needs a workspace_id (every list is per workspace)")
        self.workspace_id = workspace_id
        self.conversation_id = conversation_id
        self.task_type = task_type

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        params: dict[str, Any] = {"workspace_id": self.workspace_id, "limit": min(max(limit, 1), PAGE_MAX),
                                  "offset": offset}
        wanted = {TaskStatus(s) for s in status} if status else set()
        if len(wanted) == 1:
            params["status"] = next(w for w, ours in self.statuses.items() if ours in wanted)
        body = self.parse(await self._request("GET", "/api/tasks", params=params))
        if not isinstance(body, dict) or not isinstance(body.get("tasks"), list):
            raise UnexpectedResponse("GET /api/tasks: no `tasks` list in the answer")
        tasks = [self.to_task(row) for row in body["tasks"]]
        if len(wanted) > 1:
            tasks = [t for t in tasks if t.status in wanted]
        total = body.get("total")
        return tasks, total if isinstance(total, int) else offset + len(tasks)

    async def iter_task_pages(self, *, page_size: int = PAGE_MAX, **filters: Any) -> AsyncGenerator[Any, None]:
        async with contextlib.aclosing(super().iter_task_pages(page_size=min(page_size, PAGE_MAX),
                                                               **filters)) as pages:
            async for page in pages:
                yield page

    async def get_task(self, task_id: str) -> TaskDetail:
        return self.to_task(self.parse(await self._request("GET", f"/api/tasks/{path_segment(task_id)}")))

    async def create_task(self, body: Any = None, **fields: Any) -> Task:
        """Spawn. Takes taskboard's fields: the prompt is the description (or the title), and
        `conversation_id`/`task_type`/`target_document_id` may be given or come from the settings."""
        data = dict(body or {}) | fields
        prompt = data.get("prompt") or data.get("description") or data.get("title")
        conversation = data.get("conversation_id") or data.get("conversationId") or self.conversation_id
        if not conversation:
            raise ValueError("spawning needs a conversation_id (a setting of this context, or given)")
        payload = {"workspace_id": self.workspace_id, "conversation_id": conversation,
                   "task_type": data.get("task_type") or data.get("taskType") or self.task_type, "prompt": prompt}
        target = data.get("target_document_id") or data.get("targetDocumentId")
        if target:
            payload["target_document_id"] = target
        response = await self._request("POST", "/api/tasks/spawn", json=payload)
        return self.to_task(response.json())

    async def cancel(self, task_id: str) -> Success:
        await self._request("POST", f"/api/tasks/{path_segment(task_id)}/cancel")
        return Success()

    log_stream_name = "The progress stream"

    async def _log_stream(self, task_id: str, *, after: int | None, reconnect: bool,
                          on_status: Callable[[StreamStatus], Any] | None) -> AsyncGenerator[list[LogEntry], None]:
        """The progress stream, one log line per event; ends when the task is final."""
        path = f"/api/tasks/{path_segment(task_id)}/progress"
        number = 0
        async with contextlib.aclosing(sse_events(self._http, path, last_id=after, reconnect=reconnect,
                                                  on_status=on_status, base_url=self.base_url)) as stream:
            async for sse in stream:
                number = int(sse.id) if sse.id and sse.id.isdigit() else number + 1
                line, final = self.progress_line(sse.event, sse.data)
                if line:
                    yield [LogEntry(id=number, task_id=task_id, event_type=sse.event or "progress", message=line,
                                    timestamp=datetime.now(UTC))]
                if final or sse.event in ("end", "done", "complete"):
                    return

    def progress_line(self, event: str, data: str) -> tuple[str, bool]:
        """One event as a line of text, and whether the task is over."""
        try:
            value: Any = json.loads(data) if data else {}
        except ValueError:
            return data, False
        if not isinstance(value, dict):
            return str(value), False
        parts = []
        status = value.get("status")
        if status:
            parts.append(f"[{status}]")
        if value.get("phase"):
            parts.append(f"{value['phase']}:")
        percent = value.get("progress", value.get("percent"))
        if isinstance(percent, int | float):
            parts.append(f"{percent:g}%")
        if value.get("message"):
            parts.append(str(value["message"]))
        if value.get("error"):
            parts.append(f"error: {value['error']}")
        final = str(status) in ("completed", "failed", "cancelled")
        return " ".join(parts) or one_line(data, 500), final

    def to_task(self, row: Any) -> TaskDetail:
        if not isinstance(row, dict) or not row.get("id"):
            raise UnexpectedResponse("Background Tasks: a task without an id")
        created = utc(row.get("created_at"))
        if created is None:
            raise UnexpectedResponse(f"Background Tasks: task {row['id']} has no created_at")
        started, completed = utc(row.get("started_at")), utc(row.get("completed_at"))
        prompt = str(row.get("prompt") or "")
        task_type = str(row.get("task_type") or "task")
        return TaskDetail(
            id=str(row["id"]), title=one_line(f"{task_type}: {prompt}" if prompt else task_type),
            description=prompt or None, status=self.status(row.get("status")), priority=2, task_type=task_type,
            params={k: row[k] for k in ("workspace_id", "conversation_id", "target_document_id") if row.get(k)},
            result=row.get("result_summary"), result_data=row.get("result_data"), error=row.get("error") or None,
            created_at=created, updated_at=completed or started or created, started_at=started,
            finished_at=completed, source_type="spawn",
        )
