"""The real backend in a subprocess: uvicorn on 127.0.0.1, port 0, a temporary database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

URL_LINE = re.compile(r"taskboard: serving (http://\S+)")


class ServerProcess:
    def __init__(self, db_path: Path, *args: str, env: dict[str, str] | None = None,
                 module: str = "taskboard") -> None:
        self.module = module  # another module that prints the same "serving URL" line (the bench's reference)
        self.db_path = Path(db_path)
        self.args = list(args)
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout: float = 20.0) -> str:
        if self.module == "taskboard":
            cmd = [sys.executable, "-m", "taskboard", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--db", str(self.db_path), *self.args]
        else:
            cmd = [sys.executable, "-m", self.module, str(self.db_path), *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TASKBOARD_API_KEY", None)  # only what the test asks for
        env.update(self.env or {})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        found = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = URL_LINE.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "".join(self.output))
        return self.url

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def restart(self) -> str:
        self.kill()
        self.output = []
        return self.start()
