"""A demo database started again: the demo's own agents that the last stop cut off carry on.

Quitting `taskboard demo` stops its server, whose recovery marks running tasks failed
("Interrupted", resumable). For simulated work that is noise: the next start showed a wall of
failed tasks. The demo runtime's interrupted tasks resume on the next start, from their
checkpoints (past the resume limit, from the top); a real runtime's (shell) keep the failed,
resumable status, since re-running real work is the user's call. Real servers, stopped by SIGTERM
(as `taskboard demo` stops its own) or killed.
"""

from __future__ import annotations

import pytest

from taskboard.client import TaskboardClient
from taskboard_backend.service import INTERRUPTED_ERROR
from tests.helpers import LONG, start_task, wait_claimed, wait_for_status


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_interrupted_demo_agents_pick_up_again_and_shell_tasks_stay_failed(start_server, tmp_path,
                                                                                stop: str) -> None:
    db = tmp_path / "demo.db"
    # Slots for all (the seed's live tasks, the driver's and these two): a run is cut off by the stop only once
    # a runner has it; on PostgreSQL one still queued stays queued.
    server = start_server("--demo", "--enable-shell", "--concurrency", "8", db=db)
    async with TaskboardClient(server.url) as client:
        endless = {**LONG, "costPerStepMicros": 0}
        agent = await start_task(client, "demo agent", assigned_agent="claude-code", params=endless)
        shell = await start_task(client, "real work", assigned_agent="shell", params={"command": "sleep 600"})
        await wait_for_status(client, agent.id, "running")
        await wait_for_status(client, shell.id, "running")
        await wait_claimed(server, agent.id, 1)
        await wait_claimed(server, shell.id, 1)
        seeded = {t.id for t in (await client.list_tasks(limit=200)).items
                  if t.status in ("running", "awaiting_input") and t.id not in (agent.id, shell.id)}
        assert seeded  # the seed's live tasks
    # Four restarts: three resumes, then past the limit a fresh start.
    for restart in range(4):
        server.kill() if stop == "SIGKILL" else server.stop()
        server.start()
        async with TaskboardClient(server.url) as client:
            back = await wait_for_status(client, agent.id, "running")
            assert back.error is None and back.attempt == restart + 2
            await wait_claimed(server, agent.id, back.attempt)
            assert back.resume_count == min(restart + 1, 3)  # resumed; the fourth time, started afresh
            again = await wait_for_status(client, shell.id, "failed")
            assert again.error == INTERRUPTED_ERROR and again.resume_count == 0
            page = await client.list_tasks(limit=200)
            wall = [t.title for t in page.items if t.status == "failed" and t.id != shell.id
                    and (t.id in seeded or t.id == agent.id)]
            assert not wall, (restart, wall)
