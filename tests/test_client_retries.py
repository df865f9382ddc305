"""Retries: idempotent calls ride out a server that is not up yet; writes are never repeated."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from taskboard.client import ConnectionLost, TaskboardClient
from taskboard.client.transport import _retry_after


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_get_is_retried_until_the_server_is_up(start_server) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with TaskboardClient(url, max_retries=8) as client:
        call = asyncio.create_task(client.health())
        await asyncio.sleep(0.3)
        assert not call.done()  # still retrying: nothing listens yet
        await asyncio.to_thread(start_server, "--port", str(port))
        health = await asyncio.wait_for(call, 20)
    assert health.status == "ok"


async def test_a_post_is_never_retried() -> None:
    async with TaskboardClient(f"http://127.0.0.1:{free_port()}", max_retries=8) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionLost, match="Cannot reach"):
            await client.create_task(title="once only")
        assert time.monotonic() - started < 1.0


def test_retry_after_in_seconds_and_as_a_date() -> None:
    def response(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})
    assert _retry_after(response("3")) == 3.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (_retry_after(response(future)) or 0) <= 31
    assert _retry_after(httpx.Response(503)) is None
