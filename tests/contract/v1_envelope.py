"""Seed 003's server: /api/v1/tasks in a {code, message, data} envelope, integer ids.

Errors carry the same envelope, with the HTTP status equal to `code` (the document's table lists
400 and 404 as codes; it is silent on the HTTP status, and the usual server sends the same).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.contract.common import now_iso

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
LIST_FIELDS = ("id", "project_id", "task_type", "status", "progress", "total", "created_at")


def envelope(code: int, message: str, data: Any = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": data}, status_code=code)


def make_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    tasks: dict[int, dict[str, Any]] = {}

    def find(task_id: str) -> dict[str, Any] | None:
        return tasks.get(int(task_id)) if task_id.isdigit() else None

    @app.get("/api/v1/tasks")
    async def list_tasks(request: Request) -> JSONResponse:
        query = request.query_params
        rows = list(tasks.values())
        if "project_id" in query:
            if not query["project_id"].lstrip("-").isdigit():
                return envelope(400, "project_id must be an integer")
            rows = [t for t in rows if t["project_id"] == int(query["project_id"])]
        if "status" in query:
            if query["status"] not in STATUSES:
                return envelope(400, f"Invalid status: {query['status']}")
            rows = [t for t in rows if t["status"] == query["status"]]
        limit = query.get("limit", "50")
        if not limit.isdigit() or int(limit) < 1:
            return envelope(400, "limit must be a positive integer")
        rows.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        return envelope(200, "success", [{k: t[k] for k in LIST_FIELDS} for t in rows[: int(limit)]])

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: str) -> JSONResponse:
        task = find(task_id)
        return envelope(200, "success", task) if task else envelope(404, "Task not found")

    @app.post("/api/v1/tasks/{task_id}/cancel")
    async def cancel(task_id: str) -> JSONResponse:
        task = find(task_id)
        if task is None:
            return envelope(404, "Task not found")
        if task["status"] not in ("pending", "running"):
            return envelope(400, f"Cannot cancel task (already {task['status']})")
        task.update(status="cancelled", completed_at=now_iso(naive=True))
        return envelope(200, "Task cancelled")

    # -- control (not in the document): the pipelines' side
    @app.post("/_contract/tasks")
    async def add(request: Request) -> JSONResponse:
        fields = await request.json()
        task_id = max(tasks, default=0) + 1
        tasks[task_id] = {"id": task_id, "project_id": 1, "task_type": "search", "status": "pending",
                          "progress": 0, "total": 100, "params": {}, "result": None, "error_message": "",
                          "created_at": now_iso(naive=True), "started_at": None, "completed_at": None, **fields}
        return JSONResponse(tasks[task_id], status_code=201)

    @app.patch("/_contract/tasks/{task_id}")
    async def change(task_id: int, request: Request) -> JSONResponse:
        tasks[task_id].update(await request.json())
        return JSONResponse(tasks[task_id])

    return app
