"""Messages the app posts about the board; tests wait on them with message_hook."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker, WorkerState

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



class WorkerFailed(Message):
    """A widget's or a dialog's worker ended with an exception nobody caught. Worker.StateChanged goes
    to the worker's own node and does not bubble, so without this such an error vanished."""

    def __init__(self, worker: Worker[object]) -> None:
        super().__init__()
        self.worker = worker


def forward_worker_error(node: DOMNode, event: Worker.StateChanged) -> None:
    """For a widget's on_worker_state_changed: hand an error to the app's one error handler."""
    if event.state is WorkerState.ERROR:
        node.app.post_message(WorkerFailed(event.worker))
