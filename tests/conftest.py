from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from taskboard.client import TaskboardClient
from tests.server import ServerProcess

# A failing example must not stick to the checkout: no example database (the failure prints the example and
# a blob to reproduce it with @reproduce_failure). HYPOTHESIS_PROFILE=dev keeps one while working on a test.
settings.register_profile("checkout", database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "checkout"))

# Shell on (the Quick Start needs it), a fast heartbeat so idle streams show it, room for parallel runs.
SERVER_ARGS = ("--enable-shell", "--heartbeat", "0.5", "--concurrency", "8")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real backend for the tests that only add their own tasks."""
    proc = ServerProcess(tmp_path_factory.mktemp("db") / "taskboard.db", *SERVER_ARGS)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A fresh backend with its own database and arguments, stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, db: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 20.0) -> ServerProcess:
        proc = ServerProcess(db or tmp_path / f"db{len(started)}.db", *args, env=env)
        proc.start(timeout=timeout)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[TaskboardClient]:
    async with TaskboardClient(server.url) as c:
        yield c


@pytest.fixture
def contract_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A third-party API's contract server (tests/contract) on loopback, stopped after the test."""
    started: list[ServerProcess] = []

    def start(name: str, api_key: str | None = None, upstream: str | None = None) -> ServerProcess:
        args = (name, *(("--api-key", api_key) if api_key else ()), *(("--upstream", upstream) if upstream else ()))
        proc = ServerProcess(tmp_path / "unused", *args, module="tests.contract")
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
