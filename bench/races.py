"""Race harness: 50 clients fire random actions at the same few tasks; the watch stream must tell a
story that could have happened.

For a fixed time, concurrent clients call cancel / resume / execute / queue / patch / respond /
message / delete on a small shared set of tasks (demo tasks that log, ask permission and ask
questions), replacing deleted ones. Refusals (4xx) are expected; what is checked:
- no 5xx and no "database is locked" anywhere;
- reconstructed from the watch stream, every task's status history uses only legal transitions;
- the final state in the store equals the last event about each task (status and revision), and
  deleted tasks are gone.

`python -m bench.races [SECONDS] [CLIENTS]` prints the outcome and exits 1 on a problem.
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

from bench.common import Outcome, Row, Sizes, running_server, temp_dir
from taskboard.models import TRANSITIONS, TaskStatus

TASKS = 12
# Deletes are rare: a deleted task is replaced, but the calls already aimed at it only get 404s.
ACTIONS = ("cancel", "resume", "execute", "queue", "patch", "respond", "message", "delete", "get")
WEIGHTS = (4, 10, 14, 14, 12, 14, 8, 1, 3)
DEMO = {"steps": 6, "stepSeconds": 0.05, "permission": {"atStep": 2}, "question": {"atStep": 4}}


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


async def _new_task(http: httpx.AsyncClient, rng: random.Random) -> str | None:
    response = await http.post("/api/tasks", json={"title": f"race {rng.randrange(10**6)}", "params": DEMO})
    return response.json()["id"] if response.status_code == 201 else None


async def _client(url: str, ids: list[str], rng: random.Random, until: float, tally: Tally,
                  min_calls: int = 0, hard_stop: float = 0.0) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        # For `seconds`, and on until `min_calls` were made in all (a loaded machine), but never past hard_stop.
        while time.monotonic() < until or (sum(tally.calls.values()) < min_calls and time.monotonic() < hard_stop):
            await act(http, ids, rng, tally)


async def act(http: httpx.AsyncClient, ids: list[str], rng: random.Random, tally: Tally) -> None:
    """One random action on one of the shared tasks, counted in the tally (the replicas harness uses it too)."""
    task_id = rng.choice(ids)
    action = rng.choices(ACTIONS, WEIGHTS)[0]
    path = f"/api/tasks/{task_id}"
    if action == "cancel":
        response = await http.post(f"{path}/cancel")
    elif action == "resume":
        response = await http.post(f"{path}/resume")
    elif action == "execute":
        response = await http.post(f"{path}/execute")
    elif action == "queue":
        response = await http.patch(path, json={"status": "queued"})
    elif action == "patch":
        body = rng.choice(({"priority": rng.randint(0, 3)}, {"title": f"renamed {rng.randrange(1000)}"},
                           {"status": rng.choice([s.value for s in TaskStatus])}))
        response = await http.patch(path, json=body)
    elif action == "respond":
        pending = await http.get("/api/permissions", params={"taskId": task_id})
        items = pending.json() if pending.status_code == 200 else []
        if not items:
            return
        response = await http.post(f"{path}/respond", json={
            "notificationId": items[0]["id"], "behavior": rng.choice(("allow", "deny"))})
    elif action == "message":
        response = await http.post(f"{path}/messages", json={"message": "carry on"})
    elif action == "delete":
        response = await http.delete(path)
        if response.status_code == 200:
            replacement = await _new_task(http, rng)
            if replacement and task_id in ids:
                ids[ids.index(task_id)] = replacement
    else:
        response = await http.get(path)
    tally.calls[action] += 1
    tally.statuses[response.status_code] += 1
    if response.status_code >= 500 or "database is locked" in response.text:
        tally.problems.append(f"{action} {task_id}: {response.status_code} {response.text[:200]}")


async def _watch(url: str, since: int, events: list[dict[str, Any]], stop: asyncio.Event) -> None:
    from taskboard.client import TaskboardClient

    async with TaskboardClient(url) as client:
        async for event in client.watch(since):
            events.append(event.model_dump(by_alias=False))
            if stop.is_set():
                return


def _legal_histories(events: list[dict[str, Any]], tally: Tally) -> dict[str, tuple[str | None, int]]:
    """Every task's last known (status, revision); None as status means deleted."""
    last: dict[str, tuple[str | None, int]] = {}
    for event in events:
        task_id, kind = event.get("task_id"), event["type"]
        if kind == "task.deleted" and task_id:
            last[task_id] = (None, event["revision"])
        elif kind == "task.upserted" and event.get("task"):
            task = event["task"]
            status = TaskStatus(task["status"])
            before = last.get(task["id"])
            if before is not None and before[0] is not None and before[0] != status \
                    and status not in TRANSITIONS[TaskStatus(before[0])]:
                tally.problems.append(f"illegal transition of {task['id']}: {before[0]} -> {status.value} "
                                      f"at revision {event['revision']}")
            last[task["id"]] = (status.value, task["revision"])
    return last


async def race(seconds: float, clients: int = 50, seed: int = 1, min_calls: int = 0,
               store: str = "sqlite") -> tuple[Tally, int, int]:
    """Returns the tally, the number of events checked and of tasks compared with the store. With
    `min_calls`, the race goes on past `seconds` (up to 10x) until that many calls were made."""
    rng = random.Random(seed)
    tally = Tally()
    with temp_dir() as tmp, running_server(tmp / "races.db", "--demo-speed", "1", "--concurrency", "16",
                                                        store=store) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            first = await http.get("/api/tasks", params={"limit": 1})
            since = int(first.headers["x-revision"])
            events: list[dict[str, Any]] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(_watch(server.url, since, events, stop))
            ids = [i for i in [await _new_task(http, rng) for _ in range(TASKS)] if i]
            until = time.monotonic() + seconds
            hard_stop = time.monotonic() + 10 * seconds
            await asyncio.gather(*(_client(server.url, ids, random.Random(rng.random()), until, tally, min_calls,
                                           hard_stop) for _ in range(clients)))
            # Let the runs settle: cancel whatever still runs, then wait for the stream to catch up.
            for task_id in list(ids):
                await http.post(f"/api/tasks/{task_id}/cancel")
            await asyncio.sleep(0.5)
            final = await http.get("/api/tasks", params={"limit": 1})
            target = int(final.headers["x-revision"])
            deadline = time.monotonic() + 20
            while (not events or events[-1]["revision"] < target) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            watcher.cancel()
            last = _legal_histories([e for e in events if e["revision"] <= target], tally)
            compared = 0
            for task_id, (status, revision) in last.items():
                response = await http.get(f"/api/tasks/{task_id}")
                compared += 1
                if status is None:
                    if response.status_code != 404:
                        tally.problems.append(f"{task_id} was deleted on the stream but the store has it")
                    continue
                body = response.json()
                if response.status_code != 200 or (body["status"], body["revision"]) != (status, revision):
                    tally.problems.append(f"{task_id}: store says {body.get('status')}@{body.get('revision')}, "
                                          f"the last event said {status}@{revision}")
            out = server.output
        if any("database is locked" in line or "Traceback" in line for line in out):
            tally.problems.append("the server logged an error: " + next(
                line for line in out if "database is locked" in line or "Traceback" in line).strip())
    return tally, len(events), compared


def run(sizes: Sizes) -> Outcome:
    out = Outcome()
    seconds = 5.0 if sizes.quick else 60.0
    tally, events, compared = asyncio.run(race(seconds))
    out.failures += tally.problems[:20]
    calls = sum(tally.calls.values())
    server_errors = sum(n for code, n in tally.statuses.items() if code >= 500)
    illegal = sum(1 for p in tally.problems if p.startswith("illegal"))
    codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(tally.statuses.items()))
    out.rows += [
        Row("races", f"50 clients, random actions on {TASKS} shared tasks for {seconds:g} s: illegal transitions",
            illegal, "", "0", illegal == 0,
            note=f"{events:,} watch events replayed into per-task histories; {compared} tasks compared with the "
                 f"store, {len(tally.problems)} problems"),
        Row("races", "server errors (5xx or 'database is locked')", server_errors, "", "0",
            server_errors == 0 and not tally.problems,
            note=f"{calls:,} calls ({codes})"),
    ]
    return out


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    tally, events, compared = asyncio.run(race(seconds, clients))
    print(f"calls {dict(tally.calls)}\nstatuses {dict(sorted(tally.statuses.items()))}\n"
          f"{events} events, {compared} tasks compared")
    for problem in tally.problems[:50]:
        print("PROBLEM", problem)
    sys.exit(1 if tally.problems else 0)
