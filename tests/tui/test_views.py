"""Sorting by any column, the `:` command line and the views it opens, from the keyboard, against the
real backend."""

from __future__ import annotations

import json
from pathlib import Path

from taskboard.connect import RemoteServer
from taskboard.tui.app import ContextChoice, make_app
from taskboard.tui.screens.command import CommandScreen
from taskboard.tui.screens.pick import PickScreen
from taskboard.tui.screens.rules import RulesScreen
from tests.helpers import FAST, LONG, start_task, wait_for_status
from tests.tui.pilot import SIZE, loaded, notifications, screen_text, select, until


def header(app) -> str:
    return "".join(segment.text for segment in app.table.render_line(0))


def shown(app) -> list[str]:
    return [app.board.at(i).id for i in range(len(app.board))]


async def test_sort_by_cost_descending_and_back_kept_for_the_context(backend, board_state: Path) -> None:
    server, client = backend
    costs = [30_000, 10_000, 50_000, 20_000, 40_000]
    tasks = [await start_task(client, f"costs {c}", params=FAST | {"costPerStepMicros": c}) for c in costs]
    for task in tasks:
        await wait_for_status(client, task.id, "completed")
    by_cost = [t.id for _, t in sorted(zip(costs, tasks, strict=True), key=lambda pair: -pair[0])]
    async with make_app(connector=RemoteServer(server.url, label="costly"), bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in tasks))
        await until(pilot, lambda: all(app.board.tasks[t.id].cost_micros for t in tasks), what="the costs")
        assert "P↑" in header(app)  # the default sort, shown on its column
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, PickScreen), what="the sort menu")
        await pilot.press("c")  # cost: the most spent first
        await until(pilot, lambda: "COST↓" in header(app), what="the arrow on COST")
        assert shown(app) == by_cost and "P↑" not in header(app)
        assert "sort cost ↓" in screen_text(app).splitlines()[1]
        await pilot.press("S", "c")  # the same column again: the other way
        await until(pilot, lambda: "COST↑" in header(app), what="ascending")
        assert shown(app) == by_cost[::-1]
        await pilot.press("S", "c")
        await until(pilot, lambda: "COST↓" in header(app))
        # The cursor keeps its task through a re-sort, and g/j walk the order shown.
        await select(pilot, by_cost[2])
    kept = json.loads(board_state.read_text())["contexts"]["costly"]
    assert kept == {"sort": "cost", "descending": True, "attention_first": True}
    # The next board on this context opens sorted so.
    async with make_app(connector=RemoteServer(server.url, label="costly"), bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, *(t.id for t in tasks))
        assert "COST↓" in header(app) and shown(app) == by_cost


async def test_the_command_line_completes_and_opens_views(backend) -> None:
    server, client = backend
    project = await client.create_project("Docs revamp")
    inside = [await client.create_task(title=f"docs page {i}", project_id=project.id) for i in range(2)]
    outside = await client.create_task(title="not in the project")
    contexts = {"here": ContextChoice(server.url, lambda: RemoteServer(server.url, label="here")),
                "there": ContextChoice(server.url, lambda: RemoteServer(server.url, label="there"))}
    app = make_app(connector=contexts["here"].connect(), contexts=contexts, context="here", bell=False,
                   aliases={"pj": "projects", "go": "ctx there"})
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, outside.id, *(t.id for t in inside))
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandScreen), what="the command line")
        lines = screen_text(app)
        for name in (":tasks", ":inbox", ":rules", ":projects", ":workflows", ":ctx", ":q"):
            assert name in lines
        await pilot.press(*"pro", "tab")  # Tab completes the one name left
        await until(pilot, lambda: "projects" in screen_text(app).splitlines()[-1], what="the completion")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PickScreen) and "Docs revamp" in screen_text(app),
                    what="the projects view")
        assert "2 tasks" in screen_text(app)
        await pilot.press("enter")  # drill into the project's tasks
        await until(pilot, lambda: len(app.screen_stack) == 1 and sorted(shown(app)) == sorted(t.id for t in inside),
                    what="the project's tasks")
        assert "project Docs revamp" in screen_text(app).splitlines()[1]  # by its name, not its id
        await pilot.press("colon", *"tasks", "enter")  # typed in one go, as a fast typist does
        await until(pilot, lambda: len(app.board) == 3, what="every task again")
        # :rules is the rules screen (R); escape comes back to the board.
        await pilot.press("colon", *"rules", "enter")
        await until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.loaded, what="the rules")
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="the board again")
        await pilot.press("colon", *"nonsense", "enter")
        await until(pilot, lambda: any("No such view or action: nonsense" in n for n in notifications(app)))
        # An alias from the config, and a context by name through one.
        await pilot.press("colon", *"pj", "enter")
        await until(pilot, lambda: isinstance(app.screen, PickScreen), what="the alias's view")
        await pilot.press("escape")
        await pilot.press("colon", *"ctx t", "tab")
        await until(pilot, lambda: screen_text(app).splitlines()[-1].strip().startswith(":ctx there"),
                    what="the context completed")
        await pilot.press("escape", "colon", *"go", "enter")
        await until(pilot, lambda: app.context == "there" and app.loaded, what="the switch")
        await pilot.press("colon", "q", "enter")
        await until(pilot, lambda: not app.is_running, what=":q to quit")


async def test_a_workflow_run_shows_its_steps_in_order_and_drills_into_them(backend) -> None:
    server, client = backend
    other = await client.create_task(title="not a step")
    run = await client.create_workflow(name="Release notes", steps=[
        {"title": "Collect merged PRs", "params": FAST},
        {"title": "Draft the notes", "params": LONG},
        {"title": "Publish", "params": FAST},
    ])
    first, second, third = sorted(run.tasks, key=lambda t: t.step_index or 0)
    await wait_for_status(client, first.id, "completed")
    await wait_for_status(client, second.id, "running")
    async with make_app(server.url, bell=False).run_test(size=SIZE) as pilot:
        app = await loaded(pilot, other.id, first.id, second.id, third.id)
        await until(pilot, lambda: app.board.tasks[second.id].status == "running", what="step 2 running")
        await pilot.press("colon", *"workflows", "enter")
        await until(pilot, lambda: isinstance(app.screen, PickScreen) and "Release notes" in screen_text(app),
                    what="the runs")
        assert "1/3 steps" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: "Release notes: 3 steps" in screen_text(app), what="the steps")
        text = screen_text(app)
        rows = [line for line in text.splitlines() if any(f"{n}. " in line for n in (1, 2, 3))]
        assert ["Collect merged PRs" in rows[0] and "done" in rows[0], "Draft the notes" in rows[1]
                and "running" in rows[1], "Publish" in rows[2] and "planned" in rows[2]] == [True] * 3
        await pilot.press("j", "enter")  # step 2: the board shows the run's tasks, the cursor on it
        await until(pilot, lambda: len(app.screen_stack) == 1 and len(app.board) == 3, what="the run's tasks")
        assert other.id not in shown(app) and app.table.selected_id == second.id
        assert "workflow" in screen_text(app).splitlines()[1]
        await pilot.press("escape")  # clears the drill-down as any filter
        await until(pilot, lambda: len(app.board) == 4, what="every task")
