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

# The test modules that run against both stores (issue 23): the API, the client, the TUI's actions, keys,
# marks, triage queue and views, the crash, race and stream harnesses. The others (the board's drawing and log
# tail, the perimeter, the dialects, the web board, Claude Code, the SQLite file's own faults, the snapshots)
# exercise no store behaviour, or only SQLite's, and run once: twice everything would take the suite past
# CI's budget on two cores (see README, Tests).
BOTH_STORES = frozenset({
    "test_lifecycle", "test_transitions", "test_bad_input", "test_permissions", "test_rule_matching", "test_rules",
    "test_streams", "test_crash", "test_harnesses", "test_cli", "test_client_retries", "test_demo_restart",
    "test_properties", "test_quickstart", "test_strict_json", "test_openapi_and_layers",
    "test_actions", "test_keyboard", "test_action_table", "test_marks", "test_triage", "test_views",
})
# TASKBOARD_TEST_STORES=sqlite leaves PostgreSQL out (a machine without its server binaries).
STORES = tuple(s for s in os.environ.get("TASKBOARD_TEST_STORES", "sqlite,postgres").split(",") if s)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_STORES:
        metafunc.parametrize("store", STORES, scope="session")


@pytest.fixture(scope="session")
def store() -> str:
    """The store the servers of a test use: "sqlite", or also "postgres" for the modules in BOTH_STORES."""
    return "sqlite"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, store: str) -> Iterator[ServerProcess]:
    """One real backend for the tests that only add their own tasks."""
    proc = ServerProcess(tmp_path_factory.mktemp("db") / "taskboard.db", *SERVER_ARGS, store=store)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def start_server(tmp_path: Path, store: str) -> Iterator[Callable[..., ServerProcess]]:
    """A fresh backend with its own database and arguments, stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, db: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 20.0) -> ServerProcess:
        proc = ServerProcess(db or tmp_path / f"db{len(started)}.db", *args, env=env, store=store)
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
