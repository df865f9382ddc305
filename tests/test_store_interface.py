"""All SQL sits behind the Store interface: nothing outside the stores writes a statement or reaches past the
service into the store (issue 23). Read from the source, so a statement added anywhere else fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend" / "taskboard_backend"
# The stores: the interface, the SQL both engines share, and one module per engine.
STORES = {"store.py", "store_sql.py", "store_sqlite.py", "store_postgres.py"}
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TRIGGER)"
                 r"|ALTER\s+TABLE|PRAGMA\s|BEGIN\s+IMMEDIATE|LISTEN\s|NOTIFY\s)", re.DOTALL)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal, and the literal parts of every f-string, with its line."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
    return out


def _backend_modules() -> list[Path]:
    return [p for p in sorted(BACKEND.rglob("*.py")) if p.relative_to(BACKEND).as_posix() not in STORES]


def test_no_sql_outside_the_stores() -> None:
    found = []
    for path in _backend_modules():
        for line, text in _strings(ast.parse(path.read_text(), str(path))):
            if SQL.search(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]!r}")
    assert not found, "SQL outside the stores:\n" + "\n".join(found)


def test_the_pattern_finds_what_it_is_for() -> None:
    # The check above is only as good as its pattern: the statements the service used to hold match it.
    for statement in ("SELECT status FROM tasks WHERE id = ?", "UPDATE permissions SET status = 'expired'",
                      "DELETE FROM tasks WHERE id = ? RETURNING id", "INSERT INTO runs (task_id) VALUES (?)",
                      "SELECT p.*, t.title AS task_title\n FROM permissions p"):
        assert SQL.search(statement), statement
    for prose in ("Select a task first", "the update was refused", "Deleted from the board"):
        assert not SQL.search(prose), prose


def test_only_the_stores_import_a_database_driver() -> None:
    drivers = ("sqlite3", "aiosqlite", "psycopg", "psycopg_pool", "asyncpg")
    found = []
    for path in _backend_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in drivers]
    assert not found, found


def test_routes_go_through_the_service_not_its_store() -> None:
    # Routes, the fast list path and the server ask the service; they never take its store or broker.
    outside = [*sorted((BACKEND / "routers").glob("*.py")), BACKEND / "fast_list.py", BACKEND / "server.py"]
    found = []
    for path in outside:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "broker"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert not found, found
