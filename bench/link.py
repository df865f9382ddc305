"""A far link on loopback: a TCP proxy that delays each direction and caps its bandwidth (the kernel here
has no netem, and a benchmark may only talk to loopback).

Each direction is a queue of byte segments. A segment read at `t` goes on the wire when the wire is
free (`bandwidth` bytes per second, none = unlimited), and comes out the other end `delay` seconds
after its last byte went on: serialisation, then propagation. A new connection sends nothing for one
round trip (the TCP handshake a real link would cost; the proxy itself accepts at once). Bytes are
counted each way, so a benchmark can say what a load moved.

What it does not model: TCP slow start, congestion windows and loss (the proxy buffers whatever the
sender writes, as a link with a large window and no loss would carry it), and TLS.

`with far_link(url, rtt=0.1, mbit=20) as link:` runs it on a thread with its own loop (so its work is
not on the loop of the process under test) and gives `link.url`, `link.up`, `link.down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

SEGMENT = 16 * 1024  # what goes on the wire at once: a bandwidth-capped link delivers in pieces, not per read


class Direction:
    """One way of one connection: read, queue with the time each segment comes out, write then."""

    def __init__(self, link: FarLink, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 not_before: float, upward: bool) -> None:
        self.link, self.reader, self.writer, self.upward = link, reader, writer, upward
        self.free = not_before  # when the wire can take the next byte
        self.queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def run(self) -> None:
        deliver = asyncio.ensure_future(self._deliver())
        try:
            while data := await self.reader.read(256 * 1024):
                now = time.perf_counter()
                for start in range(0, len(data), SEGMENT):
                    segment = data[start:start + SEGMENT]
                    self.free = max(self.free, now)
                    if self.link.bandwidth:
                        self.free += len(segment) / self.link.bandwidth
                    self.queue.put_nowait((self.free + self.link.delay, segment))
                if self.upward:
                    self.link.up += len(data)
                else:
                    self.link.down += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.queue.put_nowait((0.0, b""))  # the end, after what is queued
            with contextlib.suppress(ConnectionError, OSError):
                await deliver

    async def _deliver(self) -> None:
        try:
            while True:
                due, segment = await self.queue.get()
                if not segment:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.writer.write(segment)
                await self.writer.drain()
        finally:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self.writer.close()


class FarLink:
    def __init__(self, upstream: str, rtt: float, mbit: float | None) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rtt, self.delay = rtt, rtt / 2
        self.bandwidth = mbit * 1_000_000 / 8 if mbit else None  # bytes per second, each way
        self.up = self.down = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="far-link")

    def start(self) -> FarLink:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the link simulator did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> None:
        """Counts from zero again (what the next load moves)."""
        self.up = self.down = 0

    @property
    def moved(self) -> int:
        return self.up + self.down

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # the closing gather below runs outside the loop, in this thread
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        # Ended quietly when the link stops: Python 3.11's start_server asks a cancelled task for its
        # exception, which raises, and logs a traceback per connection.
        with contextlib.suppress(asyncio.CancelledError):
            await self._connect(client_reader, client_writer)

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        accepted = time.perf_counter()
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.close()
            return
        # The handshake's round trip: the first request goes on the wire one round trip after connecting.
        up = Direction(self, client_reader, server_writer, accepted + self.rtt, upward=True)
        down = Direction(self, server_reader, client_writer, accepted, upward=False)
        await asyncio.gather(up.run(), down.run(), return_exceptions=True)


@contextlib.contextmanager
def far_link(upstream: str, rtt: float, mbit: float | None = None) -> Iterator[FarLink]:
    link = FarLink(upstream, rtt, mbit).start()
    try:
        yield link
    finally:
        link.stop()
