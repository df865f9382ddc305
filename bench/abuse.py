"""Abuse harness (issue 19): what a busy or hostile client does to the server's disk and memory.

1. WAL under sustained writes: four shell tasks print `seq 1 N` (N = 100,000 in a full run) at once,
   while a client lists 50 tasks of a 2,000-task board and asks /api/health in a loop. Measured: the
   WAL file's largest size while they run (target < 64 MB; it reached 5.8 GB before log lines were
   written in batches and checkpoints kept it bounded), the list's p99 meanwhile (< 50 ms), the WAL's
   size once they are done (journal_size_limit truncates it), and that every line was stored.
2. Memory under unauthenticated connections: 1,000 connections (100 with --quick) each send the
   headers of a 1 MiB-1 POST without a key, then the body, then stall; 500 more send half their
   headers and 100 say nothing. Measured: the server's RSS at its peak (< 400 MB; it reached 1,072 MB
   when the body was read before the key was checked) and after they are gone (back near the start),
   and how long the slow and silent connections stay open (the header time limit, 10 s).

`python -m bench.abuse [--quick]` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import httpx

from bench.common import FULL, QUICK, Outcome, Row, Sizes, missed, percentile, rss_mb, temp_dir
from tests.server import ServerProcess

TASKS = 4
WAL_TARGET_MB = 64
LIST_P99_TARGET_MS = 50
RSS_TARGET_MB = 400
BODY = 1024 * 1024 - 1


def _wal_mb(db: Path) -> float:
    try:
        return os.stat(f"{db}-wal").st_size / 1e6
    except FileNotFoundError:
        return 0.0


async def wal_under_log_lines(lines: int, board: int = 2000) -> dict[str, float]:
    with temp_dir() as tmp:
        db = tmp / "abuse.db"
        server = ServerProcess(db, "--enable-shell", "--concurrency", str(TASKS))
        server.start(timeout=120)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                for n in range(board):
                    await http.post("/api/tasks", json={"title": f"board task {n}", "priority": n % 4})
                ids = []
                for n in range(TASKS):
                    task = (await http.post("/api/tasks", json={
                        "title": f"printer {n}", "assignedAgent": "shell",
                        "params": {"command": f"seq 1 {lines}"}})).json()
                    await http.patch(f"/api/tasks/{task['id']}", json={"status": "queued"})
                    ids.append(task["id"])
                list_ms: list[float] = []
                health_ms: list[float] = []
                wal_max = 0.0
                started = time.perf_counter()
                for task_id in ids:
                    await http.post(f"/api/tasks/{task_id}/execute")
                while True:
                    t = time.perf_counter()
                    listed = await http.get("/api/tasks", params={"limit": 50, "sort": "-updated"})
                    list_ms.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    await http.get("/api/health")
                    health_ms.append((time.perf_counter() - t) * 1000)
                    wal_max = max(wal_max, _wal_mb(db))
                    assert listed.status_code == 200
                    statuses = {t["id"]: t["status"] for t in listed.json()}
                    if all(statuses.get(i) in ("completed", "failed") for i in ids):
                        break
                    await asyncio.sleep(0.01)
                elapsed = time.perf_counter() - started
                failed = [i for i in ids if statuses.get(i) != "completed"]
                # Settled: the next checkpoints have run (the checkpointer works every second).
                settle_until = time.monotonic() + 5
                while _wal_mb(db) > 4 and time.monotonic() < settle_until:
                    await asyncio.sleep(0.1)
                wal_after = _wal_mb(db)
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                stored = [conn.execute("SELECT COUNT(*), COUNT(DISTINCT message) FROM task_events WHERE task_id = ?"
                                       " AND kind = 'log' AND event_type = 'stdout'", (i,)).fetchone() for i in ids]
        finally:
            server.stop()
        return {"wal_max_mb": wal_max, "wal_after_mb": wal_after, "list_p99_ms": percentile(list_ms, 99),
                "list_median_ms": percentile(list_ms, 50), "health_p99_ms": percentile(health_ms, 99),
                "samples": len(list_ms), "seconds": elapsed, "failed_tasks": len(failed),
                "lines_missing": sum(lines - min(count, distinct) for count, distinct in stored),
                "db_mb": os.stat(db).st_size / 1e6 if db.exists() else 0.0, "lines": lines * TASKS}


async def _stalled_post(url_host: str, port: int, opened: list[asyncio.StreamWriter]) -> bool:
    """One connection: a keyless 1 MiB-1 POST whose body is sent, then the connection stalls.
    True when the server answered it (a 401) rather than waiting for more."""
    reader, writer = await asyncio.open_connection(url_host, port)
    opened.append(writer)
    writer.write(b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(BODY).encode() + b"\r\n\r\n")
    answered = False
    with contextlib.suppress(TimeoutError, ConnectionError):
        head = await asyncio.wait_for(reader.read(12), 30)  # before a byte of the body is sent
        answered = head.startswith(b"HTTP/1.1 401")
    with contextlib.suppress(ConnectionError, TimeoutError):
        writer.write(b"x" * BODY)  # and the body anyway, as the attack did
        await asyncio.wait_for(writer.drain(), 30)
    return answered


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float | None:
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                try:
                    if not await reader.read(4096):
                        break
                except ConnectionError:
                    break
            return time.monotonic() - started
    return None


async def memory_under_connections(connections: int, half: int, silent: int,
                                   header_timeout: float | None = None) -> dict[str, float]:
    with temp_dir() as tmp:
        args = ("--header-timeout", str(header_timeout)) if header_timeout else ()
        server = ServerProcess(tmp / "conn.db", *args, env={"TASKBOARD_API_KEY": "abuse-key-0123456789"})
        server.start(timeout=120)
        try:
            assert server.proc is not None
            pid = server.proc.pid
            host, port = server.url.removeprefix("http://").rsplit(":", 1)
            start_mb = rss_mb(pid)
            peak = start_mb
            opened: list[asyncio.StreamWriter] = []
            sem = asyncio.Semaphore(100)

            async def one() -> bool:
                async with sem:
                    return await _stalled_post(host, int(port), opened)

            jobs = [asyncio.create_task(one()) for _ in range(connections)]
            while not all(j.done() for j in jobs):
                peak = max(peak, rss_mb(pid))
                await asyncio.sleep(0.05)
            answered = sum(1 for j in jobs if not j.exception() and j.result())
            peak = max(peak, rss_mb(pid))
            # Slow and silent ones, opened while the stalled posts are still held open.
            slow = []
            for n in range(half + silent):
                reader, writer = await asyncio.open_connection(host, int(port))
                if n < half:
                    writer.write(b"GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
                slow.append((reader, writer))
            peak = max(peak, rss_mb(pid))
            closed_after = await asyncio.gather(*(_closed_within(r, 30) for r, _ in slow))
            peak = max(peak, rss_mb(pid))
            for writer in opened + [w for _, w in slow]:
                writer.close()
            await asyncio.sleep(1.0)  # the server notices the closes on its next loop turns
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                alive = (await http.get("/api/health")).status_code == 200
            after_mb = rss_mb(pid)
        finally:
            server.stop()
        still_open = sum(1 for c in closed_after if c is None)
        return {"start_mb": start_mb, "peak_mb": peak, "after_mb": after_mb, "answered": answered,
                "connections": connections, "slow": half + silent, "slow_still_open": still_open,
                "slow_closed_max_s": max((c for c in closed_after if c is not None), default=0.0),
                "healthy_after": float(alive)}


async def measure(sizes: Sizes) -> dict[str, dict[str, float]]:
    lines = sizes.log_lines
    conns = 100 if sizes.quick else 1000
    return {"wal": await wal_under_log_lines(lines),
            "memory": await memory_under_connections(conns, 50 if sizes.quick else 500, 10 if sizes.quick else 100)}


def run(sizes: Sizes) -> Outcome:
    found = asyncio.run(measure(sizes))
    wal, mem = found["wal"], found["memory"]
    out = Outcome()
    judge = not sizes.quick
    n = f"{TASKS} x {wal['lines'] / TASKS:,.0f}"
    out.rows += [
        Row("abuse", f"WAL while {n} log lines are written: largest", wal["wal_max_mb"], "MB",
            f"< {WAL_TARGET_MB} MB", wal["wal_max_mb"] < WAL_TARGET_MB if judge else None,
            note=f"database {wal['db_mb']:,.0f} MB at the end; {wal['lines']:,.0f} lines in {wal['seconds']:.1f} s"
                 + missed(wal["wal_max_mb"], WAL_TARGET_MB, "MB", "checkpoints run every second", "; ")),
        Row("abuse", "WAL once they are done", wal["wal_after_mb"], "MB", "truncated (journal_size_limit)", None),
        Row("abuse", "list 50 of 2,000 tasks meanwhile: p99", wal["list_p99_ms"], "ms", f"< {LIST_P99_TARGET_MS} ms",
            wal["list_p99_ms"] < LIST_P99_TARGET_MS if judge else None,
            note=f"{wal['samples']:,.0f} lists, median {wal['list_median_ms']:.1f} ms; /api/health p99 "
                 f"{wal['health_p99_ms']:.1f} ms"),
        Row("abuse", f"RSS under {mem['connections']:,.0f} stalled keyless 1 MiB POSTs: peak", mem["peak_mb"], "MB",
            f"< {RSS_TARGET_MB} MB", mem["peak_mb"] < RSS_TARGET_MB if judge else None,
            note=f"{mem['start_mb']:,.0f} MB at the start; {mem['answered']:,.0f} answered 401 without their body "
                 f"being read"),
        Row("abuse", "RSS once they are gone", mem["after_mb"], "MB", "near the start",
            mem["after_mb"] < mem["start_mb"] + 50 if judge else None),
        Row("abuse", f"{mem['slow']:,.0f} half-sent and silent connections: closed after (longest)",
            mem["slow_closed_max_s"], "s", "<= 11 s (header limit 10 s)",
            mem["slow_closed_max_s"] <= 11 and not mem["slow_still_open"] if judge else None),
    ]
    out.check(wal["lines_missing"] == 0, f"abuse: {wal['lines_missing']:,.0f} log lines missing")
    out.check(wal["failed_tasks"] == 0, f"abuse: {wal['failed_tasks']:,.0f} printing tasks did not complete")
    out.check(mem["slow_still_open"] == 0, f"abuse: {mem['slow_still_open']:,.0f} slow connections never closed")
    out.check(bool(mem["healthy_after"]), "abuse: the server did not answer after the connection flood")
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(QUICK if "--quick" in sys.argv else FULL))))
