"""/api/events: one SSE stream of every change, for list+watch clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from taskboard_backend.routers.deps import Service, errors, sse_response
from taskboard_backend.streams import EventStreamResponse, parse_last_event_id

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events", response_class=StreamingResponse, responses={**sse_response(
    "Every change as SSE; the id is the global revision. Event names: hello, task.upserted, task.deleted, "
    "permission.requested, permission.resolved, reset (re-list: the revision asked for is gone)",
    'id: 42\nevent: task.upserted\ndata: {"revision":42,"type":"task.upserted","taskId":"...","task":{}}\n\n'),
    **errors(401)})
async def watch(
    request: Request,
    service: Service,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    since: Annotated[int | None, Query(ge=0, le=2**62, description="Replay changes after this revision")] = None,
) -> StreamingResponse:
    start = parse_last_event_id(last_event_id, since)
    settings = request.app.state.settings
    return EventStreamResponse(
        service.watch(start, settings.heartbeat_seconds),
        settings.stream_stall_seconds)
