"""A scripted stand-in for the OpenAI Responses API, for the real `codex app-server` to talk to.

Why it exists: the `openai-codex-app-server` runtime's tests run the real Codex binary from npm, which
must never reach the internet (it runs inside a loopback-only network namespace, and its provider's
base URL is this server). Codex is a third-party client, so the stand-in answers as the real API does
(issue 22): `POST /v1/responses` with `"stream": true`; 200 with `Content-Type: text/event-stream`, then
`response.created` and `response.in_progress` (the response object, `status: in_progress`, empty
output), per output item `response.output_item.added` and `response.output_item.done` (the item: an
assistant `message` with `output_text` content, a `function_call` such as `exec_command` with its JSON
`arguments` as a string, or a `custom_tool_call` such as `apply_patch` with its freeform `input`), and
`response.completed` (the response with its output and `usage`: input_tokens, input_tokens_details
.cached_tokens, output_tokens, output_tokens_details.reasoning_tokens, total_tokens), each as
`event: X` + `data: {...}` with a `sequence_number`. Codex needs only the `.done` frames and
`response.completed` (without it the turn fails); the others are sent because the real API sends them.
Other paths get the API's JSON error body with 404.

It runs in the test's own process, on a thread; a test scripts it with Python values and reads what
it was sent:

    model = ResponsesStandIn()            # on 127.0.0.1, port 0 (in the caller's namespace)
    model.script(exec_command("touch x"), message("Done"))
    ...
    model.tool_outputs()                  # every function_call_output / custom_tool_call_output it got

Each scripted turn answers one request (a model call); a turn is a list of output items, a `Hold`
(answers only once released: a turn stalled for as long as the test needs), or a callable given the
request body. When the script is used up the model says "Done." Usage is counted from the request's
size (input) and the items' (output), so a test can check the ledger against what was sent.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlparse

from tests.contract.scripted import Hold, ScriptedStandIn, StandInHandler, Turn

__all__ = ["MODEL", "Hold", "ResponsesStandIn", "Turn", "add_file_patch", "apply_patch", "exec_command",
           "function_call", "message"]

# A model name Codex knows: its tool set then has `exec_command` and `apply_patch` (an unknown one gets a
# set without apply_patch).
MODEL = "gpt-5.5"
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):032x}"


def message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": _id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def function_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function_call", "id": _id("fc"), "call_id": _id("call"), "name": name,
            "arguments": json.dumps(arguments), "status": "completed"}


def exec_command(cmd: str, **more: Any) -> dict[str, Any]:
    """Codex's shell tool: `cmd` (a shell command line), optionally `workdir`, `sandbox_permissions`
    ("require_escalated" asks to run outside the sandbox, which needs approval) and `justification`."""
    return function_call("exec_command", {"cmd": cmd, **more})


def apply_patch(patch: str) -> dict[str, Any]:
    """Codex's file-edit tool, a freeform (custom) tool whose input is the patch text."""
    return {"type": "custom_tool_call", "id": _id("ctc"), "call_id": _id("call"), "name": "apply_patch",
            "input": patch, "status": "completed"}


def add_file_patch(path: str, lines: list[str]) -> str:
    return "\n".join(["*** Begin Patch", f"*** Add File: {path}", *[f"+{line}" for line in lines],
                      "*** End Patch"])


def output_text(item: dict[str, Any]) -> str:
    """The text of a tool output item as Codex sends it (a string, or a list of content parts)."""
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    return "" if output is None else json.dumps(output)


class ResponsesStandIn(ScriptedStandIn):
    name = "responses-stand-in"
    path_prefix = "/v1"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.headers: list[dict[str, str]] = []  # the headers of each /v1/responses request
        self.usages: list[dict[str, Any]] = []  # the usage of each response it completed
        stand_in = self

        class Handler(StandInHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(f"GET {self.path}")
                self._error(404, f"Invalid URL (GET {urlparse(self.path).path})")

            def do_POST(self) -> None:
                raw = self.read_body()
                stand_in.paths.append(f"POST {self.path}")
                if urlparse(self.path).path != "/v1/responses":
                    self._error(404, f"Invalid URL (POST {urlparse(self.path).path})")
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._error(400, "We could not parse the JSON body of your request.")
                    return
                stand_in.headers.append({k.lower(): v for k, v in self.headers.items()})
                try:
                    items = stand_in.next_turn(body, self.connection)
                    if items is not None:
                        self._stream(body, items, input_tokens=max(1, len(raw) // 4))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _error(self, code: int, text: str) -> None:
                self.send_json(code, {"error": {"message": text, "type": "invalid_request_error", "param": None,
                                                "code": None}})

            def _event(self, obj: dict[str, Any]) -> None:
                obj["sequence_number"] = self._sequence
                self._sequence += 1
                self.send_event(obj["type"], obj)

            def _stream(self, body: dict[str, Any], items: list[dict[str, Any]], input_tokens: int) -> None:
                self.start_events("text/event-stream; charset=utf-8", **{"x-request-id": _id("req")})
                self._sequence = 0
                response = {"id": _id("resp"), "object": "response", "created_at": int(time.time()),
                            "status": "in_progress", "model": body.get("model") or MODEL, "output": [],
                            "usage": None, "error": None, "incomplete_details": None}
                self._event({"type": "response.created", "response": response})
                self._event({"type": "response.in_progress", "response": response})
                output_tokens = 0
                for index, item in enumerate(items):
                    started = {**item, "status": "in_progress"} if "status" in item else dict(item)
                    self._event({"type": "response.output_item.added", "output_index": index, "item": started})
                    self._event({"type": "response.output_item.done", "output_index": index, "item": item})
                    output_tokens += max(1, len(json.dumps(item)) // 4)
                usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
                         "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                         "total_tokens": input_tokens + output_tokens}
                stand_in.usages.append(usage)
                self._event({"type": "response.completed",
                             "response": {**response, "status": "completed", "output": items, "usage": usage}})
                self.end_events()

        super().__init__(Handler, host)

    def done(self) -> list[dict[str, Any]]:
        return [message("Done.")]

    # ------------------------------------------------------------------ what it received

    def tool_outputs(self, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every tool output item (function_call_output, custom_tool_call_output) sent as input, in order,
        de-duplicated by call_id (each request repeats the conversation so far), with its text as "text"."""
        seen: dict[str, dict[str, Any]] = {}
        for request in [body] if body is not None else list(self.requests):
            for item in request.get("input") or []:
                if isinstance(item, dict) and item.get("type") in ("function_call_output",
                                                                    "custom_tool_call_output"):
                    seen.setdefault(str(item.get("call_id")), {**item, "text": output_text(item)})
        return list(seen.values())

    def user_texts(self, body: dict[str, Any] | None = None) -> list[str]:
        """The text of every user message in a request's input (the last request by default)."""
        if body is None:
            body = self.requests[-1] if self.requests else {}
        out = []
        for item in body.get("input") or []:
            if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    out.append(content)
                elif isinstance(content, list):
                    out.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return out
