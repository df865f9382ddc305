"""Answer a task that is awaiting input: the agent's question, and a line to reply with."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from taskboard.models import MESSAGE_MAX


class MessageScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    MessageScreen {
        align: center middle;
    }
    MessageScreen > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    MessageScreen #question {
        margin-bottom: 1;
    }
    MessageScreen #message-error {
        color: $error;
        height: auto;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Cancel")]

    def __init__(self, task_title: str, question: str | None) -> None:
        super().__init__()
        self.task_title = task_title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Reply to {self.task_title[:60]}"
            text = Text()
            text.append("The agent asks: ", style="grey62")
            text.append(self.question or "(no question recorded)", style="bold")
            yield Static(text, id="question")
            yield Input(placeholder="your answer; enter sends, escape cancels", id="message",
                        max_length=MESSAGE_MAX)
            yield Static("", id="message-error")

    @on(Input.Submitted, "#message")
    def _send(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#message-error", Static).update("Type an answer first (or escape to cancel).")
            return
        self.dismiss(event.value)
