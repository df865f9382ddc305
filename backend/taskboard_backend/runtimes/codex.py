"""The `openai-codex-app-server` runtime: OpenAI's Codex driven through `codex app-server`, its command and
file-change approvals waiting for a person on the board (issue 22).

Why it is built this way:

- Off unless the server is started with --enable-codex (it runs an agent on the server's machine). The
  binary is `--codex-path`, else `codex` on PATH; the npm package's `codex` is a Node wrapper (under
  Node 20 it stays alive as an extra parent, ~44 MB), so the native binary of its optional dependency
  (`@openai/codex-linux-x64`, `vendor/<target>/bin/codex`) is found and started instead (`native_binary`).
- One app-server process per run, started through `agent_exec` (the allow-listed environment only,
  its tools' leftovers ended, dead with the server): a run that waits for a person holds no process
  (RSS 160-170 MB each), and spawn to `initialized` takes 53-115 ms. Its CODEX_HOME (and HOME) is the
  server's own `<data>/codex/home`, where the runtime writes config.toml on each run and codex keeps
  its threads (so `thread/resume` works after a restart); `--strict-config` makes a typo an error.
- Offline unless the operator says where: config.toml names one provider, `base_url` from the
  operator's OPENAI_BASE_URL (a gateway or a local model server may stand in; default the OpenAI API),
  `wire_api = "responses"`, `env_key = "OPENAI_API_KEY"` (the operator's key, in the agent's
  environment only: the shell tools' environment policy excludes it), retries 0; updates, web search,
  analytics, feedback, OpenTelemetry, plugins, apps and skill installs off (without those, plugin sync
  calls github.com). The only call codex then makes is `POST <base_url>/responses`, streamed.
- Where it works: as claude-code (`agent.working_directory`: params.cwd or the project's directory,
  inside the allowed roots, else `<data>/codex/work/<task id>`). Sandbox: approval policy `on-request`,
  `workspace-write` with network off; /tmp is writable by default and is excluded here, each run
  getting a temporary directory of its own instead (`<data>/codex/tmp/<task id>`, its TMPDIR).
  Inside the workspace, commands and edits run sandboxed with no request; escalations and writes
  outside the writable roots ask. A command the sandbox blocks goes back to the model with no request
  and no item notification at all.

The protocol facts this relies on (codex-cli 0.171.0, from `codex app-server generate-json-schema` and
runs against tests/contract/openai_responses.py): JSON-RPC 2.0 over stdio, one JSON object a line,
without the "jsonrpc" member. `initialize {clientInfo}` -> then the `initialized` notification;
`thread/start {cwd, approvalPolicy, sandbox, model}` -> `{thread: {id, model, ...}}`; `thread/resume
{threadId, ...}` (a new process) replays the thread's history to the model on the next turn;
`turn/start {threadId, input: [{type: text, text}], cwd, sandboxPolicy}` -> `{turn: {id}}`;
`turn/interrupt {threadId, turnId}` ends a turn in ~12 ms. Notifications: `item/started` and
`item/completed` with a `ThreadItem` (`agentMessage {text}`, `commandExecution {command, cwd,
aggregatedOutput, exitCode, status}`, `fileChange {changes: [{path, kind: {type: add|delete|update},
diff}], status}`), `item/commandExecution/outputDelta {itemId, delta}`, `turn/diff/updated {turnId,
diff}` (the turn's unified diff so far), `thread/tokenUsage/updated {turnId, tokenUsage: {total, last:
{inputTokens, cachedInputTokens, outputTokens, reasoningOutputTokens, totalTokens}}}` once per model
call (`last` is that call's), `turn/completed {turn: {status: completed|interrupted|failed, error}}`,
`error {error, willRetry}`. Server requests: `item/commandExecution/requestApproval {itemId, command
(the shell wrapper, `/bin/bash -lc '...'`), cwd, reason, proposedExecpolicyAmendment}` and
`item/fileChange/requestApproval {itemId, reason, grantRoot}` (the change itself is in the
`item/started` fileChange item with the same id, sent just before), answered `{decision: accept |
acceptForSession | decline | cancel}` (cancel also ends the turn); `item/tool/requestUserInput
{questions: [{id, header, question, options: [{label, description}]}]}`, answered `{answers: {<id>:
{answers: [..]}}}` (only with the `default_mode_request_user_input` feature; otherwise the model is told
the tool is unavailable). `turn/steer {threadId, expectedTurnId, input}` adds a user message to a turn
in progress.

What a person sees and does:

- Each approval is a permission request, saved rules first (deny wins): a command as `Bash`
  (`{command, cwd}`, the command unwrapped from its shell), a one-file change as `Write` (a new file)
  or `Edit` (`{file_path, diff}`), a patch over several files as `apply_patch` (which no path rule
  matches, so it always asks). Allow once = accept; always allow = the saved rule, and
  acceptForSession so this run's codex does not ask again; deny = decline, and the person's message
  goes to the model (`turn/steer`). An answer that edits the input is not what codex asked about: it
  is declined, and the model is told what the person wants instead.
- A wait that outlives the window parks the run (`agent.wait_for_answers`): the request is answered
  `cancel` (the turn ends cleanly), the process ends, the thread is kept; the answer resumes the thread
  (`thread/resume`), told the call was approved, and the model's retry is accepted with no second
  request.
- The log carries the agent's messages, each command and its output, each file change and whether it
  was applied; the turn's diff goes to the task (`ctx.set_diff`, shown in the detail pane).
- Tokens go to the ledger with a cost from the per-model price table (`--codex-price`: codex reports
  tokens, not money; a model with no price costs 0, and the log says so).
- Cancel = `turn/interrupt`, then the process ends (agent_exec ends what its tools left); resume =
  `thread/resume`; a crash (the process gone, the server killed) leaves the task failed and resumable.
- requestUserInput is a question: the task is awaiting_input until `taskboard msg` (or `m`) answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from taskboard_backend.runtimes.base import RunContext, RunOutcome, RuntimeFailure
from taskboard_backend.runtimes.shell import kill_group

RUNTIME_ID = "openai-codex-app-server"
DEFAULT_MODEL = "gpt-5.5"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROVIDER = "taskboard"
# As claude-code's: a request still unanswered after this parks the run (codex itself would wait, but
# a held process costs 160-170 MB and a runner slot for as long as a person takes).
PERMISSION_WINDOW = 50.0
# What the runtime waits for codex to say before it ends the process anyway.
RPC_TIMEOUT = 30.0
INTERRUPT_GRACE = 0.5
STOP_GRACE = 2.0
OUTPUT_LIMIT = 5000
DIFF_LIMIT = 200_000
SANDBOX_MODE = "workspace-write"
APPROVAL_POLICY = "on-request"
FEATURES_OFF = ("plugins", "remote_plugin", "plugin_sharing", "apps", "tool_suggest", "skill_mcp_dependency_install")
TARGETS = ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "x86_64-apple-darwin", "aarch64-apple-darwin")


@dataclass(frozen=True)
class Price:
    """USD per million tokens (which is microdollars per token)."""

    input: float
    output: float
    cached_input: float | None = None

    def micros(self, input_tokens: int, cached_tokens: int, output_tokens: int) -> int:
        cached = min(cached_tokens, input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return max(0, round((input_tokens - cached) * self.input + cached * cached_rate
                            + output_tokens * self.output))


def parse_price(text: str) -> tuple[str, Price]:
    """`MODEL=INPUT,OUTPUT[,CACHED_INPUT]`, USD per million tokens; a ValueError says what is wrong."""
    model, sep, rates = text.partition("=")
    if not sep or not model.strip():
        raise ValueError(f"{text!r}: expected MODEL=INPUT,OUTPUT[,CACHED_INPUT] (USD per million tokens)")
    try:
        values = [float(v) for v in rates.split(",")]
    except ValueError:
        raise ValueError(f"{text!r}: the prices must be numbers (USD per million tokens)") from None
    if len(values) not in (2, 3) or any(not (0 <= v < 1e6) for v in values):
        raise ValueError(f"{text!r}: expected two or three prices from 0 (USD per million tokens)")
    return model.strip(), Price(*values)


def native_binary(path: Path) -> Path:
    """The native codex binary behind `path`: itself, or, for the npm package's Node wrapper
    (bin/codex.js), its platform package's `vendor/<target>/bin/codex`."""
    real = Path(os.path.realpath(path))
    if real.suffix != ".js":
        return real
    package = real.parent.parent  # node_modules/@openai/codex
    for base in (package / "node_modules" / "@openai", package.parent, package):
        for platform_dir in [*sorted(base.glob("codex-*")), package]:
            for target in TARGETS:
                candidate = platform_dir / "vendor" / target / "bin" / "codex"
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return candidate
    raise RuntimeFailure(f"{path} is the npm package's Node wrapper, and its native binary "
                         "(@openai/codex-linux-x64) is not installed beside it")


def find_codex(configured: str | None) -> Path | str:
    """The binary to start, or why there is none."""
    if configured:
        path = Path(configured)
        if not path.is_file() or not os.access(path, os.X_OK):
            return f"--codex-path {configured} is not an executable file"
    else:
        found = shutil.which("codex")
        if found is None:
            return "codex is not on PATH (npm install -g @openai/codex, or give --codex-path)"
        path = Path(found)
    try:
        return native_binary(path)
    except RuntimeFailure as exc:
        return str(exc)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string takes JSON's escapes


def config_toml(base_url: str, model: str) -> str:
    """The config.toml the runtime writes into its CODEX_HOME: one provider (the operator's), nothing that
    calls anywhere else."""
    tables: dict[str, dict[str, Any]] = {
        "": {"model": model, "model_provider": PROVIDER, "approval_policy": APPROVAL_POLICY,
             "sandbox_mode": SANDBOX_MODE, "check_for_update_on_startup": False, "web_search": "disabled"},
        f"model_providers.{PROVIDER}": {"name": "taskboard's provider (OPENAI_BASE_URL)", "base_url": base_url,
                                        "wire_api": "responses", "env_key": "OPENAI_API_KEY",
                                        "request_max_retries": 0, "stream_max_retries": 0},
        "analytics": {"enabled": False},
        "feedback": {"enabled": False},
        "otel": {"exporter": "none", "trace_exporter": "none", "metrics_exporter": "none"},
        "features": {**dict.fromkeys(FEATURES_OFF, False), "default_mode_request_user_input": True},
        # The tools' shells: the agent's environment (already an allow-list) less the provider key.
        "shell_environment_policy": {"inherit": "all", "exclude": ["OPENAI_*", "TASKBOARD_AGENT_*", "CODEX_*"]},
    }
    lines = ["# Written by taskboard's openai-codex-app-server runtime on every run; edits are overwritten."]
    for name, values in tables.items():
        if name:
            lines.append(f"\n[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def unwrap_command(command: str) -> str:
    """The command a person reads and rules match: `/bin/bash -lc 'npm test'` is `npm test`."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if len(argv) == 3 and os.path.basename(argv[0]) in ("bash", "sh", "zsh", "dash") and argv[1] in ("-c", "-lc"):
        return argv[2]
    return command


def change_request(changes: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(tool, input) of a file-change approval: one file as Write (added) or Edit, with its diff; several
    as apply_patch, which no path rule matches (a rule for one path must not let a patch touch others)."""
    paths = [str(c.get("path", "")) for c in changes]
    diff = "\n".join(_change_diff(c) for c in changes)[:DIFF_LIMIT]
    if len(changes) == 1:
        kind = (changes[0].get("kind") or {}).get("type")
        return ("Write" if kind == "add" else "Edit"), {"file_path": paths[0], "diff": diff}
    return "apply_patch", {"files": paths, "diff": diff}


def _change_diff(change: dict[str, Any]) -> str:
    kind = (change.get("kind") or {}).get("type")
    path = str(change.get("path", "?"))
    body = str(change.get("diff") or "")
    if kind == "add":  # the new file's text, not a diff
        lines = body.splitlines()
        return "\n".join([f"--- /dev/null\n+++ {path}\n@@ -0,0 +1,{len(lines)} @@", *[f"+{line}" for line in lines]])
    if kind == "delete":
        return f"--- {path}\n+++ /dev/null (deleted)"
    if body.startswith("---"):
        return body.rstrip("\n")
    moved = (change.get("kind") or {}).get("move_path") or path
    return f"--- {path}\n+++ {moved}\n{body}".rstrip("\n")


def summarise(tool_name: str, tool_input: dict[str, Any]) -> str:
    if tool_name == "Bash":
        return f"$ {tool_input.get('command', '')}"
    if tool_name in ("Write", "Edit"):
        return f"{tool_name} {tool_input.get('file_path', '?')}\n{tool_input.get('diff', '')}"
    return f"{tool_name} {', '.join(tool_input.get('files') or [])}\n{tool_input.get('diff', '')}"


class _Rpc:
    """JSON-RPC over the app-server's stdin/stdout: calls wait for their response; the server's requests
    and notifications queue up for the run, in order."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self.incoming: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.stderr_tail: list[str] = []
        self._reader = asyncio.ensure_future(self._read())
        self._errors = asyncio.ensure_future(self._read_stderr())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                if "method" not in message and isinstance(message.get("id"), int):
                    call = self._calls.pop(message["id"], None)
                    if call is not None and not call.done():
                        if "error" in message:
                            error = message.get("error") or {}
                            call.set_exception(RuntimeFailure(f"codex refused: {error.get('message', error)}"))
                        else:
                            call.set_result(message.get("result"))
                    continue
                self.incoming.put_nowait(message)
        finally:
            for call in self._calls.values():
                if not call.done():
                    call.set_exception(RuntimeFailure("codex app-server ended"))
            self.incoming.put_nowait(None)  # the end of the stream

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr_tail.append(line.decode(errors="replace").rstrip())
            del self.stderr_tail[:-20]

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        if self.proc.stdin.is_closing():
            return
        self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def call(self, method: str, params: dict[str, Any], wait: float = RPC_TIMEOUT) -> Any:
        self._next += 1
        call: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[self._next] = call
        self._send({"id": self._next, "method": method, "params": params})
        async with asyncio.timeout(wait):
            return await call

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._send({"method": method, **({"params": params} if params is not None else {})})

    def respond(self, request_id: Any, result: dict[str, Any]) -> None:
        self._send({"id": request_id, "result": result})

    def refuse(self, request_id: Any, message: str) -> None:
        self._send({"id": request_id, "error": {"code": -32601, "message": message}})

    def close(self) -> None:
        self._reader.cancel()
        self._errors.cancel()


class _Run:
    """What one run knows between codex's messages."""

    def __init__(self, checkpoint: dict[str, Any]) -> None:
        self.thread_id: str | None = checkpoint.get("threadId") if isinstance(checkpoint.get("threadId"), str) else None
        self.model: str | None = None
        self.turn_id: str | None = None
        self.parked: list[Parked] = []
        self.preapproved = Preapprovals()
        self.result: str | None = None
        self.changes: dict[str, list[dict[str, Any]]] = {}  # fileChange items by id, for their approval
        self.output: dict[str, list[str]] = {}  # commandExecution output deltas by item id
        self.diffs: dict[str, str] = {}  # the diff of each turn of this run
        self.unpriced_said = False
        self.pending: set[asyncio.Task[None]] = set()  # approvals and questions being answered

    def checkpoint(self) -> dict[str, Any]:
        return {"threadId": self.thread_id}


class CodexRuntime:
    id = RUNTIME_ID
    name = "OpenAI Codex"
    description = ("Runs OpenAI Codex (codex app-server) on the server's machine; its command and file-change "
                   "approvals wait for the board.")

    def __init__(self, *, home: Path, work_root: Path, tmp_root: Path, roots: tuple[Path, ...] = (),
                 env_names: tuple[str, ...] = (), openai_env: dict[str, str] | None = None,
                 binary: str | None = None, model: str | None = None, prices: dict[str, Price] | None = None,
                 permission_window: float = PERMISSION_WINDOW) -> None:
        self.home = home
        self.work_root = work_root
        self.tmp_root = tmp_root
        self.roots = [Path(os.path.realpath(r)) for r in (work_root, *roots)]
        self.env_names = env_names
        self.openai_env = dict(openai_env or {})
        self.binary = binary
        self.model = model or DEFAULT_MODEL
        self.prices = dict(prices or {})
        self.permission_window = permission_window

    # ------------------------------------------------------------------ set-up

    def environment(self, ctx: RunContext, program: Path, tmp: Path) -> dict[str, str]:
        extra = {"CODEX_HOME": str(self.home), "TMPDIR": str(tmp)}
        if self.openai_env.get("OPENAI_API_KEY"):
            extra["OPENAI_API_KEY"] = self.openai_env["OPENAI_API_KEY"]
        return agent_environment(self.env_names, ctx, self.home, extra, str(program))

    def write_config(self, model: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "config.toml"
        text = config_toml(self.openai_env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL, model)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)

    def sandbox_policy(self, tmp: Path) -> dict[str, Any]:
        return {"type": "workspaceWrite", "writableRoots": [str(tmp)], "networkAccess": False,
                "excludeSlashTmp": True, "excludeTmpdirEnvVar": False}

    # ------------------------------------------------------------------ the run

    async def run(self, ctx: RunContext) -> RunOutcome:
        program = find_codex(self.binary)
        if isinstance(program, str):
            raise RuntimeFailure(program)
        if not self.openai_env.get("OPENAI_API_KEY"):
            raise RuntimeFailure("No OPENAI_API_KEY in the server's environment: Codex has no key to use")
        cwd = working_directory(ctx, self.work_root, self.roots, "--codex-root")
        tmp = self.tmp_root / ctx.task_id
        tmp.mkdir(parents=True, exist_ok=True)
        params = ctx.params or {}
        model = params["model"] if isinstance(params.get("model"), str) and params["model"] else self.model
        self.write_config(model)
        state = _Run(ctx.checkpoint or {})
        if not ctx.resumed:
            state.thread_id = None
        prompt = opening_prompt(ctx, state.thread_id, state.preapproved, summarise)
        if ctx.resumed and state.thread_id:
            await ctx.log("system", f"Resuming Codex thread {state.thread_id}")

        async def turn(text: str) -> None:
            await self._session(ctx, state, program, cwd, tmp, model, text)

        await turns_until_done(ctx, prompt, turn, state.parked, state.preapproved, state.checkpoint,
                               lambda: str(state.thread_id), summarise)
        return RunOutcome(result=state.result or "")

    async def _session(self, ctx: RunContext, state: _Run, program: Path, cwd: Path, tmp: Path, model: str,
                       prompt: str) -> None:
        """One app-server process: start or resume the thread, run one turn, end the process."""
        proc = await asyncio.create_subprocess_exec(
            *agent_exec_command(), "app-server", "--strict-config", cwd=str(cwd),
            env=self.environment(ctx, program, tmp), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024)
        rpc = _Rpc(proc)
        state.turn_id = None
        try:
            await rpc.call("initialize", {"clientInfo": {"name": "taskboard", "title": "taskboard",
                                                         "version": _version()}})
            rpc.notify("initialized")
            thread_params = {"cwd": str(cwd), "approvalPolicy": APPROVAL_POLICY, "sandbox": SANDBOX_MODE,
                             "model": model}
            if state.thread_id:
                started = await rpc.call("thread/resume", {"threadId": state.thread_id, **thread_params})
            else:
                started = await rpc.call("thread/start", thread_params)
            thread = (started or {}).get("thread") or {}
            new = state.thread_id is None
            state.thread_id = str(thread.get("id") or state.thread_id)
            state.model = str(thread.get("model") or model)
            await ctx.save_checkpoint(state.checkpoint())
            if new:
                await ctx.log("system", f"Codex thread {state.thread_id}: model {state.model}, in {cwd}",
                              {"threadId": state.thread_id, "model": state.model, "cwd": str(cwd)})
            turn = await rpc.call("turn/start", {"threadId": state.thread_id, "cwd": str(cwd),
                                                 "input": [{"type": "text", "text": prompt}],
                                                 "sandboxPolicy": self.sandbox_policy(tmp)})
            state.turn_id = str(((turn or {}).get("turn") or {}).get("id"))
            await self._follow(ctx, state, rpc, cwd)
        except asyncio.CancelledError:
            # Cancelled: the turn is interrupted (codex stops its model call and tools), then the process goes.
            if state.turn_id and proc.returncode is None:
                with contextlib.suppress(BaseException):
                    await rpc.call("turn/interrupt", {"threadId": state.thread_id, "turnId": state.turn_id},
                                   wait=INTERRUPT_GRACE)
            raise
        finally:
            for pending in state.pending:
                pending.cancel()
            state.pending.clear()
            await _end(proc)
            rpc.close()

    async def _follow(self, ctx: RunContext, state: _Run, rpc: _Rpc, cwd: Path) -> None:
        """Codex's messages until the turn completes."""
        while True:
            message = await rpc.incoming.get()
            if message is None:
                tail = " ".join(rpc.stderr_tail[-3:])
                raise RuntimeFailure(f"codex app-server ended mid-turn{': ' + tail if tail else ''}")
            method = str(message.get("method"))
            params = message.get("params") or {}
            if "id" in message:  # a request of the server's: answered beside the stream
                task = asyncio.ensure_future(self._answer(ctx, state, rpc, cwd, message))
                state.pending.add(task)
                task.add_done_callback(state.pending.discard)
                continue
            if method == "item/started":
                await self._item_started(ctx, state, params.get("item") or {})
            elif method == "item/completed":
                await self._item_completed(ctx, state, params.get("item") or {})
            elif method == "item/commandExecution/outputDelta":
                state.output.setdefault(str(params.get("itemId")), []).append(str(params.get("delta") or ""))
            elif method == "turn/diff/updated":
                state.diffs[str(params.get("turnId"))] = str(params.get("diff") or "")
                await ctx.set_diff("\n".join(d for d in state.diffs.values() if d)[:DIFF_LIMIT])
            elif method == "thread/tokenUsage/updated" and params.get("turnId") == state.turn_id:
                await self._account(ctx, state, (params.get("tokenUsage") or {}).get("last") or {})
            elif method == "error" and not params.get("willRetry"):
                error = params.get("error") or {}
                await ctx.log("error", f"Codex: {error.get('message', error)}")
            elif method == "turn/completed":
                turn = params.get("turn") or {}
                status = turn.get("status")
                if status == "completed" or (status == "interrupted" and state.parked):
                    for pending in list(state.pending):
                        pending.cancel()
                    if status == "completed":
                        await ctx.log("system", f"Codex finished the turn in {turn.get('durationMs', '?')} ms")
                    return
                error = (turn.get("error") or {}).get("message") or status
                raise RuntimeFailure(f"Codex's turn ended {status}: {error}")

    async def _item_started(self, ctx: RunContext, state: _Run, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "commandExecution":
            command = unwrap_command(str(item.get("command", "")))
            await ctx.log("tool_use", f"$ {command}", {"tool": "exec_command", "command": command,
                                                       "cwd": item.get("cwd"), "itemId": item.get("id")})
        elif kind == "fileChange":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            state.changes[str(item.get("id"))] = changes
            tool, tool_input = change_request(changes)
            await ctx.log("tool_use", summarise(tool, tool_input)[:OUTPUT_LIMIT],
                          {"tool": "apply_patch", "files": [c.get("path") for c in changes], "itemId": item.get("id")})

    async def _item_completed(self, ctx: RunContext, state: _Run, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "agentMessage" and str(item.get("text") or "").strip():
            state.result = str(item["text"])
            await ctx.log("assistant", state.result)
        elif kind == "commandExecution":
            output = item.get("aggregatedOutput") or "".join(state.output.pop(str(item.get("id")), []))
            code = item.get("exitCode")
            status = item.get("status")
            head = f"exit {code}" if code is not None else str(status)
            await ctx.log("tool_result", f"{head}\n{output}".rstrip()[:OUTPUT_LIMIT],
                          {"itemId": item.get("id"), "exitCode": code, "status": status})
        elif kind == "fileChange":
            files = ", ".join(str(c.get("path")) for c in item.get("changes") or [] if isinstance(c, dict))
            verb = "Applied" if item.get("status") == "completed" else f"Not applied ({item.get('status')})"
            await ctx.log("tool_result", f"{verb}: {files}", {"itemId": item.get("id"), "status": item.get("status")})

    async def _account(self, ctx: RunContext, state: _Run, last: dict[str, Any]) -> None:
        """One model call's tokens into the ledger, priced from the operator's table."""
        input_tokens = max(0, int(last.get("inputTokens") or 0))
        cached = max(0, int(last.get("cachedInputTokens") or 0))
        output_tokens = max(0, int(last.get("outputTokens") or 0))
        model = state.model or self.model
        price = self.prices.get(model)
        if price is None and not state.unpriced_said:
            state.unpriced_said = True
            await ctx.log("system", f"No price for model {model}: its tokens are counted at $0 "
                                    "(start the server with --codex-price MODEL=INPUT,OUTPUT)")
        cost = price.micros(input_tokens, cached, output_tokens) if price is not None else 0
        await ctx.usage(input_tokens, output_tokens, model, cost)

    # ------------------------------------------------------------------ the server's requests

    async def _answer(self, ctx: RunContext, state: _Run, rpc: _Rpc, cwd: Path, request: dict[str, Any]) -> None:
        method = str(request.get("method"))
        params = request.get("params") or {}
        if method == "item/tool/requestUserInput":
            answers: dict[str, Any] = {}
            for question in params.get("questions") or []:
                if isinstance(question, dict):
                    answer = await ctx.ask(question_text(question))
                    answers[str(question.get("id"))] = {"answers": [pick_answer(question, answer)]}
            rpc.respond(request["id"], {"answers": answers})
            return
        if method == "item/commandExecution/requestApproval":
            tool = "Bash"
            tool_input = {"command": unwrap_command(str(params.get("command") or "")),
                          "cwd": str(params.get("cwd") or cwd)}
        elif method == "item/fileChange/requestApproval":
            tool, tool_input = change_request(state.changes.get(str(params.get("itemId")), []))
        else:
            rpc.refuse(request["id"], f"{method} is not supported by taskboard")
            return
        reason = params.get("reason") or (f"asks to write under {params['grantRoot']}" if params.get("grantRoot")
                                          else None)
        decision = state.preapproved.take(tool, tool_input)
        if decision is not None:
            await ctx.log("permission", f"{tool}: the answer given while the run waited applies")
        else:
            decision = await ask_in_window(ctx, tool, tool_input, reason, cwd, self.permission_window, state.parked)
        if decision is None:
            # Nobody answered in time: the turn ends cleanly (cancel), the thread waits for the answer.
            rpc.respond(request["id"], {"decision": "cancel"})
            return
        edited = decision.behavior == "allow" and decision.updated_input and any(
            tool_input.get(k) != v for k, v in decision.updated_input.items())
        if decision.behavior == "allow" and not edited:
            rpc.respond(request["id"], {"decision": "acceptForSession" if decision.always else "accept"})
            return
        summary = summarise(tool, tool_input).splitlines()[0]
        note = None
        if edited:
            note = (f"A person did not allow `{summary}` as asked; they would allow it with "
                    f"{json.dumps(decision.updated_input)}")
        elif decision.message:
            note = f"A person denied `{summary}`: {decision.message}"
        if note is not None:
            # Before the decline, so the model's next request (the one with the refusal) carries it.
            with contextlib.suppress(RuntimeFailure, TimeoutError):
                await rpc.call("turn/steer", {"threadId": state.thread_id, "expectedTurnId": state.turn_id,
                                              "input": [{"type": "text", "text": note}]})
        rpc.respond(request["id"], {"decision": "decline"})


async def _end(proc: asyncio.subprocess.Process) -> None:
    """The app-server, and everything it started, gone: stdin closed and TERM (agent_exec passes it on
    and ends the tools' leftovers), then the whole group killed if it lingers."""
    if proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_GRACE):
                await proc.wait()
        except TimeoutError:
            await kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await proc.wait()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("taskboard-tui")
    except PackageNotFoundError:
        return "0"
