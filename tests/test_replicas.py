"""Several servers on one PostgreSQL database (issue 23): a run belongs to the server that started it, held by
that server's lease; another server's start-up leaves it alone, a cancel, an answer or a message through any
server reaches it, and when its server dies its runs become failed and resumable on the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from taskboard.client import TaskboardClient
from taskboard.models import TaskStatus
from tests.helpers import LONG, start_task, wait_for_status
from tests.server import ServerProcess


def _replica(tmp_path: Path, *args: str) -> ServerProcess:
    server = ServerProcess(tmp_path / "shared", "--heartbeat", "0.5", "--lease-seconds", "3", *args,
                           store="postgres")
    server.start()
    return server


@asynccontextmanager
async def two_replicas(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess, TaskboardClient,
                                                             TaskboardClient]]:
    """Servers A and B on one database, and a client on each."""
    a, b = _replica(tmp_path), _replica(tmp_path)
    try:
        async with TaskboardClient(a.url) as on_a, TaskboardClient(b.url) as on_b:
            yield a, b, on_a, on_b
    finally:
        a.stop()
        b.stop()


async def _outcome(server: ServerProcess, task_id: str, attempt: int, timeout: float) -> object:
    """The run's outcome in the cost ledger, once its server has closed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = server.query("SELECT outcome FROM runs WHERE task_id = ? AND attempt = ? AND finished_at IS NOT NULL",
                            (task_id, attempt))
        if rows:
            return rows[0][0]
        await asyncio.sleep(0.05)
    return None


async def test_another_servers_start_leaves_a_live_run_alone_and_a_cancel_through_it_reaches_the_run(
        tmp_path: Path) -> None:
    a = _replica(tmp_path)
    try:
        async with TaskboardClient(a.url) as on_a:
            task = await start_task(on_a, "runs on A", params=LONG)
            await wait_for_status(on_a, task.id, "running")
            b = _replica(tmp_path)  # its start-up recovery must not take A's run for a crashed one's
            try:
                async with TaskboardClient(b.url) as on_b:
                    assert (await on_b.get_task(task.id)).status == TaskStatus.RUNNING
                    started = time.monotonic()
                    await on_b.cancel(task.id)
                    # A's runtime ended, as a cancel on A would end it: the run is closed as cancelled.
                    assert await _outcome(a, task.id, 1, timeout=5) == "cancelled"
                    assert time.monotonic() - started < 2
                    lines = len(a.query("SELECT id FROM task_events WHERE task_id = ?", (task.id,)))
                    await asyncio.sleep(0.5)  # LONG writes a step every 0.2 s: a live run would have added some
                    assert len(a.query("SELECT id FROM task_events WHERE task_id = ?", (task.id,))) == lines
            finally:
                b.stop()
    finally:
        a.stop()


async def test_an_answer_through_another_server_reaches_the_waiting_run(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (_, _, on_a, on_b):
        task = await start_task(on_a, "asks on A", params={
            "steps": 3, "stepSeconds": 0.01,
            "permission": {"tool": "Write", "input": {"file_path": "/tmp/x", "content": "x"}, "atStep": 1}})
        async with asyncio.timeout(20):
            while not (pending := await on_b.list_permissions(task_id=task.id)):
                await asyncio.sleep(0.05)
        await on_b.respond(task.id, pending[0].id, "allow")
        done = await wait_for_status(on_b, task.id, "completed", timeout=10)
        assert done.status == TaskStatus.COMPLETED


async def test_a_killed_servers_runs_become_failed_and_resumable_on_the_others(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, _, on_a, on_b):
        task = await start_task(on_a, "runs on A, which dies", params=LONG)
        await wait_for_status(on_a, task.id, "running")
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
