"""The OpenAPI document tells the truth about every route; the layers import only what they may."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


async def test_openapi_describes_every_route_with_its_error_bodies(server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        schema = (await http.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        "/api/tasks": {"get", "post"}, "/api/tasks/{task_id}": {"get", "patch", "delete"},
        "/api/tasks/{task_id}/execute": {"post"}, "/api/tasks/{task_id}/resume": {"post"},
        "/api/tasks/{task_id}/cancel": {"post"}, "/api/tasks/{task_id}/respond": {"post"},
        "/api/tasks/{task_id}/output": {"get"}, "/api/tasks/{task_id}/logs": {"get"},
        "/api/tasks/{task_id}/provenance": {"get"}, "/api/tasks/{task_id}/siblings": {"get"},
        "/api/tasks/{task_id}/progress": {"get"}, "/api/tasks/{task_id}/result": {"get"},
        "/api/tasks/{task_id}/messages": {"get", "post"}, "/api/tasks/cleanup": {"post"},
        "/api/tasks/spawn": {"post"}, "/api/tasks/stats": {"get"}, "/api/events": {"get"},
        "/api/permissions": {"get"}, "/api/permissions/rules": {"get", "post"},
        "/api/permissions/rules/{rule_id}": {"delete"}, "/api/runtimes": {"get"}, "/api/health": {"get"},
        "/api/projects": {"get", "post"}, "/api/projects/{project_id}": {"get"},
        "/api/workflows": {"get", "post"}, "/api/workflows/{workflow_id}": {"get"},
    }
    assert {p: set(ops) for p, ops in paths.items()} == expected
    for path, ops in paths.items():
        for method, op in ops.items():
            responses = op["responses"]
            assert "422" not in responses, (method, path)
            if "{" in path and path != "/api/permissions/rules/{rule_id}":
                assert "404" in responses, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= set(responses), (method, path)
    create = paths["/api/tasks"]["post"]["responses"]
    assert "201" in create and "200" not in create
    assert paths["/api/tasks/{task_id}/execute"]["post"]["responses"].keys() >= {"202", "400", "404", "429"}
    assert "text/event-stream" in paths["/api/tasks/{task_id}/logs"]["get"]["responses"]["200"]["content"]
    task_schema = schema["components"]["schemas"]["Task"]
    assert {"id", "title", "status", "priority", "createdAt", "updatedAt"} <= set(task_schema["required"])
    assert "HTTPValidationError" not in schema["components"]["schemas"]


RULES = {
    # package -> modules it must never import
    "src/taskboard/models.py": ("textual", "taskboard.client", "taskboard.tui", "taskboard_backend", "httpx"),
    "src/taskboard/client": ("textual", "taskboard.tui", "taskboard_backend", "taskboard.cli"),
    "backend/taskboard_backend": ("textual", "taskboard.client", "taskboard.tui", "taskboard.cli"),
    # The TUI reaches servers only through the client, also the one `taskboard demo` starts.
    "src/taskboard/tui": ("taskboard_backend", "fastapi", "uvicorn", "aiosqlite", "httpx", "taskboard.cli"),
    "src/taskboard/tui/board.py": ("textual",),
    "src/taskboard/connect.py": ("textual", "taskboard_backend"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layering() -> None:
    for target, forbidden in RULES.items():
        files = [ROOT / target] if target.endswith(".py") else sorted((ROOT / target).rglob("*.py"))
        assert files
        for file in files:
            for name in _imports(file):
                bad = [f for f in forbidden if name == f or name.startswith(f + ".")]
                assert not bad, f"{file.relative_to(ROOT)} imports {name}"


def test_version_is_fast_and_imports_no_server_or_ui() -> None:
    code = ("import sys; from taskboard.cli import cli; "
            "sys.argv=['taskboard','--version']\n"
            "try:\n cli()\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('textual','fastapi','uvicorn','aiosqlite','httpx','asyncio') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "taskboard, version" in out and "HEAVY []" in out


def test_serve_refuses_a_public_address_without_a_key(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "taskboard", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--db", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without an API key" in result.stderr
    assert "--api-key" in result.stderr and "TASKBOARD_API_KEY" in result.stderr
