"""The reliability harnesses of bench/ in their fast versions (the long runs are `./scripts/bench`).

Each runs the real server; each also shows that its check can fail, so a green run means something.
"""

from __future__ import annotations

import random
import sqlite3

from bench.crash import Round, _check, crash_rounds
from bench.races import race
from bench.streams import harness
from tests.server import ServerProcess


async def test_crash_rounds_lose_nothing() -> None:
    clean, problems, totals = await crash_rounds(3, seed=7)
    assert problems == []
    assert clean == 3
    assert totals["acknowledged"] > 0 and totals["interrupted"] > 0


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


async def test_races_keep_every_history_legal() -> None:
    # Enough racing calls whatever else the machine is doing (CI runs the suite a worker per core).
    tally, events, compared = await race(3.0, clients=50, seed=3, min_calls=300)
    assert tally.problems == []
    assert sum(tally.calls.values()) > 200
    assert not any(code >= 500 for code in tally.statuses)
    assert events > 0 and compared > 0


async def test_streams_resume_exactly_drop_slow_readers_and_stop_on_sigterm() -> None:
    found = await harness(breaks=10, seed=5)
    assert found.problems == []
    assert found.figures["breaks"] == 10
    assert found.figures["slow_dropped_s"] < 30
    assert found.figures["sigterm_exit_s"] < 5
