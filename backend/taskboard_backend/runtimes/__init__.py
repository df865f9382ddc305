"""Agent runtimes: what actually executes a task."""

from taskboard_backend.runtimes.base import RunContext, RunOutcome, Runtime, RuntimeFailure
from taskboard_backend.runtimes.demo import DemoRuntime
from taskboard_backend.runtimes.shell import ShellRuntime

__all__ = ["DemoRuntime", "RunContext", "RunOutcome", "Runtime", "RuntimeFailure", "ShellRuntime"]
