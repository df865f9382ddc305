"""Messages the app posts about the board and the connection; tests wait on them with message_hook."""

from __future__ import annotations

from textual.message import Message

from taskboard.models import PermissionRequest


class ConnectionChanged(Message):
    """`connecting`, `live`, `reconnecting` or `disconnected`."""

    def __init__(self, state: str, detail: str = "") -> None:
        super().__init__()
        self.state = state
        self.detail = detail


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


class ActionDone(Message):
    """A server call made from a key finished: `ok` or not, with what the user was told."""

    def __init__(self, action: str, task_id: str | None, ok: bool, text: str) -> None:
        super().__init__()
        self.action = action
        self.task_id = task_id
        self.ok = ok
        self.text = text
