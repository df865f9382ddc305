"""Three replicas on one PostgreSQL database under load, one of them SIGKILLed (issue 23).

Three `taskboard serve` processes share a database; 50 clients, spread over them, fire the race harness's
random actions (bench/races.py) at a few shared tasks for a while; one writer per replica creates tasks and
keeps the ids it was answered with; a probe changes a task through replica A every 20 ms and times how long
the change takes to reach a watch on replica B. Halfway, replica C is SIGKILLed; its clients move to the
others, as behind a load balancer. What is checked:
- 0 illegal transitions (the watch stream replayed into each task's history) and 0 server errors (5xx);
  requests cut off by the kill are counted apart, as a load balancer would retry them;
- nothing acknowledged lost: every task a replica answered 201 for (C's included) is there at the end,
  unless an acknowledged delete took it, and every task's last event agrees with the store;
- C's runs (long demo tasks C claimed before it died) are failed, resumable, with the lease's reason, within
  the lease; a resume through A takes one back to running (a run C accepted but no runner had claimed is
  nobody's: it stays queued and A or B runs it, so it is not counted among C's);
- the watches on A and B carry on across the kill: no reset, no reconnect needed, and both saw the same
  revisions, every one the events table has in their span;
- the latency from a change made through A (A's answer: committed) to its event on B's watch: p50, p99
  (target p99 < 50 ms); and from the request's start, which adds the request's wait for a core.

`python -m bench.replicas [SECONDS] [CLIENTS]` prints the figures and exits 1 on a problem.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import Outcome, Row, Sizes, percentile, temp_dir
from bench.races import TASKS, Tally, _legal_histories, _new_task, act
from tests.server import ServerProcess

LONG = {"steps": 100_000, "stepSeconds": 0.2}
LEASE_SECONDS = 3.0
PROBE_EVERY = 0.02


@dataclass
class Found:
    tally: Tally = field(default_factory=Tally)
    problems: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    cut_off: Counter[str] = field(default_factory=Counter)  # requests to C that the kill cut off


class Watch:
    """A watch stream on one replica: every event with the moment it arrived."""

    def __init__(self, url: str, since: int) -> None:
        self.url = url
        self.since = since
        self.events: list[dict[str, Any]] = []
        self.arrived: dict[int, float] = {}
        self.resets = 0
        self.ended = False  # the stream ended by itself (it is not reconnected: that would hide a break)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from taskboard.client import TaskboardClient

        async with TaskboardClient(self.url) as client:
            try:
                async for event in client.watch(self.since, reconnect=False):
                    now = time.monotonic()
                    if event.type == "reset":
                        self.resets += 1
                        continue
                    body = event.model_dump(by_alias=False)
                    self.events.append(body)
                    self.arrived[int(body["revision"])] = now
            except httpx.HTTPError:
                pass
            self.ended = True

    def stop(self) -> None:
        self.task.cancel()


def _replica(tmp: Any, *args: str) -> ServerProcess:
    server = ServerProcess(tmp / "replicas", "--heartbeat", "0.5", "--lease-seconds", str(LEASE_SECONDS),
                           "--concurrency", "16", "--demo-speed", "1", *args, store="postgres")
    server.start(timeout=120)
    return server


async def _clients_loop(urls: list[str], alive: list[bool], home: int, ids: list[str], rng: random.Random,
                        until: float, found: Found) -> None:
    """One client: its home replica while that one lives, then the next live one (a load balancer's failover)."""
    current = home
    http = httpx.AsyncClient(base_url=urls[current], timeout=30)
    try:
        while time.monotonic() < until:
            if not alive[current]:
                await http.aclose()
                current = next(i for i in range(len(urls)) if alive[i])
                http = httpx.AsyncClient(base_url=urls[current], timeout=30)
            try:
                await act(http, ids, rng, found.tally)
            except httpx.TransportError:
                if alive[current]:
                    found.problems.append(f"a live replica ({urls[current]}) refused a connection")
                found.cut_off["action"] += 1
    finally:
        await http.aclose()


async def _writer(url: str, alive: list[bool], index: int, until: float, acknowledged: set[str],
                  found: Found) -> None:
    """Creates a task every few ms through one replica and keeps the ids it was answered with."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        n = 0
        while time.monotonic() < until and alive[index]:
            n += 1
            try:
                response = await http.post("/api/tasks", json={"title": f"written {index}.{n}"})
            except httpx.TransportError:
                found.cut_off["create"] += 1
                return
            if response.status_code == 201:
                acknowledged.add(response.json()["id"])
            elif response.status_code >= 500:
                found.problems.append(f"create through replica {index}: {response.status_code}")
            await asyncio.sleep(0.01)


async def _probe(url: str, task_id: str, until: float, sent: dict[int, tuple[float, float]], found: Found) -> None:
    """Renames one task through A every PROBE_EVERY s: the revision of each change, when it was sent and
    when A answered it."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        n = 0
        while time.monotonic() < until:
            n += 1
            started = time.monotonic()
            response = await http.patch(f"/api/tasks/{task_id}", json={"title": f"probe {n}"})
            if response.status_code == 200:
                sent[int(response.json()["revision"])] = (started, time.monotonic())
            else:
                found.problems.append(f"probe rename through A: {response.status_code}")
            await asyncio.sleep(PROBE_EVERY)


async def _dead_replicas(server: ServerProcess) -> set[str]:
    from taskboard_backend.store_postgres import REPLICA_LOCK_CLASS

    rows = server.query(
        "SELECT s.id FROM replicas s WHERE NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
        f"AND l.classid::bigint = {REPLICA_LOCK_CLASS} AND l.objid::bigint = s.lock_key AND l.granted)")
    return {str(r[0]) for r in rows}


async def harness(seconds: float, clients: int = 50, seed: int = 1, kill: bool = True) -> Found:
    """The run; `seconds` of load, C killed at half of it (with `kill`)."""
    rng = random.Random(seed)
    found = Found()
    with temp_dir() as tmp:
        servers: list[ServerProcess] = []
        try:
            # C first, with long runs of its own (claimed before A and B exist, so C holds them); then A and B,
            # whose start-up must leave C's live runs alone.
            servers.append(_replica(tmp))
            long_ids = await _long_runs_on(servers[0])
            servers[:0] = [_replica(tmp), _replica(tmp)]
            urls = [s.url for s in servers]
            alive = [True, True, True]
            await _load(servers, urls, alive, rng, seconds, clients, kill, long_ids, found)
        finally:
            for server in servers:
                server.stop()
        for server in servers:
            at = next((i for i, line in enumerate(server.output) if "Traceback" in line), None)
            if at is not None:
                found.problems.append(f"{server.url} logged an error: " + "".join(server.output[at - 2:at + 40]))
    return found


async def _long_runs_on(c: ServerProcess, n: int = 4) -> list[str]:
    async with httpx.AsyncClient(base_url=c.url, timeout=30) as on_c:
        long_ids = []
        for i in range(n):
            created = (await on_c.post("/api/tasks", json={"title": f"long {i}", "params": LONG})).json()
            await on_c.patch(f"/api/tasks/{created['id']}", json={"status": "queued"})
            await on_c.post(f"/api/tasks/{created['id']}/execute")
            long_ids.append(created["id"])
    async with asyncio.timeout(20):
        while len(c.query("SELECT task_id FROM runs WHERE owner IS NOT NULL AND NOT queued AND finished_at IS NULL"
                          " AND task_id = ANY(?)", (long_ids,))) < len(long_ids):
            await asyncio.sleep(0.05)
    return long_ids


async def _load(servers: list[ServerProcess], urls: list[str], alive: list[bool], rng: random.Random,
                seconds: float, clients: int, kill: bool, long_ids: list[str], found: Found) -> None:
    a, b, c = servers
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as on_a:
        since = int((await on_a.get("/api/tasks", params={"limit": 1})).headers["x-revision"])
        on_a_watch, on_b_watch = Watch(a.url, since), Watch(b.url, since)
        ids = [i for i in [await _new_task(on_a, rng) for _ in range(TASKS)] if i]
        probe_task = (await on_a.post("/api/tasks", json={"title": "probe"})).json()["id"]
        open_runs = a.query("SELECT task_id, attempt, owner FROM runs WHERE finished_at IS NULL AND NOT queued")

        started = time.monotonic()
        until = started + seconds
        acknowledged: list[set[str]] = [set(), set(), set()]
        sent: dict[int, tuple[float, float]] = {}
        load = [asyncio.create_task(_clients_loop(urls, alive, i % 3, ids, random.Random(rng.random()), until, found))
                for i in range(clients)]
        load += [asyncio.create_task(_writer(urls[i], alive, i, until, acknowledged[i], found)) for i in range(3)]
        load.append(asyncio.create_task(_probe(a.url, probe_task, until, sent, found)))
        killed_at = None
        if kill:
            await asyncio.sleep(seconds / 2)
            # Not before C has answered a write: what it acknowledged is what the kill must not lose (on a
            # loaded machine its first answer came after the half once, and there was nothing to check).
            async with asyncio.timeout(30):
                while not acknowledged[2]:
                    await asyncio.sleep(0.01)
            alive[2] = False
            c.kill()
            killed_at = time.monotonic()
            found.figures["killed_after_s"] = killed_at - started
        await asyncio.gather(*load)

        # C's runs: the long ones it held, failed with the lease's reason within the lease, resumable.
        if killed_at is not None:
            dead = await _dead_replicas(a)
            held_by_c = [(t, n) for t, n, owner in open_runs if owner in dead]
            found.figures["runs_held_by_killed"] = len(held_by_c)
            if not held_by_c:
                found.problems.append("the killed replica held no runs: the lease check had nothing to check")
            # When B's watch heard each one fail (the load went on meanwhile).
            failed_at: dict[str, float] = {}
            for event in on_b_watch.events:
                task = event.get("task") or {}
                if event["type"] == "task.upserted" and (task.get("id"), task.get("attempt")) in held_by_c \
                        and task.get("status") == "failed" and task["id"] not in failed_at:
                    failed_at[task["id"]] = on_b_watch.arrived[int(event["revision"])]
                    if "lease" not in (task.get("error") or ""):
                        found.problems.append(f"{task['id']} failed without the lease's reason: {task.get('error')}")
            for task_id, _ in held_by_c:
                if task_id not in failed_at:
                    found.problems.append(f"{task_id}, run by the killed replica, never failed")
            late = [t for t, at in failed_at.items() if at - killed_at > LEASE_SECONDS]
            found.figures["killed_runs_failed"] = len(failed_at)
            found.figures["killed_runs_failed_max_s"] = max((at - killed_at for at in failed_at.values()), default=0)
            for task_id in late:
                found.problems.append(f"{task_id} of the killed replica failed only "
                                      f"{failed_at[task_id] - killed_at:.1f} s after the kill (lease {LEASE_SECONDS} s)")
            for task_id, _ in held_by_c:
                resumed = await on_a.post(f"/api/tasks/{task_id}/resume")
                if not resumed.is_success:
                    found.problems.append(f"{task_id} of the killed replica could not be resumed: {resumed.text[:200]}")
                await on_a.post(f"/api/tasks/{task_id}/cancel")
        for task_id in [*ids, *long_ids]:
            await on_a.post(f"/api/tasks/{task_id}/cancel")

        # Let the watches catch up with the head, then compare.
        head = int((await on_a.get("/api/tasks", params={"limit": 1})).headers["x-revision"])
        async with asyncio.timeout(30):
            while any(not w.events or w.events[-1]["revision"] < head for w in (on_a_watch, on_b_watch)):
                await asyncio.sleep(0.05)
        on_a_watch.stop()
        on_b_watch.stop()
        _check_watches(a, on_a_watch, on_b_watch, head, killed_at, found)
        last = _legal_histories([e for e in on_a_watch.events if e["revision"] <= head], found.tally)
        deleted = {t for t, (status, _) in last.items() if status is None}
        for task_id, (status, revision) in last.items():
            response = await on_a.get(f"/api/tasks/{task_id}")
            if status is None:
                if response.status_code != 404:
                    found.problems.append(f"{task_id} was deleted on the stream but the store has it")
                continue
            body = response.json()
            if response.status_code != 200 or (body["status"], body["revision"]) != (status, revision):
                found.problems.append(f"{task_id}: store says {body.get('status')}@{body.get('revision')}, "
                                      f"the last event said {status}@{revision}")
        lost = 0
        for index, acked in enumerate(acknowledged):
            for task_id in acked - deleted:
                if (await on_a.get(f"/api/tasks/{task_id}")).status_code != 200:
                    lost += 1
                    found.problems.append(f"task {task_id}, acknowledged by replica {'ABC'[index]}, is missing")
        found.figures["acknowledged_creates"] = sum(len(x) for x in acknowledged)
        found.figures["acknowledged_by_killed"] = len(acknowledged[2])
        found.figures["lost"] = lost
        latencies = [(on_b_watch.arrived[rev] - at) * 1000 for rev, (at, _) in sent.items()
                     if rev in on_b_watch.arrived]
        # From A's answer (the change committed) to B's watch: what crossing replicas adds.
        crossing = [(on_b_watch.arrived[rev] - done) * 1000 for rev, (_, done) in sent.items()
                    if rev in on_b_watch.arrived]
        found.figures["acked_to_b_p50_ms"] = percentile(crossing, 50)
        found.figures["acked_to_b_p99_ms"] = percentile(crossing, 99)
        found.figures["request_p50_ms"] = percentile([(d - a) * 1000 for a, d in sent.values()], 50)
        if len(latencies) < len(sent):
            found.problems.append(f"{len(sent) - len(latencies)} probe changes never reached B's watch")
        found.figures["probe_samples"] = len(latencies)
        found.figures["watch_b_p50_ms"] = percentile(latencies, 50)
        found.figures["watch_b_p99_ms"] = percentile(latencies, 99)
        found.figures["calls"] = sum(found.tally.calls.values())
        found.figures["server_errors"] = sum(n for code, n in found.tally.statuses.items() if code >= 500)
        found.figures["illegal"] = sum(1 for p in found.tally.problems if p.startswith("illegal"))
        found.figures["cut_off"] = sum(found.cut_off.values())
        found.problems += found.tally.problems


def _check_watches(a: ServerProcess, on_a: Watch, on_b: Watch, head: int, killed_at: float | None,
                   found: Found) -> None:
    """Both watches saw the same revisions, each one the events table has in their span, in order, without a
    reset or a second connection, and both went on receiving after the kill."""
    revisions = [[int(e["revision"]) for e in w.events if e["revision"] <= head] for w in (on_a, on_b)]
    for name, seen, watch in (("A", revisions[0], on_a), ("B", revisions[1], on_b)):
        if seen != sorted(set(seen)):
            found.problems.append(f"the watch on {name} saw revisions out of order or twice")
        if watch.resets or watch.ended:
            found.problems.append(f"the watch on {name} was reset {watch.resets} time(s)"
                                  + (" and ended before the run did" if watch.ended else ""))
        if killed_at is not None and not any(at > killed_at for at in watch.arrived.values()):
            found.problems.append(f"the watch on {name} received nothing after the kill")
    if revisions[0] != revisions[1]:
        only = set(revisions[0]) ^ set(revisions[1])
        found.problems.append(f"the watches on A and B differ by {len(only)} revision(s), e.g. {sorted(only)[:5]}")
    if revisions[0]:
        stored = [int(r[0]) for r in a.query("SELECT revision FROM events WHERE revision >= ? AND revision <= ? "
                                             "ORDER BY revision", (revisions[0][0], head))]
        missing = sorted(set(stored) - set(revisions[0]))
        if missing:
            found.problems.append(f"the watches missed {len(missing)} revision(s) the events table has, e.g. "
                                  f"{missing[:5]}")
    found.figures["watched_events"] = len(revisions[0])


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    seconds = 10.0 if sizes.quick else 60.0
    found = asyncio.run(harness(seconds))
    out.failures += found.problems[:20]
    f = found.figures
    out.rows += [
        Row("replicas", f"3 replicas on one PostgreSQL, 50 clients for {seconds:g} s, one SIGKILLed halfway: "
                        "illegal transitions", f["illegal"], "", "0", f["illegal"] == 0,
            note=f"{f['watched_events']:,.0f} watch events replayed; {f['calls']:,.0f} calls, "
                 f"{f['cut_off']:.0f} cut off by the kill (retried elsewhere, as a load balancer would)"),
        Row("replicas", "server errors (5xx)", f["server_errors"], "", "0", f["server_errors"] == 0),
        Row("replicas", "acknowledged tasks lost (creates through all three, the killed one's included)", f["lost"],
            "", "0", f["lost"] == 0 and not found.problems,
            note=f"{f['acknowledged_creates']:,.0f} creates acknowledged, {f['acknowledged_by_killed']:,.0f} of them "
                 f"by the killed replica; its {f.get('runs_held_by_killed', 0):.0f} runs failed, resumable, "
                 f"{f.get('killed_runs_failed_max_s', 0):.1f} s after the kill at most (lease {LEASE_SECONDS:g} s)"),
        # The "a change made through A reaches a watch on B": from the change being made (A's answer:
        # committed) to B's event. From the request's start it also holds the request's own wait for a core
        # under this load (three servers, PostgreSQL and 50 clients on two cores), which is no replica's doing.
        Row("replicas", "a change made through A (acknowledged) to B's watch, p99", f["acked_to_b_p99_ms"], "ms",
            "< 50 ms", f["acked_to_b_p99_ms"] < 50,
            note=f"p50 {f['acked_to_b_p50_ms']:.1f} ms over {f['probe_samples']:.0f} renames, sent every "
                 f"{PROBE_EVERY * 1000:.0f} ms during the load: from A's answer (committed) to the event on B"),
        Row("replicas", "the same from the request's start, p99", f["watch_b_p99_ms"], "ms", "-", None,
            note=f"p50 {f['watch_b_p50_ms']:.1f} ms: the rename's own request took {f['request_p50_ms']:.1f} ms "
                 f"at p50 under the load (waiting for a core), before A had committed anything"),
    ]
    return out


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    result = asyncio.run(harness(seconds, clients))
    for key, value in result.figures.items():
        print(f"{key}: {value:.2f}")
    for problem in result.problems[:50]:
        print("PROBLEM", problem)
    sys.exit(1 if result.problems else 0)
