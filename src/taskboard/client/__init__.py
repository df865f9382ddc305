"""The typed client layer: models in, models out; never imports textual or the backend."""

from taskboard.client.client import TaskboardClient
from taskboard.client.errors import (
    ApiError,
    BadRequest,
    BudgetExceeded,
    Conflict,
    ConnectionLost,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    TaskboardError,
    Unauthorized,
    UnexpectedResponse,
    Unsupported,
    ValidationFailed,
)
from taskboard.client.streams import StreamStatus

__all__ = [
    "ApiError",
    "BadRequest",
    "BudgetExceeded",
    "Conflict",
    "ConnectionLost",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "StreamStatus",
    "TaskboardClient",
    "TaskboardError",
    "Unauthorized",
    "UnexpectedResponse",
    "Unsupported",
    "ValidationFailed",
]
