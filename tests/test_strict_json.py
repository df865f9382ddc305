"""Strict JSON on every way in and out (issue 19, findings 9, 14 and 15; SECURITY.md "Strict JSON").

NaN, Infinity and 1e400 are refused with the same 400 body wherever they come in (task bodies, PATCH,
spawn, workflow step params, updatedInput, the shell line protocol); nothing is stored; and every
response the server sends afterwards parses with a strict parser.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from taskboard.client import TaskboardClient
from taskboard_backend.strictjson import MAX_JSON_DEPTH
from tests.helpers import start_task, wait_for_status, wait_until

NOT_JSON = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def strict(text: str | bytes) -> Any:
    """A parser as strict as a browser's JSON.parse about numbers."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"not strict JSON: {name}")

    def finite(text: str) -> float:
        value = float(text)
        assert value not in (float("inf"), float("-inf")), f"not strict JSON: {text}"
        return value

    return json.loads(text, parse_constant=refuse, parse_float=finite)


def refusal(number: str) -> dict:
    reason = (f"{number} is not a JSON number" if number.lstrip("-").isalpha()
              else f"{number} is out of range for a JSON number")
    return {"error": {"formErrors": [f"Invalid JSON body: {reason}"], "fieldErrors": {}}, "code": "validation_error"}


@pytest.fixture
async def http(server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        yield c


async def total(http: httpx.AsyncClient) -> int:
    return int((await http.get("/api/tasks", params={"limit": 1})).headers["x-total-count"])


@pytest.mark.parametrize("number", NOT_JSON)
@pytest.mark.parametrize(("method", "path", "template"), [
    ("POST", "/api/tasks", '{"title": "x", "params": {"n": %s}}'),
    ("POST", "/api/tasks/spawn", '{"title": "x", "params": {"deep": [1, {"n": %s}]}}'),
    ("POST", "/api/workflows", '{"name": "w", "start": false, "steps": [{"title": "s", "params": {"n": %s}}]}'),
    ("POST", "/api/tasks", '{"title": "x", "priority": %s}'),
    ("POST", "/api/tasks/cleanup", '{"olderThanHours": %s}'),
])
async def test_non_finite_numbers_are_refused_in_every_body(http: httpx.AsyncClient, method: str, path: str,
                                                          template: str, number: str) -> None:
    before = await total(http)
    response = await http.request(method, path, content=(template % number).encode(),
                                  headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert strict(response.text) == refusal(number)
    assert await total(http) == before  # nothing was created


async def test_patch_and_respond_refuse_them_too(http: httpx.AsyncClient, client: TaskboardClient) -> None:
    task = await start_task(client, "asks", params={"steps": 3, "stepSeconds": 0.01, "permission": {
        "tool": "Write", "input": {"file_path": "/reports/a.md", "content": "x"}, "atStep": 1}})

    async def pending() -> Any:
        found = await client.list_permissions("pending", task_id=task.id)
        return found[0] if found else None
    request = await wait_until(pending)
    patched = await http.patch(f"/api/tasks/{task.id}", content=b'{"priority": NaN}',
                               headers={"content-type": "application/json"})
    assert patched.status_code == 400 and strict(patched.text) == refusal("NaN")
    answered = await http.post(f"/api/tasks/{task.id}/respond", content=json.dumps(
        {"notificationId": request.id, "behavior": "allow"}).replace("}", ', "updatedInput": {"file_path": 1e400}}')
        .encode(), headers={"content-type": "application/json"})
    assert answered.status_code == 400 and strict(answered.text) == refusal("1e400")
    # Nothing changed: the request is still pending, and answering it properly works.
    assert [p.id for p in await client.list_permissions("pending", task_id=task.id)] == [request.id]
    await client.respond(task.id, request.id, "allow")
    await wait_for_status(client, task.id, "completed")
    logs = [e.message async for e in client.stream_logs(task.id)]
    assert "Task completed" in logs


async def test_the_shell_protocol_refuses_them(http: httpx.AsyncClient, client: TaskboardClient) -> None:
    lines = [
        '::taskboard {"type":"permission","tool":"Write","input":{"file_path":NaN}}',
        '::taskboard {"type":"progress","current":Infinity,"total":2}',
        '::taskboard {"type":"result","data":{"x":1e400}}',
    ]
    command = "; ".join(f"echo '{line}'" for line in lines)
    task = await start_task(client, "protocol", assigned_agent="shell", params={"command": command})
    done = await wait_for_status(client, task.id, "completed", "failed")
    assert done.status == "completed"
    logs = [e.message async for e in client.stream_logs(task.id)]
    refused = [m for m in logs if m.startswith("Protocol line refused: not strict JSON")]
    assert len(refused) == 3, logs
    # The inbox stays readable for everyone (it answered 500 once a NaN input was stored).
    inbox = await http.get("/api/permissions", params={"status": "pending"})
    assert inbox.status_code == 200
    strict(inbox.text)
    assert strict((await http.get(f"/api/tasks/{task.id}")).text).get("resultData") is None


async def test_everything_the_server_sends_parses_strictly(http: httpx.AsyncClient, client: TaskboardClient) -> None:
    """After a run that logged, asked, used floats and finished, every kind of response is strict JSON."""
    task = await start_task(client, "floats", params={"steps": 3, "stepSeconds": 0.01, "ratio": 0.1, "big": 1e300})
    await wait_for_status(client, task.id, "completed")
    for path in ("/api/tasks", f"/api/tasks?status=completed&view=summary", f"/api/tasks/{task.id}",
                 f"/api/tasks/{task.id}/output", f"/api/tasks/{task.id}/result", f"/api/tasks/{task.id}/messages",
                 "/api/tasks/stats", "/api/permissions", "/api/permissions/rules", "/api/runtimes",
                 "/api/health", "/api/projects", "/api/workflows", "/openapi.json", "/api/nope"):
        response = await http.get(path)
        strict(response.text)
    for path in (f"/api/tasks/{task.id}/logs", f"/api/tasks/{task.id}/progress"):
        body = (await http.get(path)).text
        datas = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
        assert datas and all(strict(d) is not None for d in datas)
    # The watch stream never ends by itself: its replay of this task's changes is read, then it is closed.
    since = task.revision - 1 if task.revision else 0
    async with http.stream("GET", "/api/events", params={"since": since}) as watch:
        seen = ""
        async for chunk in watch.aiter_text():
            seen += chunk
            if f'"taskId":"{task.id}"' in seen and seen.endswith("\n\n"):
                break
    datas = [line[6:] for line in seen.splitlines() if line.startswith("data: ")]
    assert datas and all(strict(d) is not None for d in datas)


@pytest.mark.parametrize("stream", ["logs", "progress"])
async def test_a_last_event_id_past_any_integer_ends_the_stream_cleanly(server, http: httpx.AsyncClient,
                                                                       client: TaskboardClient, stream: str) -> None:
    task = await start_task(client, "done", params={"steps": 1, "stepSeconds": 0.01})
    await wait_for_status(client, task.id, "completed")
    seen = len(server.output)
    response = await http.get(f"/api/tasks/{task.id}/{stream}", headers={"Last-Event-ID": "9223372036854775808"})
    assert response.status_code == 200
    assert response.text.rstrip().splitlines()[-2:] == ["event: end",
                                                       f'data: {{"taskId": "{task.id}", "status": "completed"}}']
    assert "Traceback" not in "".join(server.output[seen:])


async def test_params_deeper_than_the_limit_are_refused_and_the_list_stays_readable(
        http: httpx.AsyncClient, client: TaskboardClient) -> None:
    def nested(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = {"a": value}
        return value

    deepest = MAX_JSON_DEPTH - 1  # the body itself is one level
    ok = await http.post("/api/tasks", json={"title": "deep", "params": nested(deepest)})
    assert ok.status_code == 201
    before = await total(http)
    for levels in (deepest + 1, 500):
        refused = await http.post("/api/tasks", json={"title": "too deep", "params": nested(levels)})
        assert refused.status_code == 400
        assert refused.json() == {"error": {"formErrors": [
            f"Invalid JSON body: nested deeper than {MAX_JSON_DEPTH} levels"], "fieldErrors": {}},
            "code": "validation_error"}
    assert await total(http) == before
    # What was accepted, the client reads back: in a list page, and on its own.
    page = await client.list_tasks(q="deep", limit=1000)
    assert ok.json()["id"] in {t.id for t in page.items}
    assert (await client.get_task(ok.json()["id"])).params == nested(deepest)
