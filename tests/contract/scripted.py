"""What the scripted model-API stand-ins (Anthropic Messages, OpenAI Responses) share: the script of turns,
the turn that holds until released, and the HTTP server on a thread of the test's own process.

A turn answers one model request: a list of output blocks/items, a `Hold` (answers only once released,
for a run that must still be going when the test acts), or a callable given the request body. When the
script is used up, the stand-in's own `done()` answer is given.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hold:
    """A turn that answers `then` only once `release()` is called (or the stand-in is closed). `started` is
    set when its request arrives; `cut` when the client hung up on it first (an interrupted turn)."""

    then: list[dict[str, Any]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    cut: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


Turn = list[dict[str, Any]] | Hold | Callable[[dict[str, Any]], list[dict[str, Any]]]


class StandInHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, quiet; JSON answers and chunked server-sent events as the model APIs send them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_events(self, content_type: str = "text/event-stream", **headers: str) -> None:
        self.send_response(200)
        for name, value in {"Content-Type": content_type, "Cache-Control": "no-cache",
                            "Transfer-Encoding": "chunked", "Connection": "close", **headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def send_event(self, name: str, obj: dict[str, Any]) -> None:
        data = f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_events(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class ScriptedStandIn:
    """The script and the server; a subclass gives the handler and what a used-up script answers."""

    name = "stand-in"
    path_prefix = ""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> None:
        self._turns: deque[Turn] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # every scripted request's body, in order
        self.paths: list[str] = []  # every path asked for, any method
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}{self.path_prefix}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def done(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def script(self, *turns: Turn) -> None:
        with self._lock:
            self._turns.extend(turns)

    def next_turn(self, body: dict[str, Any], connection: socket.socket | None = None) -> list[dict[str, Any]] | None:
        """The answer to a scripted request (recorded in `requests`): None when the client hung up on a Hold."""
        with self._lock:
            self.requests.append(body)
            turn = self._turns.popleft() if self._turns else None
        if turn is None:
            return self.done()
        if isinstance(turn, Hold):
            return self._hold(turn, connection)
        if callable(turn):
            return turn(body)
        return turn

    def _hold(self, turn: Hold, connection: socket.socket | None) -> list[dict[str, Any]] | None:
        turn.started.set()
        if connection is not None:
            connection.settimeout(0.05)
        while not turn.released.is_set() and not self._closed.is_set():
            if connection is None:
                turn.released.wait(0.1)
                continue
            try:  # the client hanging up (an interrupted turn) reads as the end of the stream
                if connection.recv(1, socket.MSG_PEEK) == b"":
                    turn.cut.set()
                    return None
            except TimeoutError:
                continue
            except OSError:
                turn.cut.set()
                return None
        if connection is not None:
            connection.settimeout(None)
        return turn.then or self.done()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
