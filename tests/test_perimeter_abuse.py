"""The perimeter under attack (issue 19, findings 2 and 12): the wrong-key limiter cannot be talked
round with X-Forwarded-For, other loopback source addresses or a flood of addresses; a client without
the key is answered before it sends its body; slow and silent connections are closed; and the number
of connections has a ceiling.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from taskboard_backend.perimeter import (
    AUTH_ADDRESSES_KEPT,
    AUTH_FAILURES_ALLOWED,
    AUTH_FAILURES_GLOBAL,
    FailureLimiter,
    limiter_key,
)
from tests.helpers import wait_until

KEY = "the-right-key"


async def guess(http: httpx.AsyncClient, n: int, **headers: str) -> httpx.Response:
    return await http.get("/api/tasks", headers={"X-API-Key": f"guess-{n}", **headers})


async def test_x_forwarded_for_does_not_name_a_new_guesser(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": KEY})
    async with httpx.AsyncClient(base_url=server.url) as http:
        for n in range(AUTH_FAILURES_ALLOWED):
            assert (await guess(http, n, **{"X-Forwarded-For": f"198.51.100.{n}"})).status_code == 401
        limited = await guess(http, 99, **{"X-Forwarded-For": "198.51.100.99"})
        assert limited.status_code == 429
        assert limited.json()["error"].startswith("Too many failed API key attempts from 127.0.0.1; try again in ")


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs the whole 127/8 on loopback (Linux)")
async def test_other_loopback_source_addresses_are_the_same_guesser(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": KEY})
    statuses = []
    for n in range(AUTH_FAILURES_ALLOWED + 2):
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n + 2}")
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
            statuses.append((await guess(http, n)).status_code)
    assert statuses == [401] * AUTH_FAILURES_ALLOWED + [429, 429]


async def test_trusted_proxies_and_the_ceiling_in_all(start_server) -> None:
    """With --forwarded-allow-ips, the proxy's X-Forwarded-For names the client; and however many
    addresses a guesser has, no more than AUTH_FAILURES_GLOBAL wrong keys a minute get an answer."""
    server = start_server("--forwarded-allow-ips", "127.0.0.1", env={"TASKBOARD_API_KEY": KEY})
    async with httpx.AsyncClient(base_url=server.url) as http:
        for n in range(AUTH_FAILURES_ALLOWED):
            assert (await guess(http, n, **{"X-Forwarded-For": "203.0.113.1"})).status_code == 401
        one = await guess(http, 0, **{"X-Forwarded-For": "203.0.113.1"})
        assert one.status_code == 429 and "from 203.0.113.1;" in one.json()["error"]
        failed = AUTH_FAILURES_ALLOWED
        n = 0
        while failed < AUTH_FAILURES_GLOBAL:
            n += 1
            response = await guess(http, n, **{"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"})
            assert response.status_code == 401
            failed += 1
        everyone = await guess(http, 0, **{"X-Forwarded-For": "10.200.0.1"})
        assert everyone.status_code == 429
        assert everyone.json()["error"].startswith("Too many failed API key attempts from all addresses; try again in ")
        assert 55 <= int(everyone.headers["retry-after"]) <= 60


def test_a_flood_of_addresses_does_not_unlock_a_locked_one() -> None:
    """Before, past 10,000 recorded addresses the whole table was wiped."""
    limiter = FailureLimiter()
    now = 1000.0
    for _ in range(AUTH_FAILURES_ALLOWED):
        limiter.record("192.0.2.1", now)
    assert limiter.wait("192.0.2.1", now) is not None
    answered = 0
    for n in range(AUTH_ADDRESSES_KEPT + 1):
        address = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        if limiter.wait(address, now) is None:
            limiter.record(address, now)
            answered += 1
    assert answered == AUTH_FAILURES_GLOBAL - AUTH_FAILURES_ALLOWED
    assert limiter.wait("192.0.2.1", now + 30) is not None
    assert limiter.wait("192.0.2.1", now + 61) is None  # and it ends with the window


def test_the_address_table_is_bounded_and_sheds_the_oldest_unlocked_first() -> None:
    limiter = FailureLimiter(per_address=2, in_all=10**9, max_addresses=3)
    limiter.record("192.0.2.1", 0)
    limiter.record("192.0.2.1", 0)  # locked
    for address in ("192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        limiter.record(address, 1)
        assert len(limiter.failures) <= 3
    assert limiter.wait("192.0.2.1", 2) is not None
    assert list(limiter.failures) == ["192.0.2.1", "192.0.2.4", "192.0.2.5"]


def test_the_limiter_counts_loopback_as_one_and_ipv6_by_its_64() -> None:
    assert limiter_key("127.0.0.1") == limiter_key("127.0.0.41") == limiter_key("::1") == "loopback"
    assert limiter_key("::ffff:127.0.0.9") == "loopback"
    assert limiter_key("2001:db8:1:2::1") == limiter_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limiter_key("192.0.2.1") != limiter_key("192.0.2.2")


async def raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection, which must be within `seconds`."""
    received = b""
    async with asyncio.timeout(seconds):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


async def test_a_client_without_the_key_is_answered_before_it_sends_its_body(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": KEY})
    reader, writer = await raw(server.url)
    writer.write(b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1048000\r\n\r\n")  # and then nothing: the body never comes
    await writer.drain()
    answer = await closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b'"code":"unauthorized"' in answer.replace(b" ", b"")
    writer.close()


async def test_slow_and_silent_connections_are_closed(start_server) -> None:
    server = start_server("--header-timeout", "0.5", "--body-timeout", "1")
    silent = await raw(server.url)
    half = await raw(server.url)
    half[1].write(b"GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await half[1].drain()
    body = await raw(server.url)
    body[1].write(b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"title\": ")
    await body[1].drain()
    started = time.monotonic()
    for reader, writer in (silent, half, body):
        assert await closed_within(reader, 5) == b""
        writer.close()
    assert time.monotonic() - started < 5
    async with httpx.AsyncClient(base_url=server.url) as http:  # a normal client is unaffected
        assert (await http.get("/api/tasks")).status_code == 200
        assert (await http.get("/api/tasks")).headers["x-total-count"] == "0"  # the unfinished body made nothing


async def test_connections_past_the_ceiling_are_closed_at_once(start_server) -> None:
    server = start_server("--max-connections", "8")
    held = [await raw(server.url) for _ in range(8)]
    try:
        extra_reader, extra_writer = await raw(server.url)
        assert await closed_within(extra_reader, 3) == b""
        extra_writer.close()
    finally:
        for _, writer in held:
            writer.close()
    async with httpx.AsyncClient(base_url=server.url) as http:  # once they are gone, others get in
        async def answered() -> bool:
            try:
                return (await http.get("/api/health")).status_code == 200
            except httpx.TransportError:
                return False
        await wait_until(answered, timeout=10)
