"""The `claude-code` runtime: a real Claude Code agent (claude-agent-sdk) whose tool calls wait for a person.

Why it is built this way (issue 21):

- Off unless the server is started with --enable-claude (it runs an agent on the server's machine,
  as `shell` runs commands), and only where the optional extra is installed (`taskboard[claude]`,
  which bundles the CLI).
- Where it works: `params.cwd` (inside the allowed roots), else a directory of its own under the
  server's data directory (`<data>/claude/work/<task id>`). The CLI's HOME is the server's own
  stable directory (`<data>/claude/home`): its transcripts live there, so a session can be resumed
  after a restart.
- What it gets: the shell runtime's allow-listed environment (`child_environment`), the Anthropic
  settings the operator gave the server (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) and the switches
  that keep the CLI from calling home; never the server's key or anything else of its environment.
  The SDK merges the server's whole environment under the one it is given, so the CLI is started
  through `agent_exec`, which drops everything not named, runs the CLI in a session of its own and,
  as a child subreaper, ends whatever the CLI's tools left running (they run in sessions of their
  own) when the CLI exits. Cancel ends that session's group: the CLI ends its tools, agent_exec the rest.
- Every tool-permission callback becomes the server's permission request (saved rules first, deny
  wins, then the inbox). The CLI waits only so long for a callback's answer (PERMISSION_WINDOW); a
  request that waits longer parks the run: the turn is ended cleanly (deny with interrupt), the
  session is kept, the task stays running with its request pending ("waiting for approval"), and
  when a person answers the session is resumed with the answer: an allowed call is made once, on
  the model's retry of that very call, without a second request.
- What it shares with the openai-codex-app-server runtime (the roots, the environment, agent_exec, the
  parked wait, questions) is written once, in `agent.py`.
- AskUserQuestion becomes a question (awaiting_input); the answer goes back as the tool's answer.
- Each run's tokens, cost (the session's running total minus what earlier runs were charged) and
  model go to the ledger; maxTurns and the run's remaining budget are passed to the agent, and the
  ledger enforces the budget too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shlex
from pathlib import Path
from typing import Any

from taskboard.models import DEFAULT_MAX_TURNS
from taskboard_backend.permissions import request_argument
from taskboard_backend.runtimes.agent import (
    Parked,
    Preapprovals,
    agent_environment,
    agent_exec_command,
    ask_in_window,
    opening_prompt,
    pick_answer,
    question_text,
    turns_until_done,
    working_directory,
)
from taskboard_backend.runtimes.base import PermissionDecision, RunContext, RunOutcome, RuntimeFailure
from taskboard_backend.runtimes.shell import kill_group

# A request that has waited this long inside the CLI's permission callback parks the run. The SDK
# documents 60 s for the callback. Measured here (SDK 0.2.189 with its bundled CLI 2.1.332, a Write
# whose callback slept before answering allow): the CLI waited 650 s and 3000 s alike and then wrote
# the file as if answered at once; no limit was found. 50 s stays below the documented one all the
# same (a later CLI may hold to it), and a held CLI costs 180-250 MB and a runner slot for as long as
# it waits; parking costs one more model request when the session resumes.
PERMISSION_WINDOW = 50.0
# What the CLI is told so it never calls anything but the API it is given.
QUIET_ENV = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"}
# Variables the SDK sets for the CLI itself; kept by agent_exec beside the allow-list.
SDK_ENV = ("CLAUDE_CODE_ENTRYPOINT", "CLAUDE_AGENT_SDK_VERSION", "CLAUDE_CODE_SDK_READS_SESSION_STATE",
           "CLAUDE_AGENT_SDK_CLIENT_APP", "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING", "PWD")
PARKED_MESSAGE = ("A person has not answered this permission request yet. Stop here and do nothing else: "
                  "the session will be resumed with their answer.")
DIFF_LINES = 40


def sdk_available() -> str | None:
    """None when claude-agent-sdk is installed, else why the runtime cannot run.

    Found, not imported: importing it (and the mcp package under it) takes ~0.85 s, and GET /api/runtimes
    asks this on the server's event loop, so a board's first load stalled every other request that long."""
    if importlib.util.find_spec("claude_agent_sdk") is None:
        return "claude-agent-sdk is not installed (pip install 'taskboard[claude]')"
    return None


def bundled_cli() -> Path:
    import claude_agent_sdk

    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def summarise_tool(name: str, tool_input: dict[str, Any]) -> str:
    """One readable line for a tool call (a Write or Edit as a diff under it)."""
    if name == "Write":
        lines = str(tool_input.get("content", "")).splitlines()
        body = [f"+{line}" for line in lines[:DIFF_LINES]]
        if len(lines) > DIFF_LINES:
            body.append(f"… {len(lines) - DIFF_LINES} more lines")
        return "\n".join([f"Write {tool_input.get('file_path', '?')} ({len(lines)} lines)", *body])
    if name in ("Edit", "MultiEdit"):
        edits = tool_input.get("edits") if name == "MultiEdit" else [tool_input]
        body = []
        for edit in edits or []:
            if not isinstance(edit, dict):
                continue
            body += [f"-{line}" for line in str(edit.get("old_string", "")).splitlines()[:DIFF_LINES]]
            body += [f"+{line}" for line in str(edit.get("new_string", "")).splitlines()[:DIFF_LINES]]
        return "\n".join([f"{name} {tool_input.get('file_path', '?')}", *body])
    if name == "Bash":
        return f"Bash: {tool_input.get('command', '')}"
    return f"{name}: {request_argument(tool_input)[:500]}"


class _Run:
    """What one run knows between the CLI's messages."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.model: str | None = None
        # Requests that outlived the callback window this turn (parallel tool calls may park several).
        self.parked: list[Parked] = []
        # Answers given after the run parked: the model's retry of each such call gets its answer at once.
        self.preapproved = Preapprovals()
        self.result: str | None = None
        self.pid: int | None = None
        # What the ledger has been charged for this session so far (its cost is a running total).
        self.charged = 0.0

    def checkpoint(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, "sessionCostUsd": self.charged}


class ClaudeCodeRuntime:
    id = "claude-code"
    name = "Claude Code"
    description = "Runs Claude Code (claude-agent-sdk) on the server's machine; its tool calls wait for the board."

    def __init__(self, *, home: Path, work_root: Path, roots: tuple[Path, ...] = (), env_names: tuple[str, ...] = (),
                 anthropic_env: dict[str, str] | None = None, model: str | None = None,
                 permission_window: float = PERMISSION_WINDOW) -> None:
        self.home = home
        self.work_root = work_root
        self.roots = [Path(os.path.realpath(r)) for r in (work_root, *roots)]
        self.env_names = env_names
        self.anthropic_env = dict(anthropic_env or {})
        self.model = model
        self.permission_window = permission_window

    # ------------------------------------------------------------------ set-up

    def working_directory(self, ctx: RunContext) -> Path:
        return working_directory(ctx, self.work_root, self.roots, "--claude-root")

    def launcher(self) -> Path:
        """A tiny executable the SDK starts as its CLI: agent_exec under this Python."""
        path = self.home.parent / "bin" / "claude"
        script = f"#!/bin/sh\nexec {shlex.join(agent_exec_command())} \"$@\"\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != script:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(script)
            tmp.chmod(0o755)
            tmp.replace(path)
        return path

    def environment(self, ctx: RunContext) -> dict[str, str]:
        return agent_environment(self.env_names, ctx, self.home, {**self.anthropic_env, **QUIET_ENV},
                                 str(bundled_cli()), also_keep=SDK_ENV)

    # ------------------------------------------------------------------ the run

    async def run(self, ctx: RunContext) -> RunOutcome:
        missing = sdk_available()
        if missing:
            raise RuntimeFailure(missing)
        if not self.anthropic_env.get("ANTHROPIC_API_KEY") and not self.anthropic_env.get("ANTHROPIC_AUTH_TOKEN"):
            raise RuntimeFailure("No ANTHROPIC_API_KEY in the server's environment: Claude Code has no key to use")
        self.home.mkdir(parents=True, exist_ok=True)
        cwd = self.working_directory(ctx)
        state = _Run()
        checkpoint = ctx.checkpoint or {}
        state.charged = float(checkpoint.get("sessionCostUsd") or 0.0)
        if ctx.resumed and checkpoint.get("sessionId"):
            state.session_id = str(checkpoint["sessionId"])
        prompt = opening_prompt(ctx, state.session_id, state.preapproved, summarise_tool)
        if state.session_id:
            await ctx.log("system", f"Resuming Claude Code session {state.session_id}")

        async def turn(text: str) -> None:
            await self._turn(ctx, state, cwd, text)

        await turns_until_done(ctx, prompt, turn, state.parked, state.preapproved, state.checkpoint,
                               lambda: str(state.session_id), summarise_tool)
        return RunOutcome(result=state.result or "")

    async def _turn(self, ctx: RunContext, state: _Run, cwd: Path, prompt: str) -> None:
        from claude_agent_sdk import (
            AssistantMessage,
            ClaudeAgentOptions,
            ClaudeSDKClient,
            ResultMessage,
            SystemMessage,
            TextBlock,
            ToolResultBlock,
            ToolUseBlock,
            UserMessage,
        )

        params = ctx.params or {}
        max_turns = params.get("maxTurns", DEFAULT_MAX_TURNS)
        if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 1:
            max_turns = DEFAULT_MAX_TURNS
        budget_micros = getattr(ctx, "budget_micros", None)
        wanted = params.get("maxBudgetUsd")
        asked = isinstance(wanted, int | float) and not isinstance(wanted, bool) and wanted > 0
        if asked and budget_micros is not None and isinstance(wanted, int | float):
            # A task may ask for less than the server's per-task budget, never more; the ledger holds it too.
            budget_micros = min(budget_micros, int(wanted * 1_000_000))
            ctx.budget_micros = budget_micros
        spent = getattr(ctx, "run_cost", 0)
        model = params.get("model") if isinstance(params.get("model"), str) else self.model
        stderr_tail: list[str] = []

        def on_stderr(line: str) -> None:  # the CLI's last words, for a failure's reason
            stderr_tail.append(line)
            del stderr_tail[:-20]

        async def can_use_tool(tool_name: str, tool_input: dict[str, Any], context: Any) -> Any:
            return await self._decide(ctx, state, cwd, tool_name, tool_input, context)

        options = ClaudeAgentOptions(
            cwd=str(cwd), env=self.environment(ctx), setting_sources=[], can_use_tool=can_use_tool,
            cli_path=str(self.launcher()), resume=state.session_id, max_turns=max_turns, model=model,
            max_budget_usd=max(0.0, (budget_micros - spent) / 1e6) if budget_micros is not None else None,
            stderr=on_stderr,
        )
        client = ClaudeSDKClient(options)
        try:
            await client.connect()
            state.pid = _cli_pid(client)
            await client.query(prompt)
            async for message in client.receive_response():
                if isinstance(message, SystemMessage) and message.subtype == "init":
                    data = message.data
                    state.session_id = data.get("session_id") or state.session_id
                    state.model = data.get("model") or state.model
                    await ctx.save_checkpoint(state.checkpoint())
                    await ctx.log("system", f"Claude Code session {state.session_id}: model {state.model}, "
                                            f"{len(data.get('tools') or [])} tools, in {cwd}",
                                  {"sessionId": state.session_id, "model": state.model, "cwd": str(cwd),
                                   "tools": data.get("tools")})
                elif isinstance(message, AssistantMessage):
                    state.model = message.model or state.model
                    for block in message.content:
                        if isinstance(block, TextBlock) and block.text.strip():
                            await ctx.log("assistant", block.text)
                        elif isinstance(block, ToolUseBlock):
                            await ctx.log("tool_use", summarise_tool(block.name, block.input),
                                          {"tool": block.name, "input": block.input, "toolUseId": block.id})
                elif isinstance(message, UserMessage) and isinstance(message.content, list):
                    for block in message.content:
                        if isinstance(block, ToolResultBlock):
                            text = _result_text(block.content)
                            prefix = "Error: " if block.is_error else ""
                            await ctx.log("tool_result", prefix + text[:5000], {"toolUseId": block.tool_use_id})
                elif isinstance(message, ResultMessage):
                    await self._account(ctx, state, message)
                    if state.parked:
                        return
                    if message.is_error or message.subtype != "success":
                        reasons = "; ".join(message.errors or []) or message.result or message.subtype
                        raise RuntimeFailure(f"Claude Code stopped ({message.subtype}): {reasons}")
                    state.result = message.result or ""
                    await ctx.log("system", f"Claude Code finished: {message.num_turns} turns, "
                                            f"${(message.total_cost_usd or 0):.4f} in the session so far")
                    return
            if not state.parked:
                tail = " ".join(stderr_tail[-3:])
                raise RuntimeFailure(f"Claude Code ended without a result{': ' + tail if tail else ''}")
        except BaseException:
            # Cancelled, or failed: the CLI and every process it started go, within a second.
            if state.pid is not None:
                await kill_group(state.pid)
            raise
        finally:
            if state.pid is not None and state.parked:
                await kill_group(state.pid)  # parked: nothing may keep running while it waits
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(5):
                    await client.disconnect()
            # What a tool left running (`cmd &`, in a session of its own) was ended by agent_exec as the CLI
            # exited. Not ended here by the group's id: once disconnect() has reaped the process, that id
            # may already be another process's.

    async def _account(self, ctx: RunContext, state: _Run, message: Any) -> None:
        """The run's tokens, cost and model into the ledger. total_cost_usd is the session's running total
        (a resumed session's includes what earlier runs cost), so what was charged before is taken off."""
        usage = message.usage or {}
        input_tokens = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                                            "cache_read_input_tokens"))
        output_tokens = int(usage.get("output_tokens") or 0)
        total = message.total_cost_usd or 0.0
        cost = total - state.charged if total >= state.charged else total
        state.charged = total
        state.session_id = message.session_id or state.session_id
        models = list((message.model_usage or {}).keys())
        model_id = models[0] if models else (state.model or "unknown")
        await ctx.save_checkpoint(state.checkpoint())
        await ctx.usage(input_tokens, output_tokens, model_id, max(0, round(cost * 1_000_000)))

    async def _decide(self, ctx: RunContext, state: _Run, cwd: Path, tool_name: str, tool_input: dict[str, Any],
                      context: Any) -> Any:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        if tool_name == "AskUserQuestion":
            answers: dict[str, str] = {}
            for question in tool_input.get("questions") or []:
                if isinstance(question, dict):
                    answer = await ctx.ask(question_text(question))
                    answers[str(question.get("question", ""))] = pick_answer(question, answer)
            return PermissionResultAllow(updated_input={**tool_input, "answers": answers})

        given = state.preapproved.take(tool_name, tool_input)
        if given is not None:
            await ctx.log("permission", f"{tool_name}: the answer given while the run waited applies")
            return _result(given, tool_input, PermissionResultAllow, PermissionResultDeny)

        message = getattr(context, "description", None) or getattr(context, "decision_reason", None)
        suggestions = getattr(context, "suggestions", None) or []
        if suggestions:
            shown = "; ".join(json.dumps(_plain(s), sort_keys=True)[:200] for s in suggestions[:3])
            message = f"{message + ' — ' if message else ''}Claude Code suggests: {shown}"
        decision = await ask_in_window(ctx, tool_name, tool_input, message, cwd, self.permission_window,
                                       state.parked)
        if decision is None:
            # The CLI will not wait much longer for this answer: end the turn cleanly, keep the request.
            return PermissionResultDeny(message=PARKED_MESSAGE, interrupt=True)
        return _result(decision, tool_input, PermissionResultAllow, PermissionResultDeny)


def _result(decision: PermissionDecision, tool_input: dict[str, Any], allow: Any, deny: Any) -> Any:
    if decision.behavior == "allow":
        updated = {**tool_input, **decision.updated_input} if decision.updated_input else None
        return allow(updated_input=updated)
    return deny(message=decision.message or "Denied by a person on the board")


def _plain(value: Any) -> Any:
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if v is not None}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content, default=str)


def _cli_pid(client: Any) -> int | None:
    process = getattr(getattr(client, "_transport", None), "_process", None)
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None
