"""The config file, live: a context added while the board runs shows up (and opens) without a restart, a
mistake is said once and changes nothing, and the theme chosen in the palette is written back into the
file with its comments kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from taskboard.cli import context_choices
from taskboard.config import load_config
from taskboard.connect import RemoteServer
from taskboard.tui.app import make_app
from taskboard.tui.screens.contexts import ContextScreen
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, until

MINE = """# my boards
default_context = "local"   # the laptop

[contexts.local]
url = "{url}"  # the bundled server
"""


def write(path: Path, text: str) -> None:
    """As an editor saves: a new file renamed over the old one."""
    temp = path.with_suffix(".swp")
    temp.write_text(text)
    os.replace(temp, path)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ServerProcess) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(MINE.format(url=server.url))
    monkeypatch.setenv("TASKBOARD_CONFIG", str(path))
    return path


def board(server: ServerProcess, path: Path):  # type: ignore[no-untyped-def]
    return make_app(connector=RemoteServer(server.url, label="local"), contexts=context_choices(), context="local",
                    config_path=path, load_contexts=context_choices, bell=False)


async def test_a_context_added_to_the_file_shows_up_and_opens_without_a_restart(
        server: ServerProcess, config_file: Path, contract_server: Callable[..., ServerProcess]) -> None:
    v1 = contract_server("v1-envelope")
    httpx.post(v1.url + "/_contract/tasks", json={"status": "running", "task_type": "crawl"}).raise_for_status()
    app = board(server, config_file)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen), what="the context list")
        assert "research" not in screen_text(app)
        await pilot.press("escape")
        # A mistake first: said, and nothing changes.
        write(config_file, config_file.read_text() + '\n[contexts.research]\nurl = "ftp://nowhere"\n')
        await until(pilot, lambda: any("Config not re-read" in n for n in notifications(app)), what="the mistake")
        assert "research" not in app.contexts and "line 8" in next(n for n in notifications(app) if "url" in n)
        write(config_file, MINE.format(url=server.url)
              + f'\n[contexts.research]\nurl = "{v1.url}"\ndialect = "v1-envelope"\n')
        await until(pilot, lambda: any("added research" in n for n in notifications(app)), what="the re-read")
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen) and "research" in screen_text(app),
                    what="the new context in the list")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.loaded and "1" in app.board.tasks, what="the research board")
        assert app.board.tasks["1"].title == "crawl #1"


async def test_the_theme_chosen_in_the_palette_is_saved_into_the_file_with_its_comments(
        server: ServerProcess, config_file: Path) -> None:
    app = board(server, config_file)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.theme != "nord"
        await pilot.press("ctrl+p", *"theme")
        await until(pilot, lambda: "Theme" in screen_text(app), what="the theme command")
        await pilot.press("enter")
        await until(pilot, lambda: "nord" in screen_text(app), what="the themes")
        await pilot.press(*"nord", "enter")
        await until(pilot, lambda: 'theme = "nord"' in config_file.read_text(), what="the theme saved")
    text = config_file.read_text()
    assert text.startswith(MINE.format(url=server.url)) and text.endswith('\n[ui]\ntheme = "nord"\n')
    assert load_config(config_file).ui == {"theme": "nord"}
    # The next board starts in it, and saving is not taken for a change of the person's.
    again = board(server, config_file)
    async with again.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: again.theme == "nord", what="the saved theme")
        await pilot.pause(1.5)
        assert not [n for n in notifications(again) if "changed" in n]
