"""`taskboard web`: textual-serve, wrapped with the perimeter the API has, plus a per-run secret.

textual-serve checks neither `Host` nor `Origin`, and anyone on the machine can reach a loopback
port: a page on any web site, open in the user's browser, could open `ws://127.0.0.1:PORT/ws` and
type into the board, which holds the server's key. So every request here must

- name this server in `Host` (an IP address, a loopback name, this machine's name, or the host of
  --public-url): a DNS-rebound name is refused, as the API refuses it;
- when it carries an `Origin` (a browser's page or websocket), come from this very origin (the host
  and port the request was sent to, or --public-url's): a cross-site websocket is refused before it
  is accepted;
- for the page, the websocket and downloads, present the secret printed with the URL (as Jupyter
  does): `?token=` on the page, which then sets it as an HttpOnly, SameSite=Strict cookie that the
  page's websocket and later reloads carry. Static files (textual-serve's JS and CSS) need no secret.

A refusal is a 403 with a one-line text body; nothing is started for it.

Each accepted websocket runs one board process (`python -m taskboard ...` with textual's web driver),
and that process must not outlive its browser nor this server (issue 20: boards left behind by closed
browsers spun at 44-99% CPU, deaf to SIGTERM, after `taskboard web` had gone). textual-serve stops
reading a board's output as soon as a write to a closed websocket fails, so a board still drawing
blocks on a full pipe, its event loop (and the SIGTERM handler in it) with it. Here a board

- runs without a shell, in its own session (a ctrl+c in the terminal reaches this server, which then
  ends the boards in order), and on Linux with PR_SET_PDEATHSIG, so even a SIGKILLed server takes its
  boards along;
- has its output drained to the end once its browser is gone, so it can always finish writing;
- is asked to quit, then sent SIGTERM, then SIGKILL (its whole process group), each after a short
  grace, and is reaped: when its websocket closes, when it is closed abruptly (the next read fails,
  or the heartbeat goes unanswered), and for all boards when this server gets SIGTERM, SIGINT or SIGHUP.

The page reaches no third party: textual-serve's template asks fonts.googleapis.com for Roboto Mono,
which its own static files already hold, so the template is served with that link replaced by a
local @font-face, and a Content-Security-Policy keeps every request on this origin. `/favicon.ico`
is served (a small board glyph). Requests are logged only with --verbose; warnings always.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hmac
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from taskboard.hosts import LOOPBACK_NAMES, host_name, ip_of

log = logging.getLogger("taskboard.web")

COOKIE = "taskboard_web_token"
OPEN_PREFIXES = ("/static/",)
OPEN_PATHS = frozenset({"/favicon.ico"})
# A board asked to quit has this long to go, then as long again after SIGTERM, before SIGKILL.
QUIT_GRACE_SECONDS = 2.0
TERM_GRACE_SECONDS = 2.0
PR_SET_PDEATHSIG = 1


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme.lower())
    return parts.scheme.lower().replace("ws", "http"), parts.hostname.rstrip(".").lower(), port or default


def _favicon() -> bytes:
    """A 16x16 icon (an .ico holding one 32-bit bitmap): three columns of a board, on the page's colour."""
    size = 16
    columns = ((1, 4, 13), (6, 9, 10), (11, 14, 7))  # first x, last x, last y (from the top)
    pixels = bytearray()
    for y in reversed(range(size)):  # a bitmap's rows run bottom-up
        for x in range(size):
            on = any(first <= x <= last and 2 <= y <= bottom for first, last, bottom in columns)
            pixels += bytes((0xD3, 0xB3, 0x4E, 0xFF) if on else (0x1F, 0x18, 0x0C, 0xFF))  # BGRA
    mask = bytes(4 * size)  # the AND mask: nothing transparent
    header = struct.pack("<IiiHHIIiiII", 40, size, 2 * size, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    image = header + bytes(pixels) + mask
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 22) + image


FAVICON = _favicon()

FONT_FACES = """<style>
      @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>
    <link rel="icon" href="favicon.ico" />"""
_FONT_LINK = re.compile(r'<link\s+rel="stylesheet"\s+href="https://fonts\.googleapis\.com/[^"]*"\s*/?>')
_REMOTE = re.compile(r"""(?:href|src)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def local_template(text: str) -> str:
    """textual-serve's page template, asking nothing of a third party (its fonts are in its own static files)."""
    text = _FONT_LINK.sub(lambda _: FONT_FACES, text, count=1)
    if _REMOTE.search(text) or "fonts.googleapis.com" in text:
        # A textual-serve release whose page changed: refuse to serve a page that would call out.
        raise RuntimeError("textual-serve's page template loads something from another site; "
                           "taskboard web does not serve it")
    return text


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    """The board gets SIGKILL when this server dies, however it dies (Linux)."""
    assert _LIBC is not None
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the server died before prctl took hold
        os._exit(1)


class BoardService(AppService):
    """One board process for one websocket, which it never outlives (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.browser_gone = False
        self._stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *shlex.split(self.command), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height),
            start_new_session=True, preexec_fn=_die_with_parent if _LIBC is not None else None)
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def on_data(self, payload: bytes) -> None:
        # Once the browser is gone its output is read and dropped: a board that cannot write cannot quit.
        if not self.browser_gone:
            try:
                await self.remote_write_bytes(payload)
            except (ConnectionError, RuntimeError):
                self.browser_gone = True

    async def on_meta(self, data: bytes) -> None:
        if not self.browser_gone:
            try:
                await super().on_meta(data)
            except (ConnectionError, RuntimeError):
                self.browser_gone = True

    async def on_packed(self, payload: bytes) -> None:
        if not self.browser_gone:
            with contextlib.suppress(Exception):
                await super().on_packed(payload)

    async def run(self) -> None:
        await super().run()
        # The board ended (quit, or crashed): the page shows "Session ended" rather than a frozen screen.
        if not self.browser_gone:
            with contextlib.suppress(Exception):
                await self.remote_close()

    async def send_meta(self, data: dict[str, str | int | bool | None]) -> bool:
        try:
            return await super().send_meta(data)
        except Exception:  # the board's stdin is closed: it has gone, or is going
            return False

    def stop(self) -> asyncio.Future[None]:  # type: ignore[override]
        """End the board (once, however many callers ask): quit, SIGTERM, SIGKILL, and reap it."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        return asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        self.browser_gone = True
        process = self._process
        if process is None:
            return
        with contextlib.suppress(Exception):
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        await self.send_meta({"type": "quit"})
        for grace, signum in ((QUIT_GRACE_SECONDS, signal.SIGTERM), (TERM_GRACE_SECONDS, signal.SIGKILL)):
            try:
                await asyncio.wait_for(process.wait(), grace)
                break
            except TimeoutError:
                log.warning("board %s did not end in %.0f s: sending %s", process.pid, grace, signum.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)  # its own session: the board and anything it started
        await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2)
            except TimeoutError:  # something the board started still holds its stdout
                self._task.cancel()
            self._task = None


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class GuardedServer(Server):
    """textual-serve's Server, with Host, Origin and secret checks in front of every route, boards that
    end with their browser and with it, and a page that stays on this origin."""

    def __init__(self, command: str, *, host: str, port: int, public_url: str | None = None,
                 title: str | None = None, token: str | None = None, verbose: bool = False) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.given_public_url = public_url
        self.verbose = verbose
        self.token = token or secrets.token_urlsafe(24)
        self.boards: dict[BoardService, web.WebSocketResponse] = {}
        self.page = local_template((self.templates_path / "app_index.html").read_text(encoding="utf-8"))
        self._set_names()

    def _set_names(self) -> None:
        """The names this server answers to, and its public URL (once the port is known)."""
        if self.given_public_url is None:
            self.public_url = f"http://{_display_host(self.host)}:{self.port}"
        names = {socket.gethostname().lower(), socket.getfqdn().lower(), *LOOPBACK_NAMES}
        if ip_of(self.host) is None:
            names.add(self.host.lower())
        self.public_origin = _origin_of(self.public_url)
        if self.public_origin is not None:
            names.add(self.public_origin[1])
        self.names = frozenset(names)

    @property
    def url_with_token(self) -> str:
        return f"{self.public_url.rstrip('/')}/?token={self.token}"

    def initialize_logging(self) -> None:
        # Quiet by default: warnings (a board that would not end, one that failed to start); every
        # request with --verbose.
        logging.basicConfig(level=logging.INFO if self.verbose else logging.WARNING, stream=sys.stderr,
                            format="taskboard web: %(levelname)s %(name)s: %(message)s")

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints a banner; `taskboard web` prints its one line

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": self.page}))
        app.router.add_get("/favicon.ico", self.handle_favicon)
        app.middlewares.append(self._guard)
        return app

    async def handle_favicon(self, request: web.Request) -> web.Response:
        return web.Response(body=FAVICON, content_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})

    def content_security_policy(self) -> str:
        """Every request the page makes stays on this origin (its websocket included)."""
        parts = urlsplit(self.public_url)
        websocket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
        return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                f"img-src 'self' data:; font-src 'self'; connect-src 'self' {websocket}; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

    def refusal(self, request: web.Request) -> str | None:
        """Why this request is refused, or None."""
        host = request.headers.get("Host")
        if host is None:
            return "a request without a Host header is refused"
        name = host_name(host)
        if ip_of(name) is None and name not in self.names:
            return f"Host {name[:100]!r} is not this board's name"
        origin = request.headers.get("Origin")
        if origin is not None:
            seen = _origin_of(origin)
            here = _origin_of(f"{request.scheme}://{host}")
            if seen is None or (seen != here and seen != self.public_origin):
                return f"cross-site request from origin {origin[:200]!r} refused"
        if request.path.startswith(OPEN_PREFIXES) or request.path in OPEN_PATHS:
            return None
        presented = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(presented.encode(), self.token.encode()):
            return "this board needs the secret in the URL `taskboard web` printed (?token=...)"
        return None

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        reason = self.refusal(request)
        if reason is not None:
            return web.Response(status=403, text=f"taskboard web: {reason}\n")
        response = await handler(request)
        if request.path == "/" and isinstance(response, web.Response):
            response.headers["Content-Security-Policy"] = self.content_security_policy()
            response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the page's URL
            if request.query.get("token"):
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's, with a BoardService that ends with its websocket, however the websocket ends."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _to_int(request.query.get("width", "80"), 80)
        height = _to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)
        board = BoardService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                             close=websocket.close, download_manager=self.download_manager, debug=self.debug)
        self.boards[board] = websocket
        try:
            await board.start(width, height)
            await self._process_messages(websocket, board)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the board's websocket failed")
        finally:
            try:
                await board.stop()
            finally:
                self.boards.pop(board, None)
                with contextlib.suppress(Exception):
                    await websocket.close()
        return websocket

    async def stop_boards(self) -> None:
        """End every board and close its page's websocket (the page then says the session ended)."""
        async def close(websocket: web.WebSocketResponse) -> None:
            await asyncio.wait_for(websocket.close(), 2)

        boards = list(self.boards.items())
        await asyncio.gather(*(board.stop() for board, _ in boards), return_exceptions=True)
        await asyncio.gather(*(close(websocket) for _, websocket in boards), return_exceptions=True)

    async def run(self, announce: Callable[[str], Any]) -> None:
        """Serve until SIGTERM, SIGINT or SIGHUP; then end every board, then close."""
        self.initialize_logging()
        runner = web.AppRunner(await self._make_app(), handle_signals=False, shutdown_timeout=5,
                               access_log=logging.getLogger("aiohttp.access") if self.verbose else None)
        await runner.setup()
        try:
            if self.port == 0:  # one socket, so one free port (TCPSite would bind each address of a name)
                family, kind, proto, _, address = socket.getaddrinfo(
                    self.host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
                sock = socket.socket(family, kind, proto)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
                site: web.BaseSite = web.SockSite(runner, sock)
                self.port = sock.getsockname()[1]
                self._set_names()
            else:
                site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.add_signal_handler(signum, stop.set)
            announce(self.url_with_token)
            await stop.wait()
            await self.stop_boards()
        finally:
            await runner.cleanup()

    def serve(self, debug: bool = False, announce: Callable[[str], Any] = print) -> None:
        self.debug = debug
        asyncio.run(self.run(announce))


def _to_int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def serve(command: str, *, host: str, port: int, public_url: str | None, title: str = "taskboard",
          verbose: bool = False, announce: Callable[[str], Any] = print) -> None:
    """Serve the board until SIGTERM, SIGINT or SIGHUP. OSError when the address cannot be had."""
    GuardedServer(command, host=host, port=port, title=title, public_url=public_url,
                  verbose=verbose).serve(announce=announce)
