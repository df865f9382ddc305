"""The real terminal, through tmux: what only a terminal shows (keys arriving in one burst, 80x24).

Pilot hands the app one key at a time and waits for it to go idle in between; a terminal delivers a
fast typist, a paste or a slow SSH link catching up as one read. This drives `taskboard demo --temp`
in a tmux pane of 80x24 and reads the pane back. Skipped where tmux is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.terminal import TMUX

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def _tmux(*args: str) -> str:
    return subprocess.run([*TMUX, *args], capture_output=True, text=True, check=False, timeout=10).stdout


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[tuple[str, Callable[[], str]]]:
    name = f"taskboard-test-{os.getpid()}"
    env = f"TASKBOARD_CONFIG=/nonexistent XDG_DATA_HOME={tmp_path} TERM=xterm-256color"
    command = f"cd {Path.cwd()} && env {env} {sys.executable} -m taskboard demo --temp"
    _tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command)
    try:
        yield name, lambda: _tmux("capture-pane", "-t", name, "-p")
    finally:
        _tmux("kill-session", "-t", name)


def wait(read: Callable[[], str], predicate: Callable[[str], bool], what: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = read()
        if predicate(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{screen}")
        time.sleep(0.1)


def test_a_burst_after_slash_lands_in_the_search_box_at_80x24(pane) -> None:
    name, read = pane
    screen = wait(read, lambda s: "● live" in s and "Help" in s.splitlines()[-1], "the demo board")
    lines = screen.splitlines()
    assert lines[0].rstrip().endswith("spent")  # the header is whole, not wrapped onto the counts
    assert "shown" in lines[1] and "? Help" in lines[-1] and "q Quit" in lines[-1]
    _tmux("send-keys", "-t", name, "Escape")  # the demo may have opened a permission request by itself
    time.sleep(0.3)
    _tmux("send-keys", "-t", name, "-l", "/Long")  # one write: the keys arrive together
    screen = wait(read, lambda s: "Long" in s.splitlines()[2], "the search box to hold the burst")
    assert "New task" not in screen  # the `n` of "Long" did not open the form
    _tmux("send-keys", "-t", name, "Escape")
    time.sleep(0.3)
    deadline = time.monotonic() + 15
    while name in _tmux("list-sessions", "-F", "#{session_name}").split():
        assert time.monotonic() < deadline, "q did not quit"
        _tmux("send-keys", "-t", name, "q")  # again if a modal opened by itself took the last one
        time.sleep(2)


def test_a_failure_reaches_the_terminal_as_osc_9_through_tmux_passthrough(server, tmp_path: Path) -> None:
    """The bytes the board writes to its terminal (tmux's pipe-pane gets them raw, before tmux reads them):
    inside tmux the notification is wrapped in tmux's DCS passthrough, which tmux hands on to the terminal
    it runs in when `allow-passthrough` is on."""
    import httpx

    config = tmp_path / "config.toml"
    config.write_text('[notify]\nevents = ["failed"]\nterminal = "osc9"\n')
    raw = tmp_path / "raw.bin"
    name = f"taskboard-osc-{os.getpid()}"
    env = f"TASKBOARD_CONFIG={config} XDG_DATA_HOME={tmp_path} TERM=xterm-256color"
    _tmux("new-session", "-d", "-s", name, "-x", "140", "-y", "40",
          f"cd {Path.cwd()} && env {env} {sys.executable} -m taskboard --url {server.url}")
    try:
        _tmux("set-option", "-t", name, "allow-passthrough", "on")
        _tmux("pipe-pane", "-t", name, "-o", f"cat >> {raw}")
        wait(lambda: _tmux("capture-pane", "-t", name, "-p"), lambda s: "● live" in s, "the board")
        task = httpx.post(f"{server.url}/api/tasks/spawn", json={
            "title": "Nightly \x1b]0;export", "params": {"steps": 3, "stepSeconds": 0.02, "failAtStep": 2}}).json()
        expected = "\x1bPtmux;\x1b\x1b]9;Failed: Nightly  ]0;export — ".encode()
        wait(lambda: raw.read_bytes() if raw.exists() else b"", lambda b: expected in b, "the OSC 9 sequence")
        sent = raw.read_bytes().split(expected, 1)[1].split(b"\x07", 1)[0].decode()
        assert task["id"] in sent and server.url in sent
        assert raw.read_bytes().split(expected, 1)[1].split(b"\x07", 1)[1].startswith(b"\x1b\\")
    finally:
        _tmux("kill-session", "-t", name)
