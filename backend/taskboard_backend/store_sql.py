"""The statements both stores run as written: SQLite and PostgreSQL share this SQL, once.

Written with `?` placeholders and nothing either engine reads differently (no MAX(a, b), no LIKE, no JSON
functions); PostgresStore turns `?` into its driver's `%s`. A store subclasses `SqlTx` and `SqlStore` and
supplies the few primitives (run a statement, fetch rows, take a revision, publish after commit).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from taskboard.models import TaskStatus, sources_for
from taskboard_backend.errors import InvalidTransition, NotFound
from taskboard_backend.store import (
    TASK_JSON_COLUMNS,
    Row,
    Store,
    Tx,
    dump_json,
    now_iso,
    permission_row_to_wire,
    task_row_to_wire,
    transition_message,
)

Params = Sequence[Any]

# The columns a new task is inserted with (the rest take their defaults).
INSERT_COLUMNS = ("id", "title", "description", "project_id", "status", "priority", "assigned_agent",
                  "agent_profile", "task_type", "params", "document_ids", "workflow_id", "step_index",
                  "source_type", "parent_id", "created_at", "updated_at", "revision")
PERMISSION_COLUMNS = ("id", "task_id", "attempt", "tool_name", "tool_input", "message", "suggested_pattern",
                      "created_at", "status", "behavior", "decided_by", "rule_id", "resolved_at")
# Sums are cast: PostgreSQL's SUM of a BIGINT is a NUMERIC (a Decimal in Python), SQLite's an integer.
PROJECT_TASK_COUNT = ("(SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM task_counts c WHERE c.project_id = p.id)"
                      " AS task_count")
# Rows a deleted task leaves in other tables (its runs stay: deleting a task must not refund the budget).
# The list's indexes, the same on both stores: each ends with the tie-breaker (id), so ORDER BY ... LIMIT
# walks one index and stops.
TASK_INDEXES = """
CREATE INDEX tasks_by_workflow ON tasks(workflow_id, step_index);
CREATE INDEX tasks_by_agent ON tasks(assigned_agent);
CREATE INDEX tasks_by_priority ON tasks(priority, created_at DESC, id);
CREATE INDEX tasks_by_created ON tasks(created_at, id);
CREATE INDEX tasks_by_updated ON tasks(updated_at, id);
CREATE INDEX tasks_by_title ON tasks(title, id);
CREATE INDEX tasks_by_status ON tasks(status, priority, created_at DESC, id);
CREATE INDEX tasks_by_status_created ON tasks(status, created_at, id);
CREATE INDEX tasks_by_status_updated ON tasks(status, updated_at, id);
CREATE INDEX tasks_by_project ON tasks(project_id, priority, created_at DESC, id);
CREATE INDEX tasks_by_project_created ON tasks(project_id, created_at, id);
CREATE INDEX tasks_by_project_updated ON tasks(project_id, updated_at, id);
CREATE INDEX tasks_by_project_status ON tasks(project_id, status, priority, created_at DESC, id);
"""
TASK_OWNED_TABLES = ("task_events", "messages", "permissions")
# The watch stream's rows after a revision, in order (a page of them).
READ_EVENTS = "SELECT revision, type, payload FROM events WHERE revision > ? ORDER BY revision LIMIT ?"
# The saved rules that still match at a moment (ISO 8601 text in one form compares as time does: store.iso).
RULES_IN_FORCE = ("SELECT id, pattern, behavior, saved_by FROM permission_rules"
                  " WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at, id")


def in_list(values: Sequence[Any]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"


class SqlTx(Tx):
    """The write operations, in the SQL both engines share."""

    def __init__(self, run_owner: str | None = None) -> None:
        self.events: list[tuple[int, str, str]] = []
        self.touched_tasks: set[str] = set()
        self.run_owner = run_owner

    # ---------------------------------------------------------------- primitives a store supplies

    @abstractmethod
    async def _execute(self, sql: str, params: Params = ()) -> None: ...

    @abstractmethod
    async def _executemany(self, sql: str, rows: list[Params]) -> None: ...

    @abstractmethod
    async def _fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def _insert_returning_id(self, sql: str, params: Params) -> int:
        """INSERT one row into a table with an integer key; the key."""

    # ---------------------------------------------------------------- events

    async def emit(self, type_: str, *, task_id: str | None = None, task: dict[str, Any] | None = None,
                   permission: dict[str, Any] | None = None, revision: int | None = None) -> int:
        rev = revision if revision is not None else await self.next_revision()
        body: dict[str, Any] = {"revision": rev, "type": type_, "timestamp": now_iso()}
        if task_id is not None:
            body["taskId"] = task_id
        if task is not None:
            body["task"] = task
        if permission is not None:
            body["permission"] = permission
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False)
        await self._execute("INSERT INTO events (revision, type, task_id, payload) VALUES (?, ?, ?, ?)",
                            (rev, type_, task_id, payload))
        self.events.append((rev, type_, payload))
        if task_id:
            self.touched_tasks.add(task_id)
        return rev

    async def task_event(self, task_id: str, kind: str, event_type: str, message: str,
                         data: dict[str, Any] | None = None, ts: str | None = None) -> int:
        self.touched_tasks.add(task_id)
        return await self._insert_returning_id(
            "INSERT INTO task_events (task_id, kind, event_type, message, data, ts) VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, kind, event_type, message, dump_json(data), ts or now_iso()))

    async def task_events(self, task_id: str, kind: str, lines: list[tuple[str, str]]) -> None:
        ts = now_iso()
        await self._executemany(
            "INSERT INTO task_events (task_id, kind, event_type, message, data, ts) VALUES (?, ?, ?, ?, NULL, ?)",
            [(task_id, kind, event_type, message, ts) for event_type, message in lines])
        self.touched_tasks.add(task_id)

    # ---------------------------------------------------------------- tasks

    async def insert_task(self, fields: dict[str, Any]) -> dict[str, Any]:
        rev = await self.next_revision()
        values = {**fields, "revision": rev}
        for col in TASK_JSON_COLUMNS:
            if col in values:
                values[col] = dump_json(values[col])
        row = await self._fetchone(
            f"INSERT INTO tasks ({', '.join(INSERT_COLUMNS)}) VALUES {in_list(INSERT_COLUMNS)} RETURNING *",
            [values.get(col) for col in INSERT_COLUMNS])
        assert row is not None  # INSERT ... RETURNING gives the row
        wire = task_row_to_wire(row)
        await self.emit("task.upserted", task_id=fields["id"], task=wire, revision=rev)
        return wire

    async def update_task(self, task_id: str, fields: dict[str, Any], *,
                          from_statuses: Iterable[TaskStatus] | None = None,
                          attempt: int | None = None) -> dict[str, Any] | None:
        rev = await self.next_revision()
        sets = dict(fields)
        for col in TASK_JSON_COLUMNS:
            if col in sets:
                sets[col] = dump_json(sets[col])
        sets.setdefault("updated_at", now_iso())
        sets["revision"] = rev
        params: list[Any] = list(sets.values())
        where = "id = ?"
        params.append(task_id)
        if from_statuses is not None:
            statuses = [TaskStatus(s).value for s in from_statuses]
            if not statuses:
                where += " AND 1 = 0"
            else:
                where += " AND status IN " + in_list(statuses)
                params.extend(statuses)
        if attempt is not None:
            where += " AND attempt = ?"
            params.append(attempt)
        assignments = ", ".join(f"{col} = ?" for col in sets)
        row = await self._fetchone(f"UPDATE tasks SET {assignments} WHERE {where} RETURNING *", params)
        if row is None:
            await self._revision_unused(rev)
            return None
        wire = task_row_to_wire(row)
        await self.emit("task.upserted", task_id=task_id, task=wire, revision=rev)
        return wire

    async def _revision_unused(self, revision: int) -> None:
        """A revision taken for an UPDATE that matched nothing (SQLite gives it back; a sequence cannot)."""

    async def transition(self, task_id: str, target: TaskStatus, fields: dict[str, Any] | None = None, *,
                         from_statuses: Iterable[TaskStatus] | None = None,
                         attempt: int | None = None) -> dict[str, Any]:
        allowed = sources_for(target) if from_statuses is None else frozenset(from_statuses) & sources_for(target)
        data = {"status": target.value, **(fields or {})}
        wire = await self.update_task(task_id, data, from_statuses=allowed, attempt=attempt)
        if wire is None:
            row = await self.run_state(task_id)
            if row is None:
                raise NotFound("Task not found")
            current = TaskStatus(row["status"])
            if attempt is not None and row["attempt"] != attempt:
                raise InvalidTransition(f"Stale attempt {attempt}: the task is on attempt {row['attempt']}")
            raise InvalidTransition(transition_message(current, target))
        await self.task_event(task_id, "progress", "status", f"Status: {target.value}",
                              {"status": target.value, "progress": wire.get("progress")})
        return wire

    async def run_state(self, task_id: str) -> Row | None:
        return await self._fetchone("SELECT status, attempt, resume_count FROM tasks WHERE id = ?", (task_id,))

    async def orphaned_tasks(self, *, ours: bool) -> list[Row]:
        return await self._fetchall("SELECT id, status, checkpoint FROM tasks "
                                    "WHERE status IN ('running', 'awaiting_input')")

    async def add_cost(self, task_id: str, cost_micros: int, tokens: int) -> None:
        await self._execute("UPDATE tasks SET cost_micros = cost_micros + ?, total_tokens = total_tokens + ? "
                            "WHERE id = ?", (cost_micros, tokens, task_id))

    async def save_checkpoint(self, task_id: str, data: dict[str, Any]) -> None:
        await self._execute("UPDATE tasks SET checkpoint = ? WHERE id = ?", (json.dumps(data), task_id))

    async def delete_task(self, task_id: str) -> bool:
        row = await self._fetchone("DELETE FROM tasks WHERE id = ? RETURNING id", (task_id,))
        if row is None:
            return False
        await self._delete_owned([task_id])
        return True

    async def delete_finished_before(self, cutoff: str) -> list[str]:
        rows = await self._fetchall(
            "DELETE FROM tasks WHERE status IN ('completed', 'failed') AND updated_at < ? RETURNING id", (cutoff,))
        ids = [str(r["id"]) for r in rows]
        await self._delete_owned(ids)
        return ids

    async def _delete_owned(self, task_ids: list[str]) -> None:
        """The one delete cascade: what the tasks owned, then task.deleted for each."""
        for task_id in task_ids:
            await self._expire_pending(task_id)
            for table in TASK_OWNED_TABLES:
                await self._execute(f"DELETE FROM {table} WHERE task_id = ?", (task_id,))
            await self.emit("task.deleted", task_id=task_id)

    # ---------------------------------------------------------------- runs

    async def start_run(self, task_id: str, attempt: int, runtime: str, started_at: str, *,
                        model_id: str | None = None, input_tokens: int = 0, output_tokens: int = 0,
                        cost_micros: int = 0, finished_at: str | None = None, outcome: str | None = None) -> None:
        row = {"task_id": task_id, "attempt": attempt, "runtime": runtime, "model_id": model_id,
               "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_micros": cost_micros,
               "started_at": started_at, "finished_at": finished_at, "outcome": outcome}
        if self.run_owner is not None:
            row["owner"] = self.run_owner  # the server whose lease holds this run (PostgreSQL)
        await self._execute(f"INSERT INTO runs ({', '.join(row)}) VALUES {in_list(list(row))}", list(row.values()))

    async def add_usage(self, task_id: str, attempt: int, model_id: str, input_tokens: int, output_tokens: int,
                        cost_micros: int) -> None:
        await self._execute(
            "UPDATE runs SET model_id = ?, input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
            "cost_micros = cost_micros + ? WHERE task_id = ? AND attempt = ?",
            (model_id, input_tokens, output_tokens, cost_micros, task_id, attempt))
        await self.add_cost(task_id, cost_micros, input_tokens + output_tokens)

    async def end_run(self, task_id: str, attempt: int, outcome: str) -> None:
        await self._execute("UPDATE runs SET finished_at = ?, outcome = ? WHERE task_id = ? AND attempt = ? "
                            "AND finished_at IS NULL", (now_iso(), outcome, task_id, attempt))

    async def end_orphaned_runs(self, outcome: str, *, ours: bool) -> None:
        await self._execute("UPDATE runs SET finished_at = ?, outcome = ? WHERE finished_at IS NULL",
                            (now_iso(), outcome))

    async def set_run_diff(self, task_id: str, attempt: int, diff: str) -> dict[str, Any] | None:
        wire = await self.update_task(task_id, {}, attempt=attempt)  # the fence: the task is on this attempt
        if wire is not None:
            await self._execute("UPDATE runs SET diff = ? WHERE task_id = ? AND attempt = ?",
                                (diff or None, task_id, attempt))
        return wire

    # ---------------------------------------------------------------- messages

    async def add_message(self, task_id: str, role: str, message: str) -> None:
        await self._execute("INSERT INTO messages (task_id, role, message, created_at) VALUES (?, ?, ?, ?)",
                            (task_id, role, message, now_iso()))

    # ---------------------------------------------------------------- permissions and rules

    async def add_permission(self, fields: dict[str, Any]) -> None:
        await self._execute(f"INSERT INTO permissions ({', '.join(PERMISSION_COLUMNS)}) VALUES "
                            f"{in_list(PERMISSION_COLUMNS)}", [fields.get(col) for col in PERMISSION_COLUMNS])

    async def permission(self, notification_id: str, *, with_title: bool = False) -> Row | None:
        if with_title:
            return await self._fetchone("SELECT p.*, t.title AS task_title FROM permissions p JOIN tasks t "
                                        "ON t.id = p.task_id WHERE p.id = ?", (notification_id,))
        return await self._fetchone("SELECT * FROM permissions WHERE id = ?", (notification_id,))

    async def pending_permissions(self) -> list[Row]:
        return await self._fetchall("SELECT * FROM permissions WHERE status = 'pending' ORDER BY created_at")

    async def resolve_permission(self, notification_id: str, *, status: str, behavior: str, decided_by: str,
                                 response_message: str | None = None, rule_id: str | None = None) -> Row | None:
        return await self._fetchone(
            "UPDATE permissions SET status = ?, behavior = ?, response_message = ?, decided_by = ?, rule_id = ?,"
            " resolved_at = ? WHERE id = ? AND status = 'pending' RETURNING *",
            (status, behavior, response_message, decided_by, rule_id, now_iso(), notification_id))

    async def link_rule(self, notification_id: str, rule_id: str) -> Row | None:
        return await self._fetchone("UPDATE permissions SET rule_id = ? WHERE id = ? RETURNING *",
                                    (rule_id, notification_id))

    async def expire_pending_permissions(self, task_id: str) -> list[Row]:
        return await self._expire_pending(task_id)

    async def _expire_pending(self, task_id: str) -> list[Row]:
        rows = await self._fetchall(
            "UPDATE permissions SET status = 'expired', resolved_at = ? WHERE task_id = ? AND status = 'pending' "
            "RETURNING *", (now_iso(), task_id))
        for row in rows:
            await self.emit("permission.resolved", task_id=task_id, permission=permission_row_to_wire(row))
        return rows

    async def change_pending_count(self, task_id: str, delta: int) -> None:
        await self._execute("UPDATE tasks SET pending_permissions = CASE WHEN pending_permissions + ? > 0 "
                            "THEN pending_permissions + ? ELSE 0 END WHERE id = ?", (delta, delta, task_id))

    async def rules_in_force(self, at: str) -> list[Row]:
        return await self._fetchall(RULES_IN_FORCE, (at,))

    async def add_rule(self, rule_id: str, pattern: str, behavior: str, source: str, created_at: str, *,
                       saved_by: str | None = None, expires_at: str | None = None) -> None:
        await self._execute("INSERT INTO permission_rules (id, pattern, behavior, source, created_at, saved_by,"
                            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (rule_id, pattern, behavior, source, created_at, saved_by, expires_at))

    async def rule_matched(self, rule_id: str, at: str) -> None:
        await self._execute("UPDATE permission_rules SET match_count = match_count + 1, last_matched_at = ?"
                            " WHERE id = ?", (at, rule_id))

    async def delete_rule(self, rule_id: str) -> bool:
        return await self._fetchone("DELETE FROM permission_rules WHERE id = ? RETURNING id", (rule_id,)) is not None

    # ---------------------------------------------------------------- projects and workflows

    async def add_project(self, project_id: str, name: str, description: str | None, working_directory: str | None,
                          created_at: str) -> None:
        await self._execute("INSERT INTO projects (id, name, description, working_directory, created_at)"
                            " VALUES (?, ?, ?, ?, ?)", (project_id, name, description, working_directory, created_at))

    async def add_workflow(self, workflow_id: str, name: str, project_id: str | None, created_at: str) -> None:
        await self._execute("INSERT INTO workflows (id, name, project_id, created_at) VALUES (?, ?, ?, ?)",
                            (workflow_id, name, project_id, created_at))


class SqlStore(Store):
    """The reads, in the SQL both engines share."""

    @abstractmethod
    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def _fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return next(iter(await self._fetchall(sql, params)), None)

    async def _scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self._fetchone(sql, params)
        return None if row is None else next(iter(dict(row).values()))

    # ---------------------------------------------------------------- tasks

    async def get_task_row(self, task_id: str) -> Row | None:
        return await self._fetchone("SELECT * FROM tasks WHERE id = ?", (task_id,))

    async def task_status(self, task_id: str) -> str | None:
        status = await self._scalar("SELECT status FROM tasks WHERE id = ?", (task_id,))
        return None if status is None else str(status)

    async def task_with_names(self, task_id: str) -> Row | None:
        return await self._fetchone(
            "SELECT t.*, p.name AS project_name, w.name AS workflow_name FROM tasks t "
            "LEFT JOIN projects p ON p.id = t.project_id LEFT JOIN workflows w ON w.id = t.workflow_id "
            "WHERE t.id = ?", (task_id,))

    async def task_usage(self, task_id: str) -> Row | None:
        return await self._fetchone(
            "SELECT CAST(SUM(input_tokens) AS BIGINT) AS i, CAST(SUM(output_tokens) AS BIGINT) AS o,"
            " CAST(SUM(cost_micros) AS BIGINT) AS c, MIN(started_at) AS s,"
            " MAX(finished_at) AS f, COUNT(*) AS n, (SELECT model_id FROM runs r2 WHERE r2.task_id = ?"
            " AND model_id IS NOT NULL ORDER BY attempt DESC LIMIT 1) AS m FROM runs WHERE task_id = ?",
            (task_id, task_id))

    async def count_tasks(self, statuses: Iterable[str] | None = None) -> int:
        if statuses is None:
            return int(await self._scalar("SELECT COUNT(*) AS n FROM tasks") or 0)
        wanted = list(statuses)
        return int(await self._scalar(f"SELECT COUNT(*) AS n FROM tasks WHERE status IN {in_list(wanted)}",
                                      wanted) or 0)

    async def failed_with_error(self, error: str) -> list[Row]:
        return await self._fetchall("SELECT id, assigned_agent FROM tasks WHERE status = 'failed' AND error = ? "
                                    "ORDER BY created_at", (error,))

    async def awaiting_input_since(self, before: str) -> list[Row]:
        return await self._fetchall("SELECT id, assigned_agent FROM tasks WHERE status = 'awaiting_input' "
                                    "AND updated_at < ?", (before,))

    async def workflow_row(self, workflow_id: str) -> Row | None:
        return await self._fetchone("SELECT * FROM workflows WHERE id = ?", (workflow_id,))

    async def workflow_ids(self, limit: int) -> list[str]:
        rows = await self._fetchall("SELECT id FROM workflows ORDER BY created_at DESC LIMIT ?", (limit,))
        return [str(r["id"]) for r in rows]

    async def workflow_tasks(self, workflow_id: str) -> list[Row]:
        return await self._fetchall("SELECT * FROM tasks WHERE workflow_id = ? ORDER BY step_index", (workflow_id,))

    async def workflow_siblings(self, workflow_id: str, task_id: str) -> list[Row]:
        return await self._fetchall(
            "SELECT id, title, status, created_at, step_index FROM tasks WHERE workflow_id = ? AND id != ? "
            "ORDER BY step_index, created_at", (workflow_id, task_id))

    async def run_diffs(self, task_id: str) -> list[str]:
        rows = await self._fetchall("SELECT diff FROM runs WHERE task_id = ? AND diff IS NOT NULL ORDER BY attempt",
                                    (task_id,))
        return [str(r["diff"]) for r in rows]

    # ---------------------------------------------------------------- streams

    async def read_task_events(self, task_id: str, kind: str, after: int, limit: int = 500) -> list[Row]:
        return await self._fetchall(
            "SELECT id, task_id, event_type, message, data, ts FROM task_events "
            "WHERE task_id = ? AND kind = ? AND id > ? ORDER BY id LIMIT ?", (task_id, kind, after, limit))

    async def read_events(self, after: int, limit: int = 1000) -> list[Row]:
        return await self._fetchall(READ_EVENTS, (after, limit))

    async def oldest_event_revision(self) -> int | None:
        oldest = await self._scalar("SELECT MIN(revision) AS r FROM events")
        return None if oldest is None else int(oldest)

    # ---------------------------------------------------------------- messages, permissions, rules

    async def messages(self, task_id: str) -> list[Row]:
        return await self._fetchall("SELECT * FROM messages WHERE task_id = ? ORDER BY id", (task_id,))

    async def permission(self, notification_id: str, task_id: str | None = None) -> Row | None:
        if task_id is None:
            return await self._fetchone("SELECT * FROM permissions WHERE id = ?", (notification_id,))
        return await self._fetchone("SELECT * FROM permissions WHERE id = ? AND task_id = ?",
                                    (notification_id, task_id))

    async def list_permissions(self, status: str | None, task_id: str | None, limit: int) -> list[Row]:
        where, params = [], list[Any]()
        if status:
            where.append("p.status = ?")
            params.append(status)
        if task_id:
            where.append("p.task_id = ?")
            params.append(task_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        return await self._fetchall(
            f"SELECT p.*, t.title AS task_title FROM permissions p LEFT JOIN tasks t ON t.id = p.task_id{clause}"
            " ORDER BY p.created_at DESC LIMIT ?", [*params, limit])

    async def pending_permissions_since(self, before: str) -> list[Row]:
        return await self._fetchall(
            "SELECT p.id, p.task_id, t.assigned_agent FROM permissions p JOIN tasks t ON t.id = p.task_id"
            " WHERE p.status = 'pending' AND p.created_at < ?", (before,))

    async def list_rules(self) -> list[Row]:
        return await self._fetchall("SELECT * FROM permission_rules ORDER BY created_at, id")

    async def rules_in_force(self, at: str) -> list[Row]:
        return await self._fetchall(RULES_IN_FORCE, (at,))

    # ---------------------------------------------------------------- projects, facts

    async def list_projects(self) -> list[Row]:
        return await self._fetchall(
            f"SELECT p.*, {PROJECT_TASK_COUNT} FROM projects p ORDER BY p.name")

    async def project(self, project_id: str) -> Row | None:
        return await self._fetchone(
            f"SELECT p.*, {PROJECT_TASK_COUNT} FROM projects p WHERE p.id = ?", (project_id,))

    async def status_counts(self) -> list[Row]:
        return await self._fetchall("SELECT status, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(cost_micros) AS BIGINT) AS c"
                                    " FROM task_counts GROUP BY status")

    async def pending_permission_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) AS n FROM permissions WHERE status = 'pending'") or 0)

    async def cost_since(self, since: str) -> int:
        return int(await self._scalar("SELECT COALESCE(SUM(cost_micros), 0) AS c FROM runs WHERE started_at >= ?",
                                      (since,)) or 0)


def filters(*, statuses: list[str] | None, project_id: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause for the filters both tasks and task_counts have."""
    where, params = "", list[Any]()
    if statuses:
        where, params = and_(where, params, "status IN " + in_list(statuses), *statuses)
    if project_id is not None:
        where, params = and_(where, params, "project_id = ?", project_id)
    return where, params


def and_(where: str, params: list[Any], condition: str, *values: Any) -> tuple[str, list[Any]]:
    return (f"{where} AND {condition}" if where else f" WHERE {condition}"), [*params, *values]
