"""The log tail: the selected task's log, live, that stops following when you scroll up.

Lines arrive from `stream_logs` in a worker, wait in a buffer and are written in batches (a burst of
a thousand lines is one repaint, not a thousand). While paused the title counts the lines waiting
below; `f` (or scrolling back to the bottom) follows again. Switching tasks replaces the worker,
which closes the old stream.

A stream ends once its task is final; a task resumed or executed again goes on writing to the same
log, so when the task in view is active again (`task_changed`) the tail streams on from the last line
it has, under a line that says where the new attempt begins.

Its toggles (keys in actions.py, group Log): wrap long lines (the lines are cut to the pane's width
as they are written, so the fast plain-string Log still draws them), the time of each line, which
attempt to show (every run of the task is in its log: the server marks where each run begins with the
line `… started (attempt N …)`, whose data carries the attempt; a log without marks is one attempt),
save what is shown to a file, and copy the line at the bottom of the pane.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, Log
from textual.worker import Worker

from taskboard import format as fmt
from taskboard.client import StreamStatus, TaskboardError, Unsupported
from taskboard.client.base import TaskSource
from taskboard.models import LogEntry, TaskStatus
from taskboard.tui.messages import forward_worker_error

FLUSH_INTERVAL = 0.1
# While a backlog pours in (a thousand lines or more per flush), flush less often: each flush
# redraws the pane, and a longer batch leaves more of the lines the scrollback drops unformatted.
BACKLOG_FLUSH_INTERVAL = 0.3
BACKLOG_LINES = 1_000
KEEP_LINES = 10_000


_CLOCKS: dict[int, str] = {}


def _clock(moment: datetime) -> str:
    """HH:MM:SS in local time. A burst of lines shares a handful of seconds, and converting each
    line's time zone was a fifth of the cost of showing it."""
    second = int(moment.timestamp())
    clock = _CLOCKS.get(second)
    if clock is None:
        if len(_CLOCKS) > 4096:
            _CLOCKS.clear()
        clock = _CLOCKS[second] = moment.astimezone().strftime("%H:%M:%S")
    return clock


class LogColours(Highlighter):
    """Colours a tail line (`HH:MM:SS type        message`) by its event type, when it is drawn."""

    at = 9  # where the type begins: 0 with the times hidden

    def highlight(self, text: Text) -> None:
        at = self.at
        kind = text.plain[at:at + 11].strip()
        style = fmt.LOG_STYLE.get(kind, "default")
        if at:
            text.stylize("grey50", 0, 8)
        text.stylize(style if style != "default" else "grey70", at, at + 11)
        if style != "default":
            text.stylize(style, at + 12, len(text))


# The server's mark where a run begins (its data says the attempt; older logs say it only in words).
_ATTEMPT_WORDS = re.compile(r"\(attempt (\d+)[,)]")


def attempt_of(entry: LogEntry) -> int | None:
    """The attempt a log line says begins (or goes on) here, if it is such a line."""
    data = entry.data
    if data and isinstance(data.get("attempt"), int) and not isinstance(data.get("attempt"), bool):
        return int(data["attempt"])
    if entry.event_type in ("system", "attempt"):
        found = _ATTEMPT_WORDS.search(entry.message)
        if found:
            return int(found.group(1))
    return None


class LogView(Log):
    """A Log that reports when the user scrolls away from the end and back.

    Log keeps plain strings and styles only the lines on screen, when drawn: 100,000 lines arrive
    at well over 50,000 a second, where RichLog, rendering every line as it is written, took ~20 s.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=KEEP_LINES, highlight=True, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self.highlighter = LogColours()
        self.quiet = False

    def _tail(self) -> LogTail | None:
        tail = self.parent.parent if self.parent else None
        return tail if isinstance(tail, LogTail) else None

    def _pause(self) -> None:
        # Set before the scroll starts: a flush meanwhile must not snap the view back to the end.
        tail = self._tail()
        if tail is not None:
            tail.following = False

    def action_scroll_up(self) -> None:
        self._pause()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._pause()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._pause()
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._pause()
        super()._on_mouse_scroll_up(event)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        tail = self._tail()
        if self.quiet or tail is None:
            return
        if new < old and new < self.max_scroll_y:
            tail.following = False  # the scrollbar dragged up (not the end moving up: the view grew taller)
        elif new >= self.max_scroll_y and not tail.following:
            tail.following = True  # scrolled back to the end: follow again


class LogTail(Vertical):
    DEFAULT_CSS = """
    LogTail {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $warning;
    }
    LogTail:focus-within {
        border: round $accent;
    }
    LogTail > Input {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
    }
    LogTail.filtering > Input {
        display: block;
    }
    LogTail > Vertical > LogView {
        background: $surface;
        scrollbar-gutter: stable;
    }
    """
    BINDINGS = [
        Binding("f", "follow", "Follow"),
        Binding("slash", "filter", "Filter log"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    following: reactive[bool] = reactive(True)
    pending: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_id: str | None = None
        self.task_title = ""
        self.entries: deque[LogEntry] = deque(maxlen=KEEP_LINES)
        self.filter_text = ""
        self.stream_state = "idle"
        self._buffer: list[LogEntry] = []
        self._flush_timer: object | None = None
        self._last_batch = 0
        self.received = 0  # lines of this task that arrived, kept or not
        self.last_id: int | None = None  # the last line's id: a later stream goes on from there
        self.client: TaskSource | None = None
        self.task_status: TaskStatus | None = None  # as the board last said
        self.attempt = 0
        self._rerun = False  # the task ran again since this stream began: stream on when it ends
        # The toggles: long lines wrapped, the times shown, which attempt (None: every one).
        self.wrap = False
        self.timestamps = True
        self.attempt_shown: int | None = None
        self.entry_attempts: deque[int] = deque(maxlen=KEEP_LINES)  # beside `entries`: each line's attempt
        self.attempts_seen: set[int] = set()
        self._run_attempt = 1  # the attempt the lines arriving now belong to
        self._row_entries: deque[LogEntry] = deque(maxlen=KEEP_LINES)  # the line of each row on screen
        self._drawn_width = 0

    def compose(self) -> ComposeResult:
        # Compact: one row with no border. A bordered Input squeezed into one row drew its border
        # and hid the text being typed.
        yield Input(placeholder="filter the log (enter to keep, escape to clear)", id="log-filter", compact=True)
        with Vertical():
            yield LogView(id="log-view")

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def on_mount(self) -> None:
        self.border_title = "Log"
        self._update_titles()

    # ------------------------------------------------------------------ following a task

    def show_task(self, client: TaskSource | None, task_id: str | None, title: str = "",
                  status: TaskStatus | None = None, attempt: int = 0) -> None:
        if task_id == self.task_id:
            return
        self.task_id, self.task_title = task_id, title
        self.client, self.task_status, self.attempt, self._rerun = client, status, attempt, False
        self.entries.clear()
        self.entry_attempts.clear()
        self.attempts_seen.clear()
        self._run_attempt = 1
        self.attempt_shown = None
        self._buffer.clear()
        self.received = 0
        self.last_id = None
        self.pending = 0
        self._reset_view()
        self.following = True
        if client is None or task_id is None:
            self.workers.cancel_group(self, "logs")
            self.stream_state = "idle"
            self._update_titles()
            return
        self._stream(client, task_id)

    def task_changed(self, status: TaskStatus, attempt: int) -> None:
        """The board heard of the task in view: when it runs again after its stream ended, follow it."""
        was_final = self.task_status is not None and self.task_status.is_final
        self.task_status = status
        if attempt > self.attempt or (was_final and not status.is_final):  # resumed, executed again
            self._rerun = True
        self.attempt = max(self.attempt, attempt)
        if self._rerun and self._stream_over() and self.client is not None and self.task_id is not None:
            self._next_attempt()

    def _stream_over(self) -> bool:
        return self.stream_state == "ended" or self.stream_state.startswith("error")

    def _next_attempt(self) -> None:
        assert self.client is not None and self.task_id is not None
        self._rerun = False
        self._attempt_line()
        self._stream(self.client, self.task_id, after=self.last_id)

    def _attempt_line(self) -> None:
        label = f" attempt {self.attempt} " if self.attempt else " the task runs again "
        self._buffer.append(LogEntry(event_type="attempt", message=f"{label:─^48}",
                                     timestamp=datetime.now().astimezone(),
                                     data={"attempt": self.attempt} if self.attempt else None))
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_INTERVAL, self.flush)

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def _stream(self, client: TaskSource, task_id: str, after: int | None = None) -> None:
        def status(state: StreamStatus) -> None:
            self.stream_state = "reconnecting" if state is StreamStatus.RECONNECTING else "live"
            self._update_titles()

        self.stream_state = "connecting"
        self._update_titles()
        try:
            async for batch in client.stream_log_batches(task_id, after=after, on_status=status):
                if task_id != self.task_id:
                    return
                if batch and batch[-1].id is not None:
                    self.last_id = batch[-1].id
                self._buffer.extend(batch)
                self.received += len(batch)
                if self._flush_timer is None:
                    interval = BACKLOG_FLUSH_INTERVAL if self._last_batch >= BACKLOG_LINES else FLUSH_INTERVAL
                    self._flush_timer = self.set_timer(interval, self.flush)
        except Unsupported as exc:
            self.stream_state = f"no log stream: {exc.message}"
        except TaskboardError as exc:
            self.stream_state = f"error: {exc}"
        else:
            self.stream_state = "ended"
            if self._rerun and task_id == self.task_id:
                # Resumed while the last attempt's stream was finishing: go on with the next one.
                self.flush()
                self._next_attempt()
                return
        self.flush()

    def flush(self) -> None:
        """Write what has arrived since the last flush, in one go."""
        self._flush_timer = None
        batch, self._buffer = self._buffer, []
        self._last_batch = len(batch)
        if batch:
            self.entries.extend(batch)
            tags = []
            for entry in batch:
                marked = attempt_of(entry)
                if marked is not None:
                    self._run_attempt = marked
                tags.append(self._run_attempt)
            self.entry_attempts.extend(tags)
            self.attempts_seen.update(tags)
            shown = [e for e, tag in zip(batch, tags, strict=True) if self._matches(e, tag)]
            view = self.view
            # Only what the scrollback keeps is drawn: a replayed backlog of 100,000 lines costs
            # the last KEEP_LINES renders, not 100,000.
            self._write(shown[-KEEP_LINES:])
            if self.following:
                view.quiet = True
                view.scroll_end(animate=False, immediate=True, x_axis=False)
                view.quiet = False
            else:
                self.pending += len(shown)
        self._update_titles()

    # ------------------------------------------------------------------ follow / filter

    def watch_following(self, following: bool) -> None:
        if following:
            self.pending = 0
        self.view.auto_scroll = following
        self._update_titles()

    def watch_pending(self) -> None:
        self._update_titles()

    def action_follow(self) -> None:
        self.following = True
        self.view.scroll_end(animate=False, immediate=True)

    def action_filter(self) -> None:
        self.add_class("filtering")
        self.query_one("#log-filter", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # escape is the log's only while it filters; otherwise it goes on to the screen (clear the board's
        # filter, or leave the full-screen view).
        return self.has_class("filtering") or action != "clear_filter"

    def action_clear_filter(self) -> None:
        field = self.query_one("#log-filter", Input)
        field.value = ""
        self.remove_class("filtering")
        self.view.focus()

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.remove_class("filtering")
        self.view.focus()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._redraw()

    def _redraw(self) -> None:
        """Draw the kept lines again, as the filter and the toggles now say."""
        self._reset_view()
        self._write(self.shown_entries()[-KEEP_LINES:])
        self.pending = 0
        self.following = True
        self.view.scroll_end(animate=False, immediate=True)
        self._update_titles()

    # ------------------------------------------------------------------ toggles

    def apply_settings(self, ui: Mapping[str, Any]) -> None:
        """The config's [ui] choices: log_wrap, log_timestamps."""
        wrap, times = ui.get("log_wrap", self.wrap), ui.get("log_timestamps", self.timestamps)
        if (wrap, times) != (self.wrap, self.timestamps):
            self.wrap, self.timestamps = bool(wrap), bool(times)
            if self.is_mounted:
                self._redraw()

    def toggle_wrap(self) -> bool:
        self.wrap = not self.wrap
        self._redraw()
        return self.wrap

    def toggle_timestamps(self) -> bool:
        self.timestamps = not self.timestamps
        self._redraw()
        return self.timestamps

    def step_attempt(self, step: int) -> str:
        """Show the next (step 1) or previous (-1) attempt: every one, then the first, ..., the last,
        and round again. What is shown now, in words."""
        attempts = sorted(self.attempts_seen | ({self.attempt} if self.attempt else set()))
        if len(attempts) < 2:
            self.attempt_shown = None
            self._redraw()
            return f"This log has one attempt{'' if not attempts else f' ({attempts[0]})'}."
        choices: list[int | None] = [None, *attempts]
        at = choices.index(self.attempt_shown) if self.attempt_shown in choices else 0
        self.attempt_shown = choices[(at + step) % len(choices)]
        self._redraw()
        if self.attempt_shown is None:
            return f"Every attempt ({len(attempts)})"
        return f"Attempt {self.attempt_shown} of {attempts[-1]}"

    def shown_entries(self) -> list[LogEntry]:
        return [e for e, tag in zip(self.entries, self.entry_attempts, strict=True) if self._matches(e, tag)]

    def bottom_line(self) -> str | None:
        """The line at the bottom of the pane (the newest while following), whole: what `Y` copies."""
        view = self.view
        if not self._row_entries:
            return None
        row = min(int(view.scroll_y) + max(1, view.scrollable_content_region.height) - 1, len(self._row_entries) - 1)
        entry = self._row_entries[row]
        return " ".join(part for part in (_clock(entry.timestamp) if self.timestamps else "", entry.event_type,
                                          entry.message) if part)

    def save(self, path: Path) -> int:
        """Write what the pane shows (every line, not only those on screen) to `path`, with full times;
        the number of lines. Run it on a thread: a log of 10,000 lines is a moment, a slow disk longer."""
        lines = [f"{e.timestamp.isoformat()} {e.event_type} {e.message}\n" for e in self.shown_entries()]
        with path.open("x", encoding="utf-8") as out:  # never over a file that is there
            out.writelines(lines)
        return len(lines)

    def on_resize(self) -> None:
        if self.wrap and self.is_mounted and self._content_width() != self._drawn_width and self.entries:
            self._redraw()

    # ------------------------------------------------------------------ helpers

    def _matches(self, entry: LogEntry, attempt: int | None = None) -> bool:
        if self.attempt_shown is not None and attempt is not None and attempt != self.attempt_shown:
            return False
        if not self.filter_text:
            return True
        needle = self.filter_text.casefold()
        return needle in entry.message.casefold() or needle in entry.event_type.casefold()

    def _reset_view(self) -> None:
        view = self.view
        view.quiet = True
        view.clear()
        self._row_entries.clear()
        view.scroll_to(y=0, animate=False, immediate=True)
        view.quiet = False

    def _content_width(self) -> int:
        return self.view.scrollable_content_region.width

    def _write(self, entries: list[LogEntry]) -> None:
        """The rows of these lines, as the toggles say, written in one go."""
        view = self.view
        view.highlighter.at = 9 if self.timestamps else 0  # type: ignore[attr-defined]
        if not self.wrap:
            view.write_lines([self._line(e) for e in entries], scroll_end=False)
            self._row_entries.extend(entries)
            return
        width = self._drawn_width = self._content_width()
        rows: list[str] = []
        owners: list[LogEntry] = []
        for entry in entries:
            for row in self._wrapped(self._line(entry), width):
                rows.append(row)
                owners.append(entry)
        view.write_lines(rows, scroll_end=False)
        self._row_entries.extend(owners)

    def _wrapped(self, line: str, width: int) -> list[str]:
        indent = 21 if self.timestamps else 12
        if width <= indent + 10 or len(line) <= width:
            return [line]
        rows, rest = [line[:width]], line[width:]
        room = width - indent
        while rest:
            rows.append(" " * indent + rest[:room])
            rest = rest[room:]
        return rows

    def _line(self, entry: LogEntry) -> str:
        text = f"{entry.event_type:<11.11} {entry.message.replace(chr(10), ' ⏎ ')}"
        return f"{_clock(entry.timestamp)} {text}" if self.timestamps else text

    def _update_titles(self) -> None:
        if not self.is_mounted:
            return
        if self.task_id is None:
            self.border_title = "Log"
        else:
            state = "" if self.stream_state in ("live", "connecting") else f" · {self.stream_state}"
            self.border_title = f"Log · {self.task_title[:40]}{state}"
        parts = []
        if self.attempt_shown is not None:
            parts.append(f"attempt {self.attempt_shown} of {max(self.attempts_seen | {self.attempt})}")
        if self.wrap:
            parts.append("wrap")
        if not self.timestamps:
            parts.append("no times")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if not self.following:
            parts.append(f"paused · {self.pending} new · f to follow")
        self.border_subtitle = " · ".join(parts)
