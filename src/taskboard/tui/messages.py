"""Messages the app posts about the board; tests wait on them with message_hook."""

from __future__ import annotations

from textual.message import Message

from taskboard.models import PermissionRequest


class BoardLoaded(Message):
    """The first list arrived (and, with `complete`, every page of it)."""

    def __init__(self, count: int, complete: bool) -> None:
        super().__init__()
        self.count = count
        self.complete = complete


class TaskChanged(Message):
    """The watch stream changed a task that is on screen in detail (selected, or full-screen)."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id


class PermissionRequested(Message):
    def __init__(self, request: PermissionRequest) -> None:
        super().__init__()
        self.request = request


class PermissionResolved(Message):
    def __init__(self, request: PermissionRequest) -> None:
        super().__init__()
        self.request = request

