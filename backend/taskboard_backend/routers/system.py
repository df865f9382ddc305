"""/api/runtimes and /api/health."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from taskboard import __version__
from taskboard.models import Health, Runtime
from taskboard_backend.routers.deps import Service, errors

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/runtimes", response_model=list[Runtime], responses=errors(401))
async def list_runtimes(service: Service) -> JSONResponse:
    return JSONResponse(service.runtimes())


@router.get("/health", response_model=Health,
            summary="Liveness; needs no API key. status 'degraded', with `store` saying why, when writes cannot work")
async def health(request: Request, service: Service) -> JSONResponse:
    facts = service.health()
    body = {"status": "degraded" if "store" in facts else "ok", "version": __version__,
            "revision": facts["revision"], "uptimeSeconds": round(time.monotonic() - request.app.state.started, 3),
            "streams": facts["streams"]}
    if "store" in facts:
        # Alive, but not what it should be: the store cannot be written (disk full, read-only, deleted).
        body["store"] = facts["store"]
    return JSONResponse(body)
