"""Start-up and file faults (issue 19, findings 10, 11 and 18): a one-line message and a health that tells
the truth, never a traceback, a silent start, or a 201 for a write that cannot last."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taskboard.client import TaskboardClient
from tests.helpers import LONG, start_task, wait_for_status, wait_until
from tests.server import ServerProcess


def refused_start(db: Path, *args: str) -> tuple[int, str]:
    """Starts a server expected to refuse: its exit status and everything it printed."""
    proc = subprocess.run([sys.executable, "-m", "taskboard", "serve", "--port", "0", "--db", str(db), *args],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "TASKBOARD_API_KEY"})
    return proc.returncode, proc.stdout + proc.stderr


async def test_a_second_server_on_the_same_database_refuses_to_start(start_server, tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    first = start_server(db=db)
    async with TaskboardClient(first.url) as client:
        running = await start_task(client, "keeps running", params=LONG)
        code, output = refused_start(db)
        assert first.proc is not None
        assert code == 3
        assert output.strip() == (f"taskboard: {db.resolve()} is in use by another taskboard server "
                                  f"(pid {first.proc.pid}); stop it, or give this one another --db")
        # The first server is untouched: its task was not "recovered", and it still writes.
        assert (await client.get_task(running.id)).status == "running"
        assert (await client.create_task(title="still writing")).title == "still writing"
        await client.cancel(running.id)
    # Once it is gone (even SIGKILLed), the database is free.
    first.kill()
    again = start_server(db=db)
    async with httpx.AsyncClient(base_url=again.url) as http:
        assert (await http.get("/api/health")).json()["status"] == "ok"


@pytest.mark.parametrize("content", [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    code, output = refused_start(db)
    assert code == 3
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output
    assert lines[0].startswith(f"taskboard: {db} cannot be opened as a taskboard database: ")
    assert db.read_bytes() == content  # and it was left as it was


async def test_a_database_deleted_while_running_stops_taking_writes_and_says_so(start_server,
                                                                                  tmp_path: Path) -> None:
    db = tmp_path / "doomed.db"
    server = start_server(db=db)
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/api/tasks", json={"title": "before"})).status_code == 201
        assert (await http.get("/api/health")).json()["status"] == "ok"
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
        refused = await http.post("/api/tasks", json={"title": "after"})
        assert refused.status_code == 503
        message = (f"The database cannot be written: the database file {db} was deleted or replaced while the "
                   "server ran; restart the server")
        assert refused.json() == {"error": message, "code": "store_not_writable"}
        health = (await http.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert health["store"] == message.removeprefix("The database cannot be written: ")


@contextlib.contextmanager
def small_disk(path: Path, size: str = "3m") -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_a_full_disk_is_named_and_runs_end_resumable_when_space_returns(start_server, tmp_path: Path) -> None:
    """Every run crashed with "cannot rollback - no transaction is active" and stayed `running` for ever."""
    with small_disk(tmp_path / "disk") as disk:
        server: ServerProcess = start_server("--enable-shell", db=disk / "full.db")
        async with TaskboardClient(server.url) as client, httpx.AsyncClient(base_url=server.url) as http:
            marker = tmp_path / "printer.pid"
            task = await start_task(client, "printer", assigned_agent="shell", params={
                "command": f"echo $$ > {marker}; while true; do echo a line; sleep 0.05; done"})
            pid = await wait_until(lambda: _pid(marker))
            filler = disk / "filler"
            with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as f:
                while True:  # every last byte
                    f.write(b"\0" * 4096)

            async def refused_and_said() -> tuple[httpx.Response, dict] | None:
                # SQLite may find room again (a checkpoint lets it reuse its WAL), so the two are read together.
                response = await http.post("/api/tasks", json={"title": "no room"})
                health = (await http.get("/api/health")).json()
                return (response, health) if response.status_code == 507 and health["status"] == "degraded" else None

            refused, health = await wait_until(refused_and_said, timeout=30)
            assert refused.json()["code"] == "store_not_writable" and "disk is full" in refused.json()["error"]
            assert "disk is full" in health["store"]
            # The run could not write its lines: it was stopped (its printer is gone), though it could not say so.
            await wait_until(lambda: _gone(pid), timeout=30)
            filler.unlink()  # space comes back, and with it the run's end: failed, resumable
            try:
                done = await wait_for_status(client, task.id, "failed", timeout=30)
            except AssertionError:
                raise AssertionError("".join(server.output)[-4000:]) from None
            assert done.error is not None and done.error.startswith("Interrupted: The database cannot be written")
            assert (await http.post("/api/tasks", json={"title": "room again"})).status_code == 201
            assert (await http.get("/api/health")).json()["status"] == "ok"
            assert (await http.post(f"/api/tasks/{task.id}/resume")).status_code == 202
            await client.cancel(task.id)
            output = "".join(server.output)
            assert "Traceback" not in output and "cannot rollback" not in output
        server.stop()


async def _pid(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text.isdigit() else None


async def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] == b"Z"


async def test_an_immutable_database_refuses_writes_by_name_and_health_says_so(start_server, tmp_path: Path) -> None:
    db = tmp_path / "frozen.db"
    server = start_server(db=db)
    frozen = [db, Path(f"{db}-wal")]  # not -shm: the server does not survive that (it is mapped in memory)
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/api/tasks", json={"title": "before"})).status_code == 201
        made = subprocess.run(["chattr", "+i", *map(str, frozen)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("needs chattr +i (root, a file system with attributes)")
        try:
            async def refused() -> httpx.Response | None:
                response = await http.post("/api/tasks", json={"title": "after"})
                return response if response.status_code != 201 else None

            try:
                response = await wait_until(refused, timeout=10)
            except Exception:
                raise AssertionError("".join(server.output)[-3000:]) from None
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "store_not_writable"
            assert response.json()["error"].startswith("The database cannot be written: ")
            health = (await http.get("/api/health")).json()
            assert health["status"] == "degraded" and health["store"] == response.json()["error"]
        finally:
            subprocess.run(["chattr", "-i", *map(str, frozen)], check=False)
        assert (await http.post("/api/tasks", json={"title": "thawed"})).status_code == 201
        assert (await http.get("/api/health")).json()["status"] == "ok"
