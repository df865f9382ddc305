"""A real Claude Code agent's Write call allowed, and its question answered, from the board by keys (issue 21).

Why: the permission modal is only worth what stands behind it. Here the real CLI (claude-agent-sdk's
wheel), started by the real server, asks to write a file through its tool-permission callback; the
request reaches the board, whose modal a person answers with `a`; the CLI then writes the file in the
task's own directory, the run completes with its cost, model and tokens in the ledger, and the
output is on screen. Sealed in a loopback-only network namespace (tests/sealed.py) with a scripted
Messages API stand-in (tests/contract/anthropic_messages.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from taskboard.client import TaskboardClient
from taskboard.tui.app import make_app
from taskboard.tui.screens.message import MessageScreen
from tests.contract.anthropic_messages import MessagesStandIn, text, tool
from tests.helpers import wait_for_status
from tests.sealed import sealed
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, permission_modal, until

pytest.importorskip("claude_agent_sdk", reason="the claude-code runtime needs taskboard[claude]")

QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"}


async def test_a_write_call_allowed_from_the_board_is_written_and_the_run_completes(tmp_path: Path) -> None:
    with sealed():
        model = MessagesStandIn()
        server = ServerProcess(tmp_path / "taskboard.db", "--enable-claude", "--heartbeat", "0.5",
                               env={"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model.url, **QUIET})
        try:
            server.start(timeout=30)
            async with TaskboardClient(server.url) as client:
                task = await client.create_task(title="write the report", assigned_agent="claude-code")
                target = tmp_path / "claude" / "work" / task.id / "report.md"
                model.script([tool("Write", {"file_path": str(target), "content": "# Report\n\nAll good.\n"})],
                             [text("The report is written.")])
                await client.queue(task.id)
                async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
                    app = await loaded(pilot, task.id)
                    await client.execute(task.id)
                    # It opened by itself: its keys take effect once the person has had a moment to read it.
                    screen = await permission_modal(pilot)
                    assert screen.request.tool_name == "Write"
                    assert screen.request.tool_input["file_path"] == str(target)
                    assert not target.exists()
                    await pilot.press("a")
                    done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
                    assert done.status == "completed", done.error
                    assert target.read_text() == "# Report\n\nAll good.\n"
                    assert done.result == "The report is written."
                    assert done.usage is not None and done.usage.cost_micros > 0
                    assert done.usage.model_id and done.usage.model_id.startswith("claude-")
                    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
                    await until(pilot, lambda: "The report is written." in app.detail.text, timeout=20,
                                what="the output in the detail pane")
                answered = await client.list_permissions(None, task_id=task.id)
                assert [(p.status, p.decided_by) for p in answered] == [("allowed", "user")]
        finally:
            server.stop()
            model.close()


async def test_a_question_from_the_agent_is_answered_with_m_and_reaches_it(tmp_path: Path) -> None:
    question = {"questions": [{"question": "Which region?", "header": "Region", "multiSelect": False,
                               "options": [{"label": "eu-west-1", "description": "Ireland"},
                                           {"label": "us-east-1", "description": "Virginia"}]}]}
    with sealed():
        model = MessagesStandIn()
        server = ServerProcess(tmp_path / "taskboard.db", "--enable-claude", "--heartbeat", "0.5",
                               env={"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model.url, **QUIET})
        try:
            server.start(timeout=30)
            async with TaskboardClient(server.url) as client:
                model.script([tool("AskUserQuestion", question)], [text("Deploying to Ireland.")])
                task = await client.create_task(title="deploy", assigned_agent="claude-code")
                await client.queue(task.id)
                await client.execute(task.id)
                await wait_for_status(client, task.id, "awaiting_input", timeout=60)
                async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
                    app = await loaded(pilot, task.id)
                    await pilot.press("m")
                    screen = await until(pilot, lambda: isinstance(app.screen, MessageScreen) and app.screen,
                                         what="the message dialog")
                    assert "Which region?" in screen.question and "1. eu-west-1" in screen.question
                    await pilot.press("1", "enter")
                    done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
                    assert done.status == "completed", done.error
                answers = [r["text"] for r in model.tool_results()]
                assert len(answers) == 1 and "eu-west-1" in answers[0]
        finally:
            server.stop()
            model.close()
