"""The detail pane: every field of one task, its usage, lineage, workflow siblings and output.

It shows the list's copy of the task at once, then fills in what only the detail routes have
(usage from the cost ledger, provenance, siblings) from a worker; moving the cursor quickly
cancels the fetch for the task left behind.

What it says must stay true while it sits there: the ages tick (as the table's AGE does), a task
that stopped does not go on saying what it was doing, and a failed task's error is at the top, by
its status, not below the fold.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.segment import Segment
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker

from taskboard import format as fmt
from taskboard.client import NotFound, TaskboardError
from taskboard.client.base import TaskSource
from taskboard.models import (
    PermissionRequest,
    Provenance,
    Sibling,
    Task,
    TaskDetail,
    TaskStatus,
    detect_content_type,
)
from taskboard.tui.messages import forward_worker_error
from taskboard.tui.widgets.scrolling import set_content_size

FETCH_DELAY = 0.08
NO_TASK = Text("No task selected", style="italic grey50")


@dataclass
class TaskView:
    """What the pane shows: the task, and whatever the detail routes added."""

    task: Task
    detail: TaskDetail | None = None
    provenance: Provenance | None = None
    siblings: list[Sibling] = field(default_factory=list)
    permissions: list[PermissionRequest] = field(default_factory=list)


def render_output(text: str) -> RenderableType:
    """The output as its contentType says: markdown, highlighted code or JSON, or plain text."""
    kind = detect_content_type(text)
    if kind == "markdown":
        return Markdown(text)
    if kind == "json":
        try:
            pretty = json.dumps(json.loads(text), indent=2)
        except ValueError:
            pretty = text
        return Syntax(pretty, "json", theme=fmt.CODE_THEME, word_wrap=True, background_color="default")
    if kind == "code":
        lexer = Syntax.guess_lexer("output", text)
        return Syntax(text, lexer, theme=fmt.CODE_THEME, word_wrap=True, background_color="default")
    return Text(text)


DIFF_LINES = 200  # of a diff in the pane; the full-screen view (enter) shows all of it
PERMISSION_DIFF_LINES = 12  # of a file change waiting for approval, above the task's fields
DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("diff ", "bold"), ("index ", "grey50"), ("new file", "grey50"),
               ("deleted file", "grey50"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def render_diff(diff: str, *, full: bool = False) -> Text:
    """A unified diff coloured as git colours it: headers bold, hunks cyan, additions green, removals red."""
    lines = diff.splitlines()
    shown = lines if full or len(lines) <= DIFF_LINES else lines[:DIFF_LINES]
    out = Text()
    for n, line in enumerate(shown):
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        out.append(line, style=style)
        if n < len(shown) - 1:
            out.append("\n")
    if len(shown) < len(lines):
        out.append(f"\n…{len(lines) - len(shown)} more lines (enter for all)", style="grey50")
    return out


def render_task(view: TaskView, now: datetime, *, full: bool = False) -> RenderableType:
    task = view.detail or view.task
    parts: list[RenderableType] = []
    title = Text()
    title.append(f"{fmt.STATUS_ICON[task.status]} ", style=fmt.STATUS_STYLE[task.status])
    title.append(task.title, style="bold")
    parts.append(title)
    if task.error:
        parts.append(Text(f"✘ {task.error}", style="bold red"))

    for request in view.permissions:
        box = Text()
        box.append("⚠ Permission requested: ", style="bold yellow")
        box.append(request.tool_name, style="bold")
        diff = request.tool_input.get("diff")
        shown = {k: v for k, v in request.tool_input.items() if not (k == "diff" and isinstance(diff, str))}
        box.append("  " + json.dumps(shown, separators=(", ", ": "))[:300], style="cyan")
        if isinstance(diff, str):  # a file change: the change itself, as a diff
            lines = diff.splitlines()
            box.append("\n")
            box.append_text(render_diff("\n".join(lines[:PERMISSION_DIFF_LINES]), full=True))
            if len(lines) > PERMISSION_DIFF_LINES:
                box.append(f"\n…{len(lines) - PERMISSION_DIFF_LINES} more lines (p to review)", style="grey50")
        if request.message:
            box.append(f"\n  {request.message}", style="italic")
        box.append("\n  a allow · d deny · p review (always allow, deny with a message)", style="grey62")
        parts.append(Padding(box, (1, 0, 0, 0)))
    if task.status.value == "awaiting_input":
        parts.append(Padding(Text("? The agent is waiting for an answer: press m to reply", style="bold yellow"),
                             (1, 0, 0, 0)))

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="grey62", no_wrap=True)
    fields.add_column()
    status = Text(task.status.value, style=fmt.STATUS_STYLE[task.status])
    fields.add_row("id", task.id)
    fields.add_row("status", status)
    fields.add_row("priority", Text(fmt.priority(task.priority), style=fmt.PRIORITY_STYLE.get(task.priority, "")))
    if isinstance(task, TaskDetail) and task.project_name:
        fields.add_row("project", task.project_name)
    elif task.project_id:
        fields.add_row("project", task.project_id)
    fields.add_row("agent", " · ".join(x for x in (task.assigned_agent, task.agent_profile) if x) or "-")
    if task.task_type:
        fields.add_row("type", task.task_type)
    if task.progress is not None:
        value = fmt.percent(task.progress)
        line = Text(fmt.progress_bar(value, 20), style="dodger_blue1")
        bits = [f"{value:.0f}%" if value is not None else "",
                f"{task.progress.current}/{task.progress.total}" if task.progress.total else ""]
        if task.status in (TaskStatus.CANCELLED, TaskStatus.FAILED):
            bits.append("stopped")  # not what it was doing when it stopped
        else:
            bits += [task.progress.phase or "", task.progress.message or ""]
        line.append("  " + "  ".join(b for b in bits if b))
        fields.add_row("progress", line)
    fields.add_row("created", f"{task.created_at.astimezone():%Y-%m-%d %H:%M:%S} ({fmt.age(task.created_at, now)} ago)")
    fields.add_row("updated", f"{task.updated_at.astimezone():%Y-%m-%d %H:%M:%S} ({fmt.age(task.updated_at, now)} ago)")
    if task.started_at:
        end = task.finished_at or now
        fields.add_row("ran", fmt.duration((end - task.started_at).total_seconds())
                       + ("" if task.finished_at else " so far"))
    if task.attempt or task.resume_count:
        fields.add_row("attempts", f"{task.attempt} (resumed {task.resume_count} of 3)")
    usage = view.detail.usage if view.detail else None
    if usage is not None and (usage.total_tokens or usage.cost_micros):
        fields.add_row("usage", f"{usage.input_tokens:,} in · {usage.output_tokens:,} out · "
                                f"{fmt.cost(usage.cost_micros)}" + (f" · {usage.model_id}" if usage.model_id else ""))
    else:
        fields.add_row("cost", f"{fmt.cost(task.cost_micros)} · {task.total_tokens:,} tokens")
    if isinstance(task, TaskDetail) and task.workflow_name:
        fields.add_row("workflow", f"{task.workflow_name} (step {(task.step_index or 0) + 1})")
    if view.provenance is not None:
        chain = " → ".join(f"{link.type}:{link.name or fmt.short_id(link.id)}" for link in view.provenance.chain)
        fields.add_row("source", view.provenance.source_type + (f" · {chain}" if chain else ""))
    parts.append(Padding(fields, (1, 0, 0, 0)))

    if task.description:
        parts.append(Rule("description", style="grey37", align="left"))
        parts.append(Text(task.description))
    if task.params:
        parts.append(Rule("params", style="grey37", align="left"))
        parts.append(Syntax(json.dumps(task.params, indent=2), "json", theme=fmt.CODE_THEME,
                            background_color="default", word_wrap=True))
    if view.siblings:
        parts.append(Rule("workflow steps", style="grey37", align="left"))
        steps = Table.grid(padding=(0, 1))
        for sibling in view.siblings:
            marker = "›" if sibling.id == task.id else " "
            steps.add_row(marker, Text(fmt.STATUS_ICON[sibling.status], style=fmt.STATUS_STYLE[sibling.status]),
                          sibling.title, Text(sibling.status.value, style=fmt.STATUS_STYLE[sibling.status]))
        parts.append(steps)
    diff = view.detail.diff if view.detail else None
    if diff:
        files = sum(1 for line in diff.splitlines() if line.startswith("+++ "))
        parts.append(Rule(f"diff ({files} file{'' if files == 1 else 's'})", style="grey37", align="left"))
        parts.append(render_diff(diff, full=full))
    if task.result:
        parts.append(Rule(f"output ({detect_content_type(task.result)})", style="grey37", align="left"))
        text = task.result if full or len(task.result) < 4000 else task.result[:4000] + "\n…(enter for all)"
        parts.append(render_output(text))
    return Group(*parts)


class DetailPane(ScrollView, can_focus=True):
    """Draws its own lines, rendered once per change, like the task table: a new height changes its
    scrollbar alone. A Static in a scrolling container lays the whole screen out again whenever its
    height changes (~15 ms at 160x45), and the selected task can change several times a second."""

    DEFAULT_CSS = """
    DetailPane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 1;
        background: $surface;
        overflow-x: hidden;
    }
    DetailPane:focus-within, DetailPane:focus {
        border: round $accent;
    }
    """

    def __init__(self, clock: Callable[[], datetime], *, full: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.full = full
        self.view: TaskView | None = None
        self._content: RenderableType = NO_TASK
        self._lines: list[Strip] = []
        self._width = 0
        self._ages: tuple[str, ...] = ()  # the ages the last render showed

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def on_mount(self) -> None:
        self.border_title = "Detail"
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Redraw when one of the ages shown would read differently, and only then (a render costs ms)."""
        if self.view is not None and self._age_texts() != self._ages:
            self.repaint()

    def _age_texts(self) -> tuple[str, ...]:
        if self.view is None:
            return ()
        task, now = self.view.detail or self.view.task, self.clock()
        ran = fmt.duration((now - task.started_at).total_seconds()) if task.started_at and not task.finished_at else ""
        return fmt.age(task.created_at, now), fmt.age(task.updated_at, now), ran

    def show(self, client: TaskSource | None, task: Task | None,
             permissions: list[PermissionRequest] | None = None) -> None:
        """Show `task` now; fetch the rest if it is another task or it changed."""
        if task is None:
            self.view = None
            self._set_content(NO_TASK)
            return
        same = self.view is not None and self.view.task.id == task.id
        if same and self.view is not None:
            self.view.task = task
            self.view.permissions = permissions or []
            detail = self.view.detail
            stale = detail is None or detail.revision < task.revision
            if detail is not None and stale:
                # Until the fetch brings the rest, what the list has goes over what the last fetch had:
                # the list's copy alone (no description, no usage) would shorten the pane for a moment.
                self.view.detail = detail.model_copy(
                    update={name: getattr(task, name) for name in task.model_fields_set})
        else:
            self.view = TaskView(task=task, permissions=permissions or [])
            self.scroll_home(animate=False)
            stale = True
        self.repaint()
        if client is not None and stale:
            self._fetch(client, task.id)

    def repaint(self) -> None:
        if self.view is not None:
            self._ages = self._age_texts()
            self._set_content(render_task(self.view, self.clock(), full=self.full))

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (all of it, not only the lines on screen)."""
        return "\n".join(line.text.rstrip() for line in self._lines)

    # ------------------------------------------------------------------ drawing

    def _set_content(self, content: RenderableType) -> None:
        self._content = content
        self._render_content()

    def _render_content(self) -> None:
        width = self.scrollable_content_region.width
        self._width = width
        if width <= 0:
            return
        app = self.app
        options = app.console_options.update(highlight=False, width=width, height=None).update_width(width)
        # As a Static renders its content, so the pane looks the same as one.
        segments = app.console.render(self.post_render(self._content, self.visual_style.rich_style), options)
        self._lines = [Strip(line) for line in Segment.split_and_crop_lines(
            segments, width, include_new_lines=False, pad=False)]
        set_content_size(self, Size(width, len(self._lines)))
        self.refresh()

    def on_resize(self) -> None:
        if self.scrollable_content_region.width != self._width:
            self._render_content()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self._render_content()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y  # rounded, as ScrollView rounds it to decide on a redraw
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._lines):
            return self._lines[index]
        return Strip.blank(width, self.visual_style.rich_style)

    @work(group="detail", exclusive=True, exit_on_error=False)
    async def _fetch(self, client: TaskSource, task_id: str) -> None:
        await asyncio.sleep(FETCH_DELAY)  # cancelled if the cursor moves on: a debounce
        try:
            detail = await client.get_task(task_id)
            siblings: list[Sibling] = []
            provenance = None
            if detail.workflow_id:
                siblings = await client.siblings(task_id)
            if detail.parent_id or detail.source_type != "manual":
                provenance = await client.provenance(task_id)
        except NotFound:
            return
        except TaskboardError as exc:
            self.notify(f"Could not load the task: {exc}", severity="error")
            return
        if self.view is None or self.view.task.id != task_id:
            return
        self.view.detail = detail
        self.view.task = detail
        self.view.siblings = siblings
        self.view.provenance = provenance
        self.repaint()
        say = getattr(self.app, "_say_degraded", None)  # a call that turned something off says so once
        if say is not None:
            say()
