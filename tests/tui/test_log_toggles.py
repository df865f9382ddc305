"""The log pane's toggles, by their keys, on a task that ran twice: which attempt, times, wrap, copy a
line, save to a file (through the dialog, by Tab and typing), and the choices kept in the config."""

from __future__ import annotations

import re
from pathlib import Path

from taskboard.config import load_config
from taskboard.connect import RemoteServer
from taskboard.tui.app import make_app
from taskboard.tui.screens.detail import DetailScreen
from taskboard.tui.screens.save_log import SaveLogScreen
from tests.helpers import start_task, wait_for_status
from tests.tui.pilot import fill, loaded, notifications, screen_text, select, tab_to, until

FAILS = {"steps": 3, "stepSeconds": 0.02, "failAtStep": 2}
SIZE = (140, 80)  # the log pane holds both attempts, and is narrow enough that its long lines are cut


def log_pane(app, pane=None) -> str:  # type: ignore[no-untyped-def]
    """The log pane's rows as the screen shows them (inside its border)."""
    region = (pane or app.log_tail).region
    rows = screen_text(app).splitlines()[region.y + 1:region.bottom - 1]
    return "\n".join(row[region.x + 1:region.right - 1] for row in rows)


async def test_the_log_toggles_by_their_keys(backend, tmp_path: Path) -> None:
    server, client = backend
    task = await start_task(client, "runs twice", params=FAILS)
    await wait_for_status(client, task.id, "failed")
    await client.resume(task.id)
    await wait_for_status(client, task.id, "failed", "completed")
    lines = [entry async for entry in client.stream_logs(task.id)]
    config = tmp_path / "config.toml"
    config.write_text("# kept\n")
    app = make_app(connector=RemoteServer(server.url, label="local"), bell=False, config_path=config)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, task.id)
        await select(pilot, task.id)
        await until(pilot, lambda: "Resume started (attempt 2" in log_pane(app), what="both attempts' lines")
        assert "Execution started (attempt 1" in log_pane(app)

        # ] steps through the attempts: the first, the second, every one again.
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "Resume started" not in log_pane(app), what="attempt 1 alone")
        assert "Execution started" in log_pane(app) and "attempt 1 of 2" in screen_text(app)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "Execution started" not in log_pane(app), what="attempt 2 alone")
        assert "Resume started" in log_pane(app)
        await pilot.press("left_square_bracket")  # back to attempt 1
        await until(pilot, lambda: "Resume started" not in log_pane(app), what="attempt 1 again")
        await pilot.press("right_square_bracket", "right_square_bracket")  # 2, then every attempt
        await until(pilot, lambda: "Execution started" in log_pane(app) and "Resume started" in log_pane(app),
                    what="every attempt again")

        # t: no times; w: the long lines wrap (their ends show, under them).
        assert re.search(r"^\d\d:\d\d:\d\d system", log_pane(app), re.M)
        assert "runtime demo)" not in log_pane(app)
        await pilot.press("t")
        await until(pilot, lambda: re.search(r"^system +Execution started", log_pane(app), re.M), what="no times")
        assert not re.search(r"\d\d:\d\d:\d\d", log_pane(app))
        await pilot.press("w")
        await until(pilot, lambda: "runtime demo)" in log_pane(app), what="wrapped lines")
        # Both kept in the config, the rest of the file as it was.
        text = config.read_text()
        assert text.startswith("# kept\n") and load_config(config).ui == {"log_timestamps": False, "log_wrap": True}

        # Y copies the line at the bottom of the pane: the newest, whole.
        await pilot.press("Y")
        assert app.clipboard == f"{lines[-1].event_type} {lines[-1].message}"

        # ctrl+s asks where; a file that is there is refused in the dialog, a new one is written.
        there = tmp_path / "there.log"
        there.write_text("mine\n")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SaveLogScreen), what="the save dialog")
        assert f"{len(lines)} lines of “runs twice”, every attempt" in screen_text(app)
        await fill(pilot, "save-path", str(there))
        await pilot.press("enter")
        await until(pilot, lambda: "That file is there already" in screen_text(app), what="the refusal")
        assert there.read_text() == "mine\n"
        saved = tmp_path / "runs-twice.log"
        await fill(pilot, "save-path", str(saved))
        await pilot.press("enter")
        await until(pilot, lambda: any("Log saved" in n for n in notifications(app)), what="the log saved")
    written = saved.read_text().splitlines()
    assert len(written) == len(lines) and written[-1].endswith(f"{lines[-1].event_type} {lines[-1].message}")
    assert written[0].startswith(lines[0].timestamp.isoformat())


async def test_the_full_screen_view_has_the_log_with_the_same_toggles(backend) -> None:
    server, client = backend
    task = await start_task(client, "seen full screen", params=FAILS)
    await wait_for_status(client, task.id, "failed")
    await client.resume(task.id)
    await wait_for_status(client, task.id, "failed", "completed")
    app = make_app(connector=RemoteServer(server.url, label="local"), bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, task.id)
        await select(pilot, task.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the full-screen view")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: "Resume started (attempt 2" in log_pane(app, screen.log_tail), what="its log")
        await pilot.press("right_square_bracket", "t")
        await until(pilot, lambda: re.search(r"^system +Execution started", log_pane(app, screen.log_tail), re.M)
                    and "Resume started" not in log_pane(app, screen.log_tail), what="attempt 1, no times")
        await tab_to(pilot, screen.log_tail.view)
        await pilot.press("escape")  # in the log, but it is not filtering: escape leaves the view, as ever
        await until(pilot, lambda: len(app.screen_stack) == 1, what="back on the board")
        # The times are one choice: the board's log pane hides them too.
        assert not re.search(r"\d\d:\d\d:\d\d", log_pane(app))
