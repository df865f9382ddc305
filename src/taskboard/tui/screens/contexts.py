"""Pick a context to switch the board to: one line per context, the current one marked."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ContextScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ContextScreen {
        align: center middle;
    }
    ContextScreen > Vertical {
        width: 80;
        height: auto;
        max-height: 80%;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    ContextScreen OptionList {
        height: auto;
        max-height: 20;
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, contexts: list[tuple[str, str]], current: str | None) -> None:
        """`contexts` is (name, what it is: url and dialect)."""
        super().__init__()
        self.contexts = contexts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Switch context"
            yield Static("enter switches the board to that server · escape keeps this one")
            yield OptionList(*(Option(f"{'●' if name == self.current else ' '} {name:<16} {about}", id=name)
                               for name, about in self.contexts), id="contexts")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [name for name, _ in self.contexts]
        if self.current in names:
            options.highlighted = names.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
