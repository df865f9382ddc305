"""Time limits and a ceiling on connections, which uvicorn does not have by itself.

uvicorn closes a connection idle between requests (its keep-alive timeout), but waits for ever on
one that sends half a request line, half its headers, or a body it never finishes, and on one that
connects and says nothing: 500 half-sent and 100 silent connections were all still open after 40 s,
each a descriptor and a buffer. Here a request's headers must be complete within `header_timeout`
of its first byte (or of the connection, for its first request), its body within `body_timeout` of
its headers, and past `max_connections` open connections a new one is closed at once.

This is uvicorn's own httptools (or h11) protocol with three timers added; nothing else changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - uvicorn without httptools
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


def guarded_protocol(header_timeout: float, body_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    class GuardedHttpProtocol(_Base):
        _timer: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # over the ceiling: refused before a byte is read
                return
            self._arm(header_timeout)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(header_timeout)

        def on_headers_complete(self) -> None:
            self._arm(body_timeout)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpProtocol
