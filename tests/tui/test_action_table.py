"""actions.py is the one place the rules live: what the TUI offers on a task is what the server does.

For a task in every status (and the variants that matter: a cancelled task that never ran, one with
a permission request waiting), the board is asked which keys are live (check_action: True is live,
None is greyed), and then every action is run against the real server on a fresh task in the same
state. The two must agree: a key the TUI greys must be one the server refuses, and the other way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskboard.actions import ACTION_LIST
from taskboard.client import ApiError, TaskboardClient
from taskboard.tui.app import make_app
from tests.helpers import FAST, LONG, start_task, wait_for_status, wait_until
from tests.tui.pilot import SIZE, loaded, select, until
from tests.tui.test_actions import asks, pending


async def _planned(client: TaskboardClient) -> str:
    return (await client.create_task(title="planned")).id


async def _queued(client: TaskboardClient) -> str:
    task = await client.create_task(title="queued", params=FAST)
    await client.queue(task.id)
    return task.id


async def _running(client: TaskboardClient) -> str:
    task = await start_task(client, "running", params=LONG)
    await wait_for_status(client, task.id, "running")
    return task.id


async def _asking(client: TaskboardClient) -> str:
    task = await start_task(client, "asking", params=asks(at=1) | {"steps": 100_000, "stepSeconds": 0.05})
    await pending(client, task.id)
    return task.id


async def _awaiting(client: TaskboardClient) -> str:
    task = await start_task(client, "awaiting", params={"steps": 3, "stepSeconds": 0.02,
                                                          "question": {"message": "Which?", "atStep": 1}})
    await wait_for_status(client, task.id, "awaiting_input")
    return task.id


async def _completed(client: TaskboardClient) -> str:
    task = await start_task(client, "completed", params=FAST)
    await wait_for_status(client, task.id, "completed")
    return task.id


async def _failed(client: TaskboardClient) -> str:
    task = await start_task(client, "failed", params={"steps": 3, "stepSeconds": 0.02, "failAtStep": 2})
    await wait_for_status(client, task.id, "failed")
    return task.id


async def _cancelled(client: TaskboardClient) -> str:
    task_id = await _running(client)
    await client.cancel(task_id)
    await wait_for_status(client, task_id, "cancelled")
    return task_id


async def _cancelled_unrun(client: TaskboardClient) -> str:
    task = await client.create_task(title="cancelled before it ran")
    await client.cancel(task.id)
    return task.id


VARIANTS: dict[str, Callable[[TaskboardClient], Awaitable[str]]] = {
    "planned": _planned, "queued": _queued, "running": _running, "running, asking": _asking,
    "awaiting_input": _awaiting, "completed": _completed, "failed": _failed, "cancelled": _cancelled,
    "cancelled, never ran": _cancelled_unrun,
}


async def _respond(client: TaskboardClient, task_id: str, behavior: str) -> Any:
    waiting = await client.list_permissions("pending", task_id=task_id)
    if not waiting:
        raise ApiError("nothing is waiting", status=409)  # nothing to answer: the action cannot happen
    return await client.respond(task_id, waiting[0].id, behavior)  # type: ignore[arg-type]


async def _priority(client: TaskboardClient, task_id: str, delta: int) -> Any:
    task = await client.get_task(task_id)
    return await client.update_task(task_id, priority=task.priority + delta)


# What each action does on the server (the same calls as the app's action methods).
CALLS: dict[str, Callable[[TaskboardClient, str], Awaitable[Any]]] = {
    "cancel": lambda c, t: c.cancel(t),
    "resume": lambda c, t: c.resume(t),
    "queue": lambda c, t: c.queue(t),
    "execute": lambda c, t: c.execute(t),
    "plan": lambda c, t: c.update_task(t, status="planned"),
    "delete": lambda c, t: c.delete_task(t),
    "message": lambda c, t: c.send_message(t, "the Tuesday one"),
    "approve": lambda c, t: _respond(c, t, "allow"),
    "deny": lambda c, t: _respond(c, t, "deny"),
    "review": lambda c, t: _respond(c, t, "deny"),
    "priority_up": lambda c, t: _priority(c, t, -1),
    "priority_down": lambda c, t: _priority(c, t, 1),
}


def test_every_task_action_has_a_server_call_here() -> None:
    about_task = {a.name for a in ACTION_LIST if a.needs_task and a.mutating}
    assert about_task == set(CALLS), "a task action without a server check in this test"


async def test_what_the_tui_offers_is_what_the_server_does_for_every_action_in_every_status(backend) -> None:
    server, client = backend
    shown = {name: await make(client) for name, make in VARIANTS.items()}
    offered: dict[tuple[str, str], bool] = {}
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *shown.values())
        await until(pilot, lambda: app.board.pending_for(shown["running, asking"]), what="the request")
        for variant, task_id in shown.items():
            await select(pilot, task_id)
            for action in CALLS:
                offered[variant, action] = app.check_action(action, ()) is True
    disagreements = []
    for variant, make in VARIANTS.items():
        for action, call in CALLS.items():
            task_id = await make(client)
            try:
                await call(client, task_id)
                done = True
            except ApiError:
                done = False
            if done != offered[variant, action]:
                disagreements.append(f"{action} on a {variant} task: the TUI "
                                     f"{'offers' if offered[variant, action] else 'greys'} it, the server "
                                     f"{'does' if done else 'refuses'} it")
            await _gone(client, task_id)
    assert not disagreements, "\n".join(disagreements)


async def _gone(client: TaskboardClient, task_id: str) -> None:
    """Delete the task (stopping it), so the runner's slots stay free for the next one."""
    try:
        await client.delete_task(task_id)
    except ApiError:
        pass

    async def absent() -> bool:
        return not [t for t in (await client.list_tasks()).items if t.id == task_id]
    await wait_until(absent)
