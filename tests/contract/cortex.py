"""Seed 004's server: Cortex background tasks behind X-API-Key.

The document shows no list body, no error bodies and no cleanup answer; this server answers as a
FastAPI service would: a JSON list, `{"detail": ...}` errors, `{"deleted": n}`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.contract.common import now_iso

FIELDS = ("task_id", "task_type", "status", "progress_percent", "message", "created_at", "updated_at")


def make_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    tasks: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {}

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Any:
        if api_key and not request.url.path.startswith("/_contract") and request.headers.get("x-api-key") != api_key:
            return JSONResponse({"detail": "Invalid or missing API key"}, status_code=401)
        return await call_next(request)

    def view(task: dict[str, Any]) -> dict[str, Any]:
        return {k: task[k] for k in FIELDS}

    @app.get("/api/tasks")
    async def list_tasks() -> JSONResponse:
        return JSONResponse([view(t) for t in tasks.values()])

    @app.get("/api/tasks/{task_id}")
    async def status(task_id: str) -> JSONResponse:
        task = tasks.get(task_id)
        return JSONResponse(view(task)) if task else JSONResponse({"detail": "Task not found"}, status_code=404)

    @app.get("/api/tasks/{task_id}/result")
    async def result(task_id: str) -> JSONResponse:
        task = tasks.get(task_id)
        if task is None:
            return JSONResponse({"detail": "Task not found"}, status_code=404)
        if task["status"] != "completed":
            return JSONResponse({"detail": f"Task is {task['status']}; results are available once completed"},
                                status_code=400)
        return JSONResponse(results.get(task_id))

    @app.delete("/api/tasks/{task_id}")
    async def cancel(task_id: str) -> JSONResponse:
        task = tasks.get(task_id)
        if task is None:
            return JSONResponse({"detail": "Task not found"}, status_code=404)
        if task["status"] not in ("pending", "running"):
            return JSONResponse({"detail": f"Task is already {task['status']}"}, status_code=400)
        task.update(status="cancelled", updated_at=now_iso())
        return JSONResponse(view(task))

    @app.post("/api/tasks/cleanup")
    async def cleanup() -> JSONResponse:
        cutoff = datetime.now(UTC) - timedelta(hours=24)
        old = [k for k, t in tasks.items() if t["status"] in ("completed", "failed")
               and datetime.fromisoformat(t["updated_at"]) < cutoff]
        for key in old:
            tasks.pop(key)
            results.pop(key, None)
        return JSONResponse({"deleted": len(old)})

    # -- control (not in the document): the operations that spawn tasks
    @app.post("/_contract/tasks")
    async def add(request: Request) -> JSONResponse:
        fields = await request.json()
        task_id = fields.pop("task_id", None) or f"task_{len(tasks) + 1:06x}"
        result_value = fields.pop("result", None)
        stamp = now_iso()
        tasks[task_id] = {"task_id": task_id, "task_type": "community_detection", "status": "pending",
                          "progress_percent": 0, "message": "Queued", "created_at": stamp, "updated_at": stamp,
                          **fields}
        if result_value is not None:
            results[task_id] = result_value
        return JSONResponse(tasks[task_id], status_code=201)

    @app.patch("/_contract/tasks/{task_id}")
    async def change(task_id: str, request: Request) -> JSONResponse:
        fields = await request.json()
        if "result" in fields:
            results[task_id] = fields.pop("result")
        tasks[task_id].update({"updated_at": now_iso(), **fields})
        return JSONResponse(tasks[task_id])

    return app
