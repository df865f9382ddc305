"""The server's perimeter, as ASGI middleware: who may talk to it, and from where.

- `HostOriginMiddleware`: a loopback server is reachable from any web page in the user's browser,
  through DNS rebinding (a site's name re-pointed at 127.0.0.1) or a plain cross-site request.
  Requests naming another site in `Host` or `Origin` are refused.
- `ApiKeyMiddleware`: one key, compared in constant time, checked before the body is read; an
  address that keeps guessing wrong keys is made to wait (`FailureLimiter`).

The limiter's address is the TCP peer: uvicorn rewrites it from `X-Forwarded-For` only for the
proxies named with `--forwarded-allow-ips` (off by default; uvicorn's own default trusts loopback,
which let any local client name itself anew on every guess). Every loopback address is one address
(127.0.0.2 is the same machine as 127.0.0.1), an IPv6 peer counts by its /64, the table of addresses
is bounded and sheds the oldest (never all at once, which unlocked a locked address), and a ceiling
on failed keys per minute across all addresses holds whatever the addresses are.

On a shared database (several servers, issue 23) the counts are the database's (`SharedFailureLimiter`):
wrong keys spread over the servers behind a load balancer are limited at the same totals as through one.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from taskboard.hosts import LOOPBACK_NAMES, host_name, ip_of

if TYPE_CHECKING:
    from taskboard_backend.store import Store

log = logging.getLogger("taskboard.perimeter")

OPEN_PATHS = frozenset({"/api/health"})
AUTH_FAILURES_ALLOWED = 10
AUTH_FAILURE_WINDOW = 60.0
# Wrong keys per window from every address together: guessing cannot go faster than this, however
# many addresses the guesser has.
AUTH_FAILURES_GLOBAL = 100
AUTH_ADDRESSES_KEPT = 10_000


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


class HostOriginMiddleware:
    """`Host` must be an IP address (DNS rebinding needs a name), a loopback name, this machine's
    name, the bound name or one allowed by `--allow-host`. `Origin`, when a browser sends one,
    must be loopback, an allowed name, or the very host the request was sent to."""

    def __init__(self, app: ASGIApp, bound_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        allowed = {name.strip().rstrip(".").lower() for name in allowed_hosts if name.strip()}
        self.any_host = "*" in allowed
        own = {socket.gethostname().lower(), socket.getfqdn().lower()}
        if ip_of(bound_host) is None:
            own.add(bound_host.lower())
        self.allowed = frozenset(allowed | LOOPBACK_NAMES)
        self.own = frozenset(own | self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any_host:
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        requested = host_name(host) if host is not None else None
        if requested is not None and ip_of(requested) is None and requested not in self.own:
            await send_json(send, 403, {
                "error": f"Host {requested!r} is not this server's name; start the server with "
                         f"--allow-host {requested} if it should answer to it",
                "code": "forbidden_host"})
            return
        if origin is not None and not self._origin_allowed(origin, requested):
            await send_json(send, 403, {
                "error": f"Cross-site request from origin {origin[:200]!r} refused; start the server with "
                         "--allow-host NAME to accept that origin",
                "code": "forbidden_origin"})
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, requested: str | None) -> bool:
        try:
            name = urlsplit(origin.strip()).hostname
        except ValueError:
            return False
        if not name:
            return False  # "null": a sandboxed frame or a file:// page
        name = name.rstrip(".").lower()
        address = ip_of(name)
        return (name in self.allowed or (address is not None and address.is_loopback)
                or (requested is not None and name == requested))


def limiter_key(address: str) -> str:
    """The address a guess is counted against: loopback is one machine, an IPv6 client its /64."""
    ip = ip_of(address)
    if ip is None:
        return address
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return limiter_key(str(ip.ipv4_mapped))
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureLimiter:
    """Failed keys per address and in all, over a sliding window."""

    def __init__(self, per_address: int = AUTH_FAILURES_ALLOWED, in_all: int = AUTH_FAILURES_GLOBAL,
                 window: float = AUTH_FAILURE_WINDOW, max_addresses: int = AUTH_ADDRESSES_KEPT) -> None:
        self.per_address = per_address
        self.in_all = in_all
        self.window = window
        self.max_addresses = max_addresses
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()  # oldest first
        self.all_failures: deque[float] = deque()

    def _prune(self, recent: deque[float], now: float) -> None:
        while recent and recent[0] <= now - self.window:
            recent.popleft()

    def wait(self, address: str, now: float) -> tuple[int, str] | None:
        """(seconds, who) to wait before this address may try a key again, or None."""
        self._prune(self.all_failures, now)
        if len(self.all_failures) >= self.in_all:
            return max(1, int(self.all_failures[0] + self.window - now + 0.999)), "all addresses"
        key = limiter_key(address)
        recent = self.failures.get(key)
        if recent is None:
            return None
        self._prune(recent, now)
        if not recent:
            del self.failures[key]
            return None
        if len(recent) >= self.per_address:
            return max(1, int(recent[0] + self.window - now + 0.999)), address
        return None

    def record(self, address: str, now: float) -> None:
        self.all_failures.append(now)
        key = limiter_key(address)
        recent = self.failures.pop(key, None)
        if recent is None:
            recent = deque()
            if len(self.failures) >= self.max_addresses:
                # First whatever has aged out of the window, then the oldest addresses not locked,
                # and a locked one only if nothing else is left.
                for stale in [k for k, v in self.failures.items() if not v or v[-1] <= now - self.window]:
                    del self.failures[stale]
                unlocked = (k for k, v in list(self.failures.items()) if len(v) < self.per_address)
                while len(self.failures) >= self.max_addresses:
                    victim = next(unlocked, None)
                    if victim is None:
                        self.failures.popitem(last=False)
                    else:
                        del self.failures[victim]
        recent.append(now)
        self.failures[key] = recent  # moved to the newest end


class SharedFailureLimiter:
    """FailureLimiter's rules, counted in the shared database by every server (Store.auth_failures).

    The database is asked only while some server has seen a wrong key within the window (each one says so
    with a notification), so a server nobody guesses at pays nothing per request. The first wrong key after a
    quiet window can reach another server a moment before its notification does: it is counted all the same,
    and the limit (ten) is never reached by one. When the database cannot be asked, this server's own counts
    (the FailureLimiter beside it) decide."""

    def __init__(self, store: Store, local: FailureLimiter) -> None:
        self.store = store
        self.local = local
        self.alert_until = 0.0  # monotonic: until then, some server saw a wrong key within the window
        store.on_auth_failure(self._heard)

    def _heard(self) -> None:
        self.alert_until = time.monotonic() + self.local.window

    async def wait(self, address: str, now: float) -> tuple[int, str] | None:
        if now >= self.alert_until:
            return None
        try:
            mine, mine_wait, total, total_wait = await self.store.auth_failures(limiter_key(address),
                                                                                self.local.window)
        except Exception as exc:
            log.warning("could not read the wrong keys from the database (%s); counting this server's", exc)
            return self.local.wait(address, now)
        if total >= self.local.in_all:
            return max(1, math.ceil(total_wait)), "all addresses"
        if mine >= self.local.per_address:
            return max(1, math.ceil(mine_wait)), address
        return None

    async def record(self, address: str, now: float) -> None:
        self.local.record(address, now)
        self._heard()
        try:
            await self.store.add_auth_failure(limiter_key(address), self.local.window)
        except Exception as exc:
            log.warning("could not count a wrong key in the database (%s)", exc)


class ApiKeyMiddleware:
    """X-API-Key or Authorization: Bearer, compared in constant time, before the body is read.

    After AUTH_FAILURES_ALLOWED wrong keys within AUTH_FAILURE_WINDOW seconds, an address gets 429
    (right key or not) until its oldest failure is out of the window: guessing stays slow. After
    AUTH_FAILURES_GLOBAL wrong keys from all addresses together, every address waits the same way.
    A missing key is not a guess and is not counted."""

    def __init__(self, app: ASGIApp, api_key: str, store: Store | None = None) -> None:
        self.app = app
        self.api_key = api_key.encode()
        self.limiter = FailureLimiter()
        self.shared = SharedFailureLimiter(store, self.limiter) if store is not None and store.shared else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        now = time.monotonic()
        waiting = await self.shared.wait(client, now) if self.shared else self.limiter.wait(client, now)
        if waiting is not None:
            wait, who = waiting
            await send_json(send, 429, {
                "error": f"Too many failed API key attempts from {who}; try again in {wait} s",
                "code": "rate_limited"}, [(b"retry-after", str(wait).encode())])
            return
        presented: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                presented = value
                break
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
        if presented is not None and hmac.compare_digest(presented, self.api_key):
            await self.app(scope, receive, send)
            return
        if presented is None:
            error = "Missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>"
        else:
            error = "Invalid API key"
            if self.shared:
                await self.shared.record(client, now)
            else:
                self.limiter.record(client, now)
        await send_json(send, 401, {"error": error, "code": "unauthorized"},
                        [(b"www-authenticate", b'Bearer realm="taskboard"'), (b"connection", b"close")])
