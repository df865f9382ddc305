"""Error bodies: seed 001's `{"error": "..."}` and its flattened Zod validation body.

FastAPI's own `{"detail": ...}` bodies never reach a client: every error path
is translated here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


def validation_response(form_errors: list[str], field_errors: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse(
        {"error": {"formErrors": form_errors, "fieldErrors": field_errors}, "code": "validation_error"},
        status_code=400,
    )


_TYPE_NAMES = {
    str: "string", int: "number", float: "number", bool: "boolean",
    list: "array", dict: "object", type(None): "null",
}


def _received(value: Any) -> str:
    for py, name in _TYPE_NAMES.items():
        if type(value) is py:
            return name
    return "unknown"


def zod_message(err: dict[str, Any]) -> str:
    """Pydantic's error, said the way Zod says it (seed 001's bodies are Zod's)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return "Required"
    if value is None:
        expected = {"string_type": "string", "enum": "string", "literal_error": "string", "dict_type": "object",
                    "model_type": "object", "list_type": "array", "bool_type": "boolean"}.get(kind, "number")
        return f"Expected {expected}, received null"
    if kind == "value_error" and str(ctx.get("error", "")).startswith("Expected "):
        return str(ctx["error"])
    if kind == "string_too_short":
        return f"String must contain at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"String must contain at most {ctx.get('max_length')} character(s)"
    if kind == "too_short":
        return f"Array must contain at least {ctx.get('min_length')} element(s)"
    if kind == "too_long":
        return f"Array must contain at most {ctx.get('max_length')} element(s)"
    if kind in ("less_than_equal", "less_than"):
        return f"Number must be less than or equal to {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"Number must be greater than or equal to {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("int_type", "int_parsing", "float_type", "float_parsing", "int_from_float"):
        if kind == "int_from_float" or (type(value) is float):
            return "Expected integer, received float"
        return f"Expected number, received {_received(value)}"
    if kind in ("string_type",):
        return f"Expected string, received {_received(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"Expected boolean, received {_received(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"Expected object, received {_received(value)}"
    if kind in ("list_type",):
        return f"Expected array, received {_received(value)}"
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        return f"Invalid enum value. Expected {expected}, received '{value}'"
    if kind == "extra_forbidden":
        return "Unrecognized key in object"
    if kind == "string_pattern_mismatch":
        return "Invalid"
    return str(err.get("msg", "Invalid input"))


def flatten_validation_errors(errors: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[str]]]:
    form: list[str] = []
    fields: dict[str, list[str]] = {}
    for err in errors:
        loc = [part for part in err.get("loc", ()) if part not in ("body", "query", "path", "header")]
        kind = err.get("type", "")
        if kind == "json_invalid":
            form.append("Invalid JSON body")
            continue
        if kind == "extra_forbidden" and loc:
            form.append(f"Unrecognized key(s) in object: '{loc[-1]}'")
            continue
        if not loc or isinstance(loc[0], int):
            # The body itself is wrong (an array, a string, or missing entirely).
            if kind == "missing":
                form.append("Request body is required")
            else:
                form.append(zod_message(err))
            continue
        # Zod's flatten() keys by the first path segment, with the message about the leaf.
        key = str(loc[0])
        msg = zod_message(err)
        if len(loc) > 1:
            msg = f"{'.'.join(str(p) for p in loc[1:])}: {msg}"
        fields.setdefault(key, [])
        if msg not in fields[key]:
            fields[key].append(msg)
    return form, fields


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves on this path, from the OpenAPI document (its public route table)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, ops in request.app.openapi().get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            table.append((regex, sorted(m.upper() for m in ops)))
        request.app.state.allowed_methods = table
    path = request.url.path
    return sorted({m for regex, methods in table if regex.match(path) for m in methods})


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
