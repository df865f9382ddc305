"""What the contract servers share: a clock in ISO 8601, and a change signal for their streams."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


def now_iso(naive: bool = False) -> str:
    stamp = datetime.now(UTC).replace(microsecond=0)
    return stamp.replace(tzinfo=None).isoformat() if naive else stamp.isoformat().replace("+00:00", "Z")


class Changes:
    """Wakes every stream waiting for a change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
