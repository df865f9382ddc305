"""`taskboard worker --db postgresql://…`: a runner without an HTTP server, for machines that only execute.

It is a server's runner and nothing else: it holds a lease on the shared database as a server does, claims
queued runs of the runtimes it has up to its --concurrency (Runner.claim_runs), hears cancels, answers and
messages made through any server (the store's notifications), and looks for expired leases like every server.
A worker that dies has its runs failed, resumable, by whichever server or worker sees its lease gone; one
stopped with SIGTERM or SIGINT ends its runs at once and marks them failed, resumable, as a server does.
SQLite has no workers: one server per file runs what it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from taskboard_backend.broker import Broker
from taskboard_backend.runner import Runner
from taskboard_backend.server import _run_loop
from taskboard_backend.service import TaskService
from taskboard_backend.settings import Settings
from taskboard_backend.store import StoreNotWritable, StoreUnavailable, make_store

log = logging.getLogger("taskboard.worker")


async def work(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    store = make_store(settings.db, Broker(), event_retention=settings.event_retention,
                       lease_seconds=settings.lease_seconds)
    runner = Runner(store, settings)
    service = TaskService(store, runner, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await store.open()
    loops: list[asyncio.Task[None]] = []
    try:
        await service.recover()
        loops = [asyncio.create_task(service.reap(settings.lease_seconds / 3), name="reap"),
                 asyncio.create_task(runner.claim_runs(), name="claim-runs")]
        # One machine-readable line, as `serve` prints its URL: tests and scripts wait for it.
        print(f"taskboard: working (database: {settings.db_shown}, concurrency {settings.concurrency}, "
              f"runtimes {', '.join(sorted(runner.runtimes))})", flush=True)
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        for task in loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.shutdown()
        try:
            await service.recover(stopping=True)
        except StoreNotWritable as exc:
            log.warning("could not mark interrupted tasks at shutdown (%s); the lease's expiry will", exc.message)
        await store.close()


def work_forever(settings: Settings, log_level: str = "warning") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.db_url is None:
        print("taskboard: a worker needs a shared database (--db postgresql://USER@HOST/DB); on SQLite the "
              "server runs its own tasks", file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        from taskboard_backend.store_postgres import check_database_url

        check_database_url(settings.db_url)
    except StoreUnavailable as exc:
        print(f"taskboard: {exc}", file=sys.stderr, flush=True)
        sys.exit(3)
    _run_loop(work(settings))
