"""`serve --port` and `demo --port` as a script meets them: a busy port is one line and exit 2 (a
usage error: the address given is the problem), never a traceback; `demo --port N` puts the bundled
server where other clients can find it, and `--port 0` (demo's default) is a free port, shown in the
board's header. (`serve --port 0` printing its URL is what every test's server already relies on.)

The real `taskboard` command in a subprocess; the busy port is a real server's."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess
from tests.terminal import TMUX, pane, wait
from tests.test_cli import taskboard


def _port(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _one_line_busy(result: subprocess.CompletedProcess[str], port: int) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port} is already in use" in lines[0] and "--port" in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr


def test_serve_on_a_busy_port_says_which_in_one_line(server: ServerProcess, tmp_path: Path) -> None:
    port = _port(server)
    result = taskboard("serve", "--port", str(port), "--db", str(tmp_path / "second.db"))
    _one_line_busy(result, port)
    assert httpx.get(f"{server.url}/api/health").status_code == 200  # the server that has it is untouched


def test_demo_on_a_busy_port_says_which_in_one_line(server: ServerProcess, tmp_path: Path) -> None:
    port = _port(server)
    result = taskboard("demo", "--temp", "--port", str(port), env={"TMPDIR": str(tmp_path)})
    _one_line_busy(result, port)
    assert not list(tmp_path.glob("taskboard-demo-*"))  # refused before it made anything


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.parametrize("asked", ["free", "0"])
def test_demo_port_puts_the_server_where_asked_and_shows_it(tmp_path: Path, asked: str) -> None:
    port = _free_port() if asked == "free" else 0
    session = f"tb-port-{os.getpid()}-{asked}"
    command = (f"exec env TMPDIR={tmp_path} TASKBOARD_CONFIG=/nonexistent {sys.executable} -m taskboard "
               f"demo --temp --port {port}")
    subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command], check=True)
    try:
        shown: list[str] = []

        def live() -> bool:
            first = pane(session).splitlines()[:1]
            words = [w for w in (first[0].split() if first else []) if w.startswith("http://127.0.0.1:")]
            shown[:] = words
            return bool(words) and "● live" in first[0]

        assert wait(live), pane(session)
        url = shown[0]
        if port:
            assert url == f"http://127.0.0.1:{port}"
        else:
            assert int(url.rsplit(":", 1)[1]) > 0
        assert _answers(url)  # the bundled server, reachable by any client at the URL the board shows
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
