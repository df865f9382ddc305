"""TUI tests drive the real app (Textual's Pilot) against the real backend through the real client."""

from __future__ import annotations

import os
import time

# Log timestamps are shown in local time: pin it, so snapshots read the same everywhere.
os.environ["TZ"] = "UTC"
time.tzset()
