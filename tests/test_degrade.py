"""Degrade, never fail: every dialect's client, fed something unexpected by each optional call the board
makes (another shape at the same path, a web page, an empty 500, a 405), still does what the server can
do, and says what it turned off and why. Each contract server is told what to answer through its
`/_quirks` route (tests/contract/__main__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskboard.client import TaskboardClient, Unsupported
from taskboard.client.dialects import Capability, make_client
from tests.server import ServerProcess

PAGE = {"status": 200, "contentType": "text/html; charset=utf-8",
        "body": "<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head></html>"}
HTML_404 = {**PAGE, "status": 404}
EMPTY_500 = {"status": 500, "body": ""}
EMPTY_405 = {"status": 405, "body": ""}


def other_shape(body: str) -> dict[str, Any]:
    return {"status": 200, "contentType": "application/json", "body": body}


def quirk(server: ServerProcess, path: str, answer: dict[str, Any]) -> None:
    httpx.post(server.url + "/_quirks", json={"path": path, **answer}).raise_for_status()


def control(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body)
    response.raise_for_status()
    return response.json()


async def board_calls(client: Any, task_id: str) -> list[str]:
    """What the board asks of a server when it opens and shows a task; the log tail's first lines."""
    page = await client.list_summaries(limit=500, sort="-created")
    assert task_id in {t.id for t in page.items}
    await client.list_permissions(status="pending")
    await client.list_projects()
    await client.runtimes()
    detail = await client.get_task(task_id)
    assert detail.id == task_id
    await client.siblings(task_id)
    await client.provenance(task_id)
    await client.list_messages(task_id)
    lines: list[str] = []
    with contextlib.suppress(Unsupported):  # a log stream turned off says so (the pane shows the reason)
        async with contextlib.aclosing(client.stream_log_batches(task_id)) as batches:
            batch = await asyncio.wait_for(anext(batches), 15)
            lines = [entry.message for entry in batch]
    return lines


async def test_taskboard_dialect_on_a_server_answering_otherwise(
        server: ServerProcess, contract_server: Callable[..., ServerProcess]) -> None:
    plain = contract_server("plain-seed-001", upstream=server.url)
    async with TaskboardClient(server.url) as native:
        task = await native.create_task(title="degrade me")
    quirk(plain, "/api/permissions", other_shape('{"permissions": ["Write"]}'))  # Stagent's rules at our path
    quirk(plain, "/api/projects", HTML_404)
    quirk(plain, "/api/runtimes", EMPTY_500)
    quirk(plain, f"/api/tasks/{task.id}/siblings", HTML_404)
    quirk(plain, f"/api/tasks/{task.id}/provenance", PAGE)
    quirk(plain, f"/api/tasks/{task.id}/messages", EMPTY_405)
    quirk(plain, f"/api/tasks/{task.id}/logs", PAGE)
    async with make_client("taskboard", plain.url) as client:
        await board_calls(client, task.id)
        assert not client.can(Capability.RESPOND) and not client.can(Capability.LOG_STREAM)
        assert "GET /api/permissions" in (client.why_not(Capability.RESPOND) or "")
        said = " ".join(client.degraded.values())
        for what in ("Projects", "The runtime list", "Workflow siblings", "Provenance", "The conversation",
                     "The log stream"):
            assert what in client.degraded, (what, said)
        assert "<html" not in said.lower() and "a web page (404: This page could not be found.)" in said
        # What the server can do still works.
        await client.update_task(task.id, priority=0)
        assert (await client.get_task(task.id)).priority == 0


async def test_stagent_dialect_on_a_server_answering_otherwise(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("stagent")
    task = control(server, "POST", "/api/tasks", {"title": "degrade me", "description": "plain"})
    control(server, "PATCH", f"/api/tasks/{task['id']}", {"status": "queued"})
    control(server, "POST", f"/api/tasks/{task['id']}/execute")
    quirk(server, "/api/notifications/pending-approvals", PAGE)
    quirk(server, "/api/notifications", EMPTY_500)
    quirk(server, "/api/projects", other_shape('{"projects": []}'))
    quirk(server, f"/api/tasks/{task['id']}/provenance", HTML_404)
    quirk(server, f"/api/tasks/{task['id']}/logs", other_shape("[]"))
    async with make_client("stagent", server.url, poll_interval=0.5) as client:
        lines = await board_calls(client, task["id"])
        assert lines and lines[0].startswith("status: ")  # the polled log, in place of the stream
        for capability in (Capability.RESPOND, Capability.MESSAGE, Capability.LOG_STREAM):
            assert not client.can(capability) and client.why_not(capability)
        assert {"projects", "Provenance"} <= client.degraded.keys()
        await client.cancel(task["id"])
        assert (await client.get_task(task["id"])).status == "cancelled"


async def test_cortex_result_answering_a_web_page(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("cortex")
    control(server, "POST", "/_contract/tasks", {"task_id": "task_b", "status": "completed", "result": {"n": 1}})
    quirk(server, "/api/tasks/task_b/result", PAGE)
    async with make_client("cortex", server.url) as client:
        await board_calls(client, "task_b")
        assert "Results" in client.degraded and "a web page" in client.degraded["Results"]


async def test_background_tasks_progress_answering_a_web_page(contract_server: Callable[..., ServerProcess]) -> None:
    server = contract_server("background-tasks")
    settings = {"workspace_id": str(uuid.uuid4()), "conversation_id": str(uuid.uuid4())}
    async with make_client("background-tasks", server.url, poll_interval=0.5, **settings) as client:
        task = await client.create_task(description="Synthesize the sources")
        quirk(server, f"/api/tasks/{task.id}/progress", HTML_404)
        lines = await board_calls(client, task.id)
        assert lines and lines[0].startswith("status: ")  # polled instead
        assert "The progress stream" in (client.why_not(Capability.LOG_STREAM) or "")


@pytest.mark.parametrize("name", ["v1-envelope", "agent-platform"])
async def test_dialects_whose_board_calls_ask_nothing_optional(name: str, tmp_path: Path,
                                                              contract_server: Callable[..., ServerProcess]) -> None:
    """These APIs have no optional calls: what the board asks beyond tasks is answered without a request,
    so web pages at every other path change nothing."""
    server = contract_server(name, api_key="jwt" if name == "agent-platform" else None)
    for path in ("/", "/api/health", "/api/permissions", "/api/projects", "/api/runtimes", "/api/events"):
        quirk(server, path, EMPTY_500 if path == "/" else PAGE)
    if name == "v1-envelope":
        control(server, "POST", "/_contract/tasks", {"status": "running", "progress": 10})
        async with make_client(name, server.url, poll_interval=0.5) as client:
            assert (await board_calls(client, "1"))[0] == "status: running"
            assert client.degraded == {}
        return
    control(server, "PUT", "/_contract/agents/agent-1", {"state": "active"})
    settings = {"agent_id": "agent-1", "registry_path": str(tmp_path / "registry.json")}
    async with make_client(name, server.url, "jwt", poll_interval=0.5, **settings) as client:
        task = await client.create_task(message="Analyze the graph")
        await client.health()  # any answer at / means the server is there
        assert (await board_calls(client, task.id))[0].startswith("status: ")
        assert client.degraded == {}


async def test_run_on_a_server_without_spawn_creates_queues_and_executes(
        server: ServerProcess, contract_server: Callable[..., ServerProcess]) -> None:
    """Seed 001 has no /spawn: `run` (and the form's "start now") falls back to create, queue, execute."""
    from tests.test_cli import as_json, taskboard

    plain = contract_server("plain-seed-001", upstream=server.url)
    started = as_json(taskboard("run", "started without spawn", "--params",
                                '{"steps": 100000, "stepSeconds": 0.2, "costPerStepMicros": 0}',
                                "--url", plain.url, "--json"))
    assert started["status"] in ("running", "queued")
    async with TaskboardClient(server.url) as native:
        assert (await native.get_task(started["id"])).status in ("running", "queued")
        await native.cancel(started["id"])


async def test_no_web_page_is_ever_printed(contract_server: Callable[..., ServerProcess]) -> None:
    """A web server that is not a task API: one line (status, content type, the page's title), never its HTML."""
    from tests.test_cli import taskboard

    web = contract_server("cortex")
    quirk(web, "/api/tasks", HTML_404)
    for dialect in ("auto", "taskboard", "stagent"):
        result = taskboard("ls", "--url", web.url, "--dialect", dialect)
        assert result.returncode != 0 and "<" not in result.stderr + result.stdout, (dialect, result.stderr)
        assert "a web page (404: This page could not be found.)" in result.stderr, (dialect, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
