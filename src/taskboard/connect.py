"""Where the TUI's server comes from: a URL, or a bundled server started for `taskboard demo`.

No backend import here: the local server is a child process (`python -m taskboard serve`), so the
TUI talks to it over HTTP through the client like to any other, and a crash on one side does not
take the other with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from taskboard.client import TaskboardClient
from taskboard.client.base import TaskSource


def loopback_host(host: str) -> bool:
    """True for an address only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bindable(host: str, port: int) -> None:
    """Raise the OSError a server binding host:port would meet (the port busy, the address not ours).

    The same options as the server's socket, so a port in TIME_WAIT is not called busy.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1)


class ServerStartError(Exception):
    """The local server did not come up; the message carries the end of its log."""


class Connector(Protocol):
    label: str

    async def connect(self) -> TaskSource: ...

    def close(self) -> None: ...


class RemoteServer:
    """A server that is already running somewhere, speaking one of the dialects (or `auto`:
    probed on connect, and the label says what was found)."""

    def __init__(self, url: str, api_key: str | None = None, *, label: str | None = None,
                 dialect: str = "taskboard", poll_interval: float | None = None,
                 settings: dict[str, Any] | None = None, read_only: bool = False) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.label = label or self.url
        self.dialect = dialect
        self.poll_interval = poll_interval
        self.settings = dict(settings or {})
        self.read_only = read_only
        self.detected: str | None = None  # what `auto` saw
        self.provisional = False  # `auto` guessed (an empty server): detect again when tasks appear
        self.in_use: str | None = None  # the dialect of the client made last

    async def connect(self) -> TaskSource:
        from taskboard.client.dialects import detect_dialect, make_client

        dialect = self.dialect
        if dialect == "auto":
            found = await detect_dialect(self.url, self.api_key)
            dialect, self.detected, self.provisional = found.dialect, found.seen, not found.certain
            self.label = f"{self.label.partition(' (')[0]} ({dialect}, {'guessed' if self.provisional else 'detected'})"
        self.in_use = dialect
        client = make_client(dialect, self.url, self.api_key, poll_interval=self.poll_interval, **self.settings)
        if dialect != "taskboard" and dialect not in self.label:
            self.label = f"{self.label} ({dialect})"
        return client

    def close(self) -> None:
        pass


class MultiServer:
    """Several servers on one board (`taskboard --context a --context b`): a MultiClient over each
    one's client, with a column naming the server."""

    def __init__(self, servers: dict[str, RemoteServer]) -> None:
        self.servers = servers
        self.label = ", ".join(servers)

    async def connect(self) -> TaskSource:
        from taskboard.client.multi import MultiClient

        clients = {}
        for name, server in self.servers.items():
            clients[name] = await server.connect()
        read_only = frozenset(name for name, server in self.servers.items() if server.read_only)
        return MultiClient(clients, read_only=read_only)

    def close(self) -> None:
        pass


class LocalServer:
    """The bundled server in a child process on a free loopback port, stopped with us.

    Its stdin is a pipe from us: if we die without stopping it (even by SIGKILL), it reads EOF
    and exits by itself (`serve --exit-with-stdin`).
    """

    def __init__(self, db_path: Path, *, log_path: Path, extra_args: tuple[str, ...] = ("--demo",),
                 start_timeout: float = 30.0, port: int = 0,
                 on_start: Callable[[int], None] | None = None) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.port = port  # 0: a free one
        self.on_start = on_start  # told each server process's pid (the demo's temp dir records it)
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.label = "local demo server"

    def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskboard", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--db", str(self.db_path), "--exit-with-stdin", *self.extra_args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # Its own session: a hangup or ctrl+c meant for the board reaches us, and we stop the
                # server in order (it marks its running tasks) instead of the terminal killing it mid-write.
                start_new_session=True,
            )
        if self.on_start is not None:
            self.on_start(self.process.pid)

    def _read_url(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline().decode(errors="replace")
        prefix = "taskboard: serving "
        if not line.startswith(prefix):
            self.process.wait(timeout=5)
            raise ServerStartError(f"the local server did not start (exit {self.process.returncode}).\n"
                                   f"{self._log_tail()}")
        return line[len(prefix):].split()[0]

    async def connect(self) -> TaskboardClient:
        if self.process is None or self.process.poll() is not None:
            self.start()
            self.url = None
        if self.url is None:
            try:
                self.url = await asyncio.wait_for(asyncio.to_thread(self._read_url), self.start_timeout)
            except TimeoutError as exc:
                raise ServerStartError(f"the local server did not answer within {self.start_timeout:.0f} s.\n"
                                       f"{self._log_tail()}") from exc
            self.label = self.url
        return TaskboardClient(self.url)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-8:]
        except OSError:
            return ""
        return "\n".join(lines) + f"\n(full log: {self.log_path})"

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class DemoDir:
    """`taskboard demo --temp`'s throwaway directory (database, server log), and the sweep of those
    that killed demos left behind.

    Each holds OWNER: a line per process using it (the demo, its server), pid and start time. A
    directory is a leftover once none of them is alive (a pid reused by another process does not
    count as alive: its start time differs). A directory without OWNER is left alone: it may be a
    demo that has just made it, or one that no version of this code made.
    """

    PREFIX = "taskboard-demo-"
    OWNER = "owner.pid"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pids: list[int] = []

    @classmethod
    def create(cls) -> DemoDir:
        made = cls(Path(tempfile.mkdtemp(prefix=cls.PREFIX)))
        made.record(os.getpid())
        return made

    def record(self, pid: int) -> None:
        self._pids.append(pid)
        lines = "".join(f"{p} {_start_time(p) or '-'}\n" for p in self._pids)
        partial = self.path / f".{self.OWNER}.{os.getpid()}"
        partial.write_text(lines)
        partial.replace(self.path / self.OWNER)  # never half a file for a sweep to read

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @classmethod
    def sweep(cls, root: Path | None = None) -> list[Path]:
        """Remove the directories of demos that are gone; the ones removed."""
        removed = []
        for path in Path(root or tempfile.gettempdir()).glob(f"{cls.PREFIX}*"):
            with contextlib.suppress(OSError):
                if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                    continue
                owners = (path / cls.OWNER).read_text().split("\n")
                if any(_alive(line) for line in owners if line.strip()):
                    continue
                shutil.rmtree(path)
                removed.append(path)
        return removed


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _alive(owner_line: str) -> bool:
    pid_text, _, started = owner_line.strip().partition(" ")
    try:
        pid = int(pid_text)
    except ValueError:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process holds the pid: not our demo, but alive
    now = _start_time(pid)
    if now is not None and started not in ("", "-") and now != started:
        return False  # the pid was reused
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return False  # exited, not yet reaped
    return True
