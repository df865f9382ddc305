"""The board: every task the TUI knows, by id, plus the filtered and sorted order the table shows.

Pure Python, no Textual, so it can be tested and benchmarked on its own. The order is kept
incrementally: one upsert moves one row (two bisects and a list insert), it never re-sorts the
board, so a live update costs the same at 100 tasks and at 100,000.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from taskboard.models import PermissionRequest, Task, TaskStatus


class SortOrder(StrEnum):
    PRIORITY = "priority"
    CREATED = "created"
    UPDATED = "updated"
    STATUS = "status"

    def next(self) -> SortOrder:
        members = list(SortOrder)
        return members[(members.index(self) + 1) % len(members)]


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

    def matches(self, task: Task) -> bool:
        if self.statuses and task.status not in self.statuses:
            return False
        if self.project_id is not None and task.project_id != self.project_id:
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = f"{task.title}\0{task.id}\0{task.assigned_agent or ''}\0{task.agent_profile or ''}"
            if needle not in haystack.casefold():
                return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.project_id or self.text)


@dataclass
class Board:
    tasks: dict[str, Task] = field(default_factory=dict)
    filter: BoardFilter = field(default_factory=BoardFilter)
    sort: SortOrder = SortOrder.PRIORITY
    attention_first: bool = True
    # The visible order, as sort keys; each key ends with its task's id (see `order`).
    _keys: list[tuple[Any, ...]] = field(default_factory=list)
    _key_of: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    counts: dict[TaskStatus, int] = field(default_factory=lambda: dict.fromkeys(TaskStatus, 0))
    cost_micros: int = 0
    permissions: dict[str, PermissionRequest] = field(default_factory=dict)

    # ------------------------------------------------------------------ keys

    def sort_key(self, task: Task) -> tuple[Any, ...]:
        created = -task.created_at.timestamp()
        if self.sort is SortOrder.PRIORITY:
            key: tuple[Any, ...] = (task.priority, created)
        elif self.sort is SortOrder.CREATED:
            key = (created,)
        elif self.sort is SortOrder.UPDATED:
            key = (-task.updated_at.timestamp(),)
        else:
            key = (STATUS_RANK[task.status], task.priority, created)
        if self.attention_first:
            key = (0 if task.needs_attention else 1, *key)
        # The id last: keys are unique, so a task's position is found by bisecting its key.
        return (*key, task.id)

    # ------------------------------------------------------------------ changes

    @property
    def order(self) -> Sequence[str]:
        """The visible task ids, in order (a view of the keys, not a copy)."""
        return _Ids(self._keys)

    def load(self, tasks: Iterable[Task]) -> None:
        """Add many tasks at once (a first list, a page of a big board).

        The page's keys are sorted and appended: the list is then two sorted runs, which Python's
        sort merges in one linear pass (about 5 ms at 100,000 tasks, where re-sorting the whole
        board after every page took 27 s over a full load)."""
        fresh = []
        for task in tasks:
            old = self.tasks.get(task.id)
            if old is not None:
                if task.revision and task.revision < old.revision:
                    continue
                self._count(old, -1)
                self._unplace(task.id)
            self.tasks[task.id] = task
            self._count(task, +1)
            if self.filter.matches(task):
                key = self.sort_key(task)
                fresh.append(key)
                self._key_of[task.id] = key
        if fresh:
            fresh.sort()
            self._keys += fresh
            self._keys.sort()

    def upsert(self, task: Task) -> bool:
        """Apply one task from the watch stream; False when what we hold is already newer."""
        old = self.tasks.get(task.id)
        if old is not None:
            if task.revision and task.revision < old.revision:
                return False
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
        self._count(old, -1)
        self._unplace(task_id)
        return True

    def clear(self) -> None:
        self.tasks.clear()
        self.permissions.clear()
        self.counts = dict.fromkeys(TaskStatus, 0)
        self.cost_micros = 0
        self._rebuild()

    def set_filter(self, flt: BoardFilter) -> None:
        self.filter = flt
        self._rebuild()

    def set_sort(self, sort: SortOrder, attention_first: bool | None = None) -> None:
        self.sort = sort
        if attention_first is not None:
            self.attention_first = attention_first
        self._rebuild()

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
        if key is None:
            return None
        i = bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else None

    def at(self, index: int) -> Task | None:
        if 0 <= index < len(self._keys):
            return self.tasks[self._keys[index][-1]]
        return None

    # ------------------------------------------------------------------ internals

    def _count(self, task: Task, sign: int) -> None:
        self.counts[task.status] += sign
        self.cost_micros += sign * task.cost_micros

    def _place(self, task: Task) -> None:
        if not self.filter.matches(task):
            return
        key = self.sort_key(task)
        i = bisect_left(self._keys, key)
        self._keys.insert(i, key)
        self._key_of[task.id] = key

    def _unplace(self, task_id: str) -> None:
        index = self.index_of(task_id)
        if index is not None:
            del self._keys[index]
        self._key_of.pop(task_id, None)

    def _rebuild(self) -> None:
        self._keys = sorted(self.sort_key(t) for t in self.tasks.values() if self.filter.matches(t))
        self._key_of = {key[-1]: key for key in self._keys}


class _Ids(Sequence[str]):
    def __init__(self, keys: list[tuple[Any, ...]]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._keys[index][-1]


__all__ = ["STATUS_RANK", "Board", "BoardFilter", "SortOrder"]
