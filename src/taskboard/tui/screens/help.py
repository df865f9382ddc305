"""Every key, grouped; made from actions.py (the bindings' own source) so it cannot drift from them."""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KeyRow = tuple[str, str]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 100;
        max-width: 98%;
        height: auto;
        max-height: 95%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, groups: list[tuple[str, list[KeyRow]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keys"
            with VerticalScroll():
                yield Static(self._table())
            yield Static("ctrl+p opens the command palette: every action by name. escape closes this.",
                         id="help-hint")

    def _table(self) -> Table:
        grid = Table.grid(padding=(0, 3), expand=True)
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        cells: list[list[Table]] = [[], []]
        for i, (title, rows) in enumerate(self.groups):
            group = Table(title=title, title_justify="left", title_style="bold underline", box=None,
                          show_header=False, padding=(0, 1), expand=True)
            width = max(7, min(14, max((len(key) for key, _ in rows), default=7)))
            group.add_column(style="bold cyan", justify="right", width=width, no_wrap=True)
            group.add_column(ratio=1)
            for key, description in rows:
                group.add_row(key, description)
            cells[i % 2].append(group)
        grid.add_row(Group(*(Padding(t, (0, 0, 1, 0)) for t in cells[0])),
                     Group(*(Padding(t, (0, 0, 1, 0)) for t in cells[1])))
        return grid
