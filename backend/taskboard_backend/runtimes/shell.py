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

What the child gets, and what it does not (SECURITY.md, "Shell tasks"):

- An environment built from an allow-list (`Settings.shell_env`) plus TASKBOARD_TASK_ID,
  TASKBOARD_ATTEMPT and TASKBOARD_CHECKPOINT: never the server's API key or anything else in the
  server's environment. With a key set, a task therefore cannot call the API, and so cannot answer
  its own permission requests.
- No descriptor of the server's beyond its three pipes (close_fds, and the listening socket is not
  inheritable): a leftover child cannot hold the port after the server is gone.
- The task ends when its command (the shell) ends: whatever it left behind in its process group is
  ended then, and a background job holding stdout does not keep the task running. Cancel ends the
  group whether or not the shell itself is still there.
- A line longer than MAX_LINE_BYTES is cut there with a marker, never fatal; a protocol line that is
  not strict JSON, or carries a negative count or cost, is refused with a line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from taskboard_backend import strictjson
from taskboard_backend.runtimes.agent_exec import live_processes
from taskboard_backend.runtimes.base import RunContext, RunOutcome, RuntimeFailure

PROTOCOL_PREFIX = "::taskboard "
MAX_RESULT_CHARS = 100_000
MAX_LINE_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024
# After the shell has exited and its group was ended, its output is read to the end; a pipe that
# gives nothing for DRAIN_SECONDS (or still flows after DRAIN_MAX_SECONDS: a process outside the
# group writing to it) is no longer read.
DRAIN_SECONDS = 2.0
DRAIN_MAX_SECONDS = 30.0
TRUNCATED = " [… line truncated: {n} bytes in all]"
LOG_BATCH = 500
# What the store keeps of one log line (RunContextImpl.log).
LOG_LINE_CHARS = 10_000


def child_environment(names: tuple[str, ...], ctx: RunContext) -> dict[str, str]:
    env = {name: os.environ[name] for name in names if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update({
        "TASKBOARD_TASK_ID": ctx.task_id,
        "TASKBOARD_ATTEMPT": str(ctx.attempt),
        "TASKBOARD_CHECKPOINT": json.dumps(ctx.checkpoint or {}),
    })
    return env


async def read_line_batches(stream: asyncio.StreamReader,
                            limit: int = MAX_LINE_BYTES) -> AsyncIterator[list[tuple[bytes, int]]]:
    """The lines of each chunk read, as (line, its full length in bytes): one batch per read, so a
    command that prints fast has its lines stored a transaction per batch, not one per line. A line
    over `limit` comes cut to `limit`, and only what is kept is held in memory."""
    buf = bytearray()
    head: bytes | None = None  # the kept start of an overlong line, until its newline comes
    dropped = 0
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            if head is not None:
                yield [(head, len(head) + dropped + len(buf))]
            elif buf:
                yield [(bytes(buf[:limit]), len(buf))]
            return
        buf += chunk
        batch: list[tuple[bytes, int]] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                del buf[:start]
                if head is None and len(buf) > limit:
                    head = bytes(buf[:limit])
                    dropped = len(buf) - limit
                    buf.clear()
                elif head is not None:
                    dropped += len(buf)
                    buf.clear()
                break
            length = end - start
            if head is not None:
                batch.append((head, len(head) + dropped + length))
                head, dropped = None, 0
            else:
                batch.append((bytes(buf[start:start + min(length, limit)]), length))
            start = end + 1
        if batch:
            yield batch


class Tail:
    """The last MAX_RESULT_CHARS of the output, which become the result when the command gives none."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque()
        self.chars = 0

    def append(self, line: str) -> None:
        self.lines.append(line)
        self.chars += len(line) + 1
        while self.chars > MAX_RESULT_CHARS + 1 and len(self.lines) > 1:
            self.chars -= len(self.lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self.lines)[-MAX_RESULT_CHARS:]


def log_text(raw: bytes, size: int) -> str:
    """A line as the log keeps it: at most LOG_LINE_CHARS, and said so when it was longer."""
    line = raw.decode("utf-8", "replace").rstrip("\r")
    if size == len(raw) and len(line) <= LOG_LINE_CHARS:
        return line
    marker = TRUNCATED.format(n=size)
    return line[:LOG_LINE_CHARS - len(marker)] + marker


class Child:
    """The command's process, started by subprocess.Popen, with pipes made here.

    Not asyncio's create_subprocess_exec: under uvloop (libuv) a child keeps a second descriptor of
    each of its stdio pipes (fds 22, 25, 27 and so on, whatever close_fds says). Popen closes every
    descriptor but 0, 1 and 2 in the child, on either loop. Its exit is awaited on a pidfd where the
    kernel has them, on a thread otherwise."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter,
                 stdout: asyncio.StreamReader, stderr: asyncio.StreamReader,
                 transports: list[asyncio.BaseTransport]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._transports = transports
        self.last_activity = time.monotonic()  # when a reader last read or stored something

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str]) -> Child:
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()  # close-on-exec, all six (PEP 446)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            popen = subprocess.Popen(  # noqa: ASYNC220 - Popen for its fd control; waited on through a pidfd
                argv, stdin=in_r, stdout=out_w, stderr=err_w, env=env, close_fds=True,
                start_new_session=True,  # its own process group, so cancel can end all of it
            )
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        transports: list[asyncio.BaseTransport] = []
        readers = []
        for fd in (out_r, err_r):
            reader = asyncio.StreamReader(limit=READ_CHUNK * 2)
            transport, _ = await loop.connect_read_pipe(functools.partial(asyncio.StreamReaderProtocol, reader),
                                                        os.fdopen(fd, "rb", 0))
            transports.append(transport)
            readers.append(reader)
        w_transport, w_protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), os.fdopen(in_w, "wb", 0))
        transports.append(w_transport)
        stdin = asyncio.StreamWriter(w_transport, w_protocol, None, loop)
        return cls(popen, stdin, readers[0], readers[1], transports)

    async def wait(self) -> int:
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return await asyncio.to_thread(self.popen.wait)
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(pidfd, on_exit)
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        return self.popen.wait()

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        if self.popen.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(0)  # reaped if it is gone; if not (cancel timed out), its group was killed


class ShellRuntime:
    id = "shell"
    name = "Shell"
    description = "Runs params.command in a subprocess on the server's machine; stdout/stderr become the log."

    def __init__(self, env_names: tuple[str, ...] = ()) -> None:
        self.env_names = env_names

    async def run(self, ctx: RunContext) -> RunOutcome:
        command = (ctx.params or {}).get("command")
        if not isinstance(command, str) or not command.strip():
            raise RuntimeFailure("Shell tasks need params.command (a string)")
        proc = await Child.start(["/bin/sh", "-c", command], child_environment(self.env_names, ctx))
        await ctx.log("system", f"$ {command}", {"pid": proc.pid})
        output = Tail()
        result: dict[str, Any] = {}
        readers = asyncio.gather(self._read_stdout(ctx, proc, output, result), self._read_stderr(ctx, proc))
        try:
            waiter = asyncio.ensure_future(proc.wait())
            await asyncio.wait([readers, waiter], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
            if readers.done():
                readers.result()  # a reader's error ends the run
            code = await waiter
            proc.stdin.close()
            # The command is over: what it left in its group goes too, and with it the pipes they held.
            await kill_group(proc.pid)
            # What it printed is read and stored to the last line, however long storing takes: only
            # a pipe that stays silent (held open by a process that left the group) is given up on.
            ended = time.monotonic()
            while True:
                try:
                    async with asyncio.timeout(DRAIN_SECONDS):
                        await asyncio.shield(readers)
                    break
                except TimeoutError:
                    now = time.monotonic()
                    if now - proc.last_activity >= DRAIN_SECONDS or now - ended >= DRAIN_MAX_SECONDS:
                        readers.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await readers
                        await ctx.log("system", "The command ended; its output is held open by a process that "
                                                "left its process group, and is no longer read")
                        break
        except BaseException:
            readers.cancel()
            await kill_group(proc.pid)
            with contextlib.suppress(BaseException):
                await readers
            raise
        finally:
            proc.close()
        if code != 0:
            raise RuntimeFailure(f"Command exited with status {code}")
        text = result.get("text")
        if text is None:
            text = output.text()
        return RunOutcome(result=text, result_data=result.get("data"))

    async def _read_stdout(self, ctx: RunContext, proc: Child, output: Tail, result: dict[str, Any]) -> None:
        async for batch in read_line_batches(proc.stdout):
            proc.last_activity = time.monotonic()
            lines: list[tuple[str, str]] = []
            for raw, size in batch:
                if raw.startswith(PROTOCOL_PREFIX.encode()):
                    # What was printed before it is stored before it is acted on.
                    if lines:
                        await store_lines(ctx, lines, proc)
                        lines = []
                    if size != len(raw):
                        await ctx.log("stderr", f"Protocol line refused: longer than {MAX_LINE_BYTES} bytes")
                        continue
                    text = raw.decode("utf-8", "replace").rstrip("\r")
                    await self._handle_message(ctx, proc, text[len(PROTOCOL_PREFIX):], result)
                    continue
                line = log_text(raw, size)
                output.append(line)
                lines.append(("stdout", line))
            await store_lines(ctx, lines, proc)

    async def _read_stderr(self, ctx: RunContext, proc: Child) -> None:
        async for batch in read_line_batches(proc.stderr):
            proc.last_activity = time.monotonic()
            await store_lines(ctx, [("stderr", log_text(raw, size)) for raw, size in batch], proc)


    async def _handle_message(self, ctx: RunContext, proc: Child, text: str,
                              result: dict[str, Any]) -> None:
        try:
            msg = strictjson.loads(text)
            kind = msg["type"]
        except strictjson.NotStrictJson as exc:
            await ctx.log("stderr", f"Protocol line refused: not strict JSON ({exc}): {text[:200]}")
            return
        except (ValueError, KeyError, TypeError):
            await ctx.log("stderr", f"Unreadable protocol line ignored: {text[:200]}")
            return
        problem = _check_message(msg)
        if problem:
            await ctx.log("stderr", f"Protocol line refused: {problem}")
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


async def store_lines(ctx: RunContext, lines: list[tuple[str, str]], proc: Child | None = None) -> None:
    """At most LOG_BATCH lines a transaction, and the loop's other work between them: a command that
    prints 100,000 lines does not hold up a list request for the length of one huge commit."""
    for start in range(0, len(lines), LOG_BATCH):
        await ctx.log_many(lines[start:start + LOG_BATCH])
        if proc is not None:
            proc.last_activity = time.monotonic()
        if start + LOG_BATCH < len(lines):
            await asyncio.sleep(0)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_message(msg: Any) -> str | None:
    """Why a protocol message is refused, or None. Counts and costs are whole and never negative (a
    negative cost would refund the daily budget)."""
    if not isinstance(msg, dict):
        return "expected an object"
    kind = msg.get("type")
    if kind == "usage":
        for name in ("inputTokens", "outputTokens", "costMicros"):
            if name in msg and not (msg[name] is None and name == "costMicros") and not _count(msg[name]):
                return f"{name} must be a whole number, 0 or more (got {json.dumps(msg[name])[:40]})"
    elif kind == "progress":
        for name in ("current", "total"):
            if name in msg and not (msg[name] is None and name == "total") and not _count(msg[name]):
                return f"{name} must be a whole number, 0 or more (got {json.dumps(msg[name])[:40]})"
        for name in ("phase", "message"):
            if msg.get(name) is not None and not isinstance(msg[name], str):
                return f"{name} must be a string"
    elif kind == "permission":
        if msg.get("input") is not None and not isinstance(msg["input"], dict):
            return "input must be an object"
        if msg.get("message") is not None and not isinstance(msg["message"], str):
            return "message must be a string"
    return None


async def _write_line(proc: Child, payload: dict[str, Any]) -> None:
    if proc.stdin.is_closing():
        return
    proc.stdin.write((json.dumps(payload) + "\n").encode())
    with contextlib.suppress(ConnectionError):
        await proc.stdin.drain()


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie does not count: it is dead, and in a
    container whose init does not reap, it would otherwise be waited for in vain."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True
    return any(group == pgid for _, _, group in live_processes())


async def kill_group(pgid: int) -> None:
    """End every process of the group, whether its leader (the shell) is still there or not: TERM,
    then KILL for what is left after a second. Members the kernel still lists after that are zombies
    waiting for their reaper."""
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _group_alive(pgid) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event says a group died
            await asyncio.sleep(0.02)
        if not _group_alive(pgid):
            return
