"""`python -m bench [--quick] [--only NAME ...]`: every benchmark against the real backend on loopback.

Prints a table (ours, the reference measured in the same run, the ratio, the target) and, for a
full run, writes bench/RESULTS.md. --quick shrinks every size so CI runs the whole suite in a few
minutes; it still fails on a broken benchmark or a lost update, but does not judge the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import abuse, api, board, crash, fanout, far, fuzz, logtail, races, replicas, startup, streams, tty
from bench.common import FULL, QUICK, Outcome, Row, fmt, machine

BENCHMARKS = {"api": api.run, "fanout": fanout.run, "board": board.run,
              # Issue 24: the board over a far link (bench/link.py's simulator).
              "far": far.run, "tty": tty.run, "logtail": logtail.run,
              "startup": startup.run,
              # The reliability harnesses (issue 5): their rows are counts of problems, target 0.
              "crash": crash.run, "races": races.run, "streams": streams.run, "fuzz": fuzz.run,
              # Issue 19: the disk and memory a busy or hostile client can take.
              "abuse": abuse.run,
              # Issue 23: three servers on one PostgreSQL database, one SIGKILLed under load.
              "replicas": replicas.run}
RESULTS = Path(__file__).parent / "RESULTS.md"


def table(rows: list[Row]) -> Table:
    t = Table(title="taskboard benchmarks", show_lines=False)
    for name in ("benchmark", "measure", "ours", "reference", "ratio", "target", "met"):
        t.add_column(name, overflow="fold")
    for r in rows:
        t.add_row(r.bench, r.measure, fmt(r.ours, r.unit), _ref(r), _ratio(r), r.target,
                  "-" if r.met is None else ("yes" if r.met else "NO"))
    return t


def _ref(r: Row) -> str:
    return f"{fmt(r.reference, r.unit)} ({r.reference_label})" if r.reference is not None else "-"


def _ratio(r: Row) -> str:
    return "-" if r.ratio is None else f"{r.ratio:.1f}x {'better' if r.ratio >= 1 else 'worse'}"


def markdown(rows: list[Row], outcome: Outcome, seconds: float) -> str:
    facts = machine()
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench` in {seconds / 60:.1f} min "
        "(every figure below from that one run; the reference beside ours, same machine, same run).",
        "",
        f"- machine: {facts['cpu']}, {facts['memory']}, {facts['os']}",
        f"- Python {facts['python']}, SQLite {facts['sqlite']}",
        f"- {facts['packages']}",
        "",
        "| benchmark | measure | ours | reference (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.bench} | {r.measure} | {fmt(r.ours, r.unit)} | {_ref(r)} | {_ratio(r)} | {r.target} "
                     f"| {met} |")
    notes = [f"- {r.bench}, {r.measure}: {r.note}" for r in rows if r.note] + [f"- {n}" for n in outcome.notes]
    if notes:
        lines += ["", "## Notes on the figures", "", *notes]
    lines += ["", "## Checks made during the run", ""]
    lines += [f"- FAILED: {f}" for f in outcome.failures] or ["- all passed (no update lost, no line lost, "
                                                             "no error status under load)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI; does not write RESULTS.md")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--out", type=Path, help=f"where to write the results (full runs: {RESULTS})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    console = Console(width=200)
    total = Outcome()
    started = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        console.print(f"[bold]{name}[/] …")
        t = time.perf_counter()
        result = BENCHMARKS[name](sizes)
        total.rows += result.rows
        total.failures += result.failures
        total.notes += result.notes
        console.print(f"  done in {time.perf_counter() - t:.0f} s")
    elapsed = time.perf_counter() - started
    console.print(table(total.rows))
    out = args.out or (None if args.quick else RESULTS)
    if out is not None:
        out.write_text(markdown(total.rows, total, elapsed))
        console.print(f"wrote {out}")
    for failure in total.failures:
        console.print(f"[bold red]FAILED[/] {failure}")
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
