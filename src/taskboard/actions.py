"""Every action a person can take on a board, once: its key, name, group, help, the capability the
server needs for it, whether it changes anything, and when a task allows it.

The TUI builds its bindings, footer, help screen, command palette and greyed keys (`why_not`) from
ACTIONS, and the CLI's verbs take their help and read-only refusal from the same entries; the
preconditions call the task rules in models.py, which the backend's checks call too. So "can this
task resume?" has one answer, wherever it is asked. (Before, the rules were written three times and
disagreed: the TUI offered resume on a cancelled task that never ran, which the runner refuses.)

No textual here: the CLI and the tests read this without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from taskboard.client.dialects import Capability
from taskboard.models import (
    TaskStatus,
    delete_refusal,
    execute_refusal,
    message_refusal,
    resume_refusal,
    transition_refusal,
)

READ_ONLY = "Read-only mode: nothing can be changed from this board."
NO_TASK = "No task selected."
NOT_CONNECTED = "Not connected yet."
MAX_PRIORITY, MIN_PRIORITY = 0, 3  # P0 is the most urgent


class TaskFacts(Protocol):
    """What a precondition reads of a task: a Task, a TaskSummary or a test's stand-in."""

    status: TaskStatus
    attempt: int
    resume_count: int
    priority: int


@dataclass(frozen=True)
class Situation:
    """What an action's availability depends on besides the action: the selected task, how many
    permission requests it has waiting, and the board's mode."""

    task: TaskFacts | None = None
    pending: int = 0
    read_only: bool = False
    connected: bool = True


Precondition = Callable[[TaskFacts, Situation], str | None]


@dataclass(frozen=True)
class Action:
    name: str  # the app's action_<name>, the palette's and help's entry
    keys: str  # Textual key names, comma-separated; the first is the one the footer shows
    title: str  # the footer's word
    group: str
    help: str
    label: str = ""  # how the key reads in help, when not the first key as Textual names it
    capability: Capability | None = None
    mutating: bool = False  # changes something on the server: off in read-only mode
    needs_task: bool = False  # about the selected task
    footer: bool = True
    palette: bool = True
    precondition: Precondition | None = None
    cli: str | None = None  # the `taskboard` verb that does the same

    @property
    def key_label(self) -> str:
        return self.label or _KEY_LABELS.get(self.keys.split(",")[0], self.keys.split(",")[0])


_KEY_LABELS = {"slash": "/", "question_mark": "?", "plus": "+", "minus": "-", "escape": "esc", "colon": ":",
               "asterisk": "*", "left_square_bracket": "[", "right_square_bracket": "]"}


def _status_name(status: TaskStatus) -> str:
    return status.value.replace("_", " ")


def _transition(target: TaskStatus, hint: str) -> Precondition:
    def check(task: TaskFacts, _: Situation) -> str | None:
        if transition_refusal(task.status, target) is None:
            return None
        return f"The task is {_status_name(task.status)}; {hint}"
    return check


def _cancel(task: TaskFacts, _: Situation) -> str | None:
    if transition_refusal(task.status, TaskStatus.CANCELLED) is None:
        return None
    return f"The task is already {_status_name(task.status)}."


def _resume(task: TaskFacts, _: Situation) -> str | None:
    return resume_refusal(task.status, task.attempt, task.resume_count)


def _execute(task: TaskFacts, _: Situation) -> str | None:
    if execute_refusal(task.status) is None:
        return None
    return f"Only queued tasks execute; this one is {_status_name(task.status)} (queue it with u)."


def _message(task: TaskFacts, _: Situation) -> str | None:
    if message_refusal(task.status) is None:
        return None
    return f"The task is {_status_name(task.status)}, not awaiting input."


def _delete(task: TaskFacts, _: Situation) -> str | None:
    return delete_refusal(task.status)


def _pending(_: TaskFacts, situation: Situation) -> str | None:
    return None if situation.pending else "This task has no permission request waiting."


def _raise(task: TaskFacts, _: Situation) -> str | None:
    return None if task.priority > MAX_PRIORITY else f"Already P{MAX_PRIORITY}, the most urgent."


def _lower(task: TaskFacts, _: Situation) -> str | None:
    return None if task.priority < MIN_PRIORITY else f"Already P{MIN_PRIORITY}, the least urgent."


ACTION_LIST: tuple[Action, ...] = (
    # App: first, so the footer keeps them when it runs out of room.
    Action("help", "question_mark", "Help", "App", "Every key, by group"),
    Action("quit", "q", "Quit", "App", "Quit (q or escape closes a dialog first)", palette=False),
    # Task
    Action("new_task", "n", "New", "Board", "New task (Tab and shift+Tab move through the form, ctrl+s creates)",
           capability=Capability.CREATE, mutating=True, cli="create"),
    Action("cancel", "c", "Cancel", "Task", "Cancel the task (asks first)", capability=Capability.CANCEL,
           mutating=True, needs_task=True, precondition=_cancel, cli="cancel"),
    Action("resume", "r", "Resume", "Task", "Resume a failed or cancelled task that ran", capability=Capability.RESUME,
           mutating=True, needs_task=True, precondition=_resume, cli="resume"),
    Action("queue", "u", "Queue", "Task", "Queue a planned (or failed) task", capability=Capability.EXECUTE,
           mutating=True, needs_task=True,
           precondition=_transition(TaskStatus.QUEUED, "only planned or failed tasks can be queued.")),
    Action("execute", "x", "Execute", "Task", "Execute a queued task", capability=Capability.EXECUTE,
           mutating=True, needs_task=True, precondition=_execute),
    Action("approve", "a", "Approve", "Approvals", "Allow the task's pending request once",
           capability=Capability.RESPOND, mutating=True, needs_task=True, precondition=_pending, cli="approve"),
    Action("deny", "d", "Deny", "Approvals", "Deny the task's pending request", capability=Capability.RESPOND,
           mutating=True, needs_task=True, precondition=_pending, cli="deny"),
    Action("review", "p", "Review", "Approvals",
           "Review it: always allow (an edited pattern), deny with a message; opens on the request, "
           "Tab moves to the fields and buttons", capability=Capability.RESPOND, mutating=True, needs_task=True,
           footer=False, precondition=_pending),
    Action("message", "m", "Message", "Task", "Answer a task awaiting input", capability=Capability.MESSAGE,
           mutating=True, needs_task=True, precondition=_message, cli="msg"),
    Action("inbox", "i", "Triage", "Approvals",
           "Triage: every task that needs you, on every server, oldest first (permission, question, failed, "
           "finished); a d p m r x act without leaving it, enter goes to the task"),
    Action("rules", "R", "Rules", "Approvals",
           "Saved rules of every server: pattern, who saved it, when, matches, expiry; D deletes one",
           capability=Capability.RULES, footer=False),
    Action("plan", "P", "Plan", "Task", "Back to planned (a queued, finished, failed or cancelled task)",
           capability=Capability.PRIORITY, mutating=True, needs_task=True, footer=False,
           precondition=_transition(TaskStatus.PLANNED, "only queued or finished tasks go back to planned.")),
    Action("delete", "D", "Delete", "Task", "Delete the task (asks first; a running one is stopped)",
           capability=Capability.DELETE, mutating=True, needs_task=True, footer=False, precondition=_delete),
    Action("priority_up", "plus,equals_sign", "Priority up", "Task", "Raise the priority (towards P0)",
           capability=Capability.PRIORITY, mutating=True, needs_task=True, footer=False, precondition=_raise),
    Action("priority_down", "minus", "Priority down", "Task", "Lower the priority (towards P3)",
           capability=Capability.PRIORITY, mutating=True, needs_task=True, footer=False, precondition=_lower),
    Action("copy_id", "y", "Copy id", "Task", "Copy the task id", needs_task=True, footer=False),
    Action("open_detail", "enter", "Detail", "Task", "Open the task full screen (esc, enter or q back)",
           needs_task=True, footer=False),
    # Board
    Action("search", "slash", "Search", "Board", "Search titles, ids and agents (enter keeps it, escape clears)"),
    Action("follow", "f", "Follow log", "Log", "Follow the log again (when paused)", footer=False),
    Action("log_wrap", "w", "Wrap", "Log", "Wrap long log lines on/off (kept in the config)", footer=False),
    Action("log_timestamps", "t", "Times", "Log", "Show the log's times on/off (kept in the config)", footer=False),
    Action("log_attempt_next", "right_square_bracket", "Next attempt", "Log",
           "The log of the next attempt (every run of the task, then each one)", footer=False),
    Action("log_attempt_previous", "left_square_bracket", "Previous attempt", "Log",
           "The log of the previous attempt", footer=False),
    Action("save_log", "ctrl+s", "Save log", "Log", "Save the log as shown to a file (asks for the path)",
           footer=False),
    Action("copy_log_line", "Y", "Copy line", "Log", "Copy the log line at the bottom of the pane", footer=False),
    Action("filter", "F", "Filter", "Board", "Filter by status (several) and project", footer=False),
    Action("sort", "s", "Sort", "Board", "Sort: priority, created, updated, status", footer=False),
    Action("attention", "A", "Attention first", "Board", "Attention first on/off (input, approvals on top)",
           footer=False),
    Action("clear_filter", "escape", "Clear filter", "Board", "Clear the marks first, then search and filters",
           footer=False, palette=False),
    Action("refresh", "ctrl+r", "Refresh", "Board", "Reload everything from the server", footer=False),
    Action("cleanup", "C", "Clean up", "Board", "Remove finished tasks older than 24 h (asks first)",
           capability=Capability.CLEANUP, mutating=True, footer=False, cli="cleanup"),
    Action("switch_context", "ctrl+k", "Context", "App", "Switch to another context (server), from any screen",
           footer=False),
    # Marks: what a bulk action is for (the Task and Approvals keys above act on every marked task).
    Action("mark", "space", "Mark", "Marks", "Mark the task (or unmark it) and move down", label="space",
           needs_task=True, footer=False),
    Action("mark_all", "asterisk,ctrl+space,ctrl+at", "Mark all", "Marks", "Mark every task shown",
           label="* ctrl+space", footer=False),
    # Views and sorting by any column.
    Action("sort_by", "S", "Sort by", "Board", "Sort by any column, either way (the same column again reverses)",
           footer=False),
    Action("command", "colon", ":", "App", "A view or action by name: :tasks :inbox :rules :projects "
           ":workflows :ctx NAME :q (Tab completes)", label=":", footer=False),
)

ACTIONS: dict[str, Action] = {action.name: action for action in ACTION_LIST}

# Keys that are not actions of the app but belong in the help: the table's, the panes', the dialogs'.
OTHER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Move", "j k  ↓ ↑", "Next / previous task"),
    ("Move", "g G  home end", "First / last task"),
    ("Move", "pgdn pgup", "A page down / up (also ctrl+f / ctrl+b)"),
    ("Move", "tab shift+tab", "Next / previous pane (table, detail, log)"),
    ("Log", "/", "Filter the log (when the log has focus; enter keeps it, escape clears)"),
    ("Dialogs", "tab shift+tab", "Move through the fields and buttons"),
    ("Dialogs", "enter", "Press the focused button; in a field, submit"),
    ("Dialogs", "esc q", "Close without doing anything (in a field, q is a q)"),
    ("Dialogs", "ctrl+s", "Create (new task), apply (filter)"),
    ("Dialogs", "y n", "Yes / no (confirmations)"),
    ("Dialogs", "a A d", "Allow once / always allow / deny (permission request)"),
    ("App", "ctrl+p", "Command palette"),
)

MUTATING = frozenset(a.name for a in ACTION_LIST if a.mutating)
# What applies to every marked task when there are marks (one confirmation for all of them).
BULK = frozenset({"cancel", "resume", "queue", "execute", "delete", "plan", "priority_up", "priority_down",
                  "approve", "deny"})
TASK_ACTIONS = frozenset(a.name for a in ACTION_LIST if a.needs_task)
# The keys that can be off (greyed, with a reason when pressed).
GATED = frozenset(a.name for a in ACTION_LIST if a.mutating or a.needs_task)


def why_not(action: Action | str, situation: Situation,
            capability_refusal: Callable[[Capability], str | None] | None = None) -> str | None:
    """Why the action cannot run now, in words for a notification; None when it can.

    `capability_refusal(capability)` is the server's side (the client's `why_not`): None when the
    server can do it."""
    action = ACTIONS[action] if isinstance(action, str) else action
    if action.mutating and situation.read_only:
        return READ_ONLY
    if action.capability is not None and capability_refusal is not None:
        reason = capability_refusal(action.capability)
        if reason is not None:
            return reason
    if action.name == "new_task" and not situation.connected:
        return NOT_CONNECTED
    if not action.needs_task:
        return None
    if situation.task is None:
        return NO_TASK
    if action.precondition is not None:
        return action.precondition(situation.task, situation)
    return None


def sort_out(action: Action | str, tasks: Iterable[TaskFacts], situation: Callable[[TaskFacts], Situation],
             capability_refusal: Callable[[TaskFacts, Capability], str | None] | None = None,
             ) -> tuple[list[TaskFacts], list[tuple[TaskFacts, str]]]:
    """The marked tasks an action can take, and those it cannot with why (`why_not` for each, its own
    server's answer for its capability): what a bulk action asks about once and then does."""
    able: list[TaskFacts] = []
    unable: list[tuple[TaskFacts, str]] = []
    for task in tasks:
        refusal = None if capability_refusal is None else (lambda c, t=task: capability_refusal(t, c))
        reason = why_not(action, situation(task), refusal)
        if reason is None:
            able.append(task)
        else:
            unable.append((task, reason))
    return able, unable


def by_group(actions: Iterable[Action] = ACTION_LIST) -> dict[str, list[tuple[str, str]]]:
    """(key, help) per group, in the order a help screen shows them, with the keys that are no action's."""
    order = ("Task", "Approvals", "Marks", "Board", "Move", "Log", "Dialogs", "App")
    groups: dict[str, list[tuple[str, str]]] = {name: [] for name in order}
    for action in actions:
        label = action.key_label
        if action.name == "priority_up":
            label = "+"
        groups.setdefault(action.group, []).append((label, action.help))
    for group, key, text in OTHER_KEYS:
        groups.setdefault(group, []).append((key, text))
    return {name: rows for name, rows in groups.items() if rows}


__all__ = ["ACTIONS", "ACTION_LIST", "BULK", "GATED", "MUTATING", "TASK_ACTIONS", "Action", "Situation", "by_group",
           "sort_out", "why_not"]
