"""Start-up: `taskboard --version`, and `taskboard demo` to its first frame in a real terminal (tmux)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.common import Outcome, Row, Sizes, median, percentile

BIN = Path(sys.executable).parent


def timed(cmd: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def first_frame(runs: int) -> list[float]:
    """`taskboard demo --temp` in a 120x36 tmux pane until its table header is on the screen.

    On a tmux server of our own (-L), kept alive by a keeper session through every run: when the last
    session of a server ends the server exits, and a session asked for meanwhile fails (exit 1)."""
    tmux = ["tmux", "-L", f"taskboard-bench-{os.getpid()}"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "keeper", "sleep 3600"], check=True)
    try:
        timings = []
        for _ in range(runs):
            session = f"tb-bench-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                            f"{BIN / 'taskboard'} demo --temp"], check=True)
            try:
                deadline = started + 20
                while time.perf_counter() < deadline:
                    screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True,
                                            text=True).stdout
                    if "TITLE" in screen and "STATUS" in screen and "running" in screen:
                        timings.append((time.perf_counter() - started) * 1000)
                        break
                    time.sleep(0.01)
                else:
                    raise RuntimeError("taskboard demo showed no board within 20 s:\n" + screen)
            finally:
                subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=False)
                time.sleep(0.3)
                subprocess.run([*tmux, "kill-session", "-t", session], check=False, capture_output=True)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
    return timings


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    runs = 5 if sizes.quick else 20
    version = timed([str(BIN / "taskboard"), "--version"], runs)
    textual = timed([sys.executable, "-c", "import textual.app"], runs)
    out.rows.append(Row("start-up", "`taskboard --version`: median", median(version), "ms", "< 150 ms",
                        median(version) < 150, median(textual), "python -c 'import textual.app'",
                        note=f"p99 {percentile(version, 99):.0f} ms"))
    if shutil.which("tmux"):
        frames = first_frame(3 if sizes.quick else 10)
        out.rows.append(Row("start-up", "`taskboard demo` to a live board on screen: median", median(frames), "ms",
                            "< 1 s", median(frames) < 1000, note=f"max {max(frames):.0f} ms; real terminal (tmux)"))
    else:
        out.notes.append("tmux is not installed: first frame not measured")
    return out
