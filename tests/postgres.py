"""A private PostgreSQL cluster for the tests, started from the machine's own server binaries (no mock).

One cluster per test session (per xdist worker), on a temporary directory and a free loopback port, trusted
local connections, stopped when the session ends; a fresh database per server (`database_for`). `initdb`
refuses to run as root, and CI runs as root: there the cluster runs as the `postgres` user (Debian's package
creates it). `.ci/run` installs the package where it is missing; without it the PostgreSQL half of the
parametrised tests fails (it is not skipped), unless TASKBOARD_TEST_STORES=sqlite says to leave it out.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

VERSIONS_ROOT = Path("/usr/lib/postgresql")


def bin_dir() -> Path:
    """The newest installed server's bin directory (initdb, pg_ctl)."""
    found = sorted((p for p in VERSIONS_ROOT.glob("*/bin") if (p / "initdb").exists()),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's `postgresql` package, "
                       "or run with TASKBOARD_TEST_STORES=sqlite")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="taskboard-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self._databases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._count = 0

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        # fsync off: a test cluster's durability is not under test, and 2 shared cores pay for every fsync.
        options = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off " \
                  "-c full_page_writes=off -c max_connections=300"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "start")
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database_for(self, key: str) -> str:
        """The URL of the database for `key` (a server's would-be SQLite path): made on first use, the same
        one after, so a restarted server finds its data."""
        with self._lock:
            if key not in self._databases:
                self._count += 1
                name = f"t{os.getpid()}_{self._count}"
                import psycopg

                with psycopg.connect(self.url(), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
                self._databases[key] = self.url(name)
            return self._databases[key]


_cluster: Cluster | None = None
_start_lock = threading.Lock()


def cluster() -> Cluster:
    """This session's cluster, started on first use."""
    global _cluster
    with _start_lock:
        if _cluster is None:
            started = Cluster()
            started.start()
            _cluster = started
        return _cluster


def database_for(key: str) -> str:
    return cluster().database_for(key)
