"""awaiting_input and messages, resume from checkpoint, budgets, workflows, provenance, cleanup."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from taskboard.client import BudgetExceeded, InvalidTransition, TaskboardClient
from taskboard.models import Task
from tests.helpers import FAST, LONG, run_outcomes, start_task, wait_claimed, wait_for_status
from tests.server import ServerProcess


async def test_a_question_waits_for_a_message_then_runs_on(client: TaskboardClient) -> None:
    task = await start_task(client, "asks", params={"steps": 3, "stepSeconds": 0.01,
                                                     "question": {"message": "Owners too?", "atStep": 1}})
    waiting = await wait_for_status(client, task.id, "awaiting_input")
    assert waiting.needs_attention
    with pytest.raises(InvalidTransition, match="not awaiting input"):
        await client.send_message((await client.create_task(title="idle")).id, "hello?")
    running = await client.send_message(task.id, "Yes, with owners")
    assert running.status == "running"
    await wait_for_status(client, task.id, "completed")
    conversation = [(m.role, m.message) for m in await client.list_messages(task.id)]
    assert conversation == [("agent", "Owners too?"), ("user", "Yes, with owners")]
    assert "Answer: Yes, with owners" in (await client.get_output(task.id)).result


async def test_resume_continues_from_the_checkpoint(client: TaskboardClient) -> None:
    task = await start_task(client, "fails once", params={"steps": 4, "stepSeconds": 0.01, "failAtStep": 2})
    failed = await wait_for_status(client, task.id, "failed")
    assert failed.error == "Simulated failure at step 2: the data source timed out"
    accepted = await client.resume(task.id)
    assert accepted.message == "Resume started"
    done = await wait_for_status(client, task.id, "completed")
    assert (done.resume_count, done.attempt) == (1, 2)
    logs = [e.message async for e in client.stream_logs(task.id)]
    assert "Resumed from checkpoint after step 2 of 4" in logs
    # Steps 1 and 2 ran once each: the resume did not start over.
    assert sum("(step 1/4)" in m for m in logs) == 1
    assert sum("(step 3/4)" in m for m in logs) == 1


async def test_resume_stops_at_three(client: TaskboardClient) -> None:
    task = await start_task(client, "resumed a lot", params=LONG)
    for n in range(1, 4):
        await client.cancel(task.id)
        await client.resume(task.id)
        assert (await client.get_task(task.id)).resume_count == n
    await client.cancel(task.id)
    with pytest.raises(InvalidTransition, match=r"Resume limit reached \(max 3\)"):
        await client.resume(task.id)
    assert (await client.get_task(task.id)).status == "cancelled"
    # The way out the seed names: re-queue for a fresh start.
    assert (await client.update_task(task.id, status="planned")).status == "planned"


async def test_resume_needs_a_previous_session(client: TaskboardClient) -> None:
    task = await client.create_task(title="never ran")
    await client.update_task(task.id, status="cancelled")
    with pytest.raises(InvalidTransition, match="No session to resume"):
        await client.resume(task.id)


async def test_a_run_past_its_budget_fails(client: TaskboardClient) -> None:
    # $0.80 a step against the $2.00 default: the third step crosses it.
    task = await start_task(client, "expensive", params={"steps": 10, "stepSeconds": 0.01,
                                                          "costPerStepMicros": 800_000})
    failed = await wait_for_status(client, task.id, "failed")
    assert failed.error == "Budget exceeded: this run cost $2.4000, over the $2.00 per-task limit"
    assert failed.cost_micros == 2_400_000


async def test_workflow_steps_cost_up_to_five_dollars(client: TaskboardClient) -> None:
    run = await client.create_workflow(name="pricey", steps=[
        {"title": "step", "params": {"steps": 5, "stepSeconds": 0.01, "costPerStepMicros": 800_000}}])
    done = await wait_for_status(client, run.tasks[0].id, "completed", "failed")
    assert done.status == "completed" and done.cost_micros == 4_000_000


async def test_daily_budget_answers_429(start_server) -> None:
    server = start_server("--daily-budget", "0.01")
    async with TaskboardClient(server.url) as client:
        first = await start_task(client, "spends", params=FAST)
        await wait_for_status(client, first.id, "completed")
        task = await client.create_task(title="one too many")
        await client.queue(task.id)
        with pytest.raises(BudgetExceeded) as refused:
            await client.execute(task.id)
        assert refused.value.status == 429
        assert refused.value.message.startswith("Budget limit exceeded: $0.")
        assert int(refused.value.headers["retry-after"]) > 0
        assert (await client.get_task(task.id)).status == "queued"
        stats = await client.stats()
        assert stats.today_cost_micros >= stats.daily_budget_micros == 10_000


async def test_workflow_steps_run_one_after_another(client: TaskboardClient) -> None:
    project = await client.create_project("Reports", "quarterly")
    run = await client.create_workflow(name="Quarterly report", project_id=project.id, steps=[
        {"title": "Gather", "params": FAST}, {"title": "Analyse", "params": FAST}, {"title": "Write", "params": FAST}])
    assert [t.status for t in run.tasks][1:] == ["planned", "planned"]
    last = run.tasks[-1]
    await wait_for_status(client, last.id, "completed")
    tasks = [await client.get_task(t.id) for t in run.tasks]
    # Each step started only after the one before it had finished.
    for before, after in itertools.pairwise(tasks):
        assert before.finished_at <= after.started_at
    assert (await client.get_workflow(run.id)).status == "completed"
    detail = tasks[1]
    assert (detail.project_name, detail.workflow_name) == ("Reports", "Quarterly report")
    siblings = await client.siblings(detail.id)
    assert [s.title for s in siblings] == ["Gather", "Write"]
    assert all(s.status == "completed" for s in siblings)
    provenance = await client.provenance(detail.id)
    assert (provenance.source_type, provenance.parent_id, provenance.parent_name) == (
        "workflow", run.id, "Quarterly report")
    assert [link.type for link in provenance.chain] == ["workflow", "project"]
    lone = await client.create_task(title="alone")
    assert await client.siblings(lone.id) == []
    assert (await client.provenance(lone.id)).source_type == "manual"


async def test_result_is_409_until_completed(client: TaskboardClient) -> None:
    task = await client.create_task(title="not yet")
    with pytest.raises(Exception) as refused:
        await client.get_result(task.id)
    assert refused.value.status == 409
    done = await start_task(client, "json out", params={**FAST, "output": "json"})
    await wait_for_status(client, done.id, "completed")
    result = await client.get_result(done.id)
    assert result.content_type == "json" and result.result_data["title"] == "json out"


async def test_cleanup_removes_old_finished_tasks_only(client: TaskboardClient) -> None:
    done = await start_task(client, "old news", params=FAST)
    await wait_for_status(client, done.id, "completed")
    running = await start_task(client, "still going", params=LONG)
    kept = await client.cleanup(older_than_hours=24)
    assert done.id not in kept.task_ids
    removed = await client.cleanup(older_than_hours=0)
    assert done.id in removed.task_ids and running.id not in removed.task_ids
    assert (await client.get_task(running.id)).status == "running"
    await client.cancel(running.id)


async def test_spawn_creates_and_starts(client: TaskboardClient) -> None:
    task = await client.spawn(title="spawned", params=FAST)
    assert task.status == "running" and task.source_type == "spawn"
    await wait_for_status(client, task.id, "completed")


async def test_cancels_racing_busy_runs_close_each_run_as_cancelled(start_server) -> None:
    # A run that writes all the time can find its task cancelled by its own write before the cancel reaches
    # it: the cancel that then comes must not cut short the run's ending (its ledger row left open).
    server: ServerProcess = start_server("--concurrency", "8")
    busy = {"steps": 100_000, "stepSeconds": 0, "costPerStepMicros": 0}  # free: no budget ends them
    async with TaskboardClient(server.url) as client:
        tasks = [await start_task(client, f"busy {i}", params=busy) for i in range(8)]
        for task in tasks:
            await wait_claimed(server, task.id, 1)
        await asyncio.gather(*(client.cancel(task.id) for task in tasks))
        assert await run_outcomes(server, [t.id for t in tasks]) == {t.id: "cancelled" for t in tasks}


async def test_delete_stops_a_running_task_and_removes_it(client: TaskboardClient) -> None:
    task = await start_task(client, "doomed", params=LONG)
    assert (await client.delete_task(task.id)).success
    with pytest.raises(Exception) as gone:
        await client.get_task(task.id)
    assert gone.value.status == 404


async def test_list_filters_sort_and_paging(client: TaskboardClient) -> None:
    project = await client.create_project("Listing")
    made = [await client.create_task(title=f"list-{i} needle", priority=i % 4, project_id=project.id)
            for i in range(6)]
    await client.queue(made[0].id)
    page = await client.list_tasks(project_id=project.id, limit=4)
    assert page.total == 6 and len(page.items) == 4 and page.revision
    assert [t.priority for t in page.items] == sorted(t.priority for t in page.items)
    rest = await client.list_tasks(project_id=project.id, limit=4, offset=4)
    assert {t.id for t in page.items} | {t.id for t in rest.items} == {t.id for t in made}
    # Past the end: no rows, and still the total and the head revision (nothing changed since the first page).
    beyond = await client.list_tasks(project_id=project.id, limit=4, offset=8)
    assert (beyond.items, beyond.total, beyond.revision) == ([], 6, page.revision)
    counted = await client.list_tasks(q="needle", limit=2)  # a total the trigger's counts cannot give
    assert counted.total == 6 and len(counted.items) == 2 and counted.revision == page.revision
    both = await client.list_tasks(project_id=project.id, status=["planned", "queued"])
    assert both.total == 6
    queued = await client.list_tasks(project_id=project.id, status="queued")
    assert [t.id for t in queued.items] == [made[0].id]
    found = await client.list_tasks(q="list-3 needle")
    assert [t.id for t in found.items] == [made[3].id]
    # Creation order, and for tasks made in the same millisecond (created_at's precision) their ids' order.
    in_order = [t.id for t in sorted(made, key=lambda t: (t.created_at, t.id))]
    newest = await client.list_tasks(project_id=project.id, sort="-created")
    assert [t.id for t in newest.items] == in_order[::-1]
    pages = [p async for p in client.iter_task_pages(page_size=4, project_id=project.id, sort="created")]
    assert [len(p.items) for p in pages] == [4, 2]
    assert [t.id for p in pages for t in p.items] == in_order


async def test_list_pages_are_the_same_json_as_single_tasks(client: TaskboardClient) -> None:
    """The list is built by SQLite's JSON functions; it must say exactly what the row mapping says."""
    project = await client.create_project("json-parity")
    plain = await client.create_task(title="plain", project_id=project.id)
    full = await client.create_task(title="full ✓ \"quoted\"", project_id=project.id, description="d\nline",
                                    params={"nested": {"x": None, "list": [1, 2.5, True]}, "s": "é"},
                                    document_ids=["doc-1"], task_type="analysis", priority=3)
    await client.queue(full.id)
    page = await client.list_tasks(project_id=project.id, sort="created")
    assert [t.id for t in page.items] == [plain.id, full.id]
    for listed in page.items:
        single = await client.get_task(listed.id)
        assert listed.model_dump() == Task.model_validate(single.model_dump()).model_dump()
    raw = (await client._request("GET", "/api/tasks", params={"projectId": project.id, "sort": "created"})).json()
    assert "description" not in raw[0] and raw[1]["params"] == {"nested": {"x": None, "list": [1, 2.5, True]},
                                                                 "s": "é"}
