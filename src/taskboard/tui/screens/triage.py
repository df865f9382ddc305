"""The triage queue (`i`, the inbox grown up): everything on the board that needs a person, on every
server, oldest first (tui/triage.py says what and how), answered without leaving it.

It stays open while you act: `a` allows and `d` denies a permission request (a group of identical
ones together), `p` reviews one (always allow with an edited pattern and a lifetime, deny with a
message), `m` answers a question, `r` resumes a failed task, `x` dismisses an item, enter jumps to its
task on the board. The list follows the board as it changes; the cursor stays on its item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from taskboard import format as fmt
from taskboard.models import PermissionRequest
from taskboard.tui.screens.listing import CURSOR_KEYS, move_cursor
from taskboard.tui.triage import Item, Kind

KIND_STYLE = {Kind.PERMISSION: ("PERMIT", "bold black on yellow"), Kind.QUESTION: ("ASKS", "bold black on cyan"),
              Kind.FAILED: ("FAILED", "bold white on red"), Kind.FINISHED: ("DONE", "bold black on green")}
HINT = "a allow · d deny · p review · m answer · r resume · x dismiss · enter go to task · esc close"
NARROW_HINT = "a d p m r x · enter go · esc"


class TriageActions(Protocol):
    """What the queue's keys do, run where the connection is (the App)."""

    def triage_answer(self, item: Item, behavior: str) -> None: ...
    def triage_review(self, request: PermissionRequest) -> None: ...
    def triage_message(self, task_id: str) -> None: ...
    def triage_resume(self, task_id: str) -> None: ...
    def triage_dismiss(self, item: Item) -> None: ...


class TriageScreen(ModalScreen[str | None]):
    """Dismissed with the task id to jump to, or None."""

    DEFAULT_CSS = """
    TriageScreen {
        align: center middle;
    }
    TriageScreen > Vertical {
        width: 130;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        border-title-color: $warning;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    TriageScreen OptionList, TriageScreen OptionList:focus {
        height: auto;
        max-height: 24;
        border: none;
        padding: 0;
    }
    TriageScreen #triage-detail {
        height: auto;
        max-height: 6;
        color: $text;
        border-top: solid $panel-lighten-2;
    }
    TriageScreen #triage-hint {
        color: $text-muted;
    }
    """
    BINDINGS = [
        Binding("escape,i,q", "close", "Close"),
        Binding("a", "answer('allow')", "Allow"),
        Binding("d", "answer('deny')", "Deny"),
        Binding("p", "review", "Review"),
        Binding("m", "message", "Answer"),
        Binding("r", "resume", "Resume"),
        Binding("x", "dismiss_item", "Dismiss"),
        *CURSOR_KEYS,
    ]

    def __init__(self, items: Callable[[], list[Item]], clock: Callable[[], datetime], actions: TriageActions,
                 questions: dict[tuple[str, datetime], str]) -> None:
        super().__init__()
        self.items_of = items
        self.clock = clock
        self.actions = actions
        self.items: list[Item] = []
        # (task id, updated_at) of a task awaiting input -> the question it asked (fetched by the App).
        self.questions = questions
        self._shown: tuple[Any, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Triage"
            yield Static("Nothing needs you.", id="triage-empty")
            yield OptionList(id="triage-list")
            yield Static("", id="triage-detail")
            yield Static(HINT, id="triage-hint")

    def on_mount(self) -> None:
        self.refresh_items()
        self.query_one(OptionList).focus()

    def on_resize(self) -> None:
        self.query_one("#triage-hint", Static).update(NARROW_HINT if self.app.size.width < 100 else HINT)
        self._shown = ()
        self.refresh_items()

    # ---------------------------------------------------------------- what is shown

    def refresh_items(self) -> None:
        """Read the queue again; redraw only when it changed, keeping the cursor on its item."""
        items = self.items_of()
        shown = tuple((i.key, i.count, i.what, i.since, len(i.answerable)) for i in items) + \
            tuple(sorted(self.questions.items()))
        if shown == self._shown:
            return
        self._shown = shown
        listing = self.query_one(OptionList)
        current, index = self.current, listing.highlighted or 0
        self.items = items
        # The row's room: the box (130, or 98% of a narrower screen) less its border, padding and scrollbar.
        width = max(30, min(130, int(self.app.size.width * 0.98)) - 5)
        listing.clear_options()
        listing.add_options([Option(self._line(item, width), id=item.key) for item in items])
        keys = [item.key for item in items]
        if items:
            # On its item still; when that is gone (answered), on the one that took its place.
            at = keys.index(current.key) if current is not None and current.key in keys else min(index, len(keys) - 1)
            listing.highlighted = at
        box = self.query_one(Vertical)
        waiting = sum(item.count for item in items)
        box.border_title = f"Triage: {waiting} need{'s' if waiting == 1 else ''} you" if items else "Triage"
        self.query_one("#triage-empty").display = not items
        listing.display = bool(items)
        self._show_detail()

    def _line(self, item: Item, width: int) -> Text:
        label, style = KIND_STYLE[item.kind]
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {label:<6} ", style=style)
        line.append(f" {fmt.age(item.since, self.clock()):>4} ", style="grey62")
        if item.server:
            line.append(f"{item.server[:12]:<12} ", style="magenta")
        room = max(10, min(36, (width - 16 - (13 if item.server else 0)) // 2))
        title = item.title if len(item.title) <= room else item.title[: room - 1] + "…"
        line.append(f"{title:<{room}} ", style="bold")
        what = self.questions.get(item.revision, item.what) if item.kind is Kind.QUESTION else item.what
        if item.count > 1:
            line.append(f"{item.count}× ", style="bold yellow")
        line.append(" ".join(what.split()), style="cyan" if item.kind is Kind.PERMISSION else "")
        if item.requests and not item.answerable:
            line.append("  (expired)", style="grey50")
        line.truncate(width, overflow="ellipsis")  # one row each: the OptionList would wrap it
        return line

    @property
    def current(self) -> Item | None:
        listing = self.query_one(OptionList)
        index = listing.highlighted
        return self.items[index] if index is not None and 0 <= index < len(self.items) else None

    @on(OptionList.OptionHighlighted)
    def _show_detail(self) -> None:
        item = self.current
        detail = self.query_one("#triage-detail", Static)
        if item is None:
            detail.update("")
            return
        text = Text()
        if item.kind is Kind.PERMISSION:
            first = item.requests[0]
            text.append(f"{first.tool_name} ", style="bold cyan")
            text.append(f"as {first.suggested_pattern}", style="grey62")
            if item.count > 1:
                text.append(f"  ·  {item.count} identical requests, answered together by a or d", style="yellow")
            for request in item.requests[:3]:
                text.append(f"\n  {request.message or ''} ", style="italic")
                text.append(fmt.request_argument(request.tool_input)[:200])
            if item.count > 3:
                text.append(f"\n  … and {item.count - 3} more")
        elif item.kind is Kind.QUESTION:
            text.append(self.questions.get(item.revision, "The agent is awaiting input."))
            text.append("\n  m answers it", style="grey62")
        elif item.kind is Kind.FAILED:
            text.append(item.what, style="red")
            text.append("\n  r resumes it, x dismisses it")
        else:
            text.append("Completed. enter goes to it, x dismisses it.")
        detail.update(text)

    # ---------------------------------------------------------------- keys

    def action_cursor(self, direction: str) -> None:
        move_cursor(self.query_one(OptionList), direction)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _jump(self) -> None:
        item = self.current
        if item is not None:
            self.dismiss(item.task_id)

    def _need(self, kinds: tuple[Kind, ...], what: str) -> Item | None:
        item = self.current
        if item is None:
            return None
        if item.kind not in kinds:
            self.notify(f"{what} is for {' or '.join(k.value for k in kinds)} items; this one is {item.kind.value}.",
                        severity="warning", timeout=3)
            return None
        return item

    def action_answer(self, behavior: str) -> None:
        item = self._need((Kind.PERMISSION,), "Allow" if behavior == "allow" else "Deny")
        if item is not None:
            self.actions.triage_answer(item, behavior)

    def action_review(self) -> None:
        item = self._need((Kind.PERMISSION,), "Review")
        if item is not None and item.answerable:
            self.actions.triage_review(item.answerable[0])

    def action_message(self) -> None:
        item = self._need((Kind.QUESTION,), "Answering")
        if item is not None:
            self.actions.triage_message(item.task_id)

    def action_resume(self) -> None:
        item = self._need((Kind.FAILED,), "Resume")
        if item is not None:
            self.actions.triage_resume(item.task_id)

    def action_dismiss_item(self) -> None:
        item = self._need((Kind.FAILED, Kind.FINISHED), "Dismissing")
        if item is not None:
            self.actions.triage_dismiss(item)
            self.refresh_items()
