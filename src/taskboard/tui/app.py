"""The taskboard TUI: a live board of agent tasks, steered from the keyboard.

Network work runs in workers; what they learn reaches the widgets through the Board (one in-memory
model) and a few Messages. A failed call becomes a notification with the server's words; nothing a
server says or fails to say ends the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import math
import sys
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from taskboard import format as fmt
from taskboard.actions import (
    ACTION_LIST,
    ACTIONS,
    BULK,
    GATED,
    NOT_CONNECTED,
    READ_ONLY,
    Situation,
    TaskFacts,
    by_group,
    sort_out,
    why_not,
)
from taskboard.client import ApiError, StreamStatus, TaskboardError
from taskboard.client.base import NATIVE_PATTERNS, Capability, Capable, TaskSource
from taskboard.config import Config, ConfigError
from taskboard.connect import Connector, RemoteServer, ServerStartError
from taskboard.models import (
    SEED_AGENT_IDS,
    Event,
    PermissionRequest,
    PermissionStatus,
    Project,
    Stats,
    SummaryPage,
    Task,
    TaskMessage,
    TaskStatus,
    TaskSummary,
)
from taskboard.notify import Notice, Notifier
from taskboard.paths import data_dir
from taskboard.state import BoardState
from taskboard.tui import bulk, terminal, view_rows
from taskboard.tui.board import SORT_COLUMN, STARTS_DESCENDING, Board, BoardFilter, SortOrder
from taskboard.tui.config_watch import ConfigWatch, context_changes
from taskboard.tui.messages import (
    BoardLoaded,
    PermissionRequested,
    PermissionResolved,
    TaskChanged,
    WorkerFailed,
)
from taskboard.tui.pulses import Pulses
from taskboard.tui.screens.board import BoardScreen
from taskboard.tui.screens.command import CommandScreen
from taskboard.tui.screens.confirm import ConfirmScreen
from taskboard.tui.screens.contexts import ContextScreen
from taskboard.tui.screens.detail import DetailScreen
from taskboard.tui.screens.disconnected import DisconnectedScreen
from taskboard.tui.screens.filter import FilterScreen
from taskboard.tui.screens.help import HelpScreen
from taskboard.tui.screens.message import MessageScreen
from taskboard.tui.screens.new_task import NewTaskScreen
from taskboard.tui.screens.permission import PermissionDecision, PermissionScreen
from taskboard.tui.screens.pick import PickScreen
from taskboard.tui.screens.rules import RuleServer, RulesScreen
from taskboard.tui.screens.save_log import SaveLogScreen
from taskboard.tui.screens.triage import TriageScreen
from taskboard.tui.triage import Item, Seen, triage
from taskboard.tui.widgets.detail_pane import DetailPane
from taskboard.tui.widgets.log_tail import LogTail
from taskboard.tui.widgets.status_bar import StatusBar
from taskboard.tui.widgets.task_table import TaskTable
from taskboard.views import VIEW_NAMES, CommandError, candidates, resolve

# A big board loads a page at a time, AHEAD pages asked for at once: the server works on the next
# while we parse and apply one. 500 a page keeps a page's parse (the one step that cannot yield to a
# key) to ~5 ms; with two asked for at once, 100,000 tasks still load in about 3.5 s on 2 cores.
PAGE_SIZE = 500
AHEAD = 2
# Over a far link a page's answer takes a round trip, not the few ms it takes here: as many pages are
# asked for at once as the first page's round trip would fit of PAGE_TIME each (what a page costs the
# server and the board on this machine), so the answers come back-to-back (issue 24; bench/far.py).
PAGE_TIME = 0.02
MAX_AHEAD = 12
# A page is applied a slice at a time: a key pressed while it loads waits behind one slice (~2 ms).
SLICE = 250
KEY_FRAME_WAIT = 0.1  # the longest a load waits for the frame after a key
# Each page after the first starts this many rows early, to find where the one before it ended.
OVERLAP = 20
SEAM_RETRIES = 3
# While the rest loads, the table and counts are redrawn at most this often: a page can still move
# rows on screen (an older task needing attention sorts to the top), and a redraw costs more than
# applying a page.
LOAD_REPAINT_INTERVAL = 0.5
# Newest first: the first page holds the tasks the board shows on top (every sort puts newer first
# among equals), and later pages add older tasks below them, so the rows on screen stay put while the
# rest loads instead of being pushed down by every page (a redraw of the whole table per key pressed).
LOAD_SORT = "-created"
REDETECT_INTERVAL = 3.0  # `auto` guessed: how often to ask the server again
CONFIG_CHECK = 1.0  # how often the config file is looked at (a stat) for changes
THEME_SAVE_DELAY = 1.0
STATS_INTERVAL = 2.0  # how often the header's pulses ask the server for its stats
RETRY_DELAYS = (1.0, 2.0, 3.0, 5.0, 10.0)
SEARCH_DEBOUNCE = 0.15
REPAINT_INTERVAL = 0.05
DETAIL_INTERVAL = 0.25
# The detail, the log and the footer's greyed keys follow the cursor once it rests this long:
# holding j (or scrolling in a storm) moves the cursor alone, without a fetch, a new log stream, a
# re-render and a footer rebuild per row.
PANES_SETTLE = 0.12
# The footer's keys are re-checked at most this often (a watch event can change what is allowed):
# refreshing bindings recomposes the footer (tens of ms), which would delay the keys themselves.
KEYS_SETTLE = 0.3
NARROW_WIDTH = 120
# A permission modal that opens by itself takes its decision keys (a, A, d) only after the keys have
# been quiet this long: a key typed for the board just as it opened must not answer the request.
AUTO_OPEN_ARM = 0.6
# The open triage queue reads the board again at most this often (a scan of every task).
TRIAGE_INTERVAL = 0.25

def _utcnow() -> datetime:
    return datetime.now(UTC)


T = TypeVar("T")


async def _timed(call: Awaitable[T]) -> tuple[T, float]:
    """What `call` gives, and how long it took (s)."""
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


class TaskboardApp(App[None]):
    CSS_PATH = "taskboard.tcss"
    TITLE = "taskboard"
    # The board's keys are BoardScreen's (and DetailScreen's) bindings, made from actions.py: a dialog
    # pushed over the board takes them out of play. The actions run here, where the connection is.
    # Tab and shift+Tab as priority bindings: focus moves as the key arrives, so the keys typed behind
    # it in one burst (a paste, a fast typist over SSH) go to the next field, not the one it left.
    BINDINGS = [Binding("tab", "focus_next", "Next field", show=False, priority=True),
                Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True)]
    # The board's widgets (BoardScreen's), set by get_default_screen.
    status_bar: StatusBar
    table: TaskTable
    detail: DetailPane
    log_tail: LogTail

    def __init__(self, connector: Connector, *, read_only: bool = False,
                 clock: Callable[[], datetime] = _utcnow, bell: bool = True,
                 contexts: Mapping[str, ContextChoice] | None = None, context: str | None = None,
                 config_path: Path | None = None,
                 load_contexts: Callable[[], Mapping[str, ContextChoice]] | None = None,
                 aliases: Mapping[str, str] | None = None, state: BoardState | None = None) -> None:
        super().__init__()
        self.aliases = dict(aliases or {})  # the config's [aliases], for the `:` line
        self.state = state or BoardState()  # the sort kept per context
        self._state_key = ""  # the context (or server) the board's sort is kept for
        self.connector = connector
        self.read_only_flag = read_only  # --read-only: stays on whichever context is shown
        self.read_only = read_only
        self.contexts = dict(contexts or {})
        self.context = context
        self.clock = clock
        self.use_bell = bell
        self.client: TaskSource | None = None
        self.board = Board()
        self.pulses = Pulses()
        self.projects: list[Project] = []
        self.agents: list[str] = list(SEED_AGENT_IDS)
        self.connection = "connecting"
        self.loaded = False
        self._retry_now = asyncio.Event()
        self._degraded_said: set[str] = set()  # what the user was told this server does not offer
        self._search_timer: Any = None
        self._repaint_timer: Any = None
        self._last_repaint = 0.0
        self._last_detail = 0.0
        self._keys_enabled: tuple[bool, ...] = ()
        self._keys_timer: Any = None
        self._panes_timer: Any = None
        self._changed: set[str] = set()
        self._permission_open: str | None = None
        self.crash_log: Path | None = None
        self._crash_message: str | None = None
        self.last_key_at = 0.0  # when the last key arrived (the permission modal arms after a quiet spell)
        self._key_drawn = asyncio.Event()  # cleared by a key until the frame after it (_key_first)
        self._key_drawn.set()
        # The config file: re-read when it changes (contexts, [notify], [ui]); the theme saved back to it.
        self.load_contexts = load_contexts
        self._theme_kept: str | None = None  # the theme the file has (or had when the board started)
        self._theme_timer: Any = None
        self.config_watch = ConfigWatch(config_path) if config_path is not None else None
        self.config = self.config_watch.config if self.config_watch else Config(Path())
        self.notifier = Notifier(self.config.notify, write=self._write_terminal,
                                 report=lambda message, error: self.notify(
                                     message, title="Notifications", severity="error" if error else "information",
                                     timeout=8))
        # The triage queue: what the person has seen (finished before this is old news), the questions
        # its tasks asked (fetched once per question), and its redraw, at most every TRIAGE_INTERVAL.
        self.triage_seen = Seen(since=clock())
        self._questions: dict[tuple[str, datetime], str] = {}
        self._triage_timer: Any = None

    # ------------------------------------------------------------------ layout

    def get_default_screen(self) -> Screen[Any]:
        """The board (layout and keys, screens/board.py); its widgets stay reachable from here, as
        the workers update them while a dialog is on top."""
        screen = BoardScreen(self.connector.label, self.board, self.clock, read_only=self.read_only)
        self.status_bar, self.table, self.detail, self.log_tail = (screen.status_bar, screen.table,
                                                                   screen.detail, screen.log_tail)
        return screen

    def on_mount(self) -> None:
        # What start-up built (modules, the DOM, styles) lives as long as the app: out of the
        # collector's sight, the first full collection does not walk it (60 ms, in the first second
        # of a big board's load, when keys are pressed).
        gc.freeze()
        self._apply_width(self.size.width)
        self._restore_sort()
        self._connect()
        self.run_worker(self.notifier.run(), group="notify", exit_on_error=False)
        self._apply_ui(self.config.ui)
        self._theme_kept = self.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.config_watch is not None:
            if self.config_watch.error:
                self.notify(self.config_watch.error, title="Config not read", severity="error")
            self.set_interval(CONFIG_CHECK, self._check_config)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        if self.screen_stack:
            self.screen_stack[0].set_class(width < NARROW_WIDTH, "narrow")

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice (TEXTUAL_DRIVER for `taskboard web`, else the platform's), metered on a Linux
        terminal: the table knows when the terminal falls behind (tui/terminal.py)."""
        return terminal.metered(super().get_driver_class())

    # ------------------------------------------------------------------ connection

    @work(group="connection", exclusive=True, exit_on_error=False)
    async def _connect(self) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.client is None:
                    self.client = await self.connector.connect()
                    self.status_bar.server = self.connector.label
                    server_of = getattr(self.client, "server_of", None)
                    if server_of is not None:
                        self.table.server_of = server_of
                        self.table.refresh()
                revision = await self._load()
                break
            except (TaskboardError, ServerStartError, OSError) as exc:
                delay = RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)]
                self._show_disconnected(str(exc), attempt, delay)
                self._retry_now.clear()
                try:
                    await asyncio.wait_for(self._retry_now.wait(), delay)
                except TimeoutError:
                    pass
        self._close_disconnected()
        self._watch(revision)
        self._pulses()
        if getattr(self.connector, "provisional", False):
            self._redetect()

    def _disconnected_screen(self) -> DisconnectedScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, DisconnectedScreen)), None)

    def _show_disconnected(self, error: str, attempt: int, delay: float) -> None:
        self._set_connection("disconnected")
        # One such screen, wherever it is in the stack: with the palette or the context list open over
        # it, a second one pushed on top hid them (and the next ctrl+p crashed on a duplicate palette).
        screen = self._disconnected_screen()
        if screen is None:
            screen = DisconnectedScreen(self.connector.label)
            self.push_screen(screen)
        screen.server = self.connector.label
        screen.show_attempt(error, attempt, delay)

    def _close_disconnected(self) -> None:
        screen = self._disconnected_screen()
        if screen is None:
            return
        if self._top() is screen:
            self.pop_screen()
        else:  # under a dialog the person has open: it goes when that closes
            screen.close_when_shown = True

    def action_retry_now(self) -> None:
        self._retry_now.set()

    async def _load(self) -> int | None:
        """List the board (the first page shows at once), then what the panes need."""
        assert self.client is not None
        client = self.client
        # Both at once: over a far link each is a round trip before the first rows show. The small one's
        # time is the link's round trip (the page's also holds the server's work on 500 rows, 10-60 ms on a
        # busy server, which asked for more pages at once than a near link needs: the answers then came
        # in together and a key waited behind them, 45 ms at p50 on loopback instead of 18).
        first, (permissions, round_trip) = await asyncio.gather(
            client.list_summaries(limit=PAGE_SIZE, sort=LOAD_SORT), _timed(client.list_permissions(status="pending")))
        ahead = max(AHEAD, min(MAX_AHEAD, math.ceil(round_trip / PAGE_TIME)))
        self.board.clear()
        self.board.load(first.items)
        gc.freeze()
        for request in permissions:
            self.board.add_permission(request)
        self.table.empty_message = "No tasks yet. Press n to create one."
        self._board_changed()
        self._set_connection("live")
        self.loaded = True
        complete = len(first.items) >= first.total
        self.post_message(BoardLoaded(len(self.board.tasks), complete))
        self._load_extras()
        if not complete:
            self._load_rest(first, ahead)
        return first.revision

    @work(group="extras", exclusive=True, exit_on_error=False)
    async def _load_extras(self) -> None:
        assert self.client is not None
        # Both fetched before either is set: a form opened meanwhile offers the old lists, never half new.
        projects, runtimes = await asyncio.gather(self.client.list_projects(), self.client.runtimes())
        ids = [r.id for r in runtimes if r.enabled]
        self.agents = [*ids, *(a for a in SEED_AGENT_IDS if a not in ids)]
        self._set_projects(projects)
        self._say_degraded()

    def _set_projects(self, projects: list[Project]) -> None:
        self.projects = projects
        self.status_bar.project_names = {p.id: p.name for p in projects}
        self.status_bar.update_counts()

    def _say_degraded(self) -> None:
        """What this server turned out not to offer (an optional call answered something else): said once."""
        if self.client is None:
            return
        for what, reason in list(self.client.degraded.items()):
            if what not in self._degraded_said:
                self._degraded_said.add(what)
                self.notify(reason, title="Not on this server", severity="warning", timeout=10)

    @work(group="pages", exclusive=True, exit_on_error=False)
    async def _load_rest(self, first: SummaryPage, ahead: int = AHEAD) -> None:
        """The pages after the first, `ahead` at a time, each overlapping the one before it.

        Offsets move when tasks are created or deleted meanwhile: a deletion above the load's position
        would slide an unseen task into the page just loaded, and no event would ever bring it. So each
        page starts OVERLAP rows early and must hold one of the last ids of the page before it (the
        seam); when it holds none, the rows moved further than that and the page is asked for again from
        further back. Tasks created meanwhile come first (newest first) and push the rest on: the load
        follows the total the server gives with each page."""
        assert self.client is not None
        client = self.client
        stride = len(first.items)  # what this server gives at most
        overlap = min(OVERLAP, stride // 4)
        step = stride - overlap

        def fetch(at: int) -> asyncio.Task[SummaryPage]:
            return asyncio.ensure_future(client.list_summaries(limit=PAGE_SIZE, offset=at, sort=LOAD_SORT,
                                                               before_parse=self._key_first))

        def seam_ids(items: list[TaskSummary]) -> set[str]:
            return {task.id for task in items[len(items) - overlap:]} if overlap else set()

        pending: deque[asyncio.Task[SummaryPage]] = deque()
        total, asked = first.total, stride - overlap
        seam, retries = seam_ids(first.items), 0
        shown = time.monotonic()
        try:
            while True:
                while len(pending) < ahead and asked < total:
                    pending.append(fetch(asked))
                    asked += step
                if not pending:
                    break
                page = await pending.popleft()
                if not page.items:
                    break
                items = page.items
                if seam:
                    at = next((i for i in range(len(items) - 1, -1, -1) if items[i].id in seam), None)
                    if at is None and retries < SEAM_RETRIES and page.offset > 0:
                        while pending:
                            pending.pop().cancel()
                        asked, retries = max(0, page.offset - step), retries + 1
                        continue
                    if at is not None:
                        items = items[at + 1:]  # what comes before is on the board already
                retries = 0
                for start in range(0, len(items), SLICE):
                    if start:
                        await asyncio.sleep(0)  # a key pressed meanwhile goes first
                    await self._key_first()
                    self.board.load(items[start:start + SLICE])
                if time.monotonic() - shown >= LOAD_REPAINT_INTERVAL:
                    self._board_changed()
                    shown = time.monotonic()
                # The board's objects live as long as the app: out of the collector's sight they do not
                # make every full collection walk them (over 100 ms at 5,000 tasks, stalling keys and frames).
                gc.freeze()
                seam, total = seam_ids(page.items), page.total
                end = page.offset + len(page.items)
                if len(page.items) < stride and end < total:  # a short page: go on from its end
                    while pending:
                        pending.pop().cancel()
                    asked = end - overlap
        finally:
            for task in pending:
                task.cancel()
        self._board_changed()
        self.post_message(BoardLoaded(len(self.board.tasks), True))

    @work(group="watch", exclusive=True, exit_on_error=False)
    async def _watch(self, since: int | None) -> None:
        assert self.client is not None

        def on_status(status: StreamStatus) -> None:
            self._set_connection("live" if status is StreamStatus.CONNECTED else "reconnecting")

        async for event in self.client.watch(since, on_status=on_status):
            if event.type == "reset":
                # The server no longer holds our revision: list again, then carry on from the stream.
                await self._load()
                continue
            self._apply(event)

    @work(group="pulses", exclusive=True, exit_on_error=False)
    async def _pulses(self) -> None:
        """Sample the server's stats for the header's pulses; a server without them shows none, silently."""
        client = self.client
        stats = getattr(client, "stats", None)
        if not isinstance(client, Capable) or stats is None or not client.can(Capability.STATS):
            return
        self._degraded_said.add(Capability.STATS.value)  # off on this server: not worth a toast
        while client is self.client and client.can(Capability.STATS):
            try:
                got: Stats | None = await client.optional(Capability.STATS.value, stats(), None, Capability.STATS)
            except TaskboardError:
                got = None  # a key refused, the server away: the next round may do
            if got is not None:
                self.pulses.add(self.clock(), got.counts.get(TaskStatus.COMPLETED.value, 0), got.cost_micros)
                pulse = self.pulses.render()
                if pulse is not None and (self.status_bar.pulse is None or pulse.plain != self.status_bar.pulse.plain):
                    self.status_bar.pulse = pulse
                    self.status_bar.update_counts()
            await asyncio.sleep(STATS_INTERVAL)

    def _apply(self, event: Event) -> None:
        board = self.board
        if event.type == "task.upserted" and event.task is not None:
            before = board.tasks.get(event.task.id)
            if board.upsert(event.task):
                self._task_changed(event.task.id)
                # A change seen live: a task first seen failed (a polled server may never show it running) too.
                failed = event.task.status is TaskStatus.FAILED
                if failed and (before is None or before.status is not TaskStatus.FAILED):
                    self._announce_failure(event.task)
                elif before is not None and before.status is not event.task.status:
                    self._reach_on_change(event.task)
        elif event.type == "task.deleted" and event.task_id:
            if board.remove(event.task_id):
                self._task_changed(event.task_id)
        elif event.type == "permission.requested" and event.permission is not None:
            board.add_permission(event.permission)
            self.post_message(PermissionRequested(event.permission))
            self._task_changed(event.permission.task_id)
        elif event.type == "permission.resolved" and event.permission is not None:
            board.resolve_permission(event.permission.id)
            self.post_message(PermissionResolved(event.permission))
            self._task_changed(event.permission.task_id)

    def _announce_failure(self, task: Task) -> None:
        self.notify(task.error or "No error was given.", title=f"“{task.title}” failed", severity="error",
                    timeout=8)
        if self.use_bell:
            self.bell()
        self._reach("failed", task.id, task.title, task.error or "No error was given.")

    def _reach_on_change(self, task: Task) -> None:
        if task.status is TaskStatus.AWAITING_INPUT:
            self._reach("question", task.id, task.title, "waits for your answer (m)")
        elif task.status is TaskStatus.COMPLETED:
            self._reach("completed", task.id, task.title, "")

    def _reach(self, event: str, task_id: str, title: str, detail: str) -> None:
        """Tell the ways the config chose (the terminal's notification, a command, a webhook); never waits."""
        server_of = self.table.server_of
        server = server_of(task_id) if server_of else (self.context or self.connector.label)
        self.notifier.post(Notice(event, title, server, task_id.rpartition("/")[2] if server_of else task_id,
                                  detail, getattr(self.connector, "url", "")))

    def _write_terminal(self, sequence: str) -> None:
        """Raw bytes to the terminal (as App.bell writes its BEL): the terminal's own notification."""
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def _task_changed(self, task_id: str) -> None:
        self._changed.add(task_id)
        self._board_changed()

    def _board_changed(self) -> None:
        """Repaint the table and the counts once, however many changes arrive meanwhile: at once
        after a quiet spell (a lone change shows in milliseconds), at most every REPAINT_INTERVAL in a storm."""
        if self._repaint_timer is None and self.table.is_attached:
            wait = self._last_repaint + REPAINT_INTERVAL - time.monotonic()
            self._repaint_timer = self.set_timer(max(wait, 0.001), self._repaint)

    def _repaint(self) -> None:
        self._repaint_timer = None
        if terminal.backlog() > terminal.BACKLOG_LIMIT:
            # The terminal has not taken the last frames yet (a slow link): draw the latest state once it
            # has, not every state in between (tui/terminal.py).
            self._repaint_timer = self.set_timer(REPAINT_INTERVAL, self._repaint)
            return
        self._last_repaint = time.monotonic()
        changed, self._changed = self._changed, set()
        if self.table.is_attached:  # not while shutting down
            self.table.sync(changed)
            self.status_bar.update_counts()
            self._triage_changed()
            # The panes hear of their task at most every DETAIL_INTERVAL, however often it changes: a
            # task changing 20 times a second would otherwise re-render the detail pane as often.
            full_screen = isinstance(self._top(), DetailScreen)
            now = time.monotonic()
            due = now - self._last_detail >= DETAIL_INTERVAL
            later = False
            for task_id in changed:
                if task_id == self.table.selected_id or full_screen:
                    if due:
                        self.post_message(TaskChanged(task_id))
                        self._last_detail = now
                    else:
                        self._changed.add(task_id)
                        later = True
            if later:
                self._board_changed()

    def _set_connection(self, state: str) -> None:
        if state != self.connection:
            self.connection = state
            self.status_bar.connection = state

    # ------------------------------------------------------------------ reacting

    @on(TaskTable.Highlighted)
    def _highlighted(self, event: TaskTable.Highlighted) -> None:
        # The cursor moves at once; the panes (a fetch, a new log stream, a re-render) follow when it
        # rests, so holding j through a thousand rows does not open a thousand streams.
        if self._panes_timer is not None:
            self._panes_timer.stop()
        self._panes_timer = self.set_timer(PANES_SETTLE, self._show_selected)

    def _show_selected(self) -> None:
        self._panes_timer = None
        self._refresh_keys()
        task = self.table.selected_task
        if self.detail.is_attached:
            self.detail.show(self.client, task, self.board.pending_for(task.id) if task else [])
            self.log_tail.show_task(self.client, task.id if task else None, task.title if task else "",
                                    task.status if task else None, task.attempt if task else 0)

    @on(TaskChanged)
    def _task_changed_message(self, event: TaskChanged) -> None:
        if not self.detail.is_attached:
            return
        task = self.board.task(event.task_id)
        if event.task_id == self.table.selected_id:
            self.detail.show(self.client, task, self.board.pending_for(event.task_id))
            if task is not None and self.log_tail.task_id == task.id:
                self.log_tail.task_changed(task.status, task.attempt)
            self._refresh_keys()
        screen = self._top()
        if isinstance(screen, DetailScreen) and task is not None:
            screen.update_task(task, self.board.pending_for(task.id))

    @on(PermissionRequested)
    def _permission_requested(self, event: PermissionRequested) -> None:
        request = event.request
        task = self.board.tasks.get(request.task_id)
        argument = fmt.request_argument(request.tool_input)
        self._reach("permission", request.task_id, task.title if task else (request.task_title or ""),
                    f"asks to use {request.tool_name}" + (f": {argument}" if argument else ""))
        typing = isinstance(self.focused, Input)  # the search box: its keys are not for a modal
        if request.task_id == self.table.selected_id and len(self.screen_stack) == 1 and not typing:
            self._review(request, by_itself=True)
            return
        title = self._title(request.task_id)
        self.notify(f"{title} asks to use {request.tool_name}. Press i for the triage queue.",
                    title="Approval needed", severity="warning", timeout=8)
        if self.use_bell:
            self.bell()

    @on(PermissionResolved)
    def _permission_resolved(self, event: PermissionResolved) -> None:
        screen = self._top()
        if isinstance(screen, RulesScreen) and event.request.decided_by == "rule":
            screen.action_reload()  # a rule answered: its count moved
        if isinstance(screen, PermissionScreen) and screen.request.id == event.request.id:
            screen.dismiss(None)
            if event.request.status is PermissionStatus.EXPIRED:
                self.notify(event.request.response_message or "That request expired: nobody answered it in time.",
                            title="Too late to answer", severity="warning")
                return
            how = "by a rule" if event.request.decided_by == "rule" else "elsewhere"
            self.notify(f"That request was answered {how} ({event.request.behavior}).")

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE, lambda: self._set_search(event.value))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._set_search(event.value)
        if not event.value:
            self.query_one("#search").remove_class("visible")
        self.table.focus()

    def _set_search(self, text: str) -> None:
        flt = self.board.filter
        if flt.text != text:
            self.board.set_filter(BoardFilter(flt.statuses, flt.project_id, text, flt.workflow_id))
            self._board_changed()

    # ------------------------------------------------------------------ which keys are live

    def _refresh_keys(self) -> None:
        """Grey out or restore footer keys soon after the cursor rests, and only when one of them
        changed: refreshing the bindings rebuilds the footer (tens of ms), which on every keypress
        or watch event would cost more than the whole table. A pressed key is still checked at once."""
        if self._keys_timer is None:
            self._keys_timer = self.set_timer(KEYS_SETTLE, self._refresh_keys_now)

    def _refresh_keys_now(self) -> None:
        self._keys_timer = None
        if not self.screen_stack:  # shutting down
            return
        enabled = tuple(self.why_disabled(action) is None for action in sorted(GATED))
        if enabled != self._keys_enabled:
            self._keys_enabled = enabled
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search" and (isinstance(self.focused, Input) or self.log_tail.has_focus_within):
            return False  # the `/` is the focused field's (a character, the log's own filter)
        if action == "command" and isinstance(self.focused, Input):
            return False  # a `:` typed in a field is a character
        if action in ("focus_next", "focus_previous") and isinstance(self._top(), CommandScreen):
            return False  # Tab completes the `:` line
        if action not in GATED:
            return True
        if self.why_disabled(action) is not None:
            return None  # shown, greyed out
        return True

    def _top(self) -> Screen[Any] | None:
        stack = self.screen_stack
        return stack[-1] if stack else None

    def why_disabled(self, action: str) -> str | None:
        """Why the action cannot run now, in words for a notification; None when it can (actions.py)."""
        if action not in ACTIONS:
            return None
        if action in BULK and self._marking():
            return self._why_not_marked(action)
        return self.why_not_for(action, self._selected_row() if ACTIONS[action].needs_task else None)

    def why_not_for(self, action: str, task: Task | TaskSummary | None) -> str | None:
        """Why the action cannot run on that task now (the triage queue's rows are not the cursor's)."""
        client = self.client
        situation = Situation(task=task, pending=len(self.board.pending_for(task.id)) if task else 0,
                              read_only=self.read_only, connected=client is not None and self.loaded)
        refusal = None if client is None else (lambda capability: client.why_not(capability,
                                                                                   task.id if task else None))
        return why_not(action, situation, refusal)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key_at = time.monotonic()
            # Until the frame after this key is drawn, a big board's load waits (_key_first).
            self._key_drawn.clear()
            self.call_after_refresh(self._key_drawn.set)
        await super().on_event(event)

    async def _key_first(self) -> None:
        """A key pressed while the board loads is drawn before the next slice of a page is applied: the
        load's slices and parses, back to back with the frames, kept a key waiting 60-120 ms (p99) at
        100,000 tasks, while the load itself barely notices a pause of a frame per key."""
        if not self._key_drawn.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._key_drawn.wait(), KEY_FRAME_WAIT)

    # ------------------------------------------------------------------ actions

    def _selected(self) -> Task | None:
        screen = self._top()
        if isinstance(screen, DetailScreen):
            return self.board.task(screen.task_.id) or screen.task_
        return self.table.selected_task

    def _selected_row(self) -> Task | TaskSummary | None:
        """What `_selected` is about, as the board holds it: enough to check an action, and free
        (Textual checks every footer key on every refresh)."""
        screen = self._top()
        if isinstance(screen, DetailScreen):
            return self.board.tasks.get(screen.task_.id, screen.task_)
        return self.board.tasks.get(self.table.selected_id) if self.table.selected_id else None

    def _title(self, task_id: str) -> str:
        task = self.board.tasks.get(task_id)
        return f"“{task.title}”" if task else task_id[:8]

    def _call(self, action: str, call: Callable[[], Awaitable[Any]], done: str) -> None:
        """Run one server call in a worker; tell the user how it went."""

        async def run() -> None:
            try:
                await call()
            except ApiError as exc:
                self.notify(exc.message, title=f"{action.capitalize()} refused ({exc.status})", severity="error")
            except TaskboardError as exc:
                self.notify(str(exc), title=f"{action.capitalize()} failed", severity="error")
            else:
                if done:
                    self.notify(done, timeout=3)

        self.run_worker(run(), group="actions", exit_on_error=False)

    def _on_selected(self, action: str, call: Callable[[TaskSource, str], Awaitable[Any]], done: str,
                     confirm: tuple[str, str] | None = None) -> None:
        """`call(client, task_id)` for the selected task, asking first when `confirm` is (question, button)."""
        task = self._selected()
        if task is None or self.client is None:
            return
        client, task_id = self.client, task.id
        message = done.format(title=self._title(task_id))
        if confirm is None:
            self._call(action, lambda: call(client, task_id), message)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._call(action, lambda: call(client, task_id), message)

        question, button = confirm
        self.push_screen(ConfirmScreen(question.format(title=task.title, status=task.status.value),
                                       confirm_label=button), confirmed)

    def action_cancel(self) -> None:
        if self._bulk("cancel"):
            return
        self._on_selected("cancel", lambda client, task_id: client.cancel(task_id), "Cancelled {title}",
                          ("Cancel “{title}”?\n\nIt is {status}; a running agent is stopped within a second.",
                           "Cancel task"))

    def action_cleanup(self) -> None:
        if self.client is None:
            return
        client = self.client

        async def clean() -> None:
            result = await client.cleanup()
            self.notify(f"Removed {result.deleted} finished task(s) older than 24 hours", timeout=4)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._call("cleanup", clean, "")  # clean() says how many

        self.push_screen(ConfirmScreen(f"Remove the finished tasks older than 24 hours from "
                                       f"{self.connector.label}?\n\nRunning tasks are not touched.",
                                       confirm_label="Clean up"), confirmed)

    def action_delete(self) -> None:
        if self._bulk("delete"):
            return
        task = self._selected()
        running = " It is {status}: its agent is stopped first." if task is not None and task.status.is_active else ""
        self._on_selected("delete", lambda client, task_id: client.delete_task(task_id), "Deleted {title}",
                          ("Delete “{title}”?\n\nIts logs and history go with it; this cannot be undone." + running,
                           "Delete"))

    def action_resume(self) -> None:
        if self._bulk("resume"):
            return
        self._on_selected("resume", lambda client, task_id: client.resume(task_id), "Resumed {title}")

    def action_queue(self) -> None:
        if self._bulk("queue"):
            return
        self._on_selected("queue", lambda client, task_id: client.queue(task_id), "Queued {title}")

    def action_execute(self) -> None:
        if self._bulk("execute"):
            return
        self._on_selected("execute", lambda client, task_id: client.execute(task_id), "Started {title}")

    def action_priority_up(self) -> None:
        self._priority(-1)

    def action_priority_down(self) -> None:
        self._priority(1)

    def action_plan(self) -> None:
        if self._bulk("plan"):
            return
        self._on_selected("plan", lambda client, task_id: client.update_task(task_id, status="planned"),
                          "{title} is planned again")

    def _priority(self, delta: int) -> None:
        if self._bulk("priority_up" if delta < 0 else "priority_down"):
            return
        task = self._selected()
        if task is None or self.client is None:
            return
        value = max(0, min(3, task.priority + delta))
        if value == task.priority:
            return
        client = self.client
        self._call("priority", lambda: client.update_task(task.id, priority=value),
                   f"{self._title(task.id)} is now P{value}")

    def action_approve(self) -> None:
        if self._bulk("approve"):
            return
        self._answer(PermissionDecision("allow"))

    def action_deny(self) -> None:
        if self._bulk("deny"):
            return
        self._answer(PermissionDecision("deny"))

    def _answer(self, decision: PermissionDecision, request: PermissionRequest | None = None) -> None:
        if request is None:
            task = self._selected()
            pending = self.board.pending_for(task.id) if task else []
            if not pending:
                return
            request = pending[0]
        if self.client is None:
            return
        reason = self.why_disabled("approve")
        if self.read_only and reason is not None:  # whatever path led here (inbox, modal, palette)
            self.notify(reason, title="Read-only", severity="warning", timeout=4)
            return
        client, chosen = self.client, request
        verb = {"allow": "Allowed", "deny": "Denied"}[decision.behavior]
        if decision.always_allow:
            waiting = set(self.board.permissions) - {chosen.id}
            done = f"Always allowing {decision.pattern}: allowed {chosen.tool_name} for {self._title(chosen.task_id)}"

            if decision.expires_in is not None:
                done = done.replace(f"Always allowing {decision.pattern}",
                                    f"Allowing {decision.pattern} for {fmt.duration(decision.expires_in)}")

            async def always() -> None:
                await client.respond(chosen.task_id, chosen.id, "allow", always_allow=True,
                                     permission_pattern=decision.pattern, expires_in_seconds=decision.expires_in,
                                     saved_by=fmt.who())
                # The saved rule answers what was already waiting too (the server does it): say how many.
                still = {p.id for p in await client.list_permissions(status="pending")}
                more = len(waiting - still)
                self.notify(done + (f", and {more} more waiting request{'s' if more != 1 else ''} it covers"
                                    if more else ""), timeout=5)

            self._call("approve", always, "")
            return
        self._call("approve" if decision.behavior == "allow" else "deny",
                   lambda: client.respond(chosen.task_id, chosen.id, decision.behavior, message=decision.message,
                                          always_allow=decision.always_allow or None,
                                          permission_pattern=decision.pattern,
                                          updated_input=decision.updated_input),
                   f"{verb} {chosen.tool_name} for {self._title(chosen.task_id)}")

    def action_review(self) -> None:
        task = self._selected()
        pending = self.board.pending_for(task.id) if task else []
        if pending:
            self._review(pending[0])

    def _review(self, request: PermissionRequest, *, by_itself: bool = False) -> None:
        if self._permission_open == request.id:
            return
        self._permission_open = request.id

        def decided(decision: PermissionDecision | None) -> None:
            self._permission_open = None
            if decision is not None and request.id in self.board.permissions:
                self._answer(decision, request)

        read_only = "Read-only mode: this board shows the request and decides nothing." if self.read_only else None
        patterns = self.client.patterns_for(request.task_id) if self.client is not None else NATIVE_PATTERNS
        no_expiry = self.client.why_not(Capability.RULE_EXPIRY, request.task_id) if self.client is not None else None
        self.push_screen(PermissionScreen(request, task_title=self._title(request.task_id), patterns=patterns,
                                          read_only=read_only, arm_after=AUTO_OPEN_ARM if by_itself else 0.0,
                                          no_expiry=no_expiry), decided)

    # ------------------------------------------------------------------ the triage queue and the rules

    def triage_items(self) -> list[Item]:
        server_of = getattr(self.client, "server_of", None)
        return triage(self.board.tasks.values(), self.board.permissions.values(), self.triage_seen,
                      server_of=server_of or (lambda _: ""))

    def action_inbox(self) -> None:
        """The triage queue: open until closed, following the board; enter goes to a task."""
        if any(isinstance(s, TriageScreen) for s in self.screen_stack):
            return

        def closed(task_id: str | None) -> None:
            self.triage_seen.since = self.clock()  # what finished until now has been seen
            if task_id is not None and self.table.select_task(task_id):
                self.table.focus()

        self.push_screen(TriageScreen(self.triage_items, self.clock, self, self._questions), closed)
        self._fetch_questions()

    def _triage_changed(self) -> None:
        screen = self._top()
        if isinstance(screen, TriageScreen) and self._triage_timer is None:
            self._triage_timer = self.set_timer(TRIAGE_INTERVAL, self._refresh_triage)

    def _refresh_triage(self) -> None:
        self._triage_timer = None
        screen = self._top()
        if isinstance(screen, TriageScreen):
            screen.refresh_items()
            self._fetch_questions()

    @work(group="questions", exclusive=True, exit_on_error=False)
    async def _fetch_questions(self) -> None:
        """The question each task awaiting input asked, for the queue's rows (once per question)."""
        client = self.client
        if client is None:
            return
        wanted = [i for i in self.triage_items() if i.kind.value == "question" and i.revision not in self._questions]
        for item in wanted:
            try:
                asked = [m for m in await client.list_messages(item.task_id) if m.role == "agent"]
            except TaskboardError:
                continue
            if asked:
                self._questions[item.revision] = asked[-1].message
        if wanted:
            screen = self._top()
            if isinstance(screen, TriageScreen):
                screen.refresh_items()

    def triage_answer(self, item: Item, behavior: str) -> None:
        """Allow or deny every request of a queue item (identical ones, together), once each."""
        requests = item.answerable
        if not requests or self.client is None:
            if item.requests:
                self.notify("Too late: that request has expired.", severity="warning", timeout=4)
            return
        reason = self.why_not_for("approve", self.board.tasks.get(item.task_id))
        if reason is not None:
            self.notify(reason, title="Allow" if behavior == "allow" else "Deny", severity="warning", timeout=4)
            return
        client = self.client
        verdict: Any = "allow" if behavior == "allow" else "deny"
        verb = "Allowed" if behavior == "allow" else "Denied"
        what = f"{len(requests)} identical {requests[0].tool_name} requests" if len(requests) > 1 \
            else f"{requests[0].tool_name} for {self._title(requests[0].task_id)}"

        async def answer_all() -> None:
            results = await asyncio.gather(*(client.respond(r.task_id, r.id, verdict) for r in requests),
                                           return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            for error in failed:
                if not isinstance(error, TaskboardError):
                    raise error
            if failed:
                self.notify(f"{len(requests) - len(failed)} of {len(requests)} answered; {failed[0]}",
                            title=f"{verb} in part", severity="error")
            else:
                self.notify(f"{verb} {what}", timeout=3)

        self._call("approve" if behavior == "allow" else "deny", answer_all, "")

    def triage_review(self, request: PermissionRequest) -> None:
        self._review(request)

    def triage_message(self, task_id: str) -> None:
        task = self.board.task(task_id)
        reason = self.why_not_for("message", self.board.tasks.get(task_id))
        if reason is not None or task is None:
            self.notify(reason or "That task is gone.", title="Answer", severity="warning", timeout=4)
            return
        self._ask_and_send(task)

    def triage_resume(self, task_id: str) -> None:
        reason = self.why_not_for("resume", self.board.tasks.get(task_id))
        if reason is not None or self.client is None:
            self.notify(reason or NOT_CONNECTED, title="Resume", severity="warning", timeout=4)
            return
        client = self.client
        self._call("resume", lambda: client.resume(task_id), f"Resumed {self._title(task_id)}")

    def triage_dismiss(self, item: Item) -> None:
        self.triage_seen.dismissed.add(item.revision)

    def action_rules(self) -> None:
        """The saved rules of every server on the board (a server that keeps none says why)."""
        client = self.client
        if client is None:
            self.notify(NOT_CONNECTED, severity="warning", timeout=3)
            return
        clients: Mapping[str, TaskSource] | None = getattr(client, "clients", None)
        read_only_names: frozenset[str] = getattr(client, "read_only", frozenset())
        if clients is None:
            servers = [RuleServer(self.connector.label, client, READ_ONLY if self.read_only else None)]
        else:
            servers = [RuleServer(name, c, READ_ONLY if self.read_only else
                                  (f"{name} is a read-only context." if name in read_only_names else None))
                       for name, c in clients.items()]
        self.push_screen(RulesScreen(servers, self.clock))

    def action_message(self) -> None:
        task = self._selected()
        if task is None or self.client is None:
            return
        self._ask_and_send(task)

    @work(group="message", exclusive=True, exit_on_error=False)
    async def _ask_and_send(self, task: Task) -> None:
        assert self.client is not None
        client = self.client
        question = None
        try:
            messages: list[TaskMessage] = await client.list_messages(task.id)
            asked = [m for m in messages if m.role == "agent"]
            question = asked[-1].message if asked else None
        except TaskboardError:
            pass
        answer = await self.push_screen_wait(MessageScreen(task.title, question))
        if answer:
            self._call("message", lambda: client.send_message(task.id, answer),
                       f"Sent your answer to {self._title(task.id)}")

    def action_new_task(self) -> None:
        if self.client is None:
            return
        project = self.board.filter.project_id

        def created(task: Task | None) -> None:
            if task is not None:
                self.board.upsert(task)
                self._board_changed()
                self.table.select_task(task.id)
                self.notify(f"Created “{task.title}”", timeout=3)

        self.push_screen(NewTaskScreen(self.client, projects=self.projects, agents=self.agents,
                                       project_id=project), created)

    def action_copy_id(self) -> None:
        task = self._selected()
        if task is not None:
            self.copy_to_clipboard(task.id)
            self.notify(f"Copied {task.id}", timeout=2)

    def action_open_detail(self) -> None:
        task = self._selected()
        if task is not None and not isinstance(self._top(), DetailScreen):
            self.push_screen(DetailScreen(self.client, task, self.clock, self.board.pending_for(task.id),
                                          {"log_wrap": self.log_tail.wrap, "log_timestamps": self.log_tail.timestamps}))

    def action_search(self) -> None:
        search = self.screen_stack[0].query_one("#search", Input)
        search.add_class("visible")
        # Focus now, not after a refresh (Widget.focus waits for one): the keys typed right after `/`
        # may already be queued behind it, and each of them must reach the box, not the board's bindings.
        self.screen_stack[0].set_focus(search)

    def action_clear_filter(self) -> None:
        if self.board.marked:  # escape clears the marks first, then the search and filters
            self.board.marked.clear()
            self._marks_changed()
            return
        search = self.screen_stack[0].query_one("#search", Input)
        if not self.board.filter.active and not search.has_class("visible"):
            return
        search.value = ""
        search.remove_class("visible")
        self.board.set_filter(BoardFilter())
        self._board_changed()
        self.table.focus()

    def action_filter(self) -> None:
        def chosen(flt: BoardFilter | None) -> None:
            if flt is not None:
                self.board.set_filter(flt)
                self._board_changed()

        self.push_screen(FilterScreen(self.board.filter, self.projects), chosen)

    def action_sort(self) -> None:
        self.board.set_sort(self.board.sort.next(), descending=False)
        self._board_changed()
        self._save_sort()
        self.notify(f"Sorted by {self.board.sort.value}", timeout=2)

    def action_attention(self) -> None:
        self.board.set_sort(self.board.sort, attention_first=not self.board.attention_first)
        self._board_changed()
        self._save_sort()
        self.notify(f"Attention first {'on' if self.board.attention_first else 'off'}", timeout=2)

    def action_refresh(self) -> None:
        if self.client is not None:
            self._connect()
            self.notify("Reloading from the server", timeout=2)

    def action_switch_context(self) -> None:
        if not self.contexts:
            self.notify("No contexts: add [contexts.NAME] tables to the config file (taskboard contexts).",
                        severity="warning")
            return
        choices = [(name, choice.about) for name, choice in self.contexts.items()]
        self.push_screen(ContextScreen(choices, self.context),
                         lambda name: self.switch_context(name) if name and name != self.context else None)

    def switch_context(self, name: str) -> None:
        """Show another server: stop everything about this one, then connect as at start."""
        choice = self.contexts[name]
        try:
            connector = choice.connect()
        except (ConfigError, ValueError) as exc:  # a key's variable unset, say: say so, stay here
            self.notify(str(exc), title=f"Cannot open {name}", severity="error")
            return
        self.read_only = self.read_only_flag or choice.read_only
        self.status_bar.read_only = self.read_only
        self.context = name
        self._start_over(connector, f"Switched to {name}")

    def _start_over(self, connector: Connector, notice: str) -> None:
        """Stop everything about the server shown, then connect to `connector` as at start."""
        for group in ("connection", "watch", "pages", "extras", "actions", "redetect", "pulses"):
            self.workers.cancel_group(self, group)
        old, self.client = self.client, None
        if old is not None:
            self.run_worker(old.close(), group="closing", exit_on_error=False)
        if connector is not self.connector:
            self.connector.close()
        self.connector = connector
        # The full-screen view shows a task of the old server: back to the board, from wherever ctrl+k was.
        while isinstance(self._top(), DetailScreen):
            self.pop_screen()
        self.loaded = False
        self.board.clear()
        self._restore_sort()
        self.table.server_of = None
        self.table.sync()
        self.log_tail.show_task(None, None)
        self.detail.show(None, None, [])
        self.pulses.clear()
        self.status_bar.pulse = None
        self.status_bar.server = connector.label
        screen = self._disconnected_screen()
        if screen is not None:
            screen.server = connector.label
            screen.show_attempt("", 0, 0.0)
        self._set_connection("connecting")
        self.status_bar.update_counts()
        self.notify(notice, timeout=3)
        self._connect()

    @work(group="redetect", exclusive=True, exit_on_error=False)
    async def _redetect(self) -> None:
        """`auto` guessed on an empty server: ask again until the answer is certain (the first tasks tell),
        and start over on the right dialect if the guess was wrong."""
        from taskboard.client.dialects import detect_dialect

        connector = self.connector
        while getattr(connector, "provisional", False) and connector is self.connector:
            await asyncio.sleep(REDETECT_INTERVAL)
            try:
                found = await detect_dialect(connector.url, connector.api_key)  # type: ignore[attr-defined]
            except (TaskboardError, ValueError):
                continue
            if not found.certain:
                continue
            if found.dialect == getattr(connector, "in_use", None):
                connector.provisional = False  # type: ignore[attr-defined]
                connector.label = connector.label.replace(", guessed)", ", detected)")
                self.status_bar.server = connector.label
                self.notify(f"{connector.url} speaks {found.dialect} ({found.seen})",  # type: ignore[attr-defined]
                            timeout=5)
                return
            self._start_over(connector, f"{connector.url} speaks {found.dialect}, not "  # type: ignore[attr-defined]
                                        f"{getattr(connector, 'in_use', '?')}: {found.seen}")
            return

    def action_follow(self) -> None:
        self._log_pane().action_follow()

    # The log pane's toggles (the keys are actions.py's; the pane does the work): the board's, or the
    # full-screen view's when that is open. Wrap and times are one choice for both, kept in the config.

    def _log_pane(self) -> LogTail:
        screen = self._top()
        return screen.log_tail if isinstance(screen, DetailScreen) else self.log_tail

    def action_log_wrap(self) -> None:
        wrap = self._log_pane().toggle_wrap()
        self.log_tail.apply_settings({"log_wrap": wrap})
        self.save_ui(log_wrap=wrap)
        self.notify(f"Log lines {'wrap' if wrap else 'are cut at the edge'}", timeout=2)

    def action_log_timestamps(self) -> None:
        shown = self._log_pane().toggle_timestamps()
        self.log_tail.apply_settings({"log_timestamps": shown})
        self.save_ui(log_timestamps=shown)
        self.notify(f"Log times {'shown' if shown else 'hidden'}", timeout=2)

    def action_log_attempt_next(self) -> None:
        self.notify(self._log_pane().step_attempt(1), timeout=2)

    def action_log_attempt_previous(self) -> None:
        self.notify(self._log_pane().step_attempt(-1), timeout=2)

    def action_copy_log_line(self) -> None:
        line = self._log_pane().bottom_line()
        if line is None:
            self.notify("The log is empty.", severity="warning", timeout=3)
            return
        self.copy_to_clipboard(line)  # OSC 52: over SSH and tmux too, where the terminal allows it
        self.notify(line if len(line) <= 200 else line[:199] + "…", title="Copied", timeout=3)

    def action_save_log(self) -> None:
        tail = self._log_pane()
        if tail.task_id is None:
            self.notify("No task selected.", severity="warning", timeout=3)
            return
        count = len(tail.shown_entries())
        name = f"taskboard-{tail.task_id.rpartition('/')[2][:8]}"
        name += f"-attempt{tail.attempt_shown}.log" if tail.attempt_shown is not None else ".log"
        about = (f"{count:,} line{'s' if count != 1 else ''} of “{tail.task_title}”"
                 + (f", attempt {tail.attempt_shown}" if tail.attempt_shown is not None else ", every attempt")
                 + (f", filtered by “{tail.filter_text}”" if tail.filter_text else ""))

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._save_log(tail, path)

        self.push_screen(SaveLogScreen(str(Path.cwd() / name), about), chosen)

    @work(group="save-log", exit_on_error=False)
    async def _save_log(self, tail: LogTail, path: Path) -> None:
        try:
            count = await asyncio.to_thread(tail.save, path)
        except OSError as exc:
            self.notify(f"{path}: {exc.strerror or exc}", title="Log not saved", severity="error")
        else:
            self.notify(f"{count:,} line{'s' if count != 1 else ''} to {path}", title="Log saved", timeout=5)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(list(by_group().items())))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action in ACTION_LIST:
            if not action.palette or action.name == "help":
                continue
            yield SystemCommand(action.help.split(" (")[0], f"key: {action.key_label}",
                                lambda a=action.name: self._palette_run(a))
        for name, choice in self.contexts.items():
            if name != self.context:
                yield SystemCommand(f"Switch context: {name}", choice.about,
                                    lambda n=name: self.switch_context(n))
        yield SystemCommand("Help", "Every key (?)", self.action_help)

    async def _palette_run(self, action: str) -> None:
        reason = self.why_disabled(action)
        if reason is not None:
            self.notify(reason, severity="warning")
            return
        await self.run_action(action)

    # ------------------------------------------------------------------ the config file

    def _check_config(self) -> None:
        """The config file changed: contexts added or edited, [notify] and [ui], without a restart."""
        assert self.config_watch is not None
        watch = self.config_watch
        if not watch.changed():
            return
        if watch.error:  # said once per mistake; the settings before it stay
            self.notify(watch.error, title="Config not re-read", severity="error", timeout=10)
            return
        self.config = watch.config
        self.notifier.update(self.config.notify)
        self.aliases = dict(self.config.aliases)
        said = []
        if self.load_contexts is not None:
            try:
                contexts = dict(self.load_contexts())
            except ConfigError as exc:
                self.notify(str(exc), title="Config not re-read", severity="error", timeout=10)
                return
            said = context_changes(self.contexts, contexts, self.context)
            self.contexts = contexts
        self._apply_ui(self.config.ui)
        self.notify(" · ".join(said) if said else "Settings re-read.", title=f"{watch.path.name} changed",
                    timeout=5)

    def _apply_ui(self, ui: Mapping[str, Any]) -> None:
        """The config's [ui] table: the theme, the log pane's choices."""
        theme = ui.get("theme")
        if isinstance(theme, str) and theme != self.theme:
            if theme in self.available_themes:
                self._theme_kept = theme  # from the file: nothing to save back
                self.theme = theme
            else:
                self.notify(f"No theme named {theme!r}; ctrl+p, Theme, lists them.", title="Config",
                            severity="warning")
        self.log_tail.apply_settings(ui)

    def _theme_changed(self, theme: Any) -> None:
        """A theme chosen (ctrl+p, Theme): saved once the choice rests (the palette previews as you move)."""
        if theme.name == self._theme_kept:
            return
        if self._theme_timer is not None:
            self._theme_timer.stop()
        self._theme_timer = self.set_timer(THEME_SAVE_DELAY, self._save_theme)

    def _save_theme(self) -> None:
        self._theme_timer = None
        if self.theme != self._theme_kept:
            self._theme_kept = self.theme
            self.save_ui(theme=self.theme)

    def save_ui(self, **values: str | bool) -> None:
        """Keep a choice (the theme, the log's wrap and timestamps) in the config file's [ui] table."""
        if self.config_watch is None:
            return
        try:
            self.config_watch.save_ui(**values)
        except (OSError, ConfigError, ValueError) as exc:
            self.notify(f"Could not save it to {self.config_watch.path}: {exc}", title="Config",
                        severity="warning")

    # ------------------------------------------------------------------ marks and bulk actions

    def _marking(self) -> bool:
        """Whether a bulk key is for the marks: there are some, and no full-screen task is in front."""
        return bool(self.board.marked) and not isinstance(self._top(), DetailScreen)

    def _situation(self, task: TaskFacts) -> Situation:
        task_id = getattr(task, "id", "")
        return Situation(task=task, pending=len(self.board.pending_for(task_id)), read_only=self.read_only,
                         connected=self.client is not None and self.loaded)

    def _capability_refusal(self, task: TaskFacts, capability: Any) -> str | None:
        client = self.client
        return None if client is None else client.why_not(capability, getattr(task, "id", None))

    def _why_not_marked(self, action: str) -> str | None:
        """None when at least one marked task can take the action (the key is live); else the first reason."""
        first = None
        for task_id in self.board.marked:
            task = self.board.tasks.get(task_id)
            if task is None:
                continue
            reason = why_not(action, self._situation(task), functools.partial(self._capability_refusal, task))
            if reason is None:
                return None
            first = first or reason
        return f"None of the {len(self.board.marked)} marked tasks: {first}"

    def _bulk(self, action: str) -> bool:
        """The action for every marked task, after one confirmation; False when nothing is marked (the
        key is then for the task under the cursor)."""
        if not self._marking() or self.client is None:
            return False
        client = self.client
        able, unable = sort_out(action, self.board.marked_tasks(), self._situation, self._capability_refusal)
        question = bulk.question(action, able, unable)
        if not able:
            self.notify(question, title=bulk.VERBS[action].button, severity="warning", timeout=8)
            return True
        tasks = [task for task in able if isinstance(task, TaskSummary)]
        calls = [(task, bulk.call_for(action, client, task, self.board.pending_for)) for task in tasks]

        async def run() -> None:
            done, refused = await bulk.run_all(calls)
            for task in done:
                self.board.marked.discard(task.id)
            self._marks_changed()
            self.notify(bulk.outcome(action, done, refused, len(unable)), title=bulk.VERBS[action].button,
                        severity="error" if refused else "information", timeout=8)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(run(), group="actions", exit_on_error=False)

        self.push_screen(ConfirmScreen(question, confirm_label=f"{bulk.VERBS[action].button} {len(able)}",
                                       danger=action in ("cancel", "delete", "deny")), confirmed)
        return True

    def _marks_changed(self) -> None:
        self.table.refresh()  # the marks are in every row's cache key: the rows redraw
        self.status_bar.update_counts()
        self._refresh_keys()

    def action_mark(self) -> None:
        task = self._selected()
        if task is None:
            return
        self.board.toggle_mark(task.id)
        if not isinstance(self._top(), DetailScreen):
            self.table.action_cursor(1)
        self._marks_changed()

    def action_mark_all(self) -> None:
        count = self.board.mark_shown()
        self._marks_changed()
        self.notify(f"{count:,} marked (escape clears)", timeout=2)

    # ------------------------------------------------------------------ sort by any column

    def _restore_sort(self) -> None:
        """The sort kept for this context (or server: its label as the board opens, before a connection
        adds what it learnt to it) becomes the board's."""
        self._state_key = self.context or self.connector.label.partition(" (")[0]
        kept = self.state.get(self._state_key)
        try:
            sort = SortOrder(kept.get("sort", SortOrder.PRIORITY))
        except ValueError:
            sort = SortOrder.PRIORITY
        self.board.set_sort(sort, attention_first=kept.get("attention_first", True) is not False,
                            descending=kept.get("descending") is True)

    def _save_sort(self) -> None:
        board = self.board
        self.state.put(self._state_key, sort=board.sort.value, descending=board.descending,
                       attention_first=board.attention_first)

    def action_sort_by(self) -> None:
        """A menu of the columns (each with its letter); the column sorted by already, again, reverses."""
        board = self.board
        columns = [order for order in SortOrder
                   if order is not SortOrder.SERVER or self.table.server_of is not None]
        rows, keys = [], {}
        for order in columns:
            letter = view_rows.SORT_KEYS[order]
            keys[letter] = order.value
            line = Text(no_wrap=True)
            line.append(f"{letter}  ", style="bold cyan")
            line.append(f"{order.value:<10}")
            column = SORT_COLUMN.get(order)
            line.append(f"{column.upper() + ' column' if column else 'no column (detail pane)':<26}", style="grey62")
            if order is board.sort:
                line.append("↓ descending" if board.descending else "↑ ascending", style="bold magenta")
                line.append("  (again: reverse)", style="grey50")
            rows.append((order.value, line))

        def chosen(value: str | None) -> None:
            if value is None:
                return
            order = SortOrder(value)
            descending = not board.descending if order is board.sort else order in STARTS_DESCENDING
            board.set_sort(order, descending=descending)
            self._board_changed()
            self._save_sort()
            self.notify(f"Sorted by {order.value}, {'descending' if descending else 'ascending'}", timeout=2)

        self.push_screen(PickScreen("Sort by", rows, hint="a letter or enter picks · the current one again "
                                    "reverses · escape closes", keys=keys, highlight=board.sort.value), chosen)

    # ------------------------------------------------------------------ the `:` line and its views

    def _command_names(self) -> list[str]:
        return [name for name, action in ACTIONS.items() if action.palette or name == "quit"]

    def action_command(self) -> None:
        names = self._command_names()

        def describe(line: str) -> str:
            word = line.partition(" ")[0]
            if word in self.aliases:
                return f"= {self.aliases[word]}"
            view = VIEW_NAMES.get(word)
            if view is not None:
                return view.help
            action = ACTIONS.get(word)
            return action.help.split(" (")[0] if action else ("a context" if " " in line else "")

        def run(line: str | None) -> None:
            if line is not None and line.strip():
                self.run_command(line)

        self.push_screen(CommandScreen(lambda line: candidates(line, names, self.aliases, self.contexts),
                                       describe), run)

    def run_command(self, line: str) -> None:
        """What a `:` line names: a view, or an action of the table (checked as its key is)."""
        try:
            command = resolve(line, self._command_names(), self.aliases)
        except CommandError as exc:
            self.notify(str(exc), title=f":{line.strip()}", severity="warning")
            return
        if command.name == "tasks":
            self._show_tasks(BoardFilter(self.board.filter.statuses, None, self.board.filter.text))
        elif command.name == "projects":
            self._show_projects()
        elif command.name == "workflows":
            self._show_workflows()
        elif command.name == "ctx" and command.argument:
            if command.argument not in self.contexts:
                known = ", ".join(self.contexts) or "none"
                self.notify(f"No context named {command.argument!r} (known: {known})", severity="warning")
            elif command.argument != self.context:
                self.switch_context(command.argument)
        elif command.action is not None:
            self.run_worker(self._palette_run(command.action), group="command", exit_on_error=False)

    def _show_tasks(self, flt: BoardFilter) -> None:
        """Back to the board, shown through `flt` (a project's or a workflow's tasks, or all of them)."""
        while len(self.screen_stack) > 1 and not isinstance(self._top(), DisconnectedScreen):
            self.pop_screen()
        self.board.set_filter(flt)
        self._board_changed()
        self.table.focus()

    @work(group="views", exclusive=True, exit_on_error=False)
    async def _show_projects(self) -> None:
        if self.client is not None:  # asked again: a project made since the board opened is in it
            self._set_projects(await self.client.list_projects())
        rows = view_rows.project_rows(self.projects, self.board)
        project_id = await self.push_screen_wait(PickScreen(
            f"Projects: {len(self.projects)}", rows, empty="No projects on this server.",
            hint="enter shows the project's tasks (:tasks, or escape on the board, shows all again) · escape closes"))
        if project_id is not None:
            flt = self.board.filter
            self._show_tasks(BoardFilter(flt.statuses, project_id, flt.text))

    @work(group="views", exclusive=True, exit_on_error=False)
    async def _show_workflows(self) -> None:
        names = await view_rows.workflow_names(self.client)
        runs = view_rows.workflow_runs(self.board, names)
        while True:
            chosen = await self.push_screen_wait(PickScreen(
                f"Workflow runs: {len(runs)}", [(run.id, view_rows.run_line(run)) for run in runs],
                empty="No workflow runs on this board.", hint="enter shows the run's steps · escape closes"))
            if chosen is None:
                return
            run = next(r for r in runs if r.id == chosen)
            steps = [(task.id, view_rows.step_line(i, task)) for i, task in enumerate(run.steps)]
            step = await self.push_screen_wait(PickScreen(
                f"{run.name}: {len(run.steps)} steps", steps,
                hint="enter shows the workflow's tasks on the board, the cursor on that step · escape goes back"))
            if step is not None:
                flt = self.board.filter
                self._show_tasks(BoardFilter(flt.statuses, flt.project_id, flt.text, workflow_id=run.id))
                self.table.select_task(step)
                return

    # ------------------------------------------------------------------ errors

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self._report_worker_error(event.worker)

    @on(WorkerFailed)
    def _child_worker_failed(self, event: WorkerFailed) -> None:
        self._report_worker_error(event.worker)  # a widget's worker (detail fetch, log stream, new-task form)

    def _report_worker_error(self, worker: Worker[Any]) -> None:
        """The one place an unexpected worker error lands: a notification, never a crash."""
        error = worker.error
        if worker.group == "watch":
            self._set_connection("reconnecting")
            self.set_timer(2.0, self._restart_watch)
        if isinstance(error, TaskboardError):
            self.notify(str(error), title="Server error", severity="error")
        else:
            self.notify(f"{type(error).__name__}: {error}", title="Unexpected error", severity="error")

    def _handle_exception(self, error: Exception) -> None:
        """A bug, not a server's answer (those are notifications): the app ends with status 1 and a
        short message pointing at the crash log, which holds the traceback."""
        self.crash_log = write_crash_log(error)
        super()._handle_exception(error)
        summary = f"{type(error).__name__}: {error}"
        if len(summary) > 300:
            summary = summary[:299] + "…"
        self._crash_message = f"taskboard crashed: {summary}\nThe details are in {self.crash_log}\n"

    def _print_error_renderables(self) -> None:
        if self._crash_message is None:
            super()._print_error_renderables()
            return
        self._exit_renderables.clear()
        sys.stderr.write(self._crash_message)  # plain: the path must be copyable whole, not wrapped

    def _restart_watch(self) -> None:
        self._connect()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.connector.close()


def write_crash_log(error: BaseException) -> Path:
    """Append the traceback to crash.log in the data directory; its path, for the message on exit."""
    path = data_dir() / "crash.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as log:
            log.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} taskboard crashed\n")
            log.write("".join(traceback.format_exception(error)))
    except OSError:  # nowhere to write: the message says where it would have been
        pass
    return path


@dataclass(frozen=True)
class ContextChoice:
    """A context the board can switch to: what to show for it, and how to reach it."""

    about: str
    connect: Callable[[], Connector]
    read_only: bool = False


def make_app(url: str | None = None, *, api_key: str | None = None, read_only: bool = False,
             connector: Connector | None = None, clock: Callable[[], datetime] = _utcnow,
             bell: bool = True, contexts: Mapping[str, ContextChoice] | None = None,
             context: str | None = None, config_path: Path | None = None,
             load_contexts: Callable[[], Mapping[str, ContextChoice]] | None = None,
             aliases: Mapping[str, str] | None = None, state: BoardState | None = None) -> TaskboardApp:
    """The app for a URL (or a connector); the CLI, the tests and the screenshot script share it."""
    if connector is None:
        if url is None:
            raise ValueError("make_app needs a url or a connector")
        connector = RemoteServer(url, api_key)
    return TaskboardApp(connector, read_only=read_only, clock=clock, bell=bell, contexts=contexts, context=context,
                        config_path=config_path, load_contexts=load_contexts, aliases=aliases, state=state)
