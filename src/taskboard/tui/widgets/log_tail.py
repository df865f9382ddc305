"""The log tail: the selected task's log, live, that stops following when you scroll up.

Lines arrive from `stream_logs` in a worker, wait in a buffer and are written in batches (a burst of
a thousand lines is one repaint, not a thousand). While paused the title counts the lines waiting
below; `f` (or scrolling back to the bottom) follows again. Switching tasks replaces the worker,
which closes the old stream.

A stream ends once its task is final; a task resumed or executed again goes on writing to the same
log, so when the task in view is active again (`task_changed`) the tail streams on from the last line
it has, under a line that says where the new attempt begins.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

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

    def highlight(self, text: Text) -> None:
        kind = text.plain[9:20].strip()
        style = fmt.LOG_STYLE.get(kind, "default")
        text.stylize("grey50", 0, 8)
        text.stylize(style if style != "default" else "grey70", 9, 20)
        if style != "default":
            text.stylize(style, 21, len(text))


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
                                     timestamp=datetime.now().astimezone()))
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
            shown = [e for e in batch if self._matches(e)]
            view = self.view
            # Only what the scrollback keeps is drawn: a replayed backlog of 100,000 lines costs
            # the last KEEP_LINES renders, not 100,000.
            view.write_lines([self._line(e) for e in shown[-KEEP_LINES:]], scroll_end=False)
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
        self._reset_view()
        view = self.view
        view.write_lines([self._line(e) for e in self.entries if self._matches(e)], scroll_end=False)
        self.pending = 0
        self.following = True
        view.scroll_end(animate=False, immediate=True)
        self._update_titles()

    # ------------------------------------------------------------------ helpers

    def _matches(self, entry: LogEntry) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.casefold()
        return needle in entry.message.casefold() or needle in entry.event_type.casefold()

    def _reset_view(self) -> None:
        view = self.view
        view.quiet = True
        view.clear()
        view.scroll_to(y=0, animate=False, immediate=True)
        view.quiet = False

    @staticmethod
    def _line(entry: LogEntry) -> str:
        return f"{_clock(entry.timestamp)} {entry.event_type:<11.11} {entry.message.replace(chr(10), ' ⏎ ')}"

    def _update_titles(self) -> None:
        if not self.is_mounted:
            return
        if self.task_id is None:
            self.border_title = "Log"
        else:
            state = "" if self.stream_state in ("live", "connecting") else f" · {self.stream_state}"
            self.border_title = f"Log · {self.task_title[:40]}{state}"
        parts = []
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if not self.following:
            parts.append(f"paused · {self.pending} new · f to follow")
        self.border_subtitle = " · ".join(parts)
