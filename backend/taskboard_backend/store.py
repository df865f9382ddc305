"""The aiosqlite store.

One writer connection behind an asyncio lock (so "database is locked" cannot
happen inside the process) and one reader beside it; WAL lets them run
together. Every write runs in `BEGIN IMMEDIATE`; the watch-stream events a
write causes are inserted in the same transaction, and only published to
subscribers after COMMIT, so no client can see an event for a change that was
not stored.
"""

from __future__ import annotations

import asyncio
import json
import itertools
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from taskboard.models import TRANSITIONS, TaskStatus, sources_for
from taskboard_backend.broker import Broker
from taskboard_backend.errors import InvalidTransition, NotFound

SCHEMA_VERSION = 1

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
}

TASK_JSON_COLUMNS = ("params", "result_data", "progress", "document_ids", "checkpoint")

# Sort keys the list endpoint accepts, mapped to SQL; every one is backed by an index.
SORTS: dict[str, str] = {
    "priority": "priority ASC, created_at DESC",
    "-priority": "priority DESC, created_at DESC",
    "created": "created_at ASC",
    "-created": "created_at DESC",
    "updated": "updated_at ASC",
    "-updated": "updated_at DESC",
    "status": "status ASC, priority ASC, created_at DESC",
    "-status": "status DESC, priority ASC, created_at DESC",
    "title": "title ASC",
    "-title": "title DESC",
}
SORT_ALIASES = {"createdAt": "created", "updatedAt": "updated"}


_fixed_now: datetime | None = None
_id_counter = itertools.count(1)


def use_fixed_clock(at: datetime) -> None:
    """Freeze the clock and make ids sequential: snapshot tests and screenshots need both."""
    global _fixed_now
    _fixed_now = at.astimezone(UTC)


def utcnow() -> datetime:
    return _fixed_now or datetime.now(UTC)


def now_iso() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id() -> str:
    if _fixed_now is not None:
        return f"00000000-0000-4000-8000-{next(_id_counter):012d}"
    return str(uuid.uuid4())


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def task_row_to_wire(row: aiosqlite.Row | dict[str, Any]) -> dict[str, Any]:
    """A tasks row as the camelCase wire dict of `taskboard.models.Task`."""
    r = dict(row)
    for col in TASK_JSON_COLUMNS:
        if r.get(col) is not None:
            r[col] = json.loads(r[col])
    out: dict[str, Any] = {
        "id": r["id"],
        "title": r["title"],
        "description": r["description"],
        "projectId": r["project_id"],
        "status": r["status"],
        "priority": r["priority"],
        "assignedAgent": r["assigned_agent"],
        "agentProfile": r["agent_profile"],
        "createdAt": r["created_at"],
        "updatedAt": r["updated_at"],
        "taskType": r["task_type"],
        "params": r["params"],
        "result": r["result"],
        "resultData": r["result_data"],
        "error": r["error"],
        "progress": r["progress"],
        "workflowId": r["workflow_id"],
        "stepIndex": r["step_index"],
        "sourceType": r["source_type"],
        "parentId": r["parent_id"],
        "documentIds": r["document_ids"] or [],
        "resumeCount": r["resume_count"],
        "attempt": r["attempt"],
        "pendingPermissions": r["pending_permissions"],
        "costMicros": r["cost_micros"],
        "totalTokens": r["total_tokens"],
        "startedAt": r["started_at"],
        "finishedAt": r["finished_at"],
        "revision": r["revision"],
    }
    return {k: v for k, v in out.items() if v is not None}


class Tx:
    """One write transaction; collects the events to publish after COMMIT."""

    def __init__(self, store: Store, db: aiosqlite.Connection) -> None:
        self.store = store
        self.db = db
        self.events: list[tuple[int, str, str]] = []
        self.touched_tasks: set[str] = set()

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Cursor:
        return await self.db.execute(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    def next_revision(self) -> int:
        self.store.revision += 1
        return self.store.revision

    async def emit(self, type_: str, *, task_id: str | None = None, task: dict[str, Any] | None = None,
                   permission: dict[str, Any] | None = None, revision: int | None = None) -> int:
        rev = revision if revision is not None else self.next_revision()
        body: dict[str, Any] = {"revision": rev, "type": type_, "timestamp": now_iso()}
        if task_id is not None:
            body["taskId"] = task_id
        if task is not None:
            body["task"] = task
        if permission is not None:
            body["permission"] = permission
        payload = json.dumps(body, separators=(",", ":"))
        await self.db.execute(
            "INSERT INTO events (revision, type, task_id, payload) VALUES (?, ?, ?, ?)",
            (rev, type_, task_id, payload),
        )
        self.events.append((rev, type_, payload))
        if task_id:
            self.touched_tasks.add(task_id)
        return rev

    async def task_event(self, task_id: str, kind: str, event_type: str, message: str,
                         data: dict[str, Any] | None = None, ts: str | None = None) -> int:
        cur = await self.db.execute(
            "INSERT INTO task_events (task_id, kind, event_type, message, data, ts) VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, kind, event_type, message, _dump(data), ts or now_iso()),
        )
        self.touched_tasks.add(task_id)
        return int(cur.lastrowid or 0)

    async def update_task(self, task_id: str, fields: dict[str, Any], *,
                          from_statuses: Iterable[TaskStatus] | None = None,
                          attempt: int | None = None) -> dict[str, Any] | None:
        """UPDATE one task atomically, bump its revision and emit `task.upserted`.

        Returns the new wire dict, or None when the row did not match (missing, wrong
        status, or a stale attempt).
        """
        rev = self.next_revision()
        sets = dict(fields)
        for col in TASK_JSON_COLUMNS:
            if col in sets:
                sets[col] = _dump(sets[col])
        sets.setdefault("updated_at", now_iso())
        sets["revision"] = rev
        assignments = ", ".join(f"{col} = :{col}" for col in sets)
        where = "id = :_id"
        params: dict[str, Any] = {**sets, "_id": task_id}
        if from_statuses is not None:
            statuses = [TaskStatus(s).value for s in from_statuses]
            where += " AND status IN (" + ", ".join(f":_s{i}" for i in range(len(statuses))) + ")"
            params.update({f"_s{i}": s for i, s in enumerate(statuses)})
        if attempt is not None:
            where += " AND attempt = :_attempt"
            params["_attempt"] = attempt
        row = await self.fetchone(f"UPDATE tasks SET {assignments} WHERE {where} RETURNING *", params)
        if row is None:
            self.store.revision -= 1
            return None
        wire = task_row_to_wire(row)
        await self.emit("task.upserted", task_id=task_id, task=wire, revision=rev)
        return wire

    async def transition(self, task_id: str, target: TaskStatus, fields: dict[str, Any] | None = None, *,
                         from_statuses: Iterable[TaskStatus] | None = None,
                         attempt: int | None = None) -> dict[str, Any]:
        """Move a task to `target` if the transition table allows it from its current status."""
        allowed = sources_for(target) if from_statuses is None else frozenset(from_statuses) & sources_for(target)
        data = {"status": target.value, **(fields or {})}
        wire = await self.update_task(task_id, data, from_statuses=allowed, attempt=attempt)
        if wire is None:
            row = await self.fetchone("SELECT status, attempt FROM tasks WHERE id = ?", (task_id,))
            if row is None:
                raise NotFound("Task not found")
            current = TaskStatus(row["status"])
            if attempt is not None and row["attempt"] != attempt:
                raise InvalidTransition(f"Stale attempt {attempt}: the task is on attempt {row['attempt']}")
            raise InvalidTransition(transition_message(current, target))
        await self.task_event(task_id, "progress", "status", f"Status: {target.value}",
                              {"status": target.value, "progress": wire.get("progress")})
        return wire


def transition_message(current: TaskStatus, target: TaskStatus) -> str:
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
    return f"Invalid status transition: {current.value} → {target.value} (allowed from {current.value}: {allowed})"


class Store:
    def __init__(self, path: Path, broker: Broker, *, event_retention: int = 50_000) -> None:
        self.path = Path(path)
        self.broker = broker
        self.event_retention = event_retention
        self.revision = 0
        self.committed_revision = 0
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate(self._writer)
        self._reader = await self._connect()
        row = await self.fetchone("SELECT COALESCE(MAX(revision), 0) AS rev FROM events")
        task_rev = await self.fetchone("SELECT COALESCE(MAX(revision), 0) AS rev FROM tasks")
        self.revision = max(int(row["rev"]), int(task_rev["rev"])) if row and task_rev else 0
        self.committed_revision = self.revision

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process; only power loss may drop the last ones.
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        return db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this taskboard ({SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(MIGRATIONS[target]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {target}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        for db in (self._reader, self._writer):
            if db is not None:
                await db.close()
        self._reader = self._writer = None

    # ------------------------------------------------------------------ reads

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Row | None:
        async with self.reader.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self.reader.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def get_task_row(self, task_id: str) -> aiosqlite.Row | None:
        return await self.fetchone("SELECT * FROM tasks WHERE id = ?", (task_id,))

    async def require_task(self, task_id: str) -> dict[str, Any]:
        row = await self.get_task_row(task_id)
        if row is None:
            raise NotFound("Task not found")
        return dict(row)

    async def list_tasks(self, *, statuses: list[str] | None = None, project_id: str | None = None,
                         q: str | None = None, workflow_id: str | None = None,
                         assigned_agent: str | None = None, sort: str = "priority",
                         limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int, int]:
        where, params = [], []
        if statuses:
            where.append("status IN (" + ",".join("?" * len(statuses)) + ")")
            params.extend(statuses)
        if project_id is not None:
            where.append("project_id = ?")
            params.append(project_id)
        if workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        if assigned_agent is not None:
            where.append("assigned_agent = ?")
            params.append(assigned_agent)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\' OR id = ?)")
            params.extend([f"%{escaped}%", f"%{escaped}%", q])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        order = SORTS[sort]
        # Read the committed revision first: the page then holds at least every change up
        # to it, so a watch started from it misses nothing (a repeat is harmless).
        revision = self.committed_revision
        rows = await self.fetchall(
            f"SELECT *, COUNT(*) OVER () AS _total FROM tasks{clause} ORDER BY {order}, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        if rows:
            total = int(rows[0]["_total"])
        else:
            row = await self.fetchone(f"SELECT COUNT(*) AS n FROM tasks{clause}", params)
            total = int(row["n"]) if row else 0
        return [task_row_to_wire(r) for r in rows], total, revision

    async def read_task_events(self, task_id: str, kind: str, after: int, limit: int = 500) -> list[aiosqlite.Row]:
        return await self.fetchall(
            "SELECT id, task_id, event_type, message, data, ts FROM task_events "
            "WHERE task_id = ? AND kind = ? AND id > ? ORDER BY id LIMIT ?",
            (task_id, kind, after, limit),
        )

    async def read_events(self, after: int, limit: int = 1000) -> list[aiosqlite.Row]:
        return await self.fetchall(
            "SELECT revision, type, payload FROM events WHERE revision > ? ORDER BY revision LIMIT ?",
            (after, limit),
        )

    async def oldest_event_revision(self) -> int | None:
        row = await self.fetchone("SELECT MIN(revision) AS r FROM events")
        return None if row is None or row["r"] is None else int(row["r"])

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            db = self._writer
            before = self.revision
            await db.execute("BEGIN IMMEDIATE")
            tx = Tx(self, db)
            try:
                yield tx
                if tx.events and tx.events[-1][0] // 1000 != before // 1000:
                    await db.execute("DELETE FROM events WHERE revision <= ?",
                                     (tx.events[-1][0] - self.event_retention,))
                await db.execute("COMMIT")
            except BaseException:
                self.revision = before
                await db.execute("ROLLBACK")
                raise
            self.committed_revision = self.revision
            # Published only after the commit, and still under the lock, so order holds.
            self.broker.publish(tx.events)
            for task_id in tx.touched_tasks:
                self.broker.notify_task(task_id)


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
