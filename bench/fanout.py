"""Fan-out: N watch subscribers on /api/events; one change through the API -> how long until each has it.

Measured twice in the same run. Headline: the server and the subscribers' process on separate cores,
as subscribers on other machines would be. Unpinned, on a 2-core machine the kernel often wakes the
subscribers' process on the server's core, and the server then waits out a scheduler slice (3-5 ms)
mid-broadcast; that figure goes in the note.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

from bench import loadgen
from bench.common import Outcome, Row, Sizes, percentile, running_server, temp_dir


class Subscriber:
    """A raw SSE reader of the watch stream that notes when each revision arrives."""

    def __init__(self, url: str) -> None:
        self.conn = loadgen.Connection(url)
        self.seen: dict[int, float] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        await self.conn.open()
        assert self.conn.writer is not None and self.conn.reader is not None
        self.conn.writer.write(f"GET /api/events HTTP/1.1\r\nHost: {self.conn.netloc}\r\n"
                               "Accept: text/event-stream\r\n\r\n".encode())
        await self.conn.reader.readuntil(b"\r\n\r\n")
        buffer = b""
        while True:
            chunk = await self.conn.reader.read(65536)
            if not chunk:
                return
            now = time.perf_counter()
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                for line in block.split(b"\n"):
                    if line.startswith(b"event: hello"):
                        self.ready.set()
                    if line.startswith(b"id: "):
                        self.seen.setdefault(int(line[4:]), now)


async def measure(url: str, subscribers: int, changes: int) -> tuple[list[float], int]:
    subs = [Subscriber(url) for _ in range(subscribers)]
    readers = [asyncio.create_task(s.run()) for s in subs]
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), 30)
    writer = await loadgen.Connection(url).open()
    task = (await writer.request("POST", "/api/tasks", {"title": "fan-out"})).json()
    latencies: list[float] = []
    missed = 0
    for n in range(changes):
        sent = time.perf_counter()
        response = await writer.request("PATCH", f"/api/tasks/{task['id']}", {"priority": n % 4})
        revision = response.json()["revision"]
        deadline = time.perf_counter() + 5
        while any(revision not in s.seen for s in subs) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        for s in subs:
            if revision in s.seen:
                latencies.append((s.seen[revision] - sent) * 1000)
            else:
                missed += 1
        await asyncio.sleep(0.01)
    for r in readers:
        r.cancel()
    await writer.close()
    return latencies, missed


@contextlib.contextmanager
def separate_cores(server_pid: int) -> Iterator[bool]:
    """The server's threads on the first core, this process on the second; False where that cannot be done."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        yield False
        return
    threads = [int(t) for t in os.listdir(f"/proc/{server_pid}/task")]
    before = {t: os.sched_getaffinity(t) for t in threads}
    mine = os.sched_getaffinity(0)
    for t in threads:
        os.sched_setaffinity(t, {cpus[0]})
    os.sched_setaffinity(0, {cpus[1]})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, mine)
        for t, cores in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(t, cores)


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    n, changes = sizes.fanout_subscribers, sizes.samples * 5  # p99 over enough changes to be stable
    with temp_dir() as tmp, running_server(tmp / "fanout.db") as server:
        shared, shared_missed = loadgen.run(measure(server.url, n, changes))
        assert server.proc is not None
        with separate_cores(server.proc.pid) as pinned:
            latencies, missed = loadgen.run(measure(server.url, n, changes))
    out.check(missed + shared_missed == 0, f"fan-out: {missed + shared_missed} deliveries missing")
    how = "server and subscribers on separate cores" if pinned else "cores could not be pinned"
    out.rows.append(Row("fan-out", f"{n} watch subscribers, change -> every subscriber has it: p99",
                        percentile(latencies, 99), "ms", "< 20 ms", percentile(latencies, 99) < 20,
                        note=f"{len(latencies)} deliveries over {changes} changes, {how}; median "
                             f"{percentile(latencies, 50):.1f} ms. Sharing cores with the subscribers' process: "
                             f"p99 {percentile(shared, 99):.1f} ms, median {percentile(shared, 50):.1f} ms"))
    return out
