"""The board: every task the TUI knows, by id, plus the filtered and sorted order the table shows.

Pure Python, no Textual, so it can be tested and benchmarked on its own. Tasks are held as slotted
`TaskSummary` rows (a 100,000-task board in a fraction of the memory of pydantic Tasks); `task()` makes
the full model for the one a pane shows. The order is kept in `SortedKeys` (sorted chunks): one upsert
moves one key within a chunk and a page adds 1,000 that way; the board is never re-sorted, so a live
update costs the same at 100 tasks and at 100,000.

Any column sorts, either way. A descending order is the ascending keys read from the other end (the
attention flag inverted in the key, so what needs a person stays on top), not a second kind of key:
strings (titles, agents) cannot be negated, and a reversed read costs one subtraction per row drawn.
Marks (the rows a bulk action is for) are ids kept here too, so they follow their task as it moves
and go when it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from taskboard import format as fmt
from taskboard.models import PermissionRequest, Task, TaskStatus, TaskSummary
from taskboard.tui.sorted_keys import SortedKeys


class SortOrder(StrEnum):
    PRIORITY = "priority"
    CREATED = "created"
    UPDATED = "updated"
    STATUS = "status"
    # The other columns (the sort menu, S): any column, either way.
    TITLE = "title"
    AGENT = "agent"
    PROGRESS = "progress"
    COST = "cost"
    ID = "id"
    SERVER = "server"

    def next(self) -> SortOrder:
        """The `s` key's cycle: the four orders it always had (another column goes back to the first)."""
        cycle = _CYCLE
        return cycle[(cycle.index(self) + 1) % len(cycle)] if self in cycle else cycle[0]


_CYCLE = (SortOrder.PRIORITY, SortOrder.CREATED, SortOrder.UPDATED, SortOrder.STATUS)
# Which table column each order is (its header shows the arrow); `updated` has no column of its own.
SORT_COLUMN = {SortOrder.PRIORITY: "priority", SortOrder.CREATED: "age", SortOrder.STATUS: "status",
               SortOrder.TITLE: "title", SortOrder.AGENT: "agent", SortOrder.PROGRESS: "progress",
               SortOrder.COST: "cost", SortOrder.ID: "id", SortOrder.SERVER: "server"}
# Picked from the menu, these start with the largest first (the most spent, the furthest along).
STARTS_DESCENDING = frozenset({SortOrder.COST, SortOrder.PROGRESS})


# Where each status sits when sorting by status: what needs a person first, what is over last.
STATUS_RANK = {
    TaskStatus.AWAITING_INPUT: 0,
    TaskStatus.RUNNING: 1,
    TaskStatus.QUEUED: 2,
    TaskStatus.PLANNED: 3,
    TaskStatus.FAILED: 4,
    TaskStatus.CANCELLED: 5,
    TaskStatus.COMPLETED: 6,
}


@dataclass
class BoardFilter:
    statuses: frozenset[TaskStatus] = frozenset()
    project_id: str | None = None
    text: str = ""
    workflow_id: str | None = None  # one workflow run's steps (the workflows view's drill-down)

    def matches(self, task: Task | TaskSummary) -> bool:
        if self.statuses and task.status not in self.statuses:
            return False
        if self.project_id is not None and task.project_id != self.project_id:
            return False
        if self.workflow_id is not None and task.workflow_id != self.workflow_id:
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = f"{task.title}\0{task.id}\0{task.assigned_agent or ''}\0{task.agent_profile or ''}"
            if needle not in haystack.casefold():
                return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.project_id or self.text or self.workflow_id)


def waits_for_a_slot(task: TaskSummary) -> bool:
    """Running on the server's books, but queued behind the runner's concurrency limit (the runner
    reports it as the "waiting" phase): shown as waiting, not as running."""
    progress = task.progress
    return task.status is TaskStatus.RUNNING and progress is not None and progress.phase == "waiting"


@dataclass
class Board:
    tasks: dict[str, TaskSummary] = field(default_factory=dict)
    filter: BoardFilter = field(default_factory=BoardFilter)
    sort: SortOrder = SortOrder.PRIORITY
    attention_first: bool = True
    descending: bool = False  # the sort read from the other end (see the module's docstring)
    marked: set[str] = field(default_factory=set)
    # The visible order, as sort keys (number, id); see `sort_key` and `order`.
    _keys: SortedKeys = field(default_factory=SortedKeys)
    _key_of: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    counts: dict[TaskStatus, int] = field(default_factory=lambda: dict.fromkeys(TaskStatus, 0))
    # Of the running ones, those still waiting for a free runner slot (not running yet, to a person).
    waiting: int = 0
    cost_micros: int = 0
    permissions: dict[str, PermissionRequest] = field(default_factory=dict)
    # Counts changes to the order, so a view can tell whether what it drew is still the board.
    changes: int = 0

    # ------------------------------------------------------------------ keys

    def sort_key(self, task: TaskSummary) -> tuple[Any, ...]:
        """(one number, the id): the number orders by the sort's fields, the id breaks ties, so keys are
        unique and a task's position is found by bisecting its key. One float, not a tuple of fields:
        most comparisons end at the first item, and a key is two objects, not five. (Text columns are
        (flag, text, id): a string does not fit in a float.)"""
        sort = self.sort
        # Attention first: the others sort after; read from the other end, before.
        later = self.attention_first and task.needs_attention == self.descending
        if sort is SortOrder.PRIORITY:  # the default first: a board's load makes 100,000 of these
            major, newer = min(max(task.priority, 0), 15), -_ms(task.created_at)  # 0-3 here, 1-10 elsewhere
        elif sort is SortOrder.CREATED:
            major, newer = 0, -_ms(task.created_at)
        elif sort is SortOrder.UPDATED:
            major, newer = 0, -_ms(task.updated_at)
        elif sort is SortOrder.STATUS:
            major, newer = STATUS_RANK[task.status] * 16 + min(max(task.priority, 0), 15), -_ms(task.created_at)
        elif sort is SortOrder.PROGRESS:
            major, newer = _progress(task) + 1, -_ms(task.created_at)
        elif sort is SortOrder.COST:
            return ((_COST_CAP if later else 0.0) + min(task.cost_micros, _COST_CAP - 1), task.id)
        elif sort is SortOrder.SERVER:  # a board over servers (ids are `context/id`): newest first in each
            return (later, task.id.partition("/")[0], -_ms(task.created_at), task.id)
        else:
            return (later, _TEXT[sort](task), task.id)
        if later:
            major += 128
        return (major * _MAJOR + newer, task.id)

    # ------------------------------------------------------------------ changes

    @property
    def order(self) -> Sequence[str]:
        """The visible task ids, in order (a view of the keys, not a copy)."""
        return _Ids(self._keys, self.descending)

    def load(self, tasks: Iterable[TaskSummary | Task]) -> None:
        """Add many tasks at once (a first list, a page of a big board)."""
        self.changes += 1
        for task in tasks:
            if isinstance(task, Task):
                task = TaskSummary.of(task)
            old = self.tasks.get(task.id)
            if old is not None:
                if task.revision and task.revision < old.revision:
                    continue
                self._count(old, -1)
                self._unplace(task.id)
            self.tasks[task.id] = task
            self._count(task, +1)
            self._place(task)

    def upsert(self, task: Task | TaskSummary) -> bool:
        """Apply one task from the watch stream; False when what we hold is already newer."""
        if isinstance(task, Task):
            task = TaskSummary.of(task)
        old = self.tasks.get(task.id)
        if old is not None and task.revision and task.revision < old.revision:
            return False
        self.changes += 1
        if old is not None:
            self._count(old, -1)
            self._unplace(task.id)
        self.tasks[task.id] = task
        self._count(task, +1)
        self._place(task)
        return True

    def remove(self, task_id: str) -> bool:
        old = self.tasks.pop(task_id, None)
        if old is None:
            return False
        self.changes += 1
        self._count(old, -1)
        self._unplace(task_id)
        self.marked.discard(task_id)
        return True

    def clear(self) -> None:
        self.tasks.clear()
        self.permissions.clear()
        self.marked.clear()
        self.counts = dict.fromkeys(TaskStatus, 0)
        self.waiting = 0
        self.cost_micros = 0
        self._rebuild()

    def set_filter(self, flt: BoardFilter) -> None:
        self.filter = flt
        self._rebuild()

    def set_sort(self, sort: SortOrder, attention_first: bool | None = None, descending: bool | None = None) -> None:
        self.sort = sort
        if attention_first is not None:
            self.attention_first = attention_first
        if descending is not None:
            self.descending = descending
        self._rebuild()

    # ------------------------------------------------------------------ marks

    def toggle_mark(self, task_id: str) -> bool:
        """Mark the task, or unmark it when it was; whether it is marked now."""
        if task_id in self.marked:
            self.marked.discard(task_id)
            return False
        if task_id not in self.tasks:
            return False
        self.marked.add(task_id)
        return True

    def mark_shown(self) -> int:
        """Mark every task the filter shows; how many are marked now."""
        self.marked.update(self.order)
        return len(self.marked)

    def marked_tasks(self) -> list[TaskSummary]:
        """The marked tasks, in the order the table shows them (any hidden by the filter after them)."""
        last = len(self.tasks)
        ranked = sorted(self.marked, key=lambda task_id: (i if (i := self.index_of(task_id)) is not None else last,
                                                           task_id))
        return [self.tasks[task_id] for task_id in ranked if task_id in self.tasks]

    # ------------------------------------------------------------------ permissions

    def add_permission(self, request: PermissionRequest) -> None:
        self.permissions[request.id] = request

    def resolve_permission(self, request_id: str) -> None:
        self.permissions.pop(request_id, None)

    def pending_for(self, task_id: str) -> list[PermissionRequest]:
        return sorted((p for p in self.permissions.values() if p.task_id == task_id), key=lambda p: p.created_at)

    # ------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self._keys)

    def index_of(self, task_id: str) -> int | None:
        key = self._key_of.get(task_id)
        index = None if key is None else self._keys.index(key)
        return len(self._keys) - 1 - index if index is not None and self.descending else index

    def at(self, index: int) -> TaskSummary | None:
        count = len(self._keys)
        if 0 <= index < count:
            return self.tasks[self._keys[count - 1 - index if self.descending else index][-1]]
        return None

    def task(self, task_id: str | None) -> Task | None:
        """The full model of one task (for a pane or an action), from what the board holds."""
        summary = self.tasks.get(task_id) if task_id is not None else None
        return summary.to_task() if summary is not None else None

    # ------------------------------------------------------------------ internals

    def _count(self, task: TaskSummary, sign: int) -> None:
        self.counts[task.status] += sign
        if waits_for_a_slot(task):
            self.waiting += sign
        self.cost_micros += sign * task.cost_micros

    def _place(self, task: TaskSummary) -> None:
        if not self.filter.matches(task):
            return
        key = self.sort_key(task)
        self._keys.add(key)
        self._key_of[task.id] = key

    def _unplace(self, task_id: str) -> None:
        key = self._key_of.pop(task_id, None)
        if key is not None:
            self._keys.remove(key)

    def _rebuild(self) -> None:
        self.changes += 1
        self._keys = SortedKeys(self.sort_key(t) for t in self.tasks.values() if self.filter.matches(t))
        self._key_of = {key[-1]: key for key in self._keys}


# Sort keys put the sort's major fields above every millisecond timestamp up to the year 2109 (2**42 ms);
# the largest key (255 * 2**43) stays below 2**53, so floats hold them exactly.
_MAJOR = float(2**43)


# A cost sort's key holds the cost in micros below this (exact in a float), the attention flag above it.
_COST_CAP = float(2**52)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _progress(task: TaskSummary) -> int:
    """The percent the PROGRESS column shows (a completed task is done), -1 for none."""
    value = fmt.percent(task.progress)
    if value is None:
        return 100 if task.status is TaskStatus.COMPLETED else -1
    return int(min(max(value, 0), 100))


_TEXT: dict[SortOrder, Callable[[TaskSummary], str]] = {
    SortOrder.TITLE: lambda task: task.title.casefold(),
    SortOrder.AGENT: lambda task: (task.assigned_agent or "\uffff").casefold(),  # none after every name
    SortOrder.ID: lambda task: "",  # the id that ends every key is the order
}


class _Ids(Sequence[str]):
    def __init__(self, keys: SortedKeys, descending: bool = False) -> None:
        self._keys = keys
        self._descending = descending

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        count = len(self._keys)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("task index out of range")  # also what ends iteration
        key: str = self._keys[count - 1 - index if self._descending else index][-1]
        return key


__all__ = ["SORT_COLUMN", "STARTS_DESCENDING", "STATUS_RANK", "Board", "BoardFilter", "SortOrder"]
