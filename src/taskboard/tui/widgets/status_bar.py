"""The top bar: which server, whether the board is live, counts per status, approvals and cost."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from taskboard.models import TaskStatus
from taskboard.tui import format as fmt
from taskboard.tui.board import Board

CONNECTION_STYLE = {
    "live": ("● live", "bold green"),
    "connecting": ("◌ connecting", "yellow"),
    "reconnecting": ("◌ reconnecting", "bold yellow"),
    "disconnected": ("✘ disconnected", "bold red"),
}
_COUNTED = (TaskStatus.RUNNING, TaskStatus.AWAITING_INPUT, TaskStatus.QUEUED, TaskStatus.PLANNED,
            TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        padding: 0 1;
        background: $panel;
    }
    """

    connection: reactive[str] = reactive("connecting")

    def __init__(self, server: str, board: Board, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.server = server
        self.board = board
        self.read_only = read_only
        self._shown = Text()

    def watch_connection(self) -> None:
        self.update_counts()

    def update_counts(self) -> None:
        board = self.board
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append("taskboard ", style="bold")
        top.append(self.server, style="grey62")
        label, style = CONNECTION_STYLE.get(self.connection, (self.connection, "yellow"))
        top.append("  ")
        top.append(label, style=style)
        if self.read_only:
            top.append("  read-only", style="bold magenta")
        approvals = len(board.permissions)
        if approvals:
            top.append(f"  ⚠ {approvals} approval{'s' if approvals != 1 else ''} waiting (i)", style="bold yellow")
        top.append(f"  {fmt.cost(board.cost_micros)} spent", style="grey70")

        bottom = Text(no_wrap=True, overflow="ellipsis")
        for status in _COUNTED:
            count = board.counts.get(status, 0)
            bottom.append(f"{fmt.STATUS_ICON[status]} {count} {fmt.STATUS_LABEL[status]}",
                          style=fmt.STATUS_STYLE[status] if count else "grey37")
            bottom.append("  ")
        shown = len(board)
        bottom.append(f"│ {shown:,} of {len(board.tasks):,} shown", style="grey62")
        flt = board.filter
        if flt.statuses:
            bottom.append(f" · status {','.join(sorted(s.value for s in flt.statuses))}", style="cyan")
        if flt.project_id:
            bottom.append(f" · project {flt.project_id[:8]}", style="cyan")
        if flt.text:
            bottom.append(f" · /{flt.text}", style="cyan")
        bottom.append(f" · sort {board.sort.value}{' (attention first)' if board.attention_first else ''}", style="grey62")
        content = Text("\n").join([top, bottom])
        # Its size never changes, so a repaint of this widget alone (update() would re-lay out the
        # whole screen, 20 times a second in an update storm); and none when nothing it shows changed.
        if content.plain != self._shown.plain:
            self._shown = content
            self.refresh()

    def render(self) -> Text:
        return self._shown
