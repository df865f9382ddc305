"""Small helpers for tests that drive the real server through the real client."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from taskboard.client import TaskboardClient
from taskboard.models import Task, TaskDetail

if TYPE_CHECKING:
    from tests.server import ServerProcess

# A demo task that finishes in well under a second, and one that runs until stopped.
FAST = {"steps": 3, "stepSeconds": 0.02}
LONG = {"steps": 100_000, "stepSeconds": 0.2}


async def wait_for_status(client: TaskboardClient, task_id: str, *statuses: str, timeout: float = 20.0) -> TaskDetail:
    deadline = time.monotonic() + timeout
    while True:
        task = await client.get_task(task_id)
        if task.status in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} is {task.status}, not {statuses}, after {timeout}s")
        await asyncio.sleep(0.02)


async def wait_claimed(server: ServerProcess, task_id: str, attempt: int, timeout: float = 20.0) -> None:
    """Wait until a runner has taken the attempt's run. On PostgreSQL a run is queued, nobody's, until a
    runner claims it (its ledger row gets an owner): a server stopped before then leaves it queued rather
    than interrupted. On SQLite it starts in the server that accepted it, so it is taken already."""
    if server.store != "postgres":
        return
    async with asyncio.timeout(timeout):
        while not server.query("SELECT owner FROM runs WHERE task_id = ? AND attempt = ? AND owner IS NOT NULL",
                               (task_id, attempt)):
            await asyncio.sleep(0.02)


async def run_outcomes(server: ServerProcess, task_ids: list[str], attempt: int = 1,
                       timeout: float = 10.0) -> dict[str, object]:
    """The outcome each attempt's run has in the cost ledger once its server has closed it (None: still open
    after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        outcomes: dict[str, object] = dict.fromkeys(task_ids)
        for task_id, outcome in server.query("SELECT task_id, outcome FROM runs WHERE attempt = ? AND finished_at "
                                             "IS NOT NULL", (attempt,)):
            if task_id in outcomes:
                outcomes[str(task_id)] = outcome
        if None not in outcomes.values() or time.monotonic() > deadline:
            return outcomes
        await asyncio.sleep(0.05)


async def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def start_task(client: TaskboardClient, title: str = "test task", **fields: Any) -> Task:
    """Create, queue and execute: the seed 001 Quick Start, minus the logs."""
    task = await client.create_task(title=title, **fields)
    await client.queue(task.id)
    await client.execute(task.id)
    return task
