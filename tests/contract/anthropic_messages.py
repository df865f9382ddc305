"""A scripted stand-in for the Anthropic Messages API, for the real Claude Code CLI to talk to.

Why it exists: the `claude-code` runtime's tests run the real CLI from the SDK's wheel, and the CLI
must never reach the internet (it runs inside a loopback-only network namespace, and its base URL is
this server). The CLI is a third-party client, so the stand-in follows the stream format it accepts
to the letter (issue 21): `POST /v1/messages?beta=true`, always streaming; 200 with
`Content-Type: text/event-stream`, then `message_start` (id, type, role, model, content [], usage),
per block `content_block_start` (a `text` block, or a `tool_use` block with id, name, input {}),
`content_block_delta` (`text_delta`, or `input_json_delta` pieces of the tool input) and
`content_block_stop`, then `message_delta` (stop_reason `tool_use` or `end_turn`, usage) and
`message_stop`, each as `event: X` + `data: {...}`.

It runs in the test's own process, on a thread, so a test scripts it with Python values and reads
what it received directly:

    model = MessagesStandIn()            # bound on 127.0.0.1, port 0 (in the caller's namespace)
    model.script(tool("Write", {...}), text("Done"))
    ...
    model.tool_results()                 # every tool_result block the model was sent

Each scripted turn answers one request of the agent's conversation (one that offers tools). A turn
is a list of blocks (`text(...)`, `tool(...)`), a `Hold` (waits until released, for a run that must
still be going when the test acts), or a callable given the request body. When the script is used
up the model says "Done." and ends its turn. Side requests the CLI makes without tools (a title,
a summary) get a one-line text answer and do not use up the script.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

MODEL = "claude-sonnet-4-5-20250929"
_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):024d}", "name": name, "input": tool_input}


@dataclass
class Hold:
    """A turn that answers only once `release()` is called (or the stand-in is closed)."""

    then: list[dict[str, Any]] = field(default_factory=lambda: [text("Done.")])
    started: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


Turn = list[dict[str, Any]] | Hold | Callable[[dict[str, Any]], list[dict[str, Any]]]


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        value = content
    elif isinstance(content, list):
        value = "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    else:
        value = "" if content is None else json.dumps(content)
    return re.sub(r"\s*<system-reminder>.*?</system-reminder>\s*", "", value, flags=re.S).strip()


class MessagesStandIn:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._turns: deque[Turn] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # every body received on /v1/messages, in order
        self.paths: list[str] = []  # every path asked for, any method
        self._closed = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in.paths.append(f"GET {self.path}")
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stand_in.paths.append(f"POST {self.path}")
                path = urlparse(self.path).path
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                if path.endswith("/v1/messages/count_tokens"):
                    self._json(200, {"input_tokens": max(1, len(raw) // 4)})
                    return
                if path != "/v1/messages":
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
                    return
                blocks = stand_in._answer(body)
                try:
                    self._stream(body, blocks, input_tokens=max(1, len(raw) // 4))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _json(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _event(self, name: str, obj: dict[str, Any]) -> None:
                data = f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]], input_tokens: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self._event("message_start", {"type": "message_start", "message": {
                    "id": f"msg_{next(_ids):024d}", "type": "message", "role": "assistant",
                    "model": body.get("model") or MODEL, "content": [], "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
                output_tokens = 1
                for index, block in enumerate(blocks):
                    if block["type"] == "tool_use":
                        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                        encoded = json.dumps(block["input"])
                        half = len(encoded) // 2
                        deltas = [{"type": "input_json_delta", "partial_json": piece}
                                  for piece in (encoded[:half], encoded[half:])]
                    else:
                        start = {"type": "text", "text": ""}
                        encoded = block["text"]
                        deltas = [{"type": "text_delta", "text": encoded}]
                    self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                        "content_block": start})
                    for delta in deltas:
                        self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                            "delta": delta})
                    self._event("content_block_stop", {"type": "content_block_stop", "index": index})
                    output_tokens += max(1, len(encoded) // 4)
                stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
                self._event("message_delta", {"type": "message_delta",
                                              "delta": {"stop_reason": stop, "stop_sequence": None},
                                              "usage": {"output_tokens": output_tokens}})
                self._event("message_stop", {"type": "message_stop"})
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="messages-stand-in", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ scripting

    def script(self, *turns: Turn) -> None:
        with self._lock:
            self._turns.extend(turns)

    def _answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if not body.get("tools"):
            return [text("Taskboard task")]  # a side request (title, summary): not part of the script
        with self._lock:
            self.requests.append(body)
            turn = self._turns.popleft() if self._turns else None
        if turn is None:
            return [text("Done.")]
        if isinstance(turn, Hold):
            turn.started.set()
            while not turn.released.wait(0.1):
                if self._closed.is_set():
                    break
            return turn.then
        if callable(turn):
            return turn(body)
        return turn

    # ------------------------------------------------------------------ what it received

    def tool_results(self) -> list[dict[str, Any]]:
        """Every tool_result block sent in a user message, in order, de-duplicated by tool_use_id
        (each request repeats the conversation so far)."""
        seen: dict[str, dict[str, Any]] = {}
        for body in list(self.requests):
            for message in body.get("messages") or []:
                if message.get("role") != "user" or not isinstance(message.get("content"), list):
                    continue
                for block in message["content"]:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        seen.setdefault(block.get("tool_use_id", ""), {**block, "text": tool_result_text(block)})
        return list(seen.values())

    def user_texts(self, body: dict[str, Any] | None = None) -> list[str]:
        """The text of every user message of a request (the last one by default)."""
        if body is None:
            body = self.requests[-1] if self.requests else {}
        out = []
        for message in body.get("messages") or []:
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        return out

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
