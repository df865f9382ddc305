"""The triage queue: every task on the board that needs a person, on every server it shows, as one list,
oldest first. Pure Python, no Textual, like board.py: the screen draws what `triage()` returns.

What needs a person, and how it is told apart:

- **permission**: a request waiting for an answer. Identical requests (same server, same tool, same
  suggested pattern: the argument pattern a rule for them would be, written in that server's own form)
  are one item, answered together with one key.
- **question**: a task awaiting input (the agent asked something).
- **failed**: a failed task, until it is resumed or dismissed.
- **finished**: a task completed since the person last looked (closed the queue), until dismissed.

A dismissed item stays away until its task changes again (a new failure is a new item).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from taskboard import format as fmt
from taskboard.models import PermissionRequest, PermissionStatus, TaskStatus, TaskSummary


class Kind(StrEnum):
    PERMISSION = "permission"
    QUESTION = "question"
    FAILED = "failed"
    FINISHED = "finished"


@dataclass(frozen=True)
class Item:
    kind: Kind
    key: str  # the row's id in the list: stable while the item is there
    task_id: str  # the task it is about (a group: its oldest request's)
    title: str
    since: datetime  # how long it has waited: the oldest request, the question, the failure, the finish
    what: str  # the tool and argument, the error, the progress line
    server: str = ""
    requests: tuple[PermissionRequest, ...] = ()
    revision: tuple[str, datetime] = ("", datetime.min)  # (task id, updated_at): what dismissing keys on

    @property
    def count(self) -> int:
        return max(1, len(self.requests))

    @property
    def answerable(self) -> tuple[PermissionRequest, ...]:
        return tuple(r for r in self.requests if r.status is PermissionStatus.PENDING)


@dataclass
class Seen:
    """What the person has looked at: finished tasks before `since` are old news; dismissed items are gone
    until their task changes."""

    since: datetime
    dismissed: set[tuple[str, datetime]] = field(default_factory=set)


def _group_key(request: PermissionRequest, server: str) -> str:
    return f"{server}\0{request.tool_name.lower()}\0{request.suggested_pattern}"


def triage(tasks: Iterable[TaskSummary], permissions: Iterable[PermissionRequest], seen: Seen, *,
           server_of: Callable[[str], str] = lambda _: "") -> list[Item]:
    """Every item that needs a person, oldest first."""
    tasks_by_id = {t.id: t for t in tasks}
    items: list[Item] = []
    groups: dict[str, list[PermissionRequest]] = {}
    for request in permissions:
        if request.status in (PermissionStatus.PENDING, PermissionStatus.EXPIRED):
            groups.setdefault(_group_key(request, server_of(request.task_id)), []).append(request)
    for key, requests in groups.items():
        requests.sort(key=lambda r: r.created_at)
        first = requests[0]
        task = tasks_by_id.get(first.task_id)
        arguments = sorted({fmt.request_argument(r.tool_input) or "(no input)" for r in requests})
        what = f"{first.tool_name} {arguments[0]}" + (f" (+{len(arguments) - 1} more)" if len(arguments) > 1 else "")
        items.append(Item(Kind.PERMISSION, "p:" + key, first.task_id,
                          task.title if task else first.task_title or first.task_id, first.created_at, what,
                          server_of(first.task_id), tuple(requests)))
    for task in tasks_by_id.values():
        mark = (task.id, task.updated_at)
        if mark in seen.dismissed:
            continue
        if task.status is TaskStatus.AWAITING_INPUT:
            kind, since = Kind.QUESTION, task.updated_at
            what = (task.progress.message if task.progress and task.progress.message else "") or "awaiting input"
        elif task.status is TaskStatus.FAILED:
            kind, since, what = Kind.FAILED, task.finished_at or task.updated_at, task.error or "failed"
        elif task.status is TaskStatus.COMPLETED and (task.finished_at or task.updated_at) > seen.since:
            kind, since, what = Kind.FINISHED, task.finished_at or task.updated_at, "completed"
        else:
            continue
        items.append(Item(kind, f"t:{task.id}", task.id, task.title, since, what, server_of(task.id),
                          revision=mark))
    items.sort(key=lambda item: (item.since, item.key))
    return items


__all__ = ["Item", "Kind", "Seen", "triage"]
