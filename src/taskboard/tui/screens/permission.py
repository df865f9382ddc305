"""The permission modal: what the agent wants to do, and Allow once (with the input as shown, or edited) /
Always allow (a pattern in the server's own form) / Deny (with a message).

It opens focused on the request's text, not on a button: a bare enter (the inbox's "enter reviews",
or a key the person was typing when the modal opened by itself) must never allow anything. Allowing
takes `a`, or Tab to a button on purpose. On a read-only board it shows the request and decides nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from taskboard import format as fmt
from taskboard.client.base import NATIVE_PATTERNS, PatternForm
from taskboard.models import PermissionRequest
from taskboard.tui.screens.fit import fit_body
from taskboard.tui.widgets.detail_pane import render_diff


@dataclass(frozen=True)
class PermissionDecision:
    behavior: Literal["allow", "deny"]
    always_allow: bool = False
    pattern: str | None = None
    message: str | None = None
    updated_input: dict[str, Any] | None = None  # what the tool runs with instead, when edited
    expires_in: int | None = None  # an always-allow rule lasts this many seconds (None: until deleted)


class PermissionScreen(ModalScreen[PermissionDecision | None]):
    DEFAULT_CSS = """
    PermissionScreen {
        align: center middle;
    }
    PermissionScreen > Vertical {
        width: 90;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        border-title-color: $warning;
        border-title-style: bold;
        background: $surface;
        padding: 0 2;
    }
    PermissionScreen #permission-body {
        height: auto;
    }
    PermissionScreen #permission-input {
        height: auto;
        max-height: 12;
        background: $panel;
        margin: 1 0 0 0;
    }
    PermissionScreen #permission-input:focus {
        background: $panel-lighten-1;
    }
    PermissionScreen Label {
        margin-top: 1;
        color: $text-muted;
    }
    PermissionScreen Input {
        margin-right: 1;
    }
    PermissionScreen #pattern-row {
        height: auto;
    }
    PermissionScreen #pattern-row Input#pattern {
        width: 1fr;
    }
    PermissionScreen #pattern-row Static {
        width: auto;
        margin-right: 1;
        color: $text-muted;
    }
    PermissionScreen #pattern-row Input#rule-expiry {
        width: 16;
    }
    PermissionScreen #pattern-error, PermissionScreen #input-error {
        color: $error;
        height: auto;
    }
    PermissionScreen #permission-buttons {
        height: auto;
        margin: 1 0;
    }
    PermissionScreen Button {
        margin-right: 2;
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Later"),
        Binding("a", "allow", "Allow once"),
        Binding("A", "always", "Always allow"),
        Binding("d", "deny", "Deny"),
    ]

    def __init__(self, request: PermissionRequest, *, task_title: str | None = None,
                 patterns: PatternForm = NATIVE_PATTERNS, read_only: str | None = None,
                 arm_after: float = 0.0, no_expiry: str | None = None) -> None:
        super().__init__()
        # Why a saved rule cannot be given a lifetime on this server (its field is off), or None.
        self.no_expiry = no_expiry
        self.request = request
        # Why nothing may be decided here (read-only), or None.
        self.read_only = read_only
        # Opened by itself: the decision keys wait this long, so a key already on its way (typed for
        # the board) does not answer a request the person has not read.
        self.arm_after = arm_after
        self.armed = arm_after <= 0
        self.task_title = task_title or request.task_title or request.task_id
        self.patterns = patterns
        self.original_input = json.dumps(request.tool_input, separators=(", ", ": "))

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical() as box:
            box.border_title = "Permission requested"
            head = Text()
            head.append(self.task_title, style="bold")
            head.append(" wants to use ")
            head.append(request.tool_name, style="bold cyan")
            with VerticalScroll(id="permission-body", can_focus=False):
                yield Static(head, id="permission-head")
                if request.message:
                    yield Static(Text(request.message, style="italic"), id="permission-message")
                diff = request.tool_input.get("diff")
                shown = {k: v for k, v in request.tool_input.items() if not (k == "diff" and isinstance(diff, str))}
                with VerticalScroll(id="permission-input"):
                    yield Static(Syntax(json.dumps(shown, indent=2), "json", theme=fmt.CODE_THEME,
                                        word_wrap=True, background_color="default"))
                    if isinstance(diff, str):  # a file change (openai-codex-app-server): the change itself
                        yield Static(render_diff(diff), id="permission-diff")
                yield Label("Allow with this input (edit it to change what runs):")
                yield Input(self.original_input, id="edited-input", compact=True)
                yield Static("", id="input-error")
                yield Label(self.patterns.label)
                with Horizontal(id="pattern-row"):
                    yield Input(request.suggested_pattern, id="pattern", compact=True)
                    yield Static("for")
                    yield Input(placeholder="until deleted" if not self.no_expiry else "no expiry here",
                                id="rule-expiry", compact=True, disabled=bool(self.no_expiry),
                                tooltip=self.no_expiry or "How long the rule lasts: 30m, 8h, 2d; blank: until deleted")
                yield Static("", id="pattern-error")
                yield Label("Message to the agent when denying (optional):")
                yield Input(placeholder="why not, or what to do instead", id="deny-message", compact=True)
            if self.read_only:
                yield Static(Text(self.read_only, style="bold yellow"), id="permission-read-only")
            with Horizontal(id="permission-buttons"):
                yield Button("Allow once (a)", id="allow", variant="success", disabled=bool(self.read_only))
                yield Button("Always allow (A)", id="always", variant="primary", disabled=bool(self.read_only))
                yield Button("Deny (d)", id="deny", variant="error", disabled=bool(self.read_only))
                yield Button("Later (esc)", id="later")

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#permission-input").focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # Borders 2, the buttons 3 and their margins 2, the read-only line.
        fit_body(self.query_one("#permission-body"), self.app.size.height, 7 + (1 if self.read_only else 0))
        if not self.armed:
            self.set_timer(self.arm_after, self._arm)

    def _arm(self) -> None:
        # Armed once the keys have been quiet for arm_after: a burst typed for the board runs out first.
        quiet = time.monotonic() - getattr(self.app, "last_key_at", 0.0)
        if quiet < self.arm_after:
            self.set_timer(self.arm_after - quiet, self._arm)
            return
        self.armed = True

    def _may_decide(self) -> bool:
        if self.read_only:
            self.notify(self.read_only, title="Read-only", severity="warning", timeout=4)
            return False
        return self.armed

    @on(Button.Pressed, "#later")
    def _later(self) -> None:
        self.dismiss(None)

    def _edited_input(self) -> tuple[bool, dict[str, Any] | None]:
        """(valid, the edited input or None when it is as shown)."""
        field = self.query_one("#edited-input", Input)
        text = field.value.strip()
        if text == self.original_input:
            return True, None
        try:
            value = json.loads(text)
        except ValueError as exc:
            value, problem = None, f"Not JSON: {exc}"
        else:
            problem = "" if isinstance(value, dict) else "The input is a JSON object: {...}"
        if problem:
            self.query_one("#input-error", Static).update(problem)
            field.focus()
            return False, None
        return True, value if value != self.request.tool_input else None

    @on(Button.Pressed, "#allow")
    def action_allow(self) -> None:
        if not self._may_decide():
            return
        valid, edited = self._edited_input()
        if valid:
            self.dismiss(PermissionDecision("allow", updated_input=edited))

    @on(Button.Pressed, "#always")
    def action_always(self) -> None:
        if not self._may_decide():
            return
        pattern = self.query_one("#pattern", Input).value.strip()
        if not re.match(self.patterns.regex, pattern):
            self.query_one("#pattern-error", Static).update(self.patterns.hint)
            self.query_one("#pattern", Input).focus()
            return
        lifetime = self.query_one("#rule-expiry", Input)
        expires_in = None
        if lifetime.value.strip():
            try:
                expires_in = fmt.parse_duration(lifetime.value)
            except ValueError as exc:
                self.query_one("#pattern-error", Static).update(str(exc))
                lifetime.focus()
                return
        valid, edited = self._edited_input()
        if valid:
            self.dismiss(PermissionDecision("allow", always_allow=True, pattern=pattern, updated_input=edited,
                                            expires_in=expires_in))

    @on(Input.Submitted, "#edited-input")
    def _input_submitted(self) -> None:
        self.action_allow()

    @on(Button.Pressed, "#deny")
    def action_deny(self) -> None:
        if not self._may_decide():
            return
        message = self.query_one("#deny-message", Input).value.strip() or None
        self.dismiss(PermissionDecision("deny", message=message))

    @on(Input.Submitted, "#deny-message")
    def _deny_submitted(self) -> None:
        self.action_deny()

    @on(Input.Submitted, "#pattern")
    @on(Input.Submitted, "#rule-expiry")
    def _pattern_submitted(self) -> None:
        self.action_always()
