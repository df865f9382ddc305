"""What the board remembers between runs, per context: for now its sort (column and direction).

A JSON file in the data directory (`state.json` beside `crash.log`; TASKBOARD_STATE overrides the
path), not the config: the config is the person's file, written by hand, and a rewrite would lose its
comments and order. Reading never fails the board (a missing, unreadable or hand-mangled file is an
empty state); a write goes to a temporary file renamed over the old one, so a crash mid-write leaves
the old state, never half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from taskboard.paths import data_dir


def state_path() -> Path:
    override = os.environ.get("TASKBOARD_STATE")
    return Path(override).expanduser() if override else data_dir() / "state.json"


class BoardState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, context: str) -> dict[str, Any]:
        """What was kept for this context ({} when nothing was)."""
        contexts = self._read().get("contexts")
        found = contexts.get(context) if isinstance(contexts, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def put(self, context: str, **values: Any) -> None:
        """Keep these values for the context (beside what it had); an unwritable place is no error."""
        data = self._read()
        contexts = data.get("contexts")
        if not isinstance(contexts, dict):
            contexts = data["contexts"] = {}
        current = contexts.get(context)
        contexts[context] = {**(current if isinstance(current, dict) else {}), **values}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
            os.replace(temp, self.path)
        except OSError:
            pass


__all__ = ["BoardState", "state_path"]
