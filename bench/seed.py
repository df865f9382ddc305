"""Large boards for the benchmarks, written straight into a fresh database with the server's own schema.

Going through the API would take minutes for a million tasks; the rows are the same shape the
server writes (the schema comes from the store's migrations), so the server cannot tell.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from taskboard_backend.store import MIGRATIONS, SCHEMA_VERSION, _split_sql

# No running or awaiting_input tasks: the server would recover them as interrupted at start-up.
STATUS_WEIGHTS = {"completed": 60, "failed": 8, "cancelled": 7, "planned": 15, "queued": 10}
VERBS = ["Analyze", "Summarize", "Refactor", "Review", "Index", "Translate", "Benchmark", "Migrate", "Audit"]
NOUNS = ["Q4 report", "billing service", "onboarding docs", "API schema", "test suite", "search index",
         "release notes", "customer feedback", "deploy pipeline", "data export"]
AGENTS = ["claude-code", "codex", "research-agent", "demo"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def create_schema(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    for version in range(1, SCHEMA_VERSION + 1):
        for statement in _split_sql(MIGRATIONS[version]):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def task_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def seed_tasks(path: Path, count: int, *, projects: int = 20, seed: int = 1) -> list[str]:
    """A database holding `count` tasks spread over statuses, projects and priorities. Returns the project ids."""
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    project_ids = [f"proj-{p:03d}" for p in range(projects)]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    create_schema(db)
    # A million rows go in far faster with the indexes and triggers built afterwards.
    built_later = [sql for (sql,) in db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'tasks' AND type IN ('index', 'trigger') AND sql IS NOT NULL")]
    for (kind, name) in db.execute("SELECT type, name FROM sqlite_master WHERE tbl_name = 'tasks'"
                                   " AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall():
        db.execute(f"DROP {kind} {name}")
    db.execute("BEGIN")
    now = iso(START)
    db.executemany("INSERT INTO projects (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                   [(p, f"Project {i}", None, now) for i, p in enumerate(project_ids)])

    def rows():
        for n in range(1, count + 1):
            status = rng.choices(statuses, weights)[0]
            created = START + timedelta(seconds=n)
            stamp = iso(created)
            finished = iso(created + timedelta(seconds=30)) if status in ("completed", "failed", "cancelled") else None
            title = f"{rng.choice(VERBS)} {rng.choice(NOUNS)} #{n}"
            yield (task_id(n), title, f"Benchmark task {n}", rng.choice(project_ids), status, rng.randint(0, 3),
                   rng.choice(AGENTS), json.dumps({"steps": 10}),
                   "Done." if status == "completed" else None,
                   "Exited with status 1" if status == "failed" else None,
                   json.dumps({"current": 10 if finished else 0, "total": 10}),
                   "[]", stamp, finished or stamp, stamp if finished else None, finished, n,
                   # What a run spent (up to $2), spread without the random stream, which the other columns keep.
                   (n * 7919) % 2_000_000 if finished else 0)

    db.executemany(
        "INSERT INTO tasks (id, title, description, project_id, status, priority, assigned_agent, params, result,"
        " error, progress, document_ids, created_at, updated_at, started_at, finished_at, revision, cost_micros)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    db.execute("COMMIT")
    for sql in built_later:
        db.execute(sql)
    db.execute("DELETE FROM task_counts")
    db.execute("INSERT INTO task_counts SELECT status, COALESCE(project_id, ''), COUNT(*), SUM(cost_micros)"
               " FROM tasks GROUP BY status, COALESCE(project_id, '')")
    db.execute("ANALYZE")
    db.close()
    return project_ids


def seed_log(path: Path, task: str, lines: int) -> None:
    """`lines` log lines for one (completed) task."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    stamp = iso(START)
    db.executemany(
        "INSERT INTO task_events (task_id, kind, event_type, message, data, ts) VALUES (?, 'log', ?, ?, NULL, ?)",
        ((task, "assistant" if i % 3 else "tool_use", f"step {i}: reading chunk {i % 977} of the input", stamp)
         for i in range(lines)))
    db.execute("COMMIT")
    db.close()
