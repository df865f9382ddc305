"""`python -m tests.contract STATE NAME [--api-key KEY]`: one contract server on 127.0.0.1, port 0.

Prints the same "taskboard: serving URL" line as the bundled backend, so tests.server.ServerProcess
starts it. STATE is unused (ServerProcess passes a database path first); the state lives in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import socket

import uvicorn

MODULES = {
    "background-tasks": "tests.contract.background_tasks",
    "agent-platform": "tests.contract.agent_platform",
    "v1-envelope": "tests.contract.v1_envelope",
    "cortex": "tests.contract.cortex",
    "plain-seed-001": "tests.contract.plain_seed_001",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("name", choices=sorted(MODULES))
    parser.add_argument("--api-key")
    parser.add_argument("--upstream", help="plain-seed-001: the bundled backend it fronts")
    args = parser.parse_args()
    options = {"upstream": args.upstream} if args.upstream else {}
    app = importlib.import_module(MODULES[args.name]).make_app(api_key=args.api_key, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

    async def run() -> None:
        started = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not started.done():
            await asyncio.sleep(0.01)
        print(f"taskboard: serving http://127.0.0.1:{sock.getsockname()[1]} ({args.name} contract)", flush=True)
        await started

    asyncio.run(run())


if __name__ == "__main__":
    main()
