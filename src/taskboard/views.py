"""The `:` command line's names: a view of the board, or an action of the one action table.

    :tasks  :inbox  :rules  :projects  :workflows  :ctx NAME  :q      (and every action by its id: :cancel)

A name resolves to a `Command`: a view this module lists (some of which are opened by an action, such
as `inbox`), or an action id of `actions.ACTIONS`. An alias from the config's `[aliases]` table is
expanded first (`wf = "workflows"`, `prod = "ctx production"`), so an alias can carry its argument.
A view whose action this board does not have (`rules` on a server without a rules screen) is refused
with "no such view", never a crash. Pure Python: the TUI draws the line, this decides what it means.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str
    help: str
    action: str | None = None  # the action of actions.ACTIONS that opens it, when one does
    argument: str = ""  # what it takes after the name, for the help ("NAME")


VIEWS: tuple[View, ...] = (
    View("tasks", "The task board (back from a project's or a workflow's tasks)"),
    View("inbox", "Every pending request on the board", action="inbox"),
    View("rules", "The saved always-allow and deny rules", action="rules"),
    View("projects", "Projects and their tasks by status; enter shows a project's tasks"),
    View("workflows", "Workflow runs; enter shows a run's steps in order with their states"),
    View("ctx", "Switch to a context (server); without a name, the list", action="switch_context",
         argument="NAME"),
    View("q", "Quit", action="quit"),
)
VIEW_NAMES = {view.name: view for view in VIEWS}
MAX_ALIAS_DEPTH = 8  # an alias may name another; a loop stops here


class CommandError(ValueError):
    """A line that names nothing this board has; the message says so in words for a notification."""


@dataclass(frozen=True)
class Command:
    name: str  # the view's name, or the action id
    action: str | None  # the action to run (None: a view the board draws itself)
    argument: str = ""

    @property
    def view(self) -> bool:
        return self.name in VIEW_NAMES


def _split(line: str) -> tuple[str, str]:
    word, _, rest = line.strip().removeprefix(":").strip().partition(" ")
    return word.casefold().replace("-", "_"), rest.strip()


def expand(line: str, aliases: Mapping[str, str]) -> str:
    """The line with its first word's alias (and the alias's alias) written out."""
    word, rest = _split(line)
    seen: set[str] = set()
    while word in aliases and word not in seen and len(seen) < MAX_ALIAS_DEPTH:
        seen.add(word)
        target, target_rest = _split(aliases[word])
        word, rest = target, " ".join(part for part in (target_rest, rest) if part)
    return f"{word} {rest}".strip()


def resolve(line: str, actions: Collection[str], aliases: Mapping[str, str] | None = None) -> Command:
    """What the line means on a board with these actions; CommandError when it means nothing."""
    word, argument = _split(expand(line, aliases or {}))
    if not word:
        raise CommandError("Type a view (tasks, inbox, projects, workflows, …) or an action.")
    view = VIEW_NAMES.get(word)
    if view is not None:
        if view.action is not None and view.action not in actions:
            raise CommandError(f"No such view: {word} (this board has no {word} screen).")
        return Command(word, view.action, argument)
    if word in actions:
        return Command(word, word, argument)
    known = [*VIEW_NAMES, *actions, *(aliases or {})]
    close = difflib.get_close_matches(word, known, n=1)
    raise CommandError(f"No such view or action: {word}" + (f" (did you mean {close[0]}?)" if close else "."))


def candidates(line: str, actions: Collection[str], aliases: Mapping[str, str] | None = None,
               contexts: Collection[str] = ()) -> list[str]:
    """What the line can be completed to, whole lines, best first: views, aliases, then actions; after
    `ctx ` the contexts."""
    text = line.lstrip().removeprefix(":").lstrip()
    word, sep, rest = text.partition(" ")
    if sep:
        if _split(expand(word, aliases or {}))[0] == "ctx":
            return [f"{word} {name}" for name in contexts if name.casefold().startswith(rest.strip().casefold())]
        return []
    prefix = word.casefold().replace("-", "_")
    names = [*VIEW_NAMES, *sorted(aliases or {}), *sorted(actions)]
    seen: set[str] = set()
    found = []
    for name in names:
        if name.startswith(prefix) and name not in seen:
            seen.add(name)
            if name not in VIEW_NAMES or VIEW_NAMES[name].action in (None, *actions):
                found.append(name)
    return found


def completion(line: str, found: list[str]) -> str:
    """Tab's answer: the one candidate (and a space when it takes an argument), else the longest
    prefix they share, else the line as it was."""
    if not found:
        return line
    if len(found) == 1:
        only = found[0]
        view = VIEW_NAMES.get(only)
        return only + (" " if view is not None and view.argument else "")
    shared = found[0]
    for name in found[1:]:
        while not name.startswith(shared):
            shared = shared[:-1]
    text = line.lstrip().removeprefix(":").lstrip()
    return shared if len(shared) > len(text) else text


__all__ = ["VIEWS", "VIEW_NAMES", "Command", "CommandError", "View", "candidates", "completion", "expand",
           "resolve"]
