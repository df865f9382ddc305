"""The config file, watched: re-read when it changes, and the board's choices written back to it.

The board looks at the file once a second (a stat: its modification time, size and inode, so an
editor that saves by renaming a new file over it is seen too). A change is parsed whole; a file with
a mistake in it is said once per mistake, and the settings from before stay in force until it is
fixed. What the board writes itself (config.save_ui: the theme, the log pane's choices) is not taken
for a change of the person's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from taskboard.config import Config, ConfigError, load_config, save_ui


class _Choice(Protocol):
    @property
    def about(self) -> str: ...
    @property
    def read_only(self) -> bool: ...


class ConfigWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._stamp = self._stat()
        self.config = self._load() or Config(path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _load(self) -> Config | None:
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.error = str(exc)
            return None
        self.error = None
        return config

    def changed(self) -> bool:
        """Whether the file changed since it was last read: then `config` (or `error`) is the new one."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        before = self.error
        config = self._load()
        if config is None:
            return self.error != before  # the same mistake again: said already
        self.config = config
        return True

    def save_ui(self, **values: Any) -> None:
        save_ui(self.path, **values)
        self._stamp = self._stat()  # our own write, not a change to re-read
        self.config.ui.update(values)


def context_changes(before: Mapping[str, _Choice], after: Mapping[str, _Choice], current: str | None) -> list[str]:
    """What a re-read changed in the contexts, in words for a notification."""
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    edited = [name for name in after if name in before
              and (after[name].about, after[name].read_only) != (before[name].about, before[name].read_only)]
    said = []
    if added:
        said.append(f"added {', '.join(added)} (ctrl+k)")
    if edited:
        said.append(f"changed {', '.join(edited)}"
                    + (" (the board shows it as it was until you switch to it again)" if current in edited else ""))
    if removed:
        said.append(f"removed {', '.join(removed)}")
    return said
