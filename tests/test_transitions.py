"""The status model: every illegal transition is refused and changes nothing; races end in one final state."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import httpx
import pytest

from taskboard.client import InvalidTransition, TaskboardClient
from taskboard.models import TRANSITIONS, TaskStatus
from tests.helpers import FAST, LONG, start_task, wait_for_status, wait_until


async def task_in(client: TaskboardClient, status: TaskStatus) -> str:
    """A task in the given status, reached the way a user would reach it."""
    if status == TaskStatus.PLANNED:
        return (await client.create_task(title="planned")).id
    if status == TaskStatus.QUEUED:
        task = await client.create_task(title="queued")
        await client.queue(task.id)
        return task.id
    if status == TaskStatus.RUNNING:
        return (await start_task(client, "running", params=LONG)).id
    if status == TaskStatus.AWAITING_INPUT:
        task = await start_task(client, "asks", params={"steps": 3, "stepSeconds": 0.01,
                                                          "question": {"message": "which?", "atStep": 1}})
        await wait_for_status(client, task.id, "awaiting_input")
        return task.id
    if status == TaskStatus.COMPLETED:
        task = await start_task(client, "done", params=FAST)
        await wait_for_status(client, task.id, "completed")
        return task.id
    if status == TaskStatus.FAILED:
        task = await start_task(client, "fails", params={"steps": 2, "stepSeconds": 0.01, "failAtStep": 1})
        await wait_for_status(client, task.id, "failed")
        return task.id
    task = await start_task(client, "cancelled", params=LONG)
    await client.cancel(task.id)
    return task.id


ILLEGAL = [(s, t) for s in TaskStatus for t in TaskStatus if t not in TRANSITIONS[s]]


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
async def test_every_illegal_transition_is_refused_and_changes_nothing(
        client: TaskboardClient, current: TaskStatus, target: TaskStatus) -> None:
    task_id = await task_in(client, current)
    if current == TaskStatus.RUNNING:
        await client.update_task(task_id, priority=0)  # settle: no more writes race the snapshot below
    before = await client.get_task(task_id)
    with pytest.raises(InvalidTransition) as refused:
        await client.update_task(task_id, status=target.value, title="must not stick")
    assert refused.value.status == 400
    assert refused.value.message.startswith(f"Invalid status transition: {current.value} → {target.value}")
    after = await client.get_task(task_id)
    assert after.status == current
    assert after.title == before.title
    if not current.is_active:  # a live run keeps writing progress; a settled task must not move at all
        assert after.revision == before.revision
    if current.is_active:
        await client.cancel(task_id)


async def test_legal_transitions_through_patch(client: TaskboardClient) -> None:
    task = await client.create_task(title="walk the table")
    for target in ("queued", "planned", "queued", "cancelled", "planned"):
        assert (await client.update_task(task.id, status=target)).status == target
    done = await start_task(client, "complete then re-plan", params=FAST)
    await wait_for_status(client, done.id, "completed")
    replanned = await client.update_task(done.id, status="planned")
    assert replanned.status == "planned"
    # PATCH to running from queued is execute: the runtime really runs.
    again = await client.update_task(done.id, status="queued")
    assert again.status == "queued"
    running = await client.update_task(done.id, status="running")
    assert running.status == "running"
    await wait_for_status(client, done.id, "completed")


async def test_cancel_of_a_final_task_is_refused(client: TaskboardClient) -> None:
    task_id = await task_in(client, TaskStatus.COMPLETED)
    with pytest.raises(InvalidTransition, match="already completed"):
        await client.cancel(task_id)


async def test_execute_needs_a_queued_task(client: TaskboardClient) -> None:
    task = await client.create_task(title="not queued")
    with pytest.raises(InvalidTransition, match="not in queued state"):
        await client.execute(task.id)
    assert (await client.get_task(task.id)).status == "planned"


async def test_cancel_versus_complete_races_end_in_exactly_one_final_state(client: TaskboardClient,
                                                                              server) -> None:
    n = 200
    tasks = await asyncio.gather(*(start_task(client, f"race {i}", params=LONG) for i in range(n)))
    ids = [t.id for t in tasks]
    watched: dict[str, list[str]] = defaultdict(list)
    start = (await client.list_tasks(limit=1)).revision

    async def watch() -> None:
        async for event in client.watch(since=start):
            if event.type == "task.upserted" and event.task and event.task_id in watched_ids:
                statuses = watched[event.task_id]
                if not statuses or statuses[-1] != event.task.status:
                    statuses.append(event.task.status)

    watched_ids = set(ids)
    watcher = asyncio.create_task(watch())
    limits = httpx.Limits(max_connections=400)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
        async def race(task_id: str) -> tuple[int, int]:
            cancel, complete = await asyncio.gather(
                http.post(f"/api/tasks/{task_id}/cancel"),
                http.patch(f"/api/tasks/{task_id}", json={"status": "completed"}),
            )
            return cancel.status_code, complete.status_code

        results = await asyncio.gather(*(race(i) for i in ids))
    for task_id, (cancel, complete) in zip(ids, results, strict=True):
        assert sorted((cancel, complete)) == [200, 400], (task_id, cancel, complete)
        final = (await client.get_task(task_id)).status
        assert final == ("cancelled" if cancel == 200 else "completed")

    async def all_seen() -> bool:
        return all(watched[i] and watched[i][-1] in ("cancelled", "completed") for i in ids)

    await wait_until(all_seen, timeout=20)
    watcher.cancel()
    for task_id in ids:
        history = watched[task_id]
        finals = [s for s in history if s in ("cancelled", "completed", "failed")]
        assert len(finals) == 1, (task_id, history)
        for a, b in itertools.pairwise(history):
            assert TaskStatus(b) in TRANSITIONS[TaskStatus(a)], (task_id, history)
