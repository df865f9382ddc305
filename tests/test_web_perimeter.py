"""`taskboard web` refuses other sites and anyone without this run's secret (issue 19, finding 1).

The attack: a page on http://evil.example opened ws://127.0.0.1:PORT/ws and typed into the board.
Each refusal is checked where the browser would meet it: the page, the websocket handshake (refused
before it is accepted, so no board is started), with a foreign Host, a foreign Origin, or no secret.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest


@pytest.fixture
def web_board() -> Iterator[tuple[str, str]]:
    """`taskboard web` on a free loopback port: (base URL, token). Its board is never connected to a
    server here; only the perimeter is under test, and one accepted websocket."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
    env["TASKBOARD_CONFIG"] = "/nonexistent/config.toml"
    proc = subprocess.Popen([sys.executable, "-m", "taskboard", "web", "--port", str(port), "--url",
                             "http://127.0.0.1:9"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        prefix = f"taskboard: web board at http://127.0.0.1:{port}/?token="
        assert line.startswith(prefix), line
        token = line[len(prefix):].split()[0]
        assert len(token) >= 32
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/static/css/xterm.css", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield base, token
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_page_needs_the_secret_and_this_servers_name(web_board: tuple[str, str]) -> None:
    base, token = web_board
    no_token = httpx.get(f"{base}/")
    assert no_token.status_code == 403
    assert no_token.text == ("taskboard web: this board needs the secret in the URL `taskboard web` printed "
                             "(?token=...)\n")
    assert httpx.get(f"{base}/?token=wrong{token}").status_code == 403
    rebound = httpx.get(f"{base}/?token={token}", headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and rebound.text == "taskboard web: Host 'evil.example' is not this board's name\n"
    page = httpx.get(f"{base}/?token={token}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The secret then travels as an HttpOnly, same-site cookie: reloads and the page's websocket carry it.
    cookie = page.headers["set-cookie"]
    assert f"taskboard_web_token={token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert httpx.get(f"{base}/", cookies={"taskboard_web_token": token}).status_code == 200


async def handshake(url: str, **headers: str) -> int:
    """The status of a websocket handshake: 101 when accepted."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def test_a_websocket_from_another_site_is_refused_before_it_is_accepted(web_board: tuple[str, str]) -> None:
    base, token = web_board
    ws = base.replace("http://", "ws://") + "/ws"
    own = base
    assert await handshake(f"{ws}?token={token}", Origin="http://evil.example") == 403
    assert await handshake(f"{ws}?token={token}", Origin="http://127.0.0.1:1") == 403  # another local page
    assert await handshake(f"{ws}?token={token}", Origin="null") == 403
    assert await handshake(f"{ws}?token={token}", Origin=own, Host="evil.example") == 403
    assert await handshake(ws, Origin=own) == 403  # no secret
    assert await handshake(f"{ws}?token=x", Origin=own) == 403
    # The board's own page, with the secret (in the query, or the cookie the page set): accepted.
    assert await handshake(f"{ws}?token={token}", Origin=own) == 101
    assert await handshake(ws, Origin=own, Cookie=f"taskboard_web_token={token}") == 101
