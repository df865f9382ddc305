"""The top bar: which server, whether the board is live, counts per status, approvals and cost.

Two lines that never wrap: when the terminal is narrow the server's address gives way first, then
the zero counts and the words of the others, so the connection, the approvals, the cost and what
the board is filtered and sorted by stay readable at 80 columns.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from taskboard import format as fmt
from taskboard.models import TaskStatus
from taskboard.tui.board import Board

CONNECTION_STYLE = {
    "live": ("● live", "bold green"),
    "connecting": ("◌ connecting", "yellow"),
    "reconnecting": ("◌ reconnecting", "bold yellow"),
    "disconnected": ("✘ disconnected", "bold red"),
}
HINT = " (esc clears)"  # after the marks' count, where there is room
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
        self.pulse: Text | None = None  # the pulses (tui/pulses.py), shown where there is room
        self.project_names: dict[str, str] = {}  # a project filter is said by the project's name where known
        self._shown = Text()

    def watch_connection(self) -> None:
        self.update_counts()

    def on_resize(self) -> None:
        self.update_counts()

    def update_counts(self) -> None:
        board = self.board
        width = max(20, (self.size.width or 160) - 2)  # less the padding
        rest = Text(no_wrap=True)
        label, style = CONNECTION_STYLE.get(self.connection, (self.connection, "yellow"))
        rest.append("  ")
        rest.append(label, style=style)
        if self.read_only:
            rest.append("  read-only", style="bold magenta")
        approvals = len(board.permissions)
        if approvals:
            rest.append(f"  ⚠ {approvals} approval{'s' if approvals != 1 else ''} waiting (i)", style="bold yellow")
        if board.marked:
            rest.append(f"  ● {len(board.marked):,} marked{HINT}", style="bold magenta")
        rest.append(f"  {fmt.cost(board.cost_micros)} spent", style="grey70")
        if board.marked and len(rest) > width - len("taskboard …"):  # narrow: the count stays, its hint goes
            cut = rest.plain.index(HINT)
            rest = rest[:cut] + rest[cut + len(HINT):]
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append("taskboard ", style="bold")
        if self.pulse is not None and width - len(top) - len(rest) - len(self.server) >= len(self.pulse):
            rest.append_text(self.pulse)  # the pulses give way before the server's name does
        room = width - len(top) - len(rest)
        server = self.server if len(self.server) <= room else self.server[:max(0, room - 1)] + "…"
        top.append(server, style="grey62")
        top.append_text(rest)

        summary = Text(no_wrap=True)
        shown = len(board)
        summary.append(f"│ {shown:,} of {len(board.tasks):,} shown", style="grey62")
        flt = board.filter
        if flt.statuses:
            summary.append(f" · status {','.join(sorted(s.value for s in flt.statuses))}", style="cyan")
        if flt.project_id:
            name = self.project_names.get(flt.project_id) or flt.project_id[:8]
            summary.append(f" · project {name}", style="cyan")
        if flt.workflow_id:
            summary.append(f" · workflow {flt.workflow_id[:8]}", style="cyan")
        if flt.text:
            summary.append(f" · /{flt.text}", style="cyan")
        arrow = " ↓" if board.descending else ""
        summary.append(f" · sort {board.sort.value}{arrow}{', attention first' if board.attention_first else ''}",
                       style="grey62")
        bottom = Text(no_wrap=True, overflow="ellipsis")
        for counts in (self._counts(words=True, zeros=True), self._counts(words=True, zeros=False),
                       self._counts(words=False, zeros=False)):
            if len(counts) + len(summary) <= width:
                break
        bottom.append_text(counts)
        bottom.append_text(summary)
        content = Text("\n", no_wrap=True, overflow="ellipsis").join([top, bottom])
        # Its size never changes, so a repaint of this widget alone (update() would re-lay out the
        # whole screen, 20 times a second in an update storm); and none when nothing it shows changed.
        if content.plain != self._shown.plain:
            self._shown = content
            self.refresh()

    def _counts(self, *, words: bool, zeros: bool) -> Text:
        counts = Text(no_wrap=True)
        waiting = self.board.waiting
        for status in _COUNTED:
            count = self.board.counts.get(status, 0)
            if status is TaskStatus.RUNNING:
                count -= waiting  # the ones waiting for a runner slot are counted as waiting, below
            if count or zeros:
                label = f" {fmt.STATUS_LABEL[status]}" if words else ""
                counts.append(f"{fmt.STATUS_ICON[status]} {count}{label}",
                              style=fmt.STATUS_STYLE[status] if count else "grey37")
                counts.append("  " if words else " ")
            if status is TaskStatus.RUNNING and waiting:
                counts.append(f"◌ {waiting}{' waiting' if words else ''}", style="yellow")
                counts.append("  " if words else " ")
        return counts

    def render(self) -> Text:
        return self._shown
