"""`python -m tests.contract STATE NAME [--api-key KEY]`: one contract server on 127.0.0.1, port 0.

Prints the same "taskboard: serving URL" line as the bundled backend, so tests.server.ServerProcess
starts it. STATE is unused (ServerProcess passes a database path first); the state lives in memory.

Every contract server can be told to answer one path with something that is not its API, as servers
in the world do (another shape at the same path, a web page, an empty 500):
`POST /_quirks {"path": "/api/permissions", "status": 200, "body": "...", "contentType": "text/html"}`;
`DELETE /_quirks` forgets them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import socket
from typing import Any

import uvicorn

MODULES = {
    "background-tasks": "tests.contract.background_tasks",
    "agent-platform": "tests.contract.agent_platform",
    "v1-envelope": "tests.contract.v1_envelope",
    "cortex": "tests.contract.cortex",
    "plain-seed-001": "tests.contract.plain_seed_001",
    "stagent": "tests.contract.stagent",
}


def with_quirks(app: Any) -> Any:
    quirks: dict[str, dict[str, Any]] = {}

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if scope["path"] == "/_quirks":
            if scope["method"] == "DELETE":
                quirks.clear()
            else:
                body = b""
                while True:
                    message = await receive()
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        break
                quirk = json.loads(body)
                quirks[quirk["path"]] = quirk
            return await _answer(send, 200, b"{}", "application/json")
        quirk = quirks.get(scope["path"])
        if quirk is not None and quirk.get("method", scope["method"]) == scope["method"]:
            return await _answer(send, quirk.get("status", 200), quirk.get("body", "").encode(),
                                 quirk.get("contentType"))
        return await app(scope, receive, send)

    return wrapped


async def _answer(send: Any, status: int, body: bytes, content_type: str | None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("name", choices=sorted(MODULES))
    parser.add_argument("--api-key")
    parser.add_argument("--upstream", help="plain-seed-001: the bundled backend it fronts")
    args = parser.parse_args()
    options = {"upstream": args.upstream} if args.upstream else {}
    app = with_quirks(importlib.import_module(MODULES[args.name]).make_app(api_key=args.api_key, **options))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # A stand-in's open event streams do not end by themselves: on SIGTERM it gives them a second, not the
    # ten its tests' stop() waits before a SIGKILL (10 s of every Stagent test's teardown).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))

    async def run() -> None:
        started = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not started.done():
            await asyncio.sleep(0.01)
        print(f"taskboard: serving http://127.0.0.1:{sock.getsockname()[1]} ({args.name} contract)", flush=True)
        await started

    asyncio.run(run())


if __name__ == "__main__":
    main()
