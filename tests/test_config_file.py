"""The config file's [notify] and [ui] tables: read strictly, with the line of a mistake, and [ui] written
back without touching anything else in the file (comments, order, the other tables), atomically."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from taskboard.config import ConfigError, NotifySettings, load_config, save_ui

MINE = """# my boards
default_context = "local"   # the laptop

[contexts.local]
url = "http://127.0.0.1:8765"  # the bundled server

# how it looks
[ui]
theme = "nord"   # dark, but not too dark

[contexts.lab]
url = "https://lab.example.com"
"""


def test_ui_settings_are_written_in_place_and_everything_else_stays(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINE)
    path.chmod(0o600)
    save_ui(path, theme="dracula", log_wrap=True)
    text = path.read_text()
    assert text == MINE.replace('theme = "nord"   # dark', 'theme = "dracula"   # dark').replace(
        "too dark\n", "too dark\nlog_wrap = true\n")
    assert load_config(path).ui == {"theme": "dracula", "log_wrap": True}
    assert path.stat().st_mode & 0o777 == 0o600  # a file holding a key stays private
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_a_file_without_ui_gets_the_table_at_its_end_and_no_file_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[contexts.local]\nurl = "http://127.0.0.1:8765"')  # no newline at the end
    save_ui(path, theme="nord")
    assert path.read_text() == '[contexts.local]\nurl = "http://127.0.0.1:8765"\n\n[ui]\ntheme = "nord"\n'
    fresh = tmp_path / "sub" / "config.toml"
    save_ui(fresh, log_timestamps=False)
    assert fresh.read_text() == "[ui]\nlog_timestamps = false\n"


def test_a_save_that_would_not_load_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('ui = { theme = "nord" }\n')  # an inline [ui]: a second [ui] table would not parse
    with pytest.raises(tomllib.TOMLDecodeError):  # refused before anything is written
        save_ui(path, theme="dracula")
    assert path.read_text() == 'ui = { theme = "nord" }\n'


def test_notify_is_read_with_its_defaults_and_its_mistakes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[notify]\nwebhook = "https://ntfy.sh/mine"\ncommand = "notify-send \'taskboard\' {headline}"\n')
    notify = load_config(path).notify
    assert notify == NotifySettings(webhook="https://ntfy.sh/mine", command=("notify-send", "taskboard", "{headline}"))
    assert notify.events == {"permission", "question", "failed"} and notify.active
    assert not NotifySettings().active  # nothing chosen: nothing sent
    for body, said in [('events = ["permission", "done"]', "line 3: notify.events: must be a list of events"),
                       ('terminal = "osc8"', "line 3: notify.terminal: must be one of off, osc9, osc777"),
                       ('webhook = "ntfy.sh/mine"', "line 3: notify.webhook: must be an http"),
                       ("per_minute = 0", "line 3: notify.per_minute: must be a number, at least 0.1"),
                       ("sound = true", "line 3: notify.sound: unknown key")]:
        path.write_text(f'# mine\n[notify]\n{body}\n')
        with pytest.raises(ConfigError, match=rf"{path}, {said}"):
            load_config(path)
    path.write_text('[ui]\ntheme = 3\n')
    with pytest.raises(ConfigError, match=r"line 2: ui\.theme: must be a string"):
        load_config(path)
