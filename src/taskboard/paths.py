"""Where taskboard keeps its files: the XDG data directory (~/.local/share/taskboard)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "taskboard"
