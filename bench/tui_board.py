"""The board benchmarks, in a process of their own (its memory is the board's): load, live update, storm.

`python -m bench.tui_board URL COUNT SAMPLES SECONDS ours|datatable` prints one JSON line.
`ours` is taskboard's app under Textual's Pilot against the real server; `datatable` is a stock
DataTable app fed the same rows through the same client. Rows count as painted when the table
renders them (a wrapper records every row the table draws); keys count as answered when Pilot
sees the app idle again after the key (key -> handled -> repainted).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from bench.common import rss_mb
from taskboard.client import TaskboardClient
from taskboard.tui.app import make_app
from taskboard.tui.messages import BoardLoaded
from taskboard.tui.widgets.task_table import TaskTable

SIZE = (160, 50)


class Painted:
    """When each (task id, revision) was first drawn by the table."""

    def __init__(self) -> None:
        self.first_row: float | None = None
        self.rows: dict[tuple[str, int], float] = {}

    def install(self) -> None:
        original = TaskTable._row

        def row(table: TaskTable, task: Any, width: int, cursor: bool) -> Any:
            now = time.perf_counter()
            if self.first_row is None:
                self.first_row = now
            self.rows.setdefault((task.id, task.revision), now)
            return original(table, task, width, cursor)

        TaskTable._row = row  # type: ignore[method-assign]


class Frames:
    """The last time a table was drawn, and where its cursor was then."""

    def __init__(self) -> None:
        self.at = 0.0
        self.cursor: int | None = None

    def install(self, cls: type, cursor: Callable[[Any], int]) -> None:
        original = cls.render_line

        def render_line(widget: Any, y: int) -> Any:
            self.at, self.cursor = time.perf_counter(), cursor(widget)
            return original(widget, y)

        cls.render_line = render_line  # type: ignore[attr-defined]


async def press_while(app: App[Any], frames: Frames, cursor: Callable[[], int], done: Callable[[], bool],
                      keys: tuple[str, ...] = ("down", "up")) -> list[float]:
    """Presses keys (as the terminal driver would deliver them) every 20 ms until done(); returns for
    each how long until a frame showed the cursor moved (ms): key -> handled -> drawn."""
    assert app._driver is not None
    latencies = []
    n = 0
    while not done():
        before = cursor()
        sent = time.perf_counter()
        app._driver.send_message(events.Key(keys[n % len(keys)], None))
        while time.perf_counter() - sent < 5:
            if frames.at > sent and frames.cursor is not None and frames.cursor != before:
                latencies.append((frames.at - sent) * 1000)
                break
            await asyncio.sleep(0.0005)
        n += 1
        await asyncio.sleep(0.02)
    return latencies


def patch(http: httpx.Client, task_id: str, body: dict[str, Any]) -> tuple[float, int]:
    """A change through the API by another client (run on a thread); returns (sent at, new revision)."""
    sent = time.perf_counter()
    return sent, http.patch(f"/api/tasks/{task_id}", json=body).json()["revision"]


async def changed_to_painted(http: httpx.Client, painted: Painted, task_id: str, samples: int, label: str,
                             pause: float) -> list[float]:
    """`samples` changes to one task through `http`, each timed from sent to its row drawn (ms)."""
    latencies = []
    for n in range(samples):
        sent, revision = await asyncio.to_thread(patch, http, task_id, {"description": f"{label} {n}"})
        deadline = time.perf_counter() + 5
        while (task_id, revision) not in painted.rows and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        if (task_id, revision) in painted.rows:
            latencies.append((painted.rows[(task_id, revision)] - sent) * 1000)
        await asyncio.sleep(pause)
    return latencies


def poll_reference(url: str, task_id: str, samples: int) -> list[float]:
    """Seed 001's design: poll every 500 ms; how long after a change does the poller see it?"""
    latencies = []
    with httpx.Client(base_url=url) as http:
        seen = http.get(f"/api/tasks/{task_id}").json()["revision"]
        stop = threading.Event()
        changes: list[tuple[float, int]] = []

        def poll() -> None:
            nonlocal seen
            with httpx.Client(base_url=url) as poller:
                while not stop.is_set():
                    revision = poller.get(f"/api/tasks/{task_id}").json()["revision"]
                    now = time.perf_counter()
                    for sent, rev in changes:
                        if seen < rev <= revision:
                            latencies.append((now - sent) * 1000)
                    seen = revision
                    stop.wait(0.5)

        thread = threading.Thread(target=poll)
        thread.start()
        for n in range(samples):
            time.sleep(0.05 + (n * 0.137) % 0.5)  # changes land at every phase of the poll
            sent = time.perf_counter()
            changes.append((sent, http.patch(f"/api/tasks/{task_id}", json={"description": f"poll {n}"}).json()[
                "revision"]))
        time.sleep(0.7)
        stop.set()
        thread.join()
    return latencies


def watch_load() -> tuple[Painted, dict[str, float], Callable[[Any], None]]:
    """What the table draws (installed), and a message hook that notes when the whole board has loaded."""
    painted = Painted()
    painted.install()
    loaded: dict[str, float] = {}

    def hook(message: Any) -> None:
        if isinstance(message, BoardLoaded) and message.complete:
            loaded.setdefault("at", time.perf_counter())

    return painted, loaded, hook


async def ours(url: str, count: int, samples: int, seconds: float) -> dict[str, Any]:
    painted, loaded, hook = watch_load()

    frames = Frames()
    frames.install(TaskTable, lambda table: table.cursor)
    started = time.perf_counter()
    app = make_app(url, bell=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        while painted.first_row is None and time.perf_counter() - started < 30:
            await asyncio.sleep(0.002)
        keys_loading = await press_while(app, frames, lambda: app.table.cursor,
                                         lambda: "at" in loaded or time.perf_counter() - started > 120)
        await pilot.pause(0.2)
        result: dict[str, Any] = {
            "first_rows_s": painted.first_row - started if painted.first_row else None,
            "loaded_s": loaded["at"] - started if "at" in loaded else None,
            "tasks": len(app.board.tasks),
            "rss_mb": rss_mb(),
            "keys_during_load_ms": keys_loading,
        }
        # Live update: a task on screen (not the selected one) changed by another client -> its row
        # drawn at the new revision. The selected task is measured too: its change also redraws the detail pane.
        top = int(app.table.scroll_y)
        target = next(app.board.order[i] for i in range(top + 1, top + 6) if i != app.table.cursor)
        selected = app.table.selected_id
        assert selected is not None and target != selected
        http = httpx.Client(base_url=url)
        live = await changed_to_painted(http, painted, target, samples, "live", 0.03)
        live_selected = await changed_to_painted(http, painted, selected, samples, "selected", 0.05)
        result["live_selected_ms"] = live_selected
        result["live_ms"] = live
        result["live_missed"] = samples - len(live)
        result["poll_ms"] = await asyncio.to_thread(poll_reference, url, target, max(10, samples // 4))
        result.update(await storm(app, frames, url, seconds))
        result.update(await cost_sort(app, frames, painted, http, samples))
        http.close()
    return result


async def cost_sort(app: Any, frames: Frames, painted: Painted, http: httpx.Client, samples: int) -> dict[str, Any]:
    """The whole board re-sorted by cost, most first, from the keys (S, then c): how long until the table
    was drawn in the new order; whether the order is right; then a live update and keys on that order."""
    from taskboard.tui.board import SortOrder
    from taskboard.tui.screens.pick import PickScreen

    assert app._driver is not None
    app._driver.send_message(events.Key("S", "S"))
    while not isinstance(app.screen, PickScreen):
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.2)
    sent = time.perf_counter()
    app._driver.send_message(events.Key("c", "c"))
    while app.board.sort is not SortOrder.COST or not app.board.descending:
        await asyncio.sleep(0.0005)
    sorted_at = time.perf_counter()
    while frames.at < sorted_at:
        await asyncio.sleep(0.0005)
    drawn_ms = (frames.at - sent) * 1000
    board = app.board
    rows = [(not t.needs_attention, -t.cost_micros) for t in (board.at(i) for i in range(len(board))) if t]
    await asyncio.sleep(0.3)
    top = int(app.table.scroll_y)
    target = next(board.order[i] for i in range(top + 1, top + 6) if i != app.table.cursor)
    live = await changed_to_painted(http, painted, target, samples, "by cost", 0.03)
    until = time.perf_counter() + 3.0
    keys = await press_while(app, frames, lambda: app.table.cursor, lambda: time.perf_counter() > until)
    return {"cost_sort_ms": drawn_ms, "cost_sorted": rows == sorted(rows), "cost_sort_tasks": len(rows),
            "cost_live_ms": live, "cost_live_missed": samples - len(live), "cost_keys_ms": keys}


async def storm(app: Any, frames: Frames, url: str, seconds: float) -> dict[str, Any]:
    """Another process changes tasks at 1,000/s while keys are pressed here; then nothing may be missing.
    The tasks are the board's top 200 rows, as the reference's are its table's: the rows on screen and
    the selected task (whose detail pane follows it) change all the time."""
    tasks = app.board.tasks
    ids = [app.board.order[i] for i in range(min(200, len(app.board)))]
    proc = subprocess.Popen([sys.executable, "-m", "bench.storm", url, str(seconds), *ids],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    await asyncio.to_thread(proc.stdout.readline)  # "ready"
    keys = await press_while(app, frames, lambda: app.table.cursor, lambda: proc.poll() is not None,
                             ("down", "down", "up", "up"))
    out = json.loads(proc.stdout.read().strip() or "{}")
    await asyncio.sleep(1.0)
    async with TaskboardClient(url) as client:
        server = {t.id: t.revision for page in [await client.list_tasks(limit=1000, sort="created")]
                  for t in page.items if t.id in set(ids)}
    lost = sum(1 for i, rev in server.items() if tasks[i].revision != rev)
    return {"storm_keys_ms": keys, "storm_rate": out.get("rate", 0), "storm_changes": out.get("changes", 0),
            "storm_lost": lost, "storm_errors": out.get("errors", 0)}


REFERENCE_SAMPLES = 20


class StockBoard(App[None]):
    """The reference: Textual's DataTable, filled with the same rows through the same client."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.first_rows: float | None = None
        self.loaded: float | None = None
        self.count = 0

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("status", "STATUS"), ("priority", "P"), ("title", "TITLE"), ("agent", "AGENT"),
                           ("updated", "UPDATED")):
            table.add_column(label, key=key)
        self.run_worker(self.load())

    async def load(self) -> None:
        table = self.query_one(DataTable)
        async with TaskboardClient(self.url) as client:
            async for page in client.iter_task_pages(page_size=1000, sort="created"):
                for t in page.items:  # add_rows does the same, one add_row each; keyed for the storm
                    table.add_row(t.status.value, str(t.priority), t.title, t.assigned_agent or "",
                                  t.updated_at.isoformat(), key=t.id)
                self.count += len(page.items)
                if self.first_rows is None:
                    await asyncio.sleep(0)
                    self.first_rows = time.perf_counter()
        self.loaded = time.perf_counter()


async def datatable(url: str, count: int, samples: int, seconds: float) -> dict[str, Any]:
    frames = Frames()
    frames.install(DataTable, lambda table: table.cursor_row)
    started = time.perf_counter()
    app = StockBoard(url)
    async with app.run_test(size=SIZE) as pilot:
        while app.first_rows is None and time.perf_counter() - started < 60:
            await asyncio.sleep(0.002)
        while frames.at < app.first_rows and time.perf_counter() - started < 60:
            await asyncio.sleep(0.002)
        first = frames.at
        table = app.query_one(DataTable)
        keys = await press_while(app, frames, lambda: table.cursor_row,
                                 lambda: app.loaded is not None or time.perf_counter() - started > 300)
        await pilot.pause()
        loaded = time.perf_counter()
        # One cell changed in place, as a live update would.
        keys_row = next(iter(table.rows))
        updates = []
        # Each stock update_cell costs hundreds of ms at 100,000 rows: 20 samples show it well enough.
        for n in range(min(samples, REFERENCE_SAMPLES)):
            t = time.perf_counter()
            table.update_cell(keys_row, "title", f"changed {n}")
            while frames.at < t and time.perf_counter() - t < 10:
                await asyncio.sleep(0.0005)
            updates.append((frames.at - t) * 1000)
            await asyncio.sleep(0.02)
        result = {"first_rows_s": first - started, "loaded_s": loaded - started, "tasks": app.count,
                  "rss_mb": rss_mb(), "keys_during_load_ms": keys, "update_ms": updates}
        result.update(await stock_storm(app, table, frames, url, seconds))
        return result


async def stock_storm(app: StockBoard, table: DataTable[Any], frames: Frames, url: str,
                      seconds: float) -> dict[str, Any]:
    """The same storm on the same tasks against the stock table, fed the obvious way: the watch stream,
    one update_cell per change. Whatever it has not applied when the storm ends counts as behind."""
    ids = [str(key.value) for key in list(table.rows)[:200]]
    applied = 0
    async with TaskboardClient(url) as client:
        since = (await client.list_tasks(limit=1)).revision

        async def follow() -> None:
            nonlocal applied
            async for event in client.watch(since):
                if event.type == "task.upserted" and event.task is not None and event.task.id in table.rows:
                    table.update_cell(event.task.id, "updated", event.task.updated_at.isoformat())
                    applied += 1

        follower = asyncio.ensure_future(follow())
        proc = subprocess.Popen([sys.executable, "-m", "bench.storm", url, str(seconds), *ids],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        await asyncio.to_thread(proc.stdout.readline)  # "ready"
        keys = await press_while(app, frames, lambda: table.cursor_row, lambda: proc.poll() is not None,
                                 ("down", "down", "up", "up"))
        follower.cancel()
        out = json.loads(proc.stdout.read().strip() or "{}")
    return {"storm_keys_ms": keys, "storm_changes": out.get("changes", 0), "storm_applied": applied}


async def far(url: str, count: int, samples: int, seconds: float) -> dict[str, Any]:
    """The board's load over a far link (`url` is the link simulator's end; bench/far.py), then changes
    made through the same link -> their row drawn: the round trip a person at the far end sees."""
    painted, loaded, hook = watch_load()

    started = time.perf_counter()
    app = make_app(url, bell=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        while "at" not in loaded and time.perf_counter() - started < 120:
            await asyncio.sleep(0.002)
        result: dict[str, Any] = {
            "first_rows_s": painted.first_row - started if painted.first_row else None,
            "loaded_s": loaded["at"] - started if "at" in loaded else None,
            "tasks": len(app.board.tasks),
        }
        await pilot.pause(0.2)
        top = int(app.table.scroll_y)
        target = next(app.board.order[i] for i in range(top + 1, top + 6) if i != app.table.cursor)
        http = httpx.Client(base_url=url)
        live = await changed_to_painted(http, painted, target, samples, "far", 0.03)
        http.close()
        result["live_ms"] = live
        result["live_missed"] = samples - len(live)
    return result


MODES = {"ours": ours, "datatable": datatable, "far": far}


def main() -> None:
    url, count, samples, seconds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), \
        sys.argv[5]
    print(json.dumps(asyncio.run(MODES[mode](url, count, samples, seconds))))


if __name__ == "__main__":
    main()
