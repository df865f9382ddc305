"""/api/permissions: the approval inbox and the saved rules."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from taskboard.models import LIST_LIMIT_MAX, PermissionRequest, PermissionRule, PermissionRuleCreate, Success
from taskboard_backend.routers.deps import Service, errors

router = APIRouter(prefix="/api/permissions", tags=["permissions"])


@router.get("", response_model=list[PermissionRequest], responses=errors(400, 401),
            summary="Permission requests; ?status=pending is the approval inbox")
async def list_permissions(
    service: Service,
    status: Annotated[Literal["pending", "allowed", "denied", "expired"] | None, Query()] = None,
    task_id: Annotated[str | None, Query(alias="taskId", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 200,
) -> JSONResponse:
    return JSONResponse(await service.list_permissions(status, task_id, limit))


@router.get("/rules", response_model=list[PermissionRule], responses=errors(401))
async def list_rules(service: Service) -> JSONResponse:
    return JSONResponse(await service.list_rules())


@router.post("/rules", status_code=201, response_model=PermissionRule, responses=errors(400, 401, 413))
async def create_rule(service: Service, body: PermissionRuleCreate) -> JSONResponse:
    return JSONResponse(await service.create_rule(body), status_code=201)


@router.delete("/rules/{rule_id}", response_model=Success, responses=errors(401, 404))
async def delete_rule(service: Service, rule_id: str) -> JSONResponse:
    await service.delete_rule(rule_id)
    return JSONResponse({"success": True})
