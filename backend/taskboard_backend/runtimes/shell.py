"""Runs `params.command` with /bin/sh in its own process group.

stdout and stderr become log lines. A stdout line of the form
`::taskboard {json}` is a message to the runner instead:

  {"type": "progress", "current": 2, "total": 5, "message": "..."}
  {"type": "usage", "inputTokens": 10, "outputTokens": 5, "modelId": "m", "costMicros": 90}
  {"type": "result", "text": "..."}            (or "data": {...})
  {"type": "permission", "tool": "Write", "input": {...}, "message": "..."}
  {"type": "question", "message": "..."}

A permission request is answered on the command's stdin with one JSON line,
`{"behavior": "allow"|"deny", "message": ..., "input": {...}}`; a question with
`{"message": "..."}`. Cancelling the task ends the whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

from taskboard_backend.runtimes.base import RunContext, RunOutcome, RuntimeFailure

PROTOCOL_PREFIX = "::taskboard "
MAX_RESULT_CHARS = 100_000
MAX_LINE_BYTES = 64 * 1024


class ShellRuntime:
    id = "shell"
    name = "Shell"
    description = "Runs params.command in a subprocess on the server's machine; stdout/stderr become the log."

    async def run(self, ctx: RunContext) -> RunOutcome:
        command = (ctx.params or {}).get("command")
        if not isinstance(command, str) or not command.strip():
            raise RuntimeFailure("Shell tasks need params.command (a string)")
        env = {
            **os.environ,
            "TASKBOARD_TASK_ID": ctx.task_id,
            "TASKBOARD_ATTEMPT": str(ctx.attempt),
            "TASKBOARD_CHECKPOINT": json.dumps(ctx.checkpoint or {}),
        }
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, so cancel can end all of it
            limit=MAX_LINE_BYTES,
        )
        await ctx.log("system", f"$ {command}", {"pid": proc.pid})
        output: list[str] = []
        result: dict[str, Any] = {}
        try:
            await asyncio.gather(
                self._read_stdout(ctx, proc, output, result),
                self._read_stderr(ctx, proc),
            )
            code = await proc.wait()
        except BaseException:
            await _kill_group(proc)
            raise
        if code != 0:
            raise RuntimeFailure(f"Command exited with status {code}")
        text = result.get("text")
        if text is None:
            text = "\n".join(output)[-MAX_RESULT_CHARS:]
        return RunOutcome(result=text, result_data=result.get("data"))

    async def _read_stdout(self, ctx: RunContext, proc: asyncio.subprocess.Process,
                           output: list[str], result: dict[str, Any]) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(PROTOCOL_PREFIX):
                await self._handle_message(ctx, proc, line[len(PROTOCOL_PREFIX):], result)
                continue
            output.append(line)
            await ctx.log("stdout", line)

    async def _read_stderr(self, ctx: RunContext, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            await ctx.log("stderr", raw.decode("utf-8", "replace").rstrip("\n"))

    async def _handle_message(self, ctx: RunContext, proc: asyncio.subprocess.Process, text: str,
                              result: dict[str, Any]) -> None:
        try:
            msg = json.loads(text)
            kind = msg["type"]
        except (ValueError, KeyError, TypeError):
            await ctx.log("stderr", f"Unreadable protocol line ignored: {text[:200]}")
            return
        if kind == "progress":
            await ctx.progress(int(msg.get("current", 0)), msg.get("total"), phase=msg.get("phase"),
                               message=msg.get("message"))
        elif kind == "usage":
            await ctx.usage(int(msg.get("inputTokens", 0)), int(msg.get("outputTokens", 0)),
                            str(msg.get("modelId", "unknown")), msg.get("costMicros"))
        elif kind == "result":
            if "text" in msg:
                result["text"] = str(msg["text"])
            if "data" in msg:
                result["data"] = msg["data"]
        elif kind == "permission":
            decision = await ctx.request_permission(str(msg.get("tool", "unknown")), msg.get("input") or {},
                                                    msg.get("message"))
            reply = {"behavior": decision.behavior, "message": decision.message,
                     "input": decision.updated_input or msg.get("input") or {}}
            await _write_line(proc, reply)
        elif kind == "question":
            answer = await ctx.ask(str(msg.get("message", "")))
            await _write_line(proc, {"message": answer})
        else:
            await ctx.log("stderr", f"Unknown protocol message type {kind!r} ignored")


async def _write_line(proc: asyncio.subprocess.Process, payload: dict[str, Any]) -> None:
    if proc.stdin is None or proc.stdin.is_closing():
        return
    proc.stdin.write((json.dumps(payload) + "\n").encode())
    with contextlib.suppress(ConnectionError):
        await proc.stdin.drain()


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), wait)
            return
        except TimeoutError:
            continue
