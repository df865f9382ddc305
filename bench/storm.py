"""The update storm's writer: changes the given tasks through the API at 1,000 changes/s for a while.

`python -m bench.storm URL SECONDS ID...` prints {"changes", "rate", "errors"} as JSON. Runs in its
own process so the board under test does not share a CPU-bound loop with it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench import loadgen

RATE = 1000
CONNECTIONS = 20


async def storm(url: str, seconds: float, ids: list[str]) -> dict[str, float]:
    conns = [await loadgen.Connection(url).open() for _ in range(CONNECTIONS)]
    print("ready", flush=True)  # the board starts pressing keys now, not while Python starts up here
    started = time.perf_counter()
    sent = 0
    errors = 0
    interval = CONNECTIONS / RATE  # each connection's share of the rate

    async def writer(index: int, conn: loadgen.Connection) -> None:
        nonlocal sent, errors
        n = 0
        while True:
            due = started + (n + index / CONNECTIONS) * interval
            if due - started >= seconds:
                return
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = ids[(n * CONNECTIONS + index) % len(ids)]
            response = await conn.request("PATCH", f"/api/tasks/{task}", {"description": f"storm {n}.{index}"})
            sent += 1
            errors += response.status != 200
            n += 1

    await asyncio.gather(*(writer(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return {"changes": sent, "rate": sent / elapsed, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(loadgen.run(storm(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))))
