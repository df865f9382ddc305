"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskboard import __version__
from taskboard_backend import strictjson
from taskboard_backend.broker import Broker
from taskboard_backend.compress import GZipMiddleware
from taskboard_backend.errors import install_error_handlers, single_valued_query
from taskboard_backend.fast_list import FastListMiddleware
from taskboard_backend.perimeter import (
    OPEN_PATHS,
    ApiKeyMiddleware,
    HostOriginMiddleware,
    send_json,
)
from taskboard_backend.routers import events, permissions, projects, system, tasks
from taskboard_backend.routers.deps import SCHEMA_MODELS
from taskboard_backend.runner import Runner
from taskboard_backend.service import TaskService
from taskboard_backend.settings import Settings
from taskboard_backend.store import StoreNotWritable, make_store, use_clock_file, use_fixed_clock

log = logging.getLogger("taskboard.server")

class BodyLimitMiddleware:
    """413 for a body over the limit, whether it says its length or streams it; 400 for a JSON body
    that is not strict JSON (NaN, Infinity, 1e400) or nests deeper than strictjson.MAX_JSON_DEPTH,
    before any route sees it, so no way in (task bodies, updatedInput, workflow step params) can
    store a value that a strict parser, or Starlette's own JSONResponse, would refuse later."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = {"error": f"Request body too large (limit {self.max_bytes} bytes)", "code": "payload_too_large"}
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        await send_json(send, 413, too_large)
                        return
                except ValueError:
                    await send_json(send, 400, {"error": "Invalid Content-Length header", "code": "bad_request"})
                    return
        # Read the whole (small) body up front, so a streamed oversize body is refused before any work.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = _not_strict_json(scope, body)
        if refusal is not None:
            await send_json(send, 400, {"error": {"formErrors": [f"Invalid JSON body: {refusal}"], "fieldErrors": {}},
                                        "code": "validation_error"})
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _not_strict_json(scope: Scope, body: bytes) -> str | None:
    """Why a body FastAPI would read as JSON is not strict JSON, or None. Text that is not JSON at all
    is left to FastAPI, which says "Invalid JSON body" as it always has."""
    if not body:
        return None
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
            break
    # FastAPI reads a body as JSON when it says so, or says nothing.
    if content_type and content_type != b"application/json" and not content_type.endswith(b"+json"):
        return None
    try:
        strictjson.loads(body)
    except strictjson.NotStrictJson as exc:
        return str(exc)
    except ValueError:  # not JSON at all (or not UTF-8)
        return None
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.fixed_clock is not None:
        use_fixed_clock(settings.fixed_clock)
    if settings.clock_file is not None:
        use_clock_file(settings.clock_file)
    broker = Broker()
    store = make_store(settings.db, broker, event_retention=settings.event_retention,
                       lease_seconds=settings.lease_seconds)
    runner = Runner(store, settings)
    service = TaskService(store, runner, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        await service.recover()
        # On a shared database another server may die with runs: its lease expiring fails them here too.
        reaper = asyncio.create_task(service.reap(settings.lease_seconds / 3)) if store.shared else None
        # ...and the runs accepted by any server are claimed by any runner with a free slot, this one's too.
        claimer = asyncio.create_task(runner.claim_runs(), name="claim-runs") if store.shared else None
        demo_task: asyncio.Task[None] | None = None
        if settings.demo:
            from taskboard_backend.demo import run_demo_driver, seed_demo
            await seed_demo(service)
            demo_task = asyncio.create_task(run_demo_driver(service))
        app.state.started = time.monotonic()
        try:
            yield
        finally:
            broker.shutdown()
            if demo_task is not None:
                demo_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await demo_task
            for loop_task in (reaper, claimer):
                if loop_task is not None:
                    loop_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop_task
            await runner.shutdown()
            # Anything still running was cut off by the shutdown: say so now, resumable. If the store
            # cannot be written (a full disk), the next start-up says it instead.
            try:
                await service.recover(stopping=True)
            except StoreNotWritable as exc:
                log.warning("could not mark interrupted tasks at shutdown (%s); the next start-up will", exc.message)
            await store.close()

    app = FastAPI(
        title="taskboard",
        version=__version__,
        summary="The native task API: seed 001's Tasks API plus watch, progress, permissions and stats.",
        lifespan=lifespan,
        redirect_slashes=False,  # /api/projects/ is a 404, not a redirect to the list
        dependencies=[Depends(single_valued_query)],
    )
    app.state.settings = settings
    app.state.service = service
    app.state.started = time.monotonic()

    install_error_handlers(app)
    for module in (tasks, permissions, events, projects, system):
        app.include_router(module.router)

    # Innermost: the board's list requests skip FastAPI's routing, only after every check below.
    app.add_middleware(FastListMiddleware)
    # Around every route's answer and stream (the fast list's too): gzip when the client takes it.
    app.add_middleware(GZipMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit: a request without the key is answered before its body is read, so
    # unauthenticated clients cannot make the server hold their bodies.
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, store=store)
    # Added last, so it runs first: a request from another site is refused before anything else.
    app.add_middleware(HostOriginMiddleware, bound_host=settings.host, allowed_hosts=settings.allowed_hosts)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        _truthful_openapi(schema, bool(settings.api_key))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _truthful_openapi(schema: dict[str, Any], auth: bool) -> None:
    """Validation errors are 400 with seed 001's body, never FastAPI's 422; add the shared error models."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema([(m, "validation") for m in SCHEMA_MODELS],
                                 ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs.get("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, ops in schema.get("paths", {}).items():
        for op in ops.values():
            responses = op.get("responses", {})
            if "422" in responses:
                responses.pop("422")
                responses.setdefault("400", {
                    "description": "Validation failure",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}},
                })
            if op.get("requestBody") or any(p.get("in") == "query" for p in op.get("parameters", [])):
                responses.setdefault("400", {
                    "description": "Validation failure",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}},
                })
            if op.get("requestBody"):
                responses.setdefault("413", {"description": "Request body too large", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            if auth and path not in OPEN_PATHS:
                responses.setdefault("401", {"description": "Missing or wrong API key", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    if auth:
        components_root = schema["components"]
        components_root["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
        schema["security"] = [{"ApiKey": []}, {"Bearer": []}]
