"""A real terminal for the tests that need one: tmux, on a tmux server of this test process's own.

With the suite a worker per core, tests on the shared default server raced each other: when one test's last
session ended, the server exited while another worker's `new-session` was reaching it, and that failed. Each
process gets its own (`tmux -L`), ended when the process exits. The same happened within one process, one test
after another: the last session of a test ended, the server began to exit, and the next test's `new-session`
reached it as it went ("server exited unexpectedly"). So the server stays up with no sessions (exit-empty off).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
from collections.abc import Callable

TMUX = ["tmux", "-L", f"taskboard-tests-{os.getpid()}"]
if shutil.which("tmux") is not None:  # the tests that need it are skipped where it is missing
    subprocess.run([*TMUX, "start-server", ";", "set-option", "-g", "exit-empty", "off"], capture_output=True,
                   check=True)
atexit.register(lambda: subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False))


def pane(session: str) -> str:
    """What the terminal shows now."""
    return subprocess.run([*TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait(predicate: Callable[[], object], timeout: float = 30.0) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (a terminal sends no signal to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
