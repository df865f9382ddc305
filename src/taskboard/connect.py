"""Where the TUI's server comes from: a URL, or a bundled server started for `taskboard demo`.

No backend import here: the local server is a child process (`python -m taskboard serve`), so the
TUI talks to it over HTTP through the client like to any other, and a crash on one side does not
take the other with it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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
                 start_timeout: float = 30.0) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.label = "local demo server"

    def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskboard", "serve", "--host", "127.0.0.1", "--port", "0",
                 "--db", str(self.db_path), "--exit-with-stdin", *self.extra_args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

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
