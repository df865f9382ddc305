"""A small wrk-style HTTP/1.1 load generator: keep-alive connections, raw sockets, no client library.

httpx costs more CPU per request than the server does, so on a 2-core machine it would measure
itself. This speaks just enough HTTP/1.1 for our server's replies (Content-Length bodies).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:  # the server runs on uvloop; so does the load, where available
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def run(coro: Any) -> Any:
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.netloc = parts.netloc
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def build(self, method: str, path: str, body: Any = None) -> bytes:
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.netloc}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        return head.encode() + b"\r\n" + payload

    async def send(self, request: bytes) -> Response:
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Response(status, headers, body)

    async def request(self, method: str, path: str, body: Any = None) -> Response:
        return await self.send(self.build(method, path, body))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def load(url: str, connections: int, seconds: float,
               next_request: Callable[[int, int], tuple[str, str, Any]]) -> LoadResult:
    """`connections` clients, each sending `next_request(client, n)` back to back for `seconds`."""
    result = LoadResult()
    conns = [await Connection(url).open() for _ in range(connections)]
    deadline = time.perf_counter() + seconds

    async def client(index: int, conn: Connection) -> None:
        n = 0
        while time.perf_counter() < deadline:
            method, path, body = next_request(index, n)
            started = time.perf_counter()
            response = await conn.request(method, path, body)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    result.seconds = time.perf_counter() - started
    result.requests = len(result.latencies)
    for conn in conns:
        await conn.close()
    return result
