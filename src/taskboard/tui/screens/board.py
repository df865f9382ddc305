"""The board: the default screen, with its layout (status bar, search box, table, detail pane, log)
and its keys.

The keys are this screen's bindings, made from actions.py, not the App's: a dialog pushed over the
board is another screen, so the board's keys are simply not in play while it is open (before, every
key was the App's, and check_action had to refuse them one by one while a modal was on top, which
also refused Tab). The actions themselves still run on the App (`app.<name>`), which holds the
connection; the App's check_action greys what the selected task does not allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input

from taskboard.actions import ACTION_LIST, Action
from taskboard.tui.board import Board
from taskboard.tui.widgets.detail_pane import DetailPane
from taskboard.tui.widgets.key_footer import KeyFooter
from taskboard.tui.widgets.log_tail import LogTail
from taskboard.tui.widgets.status_bar import StatusBar
from taskboard.tui.widgets.task_table import TaskTable


def action_bindings(actions: Iterable[Action] = ACTION_LIST) -> list[Binding]:
    """Bindings for these actions, run on the App. `/` is a priority binding: it runs as the key
    arrives, before the keys behind it are handed to the widget in focus (the table), so a burst
    typed after `/` lands in the search box (see TaskboardApp.action_search); `:` likewise, for the
    command line."""
    return [Binding(a.keys, f"app.{a.name}", a.title, show=a.footer, priority=a.name in ("search", "command"))
            for a in actions]


def explain_disabled_key(screen: Screen[object], bindings: Iterable[Binding], event: events.Key) -> None:
    """A disabled key is greyed in the footer; pressing it says why instead of doing nothing."""
    why_disabled = getattr(screen.app, "why_disabled", None)
    if why_disabled is None:
        return
    for binding in bindings:
        if event.key in binding.key.split(","):
            action = binding.action.removeprefix("app.").split("(")[0]
            reason = why_disabled(action)
            if reason is not None:
                event.stop()
                screen.notify(reason, title=binding.description, severity="warning", timeout=4)
            return


class BoardScreen(Screen[None]):
    # The table has the focus from the first frame: Textual's default gave it to the first focusable
    # widget (the search box) until on_mount moved it, and the footer was built for each in turn, the
    # second time just after the first rows were drawn, where the first key pressed waited for it.
    AUTO_FOCUS = "#tasks"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = list(action_bindings())

    def __init__(self, server: str, board: Board, clock: Callable[[], datetime], *, read_only: bool) -> None:
        super().__init__()
        # Kept as attributes: the App's workers reach them while a dialog (another screen) is on top.
        self.status_bar = StatusBar(server, board, read_only=read_only, id="status")
        self.table = TaskTable(board, clock, id="tasks")
        self.detail = DetailPane(clock, id="detail")
        self.log_tail = LogTail(id="log")

    def compose(self) -> ComposeResult:
        yield self.status_bar
        yield Input(placeholder="search titles, ids, agents · enter keeps it · escape clears", id="search",
                    compact=True)
        with Horizontal(id="main"):
            yield self.table
            with Vertical(id="side"):
                yield self.detail
                yield self.log_tail
        yield KeyFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.table.empty_message = "Loading tasks…"

    def on_key(self, event: events.Key) -> None:
        explain_disabled_key(self, self.BINDINGS, event)  # type: ignore[arg-type]
