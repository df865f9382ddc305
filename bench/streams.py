"""Stream harness: broken streams resume exactly; a client that stops reading is dropped; SIGTERM ends
every stream at once.

1. A task's log stream and the watch stream are each cut at 100 random byte offsets (mid-event as
   often as not) and resumed with Last-Event-ID: the ids received must be exactly the unbroken
   stream's, in order, with no gap and no repeat.
2. A watch client connects and never reads while 100 MB of changes are committed: the server must
   drop it within a bounded time (its open-stream count goes back down) with its memory bounded.
3. 100 idle stream clients are connected when SIGTERM arrives: the server exits within 5 s.

`python -m bench.streams [BREAKS]` prints the outcome and exits 1 on a problem.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import Outcome, Row, Sizes, rss_mb, running_server, temp_dir
from bench.seed import seed_log, seed_tasks, task_id
from taskboard.client.sse import SSEChunkDecoder
from tests.server import ServerProcess

STALL_SECONDS = 2.0  # the server's --stream-stall-seconds for this harness
STREAM_DEADLINE = 180.0  # the resume checks take a few seconds; a stream that never ends fails at this


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)


async def _read_ids(http: httpx.AsyncClient, path: str, last_id: int | None, cut: int | None,
                    until: int, sizes: list[int] | None = None) -> tuple[list[int], int | None, bool]:
    """Reads `path` from `last_id`, dropping the connection after `cut` bytes (None: read on until
    the stream ends or reaches id `until`). Returns the ids, the resume point and whether it ended;
    `sizes` gets the number of bytes read."""
    # The bytes as sent, uncompressed (httpx asks for gzip by default): the cuts are byte offsets into them.
    headers = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    decoder = SSEChunkDecoder()
    ids: list[int] = []
    read = 0
    async with http.stream("GET", path, headers=headers) as response:
        async for chunk in response.aiter_raw():
            if cut is not None and read + len(chunk) >= cut:
                chunk = chunk[:cut - read]  # the connection is dropped mid-stream here
            read += len(chunk)
            if sizes is not None:
                sizes.append(len(chunk))
            for event in decoder.feed(chunk):
                if event.id:
                    ids.append(int(event.id))
                if event.event == "end":
                    return ids, last_id, True
            if ids:
                last_id = ids[-1]
            if (cut is not None and read >= cut) or (ids and ids[-1] >= until):
                break
    return ids, last_id, False


async def _resume_exactly(http: httpx.AsyncClient, path: str, start: int | None, until: int, breaks: int,
                          rng: random.Random, what: str, findings: Findings) -> tuple[int, int]:
    """Returns how many events were compared and how many breaks were made."""
    sizes: list[int] = []
    truth, _, _ = await _read_ids(http, path, start, None, until, sizes)
    truth = [i for i in truth if i <= until]
    # Spread the breaks over the stream; no cut is longer than a (breaks + 1)th of it, so all of
    # them happen before it ends.
    longest_cut = max(1, sum(sizes) // (breaks + 1))
    got: list[int] = []
    last, ended, made = start, False, 0
    for _ in range(breaks):
        ids, last, ended = await _read_ids(http, path, last, rng.randint(1, longest_cut), until)
        made += 1
        got += ids
        if ended or (got and got[-1] >= until):
            break
    else:
        ids, last, ended = await _read_ids(http, path, last, None, until)  # the rest, unbroken
        got += ids
    got = [i for i in got if i <= until]
    if got != truth:
        gaps = sorted(set(truth) - set(got))[:3]
        repeats = len(got) - len(set(got))
        findings.problems.append(f"{what}: resumed stream differs from the unbroken one "
                                 f"(missing e.g. {gaps}, {repeats} repeated)")
    return len(truth), made


async def resumes(url: str, log_task: str, breaks: int, rng: random.Random, findings: Findings) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        top = await http.get("/api/tasks", params={"limit": 1})
        since = int(top.headers["x-revision"])
        for n in range(3000):  # changes for the watch stream to replay
            await http.patch(f"/api/tasks/{task_id(1 + n % 50)}", json={"priority": n % 4})
        until = int((await http.get("/api/tasks", params={"limit": 1})).headers["x-revision"])
        try:  # a stream that never brings what it should must fail the harness, not hang it (pings keep it open)
            async with asyncio.timeout(STREAM_DEADLINE):
                lines, log_breaks = await _resume_exactly(http, f"/api/tasks/{log_task}/logs", None, 10**12, breaks,
                                                          rng, "log stream", findings)
                events, watch_breaks = await _resume_exactly(http, "/api/events", since, until, breaks, rng,
                                                             "watch stream", findings)
        except TimeoutError:
            findings.problems.append(f"the log and watch streams did not bring their events within {STREAM_DEADLINE} s")
            return
        findings.figures.update(log_lines=lines, watch_events=events, breaks=min(log_breaks, watch_breaks))


async def slow_reader(server: ServerProcess, findings: Findings) -> None:
    """A watch client that never reads while the server commits far more than any buffer holds."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.transport.set_write_buffer_limits(0)
    sock = writer.get_extra_info("socket")
    import socket as socket_module
    sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, 4096)  # a small window fills fast
    writer.write(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async def streams() -> int:
            return int((await http.get("/api/health")).json()["streams"])

        deadline = time.monotonic() + 5
        while await streams() < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        before = rss_mb(server.proc.pid if server.proc else None)
        big = "x" * 1900  # under the description limit: every change is committed and published
        flood_started = time.monotonic()
        dropped_at = None
        peak = before
        written = 0
        ids = [task_id(1 + n) for n in range(50)]
        while time.monotonic() - flood_started < 60:
            answers = await asyncio.gather(*(http.patch(f"/api/tasks/{i}", json={"description": f"{big}{written + k}"})
                                             for k, i in enumerate(ids)))
            refused = [a for a in answers if a.status_code != 200]
            if refused:
                findings.problems.append(f"the flood's changes were refused: {refused[0].text[:200]}")
                break
            written += len(ids)
            peak = max(peak, rss_mb(server.proc.pid if server.proc else None))
            if await streams() == 0:
                dropped_at = time.monotonic()
                break
        writer.close()
    findings.figures.update(slow_dropped_s=(dropped_at or time.monotonic()) - flood_started,
                            slow_rss_growth_mb=peak - before, slow_mb_committed=written * 2.5 / 1000)
    if dropped_at is None:
        findings.problems.append("a watch client that stopped reading was not dropped within 60 s")
    else:
        await asyncio.sleep(0.2)
        said = "".join(server.output)
        if "dropped a stream client that took no data" not in said or "ASGI callable" in said:
            findings.problems.append(f"the server's log did not say the slow client was dropped: {said[-300:]!r}")
    if peak - before > 200:
        findings.problems.append(f"server memory grew {peak - before:.0f} MB behind a client that stopped reading")


async def sigterm_with_idle_streams(server: ServerProcess, findings: Findings) -> None:
    clients = []
    for n in range(100):
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        path = "/api/events" if n % 2 else f"/api/tasks/{task_id(2)}/logs"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        clients.append((reader, writer))
    async with httpx.AsyncClient(base_url=server.url) as http:
        deadline = time.monotonic() + 10
        while int((await http.get("/api/health")).json()["streams"]) < 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    started = time.monotonic()
    code = await asyncio.to_thread(server.stop, 30)
    took = time.monotonic() - started
    for _, writer in clients:
        writer.close()
    findings.figures["sigterm_exit_s"] = took
    if took > 5 or code is None:
        findings.problems.append(f"with 100 idle streams open the server took {took:.1f} s to exit on SIGTERM")


def copy_log_to_postgres(db: Path, url: str) -> None:
    """The seeded log lines into the PostgreSQL database (after bench.api.copy_to_postgres copied the tasks),
    their ids kept, and the ids' sequence moved past them."""
    import psycopg

    source = sqlite3.connect(db)
    with psycopg.connect(url, autocommit=True) as pg, pg.transaction():
        columns = "id, task_id, kind, event_type, message, data, ts"
        with pg.cursor().copy(f"COPY task_events ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
            for row in source.execute(f"SELECT {columns} FROM task_events"):
                copy.write_row(row)
        pg.execute("SELECT setval(pg_get_serial_sequence('task_events', 'id'), "
                   "(SELECT COALESCE(MAX(id), 1) FROM task_events))")
    source.close()


async def harness(breaks: int, seed: int = 1, store: str = "sqlite") -> Findings:
    """With store="postgres", the same board and log copied into a PostgreSQL database, and the same checks."""
    findings = Findings()
    rng = random.Random(seed)
    with temp_dir() as tmp:
        db = tmp / "streams.db"
        seed_tasks(db, 100)
        seed_log(db, task_id(1), 20_000)
        if store == "postgres":
            from bench.api import copy_to_postgres

            with running_server(db, store=store) as made:
                pass  # its start made the schema
            copy_to_postgres(db, made.db)
            copy_log_to_postgres(db, made.db)
        with running_server(db, "--stream-stall-seconds", str(STALL_SECONDS), store=store) as server:
            try:
                await resumes(server.url, task_id(1), breaks, rng, findings)
            except httpx.HTTPError as exc:
                findings.problems.append(f"a stream broke off ({exc!r}); the server said:\n"
                                         + "".join(server.output[-30:]))
                return findings
            await slow_reader(server, findings)
        server = ServerProcess(db, store=store)
        server.start(timeout=60)
        try:
            await sigterm_with_idle_streams(server, findings)
        finally:
            server.stop()
    return findings


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    breaks = 20 if sizes.quick else 100
    found = asyncio.run(harness(breaks))
    out.failures += found.problems
    f = found.figures
    resumed_ok = not any(p.startswith(("log stream", "watch stream")) for p in found.problems)
    out.rows += [
        Row("streams", f"log and watch streams cut at {breaks} random byte offsets each, resumed with "
            "Last-Event-ID", f.get("breaks", 0) if resumed_ok else 0, f"/ {breaks} exact", f"{breaks}/{breaks} exact",
            resumed_ok and f.get("breaks") == breaks, note=f"{f.get('log_lines', 0):,.0f} log lines and {f.get('watch_events', 0):,.0f} watch "
                             "events compared with the unbroken stream: no gap, no repeat"),
        Row("streams", "a watch client that stops reading: dropped after", f.get("slow_dropped_s", 0), "s",
            f"bounded (stall limit {STALL_SECONDS:g} s)", "slow_dropped_s" in f and f["slow_dropped_s"] < 30,
            note=f"server memory grew {f.get('slow_rss_growth_mb', 0):.0f} MB while "
                 f"{f.get('slow_mb_committed', 0):.0f} MB of changes were committed behind it"),
        Row("streams", "SIGTERM with 100 idle stream clients: server exited after", f.get("sigterm_exit_s", 0), "s",
            "< 5 s", f.get("sigterm_exit_s", 99) < 5),
    ]
    return out


if __name__ == "__main__":
    found = asyncio.run(harness(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
    print(found.figures)
    for problem in found.problems:
        print("PROBLEM", problem)
    sys.exit(1 if found.problems else 0)
