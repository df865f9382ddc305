"""What only the PostgreSQL store has: a versioned schema on a shared database, and servers on one database
whose watch streams agree (issue 23). The behaviour both stores share is tested on both by the modules in
conftest.BOTH_STORES."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx

from taskboard.client import TaskboardClient
from taskboard_backend.store_postgres import SCHEMA_VERSION
from tests.server import ServerProcess


async def _events(url: str, headers: dict[str, str], into: list[dict[str, object]], ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as http, \
            http.stream("GET", "/api/events", headers=headers) as response:
        ready.set()
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                into.append({"event": name, **json.loads(line[6:])})


async def _until(check, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)  # polling what a stream task collects; the stream itself is the signal


def test_the_schema_is_versioned_migrated_on_start_and_a_newer_one_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "schema", store="postgres")
    server.start()
    server.stop()
    assert server.query("SELECT version FROM taskboard_schema") == [(SCHEMA_VERSION,)]
    assert {"tasks", "events", "runs", "permissions", "task_counts", "replicas"} <= {
        r[0] for r in server.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    # Started again it migrates nothing and keeps what it has.
    server.start()
    server.stop()
    assert server.query("SELECT version FROM taskboard_schema") == [(SCHEMA_VERSION,)]

    server.query("UPDATE taskboard_schema SET version = 99 RETURNING version")
    result = subprocess.run([sys.executable, "-m", "taskboard", "serve", "--port", "0", "--db", server.db],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert f"schema version 99, newer than this taskboard ({SCHEMA_VERSION})" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_a_server_that_cannot_be_reached_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "taskboard", "serve", "--port", "0", "--db",
                             "postgresql://nobody:secret@127.0.0.1:1/none"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3
    assert result.stderr.startswith("taskboard: postgresql://nobody:***@127.0.0.1:1/none cannot be used")
    assert "secret" not in result.stderr


async def test_two_servers_on_one_database_share_one_watch_stream(tmp_path: Path) -> None:
    a = ServerProcess(tmp_path / "shared", "--heartbeat", "0.5", store="postgres")
    b = ServerProcess(tmp_path / "shared", "--heartbeat", "0.5", store="postgres")
    a.start()
    b.start()
    seen: list[dict[str, object]] = []
    ready = asyncio.Event()
    watch = asyncio.create_task(_events(b.url, {}, seen, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await _until(lambda: any(e["event"] == "hello" for e in seen), "hello")
        async with TaskboardClient(a.url) as on_a, TaskboardClient(b.url) as on_b:
            created = [await on_a.create_task(title=f"made on A {n}") for n in range(3)]
            also = await on_b.create_task(title="made on B")
            await on_a.update_task(created[0].id, priority=0)
            await _until(lambda: len([e for e in seen if e["event"] == "task.upserted"]) >= 5, "five changes on B")
            changes = [e for e in seen if e["event"] == "task.upserted"]
            revisions = [int(e["revision"]) for e in changes]  # type: ignore[call-overload]
            assert revisions == sorted(set(revisions))  # one order, no repeat, whichever server wrote
            assert [c["taskId"] for c in changes] == [*(t.id for t in created), also.id, created[0].id]
            assert revisions[:4] == [t.revision for t in [*created, also]]
            # Both servers come to say the same newest revision (each one's tailer has published it).
            assert (await on_b.health()).revision == max(revisions)
            async with asyncio.timeout(5):
                while (await on_a.health()).revision != max(revisions):
                    await asyncio.sleep(0.05)
    finally:
        watch.cancel()

    # Resumed on A from a revision B sent: exactly what came after it, from the table.
    resumed: list[dict[str, object]] = []
    ready = asyncio.Event()
    after = int(changes[1]["revision"])  # type: ignore[call-overload]
    watch = asyncio.create_task(_events(a.url, {"Last-Event-ID": str(after)}, resumed, ready))
    try:
        await _until(lambda: len([e for e in resumed if e["event"] == "task.upserted"]) >= 3, "the replay on A")
        assert [e["revision"] for e in resumed if e["event"] == "task.upserted"] == revisions[2:]
        assert not any(e["event"] == "reset" for e in resumed)
    finally:
        watch.cancel()
        a.stop()
        b.stop()


async def test_the_table_is_the_source_a_missed_wake_up_is_caught_up(tmp_path: Path) -> None:
    """An event committed without a notification (as if the listener had missed it) still reaches the
    watch: the tailer reads the table after its last revision, and looks again within a second."""
    server = ServerProcess(tmp_path / "quiet", "--heartbeat", "0.5", store="postgres")
    server.start()
    seen: list[dict[str, object]] = []
    ready = asyncio.Event()
    watch = asyncio.create_task(_events(server.url, {}, seen, ready))
    try:
        await _until(lambda: any(e["event"] == "hello" for e in seen), "hello")
        revision = int(server.query("SELECT nextval('revisions')")[0][0])  # type: ignore[call-overload]
        payload = json.dumps({"revision": revision, "type": "task.deleted", "taskId": "written-elsewhere"})
        server.query("INSERT INTO events (revision, type, task_id, payload) VALUES (?, 'task.deleted', ?, ?) "
                     "RETURNING revision", (revision, "written-elsewhere", payload))
        await _until(lambda: any(e.get("taskId") == "written-elsewhere" for e in seen), "the quiet event", 5)
    finally:
        watch.cancel()
        server.stop()


async def test_a_log_line_written_through_one_server_reaches_a_log_stream_on_another(tmp_path: Path) -> None:
    a = ServerProcess(tmp_path / "logs", "--heartbeat", "5", store="postgres")
    b = ServerProcess(tmp_path / "logs", "--heartbeat", "5", store="postgres")
    a.start()
    b.start()
    try:
        async with TaskboardClient(a.url) as on_a, TaskboardClient(b.url) as on_b:
            task = await on_a.create_task(title="watched from B", assigned_agent="demo")
            await on_a.queue(task.id)
            lines: list[str] = []

            async def tail() -> None:
                async for entry in on_b.stream_logs(task.id):
                    lines.append(entry.message)

            tailing = asyncio.create_task(tail())
            async with asyncio.timeout(10):  # B is serving the (still empty) log stream: it waits for a wake-up
                while (await on_b.health()).streams < 1:
                    await asyncio.sleep(0.05)
            assert lines == []
            await on_a.execute(task.id)
            # The heartbeat is 5 s: lines within it came by the notification, not by a periodic look.
            await _until(lambda: any("started" in m for m in lines), "the run's first line on B", 4)
            tailing.cancel()
            await on_a.cancel(task.id)
    finally:
        a.stop()
        b.stop()
