"""The Store interface: every read and write the service, the runner and the streams make, by what it does.

Two stores implement it: `store_sqlite.SqliteStore` (the embedded default, one process per file) and
`store_postgres.PostgresStore` (several replicas on one database). Nothing outside them writes SQL
(tests/test_store_interface.py holds that). The statements both can run as they are are written once, in
`store_sql.py`; each store keeps only what its engine does differently (the list page, the log frames,
migrations, how revisions are taken and how a commit reaches the streams).

A write is a `Tx`, opened by `Store.transaction()`: everything in it commits or none of it does, and the
watch events it emits reach subscribers only after COMMIT, in revision order. To add an operation, add an
abstract method here (named for what it does) and its statement to `store_sql.py`; a statement one engine
cannot run as written goes into both stores instead.
"""

from __future__ import annotations

import itertools
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskboard.models import TaskStatus, transition_refusal
from taskboard_backend.broker import Broker
from taskboard_backend.errors import ApiError, NotFound

# A row as a store returns it: read by column name.
Row = Mapping[str, Any]

TASK_JSON_COLUMNS = ("params", "result_data", "progress", "document_ids", "checkpoint")

# Sort keys the list endpoint accepts, as SQL. Every order ends with id (ties never reshuffle
# between pages) and matches an index exactly; "-key" reverses every column, so the same
# index serves it backwards.
_ORDERS: dict[str, str] = {
    "priority": "priority ASC, created_at DESC, id ASC",
    "created": "created_at ASC, id ASC",
    "updated": "updated_at ASC, id ASC",
    "status": "status ASC, priority ASC, created_at DESC, id ASC",
    "title": "title ASC, id ASC",
}


def _reverse(order: str) -> str:
    return ", ".join(term.replace(" ASC", " _D").replace(" DESC", " ASC").replace(" _D", " DESC")
                     for term in order.split(", "))


SORTS: dict[str, str] = {**_ORDERS, **{f"-{key}": _reverse(order) for key, order in _ORDERS.items()}}
SORT_ALIASES = {"createdAt": "created", "updatedAt": "updated"}
# `view=summary`: what a board row needs; a 100,000-task board loads faster and holds less.
SUMMARY_LEAVES_OUT = frozenset({"description", "params", "result", "resultData", "documentIds"})


_fixed_now: datetime | None = None
_id_counter = itertools.count(1)
# A clock a test moves (--clock-file): the time written in that file, read again when the file changes.
_clock_file: Path | None = None
_clock_read: tuple[int, datetime] | None = None


def use_fixed_clock(at: datetime) -> None:
    """Freeze the clock and make ids sequential: snapshot tests and screenshots need both."""
    global _fixed_now
    _fixed_now = at.astimezone(UTC)


def use_clock_file(path: Path) -> None:
    """Tell the time by a file's contents (an ISO 8601 instant): a test that writes a later time moves
    the server's clock there at once, so an expiry is tested without waiting for it."""
    global _clock_file, _clock_read
    _clock_file, _clock_read = path, None


def _file_time(path: Path) -> datetime:
    global _clock_read
    stamp = path.stat().st_mtime_ns
    if _clock_read is None or _clock_read[0] != stamp:
        parsed = datetime.fromisoformat(path.read_text().strip().replace("Z", "+00:00"))
        _clock_read = (stamp, (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC))
    return _clock_read[1]


def utcnow() -> datetime:
    if _clock_file is not None:
        return _file_time(_clock_file)
    return _fixed_now or datetime.now(UTC)


def iso(at: datetime) -> str:
    """An instant as the store writes it (milliseconds, Z): text in this one form sorts as time does."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return iso(utcnow())


def new_id() -> str:
    if _fixed_now is not None:
        return f"00000000-0000-4000-8000-{next(_id_counter):012d}"
    return str(uuid.uuid4())


def dump_json(value: Any) -> str | None:
    # allow_nan=False: a non-finite number refused at the door must not get in by another way either.
    return None if value is None else json.dumps(value, separators=(",", ":"), allow_nan=False)


def task_row_to_wire(row: Row) -> dict[str, Any]:
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


def permission_row_to_wire(row: Row) -> dict[str, Any]:
    r = dict(row)
    out = {
        "id": r["id"],
        "taskId": r["task_id"],
        "toolName": r["tool_name"],
        "toolInput": json.loads(r["tool_input"]),
        "message": r["message"],
        "suggestedPattern": r["suggested_pattern"],
        "status": r["status"],
        "behavior": r["behavior"],
        "responseMessage": r["response_message"],
        "decidedBy": r["decided_by"],
        "ruleId": r["rule_id"],
        "createdAt": r["created_at"],
        "resolvedAt": r["resolved_at"],
    }
    if "task_title" in r:
        out["taskTitle"] = r["task_title"]
    return {k: v for k, v in out.items() if v is not None}


def transition_message(current: TaskStatus, target: TaskStatus) -> str:
    return transition_refusal(current, target) or f"{current.value} → {target.value} is allowed"


class StoreUnavailable(RuntimeError):
    """The database cannot be opened or used as it is; the message is one line for a person."""


class StoreNotWritable(ApiError):
    """A write failed for a reason outside the request: the disk, the file, its permissions, the server."""

    status = 503
    code = "store_not_writable"


class Tx(ABC):
    """One write transaction. Every method is one statement or a few, all inside the transaction."""

    # ---------------------------------------------------------------- the watch stream and task events

    @abstractmethod
    async def next_revision(self) -> int:
        """The next global revision, in commit order on every replica."""

    @abstractmethod
    async def emit(self, type_: str, *, task_id: str | None = None, task: dict[str, Any] | None = None,
                   permission: dict[str, Any] | None = None, revision: int | None = None) -> int:
        """Store a watch event (published after COMMIT); its revision."""

    @abstractmethod
    async def task_event(self, task_id: str, kind: str, event_type: str, message: str,
                         data: dict[str, Any] | None = None, ts: str | None = None) -> int:
        """A log line (kind 'log') or a progress/status update (kind 'progress'); its id."""

    @abstractmethod
    async def task_events(self, task_id: str, kind: str, lines: list[tuple[str, str]]) -> None:
        """Many events of one task with no data, in one statement (a batch of log lines)."""

    # ---------------------------------------------------------------- tasks

    @abstractmethod
    async def insert_task(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A new task from its columns; emits task.upserted; the wire dict."""

    @abstractmethod
    async def update_task(self, task_id: str, fields: dict[str, Any], *,
                          from_statuses: Iterable[TaskStatus] | None = None,
                          attempt: int | None = None) -> dict[str, Any] | None:
        """UPDATE one task atomically, bump its revision and emit `task.upserted`. None when the row did not
        match (missing, wrong status, or a stale attempt)."""

    @abstractmethod
    async def transition(self, task_id: str, target: TaskStatus, fields: dict[str, Any] | None = None, *,
                         from_statuses: Iterable[TaskStatus] | None = None,
                         attempt: int | None = None) -> dict[str, Any]:
        """Move a task to `target` if the transition table allows it from its current status (one UPDATE);
        NotFound or InvalidTransition (a stale attempt named as such) otherwise."""

    @abstractmethod
    async def run_state(self, task_id: str) -> Row | None:
        """status, attempt and resume_count of a task, read inside this transaction."""

    @abstractmethod
    async def orphaned_tasks(self, *, ours: bool) -> list[Row]:
        """id, status, checkpoint of the tasks running or awaiting input whose run no live server holds: on
        SQLite every one (one server per file, and this one is starting or stopping); on PostgreSQL those whose
        server's lease has expired, and with ours=True (this server stopping) this server's own too (never a
        task whose run is queued: that one waits for any runner)."""

    @abstractmethod
    async def add_cost(self, task_id: str, cost_micros: int, tokens: int) -> None:
        """Add to a task's totals (counted in the stats and list totals)."""

    @abstractmethod
    async def save_checkpoint(self, task_id: str, data: dict[str, Any]) -> None: ...

    @abstractmethod
    async def delete_task(self, task_id: str) -> bool:
        """Remove a task with its log, messages and permissions (not its runs: the budget keeps them) and
        emit task.deleted; False when there was none."""

    @abstractmethod
    async def delete_finished_before(self, cutoff: str) -> list[str]:
        """delete_task for every completed or failed task last updated before `cutoff`; their ids."""

    # ---------------------------------------------------------------- runs (the cost ledger)

    @abstractmethod
    async def start_run(self, task_id: str, attempt: int, runtime: str, started_at: str, *,
                        model_id: str | None = None, input_tokens: int = 0, output_tokens: int = 0,
                        cost_micros: int = 0, finished_at: str | None = None, outcome: str | None = None) -> None:
        """A row of the cost ledger for one attempt (a finished one when finished_at is given)."""

    async def queue_run(self, task_id: str, attempt: int, runtime: str, started_at: str, *, resumed: bool) -> None:
        """A ledger row for an attempt that no server runs yet: any server's runner with that runtime and a
        free slot claims it (Store.claim_run). Until then it is no server's: this server dying or stopping
        leaves it queued (orphaned_tasks does not pick it), and only a claimed run fails with its server. Only
        on a shared store; on SQLite a run starts where it is accepted (start_run)."""
        raise NotImplementedError("runs are queued only on a shared database")

    @abstractmethod
    async def add_usage(self, task_id: str, attempt: int, model_id: str, input_tokens: int, output_tokens: int,
                        cost_micros: int) -> None: ...

    @abstractmethod
    async def end_run(self, task_id: str, attempt: int, outcome: str) -> None:
        """Close the attempt's ledger row if it is still open."""

    @abstractmethod
    async def end_orphaned_runs(self, outcome: str, *, ours: bool) -> None:
        """Close the ledger rows still open that no live server holds (as orphaned_tasks picks them)."""

    @abstractmethod
    async def set_run_diff(self, task_id: str, attempt: int, diff: str) -> dict[str, Any] | None:
        """The unified diff of what a run (task_id, attempt) has changed so far ("" is none), and a new
        revision of the task so its watchers fetch the detail again; the task's wire dict, or None (nothing
        written) when the task is not on that attempt."""

    # ---------------------------------------------------------------- messages

    @abstractmethod
    async def add_message(self, task_id: str, role: str, message: str) -> None: ...

    # ---------------------------------------------------------------- permissions and rules

    @abstractmethod
    async def add_permission(self, fields: dict[str, Any]) -> None:
        """A permission request from its columns."""

    @abstractmethod
    async def permission(self, notification_id: str, *, with_title: bool = False) -> Row | None: ...

    @abstractmethod
    async def pending_permissions(self) -> list[Row]:
        """Every pending request, oldest first."""

    @abstractmethod
    async def resolve_permission(self, notification_id: str, *, status: str, behavior: str, decided_by: str,
                                 response_message: str | None = None, rule_id: str | None = None) -> Row | None:
        """Answer a request that is still pending (one UPDATE); its row, or None when it was not pending."""

    @abstractmethod
    async def link_rule(self, notification_id: str, rule_id: str) -> Row | None:
        """Record the rule an answer saved; the request's row."""

    @abstractmethod
    async def expire_pending_permissions(self, task_id: str) -> list[Row]:
        """Every pending request of a task becomes expired and emits permission.resolved; their rows."""

    @abstractmethod
    async def change_pending_count(self, task_id: str, delta: int) -> None:
        """The task's count of pending requests, never below zero (no revision: update_task follows)."""

    @abstractmethod
    async def rules_in_force(self, at: str) -> list[Row]:
        """id, pattern, behavior, saved_by of the saved rules that still match at `at`, oldest first."""

    @abstractmethod
    async def add_rule(self, rule_id: str, pattern: str, behavior: str, source: str, created_at: str, *,
                       saved_by: str | None = None, expires_at: str | None = None) -> None:
        """A saved rule; it stops matching at expires_at (None: never)."""

    @abstractmethod
    async def rule_matched(self, rule_id: str, at: str) -> None:
        """A rule answered a request: one more match, and when."""

    @abstractmethod
    async def delete_rule(self, rule_id: str) -> bool: ...

    # ---------------------------------------------------------------- projects and workflows

    @abstractmethod
    async def add_project(self, project_id: str, name: str, description: str | None, working_directory: str | None,
                          created_at: str) -> None: ...

    @abstractmethod
    async def add_workflow(self, workflow_id: str, name: str, project_id: str | None, created_at: str) -> None: ...


class Store(ABC):
    """The database: reads, write transactions, and the broker that carries committed changes to streams."""

    broker: Broker

    # ---------------------------------------------------------------- lifecycle and health

    @abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema (StoreUnavailable for one newer than this taskboard)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def health_problem(self) -> str | None:
        """Why writes cannot work right now (for /api/health), or None."""

    @property
    @abstractmethod
    def committed_revision(self) -> int:
        """The newest revision this process knows to be committed."""

    @abstractmethod
    async def head_revision(self) -> int:
        """The newest committed revision in the database (on every replica)."""

    @property
    def shared(self) -> bool:
        """Whether other servers may use the database at the same time (their runs then end by lease)."""
        return False

    def on_run_queued(self, callback: Callable[[], None]) -> None:
        """Call back when a run is queued (Tx.queue_run) through any server: a runner with a free slot looks."""
        del callback  # never, on SQLite: no run is queued there

    async def claim_run(self, runtimes: Collection[str]) -> Row | None:
        """Take the oldest queued run of one of these runtimes for this server, skipping those another server
        is taking at the same moment (FOR UPDATE SKIP LOCKED): task_id, attempt, runtime, resumed; None when
        there is none. Only on a shared store."""
        raise NotImplementedError("runs are claimed only on a shared database")

    # ---------------------------------------------------------------- wrong API keys (a shared database)

    async def add_auth_failure(self, address: str, window: float) -> None:
        """A wrong API key from `address` (perimeter.limiter_key), counted by every server on the database;
        failures older than `window` seconds are dropped. Only on a shared store: on SQLite the one server
        counts them in memory."""
        raise NotImplementedError("wrong keys are counted in the database only when it is shared")

    async def auth_failures(self, address: str, window: float) -> tuple[int, float, int, float]:
        """Wrong keys within the last `window` seconds, by every server: (from this address, seconds until its
        oldest leaves the window, from all addresses, seconds until the oldest of all leaves it)."""
        raise NotImplementedError("wrong keys are counted in the database only when it is shared")

    def on_auth_failure(self, callback: Callable[[], None]) -> None:
        """Call back when any server records a wrong key (add_auth_failure)."""
        del callback  # never, on SQLite

    def on_changed_elsewhere(self, callback: Callable[[str], None]) -> None:
        """Call `callback(task_id)` when another server commits a change to that task (never, on SQLite)."""
        del callback  # one server per SQLite file: every change is this server's own

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's own errors a write may raise besides StoreNotWritable (retried by the runner)."""
        return ()

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    # ---------------------------------------------------------------- tasks

    @abstractmethod
    async def get_task_row(self, task_id: str) -> Row | None: ...

    async def require_task(self, task_id: str) -> dict[str, Any]:
        row = await self.get_task_row(task_id)
        if row is None:
            raise NotFound("Task not found")
        return dict(row)

    @abstractmethod
    async def task_status(self, task_id: str) -> str | None: ...

    @abstractmethod
    async def task_with_names(self, task_id: str) -> Row | None:
        """The task's row with project_name and workflow_name."""

    @abstractmethod
    async def task_usage(self, task_id: str) -> Row | None:
        """Its runs summed: i, o, c (tokens in and out, cost), s, f (first start, last finish), n, m (model)."""

    @abstractmethod
    async def run_diffs(self, task_id: str) -> list[str]:
        """The diffs of a task's runs that have one (Tx.set_run_diff), by attempt."""

    @abstractmethod
    async def list_tasks(self, *, statuses: list[str] | None = None, project_id: str | None = None,
                         q: str | None = None, workflow_id: str | None = None,
                         assigned_agent: str | None = None, sort: str = "priority",
                         limit: int = 100, offset: int = 0, summary: bool = False) -> tuple[list[str], int, int]:
        """A page of tasks as wire JSON texts, the total matching, and the revision it is current to."""

    @abstractmethod
    async def count_tasks(self, statuses: Iterable[str] | None = None) -> int: ...

    @abstractmethod
    async def failed_with_error(self, error: str) -> list[Row]:
        """id, assigned_agent of the failed tasks with this error, oldest first."""

    @abstractmethod
    async def awaiting_input_since(self, before: str) -> list[Row]:
        """id, assigned_agent of the tasks awaiting input since before `before`."""

    @abstractmethod
    async def workflow_row(self, workflow_id: str) -> Row | None: ...

    @abstractmethod
    async def workflow_ids(self, limit: int) -> list[str]:
        """The newest workflows first."""

    @abstractmethod
    async def workflow_tasks(self, workflow_id: str) -> list[Row]:
        """Its steps' rows in step order."""

    @abstractmethod
    async def workflow_siblings(self, workflow_id: str, task_id: str) -> list[Row]:
        """id, title, status, created_at, step_index of the other steps."""

    # ---------------------------------------------------------------- streams

    @abstractmethod
    async def read_task_events(self, task_id: str, kind: str, after: int, limit: int = 500) -> list[Row]: ...

    @abstractmethod
    async def read_log_frames(self, task_id: str, after: int, limit: int = 500) -> list[tuple[int, str]]:
        """Log lines as finished event-stream frames: (id, frame)."""

    @abstractmethod
    async def read_events(self, after: int, limit: int = 1000) -> list[Row]:
        """revision, type, payload of the watch events after `after`."""

    @abstractmethod
    async def oldest_event_revision(self) -> int | None: ...

    # ---------------------------------------------------------------- messages, permissions, rules

    @abstractmethod
    async def messages(self, task_id: str) -> list[Row]: ...

    @abstractmethod
    async def permission(self, notification_id: str, task_id: str | None = None) -> Row | None: ...

    @abstractmethod
    async def list_permissions(self, status: str | None, task_id: str | None, limit: int) -> list[Row]:
        """Newest first, each with task_title."""

    @abstractmethod
    async def pending_permissions_since(self, before: str) -> list[Row]:
        """id, task_id, assigned_agent of the requests pending since before `before`."""

    @abstractmethod
    async def list_rules(self) -> list[Row]:
        """Every saved rule (expired ones too), oldest first."""

    @abstractmethod
    async def rules_in_force(self, at: str) -> list[Row]:
        """As Tx.rules_in_force, outside a transaction."""

    # ---------------------------------------------------------------- projects, facts

    @abstractmethod
    async def list_projects(self) -> list[Row]:
        """Each with task_count, by name."""

    @abstractmethod
    async def project(self, project_id: str) -> Row | None: ...

    @abstractmethod
    async def status_counts(self) -> list[Row]:
        """status, n, c (cost) per status."""

    @abstractmethod
    async def pending_permission_count(self) -> int: ...

    @abstractmethod
    async def cost_since(self, since: str) -> int:
        """Micro-dollars spent by runs started since `since` (the daily budget)."""


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def make_store(target: str, broker: Broker, *, event_retention: int = 50_000, lease_seconds: float = 15.0) -> Store:
    """The store for `--db`: a postgresql:// URL or a SQLite file's path."""
    if is_postgres_url(target):
        from taskboard_backend.store_postgres import PostgresStore

        return PostgresStore(target, broker, event_retention=event_retention, lease_seconds=lease_seconds)
    from pathlib import Path

    from taskboard_backend.store_sqlite import SqliteStore

    return SqliteStore(Path(target), broker, event_retention=event_retention)


def __getattr__(name: str) -> Any:
    # What the SQLite store's tests and benchmarks import from here, from before the stores were two.
    if name in ("MIGRATIONS", "SCHEMA_VERSION", "_split_sql", "check_database", "claim_database"):
        from taskboard_backend import store_sqlite

        return getattr(store_sqlite, name)
    raise AttributeError(name)
