"""Log tail: 100,000 log lines streamed from the server to the tail, beside per-line `Log.write_line`.

`python -m bench.logtail URL TASK LINES ours|write_line` prints one JSON line: how long until every
line had arrived in the widget, how many arrived, and the process's memory.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Log

from bench.common import Outcome, Row, Sizes, rss_mb, run_child, running_server, temp_dir
from bench.seed import seed_log, seed_tasks, task_id
from taskboard.client import TaskboardClient
from taskboard.tui.widgets.log_tail import KEEP_LINES, LogTail


class TailApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogTail(id="tail")


class LineLogApp(App[None]):
    """The reference: every line written with Log.write_line as it arrives."""

    def __init__(self, url: str, task: str) -> None:
        super().__init__()
        self.url, self.task_id, self.count = url, task, 0

    def compose(self) -> ComposeResult:
        yield Log(max_lines=KEEP_LINES)

    def on_mount(self) -> None:
        self.run_worker(self.follow())

    async def follow(self) -> None:
        log = self.query_one(Log)
        async with TaskboardClient(self.url) as client:
            async for entry in client.stream_logs(self.task_id):
                log.write_line(f"{entry.timestamp:%H:%M:%S} {entry.event_type:<11} {entry.message}")
                self.count += 1


async def measure(url: str, task: str, lines: int, mode: str) -> dict[str, Any]:
    started = time.perf_counter()
    if mode == "ours":
        app: App[None] = TailApp()
        async with app.run_test(size=(120, 40)) as pilot, TaskboardClient(url) as client:
            tail = app.query_one(LogTail)
            started = time.perf_counter()
            tail.show_task(client, task, "bench")
            while tail.received < lines and time.perf_counter() - started < 120:
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            await pilot.pause()
            return {"seconds": elapsed, "received": tail.received, "kept": len(tail.entries),
                    "shown": len(tail.view.lines), "rss_mb": rss_mb()}
    ref = LineLogApp(url, task)
    async with ref.run_test(size=(120, 40)):
        while ref.count < lines and time.perf_counter() - started < 300:
            await asyncio.sleep(0.005)
        return {"seconds": time.perf_counter() - started, "received": ref.count, "rss_mb": rss_mb()}


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    n = sizes.log_lines
    with temp_dir() as tmp:
        db = tmp / "log.db"
        seed_tasks(db, 1)
        seed_log(db, task_id(1), n)
        with running_server(db) as server:
            ours = run_child("bench.logtail", server.url, task_id(1), str(n), "ours")
            ref = run_child("bench.logtail", server.url, task_id(1), str(n), "write_line")
    out.check(ours["received"] == n, f"log tail: {ours['received']} of {n} lines arrived")
    out.check(ours["kept"] == min(n, KEEP_LINES), f"log tail: kept {ours['kept']} lines")
    rate, ref_rate = n / ours["seconds"], ref["received"] / ref["seconds"]
    out.rows += [
        Row("log tail", f"{n:,} lines streamed to the tail", rate, "lines/s", ">= 50,000 lines/s; none lost",
            rate >= 50_000 and ours["received"] == n, ref_rate, "Log.write_line per line", lower_is_better=False,
            note=f"all {ours['received']:,} arrived; the last {ours['kept']:,} kept in the scrollback"),
        Row("log tail", "memory (RSS) after the stream", ours["rss_mb"], "MB", "bounded", None, ref["rss_mb"],
            "Log.write_line per line", note=f"scrollback capped at {KEEP_LINES:,} lines"),
    ]
    return out


if __name__ == "__main__":
    url, task, lines, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print(json.dumps(asyncio.run(measure(url, task, lines, mode))))
