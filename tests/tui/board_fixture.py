"""A fixed board for snapshots and screenshots: the same tasks, ids, times and logs every run.

The server runs with `--fixed-clock` (time stands still, ids are numbered in order); tasks are made
one after another, each waited for, so every id and every log line comes out the same.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from taskboard.client import TaskboardClient
from tests.helpers import wait_for_status, wait_until

FIXED_CLOCK = "2026-11-22T09:00:00Z"
SERVER_ARGS = ("--fixed-clock", FIXED_CLOCK, "--alias-agents", "--heartbeat", "0.5")
# The app's clock runs a little later than the server's, so ages read like a real board.
APP_NOW = datetime(2026, 11, 22, 9, 42, 0, tzinfo=UTC)
STILL = 3600.0  # a step that lasts longer than any test


def app_clock() -> datetime:
    return APP_NOW


async def _run(client: TaskboardClient, title: str, **fields) -> str:
    task = await client.create_task(title=title, **fields)
    await client.queue(task.id)
    await client.execute(task.id)
    return task.id


async def _settled(client: TaskboardClient, task_id: str, step: int) -> None:
    async def there() -> bool:
        task = await client.get_task(task_id)
        return task.progress is not None and task.progress.current >= step
    await wait_until(there)
    await asyncio.sleep(0.2)


async def seed_board(client: TaskboardClient) -> dict[str, str]:
    """Build the board; returns the ids by role."""
    marketing = await client.create_project("Marketing Analysis", "Revenue and campaign reporting")
    platform = await client.create_project("Platform Reliability", "Keeping production boring")
    ids: dict[str, str] = {}

    ids["completed"] = await _run(client, "Summarize churn interviews", project_id=marketing.id, priority=1,
                                  assigned_agent="claude-code", agent_profile="researcher",
                                  description="Twelve customer interviews from October; themes and quotes.",
                                  params={"steps": 4, "stepSeconds": 0.01, "output": "markdown"})
    await wait_for_status(client, ids["completed"], "completed")
    ids["failed"] = await _run(client, "Migrate billing webhooks", project_id=platform.id, priority=0,
                               assigned_agent="claude-code",
                               params={"steps": 6, "stepSeconds": 0.01, "failAtStep": 3})
    await wait_for_status(client, ids["failed"], "failed")
    ids["cancelled"] = await _run(client, "Backfill search index", project_id=platform.id, priority=3,
                                  assigned_agent="ollama", params={"steps": 10, "stepSeconds": STILL})
    await _settled(client, ids["cancelled"], 0)
    await client.cancel(ids["cancelled"])
    await wait_for_status(client, ids["cancelled"], "cancelled")
    ids["planned"] = (await client.create_task(title="Draft onboarding email sequence", project_id=marketing.id,
                                               priority=2, assigned_agent="claude-code",
                                               agent_profile="technical-writer")).id
    queued = await client.create_task(title="Refresh competitor pricing table", project_id=marketing.id,
                                      priority=1, assigned_agent="anthropic-direct")
    await client.queue(queued.id)
    ids["queued"] = queued.id
    ids["permission"] = await _run(
        client, "Run the integration suite", project_id=platform.id, priority=1, assigned_agent="claude-code",
        params={"steps": 5, "stepSeconds": 0.01,
                "permission": {"tool": "Bash", "input": {"command": "npm test -- --runInBand"}, "atStep": 2,
                               "message": "I need to run the test suite to check the fix."}})
    await wait_until(lambda: _has_pending(client, ids["permission"]))
    ids["question"] = await _run(
        client, "Summarize meeting notes", project_id=marketing.id, priority=2, assigned_agent="claude-code",
        params={"steps": 5, "stepSeconds": 0.01,
                "question": {"message": "Which meeting: the Tuesday planning or the Thursday review?",
                             "atStep": 2}})
    await wait_for_status(client, ids["question"], "awaiting_input")
    ids["running"] = await _run(client, "Analyze Q4 revenue trends", project_id=marketing.id, priority=0,
                                assigned_agent="claude-code", agent_profile="data-analyst",
                                description="Review revenue data and produce a summary report with charts",
                                params={"steps": 8, "stepSeconds": STILL})
    await _settled(client, ids["running"], 0)
    return ids


async def seed_workflow(client: TaskboardClient) -> str:
    """A workflow run caught mid-way: its first step done, the second running (held), the third planned."""
    project = await client.create_project("Research Digest", "Papers of the week, summarized")
    run = await client.create_workflow(name="Weekly research digest", project_id=project.id, steps=[
        {"title": "Collect new papers", "assignedAgent": "claude-code", "params": {"steps": 3, "stepSeconds": 0.01}},
        {"title": "Summarize each paper", "assignedAgent": "claude-code",
         "params": {"steps": 6, "stepSeconds": 0.01, "holdAtStep": 3}},
        {"title": "Write the digest", "assignedAgent": "claude-code"},
    ])
    first, second, _ = sorted(run.tasks, key=lambda task: task.step_index or 0)
    await wait_for_status(client, first.id, "completed")
    await _settled(client, second.id, 2)
    return run.id


async def _has_pending(client: TaskboardClient, task_id: str) -> bool:
    return bool(await client.list_permissions("pending", task_id=task_id))


__all__ = ["APP_NOW", "FIXED_CLOCK", "SERVER_ARGS", "app_clock", "seed_board", "seed_workflow"]
