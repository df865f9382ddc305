"""The HTTP side shared by every client: one connection pool, auth, retries honouring Retry-After,
and responses parsed into models (a body that is not the API is an UnexpectedResponse).

Polled GETs (made inside `polling()`: the listings and task reads that stand in for a push stream) are
conditional: the answer is remembered with its validators (ETag, Last-Modified) and the next request
sends them back (If-None-Match, If-Modified-Since). A 304, or a 200 whose body is the remembered one
byte for byte (servers that offer no validators), gives back the remembered response, whose body was
parsed once: `parse` keeps what it made on the response, and `parses` counts the bodies it really parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import json
import random
import time
from collections.abc import Iterator
from typing import Any, Self, TypeVar, overload
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
# Set while a poll runs (base.poll_changes, base.poll_task_log): its GETs are conditional and remembered.
_POLLING: contextvars.ContextVar[bool] = contextvars.ContextVar("taskboard_polling", default=False)
# What `parse` made from a response, kept on the response (httpx's extensions), by model.
_PARSED = "taskboard.parsed"


@contextlib.contextmanager
def polling() -> Iterator[None]:
    """The GETs made inside are a poll's: conditional where the server offers validators, compared
    with the last answer where it does not, and parsed again only when the answer changed."""
    token = _POLLING.set(True)
    try:
        yield
    finally:
        _POLLING.reset(token)


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
        # gzip asked for by name (not left to httpx's defaults, which name br and zstd when their packages are
        # installed): a 233 KB page of the board is 15 KB gzipped, and a far link is bytes (issue 24).
        headers = {"User-Agent": f"taskboard/{__version__}", "Accept": "application/json", "Accept-Encoding": "gzip"}
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
        self.parses = 0  # response bodies really parsed (a remembered poll answer is not parsed again)
        self._polled: dict[tuple[str, str], httpx.Response] = {}  # a poll's last answer, by (path, query)

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
        if method != "GET" or not _POLLING.get():
            return await self._send_request(method, path, json=json, params=params, retries=retries)
        key = (path, str(httpx.QueryParams(params)))
        known = self._polled.get(key)
        headers = {}
        if known is not None:
            if "etag" in known.headers:
                headers["If-None-Match"] = known.headers["etag"]
            if "last-modified" in known.headers:
                headers["If-Modified-Since"] = known.headers["last-modified"]
        response = await self._send_request(method, path, params=params, retries=retries, headers=headers)
        if known is not None and (response.status_code == 304 or response.content == known.content):
            return known  # unchanged: the remembered answer, parsed already
        self._polled[key] = response
        return response

    async def _send_request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                            retries: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        attempts = (self.max_retries if retries is None else retries) if method in IDEMPOTENT else 0
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(method, path, json=json, params=params, headers=headers)
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
        return self.parse(await self._request("GET", path, params=params), model)

    async def _send(self, method: str, path: str, model: type[M], body: Any = None) -> M:
        return self.parse(await self._request(method, path, json=body), model)

    @overload
    def parse(self, response: httpx.Response) -> Any: ...
    @overload
    def parse(self, response: httpx.Response, model: type[M]) -> M: ...

    def parse(self, response: httpx.Response, model: Any = None) -> Any:
        """The response's body as `model` (plain JSON when None), parsed once per response and model."""
        made = response.extensions.setdefault(_PARSED, {})
        if model not in made:
            self.parses += 1
            made[model] = json_body(response) if model is None else parse_response(response, model)
        return made[model]


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


def json_body(response: httpx.Response) -> Any:
    """A body as plain JSON (raising ValueError for one that is not, as httpx's Response.json does)."""
    return json.loads(response.content)


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
