"""The PostgreSQL store: several `taskboard serve` processes on one database (`--db postgresql://USER@HOST/DB`).

The driver is psycopg 3 with psycopg_pool. Measured on this machine (PostgreSQL 15 on loopback, one pooled
connection, uvloop, 3000 rounds, 2 shared cores; /tmp figures of `bench`-style runs, twice each): a write
transaction as the store makes them (UPDATE ... RETURNING * on a 11-column row, then an INSERT) took 0.75-1.6
ms with asyncpg 0.32 and 0.9-1.6 ms with psycopg 3.3.9, the same within the noise; a page of 100 rows as dicts
(what every list and stream read is) took 0.58-1.1 ms with asyncpg (its Records converted) and 0.41-0.47 ms with
psycopg's dict_row. Reads are most of the traffic, so psycopg; it also ships its types (mypy --strict checks
this module) and takes the `%s` placeholders the shared SQL turns into.

What holds on every replica:
- Writes are serialised by one transaction-scoped advisory lock, taken first in every write transaction (as
  SQLite's BEGIN IMMEDIATE serialises them in one process). So revisions, taken from one sequence, and log
  line ids are in commit order: a reader that saw revision N has seen every revision below it. It is also the
  limit on writes: one at a time across all replicas (bench/RESULTS.md says how many a second).
- The events table is the source of the watch stream. Each replica has one tailer that reads the table after
  the last revision it published and hands the rows to its broker, in order; LISTEN/NOTIFY only wakes it (and
  carries the ids of the tasks a commit touched, for log and progress streams). A notification that is lost (a
  dropped listener connection) costs nothing: the tailer also looks every POLL_SECONDS, and after every
  reconnect. A Last-Event-ID older than the oldest revision kept gets `reset`, as on SQLite.
- Transitions are the shared UPDATE ... WHERE id = ? AND status IN (...) [AND attempt = ?] RETURNING *:
  one statement, the same errors, the same attempt fencing (store_sql.SqlTx).
- The schema is versioned in taskboard_schema and migrated on start, under an advisory lock so replicas that
  start together migrate once; a database newer than this taskboard is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import anyio
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from taskboard_backend.broker import Broker
from taskboard_backend.errors import ApiError
from taskboard_backend.store import (
    SORTS,
    SUMMARY_LEAVES_OUT,
    Row,
    StoreNotWritable,
    StoreUnavailable,
    new_id,
    now_iso,
    task_row_to_wire,
)
from taskboard_backend.store_sql import READ_EVENTS, TASK_INDEXES, Params, SqlStore, SqlTx, and_, filters

log = logging.getLogger("taskboard.store")

SCHEMA_VERSION = 5
CHANNEL = "taskboard"
# Advisory lock keys (any two numbers no other application on the database uses).
WRITE_LOCK = 0x7461736B  # "task"
MIGRATE_LOCK = 0x7462_6D67
REPLICA_LOCK_CLASS = 0x74627270  # with each server's own lock_key: pg_advisory_lock(int, int), held for its life
POLL_SECONDS = 1.0
POOL_MAX = 10
# A NOTIFY payload is limited to 8000 bytes; past this many task ids the listeners wake every log stream.
NOTIFY_TASKS_MAX = 100

_TEXT = 'TEXT COLLATE "C"'  # byte order, as SQLite compares: the same sort of titles and ids on both

MIGRATIONS: dict[int, str] = {
    1: f"""
    CREATE SEQUENCE revisions;
    CREATE TABLE projects (
        id {_TEXT} PRIMARY KEY,
        name {_TEXT} NOT NULL,
        description {_TEXT},
        working_directory {_TEXT},
        created_at {_TEXT} NOT NULL
    );
    CREATE TABLE workflows (
        id {_TEXT} PRIMARY KEY,
        name {_TEXT} NOT NULL,
        project_id {_TEXT},
        created_at {_TEXT} NOT NULL
    );
    CREATE TABLE tasks (
        id {_TEXT} PRIMARY KEY,
        title {_TEXT} NOT NULL,
        description {_TEXT},
        project_id {_TEXT},
        status {_TEXT} NOT NULL,
        priority INTEGER NOT NULL,
        assigned_agent {_TEXT},
        agent_profile {_TEXT},
        task_type {_TEXT},
        params {_TEXT},
        result {_TEXT},
        result_data {_TEXT},
        error {_TEXT},
        progress {_TEXT},
        workflow_id {_TEXT},
        step_index INTEGER,
        source_type {_TEXT} NOT NULL DEFAULT 'manual',
        parent_id {_TEXT},
        document_ids {_TEXT},
        resume_count INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        checkpoint {_TEXT},
        pending_permissions INTEGER NOT NULL DEFAULT 0,
        cost_micros BIGINT NOT NULL DEFAULT 0,
        total_tokens BIGINT NOT NULL DEFAULT 0,
        created_at {_TEXT} NOT NULL,
        updated_at {_TEXT} NOT NULL,
        started_at {_TEXT},
        finished_at {_TEXT},
        revision BIGINT NOT NULL DEFAULT 0
    );
    {TASK_INDEXES}

    -- Totals by status and project, kept by a trigger (as on SQLite): a list's total is not a count.
    CREATE TABLE task_counts (
        status {_TEXT} NOT NULL,
        project_id {_TEXT} NOT NULL,  -- '' for no project
        n BIGINT NOT NULL,
        cost_micros BIGINT NOT NULL,
        PRIMARY KEY (status, project_id)
    );
    CREATE FUNCTION task_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE task_counts SET n = n - 1, cost_micros = cost_micros - OLD.cost_micros
            WHERE status = OLD.status AND project_id = COALESCE(OLD.project_id, '');
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO task_counts VALUES (NEW.status, COALESCE(NEW.project_id, ''), 1, NEW.cost_micros)
            ON CONFLICT (status, project_id) DO UPDATE
            SET n = task_counts.n + 1, cost_micros = task_counts.cost_micros + EXCLUDED.cost_micros;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER task_counts_insert_delete AFTER INSERT OR DELETE ON tasks
        FOR EACH ROW EXECUTE FUNCTION task_counts_change();
    CREATE TRIGGER task_counts_update AFTER UPDATE OF status, project_id, cost_micros ON tasks
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.project_id IS DISTINCT FROM NEW.project_id
                           OR OLD.cost_micros IS DISTINCT FROM NEW.cost_micros)
        EXECUTE FUNCTION task_counts_change();

    -- The cost ledger: one row per run (attempt) of a task.
    CREATE TABLE runs (
        id BIGSERIAL PRIMARY KEY,
        task_id {_TEXT} NOT NULL,
        attempt INTEGER NOT NULL,
        runtime {_TEXT} NOT NULL,
        model_id {_TEXT},
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        cost_micros BIGINT NOT NULL DEFAULT 0,
        started_at {_TEXT} NOT NULL,
        finished_at {_TEXT},
        outcome {_TEXT}
    );
    CREATE INDEX runs_by_task ON runs(task_id, attempt);
    CREATE INDEX runs_by_started ON runs(started_at);

    CREATE TABLE task_events (
        id BIGSERIAL PRIMARY KEY,
        task_id {_TEXT} NOT NULL,
        kind {_TEXT} NOT NULL,
        event_type {_TEXT} NOT NULL,
        message {_TEXT} NOT NULL,
        data {_TEXT},
        ts {_TEXT} NOT NULL
    );
    CREATE INDEX task_events_by_task ON task_events(task_id, kind, id);

    CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        task_id {_TEXT} NOT NULL,
        role {_TEXT} NOT NULL,
        message {_TEXT} NOT NULL,
        created_at {_TEXT} NOT NULL
    );
    CREATE INDEX messages_by_task ON messages(task_id, id);

    CREATE TABLE permissions (
        id {_TEXT} PRIMARY KEY,
        task_id {_TEXT} NOT NULL,
        attempt INTEGER NOT NULL,
        tool_name {_TEXT} NOT NULL,
        tool_input {_TEXT} NOT NULL,
        message {_TEXT},
        suggested_pattern {_TEXT} NOT NULL,
        status {_TEXT} NOT NULL,
        behavior {_TEXT},
        response_message {_TEXT},
        decided_by {_TEXT},
        rule_id {_TEXT},
        created_at {_TEXT} NOT NULL,
        resolved_at {_TEXT}
    );
    CREATE INDEX permissions_by_status ON permissions(status, created_at);
    CREATE INDEX permissions_by_task ON permissions(task_id, status);

    CREATE TABLE permission_rules (
        id {_TEXT} PRIMARY KEY,
        pattern {_TEXT} NOT NULL,
        behavior {_TEXT} NOT NULL,
        source {_TEXT} NOT NULL,
        created_at {_TEXT} NOT NULL
    );

    -- The watch stream: every change, with a global revision from the sequence, in commit order.
    CREATE TABLE events (
        revision BIGINT PRIMARY KEY,
        type {_TEXT} NOT NULL,
        task_id {_TEXT},
        payload {_TEXT} NOT NULL
    );
    """,
    # Several servers (issue 23): each one a row renewing its lease; each run names the server that runs it.
    2: f"""
    CREATE TABLE replicas (
        id {_TEXT} PRIMARY KEY,
        lock_key INTEGER NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    ALTER TABLE runs ADD COLUMN owner {_TEXT};
    CREATE INDEX runs_open ON runs(task_id, attempt) WHERE finished_at IS NULL;
    """,
    # What SQLite's migrations 4 and 5 add: the saved rules' who, matches and expiry (issue 25), and each
    # run's diff (issue 22: openai-codex-app-server).
    3: f"""
    ALTER TABLE permission_rules ADD COLUMN saved_by {_TEXT};
    ALTER TABLE permission_rules ADD COLUMN match_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE permission_rules ADD COLUMN last_matched_at {_TEXT};
    ALTER TABLE permission_rules ADD COLUMN expires_at {_TEXT};
    ALTER TABLE runs ADD COLUMN diff {_TEXT};
    """,
    # Runs claimed by any server's runner (FOR UPDATE SKIP LOCKED): a queued run waits for a runner to claim
    # it, and says whether it resumes (the runtime carries on from the checkpoint).
    4: """
    ALTER TABLE runs ADD COLUMN queued BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE runs ADD COLUMN resumed BOOLEAN NOT NULL DEFAULT false;
    CREATE INDEX runs_queued ON runs(id) WHERE queued AND finished_at IS NULL;
    """,
    # Wrong API keys, counted by every server (perimeter.ApiKeyMiddleware): guessing through several servers
    # is as slow as through one.
    5: f"""
    CREATE TABLE auth_failures (
        id BIGSERIAL PRIMARY KEY,
        address {_TEXT} NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX auth_failures_by_address ON auth_failures(address, at);
    CREATE INDEX auth_failures_by_time ON auth_failures(at);
    """,
}
# A server is alive while its heartbeat is younger than the lease and its session still holds its advisory
# lock: a killed process's session ends at once, so its runs are reaped at once (by the next server to
# start, or the next look), and a hung or cut-off one's when its lease runs out.
_ALIVE = ("s.heartbeat_at > now() - make_interval(secs => ?) AND s.id <> ? AND EXISTS (SELECT 1 FROM pg_locks l "
          f"WHERE l.locktype = 'advisory' AND l.classid::bigint = {REPLICA_LOCK_CLASS} "
          "AND l.objid::bigint = s.lock_key AND l.objsubid = 2 AND l.granted)")
# A task's run is held while it is queued, or while the server that claimed it is alive (with `ours`, this
# server's own count as not held: it is stopping). A queued run is nobody's (owner NULL) until a runner claims
# it, as a job in River's or Oban's queue: its accepting server dying or stopping leaves it queued for any
# runner with its runtime, and only what was claimed (begun somewhere) fails with its server.
_HELD = "EXISTS (SELECT 1 FROM runs r WHERE r.task_id = t.id AND r.attempt = t.attempt AND ((r.queued AND " \
        f"r.finished_at IS NULL) OR EXISTS (SELECT 1 FROM replicas s WHERE s.id = r.owner AND {_ALIVE})))"
# The newest revision committed (the events table is the source of revisions on every server).
_HEAD = "(SELECT COALESCE(MAX(revision), 0) FROM events)"
# The task a run is for is still on that attempt, running or waiting for a person.
_CURRENT = ("EXISTS (SELECT 1 FROM tasks t WHERE t.id = runs.task_id AND t.attempt = runs.attempt "
            "AND t.status IN ('running', 'awaiting_input'))")


@lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """The shared SQL's `?` placeholders as psycopg's `%s` (a literal % doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _log_frame(row: Row) -> tuple[int, str]:
    """A log line as the event-stream frame SQLite's json_object builds (the same keys, in the same order)."""
    body: dict[str, Any] = {"id": row["id"], "taskId": row["task_id"], "eventType": row["event_type"],
                            "message": row["message"], "timestamp": row["ts"]}
    if row["data"]:
        body["data"] = json.loads(row["data"])
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return int(row["id"]), f"id: {row['id']}\ndata: {text}\n\n"


def _finds_nothing(sql: str, params: Params) -> bool:
    """PostgreSQL's text cannot hold a NUL character (SQLite's can). A read that asks for one finds nothing, as
    nothing stored has one; a write that would store one is a 400 saying so, not the driver's 500."""
    if not any(isinstance(p, str) and "\x00" in p for p in params):
        return False
    if sql.lstrip().upper().startswith("SELECT"):
        return True
    raise ApiError("Text with a NUL character (\\u0000) cannot be stored in this server's database (PostgreSQL)",
                   code="nul_character")


class PostgresTx(SqlTx):
    def __init__(self, conn: psycopg.AsyncConnection[Any], store: PostgresStore) -> None:
        super().__init__(run_owner=store.replica_id)
        self.conn = conn
        self.store = store
        self.queued = False  # a run was queued: every runner is woken after COMMIT

    def _lease(self, ours: bool) -> tuple[float, str]:
        # With `ours`, this server's own runs count as not held (it is stopping); "" names no server.
        return self.store.lease_seconds, self.store.replica_id if ours else ""

    async def orphaned_tasks(self, *, ours: bool) -> list[Row]:
        return await self._fetchall("SELECT t.id, t.status, t.checkpoint FROM tasks t WHERE t.status IN "
                                    f"('running', 'awaiting_input') AND NOT {_HELD}", self._lease(ours))

    async def end_orphaned_runs(self, outcome: str, *, ours: bool) -> None:
        now = now_iso()
        await self._execute(
            "UPDATE runs SET finished_at = ?, outcome = ? WHERE finished_at IS NULL AND NOT queued AND NOT "
            f"EXISTS (SELECT 1 FROM replicas s WHERE s.id = runs.owner AND {_ALIVE})",
            (now, outcome, *self._lease(ours)))
        # A queued run whose task moved on before any runner took it (cancelled, deleted, run again).
        await self._execute(f"UPDATE runs SET finished_at = ?, outcome = 'superseded' WHERE finished_at IS NULL "
                            f"AND queued AND NOT {_CURRENT}", (now,))

    async def queue_run(self, task_id: str, attempt: int, runtime: str, started_at: str, *, resumed: bool) -> None:
        # No owner: the run is nobody's until a runner claims it (PostgresStore.claim_run).
        await self._execute("INSERT INTO runs (task_id, attempt, runtime, started_at, queued, resumed) "
                            "VALUES (?, ?, ?, ?, true, ?)", (task_id, attempt, runtime, started_at, resumed))
        self.queued = True

    async def _execute(self, sql: str, params: Params = ()) -> None:
        if not _finds_nothing(sql, params):
            await self.conn.execute(to_psycopg(sql), params)

    async def _executemany(self, sql: str, rows: list[Params]) -> None:
        for row in rows:
            _finds_nothing(sql, row)
        async with self.conn.cursor() as cur:
            await cur.executemany(to_psycopg(sql), rows)

    async def _fetchone(self, sql: str, params: Params = ()) -> Row | None:
        if _finds_nothing(sql, params):
            return None
        cur = await self.conn.execute(to_psycopg(sql), params)
        row: Row | None = await cur.fetchone()
        return row

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if _finds_nothing(sql, params):
            return []
        cur = await self.conn.execute(to_psycopg(sql), params)
        return list(await cur.fetchall())

    async def _insert_returning_id(self, sql: str, params: Params) -> int:
        row = await self._fetchone(sql + " RETURNING id", params)
        assert row is not None
        return int(row["id"])

    async def next_revision(self) -> int:
        # The write lock is held (PostgresStore.transaction): values come out of the sequence in commit order.
        row = await self._fetchone("SELECT nextval('revisions') AS r")
        assert row is not None
        return int(row["r"])


class PostgresStore(SqlStore):
    def __init__(self, url: str, broker: Broker, *, event_retention: int = 50_000, lease_seconds: float = 15.0) -> None:
        self.url = url
        self.broker = broker
        self.event_retention = event_retention
        self.lease_seconds = lease_seconds
        self.replica_id = new_id()
        self.lock_key = secrets.randbelow(2**31 - 1) + 1
        self._lock_conn: psycopg.AsyncConnection[Any] | None = None
        self._elsewhere: list[Callable[[str], None]] = []
        self._queued: list[Callable[[], None]] = []
        self._auth_failed: list[Callable[[], None]] = []
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._published = 0  # the newest revision this replica's tailer handed to its broker
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.write_problem: str | None = None

    # ---------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await _migrate(conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"{_shown(self.url)} cannot be used as a taskboard database: {exc}") from None
        self._pool = AsyncConnectionPool(self.url, min_size=2, max_size=POOL_MAX, open=False,
                                         kwargs={"autocommit": True, "row_factory": dict_row})
        await self._pool.open(wait=True)
        self._published = await self.head_revision()
        await self._renew()
        self._tasks = [asyncio.create_task(self._listen(), name="pg-listen"),
                       asyncio.create_task(self._tail(), name="pg-tail"),
                       asyncio.create_task(self._keep_lease(), name="pg-lease")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._pool is not None:
            with contextlib.suppress(psycopg.Error):  # gone for good: nothing of ours is held any more
                async with self._connection() as conn:
                    await conn.execute("DELETE FROM replicas WHERE id = %s", (self.replica_id,))
            await self._pool.close()
        if self._lock_conn is not None:
            await self._lock_conn.close()
            self._lock_conn = None
            self._pool = None

    def health_problem(self) -> str | None:
        return self.write_problem

    @property
    def committed_revision(self) -> int:
        return self._published

    async def head_revision(self) -> int:
        return int(await self._scalar(f"SELECT {_HEAD} AS r") or 0)

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (psycopg.Error,)

    @property
    def shared(self) -> bool:
        return True

    def on_changed_elsewhere(self, callback: Callable[[str], None]) -> None:
        self._elsewhere.append(callback)

    def on_run_queued(self, callback: Callable[[], None]) -> None:
        self._queued.append(callback)

    def _runs_queued(self) -> None:
        for callback in self._queued:
            callback()

    def on_auth_failure(self, callback: Callable[[], None]) -> None:
        self._auth_failed.append(callback)

    def _auth_failure_heard(self) -> None:
        for callback in self._auth_failed:
            callback()

    async def add_auth_failure(self, address: str, window: float) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM auth_failures WHERE at <= clock_timestamp() - make_interval(secs => %s)",
                               (window,))
            await conn.execute("INSERT INTO auth_failures (address) VALUES (%s)", (address,))
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.replica_id}|a|"))
        self._auth_failure_heard()

    async def auth_failures(self, address: str, window: float) -> tuple[int, float, int, float]:
        # The database's clock, so servers whose clocks differ count one window.
        row = await self._fetchone(
            "SELECT COUNT(*) FILTER (WHERE address = ?) AS mine, EXTRACT(EPOCH FROM MIN(at) FILTER (WHERE address"
            " = ?) + make_interval(secs => ?) - clock_timestamp()) AS mine_wait, COUNT(*) AS total, EXTRACT(EPOCH"
            " FROM MIN(at) + make_interval(secs => ?) - clock_timestamp()) AS total_wait FROM auth_failures"
            " WHERE at > clock_timestamp() - make_interval(secs => ?)", (address, address, window, window, window))
        assert row is not None  # an aggregate without GROUP BY is one row
        return (int(row["mine"]), float(row["mine_wait"] or 0), int(row["total"]), float(row["total_wait"] or 0))

    async def claim_run(self, runtimes: Collection[str]) -> Row | None:
        # Not under the write lock: a claim takes no revision, and SKIP LOCKED lets runners claim side by side.
        if not runtimes:
            return None
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                "WITH next AS (SELECT r.id FROM runs r JOIN tasks t ON t.id = r.task_id AND t.attempt = r.attempt "
                "AND t.status IN ('running', 'awaiting_input') WHERE r.queued AND r.finished_at IS NULL "
                "AND r.runtime = ANY(%s) ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED) "
                "UPDATE runs SET owner = %s, queued = false FROM next WHERE runs.id = next.id "
                "RETURNING runs.task_id, runs.attempt, runs.runtime, runs.resumed",
                (list(runtimes), self.replica_id))
            row: Row | None = await cur.fetchone()
            return row

    # ---------------------------------------------------------------- the lease

    async def _renew(self) -> None:
        if self._lock_conn is None or self._lock_conn.closed:
            # A session of its own holds this server's lock for as long as the process lives.
            self._lock_conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            await self._lock_conn.execute("SELECT pg_advisory_lock(%s, %s)", (REPLICA_LOCK_CLASS, self.lock_key))
        async with self._connection() as conn:
            await conn.execute("INSERT INTO replicas (id, lock_key) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                               "SET heartbeat_at = now()", (self.replica_id, self.lock_key))

    async def _keep_lease(self) -> None:
        """Renew this server's lease every third of it; a server that stops renewing has its runs reaped."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not renew this server's lease (%s); trying again", exc)

    # ---------------------------------------------------------------- the tailer: table first, NOTIFY to wake

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; each notification wakes the tailer and the named tasks' streams."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # whatever was missed while not listening comes from the table
                    self._runs_queued()  # a run queued while not listening is claimed now
                    self._auth_failure_heard()  # and a wrong key given meanwhile is looked up
                    async for note in conn.notifies():
                        self._wake.set()
                        origin, flags, tasks = note.payload.split("|", 2)
                        if "q" in flags:
                            self._runs_queued()
                        if "a" in flags:
                            self._auth_failure_heard()
                            continue
                        if tasks == "*":
                            self.broker.notify_all_tasks()
                            continue
                        for task_id in filter(None, tasks.split(",")):
                            self.broker.notify_task(task_id)
                            if origin != self.replica_id:
                                for callback in self._elsewhere:
                                    callback(task_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted, the network dropped: listen again
                log.warning("PostgreSQL listener lost (%s); reconnecting", exc)
                await asyncio.sleep(POLL_SECONDS)

    async def _tail(self) -> None:
        """On a connection of its own: behind a burst of writes the pool's connections all wait for the write
        lock, and the watch streams must not wait with them (a change through another server reached a
        watch here hundreds of ms late under load)."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, row_factory=dict_row)
                    while True:
                        cur = await conn.execute(to_psycopg(READ_EVENTS), (self._published, 1000))
                        rows = await cur.fetchall()
                        if not rows:
                            break
                        self._published = int(rows[-1]["revision"])
                        self.broker.publish([(int(r["revision"]), str(r["type"]), str(r["payload"])) for r in rows])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("could not read the events table (%s); trying again", exc)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                        conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    # ---------------------------------------------------------------- reads

    def _require_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        assert self._pool is not None, "store is not open"
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection, given back even when the request it serves is cancelled (a stream whose client
        went away). Starlette cancels such a request through an anyio scope, which cancels every later await
        in it too, the pool's own give-back included: with psycopg_pool's `connection()` each client that
        dropped a log stream mid-read kept one connection, and ten of them left the pool empty (PoolTimeout
        for every request after; the stream harness found it)."""
        pool = self._require_pool()
        conn = await pool.getconn()
        try:
            yield conn
        finally:
            with anyio.CancelScope(shield=True):
                await pool.putconn(conn)

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if _finds_nothing(sql, params):
            return []
        async with self._connection() as conn:
            cur = await conn.execute(to_psycopg(sql), params)
            return list(await cur.fetchall())

    async def list_tasks(self, *, statuses: list[str] | None = None, project_id: str | None = None,
                         q: str | None = None, workflow_id: str | None = None,
                         assigned_agent: str | None = None, sort: str = "priority",
                         limit: int = 100, offset: int = 0, summary: bool = False) -> tuple[list[str], int, int]:
        where, params = filters(statuses=statuses, project_id=project_id)
        countable = workflow_id is None and assigned_agent is None and not q
        count_where, count_params = where, list(params)
        if workflow_id is not None:
            where, params = and_(where, params, "workflow_id = ?", workflow_id)
        if assigned_agent is not None:
            where, params = and_(where, params, "assigned_agent = ?", assigned_agent)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # ILIKE: SQLite's LIKE ignores ASCII case, and the search means the same on both stores.
            where, params = and_(where, params,
                                 "(title ILIKE ? ESCAPE '\\' OR description ILIKE ? ESCAPE '\\' OR id = ?)",
                                 f"%{escaped}%", f"%{escaped}%", q)
        # One statement, one round trip: the head revision (and, from the trigger's counts, the total) as
        # columns of the page, read in the page's own snapshot, so the page holds every change up to the head.
        # A total that needs a count of the rows is read only when the page is full, as before.
        counted = f"(SELECT COALESCE(SUM(n), 0) FROM task_counts{count_where})"
        columns, column_params = f"{_HEAD} AS list_head_", []
        if countable:
            columns += f", {counted} AS list_total_"
            column_params = count_params
        rows = await self._fetchall(f"SELECT *, {columns} FROM tasks{where} ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
                                    [*column_params, *params, limit, offset])
        revision = int(rows[0]["list_head_"]) if rows else await self.head_revision()
        if offset == 0 and len(rows) < limit:
            total = len(rows)
        elif countable:
            total = int(rows[0]["list_total_"]) if rows else int(await self._scalar(f"SELECT {counted} AS n",
                                                                                     count_params) or 0)
        else:
            total = int(await self._scalar(f"SELECT COUNT(*) AS n FROM tasks{where}", params) or 0)
        leave_out = SUMMARY_LEAVES_OUT if summary else frozenset()
        pages = []
        for row in rows:
            wire = task_row_to_wire(row)
            for name in leave_out:
                wire.pop(name, None)
            pages.append(json.dumps(wire, separators=(",", ":"), ensure_ascii=False))
        return pages, total, revision

    async def read_log_frames(self, task_id: str, after: int, limit: int = 500) -> list[tuple[int, str]]:
        rows = await self._fetchall("SELECT id, task_id, event_type, message, data, ts FROM task_events "
                                    "WHERE task_id = ? AND kind = 'log' AND id > ? ORDER BY id LIMIT ?",
                                    (task_id, after, limit))
        return [_log_frame(r) for r in rows]

    # ---------------------------------------------------------------- writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTx]:
        try:
            async with self._connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                tx = PostgresTx(conn, self)
                yield tx
                # Pruned when the revisions cross a thousand, as on SQLite: the newest event_retention stay.
                if tx.events and tx.events[-1][0] // 1000 != (tx.events[0][0] - 1) // 1000:
                    await conn.execute("DELETE FROM events WHERE revision <= %s",
                                       (tx.events[-1][0] - self.event_retention,))
                if tx.touched_tasks or tx.events:
                    touched = sorted(tx.touched_tasks)
                    flags = "q" if tx.queued else ""
                    payload = f"{self.replica_id}|{flags}|" + ("*" if len(touched) > NOTIFY_TASKS_MAX
                                                                else ",".join(touched))
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except psycopg.OperationalError as exc:
            self.write_problem = f"The database cannot be written: {exc}"
            raise StoreNotWritable(f"The database cannot be written: {str(exc).strip()}") from exc
        self.write_problem = None
        # This replica's own streams need not wait for the notification's round trip.
        self._wake.set()
        for task_id in tx.touched_tasks:
            self.broker.notify_task(task_id)
        if tx.queued:
            self._runs_queued()


async def _migrate(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS taskboard_schema (version INTEGER NOT NULL)")
        cur = await conn.execute("SELECT version FROM taskboard_schema")
        row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(f"the database has schema version {version}, newer than this taskboard "
                                   f"({SCHEMA_VERSION})")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            async with conn.transaction():
                await conn.execute(MIGRATIONS[target].encode())
                await conn.execute("DELETE FROM taskboard_schema")
                await conn.execute("INSERT INTO taskboard_schema (version) VALUES (%s)", (target,))
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))


def _shown(url: str) -> str:
    from taskboard_backend.settings import Settings

    return Settings(db_url=url).db_shown


def check_database_url(url: str) -> None:
    """A one-line StoreUnavailable for a server that cannot be reached or a schema newer than this taskboard,
    before the port is bound."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT to_regclass('taskboard_schema') IS NOT NULL").fetchone()
            if exists and exists[0]:
                row = conn.execute("SELECT version FROM taskboard_schema").fetchone()
                if row and int(row[0]) > SCHEMA_VERSION:
                    raise StoreUnavailable(f"{_shown(url)} has schema version {row[0]}, newer than this taskboard "
                                           f"({SCHEMA_VERSION})")
    except psycopg.Error as exc:
        raise StoreUnavailable(f"{_shown(url)} cannot be used as a taskboard database: "
                               f"{str(exc).strip().splitlines()[0]}") from None

