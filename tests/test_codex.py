"""The openai-codex-app-server runtime with the real Codex binary (from npm), end to end.

Why these tests look like this (issue 22): as for Claude Code, an approval on the board is only worth
what stands behind it, so every test here runs the real `codex app-server` (installed by
tests/codex_cli.py from tests/codex/package.json, pinned), started by the real server (uvicorn on
127.0.0.1, port 0, a temporary database) and driven through the real client or the CLI verbs, talking
to a scripted OpenAI Responses API stand-in (tests/contract/openai_responses.py). Codex must never reach
anything but that stand-in: each test runs inside a loopback-only network namespace (tests/sealed.py),
and the runtime's config.toml turns off everything that would call elsewhere.

Commands are scripted with `sandbox_permissions: "require_escalated"` (the model asking to run outside
the sandbox) or write outside the writable roots, since with on-request + workspace-write codex asks
only for those: inside the workspace it runs sandboxed without a request.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskboard.client import TaskboardClient
from tests import agents
from tests.agents import logs, pending
from tests.codex_cli import codex_wrapper
from tests.contract.openai_responses import (
    MODEL,
    Hold,
    ResponsesStandIn,
    add_file_patch,
    apply_patch,
    exec_command,
    function_call,
    message,
)
from tests.helpers import wait_for_status, wait_until
from tests.server import ServerProcess

KEY = "server-key-" + "s3cret" * 4  # the server's own API key: it must never reach the agent
OPENAI_KEY = "sk-openai-" + "k3y" * 6  # the operator's provider key: codex gets it, its tools do not
PRICE = (2.0, 8.0)  # USD per million input / output tokens, given with --codex-price
AGENT = "openai-codex-app-server"


@pytest.fixture(scope="session")
def codex() -> Path:
    return codex_wrapper()


@pytest.fixture
def model() -> Iterator[ResponsesStandIn]:
    """The sealed namespace for this test, and the stand-in listening inside it."""
    yield from agents.sealed_stand_in(ResponsesStandIn)


@pytest.fixture
def codex_server(model: ResponsesStandIn, codex: Path, tmp_path: Path,
                 start_server: Callable[..., ServerProcess]) -> Callable[..., ServerProcess]:
    def start(*args: str, db: Path | None = None) -> ServerProcess:
        env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": model.url, "TASKBOARD_API_KEY": KEY,
               "CLOUD_TOKEN_OF_THE_SERVER": "do-not-leak"}
        return start_server("--enable-codex", "--codex-path", str(codex), "--codex-model", MODEL,
                            "--codex-price", f"{MODEL}={PRICE[0]},{PRICE[1]}", "--heartbeat", "0.5", *args,
                            db=db or tmp_path / "taskboard.db", env=env, timeout=30)

    return start


@pytest.fixture
async def board(codex_server: Callable[..., ServerProcess]) -> AsyncIterator[tuple[ServerProcess, TaskboardClient]]:
    server = codex_server()
    async with TaskboardClient(server.url, api_key=KEY) as client:
        yield server, client


async def run_task(client: TaskboardClient, title: str, **params: Any) -> str:
    return await agents.run_task(client, title, AGENT, **params)


def workdir(server: ServerProcess, task_id: str) -> Path:
    return server.db_path.parent / "codex" / "work" / task_id


def escalated(command: str) -> dict[str, Any]:
    return exec_command(command, sandbox_permissions="require_escalated", justification="needs to write outside")


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return agents.cli(server.url, KEY, *args)


def codex_pids(directory: Path) -> list[int]:
    """The codex processes (not zombies) working in `directory`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/cwd") != str(directory):
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if argv and argv[0].endswith(b"/codex") and stat[stat.rfind(b")") + 2:][:1] != b"Z":
            found.append(int(entry.name))
    return found


async def exited(pid: int, timeout: float) -> bool:
    """Whether process `pid` ends within `timeout` seconds: awaited on its pidfd, which the kernel makes
    readable when the process exits (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(True))
    try:
        async with asyncio.timeout(timeout):
            await gone
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def assert_priced(task: Any, model: ResponsesStandIn) -> None:
    """The ledger holds exactly the tokens the model reported, priced from --codex-price."""
    usage = task.usage
    sent_in = sum(u["input_tokens"] for u in model.usages)
    sent_out = sum(u["output_tokens"] for u in model.usages)
    assert usage is not None and usage.model_id == MODEL
    assert (usage.input_tokens, usage.output_tokens) == (sent_in, sent_out)
    assert usage.cost_micros == round(sent_in * PRICE[0] + sent_out * PRICE[1])


# ---------------------------------------------------------------------------------------------- set-up


async def test_off_unless_enabled_and_says_how(start_server: Callable[..., ServerProcess], codex: Path) -> None:
    off = start_server()
    async with TaskboardClient(off.url) as client:
        entry = next(r for r in await client.runtimes() if r.id == AGENT)
        assert not entry.enabled and "--enable-codex" in entry.description
        task = await client.create_task(title="t", assigned_agent=AGENT)
        await client.queue(task.id)
        with pytest.raises(Exception, match="--enable-codex"):
            await client.execute(task.id)
    on = start_server("--enable-codex", "--codex-path", str(codex), env={"OPENAI_API_KEY": "sk-test"})
    async with TaskboardClient(on.url) as client:
        entries = [r for r in await client.runtimes() if r.id == AGENT]
        assert len(entries) == 1 and entries[0].enabled and entries[0].alias_of is None
    bad = subprocess.run([sys.executable, "-m", "taskboard", "serve", "--enable-codex", "--codex-price", "gpt=x"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "--codex-price" in bad.stderr and "numbers" in bad.stderr


async def test_the_agent_gets_none_of_the_servers_secrets_and_works_offline(board, model) -> None:
    server, client = board
    model.script([exec_command("env")], [message("ok")])
    task_id = await run_task(client, "show env")
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    printed = model.tool_outputs()[0]["text"]
    assert f"HOME={server.db_path.parent / 'codex' / 'home'}" in printed  # ran, sandboxed, with no request
    for secret in (KEY, "do-not-leak", "TASKBOARD_API_KEY", OPENAI_KEY):
        assert secret not in printed
    # The provider key reached codex itself (it authenticated with it), and nothing but the stand-in was called.
    assert {h.get("authorization") for h in model.headers} == {f"Bearer {OPENAI_KEY}"}
    assert {p.split("?")[0] for p in model.paths} == {"POST /v1/responses"}
    # The log has the command and what it printed (the output codex streamed as it ran).
    lines = [(e.event_type, e.message) for e in await logs(client, task_id)]
    assert ("tool_use", "$ env") in lines
    printed_line = next(m for k, m in lines if k == "tool_result")
    assert printed_line.startswith("exit 0\n") and "HOME=" in printed_line and OPENAI_KEY not in printed_line
    config = (server.db_path.parent / "codex" / "home" / "config.toml").read_text()
    assert f'base_url = "{model.url}"' in config and 'approval_policy = "on-request"' in config


async def test_a_cwd_outside_every_root_is_refused_before_codex_starts(board, model, tmp_path: Path) -> None:
    _server, client = board
    task_id = await run_task(client, "escape", cwd=str(tmp_path))
    failed = await wait_for_status(client, task_id, "failed", "completed", timeout=30)
    assert failed.status == "failed" and "outside the allowed roots" in (failed.error or "")
    assert model.requests == []


# ---------------------------------------------------------------------------------------------- approvals


async def test_a_command_declined_from_the_cli_does_not_run_and_the_model_is_told(board, model, tmp_path) -> None:
    server, client = board
    marker = tmp_path / "declined.txt"
    model.script([escalated(f"touch {marker}")], [message("Understood, I will not.")])
    task_id = await run_task(client, "touch a file outside")
    request = await pending(client, task_id)
    assert request.tool_name == "Bash"
    assert request.tool_input == {"command": f"touch {marker}", "cwd": str(workdir(server, task_id))}
    assert request.message == "needs to write outside"
    denied = cli(server, "deny", task_id, "-m", "not outside the workspace, please")
    assert denied.returncode == 0, denied.stderr
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert not marker.exists()
    # The model's next request carried the refusal as the call's output, and the person's reason.
    after = model.requests[1]
    output = model.tool_outputs(after)[0]["text"]
    assert "rejected by user" in output, output  # codex 0.171.0: exec_command failed: ... Rejected("rejected by user")
    assert any("not outside the workspace, please" in t for t in model.user_texts(after))
    lines = [(e.event_type, e.message) for e in await logs(client, task_id)]
    assert ("tool_use", f"$ touch {marker}") in lines
    assert ("assistant", "Understood, I will not.") in lines
    assert (await client.get_output(task_id)).result == "Understood, I will not."
    assert_priced(await client.get_task(task_id), model)


async def test_always_allow_lets_the_identical_command_run_with_no_request(board, model, tmp_path) -> None:
    _server, client = board
    target = tmp_path / "log.txt"
    command = f"echo line >> {target}"
    model.script([escalated(command)], [escalated(command)], [message("Twice.")])
    task_id = await run_task(client, "append twice")
    first = await pending(client, task_id)
    await client.respond(task_id, first.id, "allow", always_allow=True)
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert target.read_text() == "line\nline\n"
    assert [p.id for p in await client.list_permissions(None, task_id=task_id)] == [first.id]
    # The saved rule holds for the next run too (a new codex, which never heard of this one's answer).
    model.script([escalated(command)], [message("Once more.")])
    again = await run_task(client, "append again")
    assert (await wait_for_status(client, again, "completed", "failed", timeout=60)).status == "completed"
    assert target.read_text() == "line\nline\nline\n"
    assert [p.decided_by for p in await client.list_permissions(None, task_id=again)] == ["rule"]


async def test_a_rule_for_one_path_does_not_let_a_patch_touch_another(board, model, tmp_path) -> None:
    """A patch over several files is one approval: a rule that covers one of its paths must not pass the rest."""
    _server, client = board
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    await client.create_rule(f"write:{allowed}/*", "allow")
    patch = "\n".join([*add_file_patch(str(allowed / "a.txt"), ["fine"]).splitlines()[:-1],
                       f"*** Add File: {other / 'b.txt'}", "+sneaky", "*** End Patch"])
    model.script([apply_patch(patch)], [message("ok")])
    task_id = await run_task(client, "two files")
    request = await pending(client, task_id)  # asked, not allowed by the rule
    assert request.tool_name == "apply_patch"
    assert request.tool_input["files"] == [str(allowed / "a.txt"), str(other / "b.txt")]
    await client.respond(task_id, request.id, "deny")
    assert (await wait_for_status(client, task_id, "completed", "failed", timeout=60)).status == "completed"
    assert not (allowed / "a.txt").exists() and not (other / "b.txt").exists()


async def test_an_allow_with_edited_input_never_runs_the_original(board, model, tmp_path) -> None:
    """Codex cannot run another command than the one it asked about: an edited allow declines it, and the
    model is told what the person would allow instead."""
    _server, client = board
    marker = tmp_path / "original.txt"
    model.script([escalated(f"touch {marker}")], [message("I will ask again.")])
    task_id = await run_task(client, "edited")
    request = await pending(client, task_id)
    await client.respond(task_id, request.id, "allow", updated_input={"command": "echo safer"})
    assert (await wait_for_status(client, task_id, "completed", "failed", timeout=60)).status == "completed"
    assert not marker.exists()
    assert any("echo safer" in t for t in model.user_texts(model.requests[1]))


async def test_an_answer_after_the_window_resumes_the_thread_and_runs_once(codex_server, model, tmp_path) -> None:
    server = codex_server("--codex-permission-window", "1")
    marker = tmp_path / "late.txt"
    command = f"echo late >> {marker}"
    # The model asks; the run parks (the turn ends at once, codex goes); told it was approved, it asks again.
    model.script([escalated(command)], [escalated(command)], [message("Done late.")])
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task_id = await run_task(client, "slow approval")
        request = await pending(client, task_id)

        async def parked() -> bool:
            progress = (await client.get_task(task_id)).progress
            return progress is not None and progress.phase == "waiting for approval"
        await wait_until(parked, timeout=30)
        assert not codex_pids(workdir(server, task_id)), "a parked run keeps no codex process"
        assert not marker.exists()
        await client.respond(task_id, request.id, "allow")
        done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert marker.read_text() == "late\n"
        assert len(await client.list_permissions(None, task_id=task_id)) == 1  # asked once
        assert any("has now been approved" in t for t in model.user_texts())  # the same thread, resumed
        assert any("slow approval" in t for t in model.user_texts())
        assert_priced(done, model)  # each model call charged once, across the two codex processes


# ---------------------------------------------------------------------------------------------- questions


async def test_a_question_waits_for_taskboard_msg_and_the_answer_reaches_the_model(board, model) -> None:
    server, client = board
    question = {"questions": [{"id": "region", "header": "Region", "question": "Which region?",
                               "options": [{"label": "eu-west-1", "description": "Ireland"},
                                           {"label": "us-east-1", "description": "Virginia"}]}]}
    model.script([function_call("request_user_input", question)], [message("Ireland it is.")])
    task_id = await run_task(client, "pick a region")
    await wait_for_status(client, task_id, "awaiting_input", timeout=60)
    asked = (await client.list_messages(task_id))[-1].message
    assert "Which region?" in asked and "2. us-east-1" in asked
    answered = cli(server, "msg", task_id, "1")
    assert answered.returncode == 0, answered.stderr
    done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
    assert done.status == "completed", done.error
    assert '"answers":["eu-west-1"]' in model.tool_outputs()[0]["text"].replace(" ", "")


# ---------------------------------------------------------------------------------------------- cancel, crash


async def test_cancel_interrupts_a_stalled_turn_within_a_second(board, model) -> None:
    server, client = board
    hold = Hold()
    model.script(hold)
    task_id = await run_task(client, "think for ever")
    assert await asyncio.to_thread(hold.started.wait, 30)
    [pid] = codex_pids(workdir(server, task_id))
    started = time.monotonic()
    await client.cancel(task_id)
    # turn/interrupt: codex drops its model call, and its process ends, within a second of the cancel.
    assert await asyncio.to_thread(hold.cut.wait, 1.0), "the stalled model call was not dropped within 1 s"
    assert await exited(pid, max(0.0, 1.0 - (time.monotonic() - started))), "codex outlived the cancel by 1 s"
    assert (await client.get_task(task_id)).status == "cancelled"


async def test_resume_after_a_server_sigkill_replays_the_thread(codex_server, model) -> None:
    server = codex_server()
    hold = Hold(then=[message("never sent")])
    model.script(hold, [message("Finished after the crash.")])
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task_id = await run_task(client, "crash in the middle")
        assert await asyncio.to_thread(hold.started.wait, 30)
    [pid] = codex_pids(workdir(server, task_id))
    server.kill()  # SIGKILL: nothing of the server's shutdown runs
    assert await exited(pid, 3.0), "codex outlived the server that was watching it"
    server.start(timeout=30)
    async with TaskboardClient(server.url, api_key=KEY) as client:
        failed = await client.get_task(task_id)
        assert failed.status == "failed" and "Interrupted" in (failed.error or "")
        await client.resume(task_id)
        done = await wait_for_status(client, task_id, "completed", "failed", timeout=60)
        assert done.status == "completed", done.error
        assert done.result == "Finished after the crash."
        # thread/resume: the new codex sent the first turn's prompt again, as history, before its own.
        texts = model.user_texts()
        assert any("crash in the middle" in t for t in texts) and any("interrupted" in t for t in texts)
        assert texts.index(next(t for t in texts if "crash in the middle" in t)) < len(texts) - 1
        assert_priced(done, model)  # the call cut by the crash never completed: nothing charged for it

