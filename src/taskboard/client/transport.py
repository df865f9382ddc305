"""The HTTP side shared by every client: one connection pool, auth, retries honouring Retry-After,
and responses parsed into models (a body that is not the API is an UnexpectedResponse)."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from taskboard import __version__
from taskboard.client.errors import (
    ConnectionLost,
    UnexpectedResponse,
    error_from_response,
)

M = TypeVar("M")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None



class HttpTransport:
    """One server's connection: idempotent calls are retried on connection errors and on
    429/502/503/504, honouring Retry-After; the key is never shown."""

    def __init__(self, base_url: str, api_key: str | None = None, *, http_client: httpx.AsyncClient | None = None,
                 timeout: float = 10.0, max_retries: int = 2, max_retry_wait: float = 30.0,
                 auth_header: str = "X-API-Key") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        headers = {"User-Agent": f"taskboard/{__version__}", "Accept": "application/json"}
        if api_key:
            # An API key goes in X-API-Key unless the server wants a bearer token (JWTs, seed 002).
            headers[auth_header] = f"Bearer {api_key}" if auth_header.lower() == "authorization" else api_key
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), headers=headers,
            # An idle connection is dropped after 2 s, before the server's keep-alive ends it (uvicorn's is 5 s,
            # httpx's default expiry 5 s too): a POST sent on a connection the server was closing at that
            # moment fails with a connection error and is not retried (seen under load as "Approve failed").
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0),
        )
        if http_client is not None:
            self._http.headers.update(headers)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}({self.base_url!r}, api_key={'***' if self.api_key else None})"

    async def _request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                       retries: int | None = None) -> httpx.Response:
        attempts = (self.max_retries if retries is None else retries) if method in IDEMPOTENT else 0
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(method, path, json=json, params=params)
            except httpx.TimeoutException as exc:
                error: Exception = ConnectionLost(f"Timed out talking to {self.base_url} ({exc.__class__.__name__})",
                                                  url=self.base_url)
            except httpx.TransportError as exc:
                error = ConnectionLost(f"Cannot reach {self.base_url}: {exc or exc.__class__.__name__}",
                                       url=self.base_url)
            else:
                if response.status_code < 400:
                    return response
                error = error_from_response(response)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= attempts:
                raise error
            attempt += 1
            wait = _retry_after(response)
            if wait is None:
                wait = min(0.25 * 2 ** attempt, 8.0) * (0.5 + random.random() / 2)
            if wait > self.max_retry_wait:
                raise error
            await asyncio.sleep(wait)

    async def _get(self, path: str, model: type[M], params: Any = None) -> M:
        return parse_response(await self._request("GET", path, params=params), model)

    async def _send(self, method: str, path: str, model: type[M], body: Any = None) -> M:
        return parse_response(await self._request(method, path, json=body), model)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: type[M]) -> TypeAdapter[M]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def parse_json(data: str, model: type[M]) -> M:
    try:
        return _adapter(model).validate_json(data)
    except ValidationError as exc:
        raise UnexpectedResponse(f"Unexpected event from the server: {exc.errors()[0]['msg']}") from exc


def parse_response(response: httpx.Response, model: type[M]) -> M:
    try:
        return _adapter(model).validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UnexpectedResponse(
            f"Unexpected response from {response.request.method} {response.request.url.path}: "
            f"{where or 'body'}: {first['msg']}", status=response.status_code) from exc


def int_header(response: httpx.Response, name: str, default: Any) -> Any:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return default


def path_segment(value: str) -> str:
    """One path segment, escaped, so an id can never change the path."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(str(value), safe="")


def camel_body(body: BaseModel | dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A request body: a model's wire form, or keyword fields camelCased as they are.

    Keyword fields are not validated here on purpose: the server is the one judge, and its
    400 (with per-field messages) is what a caller shows the user.
    """
    if isinstance(body, BaseModel):
        data = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    else:
        data = dict(body or {})
    data.update({to_camel(k): v for k, v in fields.items()})
    return data
