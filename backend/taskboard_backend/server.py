"""Running the app under uvicorn on a socket we bind ourselves (so port 0 works and is reported)."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any

import uvicorn

from taskboard_backend.app import create_app
from taskboard_backend.connections import guarded_protocol
from taskboard_backend.settings import Settings
from taskboard_backend.store import StoreUnavailable
from taskboard_backend.streams import DroppedStreamFilter


class _Server(uvicorn.Server):
    """Ends open streams at once on SIGTERM/SIGINT instead of waiting for their clients."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Signal handlers run on the loop's thread, so the broker can be told directly.
        app: Any = self.config.app
        app.state.service.end_streams()
        super().handle_exit(sig, frame)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this on Linux. Without it, a response written as headers + body
    # meets Nagle and the client's delayed ACK: 40 ms per request on a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    # Not inheritable (Python's default, said here because it matters): a task's child that held
    # the listening socket would keep the port after the server died, and a restart on it would fail.
    sock.set_inheritable(False)
    return sock


def bind_error(host: str, port: int, exc: OSError) -> str:
    """One line for a socket that would not bind: which address, and what to do about it."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"{shown} is already in use (another process is listening there): stop it, "
                "or pick another --port (0 picks a free one)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {shown}: {host} is not an address of this machine (see --host)"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {shown}: permission denied (ports below 1024 need privileges; pick another --port)"
    return f"cannot listen on {shown}: {exc.strerror or exc}"


def base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(settings: Settings, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(DroppedStreamFilter())
    forwarded = ",".join(settings.forwarded_allow_ips)
    return uvicorn.Config(
        create_app(settings), log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=3, loop="auto", ws="none",
        http=guarded_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds,
                              settings.max_connections),
        # X-Forwarded-For names the client only when a proxy we were told of sent it: uvicorn's default
        # trusts it from 127.0.0.1, so any local client could choose its own address per request.
        proxy_headers=bool(forwarded), forwarded_allow_ips=forwarded or None,
    )


def _exit_on_stdin_eof(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
    # The parent (`taskboard demo`) holds the other end of our stdin: when it is gone, so are we,
    # even if it was SIGKILLed and could not stop us itself.
    def wait() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        loop.call_soon_threadsafe(server.handle_exit, signal.SIGTERM, None)

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed (uvicorn[standard] brings it): about twice the requests per second."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def serve_forever(settings: Settings, log_level: str = "warning", exit_with_stdin: bool = False) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # Before the port: a second server on this SQLite file, or a file that is not one, is one line.
        if settings.db_url is None:
            from taskboard_backend.store_sqlite import check_database, claim_database

            claim_database(settings.db_path)
            check_database(settings.db_path)
        else:
            from taskboard_backend.store_postgres import check_database_url

            check_database_url(settings.db_url)
    except (StoreUnavailable, OSError) as exc:
        print(f"taskboard: {exc}", file=sys.stderr, flush=True)
        sys.exit(3)
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"taskboard: {bind_error(settings.host, settings.port, exc)}", file=sys.stderr, flush=True)
        sys.exit(2)  # the address given is the problem: a usage error
    server = _Server(_config(settings, log_level))
    url = base_url(settings.host, sock)

    async def run() -> None:
        if exit_with_stdin:
            _exit_on_stdin_eof(server, asyncio.get_running_loop())
        started = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not started.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        if server.started:
            # One machine-readable line: tests and `taskboard demo` read the URL from it.
            print(f"taskboard: serving {url} (database: {settings.db_shown})", flush=True)
        await started

    try:
        _run_loop(run())
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(1)
