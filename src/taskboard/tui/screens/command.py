"""The `:` command line: a view or an action by name, completed with Tab (views.py says what names mean).

It sits at the bottom of the screen over the footer, as vim's and k9s's do. Below the field, the names
the line can still become (with what each does); Tab completes to the one left, or as far as they
agree; enter runs the line, escape closes it. The App's Tab (focus the next field) stands aside here.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from taskboard.views import completion

MAX_SHOWN = 8


class CommandScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    CommandScreen {
        align: left bottom;
        background: $background 30%;
    }
    CommandScreen > Vertical {
        width: 100%;
        height: auto;
        background: $panel;
        border-top: solid $accent;
    }
    CommandScreen #command-matches {
        height: auto;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;  /* one line a name, cut at the edge, on a narrow terminal too */
        text-overflow: ellipsis;
    }
    CommandScreen #command-line {
        height: 1;
    }
    CommandScreen #command-prompt {
        width: 2;
        padding-left: 1;
        text-style: bold;
        color: $accent;
    }
    CommandScreen Input {
        border: none;
        height: 1;
        padding: 0;
        width: 1fr;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("tab", "complete", "Complete", show=False)]

    def __init__(self, candidates: Callable[[str], list[str]], describe: Callable[[str], str]) -> None:
        super().__init__()
        self.candidates = candidates
        self.describe = describe

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="command-matches")
            with Horizontal(id="command-line"):
                yield Static(":", id="command-prompt")
                yield Input(placeholder="tasks · inbox · rules · projects · workflows · ctx NAME · q   "
                            "(Tab completes)", id="command", compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = False
        self.set_focus(field)  # at once: the keys typed right after `:` are for this line
        self._show("")

    def on_key(self, event: events.Key) -> None:
        """Keys typed right behind `:` (a burst) reach the screen before the field has the focus: theirs."""
        field = self.query_one(Input)
        if self.focused is field:
            return
        if event.key == "enter":
            self.dismiss(field.value)
        elif event.key == "tab":
            self.action_complete()
        elif event.is_printable and event.character:
            field.insert_text_at_cursor(event.character)
        else:
            return
        event.stop()

    @on(Input.Changed, "#command")
    def _changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, line: str) -> None:
        found = self.candidates(line)
        width = max((len(name) for name in found[:MAX_SHOWN]), default=0)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, name in enumerate(found[:MAX_SHOWN]):
            if i:
                text.append("\n")
            text.append(f":{name}".ljust(width + 1), style="bold cyan")
            about = self.describe(name)
            if about:
                text.append(f"  {about}", style="grey62")
        if len(found) > MAX_SHOWN:
            text.append(f"\n… {len(found) - MAX_SHOWN} more (type on)", style="grey50")
        if not found and line.strip():
            text.append("no view or action starts so (enter says what it is)", style="grey50")
        self.query_one("#command-matches", Static).update(text)

    def action_complete(self) -> None:
        field = self.query_one(Input)
        field.value = completion(field.value, self.candidates(field.value))
        field.cursor_position = len(field.value)

    @on(Input.Submitted, "#command")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)
