"""What the real-agent tests (claude-code, openai-codex-app-server) share: start a task on an agent, wait for
its permission request, read its log, run a CLI verb against the server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from taskboard.client import TaskboardClient
from taskboard.models import LogEntry
from tests.contract.scripted import ScriptedStandIn
from tests.helpers import wait_until
from tests.sealed import sealed

S = TypeVar("S", bound=ScriptedStandIn)


def sealed_stand_in(make: Callable[[], S]) -> Iterator[S]:
    """For a test's `model` fixture: the loopback-only namespace for the test, and the model API's stand-in
    listening inside it (so the server and the agent it starts are inside too)."""
    with sealed():
        stand_in = make()
        try:
            yield stand_in
        finally:
            stand_in.close()


async def run_task(client: TaskboardClient, title: str, agent: str, **params: Any) -> str:
    task = await client.create_task(title=title, assigned_agent=agent, params=params or None)
    await client.queue(task.id)
    await client.execute(task.id)
    return task.id


async def pending(client: TaskboardClient, task_id: str) -> Any:
    """The task's first pending permission request, once there is one."""
    async def found() -> Any:
        requests = await client.list_permissions("pending", task_id=task_id)
        return requests[0] if requests else None
    return await wait_until(found, timeout=30)


async def logs(client: TaskboardClient, task_id: str) -> list[LogEntry]:
    """The whole log of a task that has ended."""
    return [entry async for entry in client.stream_logs(task_id, reconnect=False)]


def cli(url: str, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`taskboard ARGS --url URL` as a person types it, with the key in the environment and no config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
    env.update({"TASKBOARD_CONFIG": "/nonexistent/config.toml", **({"TASKBOARD_API_KEY": key} if key else {})})
    return subprocess.run([sys.executable, "-m", "taskboard", *args, "--url", url], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
