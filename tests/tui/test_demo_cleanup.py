"""`taskboard demo --temp` leaves nothing behind: a throwaway database that outlives its demo is
litter in /tmp, and a stray server on it holds a port.

A hangup (tmux kill-session, a closed terminal) or SIGTERM ends the demo with its server
and its directory gone. SIGKILL cannot be caught, so the next demo removes what a killed one left,
and only that: never the directory of a demo still running.

Each demo runs in a real terminal (tmux) with TMPDIR pointed at the test's own directory, so the
sweep these tests exercise cannot reach the directories of anyone else's demos.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terminal import TMUX, pane, wait

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def _servers_in(tmp: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "exit-with-stdin"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(tmp) in line]


def _demo_dirs(tmp: Path) -> set[Path]:
    return set(tmp.glob("taskboard-demo-*"))


class Demos:
    """Demos in tmux sessions of their own, all ended when the test is done."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sessions: list[str] = []

    def start(self) -> tuple[str, int, Path]:
        """A live demo: its session, its pid and its temp directory."""
        session = f"tb-clean-{os.getpid()}-{len(self.sessions)}"
        before = _demo_dirs(self.tmp)
        command = (f"exec env TMPDIR={self.tmp} TASKBOARD_CONFIG=/nonexistent {sys.executable} -m taskboard "
                   "demo --temp")
        subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command], check=True)
        self.sessions.append(session)
        assert wait(lambda: "● live" in pane(session) and "▶ running" in pane(session)), pane(session)
        [made] = _demo_dirs(self.tmp) - before
        assert (made / "demo.db").exists()
        pid = int(subprocess.run([*TMUX, "display-message", "-p", "-t", session, "#{pane_pid}"],
                                 capture_output=True, text=True, check=True).stdout)
        return session, pid, made

    def close(self) -> None:
        for session in self.sessions:
            subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[Demos]:
    made = Demos(tmp_path)
    yield made
    made.close()


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent (the tmux server) has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


# SIGINT is handled the same way; it is not here because it cleaned up before too (KeyboardInterrupt
# reached the command's `finally`), and these tests are the ones that failed then.
@pytest.mark.parametrize("how", ["hangup", "SIGTERM"])
def test_a_demo_ended_by_a_signal_removes_its_directory_and_server(demos: Demos, tmp_path: Path,
                                                                   how: str) -> None:
    session, pid, made = demos.start()
    assert _servers_in(tmp_path)
    if how == "hangup":
        subprocess.run([*TMUX, "kill-session", "-t", session], check=True)  # the terminal goes: SIGHUP
    else:
        os.kill(pid, getattr(signal, how))
    assert wait(lambda: _gone(pid), timeout=15), "the demo did not end"
    assert wait(lambda: not made.exists() and not _servers_in(tmp_path), timeout=15), \
        (list(made.iterdir()) if made.exists() else [], _servers_in(tmp_path))


def test_the_next_demo_removes_what_a_killed_one_left_and_only_that(demos: Demos, tmp_path: Path) -> None:
    _, live_pid, live_dir = demos.start()  # a demo that stays running throughout
    _, killed_pid, killed_dir = demos.start()
    os.kill(killed_pid, signal.SIGKILL)  # no handler runs: its directory stays
    assert wait(lambda: _gone(killed_pid), timeout=15), subprocess.run(
        ["ps", "-o", "pid,ppid,stat,cmd", "-p", str(killed_pid)], capture_output=True, text=True).stdout
    assert wait(lambda: len(_servers_in(tmp_path)) == 1, timeout=15)  # its server saw stdin close
    assert (killed_dir / "demo.db").exists()

    _, _, new_dir = demos.start()
    assert not killed_dir.exists()
    assert (live_dir / "demo.db").exists() and not _gone(live_pid)
    assert _demo_dirs(tmp_path) == {live_dir, new_dir}


def test_a_directory_whose_pid_was_reused_is_a_leftover_and_one_without_owner_is_not(
        demos: Demos, tmp_path: Path) -> None:
    # A leftover whose recorded pid now belongs to another, live process (pid reuse): its start
    # time differs, so it is not the demo that made the directory.
    reused = tmp_path / "taskboard-demo-reused"
    reused.mkdir()
    (reused / "demo.db").write_bytes(b"")
    (reused / "owner.pid").write_text(f"{os.getpid()} 1\n")
    unowned = tmp_path / "taskboard-demo-unowned"  # made by something else: not ours to judge
    unowned.mkdir()
    demos.start()
    assert not reused.exists()
    assert unowned.exists()
