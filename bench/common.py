"""What every benchmark shares: sizes, statistics, result rows, the real server in a subprocess."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.server import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    """Full runs use the issue's sizes; --quick shrinks them so CI can run every benchmark in seconds."""

    quick: bool
    api_tasks: int
    board_tasks: int
    log_lines: int
    seconds: float
    fanout_subscribers: int
    samples: int


FULL = Sizes(quick=False, api_tasks=1_000_000, board_tasks=100_000, log_lines=100_000, seconds=10.0,
             fanout_subscribers=100, samples=200)
QUICK = Sizes(quick=True, api_tasks=20_000, board_tasks=5_000, log_lines=10_000, seconds=1.5,
              fanout_subscribers=20, samples=20)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank: p99 of 200 samples is the 198th smallest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float:
    return percentile(values, 50)


@dataclass
class Row:
    """One measured figure, ours beside the reference measured in the same run."""

    bench: str
    measure: str
    ours: float
    unit: str
    target: str
    met: bool | None
    reference: float | None = None
    reference_label: str = ""
    lower_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or not self.ours or not self.reference:
            return None
        return self.reference / self.ours if self.lower_is_better else self.ours / self.reference

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "ratio": self.ratio}


def missed(ours: float, target: float, unit: str, why: str, sep: str = "", higher_is_better: bool = False) -> str:
    """Why a figure missed its target, or sits close to it (a noisy machine could tip it over)."""
    # As a share of the target: how far past it (missed) or how much room is left (met).
    over = (target - ours) / target if higher_is_better else (ours - target) / target
    places = 0 if unit in ("MB", "req/s") else 1
    if over > 0:
        return (f"{sep}missed by {abs(ours - target):,.{places}f} {unit} "
                f"({over:.0%} {'short' if higher_is_better else 'over'}): {why}")
    if over > -0.2:
        return f"{sep}met, but within {-over:.0%} of its line: {why}"
    return ""


@dataclass
class Outcome:
    """A benchmark's rows plus the correctness checks it made on the way ("no update lost")."""

    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("req/s", "lines/s", "changes/s", "events/s", "KB/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"
    return f"{value:g} {unit}"


@contextmanager
def temp_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="taskboard-bench-") as name:
        yield Path(name)


@contextmanager
def running_server(db: Path, *args: str, module: str = "taskboard", store: str = "sqlite") -> Iterator[ServerProcess]:
    """The real backend (uvicorn on 127.0.0.1, port 0) on `db` (or a PostgreSQL database in its place, with
    store="postgres"); stopped however the block ends."""
    server = ServerProcess(db, *args, module=module, store=store)
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), from /proc."""
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(module: str, *args: str, timeout: float = 600) -> dict[str, object]:
    """Runs `python -m module args` (a benchmark that needs its own process) and returns its JSON line."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict[str, str]:
    from importlib.metadata import version

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GB"
    except OSError:
        pass
    packages = ["textual", "fastapi", "uvicorn", "uvloop", "httptools", "httpx", "httpx-sse", "pydantic",
                "aiosqlite"]
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except Exception:
            versions[name] = "not installed"
    import sqlite3

    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }
