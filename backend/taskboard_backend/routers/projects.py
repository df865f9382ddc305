"""/api/projects and /api/workflows: what gives projectName, workflowName and siblings their meaning."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from taskboard.models import Project, ProjectCreate, Workflow, WorkflowCreate
from taskboard_backend.routers.deps import Service, errors

router = APIRouter(prefix="/api", tags=["projects"])


@router.get("/projects", response_model=list[Project], responses=errors(401))
async def list_projects(service: Service) -> JSONResponse:
    return JSONResponse(await service.list_projects())


@router.post("/projects", status_code=201, response_model=Project, responses=errors(400, 401, 413))
async def create_project(service: Service, body: ProjectCreate) -> JSONResponse:
    return JSONResponse(await service.create_project(body), status_code=201)


@router.get("/projects/{project_id}", response_model=Project, responses=errors(401, 404))
async def get_project(service: Service, project_id: str) -> JSONResponse:
    return JSONResponse(await service.get_project(project_id))


@router.get("/workflows", response_model=list[Workflow], responses=errors(401))
async def list_workflows(service: Service) -> JSONResponse:
    return JSONResponse(await service.list_workflows())


@router.post("/workflows", status_code=201, response_model=Workflow, responses=errors(400, 401, 413),
             summary="Start a workflow run: its steps run one after another")
async def create_workflow(service: Service, body: WorkflowCreate) -> JSONResponse:
    return JSONResponse(await service.create_workflow(body), status_code=201)


@router.get("/workflows/{workflow_id}", response_model=Workflow, responses=errors(401, 404))
async def get_workflow(service: Service, workflow_id: str) -> JSONResponse:
    return JSONResponse(await service.get_workflow(workflow_id))
