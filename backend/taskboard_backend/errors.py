"""Error bodies: seed 001's `{"error": "..."}` and its flattened Zod validation body.

FastAPI's own `{"detail": ...}` bodies never reach a client: every error path
is translated here.
"""

from __future__ import annotations

import logging
import re
from typing import Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskboard.models import flatten_validation_errors

log = logging.getLogger("taskboard.server")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = headers


class NotFound(ApiError):
    status = 404
    code = "not_found"


class InvalidTransition(ApiError):
    status = 400
    code = "invalid_transition"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class BudgetExceeded(ApiError):
    status = 429
    code = "budget_exceeded"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class FieldValidationError(ApiError):
    """A validation failure found after parsing, reported in the same Zod body as parse errors."""

    status = 400
    code = "validation_error"

    def __init__(self, field_errors: dict[str, list[str]], form_errors: list[str] | None = None) -> None:
        first = next(iter(field_errors.values()), form_errors or ["Invalid input"])
        super().__init__(first[0] if first else "Invalid input")
        self.field_errors = field_errors
        self.form_errors = form_errors or []


def field_error(field: str, message: str) -> FieldValidationError:
    return FieldValidationError({field: [message]})


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_is_list(arg) for arg in get_args(annotation) if arg is not type(None))


async def single_valued_query(request: Request) -> None:
    """A query parameter that takes one value, given twice, is refused: FastAPI would silently keep the
    last one, and a client that meant both would get a wrong answer with a 200."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or len(request.query_params.multi_items()) < 2:
        return
    for param in dependant.query_params:
        if len(request.query_params.getlist(param.alias)) > 1 and not _is_list(param.field_info.annotation):
            raise field_error(param.alias, "Expected a single value, received several")


def error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


def validation_response(form_errors: list[str], field_errors: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse(
        {"error": {"formErrors": form_errors, "fieldErrors": field_errors}, "code": "validation_error"},
        status_code=400,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves on this path, from the OpenAPI document (its public route table)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, ops in request.app.openapi().get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            table.append((template, regex, sorted(m.upper() for m in ops)))
        request.app.state.allowed_methods = table
    path = request.url.path
    matches = [(template, methods) for template, regex, methods in table if regex.match(path)]
    # A literal route wins over a template (/api/tasks/stats is not /api/tasks/{task_id}).
    literal = [methods for template, methods in matches if "{" not in template]
    return sorted({m for methods in (literal or [methods for _, methods in matches]) for m in methods})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, FieldValidationError):
            return validation_response(exc.form_errors, exc.field_errors)
        return error_response(exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        form, fields = flatten_validation_errors(list(exc.errors()))
        return validation_response(form, fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed"}
        detail = exc.detail if isinstance(exc.detail, str) else None
        message = messages.get(exc.status_code) if detail in (None, "Not Found", "Method Not Allowed") else detail
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response(exc.status_code, message or "Error", code, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error", "internal")
