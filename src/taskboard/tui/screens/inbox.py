"""The approvals inbox: every pending permission request on the board; enter reviews one."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from taskboard.models import PermissionRequest


class InboxScreen(ModalScreen[PermissionRequest | None]):
    DEFAULT_CSS = """
    InboxScreen {
        align: center middle;
    }
    InboxScreen > Vertical {
        width: 100;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    InboxScreen OptionList {
        height: auto;
        max-height: 30;
        border: none;
    }
    InboxScreen #inbox-hint {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape,i,q", "dismiss(None)", "Close")]

    def __init__(self, requests: list[PermissionRequest], titles: dict[str, str]) -> None:
        super().__init__()
        self.requests = sorted(requests, key=lambda r: r.created_at)
        self.titles = titles

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Approvals waiting: {len(self.requests)}"
            if not self.requests:
                yield Static("Nothing is waiting for approval.", id="inbox-empty")
            options = []
            for request in self.requests:
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(request.tool_name, style="bold cyan")
                line.append(" " + json.dumps(request.tool_input, separators=(",", ":"))[:60])
                line.append(f"  · {self.titles.get(request.task_id, request.task_title or request.task_id)}",
                            style="grey62")
                options.append(Option(line, id=request.id))
            yield OptionList(*options, id="inbox-list")
            yield Static("enter reviews the request · escape closes", id="inbox-hint")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        chosen = next(r for r in self.requests if r.id == event.option.id)
        self.dismiss(chosen)
