"""What the two real-agent runtimes (`claude-code`, `openai-codex-app-server`) share, written once.

Why one module (issues 21 and 22): both run a third-party agent on the server's machine under the
same supervision, and a rule that holds for one must hold for the other:

- Where it works (`working_directory`): `params.cwd` inside the allowed roots, else the project's
  workingDirectory (inside them too), else a directory of its own under the server's data directory.
- What it gets (`agent_environment`): the shell runtime's allow-listed environment, a HOME of the
  server's own, the operator's provider settings; the agent is started through `agent_exec`, which
  drops everything else, ends whatever its tools left running and dies with the server.
- A permission wait that can last hours (`ask_in_window`, `wait_for_answers`): a request is the
  server's permission request (saved rules first, deny wins, then a person). One still unanswered
  after the runtime's window parks the run: the agent's turn is ended cleanly and its process goes,
  the session/thread is kept, the requests are saved in the checkpoint (so a restart keeps the task
  waiting, not failed), the runner slot is freed, and when every answer is in the session is resumed
  with them (`answered_prompt`): an allowed call is made once, on the model's retry of that very call
  (`Preapprovals`), without a second request.
- Questions (`question_text`, `pick_answer`): an agent's question with options becomes the task's
  awaiting_input question; an answer by number or label picks that option.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskboard_backend.runtimes.base import PermissionDecision, RunContext, RuntimeFailure, parked_entries
from taskboard_backend.runtimes.shell import child_environment

AGENT_EXEC = Path(__file__).with_name("agent_exec.py")


def within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def working_directory(ctx: RunContext, work_root: Path, roots: list[Path], root_option: str) -> Path:
    """Where the agent works: `params.cwd`, else the project's workingDirectory, else `work_root/<task id>`
    (made on first use). Anything given must be an absolute directory inside `roots`."""
    wanted = (ctx.params or {}).get("cwd")
    if wanted is None:
        wanted = getattr(ctx, "project_dir", None)  # the project's workingDirectory
    if wanted is None:
        path = work_root / ctx.task_id
        path.mkdir(parents=True, exist_ok=True)
        return Path(os.path.realpath(path))
    if not isinstance(wanted, str) or not wanted.startswith("/"):
        raise RuntimeFailure("The working directory (params.cwd) must be an absolute path")
    path = Path(os.path.realpath(wanted))
    if not within(path, roots):
        allowed = ", ".join(str(r) for r in roots)
        raise RuntimeFailure(f"The working directory {wanted} is outside the allowed roots ({allowed}); "
                             f"start the server with {root_option} to allow another")
    if not path.is_dir():
        raise RuntimeFailure(f"The working directory {wanted} is not a directory")
    return path


def agent_environment(env_names: tuple[str, ...], ctx: RunContext, home: Path, extra: dict[str, str],
                      program: str, also_keep: Iterable[str] = ()) -> dict[str, str]:
    """The environment agent_exec is started with: the allow-list, HOME, `extra` (the operator's provider
    settings, the runtime's own switches), and what agent_exec needs to run `program` with only those
    names (plus `also_keep`, names its launcher sets) and to die with this server."""
    env = child_environment(env_names, ctx)
    env["HOME"] = str(home)
    env.update(extra)
    env["TASKBOARD_AGENT_KEEP"] = ",".join(sorted({*env, *also_keep}))
    env["TASKBOARD_AGENT_EXEC"] = program
    env["TASKBOARD_AGENT_SERVER_PID"] = str(os.getpid())
    return env


def agent_exec_command() -> list[str]:
    """How to start agent_exec: this Python, isolated, without site (it runs in a few milliseconds)."""
    return [sys.executable, "-I", "-S", str(AGENT_EXEC)]


# ---------------------------------------------------------------------------------------------- questions


def question_text(question: dict[str, Any]) -> str:
    lines = [str(question.get("question", ""))]
    for index, option in enumerate(question.get("options") or [], 1):
        if isinstance(option, dict):
            detail = f" — {option['description']}" if option.get("description") else ""
            lines.append(f"  {index}. {option.get('label', '')}{detail}")
    return "\n".join(lines)


def pick_answer(question: dict[str, Any], answer: str) -> str:
    """An option's label when the answer names one (by its number or its label), else the answer."""
    options = [o for o in question.get("options") or [] if isinstance(o, dict)]
    text = answer.strip()
    if text.isdigit() and 1 <= int(text) <= len(options):
        return str(options[int(text) - 1].get("label", text))
    for option in options:
        if str(option.get("label", "")).strip().lower() == text.lower():
            return str(option["label"])
    return text


# ---------------------------------------------------------------------------------------------- the long wait


@dataclass
class Parked:
    """A permission request that outlived the window: a person may still answer it, hours later."""

    tool_name: str
    tool_input: dict[str, Any]
    waiter: asyncio.Future[PermissionDecision]
    notification_id: str


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Preapprovals:
    """Answers given while the run was parked: the model's retry of each such call gets its answer at once."""

    entries: list[tuple[str, str, PermissionDecision]] = field(default_factory=list)

    def add(self, tool_name: str, tool_input: dict[str, Any], decision: PermissionDecision) -> None:
        self.entries.append((tool_name, canonical(tool_input), decision))

    def take(self, tool_name: str, tool_input: dict[str, Any]) -> PermissionDecision | None:
        key = canonical(tool_input)
        for entry in self.entries:
            if entry[0] == tool_name and entry[1] == key:
                self.entries.remove(entry)
                return entry[2]
        return None


async def ask_in_window(ctx: RunContext, tool_name: str, tool_input: dict[str, Any], message: str | None,
                        cwd: Path, window: float, parked: list[Parked]) -> PermissionDecision | None:
    """The rules' or a person's answer to a permission request, if it comes within `window` seconds; else
    None, and the request (still pending for a person) is added to `parked`. Also parked when the caller
    is cancelled while a person has not answered (an agent that dropped the call)."""
    ids: list[str] = []
    request = asyncio.ensure_future(ctx.request_permission(tool_name, tool_input, message, cwd=str(cwd),
                                                           on_pending=ids.append))
    try:
        done, _ = await asyncio.wait({request}, timeout=window)
    except asyncio.CancelledError:
        if not request.done() and ids:
            parked.append(Parked(tool_name, tool_input, request, ids[0]))
        raise
    if not done and ids:
        parked.append(Parked(tool_name, tool_input, request, ids[0]))
        return None
    return await request


async def wait_for_answers(ctx: RunContext, checkpoint: dict[str, Any], parked: list[Parked],
                           session: str) -> list[PermissionDecision]:
    """Wait, parked, for a person to answer every request in `parked` (nothing of the agent runs
    meanwhile, and the run holds no runner slot). The requests are in the checkpoint while it waits,
    so a restart keeps the task waiting and the runner carries it on when they are answered."""
    await ctx.save_checkpoint({**checkpoint, "parked": [
        {"notificationId": p.notification_id, "tool": p.tool_name, "input": p.tool_input} for p in parked]})
    tools = ", ".join(p.tool_name for p in parked)
    await ctx.log("system", f"Waiting for approval of {tools}: the agent's turn ended and its session "
                            f"{session} is kept; it resumes when someone answers")
    await ctx.progress(0, None, phase="waiting for approval", message=f"Waiting for approval: {tools}")
    released = getattr(ctx, "slot_released", None)
    async with (released() if released is not None else contextlib.nullcontext()):
        decisions = [await p.waiter for p in parked]
    await ctx.progress(0, None, phase="working", message="Resuming with the answer")
    await ctx.save_checkpoint(checkpoint)
    verdicts = ", ".join(d.behavior for d in decisions)
    await ctx.log("system", f"Resuming session {session} with the answer ({verdicts})")
    return decisions


def answered_after_restart(ctx: RunContext) -> list[tuple[str, dict[str, Any], PermissionDecision]]:
    """When this attempt carries on a parked run after a restart: (tool, input, answer) of each request."""
    answers: dict[str, PermissionDecision] = getattr(ctx, "parked_answers", None) or {}
    return [(str(p.get("tool")), p.get("input") or {}, answers[p["notificationId"]])
            for p in parked_entries(ctx.checkpoint or {}) if p["notificationId"] in answers]


def answered_prompt(answered: list[tuple[str, dict[str, Any], PermissionDecision]], preapprovals: Preapprovals,
                    summarise: Callable[[str, dict[str, Any]], str]) -> str:
    """The prompt that resumes a parked session with people's answers. An allowed call is made on the
    model's retry of that very call, once, with no second request."""
    lines = []
    for tool_name, tool_input, decision in answered:
        summary = summarise(tool_name, tool_input).splitlines()[0]
        if decision.behavior == "allow":
            preapprovals.add(tool_name, tool_input, decision)
            lines.append(f"Your call `{summary}` has now been approved. Make exactly that call again, with "
                         "the same input.")
        else:
            lines.append(f"Your call `{summary}` was denied: {decision.message or 'no reason given'}")
    return "\n".join([*lines, "Then carry on with the task."])


def opening_prompt(ctx: RunContext, session: str | None, preapprovals: Preapprovals,
                   summarise: Callable[[str, dict[str, Any]], str]) -> str:
    """What a run says to its agent first: the task (a new session), people's answers (a parked run carried
    on after a restart), or that it was interrupted (a resume of `session`)."""
    if ctx.resumed and session:
        answered = answered_after_restart(ctx)
        if answered:  # the server restarted while this run waited for people; here are their answers
            return answered_prompt(answered, preapprovals, summarise)
        return "You were interrupted. Continue the task where you left off."
    return ctx.title + (f"\n\n{ctx.description}" if ctx.description else "")


async def turns_until_done(ctx: RunContext, prompt: str, turn: Callable[[str], Awaitable[None]],
                           parked: list[Parked], preapprovals: Preapprovals,
                           checkpoint: Callable[[], dict[str, Any]], session: Callable[[], str],
                           summarise: Callable[[str, dict[str, Any]], str]) -> None:
    """Run the agent's turns: after a turn that parked (requests left in `parked`), wait for the answers and
    resume the session with them, until a turn ends with nothing waiting."""
    while True:
        await turn(prompt)
        if not parked:
            return
        waiting = list(parked)
        parked.clear()
        decisions = await wait_for_answers(ctx, checkpoint(), waiting, session())
        prompt = answered_prompt([(p.tool_name, p.tool_input, d) for p, d in zip(waiting, decisions, strict=True)],
                                 preapprovals, summarise)
