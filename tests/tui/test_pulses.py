"""The header's pulses: tasks finished and money spent per minute, from the server's /api/tasks/stats, on a
clock the test moves; and none, without a word, from a server that has no stats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from taskboard.connect import RemoteServer
from taskboard.tui.app import STATS_INTERVAL, make_app
from taskboard.tui.pulses import sparkline
from tests.helpers import FAST, start_task, wait_for_status
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, until


async def test_the_header_shows_what_finished_and_what_it_cost_minute_by_minute(backend) -> None:
    server, client = backend
    now = [datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)]
    app = make_app(connector=RemoteServer(server.url, label="local"), clock=lambda: now[0], bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: app.pulses.minutes == 1, what="the first sample")
        assert "done " not in screen_text(app).splitlines()[0]  # one minute is no pulse yet
        for n in range(2):
            task = await start_task(client, f"quick {n}", params=FAST)
            await wait_for_status(client, task.id, "completed")
        spent = (await client.stats()).cost_micros
        now[0] += timedelta(minutes=1)
        header = await until(pilot, lambda: "done ▁█ 2" in (line := screen_text(app).splitlines()[0]) and line,
                             what="the pulses in the header")
        assert "spend ▁█ $" in header and "in 2 min" in header and spent > 0


async def test_a_server_without_stats_shows_no_pulses_and_says_nothing(
        contract_server: Callable[..., ServerProcess]) -> None:
    v1 = contract_server("v1-envelope")
    httpx.post(v1.url + "/_contract/tasks", json={"status": "running"}).raise_for_status()
    now = [datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)]
    app = make_app(connector=RemoteServer(v1.url, label="lab", dialect="v1-envelope", poll_interval=0.5),
                   clock=lambda: now[0], bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "1")
        now[0] += timedelta(minutes=1)
        await pilot.pause(STATS_INTERVAL * 1.5)  # what would have been a sample, had the server stats
        assert app.pulses.minutes == 0 and "done " not in screen_text(app).splitlines()[0]
        assert not [n for n in notifications(app) if "stats" in n.lower()]


def test_a_sparkline_scales_to_its_highest() -> None:
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█" and sparkline([0, 0]) == "▁▁" and sparkline([]) == ""
