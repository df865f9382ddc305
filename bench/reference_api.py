"""The reference for the API benchmark: the same list endpoint written the plain FastAPI way.

The same database, filters and index-backed order, read row by row into dicts (the store's own
row mapping) and returned as a list, leaving serialisation to FastAPI (jsonable_encoder, then
json.dumps), behind the same uvicorn. Run as
`python -m bench.reference_api DB`; prints its URL like `taskboard serve` does.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Query

from taskboard_backend.broker import Broker
from taskboard_backend.server import base_url, bind_socket
from taskboard_backend.store import SORTS, task_row_to_wire
from taskboard_backend.store_sqlite import SqliteStore


def create_app(db: Path) -> FastAPI:
    store = SqliteStore(db, Broker())

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await store.open()
        yield
        await store.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/tasks")
    async def list_tasks(status: list[str] | None = Query(None), projectId: str | None = None,
                         sort: str = "priority", limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        where, params = [], []
        if status:
            where.append("status IN (" + ",".join("?" * len(status)) + ")")
            params.extend(status)
        if projectId is not None:
            where.append("project_id = ?")
            params.append(projectId)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = await store._fetchall(f"SELECT * FROM tasks{clause} ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
                                    [*params, limit, offset])
        return [task_row_to_wire(r) for r in rows]

    return app


def main() -> None:
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(create_app(Path(sys.argv[1])), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"taskboard: serving {base_url('127.0.0.1', sock)} (reference)", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
