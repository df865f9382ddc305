"""One task, full screen: the whole output, every field, and its log (every attempt, with the log
pane's toggles)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from taskboard.actions import ACTION_LIST
from taskboard.client.base import TaskSource
from taskboard.models import PermissionRequest, Task
from taskboard.tui.screens.board import action_bindings, explain_disabled_key
from taskboard.tui.widgets.detail_pane import DetailPane
from taskboard.tui.widgets.key_footer import KeyFooter
from taskboard.tui.widgets.log_tail import LogTail


class DetailScreen(Screen[None]):
    DEFAULT_CSS = """
    DetailScreen #detail-full {
        height: 3fr;
    }
    DetailScreen #detail-log {
        height: 2fr;
    }
    """
    # Its own keys first (escape, enter and q go back), then the board's actions on this task.
    BINDINGS = [
        Binding("escape,enter,q", "app.pop_screen", "Back"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        *action_bindings(a for a in ACTION_LIST if a.name != "search"),
    ]

    def __init__(self, client: TaskSource | None, task: Task, clock: Callable[[], datetime],
                 permissions: list[PermissionRequest], log_settings: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.log_tail = LogTail(id="detail-log")
        self.log_settings = dict(log_settings or {})
        self.client = client
        self.task_ = task
        self.clock = clock
        self.permissions = permissions

    def compose(self) -> ComposeResult:
        yield DetailPane(self.clock, full=True, id="detail-full")
        yield self.log_tail
        yield KeyFooter()

    def on_mount(self) -> None:
        pane = self.query_one(DetailPane)
        pane.border_title = "Task"
        pane.show(self.client, self.task_, self.permissions)
        pane.focus()
        task = self.task_
        self.log_tail.apply_settings(self.log_settings)
        self.log_tail.show_task(self.client, task.id, task.title, task.status, task.attempt)

    def on_key(self, event: events.Key) -> None:
        explain_disabled_key(self, self.BINDINGS[3:], event)  # type: ignore[arg-type]

    def action_scroll(self, lines: int) -> None:
        self.query_one(DetailPane).scroll_relative(y=lines, animate=False)

    def update_task(self, task: Task, permissions: list[PermissionRequest]) -> None:
        if task.id == self.task_.id:
            self.query_one(DetailPane).show(self.client, task, permissions)
            self.log_tail.task_changed(task.status, task.attempt)
