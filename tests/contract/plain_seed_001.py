"""A plain seed-001 server: the bundled backend seen through a proxy that passes only the routes seed 001
documents, and answers 404 for taskboard's additions (events, logs, permissions, projects, health, ...)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SEED_001 = [
    ("GET", r"/api/tasks"), ("POST", r"/api/tasks"),
    ("GET", r"/api/tasks/[^/]+"), ("PATCH", r"/api/tasks/[^/]+"), ("DELETE", r"/api/tasks/[^/]+"),
    ("POST", r"/api/tasks/[^/]+/(execute|resume|cancel|respond)"),
    ("GET", r"/api/tasks/[^/]+/(output|provenance|siblings)"),
]


def make_app(api_key: str | None = None, upstream: str = "") -> Starlette:
    http = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def forward(request: Request) -> Response:
        path = request.url.path
        documented = any(m == request.method and re.fullmatch(p, path) for m, p in SEED_001)
        # Paths like /api/tasks/stats are additions even though they look like /api/tasks/{id}.
        if not documented or path in ("/api/tasks/stats", "/api/tasks/spawn", "/api/tasks/cleanup"):
            return JSONResponse({"error": "Not found"}, status_code=404)
        headers: dict[str, Any] = {k: v for k, v in request.headers.items() if k.lower() in
                                   ("content-type", "x-api-key", "authorization", "accept")}
        upstream_response = await http.request(request.method, path, params=request.query_params,
                                               content=await request.body(), headers=headers)
        return Response(upstream_response.content, status_code=upstream_response.status_code,
                        media_type=upstream_response.headers.get("content-type"))

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PATCH", "DELETE"])])
