"""Shared route dependencies and response declarations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from taskboard.models import ErrorBody, ValidationErrorBody
from taskboard_backend.service import TaskService


async def get_service(request: Request) -> TaskService:
    # async: a plain def dependency would be run on a worker thread for every request.
    service: TaskService = request.app.state.service
    return service


Service = Annotated[TaskService, Depends(get_service)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations for the error bodies a route can answer with."""
    descriptions = {
        400: "Validation failure or a refused state change",
        401: "Missing or wrong API key",
        404: "Not found",
        409: "Conflict",
        413: "Request body too large",
        429: "Budget limit exceeded",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == 400:
            out[400] = {"description": descriptions[400], "content": {"application/json": {"schema": {
                "anyOf": [{"$ref": "#/components/schemas/ErrorBody"},
                          {"$ref": "#/components/schemas/ValidationErrorBody"}]}}}}
        else:
            out[code] = {"model": ErrorBody, "description": descriptions[code]}
    return out


# Referenced by errors(400); registered so the components exist in the schema.
SCHEMA_MODELS = (ErrorBody, ValidationErrorBody)


def sse_response(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {"text/event-stream": {"schema": {"type": "string"}, "example": example}}}}
