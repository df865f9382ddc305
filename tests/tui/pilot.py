"""Helpers for driving the app: wait for a condition while the app keeps running."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from taskboard.tui.app import TaskboardApp

SIZE = (160, 45)


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)


async def loaded(pilot: Pilot[Any], *task_ids: str) -> TaskboardApp:
    app = pilot.app
    assert isinstance(app, TaskboardApp)
    await until(pilot, lambda: app.loaded and all(t in app.board.tasks for t in task_ids), what="the board")
    return app


async def select(pilot: Pilot[Any], task_id: str) -> None:
    """Put the cursor on a task as a person does: to the top (g), then down (j) until it is under it."""
    app = pilot.app
    assert isinstance(app, TaskboardApp)
    await until(pilot, lambda: app.board.index_of(task_id) is not None, what=f"task {task_id} on the board")
    await pilot.press("g")
    for _ in range(len(app.board)):
        if app.table.selected_id == task_id:
            break
        await pilot.press("j")
    assert app.table.selected_id == task_id, f"j never reached {task_id}"
    await pilot.pause()


NAMED_KEYS = {"tab": "\t", "shift+tab": None, "enter": "\r", "escape": "\x1b"}


async def fill(pilot: Pilot[Any], field_id: str, text: str) -> None:
    """Type `text` into a dialog's field as a person does: Tab to it, clear it (end, ctrl+u), type."""
    app = pilot.app
    for _ in range(16):
        if app.focused is not None and app.focused.id == field_id:
            break
        await pilot.press("tab")
    else:
        raise AssertionError(f"Tab never reached #{field_id}")
    await pilot.press("end", "ctrl+u", *text)


async def tab_to(pilot: Pilot[Any], widget: Any) -> None:
    """Move the focus to `widget` as a person does: Tab until it has it."""
    for _ in range(16):
        if pilot.app.focused is widget:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {widget!r}")


async def triage_to(pilot: Pilot[Any], task_id: str, kind: str | None = None) -> Any:
    """Put the triage queue's cursor on a task's item (of that kind) as a person does: to the top (g),
    then down (j) until it is under it, waiting for the item to show. The item."""
    from taskboard.tui.screens.triage import TriageScreen

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, TriageScreen) and any(
        i.task_id == task_id and (kind is None or i.kind == kind) for i in app.screen.items), what="the item")
    screen = app.screen
    await pilot.press("g")
    for _ in range(len(screen.items)):
        item = screen.current
        if item is not None and item.task_id == task_id and (kind is None or item.kind == kind):
            return item
        await pilot.press("j")
    raise AssertionError(f"j never reached {task_id}'s item")


def burst(pilot: Pilot[Any], *parts: str) -> None:
    """Keys as a terminal delivers a fast typist, a paste or a slow SSH link catching up: all at once,
    queued behind each other before the app has handled the first. (pilot.press waits for the app to
    go idle after every key, which hides what a burst does.) Each part is text, or a named key
    ("tab", "shift+tab", "enter", "escape")."""
    driver = pilot.app._driver
    assert driver is not None
    for part in parts:
        if part in NAMED_KEYS:
            keys = [(part, NAMED_KEYS[part])]
        else:
            keys = [(_character_to_key(c) if not c.isalnum() else c, c) for c in part]
        for key, char in keys:
            event = events.Key(key, char)
            event.set_sender(pilot.app)
            driver.send_message(event)


def screen_text(app: Any) -> str:
    """What the terminal shows now (the screen on top, drawn over what is under it), as plain lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def notifications(app: TaskboardApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the board, the detail pane and the log have everything they are going to get, and stop
    the inputs on the screen on top (a modal's too) blinking, so a snapshot is the same every time."""
    app = pilot.app
    assert isinstance(app, TaskboardApp)
    await until(pilot, lambda: app.loaded and app.agents and app.projects, what="the board")

    def quiet() -> bool:
        busy = [w for w in app.workers if not w.is_finished and w.group in ("detail", "extras", "actions")]
        view = app.detail.view
        return not busy and view is not None and view.detail is not None and app.log_tail.entries

    await until(pilot, quiet, what="detail and log")
    await pilot.pause(0.3)
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def permission_modal(pilot: Pilot[Any], other_than: Any = None, timeout: float = 60.0) -> Any:
    """The permission modal that opened by itself (another than `other_than`), once its keys take effect: it
    ignores keys for its first moment, so one already on its way does not answer a request nobody read."""
    from taskboard.tui.screens.permission import PermissionScreen

    app = pilot.app
    screen = await until(pilot, lambda: isinstance(app.screen, PermissionScreen) and app.screen is not other_than
                         and app.screen, timeout=timeout, what="the permission modal")
    await until(pilot, lambda: screen.armed, what="the modal to take decisions")
    return screen
