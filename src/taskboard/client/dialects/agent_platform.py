"""Seed 002: an agent platform. Submit a task to an agent (priority 1-10, timeout, metadata), get its
status, message it while it is awaiting input, cancel it; JWT or platform API key.

The document names no paths and has no list call, so the paths are settings (with the defaults
below), and the tasks submitted through taskboard are kept in a local registry (a JSON file per
server) to be listed and watched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from taskboard.client.base import Capability, one_line, utc
from taskboard.client.dialects.base import DialectClient
from taskboard.client.errors import (
    ConnectionLost,
    NotFound,
    ServiceUnavailable,
    UnexpectedResponse,
)
from taskboard.client.transport import path_segment
from taskboard.models import Health, Progress, Success, Task, TaskDetail, TaskStatus

DEFAULT_PATHS = {
    "submit": "/api/agents/{agent_id}/tasks",
    "status": "/api/agents/{agent_id}/tasks/{task_id}",
    "message": "/api/agents/{agent_id}/tasks/{task_id}/messages",
    "cancel": "/api/agents/{agent_id}/tasks/{task_id}/cancel",
}


class TaskRegistry:
    """The tasks submitted through taskboard to one server: {task_id: {agent_id, message, ...}}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise UnexpectedResponse(f"The task registry {self.path} is not valid JSON: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(entries, indent=1))
        os.replace(temp, self.path)  # a crash mid-write leaves the old registry, never half of one

    def add(self, task_id: str, entry: dict[str, Any]) -> None:
        entries = self.load()
        entries[task_id] = entry
        self.save(entries)

    def drop(self, task_id: str) -> None:
        entries = self.load()
        if entries.pop(task_id, None) is not None:
            self.save(entries)


def default_registry_path(base_url: str) -> Path:
    from taskboard.paths import data_dir

    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return data_dir() / "agent-platform" / f"{digest}.json"


class AgentPlatformClient(DialectClient):
    dialect = "agent-platform"
    api_name = "agent platform API"
    statuses: ClassVar = {
        "queued": TaskStatus.QUEUED, "running": TaskStatus.RUNNING, "awaiting_input": TaskStatus.AWAITING_INPUT,
        "completed": TaskStatus.COMPLETED, "failed": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED,
    }
    supported = frozenset({Capability.LIST, Capability.CREATE, Capability.CANCEL, Capability.MESSAGE,
                           Capability.OUTPUT})
    reasons: ClassVar = {
        Capability.DELETE: "The agent platform has no delete; cancel is all it offers.",
        Capability.EXECUTE: "Tasks submitted to an agent are queued and start by themselves.",
        Capability.RESUME: "The agent platform cannot resume a task; submit it again.",
        Capability.RESPOND: "The agent platform has no permission requests; message the task instead.",
        Capability.PRIORITY: "The agent platform sets a priority only when a task is submitted.",
        Capability.CLEANUP: "The agent platform has no cleanup.",
        Capability.LOG_STREAM: "The agent platform has no log stream; the tail shows status changes.",
    }

    def __init__(self, base_url: str, api_key: str | None = None, *, agent_id: str | None = None,
                 paths: dict[str, str] | None = None, registry_path: Path | str | None = None,
                 auth_header: str = "Authorization", **options: Any) -> None:
        super().__init__(base_url, api_key, auth_header=auth_header, **options)
        self.agent_id = agent_id
        self.paths = {**DEFAULT_PATHS, **(paths or {})}
        unknown = set(self.paths) - set(DEFAULT_PATHS)
        if unknown:
            raise ValueError(f"unknown agent-platform path setting(s): {', '.join(sorted(unknown))}")
        self.registry = TaskRegistry(Path(registry_path) if registry_path else default_registry_path(self.base_url))

    def _path(self, name: str, agent_id: str, task_id: str | None = None) -> str:
        return self.paths[name].format(agent_id=path_segment(agent_id),
                                       task_id=path_segment(task_id) if task_id else "")

    def _agent_of(self, task_id: str) -> str:
        entry = self.registry.load().get(task_id)
        agent = (entry or {}).get("agent_id") or self.agent_id
        if not agent:
            raise NotFound(f"Task {task_id} was not submitted through taskboard, and no agent_id is set",
                           status=404)
        return str(agent)

    # ------------------------------------------------------------------ calls

    async def create_task(self, body: Any = None, **fields: Any) -> Task:
        """Submit to `agent_id` (a setting, or given). Takes taskboard's fields too: the message is the
        title and description; metadata is params."""
        data = dict(body or {}) | fields
        agent = data.get("agent_id") or data.get("agentId") or self.agent_id
        if not agent:
            raise ValueError("submitting needs an agent_id (a setting of this context, or given)")
        message = data.get("message") or "\n\n".join(str(data[k]) for k in ("title", "description") if data.get(k))
        payload: dict[str, Any] = {"message": message}
        priority = data.get("priority")
        if isinstance(priority, int) and 1 <= priority <= 10:
            payload["priority"] = priority
        for key, wire in (("timeout_override", "timeout_override"), ("timeoutOverride", "timeout_override"),
                          ("metadata", "metadata"), ("params", "metadata"), ("callback_mode", "callback_mode"),
                          ("webhook_url", "webhook_url")):
            if data.get(key) is not None:
                payload[wire] = data[key]
        try:
            response = await self._request("POST", self._path("submit", str(agent)), json=payload)
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(f"Agent {agent} is unavailable (paused, stopped, or in an error state): "
                                     f"{exc.message}", status=503, code=exc.code, body=exc.body,
                                     headers=exc.headers) from exc
        row = response.json()
        if not isinstance(row, dict):
            raise UnexpectedResponse("submit: the answer is not an object")
        task_id = row.get("task_id") or row.get("id")
        if not task_id:
            raise UnexpectedResponse("submit: the answer has no task_id")
        submitted = datetime.now(UTC).isoformat()
        self.registry.add(str(task_id), {"agent_id": str(agent), "message": message,
                                         "priority": payload.get("priority", 5), "submitted_at": submitted})
        return self.to_task({"status": "queued", **row, "task_id": task_id}, agent_id=str(agent))

    async def get_task(self, task_id: str) -> TaskDetail:
        agent = self._agent_of(task_id)
        response = await self._request("GET", self._path("status", agent, task_id))
        return self.to_task(self.parse(response), agent_id=agent, fallback_id=task_id)

    async def cancel(self, task_id: str) -> Success:
        await self._request("POST", self._path("cancel", self._agent_of(task_id), task_id))
        return Success()

    async def send_message(self, task_id: str, message: str) -> Task:
        agent = self._agent_of(task_id)
        await self._request("POST", self._path("message", agent, task_id), json={"message": message})
        return await self.get_task(task_id)

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        entries = sorted(self.registry.load().items(), key=lambda kv: kv[1].get("submitted_at", ""), reverse=True)
        chosen = entries[offset:offset + limit]
        gate = asyncio.Semaphore(8)

        async def fetch(task_id: str) -> TaskDetail | None:
            async with gate:
                try:
                    return await self.get_task(task_id)
                except NotFound:
                    return None  # the platform forgot it; it stays in the registry, and off the board

        found = [t for t in await asyncio.gather(*(fetch(tid) for tid, _ in chosen)) if t is not None]
        if status:
            wanted = {TaskStatus(s) for s in status}
            found = [t for t in found if t.status in wanted]
        return found, len(entries)

    async def health(self) -> Health:
        # No call of this API asks nothing of a task: reaching the server at all (any HTTP answer)
        # is what there is to know.
        try:
            await self._http.get("/", timeout=5.0)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"Cannot reach {self.base_url}: {exc or exc.__class__.__name__}",
                                 url=self.base_url) from exc
        return Health(version=self.dialect, revision=0, uptime_seconds=0)

    def to_task(self, row: Any, *, agent_id: str, fallback_id: str | None = None) -> TaskDetail:
        if not isinstance(row, dict):
            raise UnexpectedResponse("agent platform: a task that is not an object")
        task_id = str(row.get("task_id") or row.get("id") or fallback_id or "")
        entry = self.registry.load().get(task_id, {})
        created = utc(row.get("created_at")) or utc(entry.get("submitted_at")) or datetime.now(UTC)
        started = utc(row.get("started_at"))
        finished = utc(row.get("completed_at"))
        updated = utc(row.get("updated_at")) or finished or started or created
        message = str(row.get("message") or entry.get("message") or "")
        result = row.get("result")
        progress = row.get("progress")
        return TaskDetail(
            id=task_id, title=one_line(message) or f"task {task_id[:8]}", description=message or None,
            status=self.status(row.get("status")), priority=int(row.get("priority") or entry.get("priority") or 5),
            assigned_agent=agent_id, params=row.get("metadata") if isinstance(row.get("metadata"), dict) else None,
            result=result if isinstance(result, str) else None,
            result_data=result if result is not None and not isinstance(result, str) else None,
            error=str(row["error"]) if row.get("error") else None,
            progress=Progress(current=int(progress), total=100, percent=float(progress))
            if isinstance(progress, int | float) else None,
            created_at=created, updated_at=updated, started_at=started, finished_at=finished, source_type="agent",
        )
