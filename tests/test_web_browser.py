"""The board in a real browser: headless Chromium loads what `taskboard web` serves, sees the tasks,
presses a key, and the server sees the action (issue 20).

Chromium is Debian's (/usr/bin/chromium), driven by playwright-core from npm (tests/browser: its
package.json and lock; `npm ci` there installs it, .ci/run does). The browser's half is
tests/browser/board.mjs; this half starts the real server (port 0, a temp database) and
`taskboard web --port 0`, and checks on the server. The page must not reach any host but the web
server (playwright sees every request, and the websocket). Skipped, with the reason, where Chromium,
node or playwright-core is missing, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server import ServerProcess
from tests.webboard import WebBoard, wait_gone

BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")


def missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "no node on PATH (it runs playwright-core)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not installed: cd {BROWSER_DIR} && npm ci"
    return None


@pytest.fixture
def browser_ready() -> None:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test cannot run in CI: {reason}")
        pytest.skip(reason)


def test_a_key_pressed_in_the_browser_reaches_the_server(
        browser_ready: None, start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server()
    title = "Queued from the browser"
    task = httpx.post(f"{server.url}/api/tasks", json={"title": title}, timeout=10).json()
    assert task["status"] == "planned"  # the only task: the board selects it
    web = WebBoard(server.url)
    node = None
    try:
        node = subprocess.Popen(["node", "board.mjs", web.url, title, "u", str(tmp_path / "chromium-profile")],
                                cwd=BROWSER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert node.stdout is not None and node.stdin is not None
        line = node.stdout.readline()  # the task was on the page, and `u` was pressed
        assert line, f"the browser side failed:\n{node.communicate(timeout=30)[1]}"
        assert json.loads(line)["pressed"] == "u"
        # The server sees the action: the board queued the task it had selected.
        deadline = time.monotonic() + 15
        while (status := httpx.get(f"{server.url}/api/tasks/{task['id']}", timeout=5).json()["status"]) != "queued":
            assert time.monotonic() < deadline, f"the task is still {status} after u in the browser"
            time.sleep(0.1)
        boards = web.boards()
        assert len(boards) == 1
        out, err = node.communicate("", timeout=30)  # closes stdin: the browser closes
        assert node.returncode == 0, err
        seen = json.loads(out.splitlines()[-1])
        # Nothing but the web server: the page, its static files and fonts, and its websocket.
        here = urlsplit(web.base).netloc
        assert seen["requests"] and seen["websockets"] == [seen["websockets"][0]]
        elsewhere = [url for url in seen["requests"] + seen["websockets"] if urlsplit(url).netloc != here]
        assert elsewhere == [], f"the page reached other hosts: {elsewhere}"
        assert any(url.endswith(".ttf") for url in seen["requests"])  # the font, served here
        assert seen["consoleErrors"] == []  # the Content-Security-Policy refused nothing the page needs
        # And the board ended with its browser.
        assert wait_gone(boards, timeout=6) == set()
    finally:
        if node is not None and node.poll() is None:
            node.kill()
            node.wait()
        web.stop()
        web.close()
