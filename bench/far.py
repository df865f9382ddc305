"""The board over a far link (issue 24): the same load on loopback and through bench/link.py's simulator
(100 ms round trip, with and without a 20 Mbit/s cap), in one run against one server; bytes moved per
load; a change made through the link -> its row on screen."""

from __future__ import annotations

from typing import Any

from bench.common import Outcome, Row, Sizes, median, missed, percentile, run_child, running_server, temp_dir
from bench.link import far_link
from bench.seed import seed_tasks

RTT = 0.1
MBIT = 20.0
WHY_FAR = ("the load is the loopback load plus what the link adds: the first page waits for the connection "
           "(one round trip) and its answer (another); then pages come back-to-back while enough are asked "
           "for at once to cover the round trip, and the capped link carries the gzipped pages at 2.5 MB/s")


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    n = sizes.board_tasks
    samples = max(20, sizes.samples // 2)
    runs: dict[str, dict[str, Any]] = {}
    with temp_dir() as tmp:
        db = tmp / "far.db"
        seed_tasks(db, n)
        with running_server(db) as server:
            for name, rtt, mbit in (("loopback", 0.0, None), ("100 ms", RTT, None), ("100 ms, 20 Mbit/s", RTT, MBIT)):
                with far_link(server.url, rtt, mbit) as link:
                    runs[name] = run_child("bench.tui_board", link.url, str(n), str(samples), "0", "far")
                    runs[name]["moved_mb"] = link.moved / 1e6
                    runs[name]["down_mb"] = link.down / 1e6
            # Loopback without the simulator (its own copying costs the 2 cores): the figure to compare with.
            runs["direct"] = run_child("bench.tui_board", server.url, str(n), str(samples), "0", "far")
    for name, result in runs.items():
        out.check(result["tasks"] == n, f"far link ({name}): loaded {result['tasks']} of {n} tasks")
        out.check(result["live_missed"] == 0, f"far link ({name}): {result['live_missed']} changes never painted")
    base = runs["direct"]
    for name in ("100 ms", "100 ms, 20 Mbit/s"):
        r = runs[name]
        capped = "Mbit" in name
        loaded = r["loaded_s"]
        out.rows += [
            Row("far link", f"{n:,} tasks, {name} round trip: first rows painted", r["first_rows_s"], "s", "< 1 s",
                r["first_rows_s"] < 1, base["first_rows_s"], "same load on loopback"),
            Row("far link", f"{n:,} tasks, {name} round trip: whole board loaded", loaded, "s",
                "< 5 s" if capped else "-", loaded < 5 if capped else None, base["loaded_s"],
                "same load on loopback", note=missed(loaded, 5, "s", WHY_FAR) if capped else ""),
            Row("far link", f"{n:,} tasks, {name} round trip: bytes moved by the load", r["moved_mb"], "MB",
                "< 5 MB" if capped else "-", r["moved_mb"] < 5 if capped else None, runs["loopback"]["moved_mb"],
                "same load on loopback", note=f"{r['down_mb']:.1f} MB from the server"),
        ]
    far = runs["100 ms, 20 Mbit/s"]
    live = far["live_ms"]
    limit = RTT * 1000 + 50
    out.rows.append(Row("far link", "change through the 100 ms, 20 Mbit/s link -> row repainted: p99",
                        percentile(live, 99), "ms", f"< {limit:.0f} ms (one round trip + 50 ms)",
                        percentile(live, 99) < limit, percentile(base["live_ms"], 99), "on loopback",
                        note=f"{len(live)} changes, median {median(live):.1f} ms"))
    return out
