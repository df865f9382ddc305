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
from taskboard.tui.app import TaskboardApp, make_app  # noqa: E402
from tests.server import ServerProcess  # noqa: E402
from tests.tui.board_fixture import SERVER_ARGS, app_clock, seed_board  # noqa: E402
from tests.tui.pilot import settle  # noqa: E402

OUT = ROOT / "screenshots"


async def shoot(url: str, name: str, size: tuple[int, int],
                then: Callable[[Pilot[Any], TaskboardApp], Awaitable[None]] | None = None) -> None:
    app = make_app(connector=RemoteServer(url, label="http://127.0.0.1:8765"), clock=app_clock, bell=False)
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
        server = ServerProcess(Path(tmp) / "board.db", *SERVER_ARGS)
        server.start()
        try:
            async with TaskboardClient(server.url) as client:
                ids = await seed_board(client)

            async def select(pilot: Pilot[Any], app: TaskboardApp, role: str) -> None:
                app.table.select_task(ids[role])
                await settle(pilot)

            async def permission(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "permission")
                await pilot.press("p")

            async def detail(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "completed")
                await pilot.press("enter")

            async def help_screen(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await pilot.press("question_mark")

            async def running(pilot: Pilot[Any], app: TaskboardApp) -> None:
                await select(pilot, app, "running")

            await shoot(server.url, "board", (160, 45), running)
            await shoot(server.url, "permission", (160, 45), permission)
            await shoot(server.url, "detail", (120, 45), detail)
            await shoot(server.url, "help", (120, 45), help_screen)
            await shoot(server.url, "narrow", (80, 24))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
