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

A refusal is a 403 with a one-line text body; nothing is started for it. The wrapper adds an aiohttp
middleware to textual-serve's own application and leaves the rest of it as it is.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

COOKIE = "taskboard_web_token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
OPEN_PREFIXES = ("/static/",)


def host_name(host: str) -> str:
    """The name part of a Host header (`[::1]:8000` -> `::1`, `Example.COM.:80` -> `example.com`)."""
    host = host.strip()
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host[1:]
    else:
        name, colon, port = host.rpartition(":")
        if not colon or not port.isdigit():
            name = host
    return name.rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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


class GuardedServer(Server):
    """textual-serve's Server, with Host, Origin and secret checks in front of every route."""

    def __init__(self, command: str, *, host: str, port: int, public_url: str | None = None,
                 title: str | None = None, token: str | None = None) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token or secrets.token_urlsafe(24)
        names = {socket.gethostname().lower(), socket.getfqdn().lower(), *LOOPBACK_NAMES}
        if not _is_ip(host):
            names.add(host.lower())
        self.public_origin = _origin_of(self.public_url)
        if self.public_origin is not None:
            names.add(self.public_origin[1])
        self.names = frozenset(names)

    @property
    def url_with_token(self) -> str:
        return f"{self.public_url.rstrip('/')}/?token={self.token}"

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    def refusal(self, request: web.Request) -> str | None:
        """Why this request is refused, or None."""
        host = request.headers.get("Host")
        if host is None:
            return "a request without a Host header is refused"
        name = host_name(host)
        if not _is_ip(name) and name not in self.names:
            return f"Host {name[:100]!r} is not this board's name"
        origin = request.headers.get("Origin")
        if origin is not None:
            seen = _origin_of(origin)
            here = _origin_of(f"{request.scheme}://{host}")
            if seen is None or (seen != here and seen != self.public_origin):
                return f"cross-site request from origin {origin[:200]!r} refused"
        if request.path.startswith(OPEN_PREFIXES):
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
        if request.path == "/" and request.query.get("token") and isinstance(response, web.Response):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response


def serve(command: str, *, host: str, port: int, public_url: str | None, title: str = "taskboard",
          announce: Callable[[str], Any] = print) -> None:
    server = GuardedServer(command, host=host, port=port, title=title, public_url=public_url)
    announce(server.url_with_token)
    server.serve()
