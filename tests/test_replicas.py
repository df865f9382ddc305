"""Several servers on one PostgreSQL database (issue 23): a run belongs to the server (or worker) that claimed
it, held by that one's lease; another server's start-up leaves it alone, a cancel, an answer or a message
through any server reaches it, and when its server dies its runs become failed and resumable on the others.
Runs accepted by any server are claimed by any runner, each once, none past its --concurrency; one not yet
claimed is nobody's, and outlives the server that accepted it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from taskboard.client import BudgetExceeded, TaskboardClient
from taskboard.models import Task, TaskStatus
from taskboard_backend.perimeter import AUTH_FAILURES_ALLOWED, AUTH_FAILURES_GLOBAL
from tests.helpers import FAST, LONG, run_outcomes, start_task, wait_claimed, wait_for_status
from tests.server import ServerProcess


def _replica(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             command: str = "serve") -> ServerProcess:
    extra = ("--heartbeat", "0.5") if command == "serve" else ()
    server = ServerProcess(tmp_path / "shared", *extra, "--lease-seconds", "3", *args, store="postgres", env=env,
                           command=command)
    server.start()
    return server


@asynccontextmanager
async def two_replicas(tmp_path: Path, *args: str) -> AsyncIterator[tuple[ServerProcess, ServerProcess,
                                                                          TaskboardClient, TaskboardClient]]:
    """Servers A and B on one database, and a client on each."""
    a, b = _replica(tmp_path, *args), _replica(tmp_path, *args)
    try:
        async with TaskboardClient(a.url) as on_a, TaskboardClient(b.url) as on_b:
            yield a, b, on_a, on_b
    finally:
        a.stop()
        b.stop()


@asynccontextmanager
async def claimed_on_a(tmp_path: Path, title: str, params: dict[str, object]) -> AsyncIterator[
        tuple[ServerProcess, ServerProcess, TaskboardClient, TaskboardClient, Task]]:
    """A task whose run server A claimed before server B started (so B cannot have taken it)."""
    a = _replica(tmp_path)
    b: ServerProcess | None = None
    try:
        async with TaskboardClient(a.url) as on_a:
            task = await start_task(on_a, title, params=params)
            await wait_claimed(a, task.id, 1)
            b = _replica(tmp_path)
            async with TaskboardClient(b.url) as on_b:
                yield a, b, on_a, on_b, task
    finally:
        a.stop()
        if b is not None:
            b.stop()


async def test_another_servers_start_leaves_a_live_run_alone_and_a_cancel_through_it_reaches_the_run(
        tmp_path: Path) -> None:
    a = _replica(tmp_path)
    try:
        async with TaskboardClient(a.url) as on_a:
            task = await start_task(on_a, "runs on A", params=LONG)
            await wait_claimed(a, task.id, 1)
            b = _replica(tmp_path)  # its start-up recovery must not take A's run for a crashed one's
            try:
                async with TaskboardClient(b.url) as on_b:
                    assert (await on_b.get_task(task.id)).status == TaskStatus.RUNNING
                    started = time.monotonic()
                    await on_b.cancel(task.id)
                    # A's runtime ended, as a cancel on A would end it: the run is closed as cancelled.
                    assert await run_outcomes(a, [task.id], timeout=5) == {task.id: "cancelled"}
                    assert time.monotonic() - started < 2
                    lines = len(a.query("SELECT id FROM task_events WHERE task_id = ?", (task.id,)))
                    await asyncio.sleep(0.5)  # LONG writes a step every 0.2 s: a live run would have added some
                    assert len(a.query("SELECT id FROM task_events WHERE task_id = ?", (task.id,))) == lines
            finally:
                b.stop()
    finally:
        a.stop()


async def test_cancels_through_another_server_that_race_the_runs_own_writes_close_every_run_as_cancelled(
        tmp_path: Path) -> None:
    # Runs that write all the time: each finds its task cancelled by its own next write, often before the
    # word from B comes, and that word (a second cancel) must not cut the first one's ending short (a run left
    # open in the ledger for ever, seen in CI) nor make a cancel a "superseded".
    busy = {"steps": 100_000, "stepSeconds": 0, "costPerStepMicros": 0}  # free: no budget ends them
    a = _replica(tmp_path, "--concurrency", "8")
    b: ServerProcess | None = None
    try:
        async with TaskboardClient(a.url) as on_a:
            tasks = [await start_task(on_a, f"busy on A {i}", params=busy) for i in range(8)]  # A's --concurrency
            for task in tasks:
                await wait_claimed(a, task.id, 1)
        b = _replica(tmp_path)  # after A has claimed them all: none runs on B
        async with TaskboardClient(b.url) as on_b:
            await asyncio.gather(*(on_b.cancel(task.id) for task in tasks))
        assert await run_outcomes(a, [t.id for t in tasks], timeout=10) == {t.id: "cancelled" for t in tasks}
    finally:
        a.stop()
        if b is not None:
            b.stop()


async def test_an_answer_through_another_server_reaches_the_waiting_run(tmp_path: Path) -> None:
    asks = {"steps": 3, "stepSeconds": 0.01,
            "permission": {"tool": "Write", "input": {"file_path": "/tmp/x", "content": "x"}, "atStep": 1}}
    async with claimed_on_a(tmp_path, "asks on A", asks) as (_, _, _, on_b, task):
        async with asyncio.timeout(20):
            while not (pending := await on_b.list_permissions(task_id=task.id)):
                await asyncio.sleep(0.05)
        await on_b.respond(task.id, pending[0].id, "allow")
        done = await wait_for_status(on_b, task.id, "completed", timeout=10)
        assert done.status == TaskStatus.COMPLETED


async def test_a_killed_servers_runs_become_failed_and_resumable_on_the_others(tmp_path: Path) -> None:
    async with claimed_on_a(tmp_path, "runs on A, which dies", LONG) as (a, _, _, on_b, task):
        changes: list[str] = []

        async def watch() -> None:
            async for event in on_b.watch():
                changes.append(event.type)

        watching = asyncio.create_task(watch())
        a.kill()
        failed = await wait_for_status(on_b, task.id, "failed", timeout=10)
        assert failed.error is not None and "lease" in failed.error
        assert "reset" not in changes  # B's watch carried on
        watching.cancel()
        await on_b.resume(task.id)
        assert (await wait_for_status(on_b, task.id, "running")).attempt == 2
        await on_b.cancel(task.id)


async def test_queued_runs_are_claimed_once_each_by_any_runner_and_none_runs_past_its_concurrency(
        tmp_path: Path) -> None:
    """Two servers and a worker on one database, concurrency 2 each, 12 tasks accepted by one server: every
    task runs exactly once, the three share them, and no runner ever has more than two going. The tasks
    write their runner's name as they start and end (O_APPEND lines, in the order they happened)."""
    trace = tmp_path / "trace"
    args = ("--concurrency", "2", "--enable-shell", "--shell-env", "RUNNER")
    a = _replica(tmp_path, *args, env={"RUNNER": "A"})
    b = _replica(tmp_path, *args, env={"RUNNER": "B"})
    w = _replica(tmp_path, *args, env={"RUNNER": "W"}, command="worker")
    try:
        async with TaskboardClient(a.url) as on_a:
            command = (f'echo "$RUNNER + $TASKBOARD_TASK_ID" >> {trace}; sleep 0.3; '
                       f'echo "$RUNNER - $TASKBOARD_TASK_ID" >> {trace}')
            tasks = [await start_task(on_a, f"claimed {n}", assigned_agent="shell", params={"command": command})
                     for n in range(12)]
            for task in tasks:
                assert (await wait_for_status(on_a, task.id, "completed", timeout=30)).attempt == 1
        lines = [line.split() for line in trace.read_text().splitlines()]
        starts = [task_id for _, sign, task_id in lines if sign == "+"]
        assert sorted(starts) == sorted(t.id for t in tasks)  # each once
        going = dict.fromkeys("ABW", 0)
        most = dict.fromkeys("ABW", 0)
        for runner, sign, _ in lines:
            going[runner] += 1 if sign == "+" else -1
            most[runner] = max(most[runner], going[runner])
        assert max(most.values()) <= 2, most
        assert sum(1 for n in most.values() if n) >= 2, most  # not all on the server that accepted them
        # The ledger agrees: one run per task, claimed, closed as completed.
        rows = a.query("SELECT task_id, outcome FROM runs WHERE owner IS NOT NULL")
        assert sorted(rows) == sorted((t.id, "completed") for t in tasks)
    finally:
        for proc in (a, b, w):
            proc.stop()


async def test_a_worker_runs_what_a_busy_server_accepted_and_hears_its_cancel(tmp_path: Path) -> None:
    """A server whose one slot is busy leaves the shell task it accepted to the worker, which claims it; a
    cancel through the server ends the run on the worker within a second."""
    server = _replica(tmp_path, "--enable-shell", "--concurrency", "1")
    try:
        async with TaskboardClient(server.url) as client:
            # The server's one slot is busy with a long demo task, so it cannot take the shell one.
            await wait_claimed(server, (await start_task(client, "keeps the server busy", params=LONG)).id, 1)
            worker = _replica(tmp_path, "--enable-shell", command="worker")
            try:
                task = await start_task(client, "on the worker", assigned_agent="shell",
                                        params={"command": "echo started; sleep 30"})
                async with asyncio.timeout(10):
                    while not server.query("SELECT id FROM task_events WHERE task_id = ? AND message = 'started'",
                                           (task.id,)):
                        await asyncio.sleep(0.05)
                begun = time.monotonic()
                await client.cancel(task.id)
                assert await run_outcomes(server, [task.id], timeout=5) == {task.id: "cancelled"}
                assert time.monotonic() - begun < 2
            finally:
                worker.stop()
    finally:
        server.stop()


async def _busy(client: TaskboardClient, server: ServerProcess) -> Task:
    """A long demo task that `server` (concurrency 1) claimed: its one slot is busy."""
    busy = await start_task(client, "keeps the server busy", params=LONG)
    await wait_claimed(server, busy.id, 1)
    return busy


async def _queued(client: TaskboardClient, server: ServerProcess) -> Task:
    """A shell task accepted by a busy `server` while no other runner with shell is up: it stays queued."""
    task = await start_task(client, "queued", assigned_agent="shell", params={"command": "echo ran it"})
    assert server.query("SELECT queued, finished_at FROM runs WHERE task_id = ?", (task.id,)) == [(True, None)]
    return task


async def _ran_to_the_end(client: TaskboardClient, task_id: str) -> None:
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=20)
    assert (done.status, done.attempt, done.error) == (TaskStatus.COMPLETED, 1, None)
    assert "ran it" in [entry.message async for entry in client.stream_logs(task_id, reconnect=False)]


async def test_a_queued_run_outlives_its_accepting_servers_death_and_runs_on_another_runner(
        tmp_path: Path) -> None:
    """A queued run is nobody's until a runner claims it, as a job in River's or Oban's queue: SIGKILL the
    server that accepted it and its claimed run fails, resumable, on the others, while the queued one stays
    queued and runs to the end on the next runner with its runtime (a worker started later)."""
    a = _replica(tmp_path, "--enable-shell", "--concurrency", "1")
    try:
        async with TaskboardClient(a.url) as on_a:
            busy = await _busy(on_a, a)
            b = _replica(tmp_path)  # after A's claim, which it could have taken; no shell, so not the next run
            try:
                task = await _queued(on_a, a)
                a.kill()
                async with TaskboardClient(b.url) as on_b:
                    failed = await wait_for_status(on_b, busy.id, "failed", timeout=10)
                    assert failed.error is not None and "lease" in failed.error
                    # The same look that failed A's claimed run left the queued one alone.
                    assert (await on_b.get_task(task.id)).status == TaskStatus.RUNNING
                    worker = _replica(tmp_path, "--enable-shell", command="worker")
                    try:
                        await _ran_to_the_end(on_b, task.id)
                    finally:
                        worker.stop()
                assert b.query("SELECT outcome FROM runs WHERE task_id = ?", (task.id,)) == [("completed",)]
            finally:
                b.stop()
    finally:
        a.stop()


async def test_a_queued_run_outlives_its_accepting_servers_stop_and_runs_on_the_next_server(
        tmp_path: Path) -> None:
    """Stopping the accepting server (SIGTERM) fails what it runs, resumable, and leaves what it only
    queued to the next server to start with that runtime."""
    a = _replica(tmp_path, "--enable-shell", "--concurrency", "1")
    try:
        async with TaskboardClient(a.url) as on_a:
            busy = await _busy(on_a, a)
            task = await _queued(on_a, a)
    finally:
        a.stop()
    b = _replica(tmp_path, "--enable-shell")
    try:
        async with TaskboardClient(b.url) as on_b:
            assert (await on_b.get_task(busy.id)).status == TaskStatus.FAILED
            await _ran_to_the_end(on_b, task.id)
    finally:
        b.stop()


def test_a_worker_refuses_a_sqlite_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "taskboard", "worker", "--db", str(tmp_path / "x.db")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "postgresql://" in result.stderr


KEY = "the-right-key"


async def test_wrong_keys_spread_over_two_servers_are_limited_at_the_same_total_as_through_one(
        tmp_path: Path) -> None:
    """Ten wrong keys from one address, taking turns between A and B: the eleventh try is refused on both,
    the right key too, as through one server (tests/test_perimeter.py); a count kept per process would have
    let twenty through."""
    a = _replica(tmp_path, env={"TASKBOARD_API_KEY": KEY})
    b = _replica(tmp_path, env={"TASKBOARD_API_KEY": KEY})
    try:
        async with httpx.AsyncClient(base_url=a.url) as on_a, httpx.AsyncClient(base_url=b.url) as on_b:
            for n in range(AUTH_FAILURES_ALLOWED):
                http = (on_a, on_b)[n % 2]
                assert (await http.get("/api/tasks", headers={"X-API-Key": f"guess-{n}"})).status_code == 401
            for http in (on_a, on_b):
                limited = await http.get("/api/tasks", headers={"X-API-Key": "guess-again"})
                assert limited.status_code == 429
                assert 55 <= int(limited.headers["retry-after"]) <= 60
                assert limited.json()["error"].startswith("Too many failed API key attempts from 127.0.0.1")
                assert (await http.get("/api/tasks", headers={"X-API-Key": KEY})).status_code == 429
    finally:
        a.stop()
        b.stop()


async def test_the_ceiling_in_all_holds_over_two_servers(tmp_path: Path) -> None:
    """AUTH_FAILURES_GLOBAL wrong keys from many addresses (named by a trusted proxy), half through each
    server: then every address waits, on both."""
    args = ("--forwarded-allow-ips", "127.0.0.1")
    a = _replica(tmp_path, *args, env={"TASKBOARD_API_KEY": KEY})
    b = _replica(tmp_path, *args, env={"TASKBOARD_API_KEY": KEY})
    try:
        async with httpx.AsyncClient(base_url=a.url) as on_a, httpx.AsyncClient(base_url=b.url) as on_b:
            for n in range(AUTH_FAILURES_GLOBAL):
                http = (on_a, on_b)[n % 2]
                forwarded = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"}  # never one address's ten
                response = await http.get("/api/tasks", headers={"X-API-Key": f"guess-{n}", **forwarded})
                assert response.status_code == 401, n
            for http in (on_a, on_b):
                everyone = await http.get("/api/tasks", headers={"X-API-Key": "x", "X-Forwarded-For": "10.200.0.1"})
                assert everyone.status_code == 429
                assert everyone.json()["error"].startswith("Too many failed API key attempts from all addresses")
    finally:
        a.stop()
        b.stop()


async def test_the_daily_budget_spent_through_one_server_holds_on_another(tmp_path: Path) -> None:
    async with two_replicas(tmp_path, "--daily-budget", "0.01") as (_, _, on_a, on_b):
        spent = await start_task(on_a, "spends", params=FAST)
        await wait_for_status(on_a, spent.id, "completed")
        task = await on_b.create_task(title="one too many, through B")
        await on_b.queue(task.id)
        with pytest.raises(BudgetExceeded) as refused:
            await on_b.execute(task.id)
        assert refused.value.status == 429
        assert (await on_b.get_task(task.id)).status == "queued"
