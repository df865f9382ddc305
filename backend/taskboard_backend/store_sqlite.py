"""The SQLite store: the embedded default (`taskboard serve`, `taskboard demo` need nothing installed).

One writer connection behind an asyncio lock (so "database is locked" cannot
happen inside the process) and one reader beside it; WAL lets them run
together. Every write runs in `BEGIN IMMEDIATE`; the watch-stream events a
write causes are inserted in the same transaction, and only published to
subscribers after COMMIT, so no client can see an event for a change that was
not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiosqlite

from taskboard_backend.broker import Broker
from taskboard_backend.store import (
    SORTS,
    SUMMARY_LEAVES_OUT,
    Row,
    StoreNotWritable,
    StoreUnavailable,
)
from taskboard_backend.store_sql import TASK_INDEXES, Params, SqlStore, SqlTx, and_, filters

log = logging.getLogger("taskboard.store")

SCHEMA_VERSION = 5
# A read first runs on the event loop's own thread, and is moved to a reader thread if it takes
# longer than this: most reads take a fraction of a millisecond, less than the hand-off between
# threads costs (GIL included), while a search over a million rows must not stall the loop.
INLINE_READ_SECONDS = 0.003
# A list that reads more rows than this (a board's 500-row pages, any deep offset) takes 4-12 ms, so it
# goes to the reader thread at once: run on the loop first, it was stopped at 3 ms and run again there.
INLINE_LIST_ROWS = 300
# From this offset on a list skips through the index only (a deferred join): at 99,000 of 100,000 a
# 500-row summary page took 11.9 ms read whole and 9.0 ms this way; at offset 0 both take 4.1 ms.
DEFERRED_JOIN_OFFSET = 1000
CHECKPOINT_SECONDS = 1.0
# The WAL is checkpointed every CHECKPOINT_SECONDS after any commit, and at once when it passes
# WAL_CHECKPOINT_BYTES (a fast writer fills it faster than once a second: a task create writes
# ~100 KB of pages, a batch of log lines more). A checkpoint that readers kept from finishing is
# done again as TRUNCATE, holding the write lock, once the WAL passes WAL_TRUNCATE_BYTES; and
# journal_size_limit cuts the file back when SQLite restarts it. Before, checkpoints only followed
# watch-event revisions (log lines have none), were never forced, and the file never shrank: 5.8 GB
# for four tasks printing 100,000 lines each.
WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024
WAL_TRUNCATE_BYTES = 32 * 1024 * 1024
WAL_SIZE_LIMIT = 8 * 1024 * 1024
# How often (in commits) the WAL's size is looked at: a stat is ~2 us, a commit ~100 us.
WAL_LOOK_EVERY = 16
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}",
    # NORMAL in WAL mode: a commit survives a killed process; only power loss may drop the last ones.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)

# (wire name, column, holds JSON, may be null): the same mapping as task_row_to_wire, for SQLite's
# JSON functions, so a list page is built in C without a Python object per row.
_WIRE_FIELDS: tuple[tuple[str, str, bool, bool], ...] = (
    ("id", "id", False, False), ("title", "title", False, False), ("description", "description", False, True),
    ("projectId", "project_id", False, True), ("status", "status", False, False),
    ("priority", "priority", False, False), ("assignedAgent", "assigned_agent", False, True),
    ("agentProfile", "agent_profile", False, True), ("createdAt", "created_at", False, False),
    ("updatedAt", "updated_at", False, False), ("taskType", "task_type", False, True),
    ("params", "params", True, True), ("result", "result", False, True),
    ("resultData", "result_data", True, True), ("error", "error", False, True),
    ("progress", "progress", True, True), ("workflowId", "workflow_id", False, True),
    ("stepIndex", "step_index", False, True), ("sourceType", "source_type", False, False),
    ("parentId", "parent_id", False, True), ("documentIds", "COALESCE(document_ids, '[]')", True, False),
    ("resumeCount", "resume_count", False, False), ("attempt", "attempt", False, False),
    ("pendingPermissions", "pending_permissions", False, False), ("costMicros", "cost_micros", False, False),
    ("totalTokens", "total_tokens", False, False), ("startedAt", "started_at", False, True),
    ("finishedAt", "finished_at", False, True), ("revision", "revision", False, False),
)


def _task_json_sql(leave_out: frozenset[str] = frozenset()) -> str:
    # Concatenation rather than json_object: no JSON is parsed, and a null field is simply left out
    # (as task_row_to_wire does). JSON columns hold JSON written by this store, so go in as they are.
    parts = []
    for n, (wire, col, is_json, nullable) in enumerate(f for f in _WIRE_FIELDS if f[0] not in leave_out):
        value = col if is_json else f"json_quote({col})"
        piece = f"'{'{' if n == 0 else ','}\"{wire}\":' || {value}"
        parts.append(f"CASE WHEN {col} IS NULL THEN '' ELSE {piece} END" if nullable else piece)
    return "(" + " || ".join(parts) + " || '}')"


TASK_JSON_SQL = _task_json_sql()
TASK_SUMMARY_SQL = _task_json_sql(SUMMARY_LEAVES_OUT)


TASK_COLUMNS = (
    "id, title, description, project_id, status, priority, assigned_agent, agent_profile, task_type, params,"
    " result, result_data, error, progress, workflow_id, step_index, source_type, parent_id, document_ids,"
    " resume_count, attempt, checkpoint, pending_permissions, cost_micros, total_tokens, created_at, updated_at,"
    " started_at, finished_at, revision"
)

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE workflows (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        project_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        description TEXT,
        project_id TEXT,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL,
        assigned_agent TEXT,
        agent_profile TEXT,
        task_type TEXT,
        params TEXT,
        result TEXT,
        result_data TEXT,
        error TEXT,
        progress TEXT,
        workflow_id TEXT,
        step_index INTEGER,
        source_type TEXT NOT NULL DEFAULT 'manual',
        parent_id TEXT,
        document_ids TEXT,
        resume_count INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        checkpoint TEXT,
        pending_permissions INTEGER NOT NULL DEFAULT 0,
        cost_micros INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        revision INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tasks_by_priority ON tasks(priority, created_at DESC);
    CREATE INDEX tasks_by_status ON tasks(status, priority, created_at DESC);
    CREATE INDEX tasks_by_project ON tasks(project_id, priority, created_at DESC);
    CREATE INDEX tasks_by_created ON tasks(created_at);
    CREATE INDEX tasks_by_updated ON tasks(updated_at);
    CREATE INDEX tasks_by_workflow ON tasks(workflow_id, step_index);
    CREATE INDEX tasks_by_agent ON tasks(assigned_agent);
    CREATE INDEX tasks_by_title ON tasks(title);

    -- The cost ledger: one row per run (attempt) of a task.
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        runtime TEXT NOT NULL,
        model_id TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_micros INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT
    );
    CREATE INDEX runs_by_task ON runs(task_id, attempt);
    CREATE INDEX runs_by_started ON runs(started_at);

    -- Log lines (kind 'log') and progress/status updates (kind 'progress') of a task.
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        event_type TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT,
        ts TEXT NOT NULL
    );
    CREATE INDEX task_events_by_task ON task_events(task_id, kind, id);

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        role TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_by_task ON messages(task_id, id);

    CREATE TABLE permissions (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        tool_name TEXT NOT NULL,
        tool_input TEXT NOT NULL,
        message TEXT,
        suggested_pattern TEXT NOT NULL,
        status TEXT NOT NULL,
        behavior TEXT,
        response_message TEXT,
        decided_by TEXT,
        rule_id TEXT,
        created_at TEXT NOT NULL,
        resolved_at TEXT
    );
    CREATE INDEX permissions_by_status ON permissions(status, created_at);
    CREATE INDEX permissions_by_task ON permissions(task_id, status);

    CREATE TABLE permission_rules (
        id TEXT PRIMARY KEY,
        pattern TEXT NOT NULL,
        behavior TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
    );

    -- The watch stream: every change, with a global monotonic revision.
    CREATE TABLE events (
        revision INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        task_id TEXT,
        payload TEXT NOT NULL
    );
    """,
    # Lists stay fast at a million tasks. Each row carries its own wire JSON (a stored generated
    # column, so it can never disagree with the row): a page is read, not built. Every index ends
    # with the list's tie-breaker (id) so ORDER BY ... LIMIT walks one index and stops, and totals
    # come from a counts table kept by triggers instead of counting the filtered set on every page.
    2: f"""
    CREATE TABLE tasks_v2 (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        description TEXT,
        project_id TEXT,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL,
        assigned_agent TEXT,
        agent_profile TEXT,
        task_type TEXT,
        params TEXT,
        result TEXT,
        result_data TEXT,
        error TEXT,
        progress TEXT,
        workflow_id TEXT,
        step_index INTEGER,
        source_type TEXT NOT NULL DEFAULT 'manual',
        parent_id TEXT,
        document_ids TEXT,
        resume_count INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        checkpoint TEXT,
        pending_permissions INTEGER NOT NULL DEFAULT 0,
        cost_micros INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        revision INTEGER NOT NULL DEFAULT 0,
        wire TEXT GENERATED ALWAYS AS {TASK_JSON_SQL} STORED
    );
    INSERT INTO tasks_v2 ({TASK_COLUMNS}) SELECT {TASK_COLUMNS} FROM tasks;
    DROP TABLE tasks;
    ALTER TABLE tasks_v2 RENAME TO tasks;
    {TASK_INDEXES}

    CREATE TABLE task_counts (
        status TEXT NOT NULL,
        project_id TEXT NOT NULL,  -- '' for no project
        n INTEGER NOT NULL,
        cost_micros INTEGER NOT NULL,
        PRIMARY KEY (status, project_id)
    ) WITHOUT ROWID;
    INSERT INTO task_counts SELECT status, COALESCE(project_id, ''), COUNT(*), SUM(cost_micros)
        FROM tasks GROUP BY status, COALESCE(project_id, '');
    CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_counts VALUES (NEW.status, COALESCE(NEW.project_id, ''), 1, NEW.cost_micros)
        ON CONFLICT DO UPDATE SET n = n + 1, cost_micros = cost_micros + excluded.cost_micros;
    END;
    CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_counts SET n = n - 1, cost_micros = cost_micros - OLD.cost_micros
        WHERE status = OLD.status AND project_id = COALESCE(OLD.project_id, '');
    END;
    CREATE TRIGGER task_counts_update AFTER UPDATE OF status, project_id, cost_micros ON tasks
    WHEN OLD.status IS NOT NEW.status OR OLD.project_id IS NOT NEW.project_id
        OR OLD.cost_micros IS NOT NEW.cost_micros BEGIN
        UPDATE task_counts SET n = n - 1, cost_micros = cost_micros - OLD.cost_micros
        WHERE status = OLD.status AND project_id = COALESCE(OLD.project_id, '');
        INSERT INTO task_counts VALUES (NEW.status, COALESCE(NEW.project_id, ''), 1, NEW.cost_micros)
        ON CONFLICT DO UPDATE SET n = n + 1, cost_micros = cost_micros + excluded.cost_micros;
    END;
    """,
    # Projects gain the directory their agents work in (issue 21: claude-code).
    3: """
    ALTER TABLE projects ADD COLUMN working_directory TEXT;
    """,
    # Rules a person can see and revoke (issue 25): who saved one, how often it has answered since,
    # when last, and when it stops matching (NULL: never).
    4: """
    ALTER TABLE permission_rules ADD COLUMN saved_by TEXT;
    ALTER TABLE permission_rules ADD COLUMN match_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE permission_rules ADD COLUMN last_matched_at TEXT;
    ALTER TABLE permission_rules ADD COLUMN expires_at TEXT;
    """,
    # Each run keeps the unified diff of what its agent changed (issue 22: openai-codex-app-server), for
    # the task's detail.
    5: """
    ALTER TABLE runs ADD COLUMN diff TEXT;
    """,
}

# A log line's wire JSON, as the streams send it (`LogEntry` on the client side).
LOG_JSON_FIELDS = "'id', id, 'taskId', task_id, 'eventType', event_type, 'message', message, 'timestamp', ts"


_held_locks: dict[Path, tuple[int, int]] = {}  # path -> (fd, holders in this process)


def claim_database(path: Path) -> None:
    """Take the database's lock file for this process, or say which process has it.

    Two servers on one file each "recovered" the other's live tasks as failed and then fought over
    revisions (every write a 500). The lock is a flock on `<db>.lock`, which the kernel drops when the
    process dies however it dies, so a SIGKILLed server never blocks the next one; the descriptor is
    close-on-exec, so no task's child holds it either."""
    path = Path(path).resolve()
    if path in _held_locks:
        fd, n = _held_locks[path]
        _held_locks[path] = (fd, n + 1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(f"{path}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StoreUnavailable(f"{path} is in use by another taskboard server (pid {other}); stop it, or "
                               "give this one another --db") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held_locks[path] = (fd, 1)


def check_database(path: Path) -> None:
    """A one-line StoreUnavailable for a file that is not a SQLite database, or one this version cannot read."""
    path = Path(path)
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)) as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"{path} cannot be opened as a taskboard database: {exc}") from None
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(f"{path} has schema version {version}, newer than this taskboard ({SCHEMA_VERSION})")


def release_database(path: Path) -> None:
    path = Path(path).resolve()
    held = _held_locks.get(path)
    if held is None:
        return
    fd, n = held
    if n > 1:
        _held_locks[path] = (fd, n - 1)
        return
    del _held_locks[path]
    os.close(fd)


def _not_writable(exc: sqlite3.Error) -> StoreNotWritable | None:
    """A write error that is the disk's or the file's, named as such; None for anything else."""
    text = str(exc).lower()
    if "full" in text:
        return StoreNotWritable("The database cannot be written: the disk is full (database or disk is full); "
                                "free some space and try again", status=507)
    if "readonly" in text or "read-only" in text:
        return StoreNotWritable("The database cannot be written: the file is read-only "
                                f"({exc}); check its permissions and attributes")
    if "disk i/o" in text or "unable to open" in text:
        return StoreNotWritable(f"The database cannot be written: {exc}")
    return None


class SqliteTx(SqlTx):
    """One write transaction on the writer connection; collects the events to publish after COMMIT."""

    def __init__(self, store: SqliteStore, db: sqlite3.Connection) -> None:
        super().__init__()
        self.store = store
        self.db = db

    # The writer is a plain sqlite3 connection used on the event loop's thread: a statement
    # takes tens of microseconds, less than a hand-off to a worker thread and back.
    async def _execute(self, sql: str, params: Params = ()) -> None:
        self.db.execute(sql, params)

    async def _executemany(self, sql: str, rows: list[Params]) -> None:
        self.db.executemany(sql, rows)

    async def _fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return cast(Row | None, self.db.execute(sql, params).fetchone())

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return cast(list[Row], self.db.execute(sql, params).fetchall())

    async def _insert_returning_id(self, sql: str, params: Params) -> int:
        return int(self.db.execute(sql, params).lastrowid or 0)

    async def next_revision(self) -> int:
        # Under the store's write lock: one process owns the file (claim_database), so a counter is the sequence.
        self.store.revision += 1
        return self.store.revision

    async def _revision_unused(self, revision: int) -> None:
        if self.store.revision == revision:
            self.store.revision -= 1


class SqliteStore(SqlStore):
    def __init__(self, path: Path, broker: Broker, *, event_retention: int = 50_000) -> None:
        self.path = Path(path)
        self.broker = broker
        self.event_retention = event_retention
        self.revision = 0
        self._committed_revision = 0
        self._writer: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._inline: sqlite3.Connection | None = None
        self._inline_deadline = 0.0
        self._slow_reader: aiosqlite.Connection | None = None
        # Checkpoints have a connection (and so a thread) of their own: a slow read moved off the loop
        # must not queue behind one (a 30 MB checkpoint with its fsync takes tens of milliseconds).
        self._checkpoint_db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self.commits = 0
        # Why writes fail right now (None when the last one worked): /api/health says it.
        self.write_problem: str | None = None
        self._identity: tuple[int, int] | None = None
        self._checkpoint_soon = asyncio.Event()
        self.checkpoints = 0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        claim_database(self.path)
        try:
            self._writer = _connect_sync(self.path)
            # Checkpoints (which fsync) run on a thread, not at the end of some unlucky commit on the loop.
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._migrate(self._writer)
        except sqlite3.DatabaseError as exc:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            release_database(self.path)
            raise StoreUnavailable(f"{self.path} cannot be opened as a taskboard database: {exc}") from None
        self._identity = self._file_identity()
        self._inline = _connect_sync(self.path)
        self._inline.set_progress_handler(lambda: time.perf_counter() > self._inline_deadline, 20000)
        self._slow_reader = await self._connect()
        self._checkpoint_db = await self._connect()
        row = await self._fetchone("SELECT COALESCE(MAX(revision), 0) AS rev FROM events")
        task_rev = await self._fetchone("SELECT COALESCE(MAX(revision), 0) AS rev FROM tasks")
        self.revision = max(int(row["rev"]), int(task_rev["rev"])) if row and task_rev else 0
        self._committed_revision = self.revision
        self._checkpointer = asyncio.create_task(self._checkpoint_now_and_then())

    def wal_bytes(self) -> int:
        try:
            return os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return 0

    async def _checkpoint_now_and_then(self) -> None:
        checkpointed = self.commits
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECKPOINT_SECONDS):
                    await self._checkpoint_soon.wait()
            self._checkpoint_soon.clear()
            if self._checkpoint_db is None:
                continue
            if self.commits == checkpointed:
                if self.wal_bytes() > WAL_SIZE_LIMIT and self._writer is not None:
                    # Quiet now, after a burst: nothing would restart the WAL, so cut it back here.
                    with contextlib.suppress(sqlite3.Error):
                        async with self._write_lock:
                            if self._writer is not None:
                                await asyncio.to_thread(self._writer.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
                continue
            checkpointed = self.commits
            try:
                # PASSIVE, on the reader's thread: writers go on meanwhile.
                await self._checkpoint_db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
                if self.wal_bytes() > WAL_TRUNCATE_BYTES and self._writer is not None:
                    # Readers kept it from finishing (or writes outran it): finish it holding the
                    # write lock, on a thread, so the loop serves reads while it runs.
                    async with self._write_lock:
                        if self._writer is not None:
                            await asyncio.to_thread(self._writer.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint failed: %s", exc)

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        for pragma in PRAGMAS:
            await db.execute(pragma)
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{self.path} has schema version {version}, newer than this taskboard ({SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(MIGRATIONS[target]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def file_problem(self) -> str | None:
        """Whether the file opened is still the one at the path: one deleted or replaced while the server
        runs would take every later write with it at the next restart."""
        if self._identity is not None and self._file_identity() != self._identity:
            return (f"the database file {self.path} was deleted or replaced while the server ran; "
                    "restart the server")
        return None

    def health_problem(self) -> str | None:
        return self.file_problem() or self.write_problem

    @property
    def committed_revision(self) -> int:
        return self._committed_revision

    async def head_revision(self) -> int:
        return self._committed_revision  # the only writer is this process

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    async def close(self) -> None:
        if self._writer is not None:
            release_database(self.path)
        if self._checkpointer is not None:
            self._checkpointer.cancel()
        for conn in (self._slow_reader, self._checkpoint_db):
            if conn is not None:
                await conn.close()
        self._checkpoint_db = None
        for db in (self._inline, self._writer):
            if db is not None:
                db.close()
        self._inline = self._slow_reader = self._writer = self._checkpointer = None

    # ------------------------------------------------------------------ reads

    def _read_inline(self, sql: str, params: Params) -> list[sqlite3.Row] | None:
        """The rows, or None when the query ran out of its time on the loop and was stopped."""
        assert self._inline is not None, "store is not open"
        self._inline_deadline = time.perf_counter() + INLINE_READ_SECONDS
        try:
            return self._inline.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                return None
            raise

    async def _rows(self, sql: str, params: Params = (), *, inline: bool = True) -> list[sqlite3.Row]:
        """The rows, read on the loop within its budget or else on the reader thread; `inline=False` when the
        read is known to take longer (it would be stopped at the budget and run again there)."""
        rows = self._read_inline(sql, params) if inline else None
        if rows is None:
            assert self._slow_reader is not None
            rows = list(await self._slow_reader.execute_fetchall(sql, params))
        return rows

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return cast(list[Row], await self._rows(sql, params))

    async def list_tasks(self, *, statuses: list[str] | None = None, project_id: str | None = None,
                         q: str | None = None, workflow_id: str | None = None,
                         assigned_agent: str | None = None, sort: str = "priority",
                         limit: int = 100, offset: int = 0, summary: bool = False) -> tuple[list[str], int, int]:
        """A page of tasks as wire JSON texts, the total matching, and the revision it is current to."""
        where, params = filters(statuses=statuses, project_id=project_id)
        countable = workflow_id is None and assigned_agent is None and not q
        # Totals by status and project come from the counts the triggers keep, in the same query.
        total_sql = f"(SELECT COALESCE(SUM(n), 0) FROM task_counts{where})" if countable else "NULL"
        total_params = list(params) if countable else []
        if workflow_id is not None:
            where, params = and_(where, params, "workflow_id = ?", workflow_id)
        if assigned_agent is not None:
            where, params = and_(where, params, "assigned_agent = ?", assigned_agent)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, params = and_(where, params,
                                 "(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\' OR id = ?)",
                                 f"%{escaped}%", f"%{escaped}%", q)
        # Read the committed revision first: the page then holds at least every change up
        # to it, so a watch started from it misses nothing (a repeat is harmless).
        revision = self._committed_revision
        order = SORTS[sort]
        if offset >= DEFERRED_JOIN_OFFSET:
            # The rows skipped are stepped over in the index (where one serves the order and the filters);
            # only the page's own rows are read and built.
            source = f"tasks WHERE rowid IN (SELECT rowid FROM tasks{where} ORDER BY {order} LIMIT ? OFFSET ?)"
            inner, paging = [*params, limit, offset], []
        else:
            source, inner, paging = f"tasks{where}", params, [limit, offset]
        sql = (f"SELECT {TASK_SUMMARY_SQL if summary else 'wire'}, {total_sql} FROM {source} "
               f"ORDER BY {order}{' LIMIT ? OFFSET ?' if paging else ''}")
        args = [*total_params, *inner, *paging]
        rows = await self._rows(sql, args, inline=offset + limit <= INLINE_LIST_ROWS)
        if offset == 0 and len(rows) < limit:
            total = len(rows)
        elif rows and countable:
            total = int(rows[0][1])
        else:
            row = await self._fetchone(f"SELECT COUNT(*) AS n FROM tasks{where}", params)
            total = int(row["n"]) if row else 0
        return [r[0] for r in rows], total, revision

    async def read_log_frames(self, task_id: str, after: int, limit: int = 500) -> list[tuple[int, str]]:
        """Log lines as finished event-stream frames (id, frame), built by SQLite's JSON functions:
        a replayed backlog costs no Python per line."""
        return await self._rows(  # type: ignore[return-value]  # sqlite3.Row reads as the (id, frame) pair
            f"SELECT id, 'id: ' || id || char(10) || 'data: ' || CASE WHEN data IS NULL OR data = '' "
            f"THEN json_object({LOG_JSON_FIELDS}) ELSE json_object({LOG_JSON_FIELDS}, 'data', json(data)) END "
            "|| char(10) || char(10) FROM task_events WHERE task_id = ? AND kind = 'log' AND id > ? "
            "ORDER BY id LIMIT ?",
            (task_id, after, limit),
        )

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            db = self._writer
            before = self.revision
            gone = self.file_problem()
            if gone is not None:
                raise StoreNotWritable(f"The database cannot be written: {gone}")
            tx = SqliteTx(self, db)
            try:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    yield tx
                    if tx.events and tx.events[-1][0] // 1000 != before // 1000:
                        db.execute("DELETE FROM events WHERE revision <= ?",
                                   (tx.events[-1][0] - self.event_retention,))
                    db.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    named = _not_writable(exc)
                    if named is None:
                        raise
                    self.write_problem = named.message
                    raise named from exc
            except BaseException:
                self.revision = before
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK would raise
                # "no transaction is active" and hide the error that matters.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self.write_problem = None
            self._committed_revision = self.revision
            self.commits += 1
            if self.commits % WAL_LOOK_EVERY == 0 and self.wal_bytes() > WAL_CHECKPOINT_BYTES:
                self._checkpoint_soon.set()
            # Published only after the commit, and still under the lock, so order holds.
            self.broker.publish(tx.events)
            for task_id in tx.touched_tasks:
                self.broker.notify_task(task_id)


def _connect_sync(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        db.execute(pragma)
    return db


def _split_sql(script: str) -> list[str]:
    """Statements one by one (a trigger body holds semicolons of its own)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements
