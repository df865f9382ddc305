"""Each run's diff in the cost ledger (runs.diff; issue 22's openai-codex-app-server writes it) on both stores:
set for one attempt only while the task is on that attempt (a stale run writes nothing), with a new revision
of the task so watchers fetch its detail again, and read back by attempt for GET /api/tasks/{id}.

The store is opened in this process on a real database (a SQLite file; a database on the session's private
PostgreSQL cluster): the runtime that writes diffs is not on this branch yet, so the operations are driven
from here, as the runner's RunContext.set_diff drives them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskboard.models import TaskStatus
from taskboard_backend.broker import Broker
from taskboard_backend.store import Store, make_store, now_iso
from tests.conftest import STORES


@pytest.fixture(params=STORES)
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        from tests.postgres import database_for

        target = database_for(str(tmp_path / "diffs"))
    else:
        target = str(tmp_path / "diffs.db")
    store = make_store(target, Broker())
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def _running_task(store: Store, task_id: str) -> None:
    now = now_iso()
    async with store.transaction() as tx:
        await tx.insert_task({"id": task_id, "title": "diffs", "status": "queued", "priority": 2,
                              "document_ids": [], "source_type": "manual", "created_at": now, "updated_at": now})
        await tx.transition(task_id, TaskStatus.RUNNING, {"attempt": 1})
        await tx.start_run(task_id, 1, "demo", now)


async def _next_attempt(store: Store, task_id: str, attempt: int) -> None:
    async with store.transaction() as tx:
        await tx.update_task(task_id, {"attempt": attempt})
        await tx.start_run(task_id, attempt, "demo", now_iso())


async def test_a_runs_diff_is_fenced_by_its_attempt_and_bumps_the_task(opened: Store) -> None:
    await _running_task(opened, "t1")
    before = (await opened.require_task("t1"))["revision"]

    async with opened.transaction() as tx:
        assert await tx.set_run_diff("t1", 2, "--- a\n+++ b\n") is None  # not the task's attempt: nothing
    assert await opened.run_diffs("t1") == []
    assert (await opened.require_task("t1"))["revision"] == before

    async with opened.transaction() as tx:
        wire = await tx.set_run_diff("t1", 1, "--- a/x\n+++ b/x\n+one\n")
    assert wire is not None and wire["revision"] > before
    assert await opened.run_diffs("t1") == ["--- a/x\n+++ b/x\n+one\n"]
    # The bump is a watch event, so a watcher on any replica fetches the detail again.
    events = await opened.read_events(before)
    assert [(e["type"], e["revision"]) for e in events][-1] == ("task.upserted", wire["revision"])

    async with opened.transaction() as tx:
        await tx.set_run_diff("t1", 1, "")  # an empty diff is none
    assert await opened.run_diffs("t1") == []


async def test_a_tasks_diffs_come_back_by_attempt(opened: Store) -> None:
    await _running_task(opened, "t2")
    async with opened.transaction() as tx:
        await tx.set_run_diff("t2", 1, "first")
    await _next_attempt(opened, "t2", 2)
    await _next_attempt(opened, "t2", 3)  # a run that changed nothing has no diff
    await _next_attempt(opened, "t2", 4)
    async with opened.transaction() as tx:
        await tx.set_run_diff("t2", 4, "fourth")
        assert await tx.set_run_diff("t2", 1, "late") is None  # an old run cannot overwrite its diff now
    assert await opened.run_diffs("t2") == ["first", "fourth"]
    assert await opened.run_diffs("nobody") == []
