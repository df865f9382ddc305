"""Save the log pane to a file: which path (filled in with a name of the task's), checked before it closes."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


def path_refusal(path: Path) -> str | None:
    """Why the log cannot be saved there, before anything is written; None when it can."""
    if path.is_dir():
        return f"{path} is a directory: give a file name."
    if path.exists():
        return "That file is there already: give another name (nothing is written over a file)."
    if not path.parent.is_dir():
        return f"There is no directory {path.parent}."
    return None


class SaveLogScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    SaveLogScreen {
        align: center middle;
    }
    SaveLogScreen > Vertical {
        width: 90;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    SaveLogScreen #save-error {
        color: $error;
        height: auto;
    }
    SaveLogScreen Horizontal {
        height: auto;
        margin-top: 1;
    }
    SaveLogScreen Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Cancel")]

    def __init__(self, path: str, about: str) -> None:
        super().__init__()
        self.path = path
        self.about = about

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Save the log"
            yield Static(self.about, id="save-about")
            yield Input(self.path, placeholder="a file to create (~ is your home)", id="save-path")
            yield Static("", id="save-error")
            with Horizontal():
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        text = self.query_one("#save-path", Input).value.strip()
        if not text:
            self.query_one("#save-error", Static).update("Give a file name (or escape to cancel).")
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        refusal = path_refusal(path)
        if refusal is not None:
            self.query_one("#save-error", Static).update(refusal)
            return
        self.dismiss(path)

    @on(Button.Pressed, "#save-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
