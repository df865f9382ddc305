"""Fuzz harness: schemathesis against the running server's /openapi.json, every check on.

Generates requests from the schema (examples, coverage, fuzzing and the stateful phase that follows
the schema's links) and checks every response: no 5xx, and nothing that contradicts the schema
(status codes, bodies, headers, content types, Allow, accepting what the schema forbids).
bench/schemathesis.toml says where seed 001's state-dependent 400s are expected. The event streams
are left to bench/streams.py (the watch stream never ends).

`python -m bench.fuzz [SECONDS]` prints schemathesis's report and exits 1 on any failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.common import Outcome, Row, Sizes, running_server, temp_dir

CONFIG = Path(__file__).with_name("schemathesis.toml")
STREAMS = "/(events|logs|progress)$"


def fuzz(seconds: int, examples: int) -> tuple[int, str]:
    with temp_dir() as tmp, running_server(tmp / "fuzz.db", "--enable-shell") as server:
        cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
               # Every check is on by default; `--checks all` here would override the file's exceptions.
               f"{server.url}/openapi.json", "--exclude-path-regex", STREAMS,
               "--max-examples", str(examples), "--max-time", str(seconds), "--seed", "1",
               "--request-timeout", "10", "--workers", "1", "--no-shrink"]
        # Run in the temporary directory: schemathesis keeps a cache of past failures in its working
        # directory and replays them first, and every run should start from nothing.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600, cwd=tmp,
                              env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp)})
        server_log = "".join(server.output)
    return proc.returncode, proc.stdout + proc.stderr + ("\nSERVER TRACEBACK\n" if "Traceback" in server_log else "")


def summary(report: str) -> tuple[dict[str, int], int]:
    failures = {m.group(1): int(m.group(2)) for m in re.finditer(r"(ST\d+ [^:\n]+): (\d+)", report)}
    generated = re.search(r"([\d,]+) generated", report)
    return failures, int(generated.group(1).replace(",", "")) if generated else 0


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    seconds, examples = (20, 5) if sizes.quick else (600, 100)  # quick: a smoke run, that it cannot rot
    code, report = fuzz(seconds, examples)
    failures, generated = summary(report)
    server_errors = sum(n for name, n in failures.items() if "server error" in name.lower())
    contradictions = sum(failures.values()) - server_errors
    if code != 0 or "SERVER TRACEBACK" in report:
        out.failures.append("schemathesis found problems:\n" + report[-4000:])
    note = f"{generated:,} requests generated (examples, coverage, fuzzing, stateful links), seed 1"
    out.rows += [
        Row("fuzz", f"schemathesis, all checks, {seconds} s: server errors", server_errors, "", "0",
            server_errors == 0 and generated > 0, note=note),
        Row("fuzz", "responses that contradict the schema", contradictions, "", "0",
            contradictions == 0 and code == 0, note=", ".join(f"{k}: {v}" for k, v in failures.items())),
    ]
    return out


if __name__ == "__main__":
    code, report = fuzz(int(sys.argv[1]) if len(sys.argv) > 1 else 600, 100)
    print(report)
    sys.exit(code)
