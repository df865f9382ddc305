"""`--demo`: a realistic board (projects, a workflow run, tasks in every status) that keeps moving.

The seed runs once, on an empty database. The driver then keeps a few tasks
running and, about once a minute each, starts one that asks for a permission
and one that asks a question.

On a later start the demo's own agents that the last stop cut off (the server's
recovery marked them failed, "Interrupted") pick up again: quitting the demo is
not a failure of its simulated work, and a board that reopens on a wall of
failed tasks shows nothing the demo is for. Tasks on real runtimes (shell) keep
the recovery's failed-and-resumable status: resuming real work is the user's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import timedelta
from typing import Any

from taskboard.models import (
    AgentId,
    MessageCreate,
    PermissionResponse,
    ProjectCreate,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    WorkflowCreate,
    WorkflowStep,
)
from taskboard_backend.errors import ApiError, InvalidTransition
from taskboard_backend.runtimes.demo import demo_output
from taskboard_backend.service import INTERRUPTED_ERROR, TaskService
from taskboard_backend.store import utcnow

log = logging.getLogger("taskboard.demo")

_AGENTS: list[AgentId] = ["claude-code", "openai-codex-app-server", "anthropic-direct", "ollama"]
_PROFILES = ["data-analyst", "technical-writer", "code-reviewer", "researcher"]

_LIVE_TITLES = [
    ("Analyze Q4 revenue trends", "Review revenue data and produce a summary report with charts"),
    ("Summarize meeting notes", "Extract action items and decisions from the uploaded transcript"),
    ("Triage flaky integration tests", "Find the tests that failed intermittently this week and why"),
    ("Draft release notes for v2.4", "Collect merged PRs since v2.3 and write user-facing notes"),
    ("Audit IAM policies", "List roles with wildcard permissions and suggest narrower ones"),
    ("Cluster support tickets by theme", "Group last month's tickets and name each cluster"),
    ("Benchmark the search API", "Measure p50/p99 latency of /search under 50 concurrent users"),
    ("Update dependency lockfile", "Bump minor versions and run the test suite"),
    ("Write onboarding guide", "A one-page guide for new engineers on the data pipeline"),
    ("Reconcile invoices with payments", "Match Stripe payouts to invoices and flag mismatches"),
]


def _ts(delta: timedelta) -> str:
    return (utcnow() - delta).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _simulated(service: TaskService, agent: AgentId) -> AgentId:
    """`agent` when it runs on the demo runtime here, else a seed agent that does: with --enable-claude,
    claude-code is real, and the demo's tasks must not spend the operator's money or run on their machine."""
    if service.runner.runtime_id_for(agent) == "demo":
        return agent
    return next((a for a in _AGENTS if service.runner.runtime_id_for(a) == "demo"), "demo")


async def seed_demo(service: TaskService) -> None:
    if await service.store.count_tasks():
        await pick_up_interrupted(service)
        return
    marketing = await service.create_project(ProjectCreate(name="Marketing Analysis",
                                                           description="Revenue and campaign reporting"))
    platform = await service.create_project(ProjectCreate(name="Platform Reliability",
                                                          description="Keeping production boring"))
    research = await service.create_project(ProjectCreate(name="Research Digest",
                                                          description="Weekly literature summaries"))

    history: list[tuple[str, str, TaskStatus, int, AgentId, dict[str, Any]]] = [
        ("Summarize churn interviews", marketing["id"], TaskStatus.COMPLETED, 1,
         "claude-code", {"output": "markdown", "hours": 26}),
        ("Generate pricing page copy", marketing["id"], TaskStatus.COMPLETED, 2,
         "anthropic-direct", {"output": "text", "hours": 5}),
        ("Write retry helper for webhooks", platform["id"], TaskStatus.COMPLETED, 1,
         "openai-codex-app-server", {"output": "code", "hours": 3}),
        ("Extract KPIs from board deck", marketing["id"], TaskStatus.COMPLETED, 2,
         "claude-code", {"output": "json", "hours": 2}),
        ("Migrate billing webhooks", platform["id"], TaskStatus.FAILED, 0,
         "claude-code", {"hours": 1, "error": "Simulated failure at step 4: the data source timed out"}),
        ("Backfill search index", platform["id"], TaskStatus.CANCELLED, 3, "ollama", {"hours": 4}),
    ]
    for title, project_id, status, priority, agent, extra in history:
        await _historic_task(service, title, project_id, status, priority, _simulated(service, agent), extra)

    await service.create_task(TaskCreate(title="Draft onboarding email sequence", project_id=marketing["id"],
                                         priority=2, assigned_agent=_simulated(service, "claude-code"),
                                         agent_profile="technical-writer",
                                         description="Five emails for the first two weeks of a trial"))
    queued = await service.create_task(TaskCreate(title="Refresh competitor pricing table",
                                                  project_id=marketing["id"], priority=1,
                                                  assigned_agent=_simulated(service, "anthropic-direct"),
                                                  agent_profile="researcher"))
    await service.update_task(queued["id"], TaskUpdate(status=TaskStatus.QUEUED))

    await service.create_workflow(WorkflowCreate(
        name="Weekly research digest", project_id=research["id"],
        steps=[
            WorkflowStep(title="Collect new papers", assigned_agent=_simulated(service, "claude-code"),
                         agent_profile="researcher",
                         params={"steps": 4, "output": "json"}),
            WorkflowStep(title="Summarize each paper", assigned_agent=_simulated(service, "claude-code"),
                         agent_profile="researcher",
                         params={"steps": 6}),
            WorkflowStep(title="Write the digest", assigned_agent=_simulated(service, "claude-code"),
                         agent_profile="technical-writer",
                         params={"steps": 5}),
        ]))

    live: list[tuple[int, dict[str, Any], str]] = [
        (0, {"permission": True}, marketing["id"]),
        (1, {"question": {"message": "Should action items include owners, or just the tasks?", "atStep": 2}},
         marketing["id"]),
        (2, {}, platform["id"]),
    ]
    for index, params, project_id in live:
        await _start(service, index, params, project_id)


async def pick_up_interrupted(service: TaskService) -> list[str]:
    """Resume the demo runtime's tasks that a stop interrupted, from their checkpoints; the ones picked up.

    One past its resume limit starts again from the top (re-queued), as the limit's message advises.
    """
    picked: list[str] = []
    for row in await service.store.failed_with_error(INTERRUPTED_ERROR):
        if service.runner.runtime_id_for(row["assigned_agent"]) != "demo":
            continue
        try:
            try:
                await service.resume(row["id"])
            except InvalidTransition:
                await service.update_task(row["id"], TaskUpdate(status=TaskStatus.QUEUED))
                await service.execute(row["id"])
        except ApiError as exc:  # the daily budget, say: the task stays failed, resumable by hand
            log.warning("demo could not pick up %s: %s", row["id"], exc.message)
            continue
        picked.append(row["id"])
    if picked:
        log.warning("picked up %d interrupted demo task(s)", len(picked))
    return picked


async def _historic_task(service: TaskService, title: str, project_id: str, status: TaskStatus, priority: int,
                         agent: AgentId, extra: dict[str, Any]) -> None:
    hours = extra.get("hours", 1)
    created, started, finished = _ts(timedelta(hours=hours)), _ts(timedelta(hours=hours, minutes=-1)), \
        _ts(timedelta(hours=hours, minutes=-4))
    task = await service.create_task(TaskCreate(title=title, project_id=project_id, priority=priority,
                                                assigned_agent=agent, agent_profile=_PROFILES[priority]))
    result = demo_output(extra.get("output", "markdown"), title, 8, []) if status == TaskStatus.COMPLETED else None
    input_tokens, output_tokens = 9000 + 1000 * priority, 2500 + 300 * priority
    cost = input_tokens * 3 + output_tokens * 15
    async with service.store.transaction() as tx:
        await tx.start_run(task["id"], 1, "demo", started, model_id="claude-sonnet-4-6-20250514",
                           input_tokens=input_tokens, output_tokens=output_tokens, cost_micros=cost,
                           finished_at=finished, outcome=status.value)
        for i, (kind, message) in enumerate([("system", f"Starting: {title}"),
                                             ("assistant", "Reading the brief and planning the approach"),
                                             ("tool_use", "Reading file: docs/brief.md"),
                                             ("assistant", "Drafting the first section")]):
            await tx.task_event(task["id"], "log", kind, message, None, _ts(timedelta(hours=hours, minutes=-1 - i)))
        if extra.get("error"):
            await tx.task_event(task["id"], "log", "error", extra["error"], None, finished)
        await tx.update_task(task["id"], {
            "status": status.value, "attempt": 1, "created_at": created, "started_at": started,
            "finished_at": finished, "updated_at": finished, "cost_micros": cost,
            "total_tokens": input_tokens + output_tokens, "checkpoint": {"step": 3},
            "result": result.result if result else None, "result_data": result.result_data if result else None,
            "error": extra.get("error"),
            "progress": {"current": 8 if status == TaskStatus.COMPLETED else 3, "total": 8,
                         "percent": 100.0 if status == TaskStatus.COMPLETED else 37.5},
        })


async def _start(service: TaskService, index: int, params: dict[str, Any], project_id: str | None) -> None:
    title, description = _LIVE_TITLES[index % len(_LIVE_TITLES)]
    body = TaskCreate(title=title, description=description, project_id=project_id, priority=index % 4,
                      assigned_agent=_simulated(service, _AGENTS[index % len(_AGENTS)]),
                      agent_profile=_PROFILES[index % len(_PROFILES)],
                      params=params or None)
    try:
        await service.spawn(body)
    except ApiError as exc:
        log.warning("demo could not start %r: %s", title, exc.message)


async def answer_unattended(service: TaskService, older_than: timedelta) -> int:
    """Answer what nobody has answered for a while, so an unattended demo keeps moving."""
    cutoff = _ts(older_than)
    answered = 0
    for row in await service.store.pending_permissions_since(cutoff):
        if service.runner.runtime_id_for(row["assigned_agent"]) != "demo":
            continue  # a real agent's request (claude-code) waits for a person, however long
        with contextlib.suppress(ApiError):
            await service.respond(row["task_id"], PermissionResponse(
                notification_id=row["id"], behavior="allow", message="Nobody answered; the demo allowed it"))
            answered += 1
    for row in await service.store.awaiting_input_since(cutoff):
        if service.runner.runtime_id_for(row["assigned_agent"]) != "demo":
            continue
        with contextlib.suppress(ApiError):
            await service.send_message(row["id"], MessageCreate(message="(demo) Nobody answered: use your judgement"))
            answered += 1
    return answered


async def run_demo_driver(service: TaskService) -> None:
    """Keep the board alive: a new task every third of the interaction interval."""
    settings = service.settings
    interval = max(0.5, settings.demo_interaction_seconds / 3 / max(settings.demo_speed, 0.001))
    projects = [p["id"] for p in await service.list_projects()] or [None]
    for n in itertools.count(3):
        await asyncio.sleep(interval)
        try:
            await answer_unattended(service, timedelta(seconds=interval * 9))
            if await service.store.count_tasks(("running", "awaiting_input")) >= max(3, settings.concurrency):
                continue
            params: dict[str, Any] = {}
            if n % 3 == 0:
                params["permission"] = {"tool": "Write", "input": {"file_path": f"/reports/{n:03d}-summary.md"}}
            elif n % 3 == 1:
                params["question"] = {"message": "The brief is ambiguous: should I include last year's data?",
                                      "atStep": 2}
            await _start(service, n, params, projects[n % len(projects)])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("demo driver step failed")
