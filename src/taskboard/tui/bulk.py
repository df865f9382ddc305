"""Bulk actions: the call each action makes for one task, and the words around it.

A key of the Task or Approvals groups, with tasks marked, is for every marked task: the App sorts
them into those the action can take and those it cannot (actions.sort_out: the same rules as one
task's key, each task's own server for the capability), asks once, naming how many and which cannot
and why, then makes the calls a few at a time. Each call goes through the board's client with the
task's board id, so on a board over several servers it reaches the task's own server. A task the
action was done for is unmarked; the others (it could not take it, or the server refused) stay marked,
for the next key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from rich.markup import escape

from taskboard.actions import MAX_PRIORITY, MIN_PRIORITY, TaskFacts
from taskboard.client import ApiError, TaskboardError
from taskboard.client.base import TaskSource
from taskboard.models import PermissionRequest, TaskSummary

CONCURRENCY = 8  # calls in flight at once: a hundred marks do not open a hundred connections
NAMED = 8  # tasks named in a question or an outcome; the rest are counted


@dataclass(frozen=True)
class Verb:
    button: str  # the confirmation's button, and how a question starts ("Cancel 3 tasks?")
    done: str  # what happened ("cancelled")
    cannot: str  # "cannot be cancelled"


VERBS = {
    "cancel": Verb("Cancel", "cancelled", "cannot be cancelled"),
    "resume": Verb("Resume", "resumed", "cannot resume"),
    "queue": Verb("Queue", "queued", "cannot be queued"),
    "execute": Verb("Execute", "started", "cannot execute"),
    "delete": Verb("Delete", "deleted", "cannot be deleted"),
    "plan": Verb("Plan", "planned again", "cannot go back to planned"),
    "priority_up": Verb("Raise", "raised a priority", "cannot go up"),
    "priority_down": Verb("Lower", "lowered a priority", "cannot go down"),
    "approve": Verb("Allow", "allowed", "have nothing to allow"),
    "deny": Verb("Deny", "denied", "have nothing to deny"),
}


def call_for(action: str, client: TaskSource, task: TaskSummary,
             pending: Callable[[str], list[PermissionRequest]]) -> Callable[[], Awaitable[object]]:
    """The one call `action` makes for `task` (its board id: a board over servers routes it)."""
    task_id = task.id
    if action == "cancel":
        return lambda: client.cancel(task_id)
    if action == "resume":
        return lambda: client.resume(task_id)
    if action == "queue":
        return lambda: client.queue(task_id)
    if action == "execute":
        return lambda: client.execute(task_id)
    if action == "delete":
        return lambda: client.delete_task(task_id)
    if action == "plan":
        return lambda: client.update_task(task_id, status="planned")
    if action in ("priority_up", "priority_down"):
        step = -1 if action == "priority_up" else 1
        value = max(MAX_PRIORITY, min(MIN_PRIORITY, task.priority + step))
        return lambda: client.update_task(task_id, priority=value)
    if action in ("approve", "deny"):
        request = pending(task_id)[0]  # the oldest, as the single key answers
        if action == "approve":
            return lambda: client.respond(task_id, request.id, "allow")
        return lambda: client.respond(task_id, request.id, "deny")
    raise ValueError(f"{action} is not a bulk action")


def _title(task: TaskFacts) -> str:
    return f"“{escape(getattr(task, 'title', '?'))}”"


def _names(items: Sequence[tuple[TaskFacts, str]]) -> list[str]:
    lines = [f"  {_title(task)}: {escape(reason)}" for task, reason in items[:NAMED]]
    if len(items) > NAMED:
        lines.append(f"  … and {len(items) - NAMED} more")
    return lines


def _tasks(count: int) -> str:
    return f"{count} task{'s' if count != 1 else ''}"


def question(action: str, able: Sequence[TaskFacts], unable: Sequence[tuple[TaskFacts, str]]) -> str:
    """The one confirmation: how many, and which cannot and why (markup-safe: titles are escaped)."""
    verb = VERBS[action]
    marked = len(able) + len(unable)
    if not able:
        return "\n".join([f"None of the {_tasks(marked)} marked: all {verb.cannot}.", "", *_names(unable)])
    of = f" of the {marked} marked" if unable else (" marked" if marked > 1 else "")
    lines = [f"{verb.button} {_tasks(len(able))}{of}?"]
    if action == "delete":
        lines.append("Their logs and history go with them; this cannot be undone.")
    if unable:
        lines += ["", f"{len(unable)} {verb.cannot}:", *_names(unable)]
    return "\n".join(lines)


async def run_all(calls: Sequence[tuple[TaskSummary, Callable[[], Awaitable[object]]]],
                  ) -> tuple[list[TaskSummary], list[tuple[TaskSummary, str]]]:
    """Make every call, CONCURRENCY at a time; (done, refused with the server's words)."""
    gate = asyncio.Semaphore(CONCURRENCY)
    done: list[TaskSummary] = []
    refused: list[tuple[TaskSummary, str]] = []

    async def one(task: TaskSummary, call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            try:
                await call()
            except ApiError as exc:
                refused.append((task, f"{exc.message} ({exc.status})"))
            except TaskboardError as exc:
                refused.append((task, str(exc)))
            else:
                done.append(task)

    await asyncio.gather(*(one(task, call) for task, call in calls))
    return done, refused


def outcome(action: str, done: Sequence[TaskSummary], refused: Sequence[tuple[TaskSummary, str]],
            skipped: int) -> str:
    verb = VERBS[action]
    lines = [f"{verb.done.capitalize()}: {_tasks(len(done))}" + (f"; {skipped} skipped (still marked)" if skipped
                                                                    else "")]
    if refused:
        lines += [f"The server refused {_tasks(len(refused))} (still marked):", *_names(refused)]
    return "\n".join(lines)
