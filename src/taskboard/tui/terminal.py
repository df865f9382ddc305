"""How far the terminal is behind what the board has drawn (issue 24: the TUI over a slow SSH link).

Textual writes each frame to the terminal from a thread through a queue; when the terminal (an SSH
channel over a slow link) takes bytes slower than frames are made, the frames wait in that queue and
in the kernel, and the screen falls behind by seconds, every frame of an update storm drawn in
turn. `MeteredDriver` is Textual's Linux driver counting what it was given to write and what the
terminal has taken; `backlog()` is the difference. The board redraws its table only while the backlog
is small (TaskboardApp._repaint), so with a slow terminal it draws fewer frames, each of the latest
state, instead of a queue of stale ones: a ceiling on frames per second set by the terminal itself.

Headless runs (tests, benchmarks under Pilot), `taskboard web` (TEXTUAL_DRIVER) and Windows keep the
driver Textual chose, and `backlog()` is 0 there.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from textual.driver import Driver

# Characters given but not yet taken above which the table waits to redraw. Measured (bench/tty.py, a
# terminal reading 32 KB/s through a storm): without the wait the screen was 8.5 s behind when the storm
# ended, with 8 KB 3.0 s, with none at all 2.0 s, which is the pty's own buffer draining. A terminal that
# keeps up has taken each frame within a millisecond, so waiting for all of it costs nothing there.
BACKLOG_LIMIT = 0


class _Counted:
    """The terminal's file, counting what it has taken (written and flushed: a slow terminal blocks the flush)."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.taken = 0

    def write(self, text: str) -> int:
        written = self._file.write(text)
        self._file.flush()
        self.taken += len(text)
        return written

    def flush(self) -> None:
        return None  # done in write, so `taken` counts only what the terminal took

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


_driver: MeteredDriver | None = None


def backlog() -> int:
    """Characters the board has drawn that the terminal has not taken yet (0 with no metered driver)."""
    return _driver.backlog if _driver is not None else 0


def metered(chosen: type[Driver]) -> type[Driver]:
    """The metered driver where Textual chose its Linux one; any other choice (the web's, Windows') as it is."""
    if sys.platform != "win32" and chosen is LinuxDriver:
        return MeteredDriver
    return chosen


if sys.platform != "win32":
    from textual.drivers.linux_driver import LinuxDriver

    class MeteredDriver(LinuxDriver):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            global _driver
            super().__init__(*args, **kwargs)
            assert self._file is not None
            self._counted = _Counted(self._file)
            self._file = self._counted  # type: ignore[assignment]  # what Textual's writer thread writes to
            self.given = 0
            _driver = self

        def write(self, data: str) -> None:
            self.given += len(data)
            super().write(data)

        @property
        def backlog(self) -> int:
            return self.given - self._counted.taken
