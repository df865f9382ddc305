"""Bad input of every kind gets the documented 4xx and a clear body; never a 500, never `detail`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from taskboard.client import TaskboardClient, Unauthorized


@pytest.fixture
async def http(server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        yield c


def zod(response: httpx.Response) -> tuple[list[str], dict[str, list[str]]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "detail" not in body
    return body["error"]["formErrors"], body["error"]["fieldErrors"]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"title": ""}, "title", "String must contain at least 1 character(s)"),
    ({"title": "x" * 201}, "title", "String must contain at most 200 character(s)"),
    ({}, "title", "Required"),
    ({"title": 5}, "title", "Expected string, received number"),
    ({"title": "t", "description": "d" * 2001}, "description", "String must contain at most 2000 character(s)"),
    ({"title": "t", "priority": 4}, "priority", "Number must be less than or equal to 3"),
    ({"title": "t", "priority": -1}, "priority", "Number must be greater than or equal to 0"),
    ({"title": "t", "priority": "1"}, "priority", "Expected number, received string"),
    ({"title": "t", "priority": 1.5}, "priority", "Expected integer, received float"),
    ({"title": "t", "priority": True}, "priority", "Expected number, received boolean"),
    ({"title": "t", "assignedAgent": "gpt-9"}, "assignedAgent",
     "Invalid enum value. Expected 'claude-code', 'openai-codex-app-server', 'anthropic-direct', 'openai-direct', "
     "'ollama', 'demo' or 'shell', received 'gpt-9'"),
    ({"title": "t", "documentIds": "doc-1"}, "documentIds", "Expected array, received string"),
    ({"title": "t", "params": [1]}, "params", "Expected object, received array"),
])
async def test_create_validation_uses_the_zod_body(http: httpx.AsyncClient, body: dict, field: str,
                                                   message: str) -> None:
    before = int((await http.get("/api/tasks", params={"limit": 1})).headers["x-total-count"])
    _form, fields = zod(await http.post("/api/tasks", json=body))
    assert fields[field] == [message]
    after = int((await http.get("/api/tasks", params={"limit": 1})).headers["x-total-count"])
    assert after == before  # nothing was created


async def test_a_whole_float_is_an_integer_as_in_json(http: httpx.AsyncClient) -> None:
    created = await http.post("/api/tasks", json={"title": "t", "priority": 1.0})
    assert created.status_code == 201 and created.json()["priority"] == 1


async def test_every_field_error_is_reported_at_once(http: httpx.AsyncClient) -> None:
    form, fields = zod(await http.post("/api/tasks", json={"title": "", "priority": 9, "typo": 1}))
    assert form == ["Unrecognized key(s) in object: 'typo'"]
    assert set(fields) == {"title", "priority"}


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "Invalid JSON body"),
    (b"[1, 2]", "Expected object, received array"),
    (b'"title"', "Expected object, received string"),
])
async def test_a_body_that_is_not_an_object(http: httpx.AsyncClient, content: bytes, message: str) -> None:
    form, _ = zod(await http.post("/api/tasks", content=content, headers={"content-type": "application/json"}))
    assert form == [message]


async def test_a_missing_body(http: httpx.AsyncClient) -> None:
    form, _ = zod(await http.post("/api/tasks"))
    assert form == ["Request body is required"]


async def test_patch_with_an_unknown_status_changes_nothing(http: httpx.AsyncClient,
                                                           client: TaskboardClient) -> None:
    task = await client.create_task(title="keep me")
    _, fields = zod(await http.patch(f"/api/tasks/{task.id}", json={"status": "done", "title": "changed"}))
    assert fields["status"][0].startswith("Invalid enum value. Expected 'planned'")
    assert (await client.get_task(task.id)).title == "keep me"


async def test_patch_rejects_null_title(http: httpx.AsyncClient, client: TaskboardClient) -> None:
    task = await client.create_task(title="keep me")
    _, fields = zod(await http.patch(f"/api/tasks/{task.id}", json={"title": None, "status": None, "priority": None}))
    assert fields == {"title": ["Expected string, received null"], "status": ["Expected string, received null"],
                      "priority": ["Expected number, received null"]}


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "finished"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"sort": "cost"}, "sort"),
])
async def test_list_query_validation(http: httpx.AsyncClient, params: dict, field: str) -> None:
    _, fields = zod(await http.get("/api/tasks", params=params))
    assert field in fields


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/tasks/{id}"), ("PATCH", "/api/tasks/{id}"), ("DELETE", "/api/tasks/{id}"),
    ("POST", "/api/tasks/{id}/execute"), ("POST", "/api/tasks/{id}/resume"), ("POST", "/api/tasks/{id}/cancel"),
    ("GET", "/api/tasks/{id}/output"), ("GET", "/api/tasks/{id}/logs"), ("GET", "/api/tasks/{id}/provenance"),
    ("GET", "/api/tasks/{id}/siblings"), ("GET", "/api/tasks/{id}/progress"), ("GET", "/api/tasks/{id}/result"),
])
@pytest.mark.parametrize("bad_id", ["no-such-task", "../../etc/passwd", "x" * 300, "%00"])
async def test_unknown_ids_are_404(http: httpx.AsyncClient, method: str, path: str, bad_id: str) -> None:
    body = {"status": "queued"} if method == "PATCH" else None
    response = await http.request(method, path.replace("{id}", bad_id), json=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"] in ("Task not found", "Not found")


async def test_unknown_route_and_method(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found", "code": "not_found"})
    wrong = await http.put("/api/tasks")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "Method not allowed")
    assert wrong.headers["allow"] == "GET, POST"
    assert (await http.get("/api/projects/")).status_code == 404  # no redirect to the list


async def test_an_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    big = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    response = await http.post("/api/tasks", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large (limit 1048576 bytes)", "code": "payload_too_large"}

    async def chunks():  # no Content-Length: streamed, counted as it arrives
        for _ in range(20):
            yield b"x" * 65536

    streamed = await http.post("/api/tasks", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


async def test_respond_validation(http: httpx.AsyncClient, client: TaskboardClient) -> None:
    task = await client.create_task(title="r")
    _, fields = zod(await http.post(f"/api/tasks/{task.id}/respond", json={"behavior": "maybe"}))
    assert fields["notificationId"] == ["Required"]
    assert fields["behavior"] == ["Invalid enum value. Expected 'allow' or 'deny', received 'maybe'"]


async def test_the_api_key_rule(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": "s3cret-key"})
    async with httpx.AsyncClient(base_url=server.url) as http:
        missing = await http.get("/api/tasks")
        assert missing.status_code == 401
        assert missing.json()["error"] == ("Missing API key: send it in the X-API-Key header or as "
                                           "Authorization: Bearer <key>")
        wrong = await http.get("/api/tasks", headers={"X-API-Key": "guess"})
        assert (wrong.status_code, wrong.json()["error"]) == (401, "Invalid API key")
        assert "guess" not in wrong.text and "s3cret" not in wrong.text
        assert (await http.get("/api/tasks", headers={"X-API-Key": "s3cret-key"})).status_code == 200
        assert (await http.get("/api/tasks", headers={"Authorization": "Bearer s3cret-key"})).status_code == 200
        assert (await http.get("/api/health")).status_code == 200  # liveness needs no key
    async with TaskboardClient(server.url, api_key="wrong") as bad:
        with pytest.raises(Unauthorized):
            await bad.list_tasks()
    async with TaskboardClient(server.url, api_key="s3cret-key") as good:
        assert (await good.stats()).total == 0
    assert "s3cret-key" not in "".join(server.output)
    assert "s3cret-key" not in repr(TaskboardClient(server.url, api_key="s3cret-key"))


async def test_execute_on_an_unconfigured_runtime(client: TaskboardClient) -> None:
    task = await client.create_task(title="needs claude", assigned_agent="claude-code")
    await client.queue(task.id)
    with pytest.raises(Exception) as refused:
        await client.execute(task.id)
    assert refused.value.status == 400
    assert refused.value.message == ("Runtime 'claude-code' is not configured on this server (start the server "
                                     "with --enable-claude to allow it); available: demo, shell")
    assert (await client.get_task(task.id)).status == "queued"


async def test_a_single_valued_query_parameter_given_twice_is_refused(server, client) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/api/tasks", params=[("q", "a"), ("q", "b")])
        assert response.status_code == 400
        assert response.json() == {"error": {"formErrors": [], "fieldErrors": {
            "q": ["Expected a single value, received several"]}}, "code": "validation_error"}
        # A list parameter may repeat.
        ok = await http.get("/api/tasks", params=[("status", "running"), ("status", "queued")])
        assert ok.status_code == 200


async def test_an_empty_status_filter_is_refused(server) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as http:
        for query in ("status=", "status=,", "status=running&status="):
            response = await http.get(f"/api/tasks?{query}")
            assert response.status_code == 400, query
            assert response.json()["error"]["fieldErrors"] == {"status": ["Expected at least one status"]}
        assert (await http.get("/api/tasks?status=running,")).status_code == 200
