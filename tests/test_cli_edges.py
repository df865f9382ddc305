"""The CLI as a script author meets it, run as the real `taskboard` command: options before the verb apply
to it, `ls` is newest first, a pipe gets whole titles and a terminal a cut with an ellipsis, usage errors
exit 2, a closed pipe is a normal end, and cleanup asks on a terminal and lists with --dry-run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from taskboard.client import TaskboardClient
from tests.helpers import wait_for_status
from tests.server import ServerProcess
from tests.test_cli import as_json, taskboard

LONG_TITLE = "Summarize every interview transcript from the spring research round into one brief"


def in_terminal(command: str, *, columns: int = 100, answer: str = "") -> str:
    """Run `command` on a pseudo-terminal (script(1)), as a person at a terminal would; its screen output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
    env.update({"COLUMNS": str(columns), "LINES": "40", "NO_COLOR": "1", "TASKBOARD_CONFIG": "/nonexistent",
                "TERM": "xterm"})
    result = subprocess.run(["script", "-qec", command, "/dev/null"], input=answer, capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    return result.stdout.replace("\r", "")


pytestmark = pytest.mark.skipif(shutil.which("script") is None, reason="script(1) is needed for a terminal")


async def made(server: ServerProcess, *titles: str) -> list[str]:
    async with TaskboardClient(server.url) as client:
        return [(await client.create_task(title=title)).id for title in titles]


async def test_options_before_the_verb_apply_and_ls_is_newest_first(
        start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    ids = await made(server, "first", "second", "third")
    before = as_json(taskboard("--url", server.url, "ls", "--json"))
    assert [t["id"] for t in before] == ids[::-1]  # the group's --url, and newest first
    assert [t["id"] for t in as_json(taskboard("ls", "-n", "2", "--url", server.url, "--json"))] == ids[:0:-1]
    refused = taskboard("--url", server.url, "--read-only", "cancel", ids[0])
    assert refused.returncode == 1 and "read-only" in refused.stderr


async def test_a_pipe_gets_whole_titles_and_a_terminal_an_ellipsis(
        start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    await made(server, LONG_TITLE)
    piped = taskboard("ls", "--url", server.url, env={"COLUMNS": "80"})
    assert LONG_TITLE in piped.stdout
    screen = in_terminal(f"{sys.executable} -m taskboard ls --url {server.url}", columns=100)
    line = next(x for x in screen.splitlines() if "planned" in x)
    assert len(line.rstrip()) <= 100 and line.rstrip().endswith("…") and LONG_TITLE[:20] in line, screen
    assert "ID" in screen and "AGE" in screen and "PRI" in screen


async def test_usage_errors_exit_2(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    for args, said in ((("ls", "--url", "notaurl"), "not an http:// or https:// URL"),
                       (("ls", "--status", "bogus", "--url", server.url), "'bogus' is not one of"),
                       (("create", "--url", server.url), "create needs a TITLE")):
        result = taskboard(*args)
        assert result.returncode == 2 and said in result.stderr, (args, result.stderr)


async def test_approving_an_unknown_task_says_not_found(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    result = taskboard("approve", "nope", "--url", server.url)
    assert result.returncode == 1 and "(404)" in result.stderr and "not found" in result.stderr.lower(), result.stderr
    assert "no permission request waiting" not in result.stderr


async def test_a_closed_pipe_is_a_normal_end(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    await made(server, *[f"task {n}" for n in range(300)])
    script = f"{sys.executable} -m taskboard ls -n 300 --json --url {server.url} | head -c 10; " \
             "echo \"rc=${PIPESTATUS[0]}\""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "TASKBOARD_CONFIG": "/nonexistent"})
    assert "rc=0" in result.stdout and "Traceback" not in result.stderr, result.stderr


async def test_cleanup_lists_with_dry_run_and_asks_on_a_terminal(start_server: Callable[..., ServerProcess],
                                                                 tmp_path: Path) -> None:
    server = start_server()
    async with TaskboardClient(server.url) as client:
        task = await client.create_task(title="done long ago", params={"steps": 1, "stepSeconds": 0})
        await client.cancel(task.id)  # finished, but not a kind cleanup removes
        dry = as_json(taskboard("cleanup", "--older-than", "0", "--dry-run", "--url", server.url, "--json"))
        assert dry == {"wouldDelete": 0, "taskIds": []}
        ran = await client.spawn(title="finishes", params={"steps": 1, "stepSeconds": 0})
        await wait_for_status(client, ran.id, "completed")
        dry = as_json(taskboard("cleanup", "--older-than", "0", "--dry-run", "--url", server.url, "--json"))
        assert dry == {"wouldDelete": 1, "taskIds": [ran.id]}
        screen = in_terminal(f"{sys.executable} -m taskboard cleanup --older-than 0 --url {server.url}", answer="n\n")
        assert "Remove 1 task(s) finished over 0 h ago" in screen and "Nothing removed." in screen, screen
        assert (await client.get_task(ran.id)).status == "completed"
        screen = in_terminal(f"{sys.executable} -m taskboard cleanup --older-than 0 --url {server.url}", answer="y\n")
        assert "Removed 1 task(s)" in screen, screen
        assert [t["id"] for t in json.loads(taskboard("ls", "--url", server.url, "--json").stdout)] == [task.id]


def test_every_option_of_every_verb_says_what_it_is_for() -> None:
    from taskboard.cli import cli

    missing = [f"{name} {'/'.join(param.opts)}" for name, command in cli.commands.items()
               for param in command.params
               if isinstance(param, click.Option) and not param.hidden and not param.help]
    assert missing == []


async def test_log_columns_line_up_whatever_the_kind(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    async with TaskboardClient(server.url) as client:
        task = await client.spawn(title="reads files", params={"steps": 2, "stepSeconds": 0.01})
        await wait_for_status(client, task.id, "completed")
    shown = taskboard("logs", task.id, "--url", server.url).stdout.splitlines()
    kinds = {line.split()[1] for line in shown}
    assert {"tool_use", "tool_result", "assistant"} <= kinds, shown
    starts = {len(line) - len(line[9:].lstrip()[len(line.split()[1]):].lstrip()) for line in shown}
    assert len(starts) == 1, shown  # every message starts in the same column
