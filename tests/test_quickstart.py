"""Seed 001's Quick Start, through the real client against the real server."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from taskboard.client import TaskboardClient
from taskboard.models import TaskStatus
from tests.helpers import FAST, wait_for_status


async def test_quick_start_with_the_demo_runtime(client: TaskboardClient) -> None:
    # 1. Create: starts planned, with the seed's fields echoed back.
    task = await client.create_task(title="Analyze Q4 revenue trends",
                                    description="Review revenue data and produce a summary report with charts",
                                    project_id="proj-8f3a-4b2c", priority=1, assigned_agent="demo",
                                    agent_profile="data-analyst", params=FAST)
    assert task.status == TaskStatus.PLANNED
    assert (task.title, task.priority, task.project_id, task.agent_profile) == (
        "Analyze Q4 revenue trends", 1, "proj-8f3a-4b2c", "data-analyst")

    # 2. Queue, then execute: 202 with the seed's message.
    queued = await client.update_task(task.id, status="queued")
    assert queued.status == TaskStatus.QUEUED
    accepted = await client.execute(task.id)
    assert accepted.message == "Execution started"

    # 3. Stream the logs until the stream ends by itself.
    entries = [entry async for entry in client.stream_logs(task.id)]
    kinds = [e.event_type for e in entries]
    assert "assistant" in kinds and "tool_use" in kinds
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert entries[-1].message == "Task completed"

    # 4. The output, with its detected content type, and the usage from the cost ledger.
    output = await client.get_output(task.id)
    assert output.status == TaskStatus.COMPLETED
    assert output.content_type == "markdown"
    assert output.result.startswith("## Analyze Q4 revenue trends")
    detail = await client.get_task(task.id)
    assert detail.usage is not None
    assert detail.usage.total_tokens == detail.usage.input_tokens + detail.usage.output_tokens > 0
    assert detail.usage.cost_micros > 0 and detail.usage.model_id
    assert detail.usage.finished_at is not None
    assert detail.progress is not None and detail.progress.percent == 100.0


async def test_quick_start_with_the_shell_runtime(client: TaskboardClient) -> None:
    script = (
        "echo starting; "
        "echo '::taskboard {\"type\": \"progress\", \"current\": 1, \"total\": 2}'; "
        "echo oops >&2; "
        f"{sys.executable} -c 'print(6 * 7)'; "
        "echo '::taskboard {\"type\": \"progress\", \"current\": 2, \"total\": 2}'; "
        # printf, not echo: dash's echo would turn the JSON's \n into a real newline.
        "printf '%s\\n' '::taskboard {\"type\": \"result\", \"text\": \"# Done\\n\\n- answer: 42\"}'"
    )
    task = await client.create_task(title="Run a real subprocess", assigned_agent="shell",
                                    params={"command": script})
    await client.queue(task.id)
    await client.execute(task.id)
    entries = [entry async for entry in client.stream_logs(task.id)]
    lines = [(e.event_type, e.message) for e in entries]
    assert ("stdout", "starting") in lines
    assert ("stdout", "42") in lines
    assert ("stderr", "oops") in lines
    # Protocol lines are messages to the runner, not log lines.
    assert not any("::taskboard" in m for kind, m in lines if kind in ("stdout", "stderr"))
    output = await client.get_output(task.id)
    assert output.status == TaskStatus.COMPLETED
    assert output.result == "# Done\n\n- answer: 42"
    assert output.content_type == "markdown"
    detail = await client.get_task(task.id)
    assert detail.progress is not None and (detail.progress.current, detail.progress.total) == (2, 2)


async def test_a_failing_command_fails_the_task_with_its_exit_status(client: TaskboardClient) -> None:
    task = await client.create_task(title="exit 3", assigned_agent="shell", params={"command": "echo bye; exit 3"})
    await client.queue(task.id)
    await client.execute(task.id)
    failed = await wait_for_status(client, task.id, "failed")
    assert failed.error == "Command exited with status 3"


async def test_cancel_ends_the_whole_process_group_within_a_second(client: TaskboardClient, tmp_path) -> None:
    marker = tmp_path / "child.pid"
    # The child sleeps in the background; cancelling must end it too, not just the shell.
    task = await client.create_task(title="sleeper", assigned_agent="shell",
                                    params={"command": f"sleep 300 & echo $! > {marker}; echo ready; wait"})
    await client.queue(task.id)
    await client.execute(task.id)
    async for entry in client.stream_logs(task.id):
        if entry.message == "ready":
            break
    child = int(marker.read_text())
    started = time.monotonic()
    await client.cancel(task.id)
    while _alive(child):
        assert time.monotonic() - started < 1.0, "the background child outlived the cancel"
        await asyncio.sleep(0.02)
    assert (await client.get_task(task.id)).status == TaskStatus.CANCELLED


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
