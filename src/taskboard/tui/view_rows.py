"""The rows of the board's named views (`:projects`, `:workflows`, a run's steps) and the sort menu's letters.

The views are drawn from what the board already holds: a project's tasks by status are counted from
the board's rows, and a workflow run is the board's tasks that share its `workflowId`, in step order
(`stepIndex`), each with its state. The run's name comes from the server's `/api/workflows` where it
has one (the bundled server); elsewhere a run is named by its first step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from taskboard import format as fmt
from taskboard.client import TaskboardError
from taskboard.models import Project, TaskStatus, TaskSummary
from taskboard.tui.board import Board, SortOrder

# The sort menu's letter for each order (S, then the letter).
SORT_KEYS = {SortOrder.PRIORITY: "p", SortOrder.STATUS: "s", SortOrder.TITLE: "t", SortOrder.AGENT: "n",
             SortOrder.PROGRESS: "g", SortOrder.CREATED: "a", SortOrder.UPDATED: "u", SortOrder.COST: "c",
             SortOrder.ID: "i", SortOrder.SERVER: "v"}


def _counts(tasks: Iterable[TaskSummary]) -> Text:
    counts = Counter(task.status for task in tasks)
    text = Text(no_wrap=True)
    for status in TaskStatus:
        if counts[status]:
            text.append(f"{fmt.STATUS_ICON[status]} {counts[status]} ", style=fmt.STATUS_STYLE[status])
    return text


def project_rows(projects: Iterable[Project], board: Board) -> list[tuple[str, Text]]:
    """One row a project: its name, its tasks on the board by status, its directory."""
    by_project: dict[str, list[TaskSummary]] = {}
    for task in board.tasks.values():
        if task.project_id is not None:
            by_project.setdefault(task.project_id, []).append(task)
    rows = []
    for project in sorted(projects, key=lambda p: p.name.casefold()):
        tasks = by_project.get(project.id, [])
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{project.name[:30]:<31}", style="bold cyan")
        line.append(f"{len(tasks):>5} task{'s' if len(tasks) != 1 else ' '}  ")
        line.append_text(_counts(tasks))
        if project.working_directory:
            line.append(f" {project.working_directory}", style="grey50")
        rows.append((project.id, line))
    return rows


@dataclass
class Run:
    id: str
    name: str
    steps: list[TaskSummary] = field(default_factory=list)

    @property
    def state(self) -> str:
        """failed, cancelled, running (a step is live), completed (every step), else planned."""
        statuses = {step.status for step in self.steps}
        for status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            if status in statuses:
                return status.value
        if statuses & {TaskStatus.RUNNING, TaskStatus.AWAITING_INPUT, TaskStatus.QUEUED}:
            return "running"
        return "completed" if statuses == {TaskStatus.COMPLETED} else "planned"


async def workflow_names(client: Any) -> dict[str, str]:
    """Each run's name, from servers that list workflows (an optional call: none is no error)."""
    list_workflows = getattr(client, "list_workflows", None)
    if list_workflows is None:
        return {}
    try:
        return {run.id: run.name for run in await list_workflows()}
    except TaskboardError:
        return {}


def workflow_runs(board: Board, names: dict[str, str]) -> list[Run]:
    """The board's workflow runs, newest first, each with its steps in order."""
    runs: dict[str, Run] = {}
    for task in board.tasks.values():
        if task.workflow_id is not None:
            runs.setdefault(task.workflow_id, Run(task.workflow_id, names.get(task.workflow_id, ""))).steps.append(task)
    for run in runs.values():
        run.steps.sort(key=lambda t: (t.step_index if t.step_index is not None else 1 << 30, t.created_at))
        run.name = run.name or f"{run.steps[0].title} …"
    return sorted(runs.values(), key=lambda r: r.steps[0].created_at, reverse=True)


def run_line(run: Run) -> Text:
    done = sum(step.status is TaskStatus.COMPLETED for step in run.steps)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{run.name[:36]:<37}", style="bold cyan")
    state = run.state
    line.append(f"{state:<10}", style=fmt.STATUS_STYLE[TaskStatus(state)])
    line.append(f"{done}/{len(run.steps)} steps  ")
    line.append_text(_counts(run.steps))
    return line


def step_line(index: int, step: TaskSummary) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{index + 1:>2}. ", style="grey62")
    status = step.status
    line.append(f"{fmt.STATUS_ICON[status]} {fmt.STATUS_LABEL[status]:<10}", style=fmt.STATUS_STYLE[status])
    line.append(f" {step.title}")
    if step.cost_micros:
        line.append(f"  {fmt.cost(step.cost_micros)}", style="grey62")
    return line
