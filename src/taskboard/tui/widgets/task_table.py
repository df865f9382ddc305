"""The task table: draws only the rows on screen, from the board, with a per-row render cache.

The stock DataTable keeps a widget-side copy of every cell and re-measures on change (21 s to load
100,000 rows, 290 ms per update at that size). This table holds nothing but a cursor: the Board keeps
the order and `render_line` asks it for the row at `scroll_y + y`. The app calls `sync()` after a batch
of changes, at most 20 times a second, however many arrive.

The header shows the sort (an arrow on its column, ↑ ascending, ↓ descending); a marked row (space)
starts with a ● in the gutter before its first cell.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from taskboard import format as fmt
from taskboard.models import Task, TaskSummary
from taskboard.tui.board import SORT_COLUMN, Board, waits_for_a_slot
from taskboard.tui.widgets.scrolling import set_content_size

_CACHE_LIMIT = 4096
MARK = "●"


def _columns(width: int, servers: bool = False) -> list[tuple[str, str, int]]:
    """(key, header, width) for a terminal this wide; the title takes what is left (0 below)."""
    cols = [("status", "STATUS", 11), ("priority", "P", 2), ("title", "TITLE", 0)]
    if servers:  # a board over several servers names each row's
        cols.insert(0, ("server", "SERVER", 12 if width >= 100 else 8))
    if width >= 70:  # agent ids run to 23 characters (openai-codex-app-server): wider as there is room
        cols.append(("agent", "AGENT", 24 if width >= 110 else 16 if width >= 90 else 12))
    cols.append(("progress", "PROGRESS", 12 if width >= 120 else 8))
    cols.append(("age", "AGE", 4))
    cols.append(("cost", "COST", 7))
    if width >= 140:
        cols.insert(2, ("id", "ID", 8))
    return cols


class TaskTable(ScrollView, can_focus=True):
    """Keyed rows from a Board; the cursor stays on its task while rows move, appear and go."""

    DEFAULT_CSS = """
    TaskTable {
        height: 1fr;
        background: $surface;
        scrollbar-gutter: stable;
        overflow-x: hidden;  /* rows are cut to the width: nothing to scroll sideways */
    }
    TaskTable > .task-table--header {
        text-style: bold;
        color: $text-muted;
        background: $panel;
    }
    TaskTable > .task-table--cursor {
        background: $block-cursor-blurred-background;
    }
    TaskTable:focus > .task-table--cursor {
        background: $block-cursor-background;
    }
    TaskTable > .task-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    """
    COMPONENT_CLASSES = {"task-table--header", "task-table--cursor", "task-table--empty"}
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on another task (or on none)."""

        def __init__(self, task_id: str | None) -> None:
            super().__init__()
            self.task_id = task_id

    def __init__(self, board: Board, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.board = board
        self.clock = clock
        self.cursor = 0
        self._on_screen: tuple[str, ...] = ()  # the ids on screen at the last sync, top to bottom
        self._synced = -1  # the board's change count at the last sync
        # Set on a board over several servers: which server a task id belongs to (a SERVER column).
        self.server_of: Callable[[str], str] | None = None
        self.selected_id: str | None = None
        self._empty_message = "No tasks yet. Press n to create one."
        self._cache: dict[tuple[object, ...], list[Segment]] = {}
        # (row, cursor row) styles: working them out walks the DOM, too slow to do for every new row.
        self._styles: tuple[Style, Style] | None = None
        self._ages: dict[str, str] = {}  # the age each row on screen showed at the last tick

    def on_mount(self) -> None:
        self.sync()
        # Ages and durations move with the clock, once a second is enough.
        self.set_interval(1.0, self._tick)

    @property
    def empty_message(self) -> str:
        """What an empty table says ("Loading tasks…" until the first page is in)."""
        return self._empty_message

    @empty_message.setter
    def empty_message(self, text: str) -> None:
        if text != self._empty_message:
            self._empty_message = text
            self.refresh()  # the tick redraws only rows whose age changed: an empty table has none

    def _tick(self) -> None:
        """Redraw the rows whose age reads differently now, and only those: a whole table a second is
        ~30 KB written to the terminal of an idle board, every second, over SSH too (issue 24)."""
        self._catch_up()  # what is drawn is what `_on_screen` says (a click reads it)
        now, width = self.clock(), self.size.width
        ages = {task_id: fmt.task_age(task, now) for task_id in self._on_screen
                if (task := self.board.tasks.get(task_id)) is not None}
        for y, task_id in enumerate(self._on_screen, start=1):
            if ages.get(task_id) != self._ages.get(task_id):
                self.refresh(Region(0, y, width, 1))
        self._ages = ages

    # ------------------------------------------------------------------ model side

    def sync(self, changed: Collection[str] | None = None) -> None:
        """Bring the size and the cursor in line with the board; keep the cursor on its task.

        With `changed` (the ids changed since the last sync), when the rows on screen are still the
        same tasks in the same order, only the lines of changed tasks are redrawn: in an update storm
        that is a few lines a frame, not the whole table."""
        board = self.board
        self._synced = board.changes
        size = Size(self.scrollable_content_region.width, len(board) + 1)
        set_content_size(self, size)
        index = board.index_of(self.selected_id) if self.selected_id is not None else None
        if index is None:
            index = min(self.cursor, max(0, len(board) - 1))
        before = self.cursor
        self._move_to(index, post=True)
        top = self.scroll_offset.y
        on_screen = tuple(task.id for i in range(top, top + self.size.height)
                          if (task := board.at(i)) is not None)
        same_rows = changed is not None and on_screen == self._on_screen and self.cursor == before
        self._on_screen = on_screen
        if not same_rows:
            self.refresh()
            return
        assert changed is not None
        width = self.size.width
        for y, task_id in enumerate(on_screen, start=1):
            if task_id in changed:
                self.refresh(Region(0, y, width, 1))

    def select_task(self, task_id: str) -> bool:
        index = self.board.index_of(task_id)
        if index is None:
            return False
        self._move_to(index, post=True)
        return True

    @property
    def selected_task(self) -> Task | None:
        return self.board.task(self.selected_id)

    # ------------------------------------------------------------------ cursor

    def _move_to(self, index: int, *, post: bool = True) -> None:
        count = len(self.board)
        index = max(0, min(index, count - 1)) if count else 0
        old_index, old_id, top = self.cursor, self.selected_id, self.scroll_offset.y
        self.cursor = index
        task = self.board.at(index)
        self.selected_id = task.id if task else None
        self._scroll_to_cursor()
        if old_index != index:
            if self.scroll_offset.y == top:  # the cursor moved on screen: its old and new lines alone
                width = self.size.width
                self.refresh(Region(0, old_index - top + 1, width, 1), Region(0, index - top + 1, width, 1))
            else:
                self.refresh()
        if post and old_id != self.selected_id:
            self.post_message(self.Highlighted(self.selected_id))

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def _catch_up(self) -> None:
        """Before a key moves the cursor: if the board changed since the last redraw (the app
        redraws in batches), bring the table up to date first, so the move is from what is on the
        board and the lines it redraws agree with the rest."""
        if self.board.changes != self._synced:
            self.sync(changed=())  # redraws the table only if the rows on screen moved

    def action_cursor(self, delta: int) -> None:
        self._catch_up()
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._catch_up()
        rows = max(1, self.scrollable_content_region.height - 1)
        self._move_to(self.cursor + direction * rows)

    def action_jump(self, where: int) -> None:
        self._catch_up()
        self._move_to(0 if where == 0 else len(self.board) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        # The task drawn on that line, even if the board has moved it since: that is what was clicked.
        line = offset.y - 1
        clicked = self._on_screen[line] if line < len(self._on_screen) else None
        self._catch_up()
        if clicked is None or not self.select_task(clicked):
            self._move_to(self.scroll_offset.y + line)

    def on_resize(self) -> None:
        self._cache.clear()
        self.sync()

    def notify_style_update(self) -> None:
        # A theme or focus change: rows drawn in the old colours must not come back from the cache.
        super().notify_style_update()
        self._styles = None
        self._cache.clear()

    def _row_styles(self) -> tuple[Style, Style]:
        if self._styles is None:
            self._styles = (self.rich_style, self.get_component_rich_style("task-table--cursor"))
        return self._styles

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        task = self.board.at(index)
        if task is None:
            if not len(self.board) and y == 2:
                text = "  " + (self.empty_message if not self.board.filter.active
                               else "No tasks match the filter. Press escape to clear it.")
                style = self.get_component_rich_style("task-table--empty")
                return Strip([Segment(set_cell_size(text, width), style)], width)
            return Strip.blank(width, self.rich_style)
        cursor = index == self.cursor
        segments = self._row(task, width, cursor)
        return Strip(segments, width)

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("task-table--header")
        sorted_by = SORT_COLUMN.get(self.board.sort)
        arrow = "↓" if self.board.descending else "↑"
        cells = []
        for key, title, w in self._layout(width):
            cells.append(set_cell_size(f" {title}{arrow if key == sorted_by else ''}", w + 1))
        return Strip([Segment(set_cell_size("".join(cells), width), style)], width)

    def _layout(self, width: int) -> list[tuple[str, str, int]]:
        cols = _columns(width, self.server_of is not None)
        fixed = sum(w + 1 for key, _, w in cols if key != "title")
        title_width = max(8, width - fixed - 1)
        return [(key, title, title_width if key == "title" else w) for key, title, w in cols]

    def _row(self, task: TaskSummary, width: int, cursor: bool) -> list[Segment]:
        now = self.clock()
        age = fmt.task_age(task, now)
        marked = task.id in self.board.marked
        key = (task.id, task.revision, task.updated_at, task.pending_permissions, width, cursor, age,
               self.has_focus, marked)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row_style, cursor_style = self._row_styles()
        base = cursor_style if cursor else row_style
        segments: list[Segment] = []
        for column, _, w in self._layout(width):
            text, style = self._cell(task, column, w, age)
            if cursor and style is not None:
                # On the cursor's own colour a status colour can vanish (running's blue on the blue cursor):
                # the cursor row keeps the emphasis and takes the cursor's text colour.
                style = Style(bold=style.bold, italic=style.italic)
            gutter = Segment(MARK, base + _style("bold magenta")) if marked and not segments else Segment(" ", base)
            segments.append(gutter)
            segments.append(Segment(set_cell_size(text, w), base + style if style else base))
        used = sum(cell_len(s.text) for s in segments)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = segments
        return segments

    def _cell(self, task: TaskSummary, column: str, width: int, age: str) -> tuple[str, Style | None]:
        if column == "status":
            status = task.status
            label = f"{fmt.STATUS_ICON[status]} {fmt.STATUS_LABEL[status]}"
            if task.pending_permissions:
                return "⚠ approve", _style("bold yellow")
            if waits_for_a_slot(task):
                return "◌ waiting", _style("yellow")
            return label, _style(fmt.STATUS_STYLE[status])
        if column == "priority":
            return fmt.priority(task.priority), _style(fmt.PRIORITY_STYLE.get(task.priority, "default"))
        if column == "title":
            return task.title, None
        if column == "id":
            return fmt.short_id(task.id.rpartition("/")[2] if self.server_of else task.id), _style("grey50")
        if column == "server" and self.server_of is not None:
            return self.server_of(task.id), _style("bold cyan")
        if column == "agent":
            return task.assigned_agent or "-", _style("grey70")
        if column == "progress":
            value = fmt.percent(task.progress)
            if value is None and task.status.value == "completed":
                value = 100.0
            return fmt.progress_bar(value, width), _style(fmt.STATUS_STYLE[task.status].replace("bold ", ""))
        if column == "age":
            return age.rjust(width), _style("grey62")
        if column == "cost":
            return fmt.cost(task.cost_micros).rjust(width), None
        return "", None


_STYLES: dict[str, Style] = {}


def _style(spec: str) -> Style:
    style = _STYLES.get(spec)
    if style is None:
        style = _STYLES[spec] = Style.parse(spec)
    return style
