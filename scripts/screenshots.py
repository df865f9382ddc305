"""Make screenshots/*.svg from the app itself, on the fixed board the snapshot tests use.

    .venv/bin/python scripts/screenshots.py

Starts the real server (fixed clock, loopback, a temporary database), seeds the board, drives the
real app with Textual's Pilot, and saves one SVG per view.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from taskboard.client import TaskboardClient  # noqa: E402
from taskboard.connect import RemoteServer  # noqa: E402
from taskboard.state import BoardState  # noqa: E402
from taskboard.tui.app import TaskboardApp, make_app  # noqa: E402
from taskboard.tui.screens.detail import DetailScreen  # noqa: E402
from taskboard.tui.screens.rules import RulesScreen  # noqa: E402
from taskboard.tui.screens.triage import TriageScreen  # noqa: E402
from tests.helpers import wait_for_status, wait_until  # noqa: E402
from tests.server import ServerProcess  # noqa: E402
from tests.tui.board_fixture import SERVER_ARGS, _run, _settled, app_clock, seed_board, seed_workflow  # noqa: E402
from tests.tui.pilot import screen_text, settle, until  # noqa: E402
from tests.tui.pilot import select as select_task  # noqa: E402

OUT = ROOT / "screenshots"

# Beyond the snapshot tests' board: enough work for a full screen, agents caught mid-run.
FINISHED = [
    ("Draft the Q3 board update", 1, "claude-code", "markdown"),
    ("Summarize support tickets by theme", 2, "anthropic-direct", "markdown"),
    ("Write the retry helper for webhooks", 1, "openai-codex-app-server", "code"),
    ("Extract KPIs from the board deck", 2, "claude-code", "json"),
    ("Translate the pricing FAQ into German", 3, "ollama", "text"),
    ("Audit the IAM roles of the staging account", 0, "claude-code", "markdown"),
]
MID_RUN = [  # (title, priority, agent, steps, held at step)
    ("Refactor the invoice PDF renderer", 1, "openai-codex-app-server", 10, 7),
    ("Cluster NPS comments from November", 2, "claude-code", 6, 3),
    ("Reconcile Stripe payouts with the ledger", 0, "claude-code", 12, 10),
]
HERO = ("Analyze Q4 revenue trends by region", 0, "claude-code", 8, 6)


async def seed_showcase(client: TaskboardClient) -> str:
    """More tasks than the snapshot board, and the hero (the board shot's selected task) mid-run; its id."""
    project = (await client.create_project("Finance", "Closing the books")).id
    for title, priority, agent, output in FINISHED:
        task_id = await _run(client, title, project_id=project, priority=priority, assigned_agent=agent,
                             params={"steps": 3, "stepSeconds": 0.01, "output": output})
        await wait_for_status(client, task_id, "completed")
    for title, priority, agent, steps, hold in [*MID_RUN, HERO]:
        task_id = await _run(client, title, project_id=project, priority=priority, assigned_agent=agent,
                             agent_profile="data-analyst",
                             description="Review the revenue data and write a summary with charts, region by region.",
                             params={"steps": steps, "stepSeconds": 0.01, "holdAtStep": hold})
        await _settled(client, task_id, hold - 1)
    return task_id


async def seed_triage(client: TaskboardClient) -> None:
    """Two more tasks asking what the board's waiting one asks (the queue shows them as one row of three),
    and saved rules that match none of them."""
    for title in ("Run the integration suite on staging", "Run the integration suite on the canary"):
        task_id = await _run(client, title, priority=1, assigned_agent="claude-code", params={
            "steps": 5, "stepSeconds": 0.01,
            "permission": {"tool": "Bash", "input": {"command": "npm test -- --runInBand"}, "atStep": 2,
                           "message": "I need to run the test suite to check the fix."}})
        await wait_until(lambda task_id=task_id: _pending(client, task_id))
    await client.create_rule("write:/reports/*", "allow", saved_by="ana@build-01", expires_in_seconds=8 * 3600)
    await client.create_rule("bash:rm -rf*", "deny", saved_by="ops@bastion")
    await client.create_rule("read:/srv/data/**", "allow", saved_by="ana@laptop")


async def _pending(client: TaskboardClient, task_id: str) -> bool:
    return bool(await client.list_permissions("pending", task_id=task_id))


async def shoot(url: str, name: str, size: tuple[int, int],
                then: Callable[[Pilot[Any], TaskboardApp], Awaitable[None]] | None = None) -> None:
    with tempfile.TemporaryDirectory() as state_dir:  # each shot its own state.json: a sort chosen in one stays there
        app = make_app(connector=RemoteServer(url, label="http://127.0.0.1:8765"), clock=app_clock, bell=False,
                       state=BoardState(Path(state_dir) / "state.json"))
        await _shoot(app, name, size, then)


async def _shoot(app: TaskboardApp, name: str, size: tuple[int, int],
                 then: Callable[[Pilot[Any], TaskboardApp], Awaitable[None]] | None) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        if then is not None:
            await then(pilot, app)
            await pilot.pause(0.3)
        app.save_screenshot(f"{name}.svg", str(OUT))
    print(f"screenshots/{name}.svg")


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "board.db", *SERVER_ARGS, "--concurrency", "16")
        server.start()
        try:
            async with TaskboardClient(server.url) as client:
                ids = await seed_board(client)
                ids["hero"] = await seed_showcase(client)
                await seed_workflow(client)

            async def select(pilot: Pilot[Any], app: TaskboardApp, role: str) -> None:
                await select_task(pilot, ids[role])
                await settle(pilot)

            async def permission(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "permission")
                await pilot.press("p")

            async def detail(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "completed")
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, DetailScreen)
                            and app.screen.log_tail.stream_state == "ended", what="its log, whole")

            async def log_toggles(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "hero")
                await pilot.press("t", "w")

            async def help_screen(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("question_mark")

            async def running(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "hero")

            async def triage(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("i")
                await until(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.questions)

            async def rules(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("R")
                await until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.loaded)

            async def marks(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("g", *["space"] * 6)
                await settle(pilot)
                await pilot.press("c")

            async def sort_menu(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("S", "c")
                await settle(pilot)
                await pilot.press("S")

            async def command_line(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("colon", "w")

            async def projects(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("colon", *"projects", "enter")
                await until(pilot, lambda: "Projects:" in screen_text(app), what="the projects view")

            async def workflow(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("colon", *"workflows", "enter")
                await pilot.pause(0.5)
                await pilot.press("enter")

            await shoot(server.url, "board", (160, 40), running)
            await shoot(server.url, "marks", (140, 40), marks)
            await shoot(server.url, "sort", (140, 40), sort_menu)
            await shoot(server.url, "command", (140, 40), command_line)
            await shoot(server.url, "projects", (140, 40), projects)
            await shoot(server.url, "workflow", (140, 40), workflow)
            await shoot(server.url, "permission", (160, 45), permission)
            await shoot(server.url, "detail", (120, 45), detail)
            await shoot(server.url, "help", (120, 45), help_screen)
            await shoot(server.url, "log", (140, 40), log_toggles)
            await shoot(server.url, "narrow", (80, 24))
            async with TaskboardClient(server.url) as client:  # a group of identical requests, and saved rules
                await seed_triage(client)
            await shoot(server.url, "triage", (140, 40), triage)
            await shoot(server.url, "rules", (140, 40), rules)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
