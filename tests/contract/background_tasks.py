"""Seed 000's server: Background Tasks (spawn, list by workspace, get, cancel) and the progress stream.

The document leaves the error bodies and the progress page out; this server answers as the FastAPI
service it reads like: `{"detail": ...}` errors, 422 for a body or query that does not validate, and
progress events `event: progress` with JSON data {status, phase, progress, message}.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from tests.contract.common import Changes, now_iso

FINAL = ("completed", "failed", "cancelled")


class Spawn(BaseModel):
    workspace_id: uuid.UUID
    conversation_id: uuid.UUID
    task_type: str
    prompt: str
    target_document_id: uuid.UUID | None = None


def make_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    tasks: dict[str, dict[str, Any]] = {}
    progress: dict[str, dict[str, Any]] = {}
    changes = Changes()

    def not_found() -> JSONResponse:
        return JSONResponse({"detail": "Task not found"}, status_code=404)

    @app.post("/api/tasks/spawn", status_code=201)
    async def spawn(body: Spawn) -> dict[str, Any]:
        task_id = str(uuid.uuid4())
        tasks[task_id] = {
            "id": task_id, "workspace_id": str(body.workspace_id), "conversation_id": str(body.conversation_id),
            "task_type": body.task_type, "prompt": body.prompt, "status": "pending", "result_summary": None,
            "result_data": None, "error": None, "created_at": now_iso(), "started_at": None, "completed_at": None,
        }
        if body.target_document_id:
            tasks[task_id]["target_document_id"] = str(body.target_document_id)
        progress[task_id] = {"status": "pending", "phase": "queued", "progress": 0, "message": "Task created"}
        changes.notify()
        return tasks[task_id]

    @app.get("/api/tasks")
    async def list_tasks(workspace_id: uuid.UUID,
                         status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None,
                         limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        rows = [t for t in tasks.values() if t["workspace_id"] == str(workspace_id)
                and (status is None or t["status"] == status)]
        rows.sort(key=lambda t: t["created_at"], reverse=True)
        return {"tasks": rows[offset:offset + limit], "total": len(rows)}

    @app.get("/api/tasks/{task_id}")
    async def get_task(task_id: str) -> Any:
        return tasks.get(task_id) or not_found()

    @app.post("/api/tasks/{task_id}/cancel")
    async def cancel(task_id: str) -> Any:
        task = tasks.get(task_id)
        if task is None:
            return not_found()
        if task["status"] in ("completed", "failed"):
            return JSONResponse({"detail": f"Task is {task['status']} and cannot be cancelled"}, status_code=400)
        if task["status"] == "pending" or task["status"] == "running":
            task.update(status="cancelled", completed_at=now_iso())
            progress[task_id] = {"status": "cancelled", "phase": "cancelled", "message": "Cancelled by user"}
            changes.notify()
        return task

    @app.get("/api/tasks/{task_id}/progress")
    async def stream(task_id: str, request: Request) -> Any:
        if task_id not in tasks:
            return not_found()

        async def events() -> AsyncIterator[str]:
            number = int(request.headers.get("last-event-id") or 0)
            last: dict[str, Any] | None = None
            while True:
                current = dict(progress[task_id])
                if current != last:
                    last = current
                    number += 1
                    yield f"id: {number}\nevent: progress\ndata: {json.dumps(current)}\n\n"
                    if current.get("status") in FINAL:
                        return
                await changes.wait(1.0)

        return StreamingResponse(events(), media_type="text/event-stream")

    # -- control (not in the document): the agent's side
    @app.patch("/_contract/tasks/{task_id}")
    async def change(task_id: str, request: Request) -> JSONResponse:
        fields = await request.json()
        event = {k: fields.pop(k) for k in ("phase", "progress", "message") if k in fields}
        task = tasks[task_id]
        task.update(fields)
        if fields.get("status") == "running" and not task["started_at"]:
            task["started_at"] = now_iso()
        if fields.get("status") in FINAL:
            task["completed_at"] = now_iso()
        progress[task_id] = {"status": task["status"], **event}
        if task.get("error"):
            progress[task_id]["error"] = task["error"]
        changes.notify()
        return JSONResponse(task)

    return app
