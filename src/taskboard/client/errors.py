"""The client's error tree.

    TaskboardError
    ├── ConnectionLost           the server could not be reached, or the connection broke
    ├── UnexpectedResponse       the server answered something that is not this API
    ├── Unsupported              the server's API cannot do this at all (its dialect lacks the capability)
    └── ApiError                 the server answered with an error status (status, message, code, body)
        ├── BadRequest           400
        │   ├── ValidationFailed     400 with seed 001's Zod body (form_errors, field_errors)
        │   └── InvalidTransition    400: the state change is not allowed from the current status
        ├── Unauthorized         401
        ├── NotFound             404
        ├── Conflict             409
        ├── PayloadTooLarge      413
        ├── BudgetExceeded       429
        ├── ServiceUnavailable   503
        └── ServerError          5xx
"""

from __future__ import annotations

import html
import re
from typing import Any

import httpx


class TaskboardError(Exception):
    """Base of every error the client raises."""


class ConnectionLost(TaskboardError):
    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class UnexpectedResponse(TaskboardError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unsupported(TaskboardError):
    """Asked of a server whose API has no such call; nothing was sent."""

    def __init__(self, message: str, *, capability: str, dialect: str) -> None:
        super().__init__(message)
        self.message = message
        self.capability = capability
        self.dialect = dialect


class ApiError(TaskboardError):
    status: int = 0

    def __init__(self, message: str, *, status: int, code: str | None = None, body: Any = None,
                 headers: httpx.Headers | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.headers = headers or httpx.Headers()

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class BadRequest(ApiError):
    pass


class ValidationFailed(BadRequest):
    @property
    def form_errors(self) -> list[str]:
        return list(self.body["error"].get("formErrors", [])) if self._zod else []

    @property
    def field_errors(self) -> dict[str, list[str]]:
        return dict(self.body["error"].get("fieldErrors", {})) if self._zod else {}

    @property
    def _zod(self) -> bool:
        return isinstance(self.body, dict) and isinstance(self.body.get("error"), dict)


class InvalidTransition(BadRequest):
    pass


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class BudgetExceeded(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    429: BudgetExceeded, 503: ServiceUnavailable,
}
_BY_CODE: dict[str, type[ApiError]] = {
    "invalid_transition": InvalidTransition,
    "validation_error": ValidationFailed,
}


def _message_from(body: Any, status: int) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            parts = list(error.get("formErrors", []))
            for field, messages in (error.get("fieldErrors") or {}).items():
                parts.extend(f"{field}: {m}" for m in messages)
            return "; ".join(parts) or "Validation failed"
        for key in ("message", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return value
    return httpx.codes.get_reason_phrase(status) or f"HTTP {status}"


def summary_of_body(response: httpx.Response) -> str:
    """What a body that is not JSON was, in one line: a web page by its title, text by its first line,
    or "empty body". Never the raw page."""
    text = response.text.strip()
    kind = response.headers.get("content-type", "").partition(";")[0].strip()
    if not text:
        return "empty body"
    if "html" in kind or text[:15].lower().startswith(("<!doctype html", "<html")):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.DOTALL | re.IGNORECASE)
        name = " ".join(html.unescape(title.group(1)).split())[:120] if title else ""
        return f"a web page ({name})" if name else "a web page"
    line = " ".join(text.splitlines()[0].split())
    return line if len(line) <= 200 else line[:199] + "…"


def error_from_response(response: httpx.Response) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
        if not isinstance(body, str) or not body.strip() or "<" in body[:100]:
            reason = httpx.codes.get_reason_phrase(response.status_code) or f"HTTP {response.status_code}"
            message = f"{reason} ({summary_of_body(response)})"
        else:
            message = summary_of_body(response)
        status = response.status_code
        plain = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
        return plain(message, status=status, body=body if body.strip() and "<" not in body[:100] else None,
                     headers=response.headers)
    status = response.status_code
    code = body.get("code") if isinstance(body, dict) and isinstance(body.get("code"), str) else None
    cls: type[ApiError] | None = _BY_CODE.get(code or "") if status == 400 else None
    if cls is None and status == 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        cls = ValidationFailed
    if cls is None:
        cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(_message_from(body, status), status=status, code=code, body=body, headers=response.headers)
