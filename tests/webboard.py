"""`taskboard web` in a subprocess, as a user starts it, and the board processes it runs (from /proc).

Shared by the web tests: the lifecycle (boards end with their browser and with the server), the page
(nothing from a third party), and the browser test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

URL_LINE = re.compile(r"taskboard: web board at (http://\S+)/\?token=(\S+) ")


class WebBoard:
    def __init__(self, server_url: str, *args: str, stderr_path: Path | None = None,
                 argv: list[str] | None = None) -> None:
        """`taskboard web --port 0 --url SERVER_URL ARGS...`, or another command (argv) printing its URL line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
        env["TASKBOARD_CONFIG"] = "/nonexistent/config.toml"
        env["PYTHONUNBUFFERED"] = "1"
        self.stderr_path = stderr_path
        stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
        argv = argv or [sys.executable, "-m", "taskboard", "web", "--port", "0", "--url", server_url, *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        if stderr_path:
            stderr.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once the port is bound: the server is up
        match = URL_LINE.match(line)
        assert match, f"no URL line from taskboard web: {line!r}"
        self.base, self.token = match.group(1), match.group(2)
        self.url = f"{self.base}/?token={self.token}"
        self.port = int(self.base.rsplit(":", 1)[1])
        self.seen: set[int] = set()  # every board found, for the cleanup

    def boards(self) -> set[int]:
        """The board processes this server runs now (its descendants with `--url` in their arguments)."""
        found = {pid for pid in descendants(self.proc.pid) if is_board(pid)}
        self.seen |= found
        return found

    def wait_for_boards(self, count: int, timeout: float = 20) -> set[int]:
        deadline = time.monotonic() + timeout
        while len(boards := self.boards()) < count:
            assert self.proc.poll() is None, "taskboard web exited"
            assert time.monotonic() < deadline, f"{count} board(s) expected, found {boards}"
            time.sleep(0.05)
        return boards

    def close(self) -> None:
        """A test's cleanup: the server, and whatever board the bug would leave behind."""
        self.stop(signal.SIGKILL)
        for pid in self.seen:
            if is_board(pid):
                os.kill(pid, signal.SIGKILL)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return self.proc.returncode


def descendants(pid: int) -> set[int]:
    """Children, theirs, and so on (/proc/PID/task/TID/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except (FileNotFoundError, ProcessLookupError):
                continue
            todo += children - found
            found |= children
    return found


def is_board(pid: int) -> bool:
    """A live (not zombie) board: `python -m taskboard --url ...` (or a test's stand-in with --url)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and b"--url" in cmdline and b"web" not in cmdline


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """The pids still alive after up to `timeout` seconds (polled)."""
    deadline = time.monotonic() + timeout
    while (alive := {pid for pid in pids if is_board(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive
