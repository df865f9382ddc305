"""The contract between the runner and a runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class RuntimeFailure(Exception):
    """The run failed; the message becomes the task's `error`."""


@dataclass
class RunOutcome:
    result: str | None = None
    result_data: Any = None


@dataclass
class PermissionDecision:
    behavior: str  # "allow" | "deny"
    message: str | None = None
    updated_input: dict[str, Any] | None = None
    # "Always allow": a rule was saved with this answer (a runtime may tell its agent not to ask again).
    always: bool = False


class RunContext(Protocol):
    """What a runtime may do while it runs. Every write is checked against its attempt."""

    task_id: str
    attempt: int
    title: str
    description: str | None
    params: dict[str, Any]
    checkpoint: dict[str, Any] | None
    resumed: bool
    speed: float
    # The task's project's workingDirectory, if it has one.
    project_dir: str | None
    # This run's budget in microdollars (the ledger stops the run past it) and what it has cost so far.
    budget_micros: int
    run_cost: int
    # When this attempt carries on a parked run after a restart: the answers, by notification id.
    parked_answers: dict[str, PermissionDecision]

    def slot_released(self) -> Any:
        """An async context manager: the runner slot is free for other tasks inside it (a run that waits
        for a person with nothing running)."""
        ...

    async def log(self, event_type: str, message: str, data: dict[str, Any] | None = None) -> None: ...

    async def log_many(self, lines: list[tuple[str, str]]) -> None:
        """(event_type, message) lines in one transaction: a fast printer costs one commit a batch."""
        ...

    async def progress(self, current: int, total: int | None = None, *, phase: str | None = None,
                       message: str | None = None) -> None: ...

    async def usage(self, input_tokens: int, output_tokens: int, model_id: str,
                    cost_micros: int | None = None) -> None: ...

    async def save_checkpoint(self, data: dict[str, Any]) -> None: ...

    async def set_diff(self, diff: str) -> None:
        """The unified diff of what this run changed so far (shown with the task's detail)."""
        ...

    async def request_permission(self, tool_name: str, tool_input: dict[str, Any],
                                 message: str | None = None, *, cwd: str | None = None,
                                 on_pending: Any = None) -> PermissionDecision:
        """Saved rules first (deny wins), then a person. `cwd`: what relative paths in the input are
        relative to (the server's working directory when not given). `on_pending(notification_id)` is
        called once the request waits for a person."""
        ...

    async def ask(self, question: str) -> str: ...

    async def sleep(self, seconds: float) -> None: ...


class Runtime(Protocol):
    id: str
    name: str
    description: str

    async def run(self, ctx: RunContext) -> RunOutcome: ...


def parked_entries(checkpoint: Any) -> list[dict[str, Any]]:
    """The permission requests a parked run waits for, as its checkpoint holds them under "parked"
    (`{"notificationId", "tool", "input"}` each). A parked run's agent has ended its turn to wait for
    people, its session kept: the runner carries it on when every one is answered, even after a restart."""
    parked = checkpoint.get("parked") if isinstance(checkpoint, dict) else None
    if isinstance(parked, dict):
        parked = [parked]
    if not isinstance(parked, list):
        return []
    return [p for p in parked if isinstance(p, dict) and isinstance(p.get("notificationId"), str)]
