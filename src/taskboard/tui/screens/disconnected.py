"""Shown while the server cannot be reached: what failed, and that we keep trying.

From here a person can retry at once, quit, or switch to another context (ctrl+k, or the palette):
the board behind it is not the only way out.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static


class DisconnectedScreen(Screen[None]):
    DEFAULT_CSS = """
    DisconnectedScreen {
        align: center middle;
    }
    DisconnectedScreen > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("r", "app.retry_now", "Retry now"),
        Binding("ctrl+k", "app.switch_context", "Switch context"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server
        self.attempt: tuple[str, int, float] = ("", 0, 0.0)
        # Connected while a dialog (the palette, the context list) was open over this screen.
        self.close_when_shown = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Cannot reach the server"
            # Composed with its text: filled in on_mount, it stayed empty until the next attempt.
            yield Static(self._text(), id="disconnected-body")
        yield Footer()

    def on_screen_resume(self) -> None:
        if self.close_when_shown:
            self.dismiss()

    def show_attempt(self, error: str, attempt: int, retry_in: float) -> None:
        self.attempt = (error, attempt, retry_in)
        if self.is_mounted:
            self.query_one("#disconnected-body", Static).update(self._text())

    def _text(self) -> Text:
        error, attempt, retry_in = self.attempt
        text = Text()
        text.append("taskboard cannot reach ", style="bold")
        text.append(self.server, style="bold cyan")
        text.append("\n\n")
        if error:
            text.append(error, style="red")
            text.append("\n\n")
        text.append(f"Attempt {attempt}. " if attempt else "")
        text.append(f"Trying again in {retry_in:.0f} s; the board opens as soon as the server answers."
                    if retry_in else "Connecting…")
        text.append("\n\nStart a server with `taskboard serve`, or point taskboard at one with --url "
                    "(or TASKBOARD_URL), or switch to another context with ctrl+k.", style="grey62")
        return text
