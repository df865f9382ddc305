"""/api/tasks: seed 001's Tasks API, plus the additions of DESIGN.md."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from taskboard.models import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    Accepted,
    CleanupRequest,
    CleanupResult,
    MessageCreate,
    PermissionResponse,
    Provenance,
    Sibling,
    Stats,
    Success,
    Task,
    TaskCreate,
    TaskDetail,
    TaskMessage,
    TaskOutput,
    TaskResult,
    TaskStatus,
    TaskUpdate,
)
from taskboard_backend.errors import FieldValidationError
from taskboard_backend.routers.deps import Service, errors, sse_response
from taskboard_backend.store import SORT_ALIASES
from taskboard_backend.streams import EventStreamResponse, parse_last_event_id

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

TaskId = Annotated[str, "task id"]
SortKey = Literal["priority", "-priority", "created", "-created", "updated", "-updated", "status", "-status",
                  "title", "-title", "createdAt", "-createdAt", "updatedAt", "-updatedAt"]
_STATUS_VALUES = [s.value for s in TaskStatus]
MAX_OFFSET = 10_000_000


def parse_statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for value in values:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts:  # `status=` or `status=,`: a filter that names nothing is a mistake, not "all"
            raise FieldValidationError({"status": ["Expected at least one status"]})
        for part in parts:
            if part not in _STATUS_VALUES:
                expected = " | ".join(f"'{v}'" for v in _STATUS_VALUES)
                raise FieldValidationError({"status": [f"Invalid enum value. Expected {expected}, received '{part}'"]})
            out.append(part)
    return out


# What parse_statuses accepts, said in the schema too, so clients and fuzzers know it.
_STATUS = "(?:" + "|".join(_STATUS_VALUES) + ")"
STATUS_LIST_SCHEMA = {"type": "string",
                      "pattern": rf"^(?:\s*,)*\s*{_STATUS}\s*(?:,\s*(?:{_STATUS}\s*)?)*$"}


@router.get("", response_model=list[Task], responses=errors(400, 401),
            summary="List tasks (ordered by priority, then newest first)")
async def list_tasks(
    service: Service,
    project_id: Annotated[str | None, Query(alias="projectId", max_length=200)] = None,
    status: Annotated[list[str] | None, Query(description="One or more statuses, repeated or comma-separated",
                                              max_length=20, json_schema_extra={"items": STATUS_LIST_SCHEMA})] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search in title and description")] = None,
    sort: Annotated[SortKey, Query(description="priority, created, updated, status or title; prefix - to reverse")]
    = "priority",
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = LIST_LIMIT_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    workflow_id: Annotated[str | None, Query(alias="workflowId", max_length=200)] = None,
    assigned_agent: Annotated[str | None, Query(alias="assignedAgent", max_length=200)] = None,
    view: Annotated[Literal["full", "summary"], Query(
        description="summary leaves out description, params, result, resultData and documentIds")] = "full",
) -> Response:
    tasks, total, revision = await service.list_page(
        statuses=parse_statuses(status), project_id=project_id, q=q, workflow_id=workflow_id,
        assigned_agent=assigned_agent, sort=store_sort_key(sort), limit=limit, offset=offset,
        summary=view == "summary")
    return task_list_response(tasks, total, revision)


def store_sort_key(sort: str) -> str:
    """The API's sort name (seed 001's aliases included, `-` to reverse) as the store's key."""
    return ("-" if sort.startswith("-") else "") + SORT_ALIASES.get(sort.lstrip("-"), sort.lstrip("-"))


def list_etag(revision: int) -> str:
    """A list's validator: weak (the same list gzipped or not), and the revision it is current to."""
    return f'W/"r{revision}"'


def task_list_response(tasks: list[str], total: int, revision: int) -> Response:
    # The rows come out of SQLite as JSON already: joined, not parsed and dumped again.
    return Response("[" + ",".join(tasks) + "]", media_type="application/json",
                    headers={"X-Total-Count": str(total), "X-Revision": str(revision), "ETag": list_etag(revision)})


@router.post("", status_code=201, response_model=Task, responses=errors(400, 401, 413))
async def create_task(service: Service, body: TaskCreate) -> JSONResponse:
    return JSONResponse(await service.create_task(body), status_code=201)


@router.get("/stats", response_model=Stats, responses=errors(401))
async def task_stats(service: Service) -> JSONResponse:
    return JSONResponse(await service.stats())


@router.post("/spawn", status_code=201, response_model=Task, responses=errors(400, 401, 413, 429),
             summary="Create, queue and execute a task in one call")
async def spawn_task(service: Service, body: TaskCreate) -> JSONResponse:
    return JSONResponse(await service.spawn(body), status_code=201)


@router.post("/cleanup", response_model=CleanupResult, responses=errors(400, 401, 413),
             summary="Remove completed and failed tasks older than olderThanHours (default 24)")
async def cleanup_tasks(service: Service, body: Annotated[CleanupRequest | None, Body()] = None) -> JSONResponse:
    return JSONResponse(await service.cleanup(body or CleanupRequest()))


@router.get("/{task_id}", response_model=TaskDetail, responses=errors(401, 404))
async def get_task(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.get_task(task_id))


@router.patch("/{task_id}", response_model=Task, responses=errors(400, 401, 404, 413, 429))
async def update_task(service: Service, task_id: TaskId, body: TaskUpdate) -> JSONResponse:
    return JSONResponse(await service.update_task(task_id, body))


@router.delete("/{task_id}", response_model=Success, responses=errors(401, 404))
async def delete_task(service: Service, task_id: TaskId) -> JSONResponse:
    await service.delete_task(task_id)
    return JSONResponse({"success": True})


@router.post("/{task_id}/execute", status_code=202, response_model=Accepted, responses=errors(400, 401, 404, 429))
async def execute_task(service: Service, task_id: TaskId) -> JSONResponse:
    await service.execute(task_id)
    return JSONResponse({"message": "Execution started"}, status_code=202)


@router.post("/{task_id}/resume", status_code=202, response_model=Accepted, responses=errors(400, 401, 404, 429))
async def resume_task(service: Service, task_id: TaskId) -> JSONResponse:
    await service.resume(task_id)
    return JSONResponse({"message": "Resume started"}, status_code=202)


@router.post("/{task_id}/cancel", response_model=Success, responses=errors(400, 401, 404))
async def cancel_task(service: Service, task_id: TaskId) -> JSONResponse:
    await service.cancel(task_id)
    return JSONResponse({"success": True})


@router.post("/{task_id}/respond", response_model=Success, responses=errors(400, 401, 404, 409, 413))
async def respond_to_permission(service: Service, task_id: TaskId, body: PermissionResponse) -> JSONResponse:
    await service.respond(task_id, body)
    return JSONResponse({"success": True})


@router.get("/{task_id}/output", response_model=TaskOutput, responses=errors(401, 404))
async def task_output(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.output(task_id))


@router.get("/{task_id}/result", response_model=TaskResult, responses=errors(401, 404, 409))
async def task_result(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.result(task_id))


@router.get("/{task_id}/provenance", response_model=Provenance, responses=errors(401, 404))
async def task_provenance(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.provenance(task_id))


@router.get("/{task_id}/siblings", response_model=list[Sibling], responses=errors(401, 404))
async def task_siblings(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.siblings(task_id))


@router.post("/{task_id}/messages", response_model=Task, responses=errors(400, 401, 404, 413),
             summary="Answer a task that is awaiting_input")
async def send_message(service: Service, task_id: TaskId, body: MessageCreate) -> JSONResponse:
    return JSONResponse(await service.send_message(task_id, body))


@router.get("/{task_id}/messages", response_model=list[TaskMessage], responses=errors(401, 404))
async def list_messages(service: Service, task_id: TaskId) -> JSONResponse:
    return JSONResponse(await service.messages(task_id))


LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)]
After = Annotated[int | None, Query(ge=0, le=2**62, description="Replay events after this id")]


@router.get("/{task_id}/logs", responses={**sse_response(
    "Log entries as SSE: `id: N` and `data: {eventType, message, timestamp}`; `event: end` when the task is final",
    'id: 7\ndata: {"id":7,"eventType":"assistant","message":"Analyzing...","timestamp":"2026-04-03T10:31:18Z"}\n\n'),
    **errors(401, 404)}, response_class=StreamingResponse)
async def stream_logs(request: Request, service: Service, task_id: TaskId, last_event_id: LastEventId = None,
                      after: After = None) -> StreamingResponse:
    return await _task_sse(request, service, task_id, "log", parse_last_event_id(last_event_id, after))


@router.get("/{task_id}/progress", responses={**sse_response(
    "Progress and status changes as SSE (`event: progress`); `event: end` when the task is final",
    'id: 9\nevent: progress\ndata: {"id":9,"status":"running","progress":{"current":3,"total":10}}\n\n'),
    **errors(401, 404)}, response_class=StreamingResponse)
async def stream_progress(request: Request, service: Service, task_id: TaskId, last_event_id: LastEventId = None,
                          after: After = None) -> StreamingResponse:
    return await _task_sse(request, service, task_id, "progress", parse_last_event_id(last_event_id, after))


async def _task_sse(request: Request, service: Service, task_id: str, kind: str, after: int | None
                    ) -> StreamingResponse:
    settings = request.app.state.settings
    stream = await service.task_stream(task_id, kind, after or 0, settings.heartbeat_seconds)
    return EventStreamResponse(stream, settings.stream_stall_seconds)
