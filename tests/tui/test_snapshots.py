"""Snapshots of the real app on a fixed board: fixed clock, fixed ids, no blinking cursor.

Update only for an intended change (`./scripts/test tests/tui/test_snapshots.py --snapshot-update`),
and look at the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from taskboard.client import TaskboardClient
from taskboard.connect import RemoteServer
from taskboard.tui.app import TaskboardApp, make_app
from taskboard.tui.screens.detail import DetailScreen
from taskboard.tui.screens.disconnected import DisconnectedScreen
from taskboard.tui.screens.new_task import NewTaskScreen
from taskboard.tui.screens.rules import RulesScreen
from taskboard.tui.screens.save_log import SaveLogScreen
from taskboard.tui.screens.triage import TriageScreen
from tests.helpers import wait_for_status
from tests.server import ServerProcess
from tests.tui.board_fixture import SERVER_ARGS, app_clock, seed_board, seed_workflow
from tests.tui.pilot import fill, screen_text, select, settle, until


@pytest.fixture(scope="module")
def board_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    server = ServerProcess(tmp_path_factory.mktemp("snap") / "board.db", *SERVER_ARGS)
    server.start()

    async def seed() -> dict[str, str]:
        async with TaskboardClient(server.url) as client:
            return await seed_board(client)

    ids = asyncio.run(seed())
    yield server, ids
    server.stop()


def board_app(server: ServerProcess) -> TaskboardApp:
    # The port is random; the label shown in the status bar is not.
    return make_app(connector=RemoteServer(server.url, label="http://127.0.0.1:8765"), clock=app_clock, bell=False)


def test_main_screen(snap_compare, board_server) -> None:
    server, _ = board_server
    assert snap_compare(board_app(server), terminal_size=(160, 45), run_before=settle)


def test_narrow_terminal(snap_compare, board_server) -> None:
    server, _ = board_server
    assert snap_compare(board_app(server), terminal_size=(80, 24), run_before=settle)


def test_wide_terminal(snap_compare, board_server) -> None:
    server, _ = board_server
    assert snap_compare(board_app(server), terminal_size=(200, 50), run_before=settle)


def test_detail_full_screen(snap_compare, board_server) -> None:
    server, ids = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, TaskboardApp)
        await select(pilot, ids["completed"])
        await settle(pilot)
        await pilot.press("enter")
        # Its log too, to the end (the task is over: the stream ends once it has sent every line).
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.log_tail.stream_state == "ended",
                    what="the log, whole")
        await pilot.pause(0.5)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_permission_modal(snap_compare, board_server) -> None:
    server, ids = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, TaskboardApp)
        await select(pilot, ids["permission"])
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)  # settles the modal too: its inputs stop blinking

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_new_task_form_with_an_error(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NewTaskScreen), what="the form")
        await fill(pilot, "params", '{"steps": 3')
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(board_app(server), terminal_size=(120, 45), run_before=run_before)


def test_help_screen(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(board_app(server), terminal_size=(120, 45), run_before=run_before)


def test_log_pane_wrapped_without_times(snap_compare, board_server) -> None:
    server, ids = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await select(pilot, ids["running"])
        await settle(pilot)
        await pilot.press("t", "w")
        await pilot.pause(0.3)

    assert snap_compare(board_app(server), terminal_size=(140, 40), run_before=run_before)


def test_save_log_dialog(snap_compare, board_server) -> None:
    server, ids = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await select(pilot, ids["running"])
        await settle(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SaveLogScreen), what="the dialog")
        await fill(pilot, "save-path", "~/logs/running.log")
        await settle(pilot)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_pulses_in_the_header(snap_compare, board_server) -> None:
    server, _ = board_server
    now = [app_clock()]
    app = make_app(connector=RemoteServer(server.url, label="http://127.0.0.1:8765"), clock=lambda: now[0],
                   bell=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await until(pilot, lambda: app.pulses.minutes == 1, what="the first sample")
        now[0] += timedelta(minutes=1)  # the board's clock only: the server's stands still, so nothing moves
        await until(pilot, lambda: "done " in screen_text(app).splitlines()[0], what="the pulses")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(160, 45), run_before=run_before)
def _triage_before(pilot: Pilot[Any]) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.questions,
                    what="the queue, with the question asked")
        await pilot.pause(0.2)
    return run_before(pilot)


@pytest.mark.parametrize("size", [(140, 40), (80, 24)])
def test_triage_queue(snap_compare, board_server, size) -> None:
    server, _ = board_server
    assert snap_compare(board_app(server), terminal_size=size, run_before=_triage_before)


@pytest.mark.parametrize("size", [(140, 40), (80, 24)])
def test_rules_screen(snap_compare, board_server, size) -> None:
    server, _ = board_server

    async def rules() -> None:
        async with TaskboardClient(server.url) as client:
            if not await client.list_rules():  # patterns the board's waiting request does not match
                await client.create_rule("write:/reports/*", "allow", saved_by="ana@build-01",
                                         expires_in_seconds=8 * 3600)
                await client.create_rule("bash:rm -rf*", "deny", saved_by="ops@bastion")

    async def run_before(pilot: Pilot[Any]) -> None:
        await rules()
        await settle(pilot)
        app = pilot.app
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.loaded, what="the rules")
        await pilot.pause(0.2)

    assert snap_compare(board_app(server), terminal_size=size, run_before=run_before)


def test_disconnected_screen(snap_compare) -> None:
    # Port 9 (discard) has no listener on loopback: connection refused, every time.
    app = make_app("http://127.0.0.1:9", clock=app_clock, bell=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen)
                    and "Attempt 2. Trying again in 2 s" in str(app.screen.query_one("#disconnected-body").render()))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)




def test_marks_and_one_confirmation_for_them(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("g", "space", "space", "space", "space", "space")
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause(0.3)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_sort_menu_over_a_board_sorted_by_cost(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("S", "c")
        await settle(pilot)
        await pilot.press("S")
        await pilot.pause(0.3)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_command_line_with_completions(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("colon", "p")
        await pilot.pause(0.3)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


def test_projects_view(snap_compare, board_server) -> None:
    server, _ = board_server

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("colon", *"projects", "enter")
        await until(pilot, lambda: "Projects: 2" in screen_text(pilot.app), what="the projects view")
        await pilot.pause(0.3)

    assert snap_compare(board_app(server), terminal_size=(120, 40), run_before=run_before)


@pytest.fixture(scope="module")
def workflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A board with one workflow run: a step done, one running (held), one planned."""
    server = ServerProcess(tmp_path_factory.mktemp("snapflow") / "board.db", *SERVER_ARGS)
    server.start()

    async def seed() -> None:
        async with TaskboardClient(server.url) as client:
            await seed_workflow(client)

    asyncio.run(seed())
    yield server
    server.stop()


def test_a_workflow_runs_steps(snap_compare, workflow_server) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("colon", *"workflows", "enter")
        await until(pilot, lambda: "Workflow runs: 1" in screen_text(pilot.app), what="the runs")
        await pilot.press("enter")
        await until(pilot, lambda: "3 steps" in screen_text(pilot.app), what="the steps")
        await pilot.pause(0.3)

    assert snap_compare(board_app(workflow_server), terminal_size=(120, 40), run_before=run_before)


def test_detail_pane_shows_a_coloured_diff(snap_compare, tmp_path) -> None:
    """What an agent changed (openai-codex-app-server's turn diff) in the detail pane, coloured: headers bold,
    hunks cyan, additions green, removals red. The demo runtime reports a fixed diff when its params ask."""
    server = ServerProcess(tmp_path / "diff.db", *SERVER_ARGS)
    server.start()

    async def seed() -> None:
        async with TaskboardClient(server.url) as client:
            project = await client.create_project("Billing", "Invoices and revenue")
            task = await client.create_task(title="Leave refunds out of the revenue total", priority=1,
                                            project_id=project.id, assigned_agent="openai-codex-app-server",
                                            params={"steps": 2, "stepSeconds": 0.01, "output": "text",
                                                    "diff": True})
            await client.queue(task.id)
            await client.execute(task.id)
            await wait_for_status(client, task.id, "completed")

    async def full_screen(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause(0.5)

    try:
        asyncio.run(seed())
        assert snap_compare(board_app(server), terminal_size=(120, 72), run_before=full_screen)
    finally:
        server.stop()
