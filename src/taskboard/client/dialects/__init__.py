"""One client per task API: the native one and adapters for the other four documents.

    taskboard          the bundled backend (seed 001 and its additions; a plain seed-001 server too)
    background-tasks   seed 000: spawn/list/get/cancel by workspace, a progress stream
    agent-platform     seed 002: submit to an agent, status, message, cancel (a local registry lists them)
    v1-envelope        seed 003: /api/v1/tasks in a {code, message, data} envelope
    cortex             seed 004: list/status/result/cancel by DELETE/cleanup, X-API-Key

Every client has the TaskboardClient interface and a capability set; `make_client` builds one
from a dialect name and its settings, `detect_dialect` probes a URL for `auto`.
"""

from __future__ import annotations

from typing import Any

import httpx

from taskboard.client.dialects.agent_platform import AgentPlatformClient
from taskboard.client.dialects.background_tasks import BackgroundTasksClient
from taskboard.client.dialects.base import (
    ALL_CAPABILITIES,
    MIN_POLL_INTERVAL,
    Capability,
    Capable,
    DialectClient,
)
from taskboard.client.dialects.cortex import CortexClient
from taskboard.client.dialects.v1_envelope import V1EnvelopeClient
from taskboard.client.errors import ConnectionLost

# The native client lives in taskboard.client.client, which imports this package; see client_class.
ADAPTERS: dict[str, type[DialectClient]] = {
    "background-tasks": BackgroundTasksClient,
    "agent-platform": AgentPlatformClient,
    "v1-envelope": V1EnvelopeClient,
    "cortex": CortexClient,
}
DIALECTS = ("taskboard", *ADAPTERS)

# The settings each dialect takes beyond url, api_key and poll_interval.
DIALECT_SETTINGS: dict[str, frozenset[str]] = {
    "taskboard": frozenset(),
    "background-tasks": frozenset({"workspace_id", "conversation_id", "task_type"}),
    "agent-platform": frozenset({"agent_id", "paths", "registry_path", "auth_header"}),
    "v1-envelope": frozenset({"project_id", "list_limit"}),
    "cortex": frozenset(),
}


def client_class(dialect: str) -> type[Any]:
    if dialect == "taskboard":
        from taskboard.client.client import TaskboardClient

        return TaskboardClient
    try:
        return ADAPTERS[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}") from None


def make_client(dialect: str, url: str, api_key: str | None = None, *, poll_interval: float | None = None,
                **settings: Any) -> Any:
    """A client for `url` speaking `dialect` (not `auto`: see detect_dialect)."""
    cls = client_class(dialect)
    unknown = set(settings) - DIALECT_SETTINGS[dialect]
    if unknown:
        raise ValueError(f"the {dialect} dialect has no setting {', '.join(sorted(unknown))}")
    client = cls(url, api_key, **settings)
    if poll_interval:
        client.poll_interval = max(MIN_POLL_INTERVAL, poll_interval)
    return client


async def detect_dialect(url: str, api_key: str | None = None, *, timeout: float = 5.0) -> tuple[str, str]:
    """Which API answers at `url`: (dialect, what was seen). The agent platform has no call that can
    be probed without a task, so it is never detected; name it in the context."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as http:
        try:
            health = await http.get("/api/health")
            if health.status_code == 200 and isinstance(_json(health), dict) and "revision" in _json(health):
                return "taskboard", "GET /api/health answered with a revision: the bundled taskboard backend"
            v1 = await http.get("/api/v1/tasks", params={"limit": 1})
            body = _json(v1)
            if isinstance(body, dict) and {"code", "message", "data"} <= body.keys():
                return "v1-envelope", "GET /api/v1/tasks answered with a {code, message, data} envelope"
            tasks = await http.get("/api/tasks", params={"limit": 1})
            body = _json(tasks)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"Cannot reach {url}: {exc or exc.__class__.__name__}", url=url) from exc
    if isinstance(body, list):
        if body and isinstance(body[0], dict) and "task_id" in body[0]:
            return "cortex", "GET /api/tasks answered with a list of tasks keyed by task_id"
        if body and isinstance(body[0], dict) and "title" in body[0]:
            return "taskboard", "GET /api/tasks answered with seed-001 tasks (a plain seed-001 server)"
        return "cortex", "GET /api/tasks answered with a bare list (no tasks yet to tell more)"
    text = tasks.text
    if tasks.status_code in (400, 422) and "workspace_id" in text:
        return "background-tasks", "GET /api/tasks asked for a workspace_id"
    if isinstance(body, dict) and "tasks" in body and "total" in body:
        return "background-tasks", "GET /api/tasks answered with {tasks, total}"
    raise ValueError(f"No known task API answers at {url} (GET /api/tasks: HTTP {tasks.status_code}); "
                     "name the dialect in the context")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


__all__ = [
    "ADAPTERS",
    "ALL_CAPABILITIES",
    "DIALECTS",
    "AgentPlatformClient",
    "BackgroundTasksClient",
    "Capability",
    "Capable",
    "CortexClient",
    "DialectClient",
    "V1EnvelopeClient",
    "client_class",
    "detect_dialect",
    "make_client",
]
