"""`taskboard web`'s board processes end with their browser and with the server (issue 20).

The bug: every browser that closed abruptly could leave a `python -m taskboard --url ...` board behind,
spinning, deaf to SIGTERM, outliving `taskboard web`; SIGHUP (a closed terminal, tmux kill-session)
killed the server outright and orphaned every board; SIGTERM waited out aiohttp's 60 s shutdown
timeout with the boards still running. Here a real browser stand-in (a websocket client in its own
process, so it can be SIGKILLed as a browser dies) opens the board against the real server, and the
board is found the way an operator would find it: among the web server's descendants in /proc.

Also what the page asks for (nothing from a third party, a favicon), the logging (quiet by default),
`--port 0`, and a busy port.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess
from tests.webboard import WebBoard, wait_gone

# A browser's websocket, in a process of its own: it prints "up" once the board has drawn its screen,
# then waits to be killed (SIGKILL: no close frame, as when a browser crashes or its tab is killed).
BROWSER = r"""
import asyncio, sys, aiohttp
async def main(url, origin):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers={"Origin": origin}) as ws:
            await ws.send_json(["resize", {"width": 120, "height": 40}])
            drawn = 0
            async for message in ws:
                drawn += len(message.data) if isinstance(message.data, (bytes, str)) else 0
                if drawn > 4000:
                    break
            print("up", flush=True)
            await ws.send_json(["stdin", "j"])  # and keep the board drawing as it goes
            async for message in ws:
                pass
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture
def web(server: ServerProcess) -> Iterator[WebBoard]:
    board = WebBoard(server.url)
    try:
        yield board
    finally:
        board.close()


def open_browser(web: WebBoard) -> subprocess.Popen[str]:
    ws = web.base.replace("http://", "ws://") + f"/ws?token={web.token}&width=120&height=40"
    browser = subprocess.Popen([sys.executable, "-c", BROWSER, ws, web.base], stdout=subprocess.PIPE, text=True)
    assert browser.stdout is not None
    assert browser.stdout.readline() == "up\n", "the board never drew its screen"
    return browser


def test_a_board_ends_when_its_browser_is_killed(web: WebBoard) -> None:
    first, second = open_browser(web), open_browser(web)
    boards = web.wait_for_boards(2)
    first.kill()
    first.wait()
    # The killed browser's board goes within a few seconds; the other tab's board stays.
    remaining = wait_gone(boards, timeout=6)
    assert len(remaining) == 1, f"boards alive after their browser was killed: {remaining} of {boards}"
    assert web.boards() == remaining
    second.kill()
    second.wait()
    assert wait_gone(remaining, timeout=6) == set()
    assert web.boards() == set()
    # And the server still serves the next visit.
    assert httpx.get(web.url, timeout=5).status_code == 200


# A board as the issue met it: deaf to "quit" and to SIGTERM, and drawing all the time (so a server that
# stops reading its output leaves it blocked on a full pipe).
DEAF_BOARD = r"""
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
out = sys.stdout.buffer
out.write(b"__GANGLION__\n")
frame = b"\x1b[H" + b"deaf board " * 400
while True:
    out.write(b"D" + len(frame).to_bytes(4, "big") + frame)
    out.flush()
    time.sleep(0.005)
"""

SERVE_COMMAND = r"""
import sys
from taskboard.web import serve
serve(sys.argv[1], host="127.0.0.1", port=0, public_url=None,
      announce=lambda url: print(f"taskboard: web board at {url} (ctrl+c stops it)", flush=True))
"""


def test_a_board_deaf_to_quit_and_sigterm_still_ends_with_its_browser(tmp_path: Path) -> None:
    board = tmp_path / "deaf_board.py"
    board.write_text(DEAF_BOARD)
    command = f"{sys.executable} {board} --url http://127.0.0.1:9"
    web = WebBoard("", argv=[sys.executable, "-c", SERVE_COMMAND, command])
    try:
        browser = open_browser(web)
        boards = web.wait_for_boards(1)
        browser.kill()
        browser.wait()
        # quit (ignored), SIGTERM after 2 s (ignored), SIGKILL after 2 s more: gone, and reaped.
        assert wait_gone(boards, timeout=8) == set(), "a board that ignores quit and SIGTERM outlived its browser"
        assert web.boards() == set()
    finally:
        web.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)
def test_stopping_taskboard_web_leaves_no_board_behind(web: WebBoard, signum: int) -> None:
    browsers = [open_browser(web), open_browser(web)]
    try:
        boards = web.wait_for_boards(2)
        # SIGKILL runs no code of the server's: the kernel ends its boards (PR_SET_PDEATHSIG).
        web.stop(signum, timeout=8)
        assert wait_gone(boards, timeout=6) == set(), f"boards outlived taskboard web ({signal.Signals(signum).name})"
        if signum != signal.SIGKILL:
            # The pages were told the session ended: their websockets closed, so the browsers' loops end.
            for browser in browsers:
                assert browser.wait(5) == 0
    finally:
        for browser in browsers:
            browser.kill()
            browser.wait()


def test_the_page_reaches_no_other_site_and_has_a_favicon(server: ServerProcess, tmp_path: Path) -> None:
    web = WebBoard(server.url, stderr_path=tmp_path / "stderr")
    try:
        page = httpx.get(web.url, timeout=5)
        assert page.status_code == 200
        assert "fonts.googleapis.com" not in page.text and "//fonts." not in page.text
        assert f'url("{web.base}/static/fonts/RobotoMono-VariableFont_wght.ttf")' in page.text
        font = httpx.get(f"{web.base}/static/fonts/RobotoMono-VariableFont_wght.ttf", timeout=5)
        assert font.status_code == 200 and len(font.content) > 10_000
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and f"connect-src 'self' ws://127.0.0.1:{web.port}" in policy
        icon = httpx.get(f"{web.base}/favicon.ico", timeout=5)  # no secret needed, as for static files
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\0\0\1\0"  # an .ico
        assert httpx.get(f"{web.base}/favicon.ico", headers={"Host": "evil.example"}).status_code == 403
    finally:
        web.stop()
        web.close()
    # Quiet by default: no line per request (nor textual-serve's banner).
    assert (tmp_path / "stderr").read_text() == ""
    assert web.proc.stdout is not None and web.proc.stdout.read() == ""


def test_verbose_logs_every_request(server: ServerProcess, tmp_path: Path) -> None:
    web = WebBoard(server.url, "--verbose", stderr_path=tmp_path / "stderr")
    try:
        assert httpx.get(f"{web.base}/favicon.ico", timeout=5).status_code == 200
    finally:
        web.stop()
        web.close()
    assert '"GET /favicon.ico HTTP/1.1" 200' in (tmp_path / "stderr").read_text()


def test_port_0_serves_on_the_free_port_it_prints(server: ServerProcess) -> None:
    web = WebBoard(server.url)  # WebBoard passes --port 0
    try:
        assert web.port != 0
        assert web.base == f"http://127.0.0.1:{web.port}"
        assert httpx.get(web.url, timeout=5).status_code == 200
    finally:
        web.close()


def test_a_busy_port_is_one_line_and_exit_2(server: ServerProcess) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "taskboard", "web", "--port", str(port), "--url", server.url],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"taskboard: cannot serve on 127.0.0.1:{port}:"), result.stderr
