"""TUI tests drive the real app (Textual's Pilot) against the real backend through the real client."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from taskboard.client import TaskboardClient
from tests.server import ServerProcess

# Log timestamps are shown in local time: pin it, so snapshots read the same everywhere.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
async def backend(start_server: Callable[..., ServerProcess]) -> AsyncIterator[tuple[ServerProcess, TaskboardClient]]:
    """A fresh server of its own for one test, and a client on it (the test's "other client")."""
    server = start_server("--heartbeat", "0.5")
    async with TaskboardClient(server.url) as client:
        yield server, client


@pytest.fixture(autouse=True)
def board_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the app keeps its sort per context: a file of the test's own, never the user's."""
    path = tmp_path_factory.mktemp("state") / "state.json"
    monkeypatch.setenv("TASKBOARD_STATE", str(path))
    return path
