"""Notifications that reach you: the `[notify]` table's webhook and command, from the real board on the
real server; the rate limit and the terminal's escape sequences (tests/tui/test_terminal.py has OSC 9 in a
real tmux pane)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from taskboard.config import NotifySettings
from taskboard.connect import RemoteServer
from taskboard.notify import Notice, Notifier, terminal_sequence
from taskboard.tui.app import make_app
from taskboard.tui.screens.help import HelpScreen
from tests.helpers import start_task, wait_for_status
from tests.receiver import Receiver
from tests.tui.pilot import SIZE, loaded, notifications, until

ASKS = {"steps": 3, "stepSeconds": 0.02,
        "permission": {"tool": "Bash", "input": {"command": "npm test"}, "atStep": 1, "message": "Run the tests"}}
FAILS = {"steps": 3, "stepSeconds": 0.02, "failAtStep": 2}


def config(tmp_path: Path, **notify: object) -> Path:
    path = tmp_path / "config.toml"
    lines = ["# my board", "[notify]"] + [f"{key} = {json.dumps(value)}" for key, value in notify.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["text", "slack"])
async def test_a_permission_request_reaches_the_webhook_with_title_server_and_id(backend, tmp_path, fmt) -> None:
    server, client = backend
    with Receiver() as receiver:
        path = config(tmp_path, events=["permission"], webhook=receiver.url, webhook_format=fmt)
        app = make_app(connector=RemoteServer(server.url, label="local"), bell=False, config_path=path)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            task = await start_task(client, "Run the nightly tests", params=ASKS)
            await until(pilot, lambda: receiver.received, what="the webhook's request")
            [got] = receiver.received
            if fmt == "text":  # ntfy: the title in a header, the rest the plain body
                assert got.headers["title"] == "Approval needed: Run the nightly tests"
                assert got.headers["tags"] == "permission"
                text = got.body.decode()
            else:  # Slack-compatible
                assert got.headers["content-type"] == "application/json"
                text = json.loads(got.body)["text"]
                assert text.startswith("Approval needed: Run the nightly tests\n")
            assert "asks to use Bash: npm test" in text and "local" in text and task.id in text


async def test_a_hanging_webhook_holds_up_neither_the_board_nor_itself_and_fails_once(backend, tmp_path) -> None:
    server, client = backend
    with Receiver(hold=threading.Event()) as receiver:  # it takes every request and never answers
        path = config(tmp_path, events=["failed"], webhook=receiver.url, timeout=1)
        app = make_app(connector=RemoteServer(server.url, label="local"), bell=False, config_path=path)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            tasks = [await start_task(client, f"breaks {n}", params=FAILS) for n in range(3)]
            for task in tasks:
                await wait_for_status(client, task.id, "failed")
            await until(pilot, lambda: receiver.received, what="the first request, which hangs")
            # While it hangs, the board answers keys as ever.
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help, while the webhook hangs")
            await pilot.press("escape")
            assert len(receiver.received) < 3 and not receiver.hold.is_set()
            # Each send gives up after its timeout; the next goes on; the failure is said once.
            await until(pilot, lambda: len(receiver.received) == 3, timeout=20, what="all three sent")
            await until(pilot, lambda: app.notifier.failing, what="the failure noticed")
            said = [n for n in notifications(app) if "Notifications by webhook failed" in n]
            assert len(said) == 1 and "no answer in 1 s" in said[0]


async def test_the_command_runs_with_the_event_in_its_arguments_and_environment(backend, tmp_path) -> None:
    server, client = backend
    out = tmp_path / "ran.jsonl"
    script = ("import json, os, sys; open(sys.argv[1], 'a').write(json.dumps("
              "[sys.argv[2:], os.environ['TASKBOARD_NOTIFY_ID']]) + '\\n')")
    path = config(tmp_path, events=["failed", "completed"],
                  command=[sys.executable, "-c", script, str(out), "{event}", "{title}", "{server}", "{id}"])
    app = make_app(connector=RemoteServer(server.url, label="local"), bell=False, config_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        task = await start_task(client, "breaks; rm -rf / $(whoami)", params=FAILS)
        await until(pilot, lambda: out.exists() and out.read_text(), what="the command to run")
        [args, env_id] = json.loads(out.read_text().splitlines()[0])
        # One argument each, as written: no shell ever sees the title.
        assert args == ["failed", "breaks; rm -rf / $(whoami)", "local", task.id] and env_id == task.id


def test_the_rate_limit_holds_back_a_storm_and_says_how_many_with_the_next() -> None:
    now = [0.0]
    written: list[str] = []
    notifier = Notifier(NotifySettings(events=frozenset({"failed"}), terminal="osc9", per_minute=60),
                        write=written.append, report=lambda *_: None, clock=lambda: now[0], environ={})
    sent = [notifier.post(Notice("failed", f"task {n}", "local", str(n))) for n in range(8)]
    assert sent == [True] * 5 + [False] * 3 and len(written) == 5  # a burst of 5, then one a second
    assert not notifier.post(Notice("completed", "not chosen", "local", "x"))
    now[0] = 1.0
    assert notifier.post(Notice("failed", "task 8", "local", "8"))
    assert "and 3 more not sent" in written[-1]


def test_the_terminal_gets_no_control_character_of_a_title_and_tmux_gets_its_passthrough() -> None:
    evil = "pwn\x1b]52;c;ZXZpbA==\x07\x1b[2J"
    osc9 = terminal_sequence("osc9", f"Failed: {evil}", "local · task 1")
    assert osc9.startswith("\x1b]9;") and osc9.endswith("\x07") and osc9.count("\x1b") == 1 and osc9.count("\x07") == 1
    osc777 = terminal_sequence("osc777", "Failed: a;b", "local; task 1")
    assert osc777 == "\x1b]777;notify;Failed: a,b;local, task 1\x07"
    wrapped = terminal_sequence("osc9", "Failed: x", "local", tmux=True)
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;Failed: x — local\x07\x1b\\"
