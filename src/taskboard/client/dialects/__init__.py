"""One client per task API: the native one and adapters for the other four documents.

    taskboard          the bundled backend (seed 001 and its additions; a plain seed-001 server too)
    background-tasks   seed 000: spawn/list/get/cancel by workspace, a progress stream
    agent-platform     seed 002: submit to an agent, status, message, cancel (a local registry lists them)
    v1-envelope        seed 003: /api/v1/tasks in a {code, message, data} envelope
    cortex             seed 004: list/status/result/cancel by DELETE/cleanup, X-API-Key
    stagent            the real server seed 001 comes from, as it answers (notifications, its log stream)

Every client has the TaskboardClient interface and a capability set; `make_client` builds one
from a dialect name and its settings, `detect_dialect` probes a URL for `auto`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx

from taskboard.client.base import (
    ALL_CAPABILITIES,
    MIN_POLL_INTERVAL,
    Capability,
    Capable,
    TaskSource,
)
from taskboard.client.dialects.agent_platform import AgentPlatformClient
from taskboard.client.dialects.background_tasks import BackgroundTasksClient
from taskboard.client.dialects.base import DialectClient
from taskboard.client.dialects.cortex import CortexClient
from taskboard.client.dialects.stagent import StagentClient
from taskboard.client.dialects.v1_envelope import V1EnvelopeClient
from taskboard.client.errors import ConnectionLost

# The native client lives in taskboard.client.client, which imports this package; see client_class.
ADAPTERS: dict[str, type[DialectClient]] = {
    "background-tasks": BackgroundTasksClient,
    "agent-platform": AgentPlatformClient,
    "v1-envelope": V1EnvelopeClient,
    "cortex": CortexClient,
    "stagent": StagentClient,
}
DIALECTS = ("taskboard", *ADAPTERS)

# The settings each dialect takes beyond url, api_key and poll_interval.
DIALECT_SETTINGS: dict[str, frozenset[str]] = {
    "taskboard": frozenset(),
    "background-tasks": frozenset({"workspace_id", "conversation_id", "task_type"}),
    "agent-platform": frozenset({"agent_id", "paths", "registry_path", "auth_header"}),
    "v1-envelope": frozenset({"project_id", "list_limit"}),
    "cortex": frozenset(),
    "stagent": frozenset(),
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
                **settings: Any) -> TaskSource:
    """A client for `url` speaking `dialect` (not `auto`: see detect_dialect)."""
    cls = client_class(dialect)
    unknown = set(settings) - DIALECT_SETTINGS[dialect]
    if unknown:
        raise ValueError(f"the {dialect} dialect has no setting {', '.join(sorted(unknown))}")
    client = cls(url, api_key, **settings)
    if poll_interval:
        client.poll_interval = max(MIN_POLL_INTERVAL, poll_interval)
    made: TaskSource = client
    return made


class Detection(NamedTuple):
    dialect: str
    seen: str  # what gave it away, in words
    certain: bool = True  # False: a guess from an empty server, to be checked again when tasks appear


async def detect_dialect(url: str, api_key: str | None = None, *,
                         timeout: float = 20.0) -> Detection:  # noqa: ASYNC109 - httpx's per-request timeout
    """Which API answers at `url`, and what was seen. An empty list alone proves nothing: the other
    routes are asked too (Stagent answers /api/profiles; Next.js's 404 is a web page), and a guess is
    marked uncertain. The agent platform has no call that can be probed without a task, so it is never
    detected; name it in the context."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as http:
        try:
            health = await http.get("/api/health")
            if health.status_code == 200 and isinstance(_json(health), dict) and "revision" in _json(health):
                return Detection("taskboard", "GET /api/health answered with a revision: the bundled taskboard backend")
            v1 = await http.get("/api/v1/tasks", params={"limit": 1})
            body = _json(v1)
            if isinstance(body, dict) and {"code", "message", "data"} <= body.keys():
                return Detection("v1-envelope", "GET /api/v1/tasks answered with a {code, message, data} envelope")
            tasks = await http.get("/api/tasks", params={"limit": 1})
            body = _json(tasks)
            if isinstance(body, list) and not body:
                return await _detect_empty(http, health)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"Cannot reach {url}: {exc or exc.__class__.__name__}", url=url) from exc
    if isinstance(body, list):
        first = body[0] if isinstance(body[0], dict) else {}
        if "task_id" in first:
            return Detection("cortex", "GET /api/tasks answered with a list of tasks keyed by task_id")
        if "title" in first and "sessionId" in first and "resumeCount" in first:
            return Detection("stagent", "GET /api/tasks answered with Stagent's tasks (sessionId, resumeCount)")
        if "title" in first:
            return Detection("taskboard", "GET /api/tasks answered with seed-001 tasks (a plain seed-001 server)")
        return Detection("cortex", "GET /api/tasks answered with a list of unknown rows", certain=False)
    text = tasks.text
    if tasks.status_code in (400, 422) and "workspace_id" in text:
        return Detection("background-tasks", "GET /api/tasks asked for a workspace_id")
    if isinstance(body, dict) and "tasks" in body and "total" in body:
        return Detection("background-tasks", "GET /api/tasks answered with {tasks, total}")
    raise ValueError(f"No known task API answers at {url} (GET /api/tasks: {describe_answer(tasks)}); "
                     "name the dialect in the context")


async def _detect_empty(http: httpx.AsyncClient, health: httpx.Response) -> Detection:
    """GET /api/tasks answered [] : look for more before saying which API this is."""
    profiles = await http.get("/api/profiles")
    if profiles.status_code == 200 and isinstance(_json(profiles), list):
        return Detection("stagent", "GET /api/tasks answered [] and GET /api/profiles a list of agent profiles: "
                                    "Stagent")
    notifications = await http.get("/api/notifications", params={"countOnly": "true"})
    if isinstance(_json(notifications), dict) and "count" in _json(notifications):
        return Detection("stagent", "GET /api/tasks answered [] and /api/notifications a count: Stagent")
    page = health.text if "text/html" in health.headers.get("content-type", "") else ""
    if "__next" in page or "next-error" in page:
        return Detection("stagent", "GET /api/tasks answered [] and unknown paths a Next.js page: Stagent",
                         certain=False)
    missing = _json(health)
    if isinstance(missing, dict) and isinstance(missing.get("error"), str):
        return Detection("taskboard", "GET /api/tasks answered [] and unknown paths seed 001's {error} body: "
                                      "a plain seed-001 server, to be checked again when tasks appear", certain=False)
    return Detection("cortex", "GET /api/tasks answered [] and nothing else told more: taken for cortex until "
                               "tasks appear", certain=False)


def describe_answer(response: httpx.Response) -> str:
    """An answer in one line: status, content type and what it is (never a page's raw HTML)."""
    from taskboard.client.errors import summary_of_body

    kind = response.headers.get("content-type", "").partition(";")[0] or "no content type"
    return f"HTTP {response.status_code}, {kind}" + (f", {summary}" if (summary := summary_of_body(response)) else "")


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
    "Detection",
    "DialectClient",
    "StagentClient",
    "TaskSource",
    "V1EnvelopeClient",
    "client_class",
    "detect_dialect",
    "make_client",
]
