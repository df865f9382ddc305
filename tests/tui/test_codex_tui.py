"""A real Codex agent's command and file change approved from the board by keys, its diff in the detail pane
(issue 22).

Why: the approvals are only worth what stands behind them. Here the real `codex app-server` (from npm,
tests/codex_cli.py), started by the real server, asks to run a command outside its sandbox and then to
write a file outside its writable roots; each request reaches the board, whose modal a person answers
with `a`; codex runs the command and applies the patch, and the turn's diff (`turn/diff/updated`)
appears in the detail pane. Sealed in a loopback-only network namespace (tests/sealed.py) with a
scripted Responses API stand-in (tests/contract/openai_responses.py).
"""

from __future__ import annotations

from pathlib import Path

from taskboard.client import TaskboardClient
from taskboard.tui.app import make_app
from tests.codex_cli import codex_wrapper
from tests.contract.openai_responses import MODEL, ResponsesStandIn, add_file_patch, apply_patch, exec_command, message
from tests.helpers import wait_for_status
from tests.sealed import sealed
from tests.server import ServerProcess
from tests.tui.pilot import SIZE, loaded, permission_modal, until


async def test_a_command_and_a_file_change_allowed_by_keys_run_and_the_diff_is_shown(tmp_path: Path) -> None:
    codex = codex_wrapper()
    ran = tmp_path / "ran.txt"
    outside = tmp_path / "elsewhere"  # outside the task's workspace, and /tmp is not writable for codex
    outside.mkdir()
    report = outside / "report.md"
    with sealed():
        model = ResponsesStandIn()
        server = ServerProcess(tmp_path / "taskboard.db", "--enable-codex", "--codex-path", str(codex),
                               "--codex-model", MODEL, "--heartbeat", "0.5",
                               env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.url})
        try:
            server.start(timeout=30)
            model.script([exec_command(f"echo ran > {ran}", sandbox_permissions="require_escalated",
                                       justification="record that it ran")],
                         [apply_patch(add_file_patch(str(report), ["# Report", "", "All good."]))],
                         [message("Both done.")])
            async with TaskboardClient(server.url) as client:
                task = await client.create_task(title="run and report", assigned_agent="openai-codex-app-server")
                await client.queue(task.id)
                async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
                    app = await loaded(pilot, task.id)
                    await client.execute(task.id)
                    screen = await permission_modal(pilot)
                    assert screen.request.tool_name == "Bash"
                    assert screen.request.tool_input["command"] == f"echo ran > {ran}"
                    assert screen.request.message == "record that it ran"
                    assert not ran.exists()
                    await pilot.press("a")
                    patch = await permission_modal(pilot, other_than=screen)
                    assert ran.read_text() == "ran\n"  # allowed, it ran
                    assert patch.request.tool_name == "Write"
                    assert patch.request.tool_input["file_path"] == str(report)
                    assert "+# Report" in patch.request.tool_input["diff"]
                    assert not report.exists()
                    await pilot.press("a")
                    done = await wait_for_status(client, task.id, "completed", "failed", timeout=60)
                    assert done.status == "completed", done.error
                    assert report.read_text() == "# Report\n\nAll good.\n"
                    assert done.diff is not None and f"+++ b/{report}" in done.diff  # codex writes b/ + the absolute path
                    await until(pilot, lambda: all(part in app.detail.text for part in (
                        "diff (1 file)", "+All good.", "Both done.")), timeout=20,
                        what="the turn's diff and the output in the detail pane")
                    text = app.detail.text
                    assert text.index("+# Report") < text.index("+All good.") < text.index("Both done.")
                answered = await client.list_permissions(None, task_id=task.id)
                assert sorted((p.tool_name, p.status, p.decided_by) for p in answered) == [
                    ("Bash", "allowed", "user"), ("Write", "allowed", "user")]
        finally:
            server.stop()
            model.close()
