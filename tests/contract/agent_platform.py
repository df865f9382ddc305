"""Seed 002's server: submit a task to an agent, get its status, message it, cancel it.

The document names no paths; this server uses the agent-platform dialect's defaults
(/api/agents/{id}/tasks...). Its example bodies are empty, so the answers here carry the fields a
reader expects: task_id, agent_id, status, message, priority, metadata, result, error, timestamps.
Errors are `{"error": ...}`, with the document's status codes (400, 401, 404, 503).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.contract.common import now_iso

FINAL = ("completed", "failed", "cancelled")


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def make_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    agents: dict[str, str] = {}  # agent id -> state (active, paused, stopped, error)
    tasks: dict[str, dict[str, Any]] = {}

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/api/") and api_key:
            header = request.headers.get("authorization", "")
            if header != f"Bearer {api_key}" and request.headers.get("x-api-key") != api_key:
                return error(401, "Invalid authentication")
        return await call_next(request)

    def find(agent_id: str, task_id: str) -> dict[str, Any] | None:
        task = tasks.get(task_id)
        return task if task and task["agent_id"] == agent_id else None

    @app.post("/api/agents/{agent_id}/tasks")
    async def submit(agent_id: str, request: Request) -> JSONResponse:
        if agent_id not in agents:
            return error(404, "Agent not found")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "Invalid request: the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
            return error(400, "Invalid request: message is required")
        priority = body.get("priority", 5)
        if not isinstance(priority, int | float) or isinstance(priority, bool) or not 1 <= priority <= 10:
            return error(400, "Invalid request: priority must be a number from 1 to 10")
        mode = body.get("callback_mode", "poll")
        if mode not in ("poll", "webhook"):
            return error(400, "Invalid request: callback_mode must be poll or webhook")
        if mode == "webhook" and not body.get("webhook_url"):
            return error(400, "Invalid request: webhook_url is required when callback_mode is webhook")
        if "metadata" in body and not isinstance(body["metadata"], dict):
            return error(400, "Invalid request: metadata must be an object")
        if agents[agent_id] != "active":
            return error(503, "Agent unavailable", agent_status=agents[agent_id])
        task_id = str(uuid.uuid4())
        stamp = now_iso()
        tasks[task_id] = {"task_id": task_id, "agent_id": agent_id, "status": "queued", "message": body["message"],
                          "priority": priority, "metadata": body.get("metadata") or {}, "result": None,
                          "error": None, "created_at": stamp, "updated_at": stamp, "completed_at": None}
        return JSONResponse(tasks[task_id], status_code=202)

    @app.get("/api/agents/{agent_id}/tasks/{task_id}")
    async def status(agent_id: str, task_id: str) -> JSONResponse:
        task = find(agent_id, task_id)
        return JSONResponse(task) if task else error(404, "Task not found")

    @app.post("/api/agents/{agent_id}/tasks/{task_id}/messages")
    async def message(agent_id: str, task_id: str, request: Request) -> JSONResponse:
        task = find(agent_id, task_id)
        if task is None:
            return error(404, "Task not found")
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
            return error(400, "Invalid request: message is required")
        if task["status"] not in ("running", "awaiting_input"):
            return error(400, f"Task is {task['status']}; messages go to running tasks")
        task.setdefault("messages", []).append(body["message"])
        if task["status"] == "awaiting_input":
            task.update(status="running", updated_at=now_iso())
        return JSONResponse({"task_id": task_id, "status": task["status"], "delivered": True})

    @app.post("/api/agents/{agent_id}/tasks/{task_id}/cancel")
    async def cancel(agent_id: str, task_id: str) -> JSONResponse:
        task = find(agent_id, task_id)
        if task is None:
            return error(404, "Task not found")
        if task["status"] in FINAL:
            return error(400, f"Task cannot be cancelled (already {task['status']})")
        stamp = now_iso()
        task.update(status="cancelled", updated_at=stamp, completed_at=stamp)
        return JSONResponse({"task_id": task_id, "status": "cancelled"})

    # -- control (not in the document): agents and the agent's side of a task
    @app.put("/_contract/agents/{agent_id}")
    async def set_agent(agent_id: str, request: Request) -> JSONResponse:
        agents[agent_id] = (await request.json()).get("state", "active")
        return JSONResponse({"id": agent_id, "state": agents[agent_id]})

    @app.patch("/_contract/tasks/{task_id}")
    async def change(task_id: str, request: Request) -> JSONResponse:
        task = tasks[task_id]
        task.update({"updated_at": now_iso(), **(await request.json())})
        if task["status"] in FINAL:
            task["completed_at"] = task["updated_at"]
        return JSONResponse(task)

    @app.get("/_contract/tasks/{task_id}")
    async def inspect(task_id: str) -> JSONResponse:
        return JSONResponse(tasks[task_id])

    return app
