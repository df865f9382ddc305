"""TUI tests drive the real app (Textual's Pilot) against the real backend through the real client."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable

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
