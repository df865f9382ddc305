"""SIGKILL mid-run, start again on the same database: nothing lost, the interrupted ones failed and resumable."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from taskboard.client import TaskboardClient
from taskboard_backend.service import INTERRUPTED_ERROR
from tests.helpers import FAST, LONG, start_task, wait_for_status


async def test_sigkill_mid_run_loses_nothing(start_server, tmp_path) -> None:
    db = tmp_path / "crash.db"
    server = start_server("--enable-shell", db=db)
    async with TaskboardClient(server.url) as client:
        finished = await start_task(client, "finished before", params=FAST)
        await wait_for_status(client, finished.id, "completed")
        planned = await client.create_task(title="never started")
        demo = await start_task(client, "demo mid-run", params=LONG)
        shell = await start_task(client, "shell mid-run", assigned_agent="shell",
                                 params={"command": "echo one; echo two; sleep 60"})
        asking = await start_task(client, "asking", params={"steps": 3, "stepSeconds": 0.01,
                                                             "question": {"message": "?", "atStep": 1}})
        await wait_for_status(client, asking.id, "awaiting_input")

        seen_before = []
        async for entry in client.stream_logs(shell.id):
            seen_before.append(entry)
            if entry.message == "two":
                break
        demo_lines_before = []
        async for entry in client.stream_logs(demo.id):
            demo_lines_before.append(entry)
            if "(step 2/" in entry.message:  # step 1 is done, so a checkpoint exists
                break

    server.kill()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    server.start()

    async with TaskboardClient(server.url) as client:
        page = await client.list_tasks(limit=1000)
        by_id = {t.id: t for t in page.items}
        assert {finished.id, planned.id, demo.id, shell.id, asking.id} <= set(by_id)
        assert by_id[finished.id].status == "completed"
        assert by_id[planned.id].status == "planned"
        assert not [t for t in page.items if t.status in ("running", "awaiting_input")]
        for interrupted in (demo.id, shell.id, asking.id):
            assert by_id[interrupted].status == "failed"
            assert by_id[interrupted].error == INTERRUPTED_ERROR

        # Every line a client had received is still there, in order, with the same ids.
        after = [e async for e in client.stream_logs(shell.id)]
        assert [(e.id, e.message) for e in after[:len(seen_before)]] == [(e.id, e.message) for e in seen_before]
        after_demo = [e async for e in client.stream_logs(demo.id)]
        assert [e.id for e in after_demo[:len(demo_lines_before)]] == [e.id for e in demo_lines_before]

        # Interrupted tasks resume from their checkpoint.
        await client.resume(demo.id)
        resumed = await client.get_task(demo.id)
        assert resumed.status == "running" and resumed.resume_count == 1

        async with asyncio.timeout(10):
            async for entry in client.stream_logs(demo.id, after=after_demo[-1].id):
                if entry.message.startswith("Resumed from checkpoint after step 1 of"):
                    break
        await client.cancel(demo.id)


async def test_sigterm_ends_streams_and_leaves_running_tasks_resumable(start_server, tmp_path) -> None:
    db = tmp_path / "term.db"
    server = start_server(db=db)
    async with TaskboardClient(server.url) as client:
        task = await start_task(client, "cut off by a shutdown", params=LONG)
        watchers = [client.watch() for _ in range(20)]
        for watcher in watchers:
            assert (await anext(watcher)).type == "hello"  # 20 idle stream clients, connected
        started = time.monotonic()
        server.proc.terminate()
        server.proc.wait(10)
        assert time.monotonic() - started < 5
        for watcher in watchers:
            await watcher.aclose()
    server.start()
    async with TaskboardClient(server.url) as client:
        after = await client.get_task(task.id)
        assert after.status == "failed" and after.error == INTERRUPTED_ERROR
        await client.resume(task.id)
        assert (await client.get_task(task.id)).status == "running"
        await client.cancel(task.id)
