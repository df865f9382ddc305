"""The pure parts of marks, sorting and the `:` line: the board's order for every column either way,
what a `:` name resolves to (aliases, missing views), the state kept per context, the config's aliases,
and how a bulk action sorts the marked tasks out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskboard.actions import Situation, sort_out
from taskboard.config import ConfigError, load_config
from taskboard.models import Progress, TaskStatus, TaskSummary
from taskboard.state import BoardState
from taskboard.tui.board import SORT_COLUMN, Board, SortOrder
from taskboard.views import CommandError, candidates, completion, expand, resolve

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ["cancel", "inbox", "quit", "switch_context", "refresh"]


def summary(i: int, rng: random.Random) -> TaskSummary:
    status = rng.choice(list(TaskStatus))
    return TaskSummary(id=f"{rng.choice('ab')}/{i:04d}", title=rng.choice(["alpha", "Beta", "gamma", "beta"]) + str(i % 3),
                       status=status, priority=rng.randint(0, 3), created_at=T0 + timedelta(seconds=rng.randint(0, 99)),
                       updated_at=T0 + timedelta(seconds=rng.randint(0, 99)),
                       assigned_agent=rng.choice([None, "claude-code", "Codex"]),
                       progress=rng.choice([None, Progress(current=rng.randint(0, 4), total=4)]),
                       cost_micros=rng.choice([0, 5, 12_000, 7]), pending_permissions=rng.choice([0, 0, 1]))


def expected(tasks: list[TaskSummary], sort: SortOrder, descending: bool, attention: bool) -> list[str]:
    """The order written out the slow way: by the column's value, ties by id, whole order reversed when
    descending; attention first on top either way."""
    def value(t: TaskSummary) -> object:
        newer = -t.created_at.timestamp()
        return {
            SortOrder.PRIORITY: (t.priority, newer), SortOrder.CREATED: (newer,),
            SortOrder.UPDATED: (-t.updated_at.timestamp(),),
            SortOrder.STATUS: (["awaiting_input", "running", "queued", "planned", "failed", "cancelled",
                                "completed"].index(t.status.value), t.priority, newer),
            SortOrder.TITLE: (t.title.casefold(),), SortOrder.AGENT: ((t.assigned_agent or "\uffff").casefold(),),
            SortOrder.PROGRESS: ((100 * t.progress.current // t.progress.total) if t.progress else
                                 (100 if t.status is TaskStatus.COMPLETED else -1), newer),
            SortOrder.COST: (t.cost_micros,), SortOrder.ID: (), SortOrder.SERVER: (t.id.partition("/")[0], newer),
        }[sort]
    ordered = sorted(tasks, key=lambda t: (value(t), t.id), reverse=descending)
    if attention:
        ordered = [t for t in ordered if t.needs_attention] + [t for t in ordered if not t.needs_attention]
    return [t.id for t in ordered]


@pytest.mark.parametrize("sort", list(SortOrder))
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("attention", [False, True])
def test_every_column_sorts_either_way_and_stays_sorted_through_changes(sort, descending, attention) -> None:
    rng = random.Random(f"{sort}{descending}{attention}")
    tasks = [summary(i, rng) for i in range(300)]
    board = Board()
    board.set_sort(sort, attention_first=attention, descending=descending)
    board.load(tasks[:200])
    for task in tasks[200:]:
        board.upsert(task)
    changed = [TaskSummary(**{**{k: getattr(t, k) for k in t.__slots__ if hasattr(t, k)}, "cost_micros": 99,
                              "revision": 1}) for t in tasks[:20]]
    for task in changed:
        board.upsert(task)
    board.remove(tasks[-1].id)
    current = {t.id: t for t in [*tasks[:-1]]} | {t.id: t for t in changed}
    assert list(board.order) == expected(list(current.values()), sort, descending, attention)
    assert [board.at(i).id for i in range(len(board))] == list(board.order)
    assert all(board.index_of(task_id) == i for i, task_id in enumerate(board.order))
    assert board.order[-1] == list(board.order)[-1]


def test_marks_follow_their_tasks_and_go_with_them() -> None:
    rng = random.Random(1)
    board = Board()
    board.load(summary(i, rng) for i in range(10))
    first, second = board.order[0], board.order[1]
    assert board.toggle_mark(first) and not board.toggle_mark(first) and board.toggle_mark(second)
    assert not board.toggle_mark("nope") and board.marked == {second}
    board.set_sort(SortOrder.TITLE, descending=True)
    assert board.marked == {second}
    assert board.mark_shown() == 10 and [t.id for t in board.marked_tasks()] == list(board.order)
    board.remove(second)
    assert second not in board.marked and len(board.marked) == 9


def test_the_header_names_a_column_for_every_order_but_updated() -> None:
    assert set(SortOrder) - set(SORT_COLUMN) == {SortOrder.UPDATED}
    assert SortOrder.COST.next() is SortOrder.PRIORITY and SortOrder.STATUS.next() is SortOrder.PRIORITY


def test_a_colon_name_is_a_view_an_action_or_an_alias() -> None:
    assert resolve(":tasks", ACTIONS).view and resolve("tasks", ACTIONS).action is None
    assert resolve(":inbox", ACTIONS).action == "inbox"
    assert resolve(":q", ACTIONS).action == "quit"
    ctx = resolve(":ctx  prod ", ACTIONS)
    assert (ctx.name, ctx.action, ctx.argument) == ("ctx", "switch_context", "prod")
    assert resolve(":Refresh", ACTIONS).action == "refresh"
    with pytest.raises(CommandError, match="No such view: rules"):
        resolve(":rules", ACTIONS)  # its action is not on this board
    assert resolve(":rules", [*ACTIONS, "rules"]).action == "rules"
    with pytest.raises(CommandError, match="did you mean cancel"):
        resolve(":cancle", ACTIONS)
    with pytest.raises(CommandError, match="Type a view"):
        resolve(":", ACTIONS)
    aliases = {"p": "ctx production", "wf": "workflows", "loop": "loop2", "loop2": "loop"}
    assert expand("p", aliases) == "ctx production" and resolve("wf", ACTIONS, aliases).name == "workflows"
    with pytest.raises(CommandError):
        resolve("loop", ACTIONS, aliases)  # a loop of aliases ends, and names nothing


def test_completion_offers_what_the_board_has() -> None:
    assert candidates("", ACTIONS)[:6] == ["tasks", "inbox", "projects", "workflows", "ctx", "q"]
    assert "rules" not in candidates("r", ACTIONS) and "rules" in candidates("r", [*ACTIONS, "rules"])
    assert candidates("wo", ACTIONS) == ["workflows"]
    assert completion("wo", ["workflows"]) == "workflows" and completion("c", ["ctx"]) == "ctx "
    assert completion("c", ["cancel", "cleanup"]) == "c" and completion("ca", ["cancel", "canary"]) == "can"
    assert candidates("ctx p", ACTIONS, contexts=["prod", "local", "preview"]) == ["ctx prod", "ctx preview"]
    assert candidates("go l", ACTIONS, {"go": "ctx"}, ["local"]) == ["go local"]
    assert candidates("tasks x", ACTIONS) == []


def test_the_state_is_kept_per_context_and_a_bad_file_is_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state = BoardState(path)
    assert state.get("local") == {}
    state.put("local", sort="cost", descending=True)
    state.put("prod", sort="title")
    state.put("local", attention_first=False)
    assert BoardState(path).get("local") == {"sort": "cost", "descending": True, "attention_first": False}
    assert BoardState(path).get("prod") == {"sort": "title"}
    path.write_text("{not json")
    assert BoardState(path).get("local") == {}
    BoardState(path).put("local", sort="id")  # and is written over whole
    assert BoardState(path).get("local") == {"sort": "id"}
    assert not [p for p in path.parent.iterdir() if p.name != "state.json"]  # no temporary file left


def test_the_config_takes_aliases_and_says_what_is_wrong_with_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[aliases]\nwf = "workflows"\nProd = "ctx production "\n')
    assert load_config(path).aliases == {"wf": "workflows", "prod": "ctx production"}
    path.write_text('[aliases]\nwf = 3\n')
    with pytest.raises(ConfigError, match=r"aliases\.wf: must be the command it stands for"):
        load_config(path)
    path.write_text('aliases = "x"\n')
    with pytest.raises(ConfigError, match="aliases: must be a table"):
        load_config(path)


def test_a_bulk_action_sorts_the_marks_into_able_and_unable_with_reasons() -> None:
    rng = random.Random(3)
    tasks = [summary(i, rng) for i in range(40)]
    able, unable = sort_out("cancel", tasks, lambda t: Situation(task=t))
    assert {t.status for t in able} <= {TaskStatus.PLANNED, TaskStatus.QUEUED, TaskStatus.RUNNING,
                                        TaskStatus.AWAITING_INPUT}
    assert all("already" in reason for _, reason in unable) and len(able) + len(unable) == 40
    _, refused = sort_out("cancel", tasks[:3], lambda t: Situation(task=t),
                          lambda t, capability: f"{t.id} is read-only" if t.id.startswith("a/") else None)
    assert all(reason == f"{t.id} is read-only" for t, reason in refused if t.id.startswith("a/"))
