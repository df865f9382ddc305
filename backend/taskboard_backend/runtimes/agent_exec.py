"""Started in place of an agent's program (the Claude Code CLI, `codex app-server`); runs the real one and outlives it
briefly. Both agent runtimes start their agent through it.

Why it exists:

- The Claude Agent SDK starts the CLI with the server's whole environment merged under the one it is
  given, so a variable the runtime never meant to pass (TASKBOARD_API_KEY, a cloud token) would reach the
  agent. This keeps only the variables named in TASKBOARD_AGENT_KEEP (the runtime's allow-list and the
  few the SDK sets itself) and runs the program named by TASKBOARD_AGENT_EXEC.
- The agent starts each shell tool in a session of its own, so what a tool leaves running (`cmd &`)
  is in no group the server could end, and outlives the agent. This program is a child subreaper
  (PR_SET_CHILD_SUBREAPER) in a session of its own: everything the agent starts is its descendant,
  orphans included, and when the agent has exited (or this program is told to stop: the signal goes
  to the agent first, which ends its tools) every descendant left is ended, TERM then KILL, before it
  exits with the agent's status.
- A server that is killed (SIGKILL, a crash) cannot end its runs: PR_SET_PDEATHSIG makes its death a
  SIGTERM here, which ends the agent and the rest as above, so no agent works on with nobody watching.

Only the standard library: it runs under `python -I -S`, in a few milliseconds.
"""

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 0.3


def live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process that is not a zombie, read from /proc. The shell
    runtime uses it too: a zombie is dead, and where init does not reap it would be waited for in vain."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # after the command name, which may hold spaces
        if len(fields) > 2 and fields[0] != b"Z":
            yield int(name), int(fields[1]), int(fields[2])


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent, _ in live_processes():
        children.setdefault(parent, []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_descendants() -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = descendants(os.getpid())
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline:
            reap()
            if not descendants(os.getpid()):
                return
            time.sleep(0.01)
    reap()


def main() -> None:
    keep = [name for name in os.environ.get("TASKBOARD_AGENT_KEEP", "").split(",") if name]
    cli = os.environ.get("TASKBOARD_AGENT_EXEC")
    if not cli:
        sys.stderr.write("agent_exec: TASKBOARD_AGENT_EXEC is not set\n")
        sys.exit(2)
    env = {name: os.environ[name] for name in keep if name in os.environ}
    try:
        os.setsid()
    except OSError:
        pass  # already a group leader
    server = os.environ.get("TASKBOARD_AGENT_SERVER_PID", "")
    orphaned = False
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        # A server that dies (SIGKILL, a crash) takes its agents with it: TERM comes to us, and goes on.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        orphaned = server.isdigit() and os.getppid() != int(server)  # it died before we asked
    except (OSError, AttributeError):
        pass  # not Linux: leftovers of a tool may outlive the run
    if orphaned:
        os._exit(1)
    child = os.fork()
    if child == 0:
        try:
            os.execve(cli, [cli, *sys.argv[1:]], env)
        finally:
            os._exit(127)

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(child, sig)
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    # The agent holds the pipes to the server; once it is gone the server must see them close, not wait for us.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    end_descendants()
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)  # killed by a signal: 128 + its number, as a shell says


if __name__ == "__main__":
    main()
