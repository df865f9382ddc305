"""A list to pick one row from: the sort menu, the projects and workflow views, a workflow's steps.

One screen for all of them (the inbox's look): rows of text with an id each, enter (or a row's own
letter key) picks one, escape or q closes. What a pick means is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PickScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PickScreen {
        align: center middle;
    }
    PickScreen > Vertical {
        width: 100;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    PickScreen OptionList {
        height: auto;
        max-height: 30;
        border: none;
    }
    PickScreen .pick-hint, PickScreen .pick-empty {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close"),
                Binding("j", "cursor(1)", show=False), Binding("k", "cursor(-1)", show=False)]

    def __init__(self, title: str, rows: Sequence[tuple[str, Text | str]], *, hint: str, empty: str = "Nothing here.",
                 keys: Mapping[str, str] | None = None, highlight: str | None = None,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self.title_text = title
        self.rows = list(rows)
        self.hint = hint
        self.empty = empty
        self.keys = dict(keys or {})  # a letter that picks a row at once (the sort menu's)
        self.highlight = highlight

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            if not self.rows:
                yield Static(self.empty, classes="pick-empty")
            yield OptionList(*(Option(text, id=row_id) for row_id, text in self.rows), id="pick-list")
            yield Static(self.hint, classes="pick-hint")

    def on_mount(self) -> None:
        ids = [row_id for row_id, _ in self.rows]
        if self.highlight in ids:
            self.query_one(OptionList).highlighted = ids.index(self.highlight)

    def action_cursor(self, delta: int) -> None:
        options = self.query_one(OptionList)
        options.action_cursor_down() if delta > 0 else options.action_cursor_up()

    def on_key(self, event: events.Key) -> None:
        chosen = self.keys.get(event.character or "")
        if chosen is not None:
            event.stop()
            self.dismiss(chosen)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
