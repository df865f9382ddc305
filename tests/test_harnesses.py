"""The reliability harnesses of bench/ in their fast versions (the long runs are `./scripts/bench`).

Each runs the real server; each also shows that its check can fail, so a green run means something.
"""

from __future__ import annotations

import random
import sqlite3

import httpx

from bench.abuse import WAL_TARGET_MB, memory_under_connections, wal_under_log_lines
from bench.crash import Round, _check, crash_rounds
from bench.races import race
from bench.replicas import LEASE_SECONDS, Found, _check_watches
from bench.replicas import harness as replicas_harness
from bench.streams import harness
from tests.server import ServerProcess


async def test_crash_rounds_lose_nothing(store: str) -> None:
    clean, problems, totals = await crash_rounds(3, seed=7, store=store)
    assert problems == []
    assert clean == 3
    assert totals["acknowledged"] > 0 and totals["interrupted"] > 0
    if store == "postgres":  # runs queued at the kill, nobody's, were run by the restarted server
        assert totals["queued"] > 0


async def test_the_crash_check_notices_a_lost_task_and_a_lost_line(tmp_path) -> None:
    db = tmp_path / "c.db"
    server = ServerProcess(db)
    server.start()
    try:
        record = Round(acknowledged={"never-stored"})
        record.received["also-missing"] = [(1, "a line the client saw")]
        await _check(db, server, record, random.Random(1))
    finally:
        server.stop()
    assert any("acknowledged task(s) missing" in p for p in record.problems)
    assert any("is gone after the restart" in p for p in record.problems)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_races_keep_every_history_legal(store: str) -> None:
    # Enough racing calls whatever else the machine is doing (CI runs the suite a worker per core).
    tally, events, compared = await race(3.0, clients=50, seed=3, min_calls=300, store=store)
    assert tally.problems == []
    assert sum(tally.calls.values()) > 200
    assert not any(code >= 500 for code in tally.statuses)
    assert events > 0 and compared > 0


async def test_three_replicas_under_load_with_one_killed_lose_nothing_and_break_no_watch() -> None:
    """bench/replicas.py for 8 s (the bench runs it for 60): three servers on one PostgreSQL, 50 clients over
    them, C SIGKILLed halfway."""
    found = await replicas_harness(8.0, clients=50, seed=4)
    assert found.problems == []
    f = found.figures
    assert f["illegal"] == 0 and f["server_errors"] == 0 and f["lost"] == 0
    assert f["calls"] > 100 and f["acknowledged_by_killed"] > 0  # the killed one had answered writes
    assert f["runs_held_by_killed"] == f["killed_runs_failed"] == 4
    assert f["killed_runs_failed_max_s"] < LEASE_SECONDS
    assert f["probe_samples"] > 0 and f["watched_events"] > 0


class _Seen:
    """What a watch saw, as the replicas harness keeps it (its Watch without the stream)."""

    def __init__(self, revisions: list[int], resets: int = 0) -> None:
        self.events = [{"revision": r, "type": "task.upserted"} for r in revisions]
        self.arrived = {r: float(r) for r in revisions}
        self.resets = resets
        self.ended = False


async def test_the_replicas_check_notices_a_gap_a_difference_and_a_reset(tmp_path) -> None:
    server = ServerProcess(tmp_path / "gaps", store="postgres")
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for n in range(4):
                assert (await http.post("/api/tasks", json={"title": f"t{n}"})).status_code == 201
        stored = [int(r[0]) for r in server.query("SELECT revision FROM events ORDER BY revision")]
        head = stored[-1]
        whole = Found()
        _check_watches(server, _Seen(stored), _Seen(stored), head, None, whole)
        assert whole.problems == []
        gap = Found()
        _check_watches(server, _Seen(stored[:1] + stored[2:]), _Seen(stored[:1] + stored[2:]), head, None, gap)
        assert any("missed 1 revision" in p for p in gap.problems)
        apart = Found()
        _check_watches(server, _Seen(stored), _Seen(stored[:-1]), head, None, apart)
        assert any("differ by 1 revision" in p for p in apart.problems)
        reset = Found()
        _check_watches(server, _Seen(stored, resets=1), _Seen(stored), head, None, reset)
        assert any("reset 1 time" in p for p in reset.problems)
    finally:
        server.stop()


async def test_streams_resume_exactly_drop_slow_readers_and_stop_on_sigterm(store: str) -> None:
    found = await harness(breaks=10, seed=5, store=store)
    assert found.problems == []
    assert found.figures["breaks"] == 10
    assert found.figures["slow_dropped_s"] < 30
    assert found.figures["sigterm_exit_s"] < 5


async def test_the_wal_stays_bounded_under_a_flood_of_log_lines() -> None:
    """Issue 19, finding 6: four tasks printing 25,000 lines each took the WAL to 1.4 GB, and it never
    shrank; now it stays under the target and is cut back once they are done, every line stored."""
    found = await wal_under_log_lines(25_000, board=200)
    assert found["lines_missing"] == 0 and found["failed_tasks"] == 0
    assert found["wal_max_mb"] < WAL_TARGET_MB
    assert found["wal_after_mb"] < 9  # journal_size_limit (8 MiB), or truncated when quiet


async def test_keyless_posts_are_answered_before_their_body_and_slow_connections_closed() -> None:
    found = await memory_under_connections(40, half=10, silent=5, header_timeout=1.0)
    assert found["answered"] == 40  # a 401 came back before a byte of the 1 MiB body was sent
    assert found["slow_still_open"] == 0 and found["slow_closed_max_s"] < 5
    assert found["peak_mb"] - found["start_mb"] < 50
