"""Crash harness: SIGKILL the server at a random moment under load, restart it, check nothing was lost.

Each round starts the real server on the same database, creates and runs a mix of demo and shell
tasks while following their logs, kills it with SIGKILL at a random moment, and checks after the
restart that:
- `PRAGMA integrity_check` is ok;
- every task a client got a 2xx for exists;
- no task is left running or awaiting_input: the ones that were are failed, saying why, and resume; on
  PostgreSQL a run that was queued (no runner had claimed it) is nobody's, so it outlives the kill and the
  restarted server runs it: it is running or completed, not failed;
- every log line a client received before the kill is still there, with the same id, in order.

`python -m bench.crash [ROUNDS] [SEED]` prints one line per round and exits 1 on the first loss.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Outcome, Row, Sizes, temp_dir
from taskboard.client import TaskboardClient, TaskboardError
from taskboard_backend.service import INTERRUPTED_ERROR
from tests.server import ServerProcess

# Bounded, so commands orphaned by the kill end by themselves within seconds.
SHELL_COMMAND = "for i in $(seq 1 300); do echo \"line $i\"; sleep 0.01; done"
DEMO_PARAMS = {"steps": 40, "stepSeconds": 0.05}


@dataclass
class Round:
    acknowledged: set[str] = field(default_factory=set)
    received: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    interrupted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)  # runs no runner had claimed at the kill (PostgreSQL)
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    killed: bool = False


async def _load(url: str, rng: random.Random, record: Round) -> None:
    """Creates and runs tasks and follows their logs until the server dies under it."""
    async with TaskboardClient(url, max_retries=0) as client:
        followers: list[asyncio.Task[None]] = []

        async def follow(task_id: str) -> None:
            try:
                async for entry in client.stream_logs(task_id, reconnect=False):
                    record.received[task_id].append((entry.id or 0, entry.message))
            except TaskboardError as exc:
                if not record.killed:
                    record.problems.append(f"log stream of {task_id} failed before the kill: {exc}")

        async def create() -> None:
            try:
                await create_forever()
            except TaskboardError as exc:
                if not record.killed:
                    record.problems.append(f"a request failed before the kill: {exc}")

        async def create_forever() -> None:
            while True:
                kind = rng.choice(("demo", "demo", "shell", "planned"))
                fields = {"title": f"crash {kind} {rng.randrange(10**6)}"}
                if kind == "shell":
                    fields.update(assigned_agent="shell", params={"command": SHELL_COMMAND})
                elif kind == "demo":
                    fields.update(params=DEMO_PARAMS)
                task = await client.create_task(**fields)
                record.acknowledged.add(task.id)
                if kind != "planned":
                    await client.queue(task.id)
                    await client.execute(task.id)
                    if len(followers) < 6:
                        followers.append(asyncio.create_task(follow(task.id)))
                await asyncio.sleep(rng.uniform(0, 0.05))

        creators = [asyncio.create_task(create()) for _ in range(3)]
        try:
            await asyncio.gather(*creators)
        finally:
            for task in creators + followers:
                task.cancel()
            await asyncio.gather(*creators, *followers, return_exceptions=True)


async def _run_until_killed(server: ServerProcess, rng: random.Random, record: Round) -> None:
    load = asyncio.create_task(_load(server.url, rng, record))
    await asyncio.sleep(rng.uniform(0.3, 1.5))
    record.killed = True
    server.kill()
    try:
        await asyncio.wait_for(load, 10)
    except TimeoutError:
        record.problems.append("the load did not notice the server had died within 10 s")


def _still_running(server: ServerProcess) -> list[str]:
    return [str(r[0]) for r in server.query("SELECT id FROM tasks WHERE status IN ('running', 'awaiting_input')")]


def _queued(server: ServerProcess) -> list[str]:
    """The tasks whose current run waited in the queue, unclaimed (only PostgreSQL queues runs)."""
    if server.store != "postgres":
        return []
    return [str(r[0]) for r in server.query(
        "SELECT t.id FROM tasks t JOIN runs r ON r.task_id = t.id AND r.attempt = t.attempt WHERE r.queued "
        "AND r.finished_at IS NULL AND t.status IN ('running', 'awaiting_input')")]


async def _check(db: Path, server: ServerProcess, record: Round, rng: random.Random) -> None:
    problems = record.problems
    if server.store == "sqlite":
        with sqlite3.connect(db) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
    stored = {r[0]: (r[1], r[2]) for r in server.query("SELECT id, status, error FROM tasks")}
    for task_id, lines in record.received.items():
        kept = dict(server.query("SELECT id, message FROM task_events WHERE task_id = ? AND kind = 'log'",
                                 (task_id,)))
        ids = [i for i, _ in lines]
        if ids != sorted(set(ids)):
            problems.append(f"{task_id}: lines arrived out of order or twice")
        for line_id, message in lines:
            if kept.get(line_id) != message:
                problems.append(f"{task_id}: received line {line_id} {message!r} is gone after the restart")
                break
        record.lines += len(lines)
    lost = record.acknowledged - stored.keys()
    if lost:
        problems.append(f"{len(lost)} acknowledged task(s) missing, e.g. {sorted(lost)[0]}")
    left = [i for i, (status, _) in stored.items()
            if status in ("running", "awaiting_input") and i not in record.queued]
    if left:
        problems.append(f"{len(left)} task(s) still running or awaiting_input after the restart")
    for task_id in record.interrupted:
        status, error = stored.get(task_id, (None, None))
        if (status, error) != ("failed", INTERRUPTED_ERROR):
            problems.append(f"interrupted task {task_id} is {status} ({error!r}), not failed as interrupted")
    for task_id in record.queued:
        status, error = stored.get(task_id, (None, None))
        if status not in ("running", "completed"):
            problems.append(f"queued task {task_id} is {status} ({error!r}) after the restart, not run")
    if record.interrupted:
        chosen = rng.choice(record.interrupted)
        async with TaskboardClient(server.url) as client:
            try:
                await client.resume(chosen)
            except TaskboardError as exc:
                problems.append(f"interrupted task {chosen} could not be resumed: {exc}")


async def crash_rounds(rounds: int, seed: int = 1, db_dir: Path | None = None, report: bool = False,
                       store: str = "sqlite") -> tuple[int, list[str], dict[str, int]]:
    """Runs the rounds; returns (rounds with nothing lost, problems, totals)."""
    rng = random.Random(seed)
    totals = {"acknowledged": 0, "interrupted": 0, "queued": 0, "lines": 0}
    problems: list[str] = []
    clean = 0
    with temp_dir() as tmp:
        db = (db_dir or tmp) / "crash.db"
        server = ServerProcess(db, "--enable-shell", "--demo-speed", "1", store=store)
        server.start(timeout=60)
        for n in range(1, rounds + 1):
            record = Round()
            await _run_until_killed(server, rng, record)
            record.queued = _queued(server)
            record.interrupted = [t for t in _still_running(server) if t not in record.queued]
            server = ServerProcess(db, "--enable-shell", "--demo-speed", "1", store=store)
            server.start(timeout=60)  # recovery runs before it answers
            await _check(db, server, record, rng)
            totals["acknowledged"] += len(record.acknowledged)
            totals["interrupted"] += len(record.interrupted)
            totals["queued"] += len(record.queued)
            totals["lines"] += record.lines
            clean += not record.problems
            problems += [f"round {n}: {p}" for p in record.problems]
            if report:
                print(f"round {n}: {len(record.acknowledged)} acknowledged, {len(record.interrupted)} interrupted, "
                      f"{len(record.queued)} queued, {record.lines} lines checked: {'ok' if not record.problems else record.problems}",
                      flush=True)
        server.stop()
    return clean, problems, totals


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    rounds = 10 if sizes.quick else 100
    started = time.perf_counter()
    clean, problems, totals = asyncio.run(crash_rounds(rounds))
    out.failures += problems[:20]
    out.rows.append(Row(
        "crash", f"SIGKILL at a random moment under load, restart, check: {rounds} rounds", clean, "rounds clean",
        f"{rounds}/{rounds} with nothing lost", clean == rounds,
        note=f"{totals['acknowledged']:,} acknowledged tasks all present; {totals['interrupted']:,} interrupted "
             f"tasks failed as interrupted and resumable; {totals['lines']:,} received log lines all kept, "
             f"in order; integrity_check ok every round ({time.perf_counter() - started:.0f} s)"))
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    clean, problems, totals = asyncio.run(crash_rounds(count, int(sys.argv[2]) if len(sys.argv) > 2 else 1,
                                                       report=True))
    print(f"{clean}/{count} rounds clean; {totals}")
    sys.exit(0 if clean == count else 1)
