"""`taskboard demo` as a person runs it: in a real terminal (tmux), the board goes live, q quits,
and the server it started goes with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskboard.connect import LocalServer
from tests.terminal import TMUX, pane, wait

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def _servers_for(db_dir: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "exit-with-stdin"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(db_dir) in line]


def test_taskboard_demo_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"tb-test-{os.getpid()}"
    env_data = tmp_path / "data"
    command = f"XDG_DATA_HOME={env_data} {sys.executable} -m taskboard demo"
    subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command], check=True)
    try:
        def live() -> bool:
            screen = pane(session)
            return all(s in screen for s in ("● live", "▶ running", "Analyze Q4 revenue trends", "Log ·"))

        assert wait(live), pane(session)
        assert (env_data / "taskboard" / "demo.db").exists()  # the user's data directory
        assert _servers_for(env_data)
        subprocess.run([*TMUX, "send-keys", "-t", session, "?"], check=True)
        assert wait(lambda: "Keys" in pane(session) and "Cancel the task" in pane(session))
        subprocess.run([*TMUX, "send-keys", "-t", session, "Escape"], check=True)
        time.sleep(0.5)
        subprocess.run([*TMUX, "send-keys", "-t", session, "q"], check=True)
        assert wait(lambda: not _servers_for(env_data), timeout=15), "the demo server outlived the board"
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


def test_the_local_server_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "demo.db", log_path=tmp_path / "server.log", extra_args=())
    server.start()
    process = server.process
    assert process is not None and process.stdin is not None and process.stdout is not None
    assert process.stdout.readline().startswith(b"taskboard: serving ")
    # What the OS does when the parent dies, even by SIGKILL: our end of its stdin closes.
    process.stdin.close()
    process.wait(timeout=10)
    assert process.returncode is not None
