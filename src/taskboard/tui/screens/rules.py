"""The saved rules (`R`, `:rules`): every always-allow and deny rule of every server on the board, with
who saved it, when, how many requests it has answered since, and when it stops; `D` deletes one (asks
first), after which the next matching request asks a person again.

A server shows what it keeps: the bundled server all of it; Stagent only its patterns (no one who saved
one, no date, no count, no expiry), shown as such; a server that keeps no rules says so and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from taskboard import format as fmt
from taskboard.client import ApiError, TaskboardError
from taskboard.client.base import Capability, TaskSource
from taskboard.models import PermissionRule
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.listing import CURSOR_KEYS, move_cursor

NEVER = "—"


@dataclass(frozen=True)
class RuleServer:
    """One server's part of the screen: its name, its client, and why it cannot be changed (or None)."""

    name: str
    client: TaskSource
    read_only: str | None = None


def _known(moment: datetime | None) -> datetime | None:
    # A server that keeps no date for a rule (Stagent) is given the epoch by its client.
    return moment if moment is not None and moment.timestamp() > 0 else None


class RulesScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    RulesScreen {
        align: center middle;
    }
    RulesScreen > Vertical {
        width: 130;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    RulesScreen #rules-head {
        color: $text-muted;
        text-style: bold;
    }
    RulesScreen OptionList, RulesScreen OptionList:focus {
        height: auto;
        max-height: 26;
        border: none;
        padding: 0;
    }
    RulesScreen #rules-hint {
        color: $text-muted;
    }
    """
    BINDINGS = [
        Binding("escape,q,R", "dismiss(None)", "Close"),
        Binding("D,delete", "delete_rule", "Delete"),
        Binding("ctrl+r", "reload", "Reload"),
        *CURSOR_KEYS,
    ]

    def __init__(self, servers: Sequence[RuleServer], clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.servers = list(servers)
        self.clock = clock
        self.rules: dict[str, tuple[RuleServer, PermissionRule]] = {}  # option id -> its rule
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Saved rules"
            yield Static(self._columns(), id="rules-head")
            yield OptionList(id="rules-list")
            yield Static("D delete · ctrl+r reload · esc close", id="rules-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.action_reload()

    def action_cursor(self, direction: str) -> None:
        move_cursor(self.query_one(OptionList), direction)

    # ---------------------------------------------------------------- layout

    @property
    def _wide(self) -> bool:
        return self.app.size.width >= 110

    def _columns(self) -> Text:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"{'':<7}{'pattern':<{self._pattern_width()}} ")
        head.append(f"{'saved by':<18} {'saved':>5} " if self._wide else f"{'saved':>5} ")
        head.append(f"{'matched':>7}  {'until':<12}")
        return head

    def _pattern_width(self) -> int:
        width = min(self.app.size.width, 130) - 6
        return max(16, width - 7 - (25 if self._wide else 6) - 9 - 12)

    def _line(self, rule: PermissionRule) -> Text:
        now = self.clock()
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {rule.behavior:<5} ", style="bold green" if rule.behavior == "allow" else "bold red")
        room = self._pattern_width()
        pattern = rule.pattern if len(rule.pattern) <= room else rule.pattern[: room - 1] + "…"
        line.append(f"{pattern:<{room}} ", style="grey50" if rule.expired else "cyan")
        created = _known(rule.created_at)
        if self._wide:
            line.append(f"{(rule.saved_by or NEVER)[:18]:<18} ")
        line.append(f"{fmt.age(created, now) if created else NEVER:>5} ", style="grey62")
        kept = rule.source != "stagent"  # Stagent counts nothing
        line.append(f"{rule.match_count if kept else NEVER:>7}  ")
        if rule.expired:
            line.append("expired", style="bold grey50")
        elif rule.expires_at is not None:
            line.append(f"in {fmt.duration((rule.expires_at - now).total_seconds())}", style="yellow")
        else:
            line.append("no expiry" if kept else NEVER, style="grey62")
        return line

    # ---------------------------------------------------------------- loading

    @work(group="rules", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        listing = self.query_one(OptionList)
        current = listing.highlighted_option.id if listing.highlighted_option is not None else None
        options: list[Option | None] = []
        rules: dict[str, tuple[RuleServer, PermissionRule]] = {}
        total = 0
        for server in self.servers:
            header = Text(no_wrap=True, overflow="ellipsis")
            header.append(f"{server.name}", style="bold magenta")
            reason = server.client.why_not(Capability.RULES)
            found: list[PermissionRule] = []
            if reason is None:
                try:
                    found = await server.client.list_rules()
                except TaskboardError as exc:
                    reason = f"could not list its rules: {exc}"
            if reason is not None:
                header.append(f"  {reason}", style="grey62")
            elif not found:
                header.append("  no saved rules (always allow in a review saves one)", style="grey62")
            else:
                header.append(f"  {len(found)} rule{'s' if len(found) != 1 else ''}", style="grey62")
                if any(r.source == "stagent" for r in found):
                    header.append(" · Stagent keeps only the pattern", style="grey62")
            options.append(Option(header, disabled=True))
            for rule in sorted(found, key=lambda r: (r.expired, r.created_at)):
                option_id = f"{server.name}\0{rule.id}"
                rules[option_id] = (server, rule)
                options.append(Option(self._line(rule), id=option_id))
            total += len(found)
        self.rules = rules
        listing.clear_options()
        listing.add_options(options)
        ids = [o.id if o is not None else None for o in options]
        if current is not None and current in ids:
            listing.highlighted = ids.index(current)
        elif rules:
            listing.highlighted = ids.index(next(iter(rules)))
        self.query_one(Vertical).border_title = f"Saved rules: {total}"
        self.query_one("#rules-head", Static).update(self._columns())
        self.loaded = True

    # ---------------------------------------------------------------- deleting

    @property
    def current(self) -> tuple[RuleServer, PermissionRule] | None:
        option = self.query_one(OptionList).highlighted_option
        return self.rules.get(option.id) if option is not None and option.id else None

    def action_delete_rule(self) -> None:
        chosen = self.current
        if chosen is None:
            return
        server, rule = chosen
        if server.read_only:
            self.notify(server.read_only, title="Read-only", severity="warning", timeout=4)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete(server, rule)

        self.app.push_screen(ConfirmScreen(f"Delete the {rule.behavior} rule {rule.pattern} on {server.name}?\n\n"
                                           "The next request it would have answered asks a person again.",
                                           confirm_label="Delete rule"), confirmed)

    @work(group="rules-delete", exit_on_error=False)
    async def _delete(self, server: RuleServer, rule: PermissionRule) -> None:
        try:
            await server.client.delete_rule(rule.id)
        except ApiError as exc:
            self.notify(exc.message, title=f"Delete refused ({exc.status})", severity="error")
        except TaskboardError as exc:
            self.notify(str(exc), title="Delete failed", severity="error")
        else:
            self.notify(f"Deleted the rule {rule.pattern} on {server.name}", timeout=3)
        self.action_reload()
