"""The real backend in a subprocess: uvicorn on 127.0.0.1, port 0, a temporary database.

`store="postgres"` gives it a fresh database on the session's private PostgreSQL cluster (tests/postgres.py)
instead of the SQLite file at `db_path`; the same `db_path` means the same database, so a restart finds its
data as it would in the file. `command="worker"` runs `taskboard worker` on that database instead (no HTTP:
it is started once it prints that it is working)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

URL_LINE = re.compile(r"taskboard: serving (http://\S+)")
WORKING_LINE = re.compile(r"taskboard: (working) ")


class ServerProcess:
    def __init__(self, db_path: Path, *args: str, env: dict[str, str] | None = None,
                 module: str = "taskboard", store: str = "sqlite", command: str = "serve") -> None:
        self.command = command
        self.module = module  # another module that prints the same "serving URL" line (the bench's reference)
        self.db_path = Path(db_path)
        self.store = store
        if store == "postgres":
            from tests.postgres import database_for

            self.db = database_for(str(self.db_path.resolve()))
        elif store == "sqlite":
            self.db = str(self.db_path)
        else:
            raise ValueError(f"unknown store {store!r}")
        self.args = list(args)
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout: float = 20.0) -> str:
        if self.command == "worker":
            cmd = [sys.executable, "-m", "taskboard", "worker", "--db", self.db, *self.args]
        elif self.module == "taskboard":
            cmd = [sys.executable, "-m", "taskboard", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--db", self.db, *self.args]
        else:
            cmd = [sys.executable, "-m", self.module, str(self.db_path), *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TASKBOARD_API_KEY", None)  # only what the test asks for
        env.update(self.env or {})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        found = threading.Event()
        ready = WORKING_LINE if self.command == "worker" else URL_LINE

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = ready.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "".join(self.output))
        return self.url

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a statement run on this server's database from outside it (`?` placeholders), on either
        store: what a test checks was stored, not what the server says."""
        if self.store == "postgres":
            import psycopg

            with psycopg.connect(self.db, autocommit=True) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]
        import sqlite3

        with sqlite3.connect(self.db_path) as conn:
            return list(conn.execute(sql, params).fetchall())

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def restart(self) -> str:
        self.kill()
        self.output = []
        return self.start()
