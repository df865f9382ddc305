"""What the board writes to a terminal (issue 24: the TUI over `ssh -t host taskboard`).

The real `taskboard` command runs on a pseudo-terminal of 140x40, as under SSH, and every byte it
writes to the terminal is counted (on the pty's far side, so what a terminal or an SSH channel would
carry). Counted: a quiet board (nothing changing) and the update storm of bench/board.py (1,000
changes a second to the 200 tasks at the top of the board). Then the same storm with a terminal that
reads at most SLOW_BYTES a second (a slow link behind SSH): what the board wrote then, and how long
after the storm the terminal was still reading flat out (how far behind the screen had fallen). Part
of that is the kernel's pty buffer (and, over SSH, sshd's and the socket's), which the board cannot see
into; what it can see is the frames Textual has queued and not written (tui/terminal.py).
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import httpx

from bench.common import ROOT, Outcome, Row, Sizes, running_server, temp_dir
from bench.seed import seed_tasks

COLUMNS, LINES = 140, 40
SLOW_BYTES = 32 * 1024  # a terminal behind a 256 kbit/s link


class Terminal:
    """A pty with the board on it; a thread reads its far side (at most `rate` bytes a second) and counts."""

    def __init__(self, url: str, home: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / ".config"), "PYTHONPATH": str(ROOT), "COLUMNS": str(COLUMNS),
               "LINES": str(LINES)}
        self.proc = subprocess.Popen([sys.executable, "-m", "taskboard", "--url", url], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.total = 0
        self.last_at = time.perf_counter()
        self.rate: float | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = os.read(self.master, 4096 if self.rate else 65536)
            except OSError:
                return
            if not data:
                return
            self.total += len(data)
            self.last_at = time.perf_counter()
            if self.rate:
                time.sleep(len(data) / self.rate)

    def count(self, seconds: float) -> int:
        """Bytes written in the next `seconds`."""
        before = self.total
        time.sleep(seconds)
        return self.total - before

    def caught_up(self, timeout: float = 60) -> float:
        """Waits until the terminal is no longer reading flat out (under half its rate over 0.5 s): the
        time then, when what the board had drawn has all been read. The 0.5 s window slides in 0.1 s
        steps (it stepped by whole windows, so every figure was a multiple of 0.5 s)."""
        deadline = time.perf_counter() + timeout
        assert self.rate is not None
        seen = collections.deque([(time.perf_counter(), self.total)])
        while time.perf_counter() < deadline:
            time.sleep(0.1)
            now = time.perf_counter()
            seen.append((now, self.total))
            while len(seen) > 1 and now - seen[1][0] >= 0.5:
                seen.popleft()
            at, before = seen[0]
            if now - at >= 0.5 and self.total - before < self.rate * 0.25:
                return at
        return deadline

    def quiet(self, seconds: float, timeout: float = 60) -> float:
        """Waits until nothing has arrived for `seconds`; returns when the last byte came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() - self.last_at < seconds and time.perf_counter() < deadline:
            time.sleep(0.05)
        return self.last_at

    def close(self) -> None:
        self.rate = None
        os.write(self.master, b"q")  # the board quits on q
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stop = True
        os.close(self.master)


def storm(url: str, seconds: float, ids: list[str]) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.storm", url, str(seconds), *ids], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    proc.stdout.readline()  # ready
    out: dict[str, float] = json.loads(proc.stdout.read().strip() or "{}")
    proc.wait()
    return out


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    n = sizes.board_tasks
    seconds = sizes.seconds
    with temp_dir() as tmp:
        db = tmp / "tty.db"
        seed_tasks(db, n)
        with running_server(db) as server:
            ids = [t["id"] for t in httpx.get(f"{server.url}/api/tasks", params={"limit": 200}).json()]
            term = Terminal(server.url, tmp)
            try:
                term.quiet(2.0)  # loaded and drawn
                idle = term.count(seconds) / seconds
                start = term.total
                began = time.perf_counter()
                result = storm(server.url, seconds, ids)
                fast = (term.total - start) / (time.perf_counter() - began)
                # The storm's frames drawn: a pause in the output. Under a second: the rows' ages tick every
                # second for a while after their tasks changed (quiet(1.0) waited 13 s through that).
                term.quiet(0.6)
                term.rate = SLOW_BYTES
                start = term.total
                began = time.perf_counter()
                slow_result = storm(server.url, seconds, ids)
                ended = time.perf_counter()
                slow = (term.total - start) / (ended - began)
                behind = term.caught_up() - ended
            finally:
                term.close()
    out.check(result.get("errors", 1) == 0 and slow_result.get("errors", 1) == 0, "terminal: storm writes refused")
    out.rows += [
        Row("terminal", f"{COLUMNS}x{LINES}, board idle: bytes written to the terminal", idle / 1024, "KB/s", "-",
            None),
        Row("terminal", f"{COLUMNS}x{LINES}, update storm ({result['rate']:,.0f} changes/s): bytes written",
            fast / 1024, "KB/s", "bounded", None, note="every change is to a row on screen or the selected task"),
        Row("terminal", f"the same storm, the terminal reading {SLOW_BYTES // 1024} KB/s: bytes written",
            slow / 1024, "KB/s", f"<= {SLOW_BYTES // 1024} KB/s", slow <= SLOW_BYTES * 1.05,
            note="the board redraws its table only once the terminal has taken the last frame"),
        Row("terminal", "the same storm over the slow terminal: the screen still catching up after it",
            max(behind, 0), "s", "< 2.5 s", behind < 2.5,
            note="what the pty's buffer holds (2 s of it at 32 KB/s) is read after the storm; Textual's own "
                 "queue of frames stays empty (measured by hand with that wait off: 8.5 s behind)"),
    ]
    return out
