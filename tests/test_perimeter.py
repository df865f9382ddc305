"""The perimeter (issue 5, SECURITY.md): one test per rule, each with the exact status and message.

Rules tested elsewhere: a public bind without a key is refused (test_openapi_and_layers), a missing or
wrong key is a 401 that never echoes the key (test_bad_input.test_the_api_key_rule), bodies over the
limit are 413 (test_bad_input.test_an_oversized_body_is_413), deny beats allow and unparseable rules
block (test_permissions).
"""

from __future__ import annotations

import httpx
import pytest

from taskboard.hosts import host_name
from taskboard_backend.perimeter import AUTH_FAILURES_ALLOWED


def test_host_names_are_read_the_way_browsers_send_them() -> None:
    assert host_name("127.0.0.1:8765") == "127.0.0.1"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("Example.COM.:80") == "example.com"
    assert host_name("localhost") == "localhost"


async def test_a_host_that_names_another_site_is_refused(start_server) -> None:
    """DNS rebinding: evil.example re-pointed at 127.0.0.1 reaches the port, but names itself."""
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as http:
        rebound = await http.get("/api/tasks", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 403
        assert rebound.json() == {
            "error": "Host 'evil.example' is not this server's name; start the server with "
                     "--allow-host evil.example if it should answer to it",
            "code": "forbidden_host"}
        for own in ("localhost:8765", "127.0.0.1", "[::1]:1", "LOCALHOST."):
            assert (await http.get("/api/tasks", headers={"Host": own})).status_code == 200, own
        # A write is refused the same way, and nothing is written.
        refused = await http.post("/api/tasks", json={"title": "x"}, headers={"Host": "evil.example"})
        assert refused.status_code == 403
        assert (await http.get("/api/tasks")).headers["x-total-count"] == "0"


async def test_allow_host_names_extra_hosts(start_server) -> None:
    server = start_server("--allow-host", "tasks.internal", "--allow-host", "board.lan")
    async with httpx.AsyncClient(base_url=server.url) as http:
        for name in ("tasks.internal", "Board.LAN:8765"):
            assert (await http.get("/api/tasks", headers={"Host": name})).status_code == 200
        assert (await http.get("/api/tasks", headers={"Host": "other.lan"})).status_code == 403
        assert (await http.get("/api/tasks", headers={"Origin": "http://tasks.internal:3000"})).status_code == 200


async def test_a_cross_site_origin_is_refused(start_server) -> None:
    """A page on another site, open in the user's browser, must not drive the loopback API."""
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as http:
        cross = await http.post("/api/tasks", json={"title": "from a web page"},
                                headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        assert cross.json() == {
            "error": "Cross-site request from origin 'https://evil.example' refused; start the server with "
                     "--allow-host NAME to accept that origin",
            "code": "forbidden_origin"}
        sandboxed = await http.get("/api/tasks", headers={"Origin": "null"})
        assert (sandboxed.status_code, sandboxed.json()["code"]) == (403, "forbidden_origin")
        attacker_ip = await http.get("/api/tasks", headers={"Origin": "http://203.0.113.9"})
        assert attacker_ip.status_code == 403
        for own in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]"):
            assert (await http.get("/api/tasks", headers={"Origin": own})).status_code == 200, own
        assert (await http.get("/api/tasks")).headers["x-total-count"] == "0"


async def test_guessing_keys_is_rate_limited(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": "the-right-key"})
    async with httpx.AsyncClient(base_url=server.url) as http:
        for _ in range(15):  # a missing key is not a guess
            assert (await http.get("/api/tasks")).status_code == 401
        assert (await http.get("/api/tasks", headers={"X-API-Key": "the-right-key"})).status_code == 200
        for n in range(AUTH_FAILURES_ALLOWED):
            wrong = await http.get("/api/tasks", headers={"X-API-Key": f"guess-{n}"})
            assert (wrong.status_code, wrong.json()["error"]) == (401, "Invalid API key")
        limited = await http.get("/api/tasks", headers={"X-API-Key": "guess-again"})
        assert limited.status_code == 429
        assert 55 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json() == {
            "error": f"Too many failed API key attempts from 127.0.0.1; try again in "
                     f"{limited.headers['retry-after']} s",
            "code": "rate_limited"}
        # While limited, even the right key waits: a guess that happened to be right learns nothing.
        right = await http.get("/api/tasks", headers={"X-API-Key": "the-right-key"})
        assert right.status_code == 429
        assert (await http.get("/api/health")).status_code == 200  # liveness stays open
    assert not any("the-right-key" in line or "guess-" in line for line in server.output)


@pytest.mark.parametrize("enable", [False, True])
async def test_the_shell_runtime_is_off_unless_enabled(start_server, enable: bool) -> None:
    server = start_server(*(["--enable-shell"] if enable else []))
    async with httpx.AsyncClient(base_url=server.url) as http:
        runtimes = {r["id"]: r for r in (await http.get("/api/runtimes")).json()}
        assert runtimes["shell"]["enabled"] is enable
        task = (await http.post("/api/tasks", json={"title": "ls", "assignedAgent": "shell",
                                                    "params": {"command": "echo hi"}})).json()
        await http.patch(f"/api/tasks/{task['id']}", json={"status": "queued"})
        run = await http.post(f"/api/tasks/{task['id']}/execute")
        if enable:
            assert run.status_code == 202
        else:
            assert run.status_code == 400
            assert run.json()["error"].startswith("Runtime 'shell' is not configured on this server (start the "
                                                  "server with --enable-shell to allow it); available: ")
            assert (await http.get(f"/api/tasks/{task['id']}")).json()["status"] == "queued"  # nothing ran


async def test_list_limit_is_at_most_1000(start_server) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as http:
        too_many = await http.get("/api/tasks", params={"limit": 1001})
        assert too_many.status_code == 400
        assert too_many.json() == {"error": {"formErrors": [], "fieldErrors": {
            "limit": ["Number must be less than or equal to 1000"]}}, "code": "validation_error"}


async def test_query_strings_and_replay_points_have_limits(start_server) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as http:
        search = await http.get("/api/tasks", params={"q": "x" * 201})
        assert search.status_code == 400
        assert search.json()["error"]["fieldErrors"] == {"q": ["String must contain at most 200 character(s)"]}
        replay = await http.get("/api/events", headers={"Last-Event-ID": "9" * 41})
        assert replay.status_code == 400
        assert replay.json()["error"]["fieldErrors"] == {
            "Last-Event-ID": ["String must contain at most 40 character(s)"]}
        beyond = await http.get("/api/events", params={"since": 2**62 + 1})
        assert beyond.status_code == 400
        assert "since" in beyond.json()["error"]["fieldErrors"]
