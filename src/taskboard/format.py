"""How values look in a terminal (the board and the CLI alike): status icons and colours, ages, costs, progress
bars. Plain data and rich styles, no textual: the scripting verbs use it too."""

from __future__ import annotations

import getpass
import re
import socket
from datetime import datetime
from typing import Any

from taskboard.models import Progress, Task, TaskStatus, TaskSummary

STATUS_ICON = {
    TaskStatus.PLANNED: "○",
    TaskStatus.QUEUED: "◔",
    TaskStatus.RUNNING: "▶",
    TaskStatus.AWAITING_INPUT: "?",
    TaskStatus.COMPLETED: "✔",
    TaskStatus.FAILED: "✘",
    TaskStatus.CANCELLED: "⊘",
}
# Rich colour names, so they read on dark and light themes alike.
STATUS_STYLE = {
    TaskStatus.PLANNED: "grey62",
    TaskStatus.QUEUED: "cyan",
    TaskStatus.RUNNING: "bold dodger_blue1",
    TaskStatus.AWAITING_INPUT: "bold yellow",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.CANCELLED: "grey50",
}
STATUS_LABEL = {
    TaskStatus.PLANNED: "planned",
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "running",
    TaskStatus.AWAITING_INPUT: "input",
    TaskStatus.COMPLETED: "done",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}
# Code and JSON in the terminal's own colours, so they read on any Textual theme.
CODE_THEME = "ansi_dark"
PRIORITY_STYLE = {0: "bold red", 1: "yellow", 2: "default", 3: "grey50"}
LOG_STYLE = {
    "system": "grey62",
    "assistant": "default",
    "tool_use": "cyan",
    "tool_result": "grey70",
    "permission": "bold yellow",
    "question": "bold yellow",
    "answer": "green",
    "error": "bold red",
    "stderr": "red",
    "stdout": "default",
    "progress": "grey50",
    "result": "green",
    "attempt": "bold magenta",
}


def short_id(task_id: str) -> str:
    return task_id[:8]


def age(then: datetime, now: datetime) -> str:
    """`42s`, `7m`, `3h`, `12d`: how long ago, in the fewest characters."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def task_age(task: Task | TaskSummary, now: datetime) -> str:
    """How long ago the task was created, as AGE reads in k9s (a cancel does not make a task 1s old);
    when it last changed is in the detail pane."""
    return age(task.created_at, now)


def cost(micros: int) -> str:
    if micros <= 0:
        return "-"
    dollars = micros / 1_000_000
    return f"${dollars:.2f}" if dollars >= 0.01 else "<$0.01"


def percent(progress: Progress | None) -> float | None:
    if progress is None:
        return None
    if progress.percent is not None:
        return max(0.0, min(100.0, progress.percent))
    if progress.total:
        return max(0.0, min(100.0, 100.0 * progress.current / progress.total))
    return None


def progress_bar(value: float | None, width: int) -> str:
    """A bar of eighth blocks, `width` cells wide, or blanks when there is nothing to show."""
    if value is None or width <= 0:
        return " " * max(0, width)
    eighths = round(value / 100 * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar.ljust(width)[:width]


def priority(value: int) -> str:
    return f"P{value}"


def request_argument(tool_input: dict[str, Any]) -> str:
    """What a permission request is about, as a person reads it: the tool's likeliest field (the command,
    the file), else its input as key=value; empty when it has none."""
    for key in ("command", "file_path", "path", "notebook_path", "url", "pattern", "query"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return ", ".join(f"{k}={v}" for k, v in tool_input.items())


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(text: str) -> int:
    """`8h`, `90m`, `1d12h`, `30s` as seconds (a rule's lifetime); ValueError saying what is accepted."""
    spoken = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(spoken)
    if not spoken or "".join(n + u for n, u in parts) != spoken:
        raise ValueError(f"{text.strip()!r} is not a duration: say e.g. 30m, 8h, 2d or 1d12h")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("A duration is more than nothing: e.g. 30m or 8h")
    return seconds


def who() -> str:
    """Who is saving a rule, as it is shown with the rule: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "someone"
    return f"{user}@{socket.gethostname() or 'localhost'}"[:200]
