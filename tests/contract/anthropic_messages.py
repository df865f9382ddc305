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
from typing import Any
from urllib.parse import urlparse

from tests.contract.scripted import Hold, ScriptedStandIn, StandInHandler, Turn

__all__ = ["MODEL", "Hold", "MessagesStandIn", "Turn", "text", "tool", "tool_result_text"]

MODEL = "claude-sonnet-4-5-20250929"
_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):024d}", "name": name, "input": tool_input}


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        value = content
    elif isinstance(content, list):
        value = "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    else:
        value = "" if content is None else json.dumps(content)
    return re.sub(r"\s*<system-reminder>.*?</system-reminder>\s*", "", value, flags=re.S).strip()


class MessagesStandIn(ScriptedStandIn):
    name = "messages-stand-in"

    def __init__(self, host: str = "127.0.0.1") -> None:
        stand_in = self

        class Handler(StandInHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(f"GET {self.path}")
                self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

            def do_POST(self) -> None:
                raw = self.read_body()
                stand_in.paths.append(f"POST {self.path}")
                path = urlparse(self.path).path
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                if path.endswith("/v1/messages/count_tokens"):
                    self.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
                    return
                if path != "/v1/messages":
                    self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
                    return
                blocks = stand_in._answer(body)
                try:
                    self._stream(body, blocks, input_tokens=max(1, len(raw) // 4))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]], input_tokens: int) -> None:
                self.start_events()
                self.send_event("message_start", {"type": "message_start", "message": {
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
                    self.send_event("content_block_start", {"type": "content_block_start", "index": index,
                                                        "content_block": start})
                    for delta in deltas:
                        self.send_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                            "delta": delta})
                    self.send_event("content_block_stop", {"type": "content_block_stop", "index": index})
                    output_tokens += max(1, len(encoded) // 4)
                stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
                self.send_event("message_delta", {"type": "message_delta",
                                              "delta": {"stop_reason": stop, "stop_sequence": None},
                                              "usage": {"output_tokens": output_tokens}})
                self.send_event("message_stop", {"type": "message_stop"})
                self.end_events()

        super().__init__(Handler, host)

    def done(self) -> list[dict[str, Any]]:
        return [text("Done.")]

    def _answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if not body.get("tools"):
            return [text("Taskboard task")]  # a side request (title, summary): not part of the script
        return self.next_turn(body) or self.done()

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
