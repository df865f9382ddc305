"""The claude-code runtime with the real Claude Code CLI (from claude-agent-sdk's wheel), end to end.

Why these tests look like this (issue 21): a permission modal is only worth what stands behind it,
so every test here runs the real CLI, started by the real server (uvicorn on 127.0.0.1, port 0, a
temporary database), talking to a scripted Messages API stand-in (tests/contract/anthropic_messages)
and driven through the real client, the CLI verbs or the TUI. The CLI must never reach anything
but that stand-in: each test runs inside a loopback-only network namespace (tests/sealed.py), and
is skipped, saying why, where one cannot be made. The CLI is also told not to call home
(CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, DISABLE_AUTOUPDATER, DISABLE_TELEMETRY).

The callback window the CLI gives a permission callback was measured here: see PERMISSION_WINDOW in
backend/taskboard_backend/runtimes/claude_code.py. The test for an answer given after the window
shortens it with --claude-permission-window.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskboard.client import TaskboardClient
from taskboard.models import LogEntry
from tests import agents
from tests.agents import logs, pending
from tests.contract.anthropic_messages import Hold, MessagesStandIn, text, tool
from tests.helpers import FAST, wait_for_status, wait_until
from tests.sealed import interfaces, sealed
from tests.server import ServerProcess

pytest.importorskip("claude_agent_sdk", reason="the claude-code runtime needs taskboard[claude]")

KEY = "server-key-" + "s3cret" * 4  # the server's own API key: it must never reach the agent
MODEL = "claude-sonnet-4-5"  # priced by the CLI at $3 / $15 per million input / output tokens
QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"}


@pytest.fixture
def model() -> Iterator[MessagesStandIn]:
    """The sealed namespace for this test, and the stand-in listening inside it."""
    yield from agents.sealed_stand_in(MessagesStandIn)


@pytest.fixture
def claude_server(model: MessagesStandIn, tmp_path: Path,
                  start_server: Callable[..., ServerProcess]) -> Callable[..., ServerProcess]:
    def start(*args: str, db: Path | None = None) -> ServerProcess:
        env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model.url, "TASKBOARD_API_KEY": KEY,
               "CLOUD_TOKEN_OF_THE_SERVER": "do-not-leak", **QUIET}
        return start_server("--enable-claude", "--claude-model", MODEL, "--heartbeat", "0.5", *args,
                            db=db or tmp_path / "taskboard.db", env=env, timeout=30)

    return start


@pytest.fixture
async def board(claude_server: Callable[..., ServerProcess]) -> AsyncIterator[tuple[ServerProcess, TaskboardClient]]:
    server = claude_server()
    async with TaskboardClient(server.url, api_key=KEY) as client:
        yield server, client


async def run_task(client: TaskboardClient, title: str, **params: Any) -> str:
    return await agents.run_task(client, title, "claude-code", **params)


def workdir(server: ServerProcess, task_id: str) -> Path:
    return server.db_path.parent / "claude" / "work" / task_id


# ---------------------------------------------------------------------------------------------- listing


def test_the_sealed_namespace_reaches_nothing_but_loopback() -> None:
    """What every test here relies on: inside, an address off this machine is unreachable at once, and a
    process started inside (as the server and the CLI are) is inside too."""
    before = interfaces()
    with sealed():
        for address in ("1.1.1.1", "10.0.0.1"):
            with pytest.raises(OSError) as refused:
                socket.create_connection((address, 443), timeout=2)
            assert refused.value.errno == errno.ENETUNREACH
        child = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('1.1.1.1', 443), 2)"],
                               capture_output=True, text=True, check=False)
        assert child.returncode != 0 and "unreachable" in child.stderr
        assert interfaces() == ["lo"]
    assert interfaces() == before  # and the test's thread is back in its own namespace afterwards



async def test_runtimes_list_claude_code_and_say_why_it_is_off(start_server: Callable[..., ServerProcess]) -> None:
    off = start_server()
    async with TaskboardClient(off.url) as client:
        entry = next(r for r in await client.runtimes() if r.id == "claude-code")
        assert not entry.enabled and "--enable-claude" in entry.description
        task = await client.create_task(title="t", assigned_agent="claude-code")
        await client.queue(task.id)
        with pytest.raises(Exception, match="--enable-claude"):
            await client.execute(task.id)
    on = start_server("--enable-claude", "--demo", env={"ANTHROPIC_API_KEY": "sk-test"})
    async with TaskboardClient(on.url) as client:
        entries = [r for r in await client.runtimes() if r.id == "claude-code"]
        # Enabled, it is the real runtime, even with --demo (which maps the seed's other ids to demo).
        assert len(entries) == 1 and entries[0].enabled and entries[0].alias_of is None


async def test_with_demo_on_the_demo_never_runs_or_answers_a_real_agent(claude_server, model) -> None:
    """--demo starts tasks of the seed's agents and answers what nobody answered, to keep the board moving:
    with claude-code real, its tasks would spend the operator's money and its tool calls be allowed
    unattended. The demo's own tasks stay simulated, and a real agent's request waits for a person."""
    server = claude_server("--demo", "--demo-speed", "1000", "--concurrency", "16")
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task = await client.create_task(title="a real one", assigned_agent="claude-code")
        target = workdir(server, task.id) / "real.txt"
        model.script([tool("Write", {"file_path": str(target), "content": "x\n"})])
        await client.queue(task.id)
        await client.execute(task.id)
        request = await pending(client, task.id)

        async def demo_answered() -> bool:
            answered = await client.list_permissions("allowed", limit=500)
            return any(p.response_message and "Nobody answered" in p.response_message
                       and p.created_at >= request.created_at for p in answered)
        # A sweep that answered a request newer than ours found ours old enough too, and left it.
        await wait_until(demo_answered, timeout=60)
        assert [p.id for p in await client.list_permissions("pending", task_id=task.id)] == [request.id]
        # No demo task reached the real agent: every conversation it had is this task's.
        assert model.requests and all(any("a real one" in t for t in model.user_texts(body))
                                      for body in model.requests)
        assert not target.exists()


# ---------------------------------------------------------------------------------------------- permissions


async def test_deny_with_a_message_reaches_the_model_and_nothing_is_written(board, model) -> None:
    server, client = board
    task_id = await client.create_task(title="write notes", assigned_agent="claude-code")
    target = workdir(server, task_id.id) / "notes.txt"
    model.script([tool("Write", {"file_path": str(target), "content": "secret plans\n"})], [text("Understood.")])
    await client.queue(task_id.id)
    await client.execute(task_id.id)
    request = await pending(client, task_id.id)
    assert request.tool_name == "Write" and request.tool_input["file_path"] == str(target)
    await client.respond(task_id.id, request.id, "deny", message="not in this directory, please")
    done = await wait_for_status(client, task_id.id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert not target.exists()
    results = model.tool_results()
    assert len(results) == 1 and "not in this directory, please" in results[0]["text"]
    # The log tells the story: the session, the call (as a diff), its result, the answer, the end.
    lines = [(e.event_type, e.message) for e in await logs(client, task_id.id)]
    kinds = [kind for kind, _ in lines]
    assert any(k == "system" and m.startswith("Claude Code session ") and "model " in m for k, m in lines)
    call = next(m for k, m in lines if k == "tool_use")
    assert call.splitlines() == [f"Write {target} (1 lines)", "+secret plans"]
    assert any(k == "tool_result" and "not in this directory, please" in m for k, m in lines)
    assert ("assistant", "Understood.") in lines
    assert any(k == "system" and m.startswith("Claude Code finished") for k, m in lines)
    assert kinds.index("tool_use") < kinds.index("permission") < kinds.index("tool_result")
    assert (await client.get_output(task_id.id)).result == "Understood."


async def test_always_allow_lets_the_next_matching_call_through_and_a_different_one_still_asks(board, model) -> None:
    server, client = board
    task = await client.create_task(title="three files", assigned_agent="claude-code")
    here = workdir(server, task.id)
    calls = [("a.txt", "one\n"), ("b.txt", "two\n")]
    elsewhere = here / "sub" / "c.txt"  # not under the saved pattern: `*` stops at `/`
    model.script(*[[tool("Write", {"file_path": str(here / name), "content": body})] for name, body in calls],
                 [tool("Write", {"file_path": str(elsewhere), "content": "three\n"})], [text("All done.")])
    await client.queue(task.id)
    await client.execute(task.id)
    first = await pending(client, task.id)
    assert first.suggested_pattern == f"write:{here}/*"
    await client.respond(task.id, first.id, "allow", always_allow=True)
    second = await pending(client, task.id)
    assert second.tool_input["file_path"] == str(elsewhere)
    await client.respond(task.id, second.id, "deny", message="not there")
    await wait_for_status(client, task.id, "completed", timeout=60)
    assert (here / "a.txt").read_text() == "one\n" and (here / "b.txt").read_text() == "two\n"
    assert not elsewhere.exists()
    answered = await client.list_permissions(None, task_id=task.id)
    decided = sorted((p.tool_input["file_path"].rsplit("/", 1)[-1], p.decided_by) for p in answered)
    assert decided == [("a.txt", "user"), ("b.txt", "rule"), ("c.txt", "user")]


async def test_allow_with_edited_input_writes_the_edited_content(board, model) -> None:
    server, client = board
    task = await client.create_task(title="edit me", assigned_agent="claude-code")
    target = workdir(server, task.id) / "out.txt"
    model.script([tool("Write", {"file_path": str(target), "content": "draft\n"})])
    await client.queue(task.id)
    await client.execute(task.id)
    request = await pending(client, task.id)
    await client.respond(task.id, request.id, "allow", updated_input={"content": "reviewed\n"})
    await wait_for_status(client, task.id, "completed", timeout=60)
    assert target.read_text() == "reviewed\n"


async def test_an_answer_after_the_callback_window_resumes_the_session_and_writes_once(claude_server, model) -> None:
    server = claude_server("--claude-permission-window", "1", "--concurrency", "1")
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task = await client.create_task(title="slow approval", assigned_agent="claude-code")
        target = workdir(server, task.id) / "late.txt"
        write = {"file_path": str(target), "content": "approved late\n"}
        # The model asks to write; the run parks (its turn ends with no further request); told it was
        # approved, the model makes the same call again.
        model.script([tool("Write", write)], [tool("Write", write)], [text("Written.")])
        await client.queue(task.id)
        await client.execute(task.id)
        request = await pending(client, task.id)

        async def parked() -> bool:
            return any("Waiting for approval" in e.message for e in await _log_so_far(client, task.id))
        await wait_until(parked, timeout=60)
        waiting = await client.get_task(task.id)
        assert waiting.status == "running" and waiting.pending_permissions == 1
        assert waiting.progress is not None and waiting.progress.phase == "waiting for approval"
        assert not target.exists()
        # Nothing runs while it waits, so it holds no runner slot: another task runs meanwhile (one slot).
        other = await client.create_task(title="meanwhile", params=FAST)
        await client.queue(other.id)
        await client.execute(other.id)
        await wait_for_status(client, other.id, "completed", timeout=30)
        await client.respond(task.id, request.id, "allow")
        done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert target.read_text() == "approved late\n"
        assert_charged_per_run(done)
        assert done.resume_count == 0
        assert len(await client.list_permissions(None, task_id=task.id)) == 1  # asked once
        written = [r for r in model.tool_results() if "File created successfully" in r["text"]]
        assert len(written) == 1
        # The resumed conversation is the same session: the model saw its first call in the history.
        last = model.requests[-1]
        assert sum(1 for m in last["messages"] if m["role"] == "assistant") >= 3


async def test_a_parked_run_survives_a_server_restart_and_carries_on_when_answered(claude_server, model) -> None:
    server = claude_server("--claude-permission-window", "1")
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task = await client.create_task(title="approved after a restart", assigned_agent="claude-code")
        target = workdir(server, task.id) / "after-restart.txt"
        write = {"file_path": str(target), "content": "still wanted\n"}
        model.script([tool("Write", write)], [tool("Write", write)], [text("Written after the restart.")])
        await client.queue(task.id)
        await client.execute(task.id)
        request = await pending(client, task.id)

        async def parked() -> bool:
            progress = (await client.get_task(task.id)).progress
            return progress is not None and progress.phase == "waiting for approval"
        await wait_until(parked, timeout=60)
    server.kill()  # SIGKILL: nothing of the server's shutdown runs
    server.start(timeout=30)
    async with TaskboardClient(server.url, api_key=KEY) as client:
        waiting = await client.get_task(task.id)
        assert waiting.status == "running" and waiting.pending_permissions == 1, waiting.error
        assert [p.id for p in await client.list_permissions("pending", task_id=task.id)] == [request.id]
        await client.respond(task.id, request.id, "allow")
        done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert done.resume_count == 0
        assert target.read_text() == "still wanted\n"
        assert_charged_per_run(done)
        assert len([r for r in model.tool_results() if "File created successfully" in r["text"]]) == 1
        assert len(await client.list_permissions(None, task_id=task.id)) == 1


def assert_charged_per_run(task: Any) -> None:
    """The ledger holds what each run cost, not the session's running total again for every run: the CLI
    prices MODEL at $3 / $15 per million input / output tokens, so the sum of the runs' costs is what
    their tokens cost (a resumed session's total_cost_usd includes the earlier runs')."""
    usage = task.usage
    assert usage is not None and usage.cost_micros > 0 and usage.model_id == MODEL
    assert abs(usage.cost_micros - (usage.input_tokens * 3 + usage.output_tokens * 15)) <= 2


async def _log_so_far(client: TaskboardClient, task_id: str) -> list[LogEntry]:
    out: list[LogEntry] = []

    async def read() -> None:
        async for entry in client.stream_logs(task_id, reconnect=False):
            out.append(entry)
    with contextlib_suppress_timeout():
        await asyncio.wait_for(read(), 0.5)
    return out


class contextlib_suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, TimeoutError | asyncio.TimeoutError)


async def test_max_turns_is_passed_to_the_agent_and_ends_the_run(board, model) -> None:
    server, client = board
    await client.create_rule(f"write:{server.db_path.parent}/**", "allow")  # not every path: not broad
    task = await client.create_task(title="too many turns", assigned_agent="claude-code", params={"maxTurns": 1})
    here = workdir(server, task.id)
    model.script(*[[tool("Write", {"file_path": str(here / f"{n}.txt"), "content": "x\n"})] for n in range(5)])
    await client.queue(task.id)
    await client.execute(task.id)
    done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
    assert done.status == "failed" and "max_turns" in (done.error or ""), done.error
    assert len(model.requests) <= 2  # stopped after its one turn, not after five
    assert done.usage is not None and done.usage.cost_micros > 0  # what it spent is still charged


async def test_the_budget_is_passed_to_the_agent_and_held_by_the_ledger(board, model) -> None:
    server, client = board
    await client.create_rule(f"write:{server.db_path.parent}/**", "allow")  # not every path: not broad
    task = await client.create_task(title="over budget", assigned_agent="claude-code",
                                    params={"maxBudgetUsd": 0.01})
    here = workdir(server, task.id)
    model.script(*[[tool("Write", {"file_path": str(here / f"{n}.txt"), "content": "x\n"})] for n in range(5)])
    await client.queue(task.id)
    await client.execute(task.id)
    done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
    assert done.status == "failed" and "budget" in (done.error or "").lower(), done.error
    assert len(model.requests) <= 2
    assert done.usage is not None and done.usage.cost_micros > 10_000  # each request costs ~$0.05 here


async def test_a_project_working_directory_inside_an_allowed_root_and_a_cwd_outside_every_root(
        claude_server, model, tmp_path: Path) -> None:
    root = tmp_path / "repos"
    (root / "app").mkdir(parents=True)
    server = claude_server("--claude-root", str(root))
    async with TaskboardClient(server.url, api_key=KEY) as client:
        await client.create_rule(f"write:{server.db_path.parent}/**", "allow")  # not every path: not broad
        project = await client.create_project("app", working_directory=str(root / "app"))
        assert (await client.get_project(project.id)).working_directory == str(root / "app")
        model.script([tool("Write", {"file_path": "notes.md", "content": "relative\n"})], [text("ok")])
        task = await client.create_task(title="in the project", assigned_agent="claude-code", project_id=project.id)
        await client.queue(task.id)
        await client.execute(task.id)
        done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert (root / "app" / "notes.md").read_text() == "relative\n"  # the CLI worked in the project's dir

        sent = len(model.requests)
        outside = await run_task(client, "escape", cwd=str(tmp_path))
        failed = await wait_for_status(client, outside, "failed", "completed", timeout=60)
        assert failed.status == "failed" and "outside the allowed roots" in (failed.error or "")
        assert len(model.requests) == sent  # refused before any agent started


# ---------------------------------------------------------------------------------------------- questions


async def test_a_question_waits_for_taskboard_msg_and_the_answer_reaches_the_model(board, model) -> None:
    server, client = board
    question = {"questions": [{"question": "Which colour should the banner be?", "header": "Colour",
                               "options": [{"label": "Blue", "description": "calm"},
                                           {"label": "Red", "description": "bold"}],
                               "multiSelect": False}]}
    model.script([tool("AskUserQuestion", question)], [text("Blue it is.")])
    task_id = await run_task(client, "pick a colour")
    asking = await wait_for_status(client, task_id, "awaiting_input", timeout=60)
    assert asking.status == "awaiting_input"
    messages = await client.list_messages(task_id)
    assert "Which colour should the banner be?" in messages[-1].message and "2. Red" in messages[-1].message
    answered = agents.cli(server.url, KEY, "msg", task_id, "2")
    assert answered.returncode == 0, answered.stderr
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    results = model.tool_results()
    assert len(results) == 1 and "Red" in results[0]["text"]


# ---------------------------------------------------------------------------------------------- cancel, resume, crash


def _pids_with(marker: str) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline and stat[stat.rfind(b")") + 2:][:1] != b"Z":
            pids.append(int(entry.name))
    return pids


def _pids_in(directory: str) -> list[int]:
    """Processes (not zombies) whose working directory is `directory`."""
    found = []
    for pid in _pids_with(""):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == directory:
                found.append(pid)
        except OSError:
            continue
    return found


async def test_cancel_during_a_long_bash_ends_its_processes_within_a_second_and_resume_continues(board, model) -> None:
    _server, client = board
    marker = f"marker-{os.getpid()}-{time.monotonic_ns()}"  # on the command line of this test's tool alone
    command = f"python3 -c \"__import__('time').sleep(600)\" {marker}"
    await client.create_rule(f"bash:{command}", "allow")  # this command alone
    model.script([tool("Bash", {"command": command, "description": "wait a long time"})], [text("Resumed fine.")])
    task_id = await run_task(client, "long bash")
    await wait_until(lambda: asyncio.sleep(0, _pids_with(marker)), timeout=60)
    started = time.monotonic()
    await client.cancel(task_id)
    await wait_for_status(client, task_id, "cancelled")
    while _pids_with(marker) and time.monotonic() - started < 1.0:
        await asyncio.sleep(0.02)
    assert not _pids_with(marker), "the Bash tool's process outlived the cancel by more than a second"
    first_session = [r for r in model.requests]
    await client.resume(task_id)
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert done.result == "Resumed fine."
    # The resumed run is the same session: the model was sent the first run's Bash call again.
    resumed = model.requests[len(first_session):]
    assert resumed and any(
        isinstance(m.get("content"), list) and any(b.get("type") == "tool_use" and b.get("name") == "Bash"
                                                   for b in m["content"] if isinstance(b, dict))
        for m in resumed[-1]["messages"])


async def test_what_a_tool_left_running_ends_with_the_run(board, model) -> None:
    _server, client = board
    marker = f"leftover-{os.getpid()}-{time.monotonic_ns()}"
    command = f"(python3 -c \"__import__('time').sleep(600)\" {marker} > /dev/null 2>&1 &)"
    model.script([tool("Bash", {"command": command, "description": "start something and leave"})], [text("Left.")])
    task_id = await run_task(client, "leaves a process behind")
    request = await pending(client, task_id)
    await client.respond(task_id, request.id, "allow")
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert not _pids_with(marker), "a process the agent's tool left behind outlived the run"


async def test_sigkill_of_the_server_leaves_the_task_failed_and_resumable(claude_server, model) -> None:
    server = claude_server()
    hold = Hold(then=[text("never sent")])
    model.script(hold, [text("Finished after the crash.")])
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task_id = await run_task(client, "crash in the middle")
        await asyncio.to_thread(hold.started.wait, 60)
    here = str(workdir(server, task_id))
    assert _pids_in(here), "the CLI should be working in the task's directory"
    server.kill()
    # Nobody watches the agent any more: it ends with the server (PR_SET_PDEATHSIG in agent_exec).
    deadline = time.monotonic() + 3
    while _pids_in(here) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _pids_in(here), "the CLI outlived the server that was watching it"
    hold.release()
    server.start(timeout=30)
    async with TaskboardClient(server.url, api_key=KEY) as client:
        failed = await client.get_task(task_id)
        assert failed.status == "failed" and "Interrupted" in (failed.error or "")
        await client.resume(task_id)
        done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert done.result == "Finished after the crash."
        # The same session: the resumed run's request carries the first run's prompt (the title) in its history,
        # and its own prompt says it was interrupted.
        texts = model.user_texts()
        assert any("crash in the middle" in t for t in texts) and any("interrupted" in t for t in texts)


# ---------------------------------------------------------------------------------------------- environment


async def test_the_cli_environment_holds_none_of_the_servers_secrets(board, model) -> None:
    server, client = board
    await client.create_rule("bash:env", "allow")
    model.script([tool("Bash", {"command": "env", "description": "print the environment"})], [text("ok")])
    task_id = await run_task(client, "show env")
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    printed = model.tool_results()[0]["text"]
    assert "ANTHROPIC_BASE_URL=" + model.url in printed  # the operator's Anthropic settings pass
    assert f"HOME={server.db_path.parent / 'claude' / 'home'}" in printed
    for secret in (KEY, "do-not-leak", "TASKBOARD_API_KEY"):
        assert secret not in printed
