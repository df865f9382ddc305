"""What keeps lists fast at scale: the stored wire JSON, the summary view, trigger-kept totals, and
the migration that brings an older database up to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taskboard.tui.sorted_keys as sorted_keys
from taskboard.client import TaskboardClient
from taskboard.models import Task, TaskSummary
from taskboard.tui.board import STATUS_RANK, Board, SortOrder
from taskboard.tui.sorted_keys import SortedKeys
from taskboard_backend.store import MIGRATIONS, SUMMARY_LEAVES_OUT, _split_sql


def make_tasks(n: int) -> list[Task]:
    return [Task.model_validate({
        "id": f"t-{i:04d}", "title": f"task {i}",
        "status": ["planned", "queued", "completed", "awaiting_input", "running"][i % 5],
        "priority": (i * 7) % 4, "createdAt": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i % 7:03d}Z",
        "updatedAt": "2026-01-02T00:00:00.000Z", "pendingPermissions": 1 if i % 50 == 0 else 0,
        "revision": i + 1}) for i in range(n)]


async def test_summary_view_leaves_out_the_long_fields(client: TaskboardClient) -> None:
    project = await client.create_project("summary")
    task = await client.create_task(title="summarised", project_id=project.id, description="long text",
                                    params={"a": 1}, document_ids=["d"])
    full = httpx.get(f"{client.base_url}/api/tasks", params={"projectId": project.id}).json()
    summary = httpx.get(f"{client.base_url}/api/tasks", params={"projectId": project.id, "view": "summary"}).json()
    assert full[0]["description"] == "long text" and full[0]["params"] == {"a": 1}
    assert not SUMMARY_LEAVES_OUT & summary[0].keys()
    assert {k: v for k, v in full[0].items() if k not in SUMMARY_LEAVES_OUT} == summary[0]
    page = await client.list_tasks(project_id=project.id, summary=True)
    assert page.items[0].id == task.id and page.items[0].description is None
    bad = httpx.get(f"{client.base_url}/api/tasks", params={"view": "everything"})
    assert bad.status_code == 400 and "view" in bad.json()["error"]["fieldErrors"]


async def test_totals_follow_every_change(client: TaskboardClient) -> None:
    project = await client.create_project("totals")
    ids = [(await client.create_task(title=f"t{i}", project_id=project.id)).id for i in range(5)]
    await client.queue(ids[0])
    await client.queue(ids[1])
    await client.cancel(ids[2])
    await client.delete_task(ids[3])
    for status, expected in (("planned", 1), ("queued", 2), ("cancelled", 1), ("planned,queued", 3)):
        page = await client.list_tasks(project_id=project.id, status=status, limit=1)
        assert page.total == expected, status
    assert (await client.get_project(project.id)).task_count == 4


async def test_a_version_1_database_is_migrated_and_keeps_its_tasks(tmp_path: Path, start_server) -> None:
    db_path = tmp_path / "v1.db"
    db = sqlite3.connect(db_path)
    for statement in _split_sql(MIGRATIONS[1]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO tasks (id, title, status, priority, created_at, updated_at, params, revision) VALUES "
               "('old-1', 'from v1', 'planned', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',"
               " '{\"k\":[1,null]}', 3)")
    db.commit()
    db.close()
    server = start_server(db=db_path)
    async with TaskboardClient(server.url) as client:
        page = await client.list_tasks()
        assert [(t.id, t.title, t.params, t.revision) for t in page.items] == [("old-1", "from v1", {"k": [1, None]}, 3)]
        assert page.total == 1
        await client.queue("old-1")
        assert (await client.list_tasks(status="queued")).items[0].id == "old-1"


def test_pages_merged_into_the_board_give_the_order_a_full_sort_gives() -> None:
    tasks = make_tasks(300)
    paged, whole = Board(), Board()
    for start in range(0, 300, 70):  # pages in created order, as the TUI loads them
        paged.load(tasks[start:start + 70])
    whole.load(reversed(tasks))
    assert list(paged.order) == list(whole.order) == [k[-1] for k in sorted(whole.sort_key(t) for t in tasks)]
    moved = tasks[5].model_copy(update={"priority": 0, "revision": tasks[5].revision + 1})
    paged.upsert(moved)
    assert paged.index_of(moved.id) is not None and len(paged) == 300


def reference_key(board: Board, task: Task) -> tuple[object, ...]:
    """The documented order, spelled out field by field: attention first (when on), then the sort's
    fields, newest first, the id last."""
    newest = -task.created_at.timestamp()
    fields: tuple[object, ...] = {
        SortOrder.PRIORITY: (task.priority, newest),
        SortOrder.CREATED: (newest,),
        SortOrder.UPDATED: (-task.updated_at.timestamp(),),
        SortOrder.STATUS: (STATUS_RANK[task.status], task.priority, newest),
    }[board.sort]
    attention = (0 if task.needs_attention else 1,) if board.attention_first else ()
    return (*attention, *fields, task.id)


# The four orders `s` cycles through; the other columns, either way, in tests/test_views.py.
@pytest.mark.parametrize("sort", [SortOrder.PRIORITY, SortOrder.CREATED, SortOrder.UPDATED, SortOrder.STATUS])
@pytest.mark.parametrize("attention_first", [True, False])
def test_every_sort_orders_the_board_as_documented(sort: SortOrder, attention_first: bool) -> None:
    tasks = make_tasks(2500)
    board = Board(sort=sort, attention_first=attention_first)
    for start in range(0, len(tasks), 1000):
        board.load(tasks[start:start + 1000])
    expected = [t.id for t in sorted(tasks, key=lambda t: reference_key(board, t))]
    assert list(board.order) == expected
    # A change moves its row to where a full sort would put it.
    moved = tasks[7].model_copy(update={"priority": 3, "status": "running", "revision": 99,
                                        "updated_at": tasks[-1].updated_at.replace(year=2027)})
    board.upsert(moved)
    tasks[7] = moved
    assert list(board.order) == [t.id for t in sorted(tasks, key=lambda t: reference_key(board, t))]
    assert board.index_of(moved.id) == list(board.order).index(moved.id)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=400), st.integers(1, 6))
def test_sorted_keys_agree_with_a_sorted_list(operations: list[tuple[bool, int]], chunk: int) -> None:
    default, sorted_keys.CHUNK = sorted_keys.CHUNK, chunk  # tiny chunks: splits and empty chunks happen
    try:
        keys, reference = SortedKeys(range(0, 40, 3)), set(range(0, 40, 3))
        for add, key in operations:
            if add and key not in reference:
                keys.add(key)
                reference.add(key)
            elif not add:
                assert keys.remove(key) == (key in reference)
                reference.discard(key)
            ordered = sorted(reference)
            assert list(keys) == ordered and len(keys) == len(ordered)
            if ordered:
                assert [keys[i] for i in range(len(ordered))] == ordered and keys[-1] == ordered[-1]
                assert keys.index(ordered[len(ordered) // 2]) == len(ordered) // 2
            assert keys.index(-1) is None
    finally:
        sorted_keys.CHUNK = default


async def test_board_summaries_are_the_list_rows_in_slots(client: TaskboardClient) -> None:
    project = await client.create_project("rows")
    created = await client.create_task(title="a row", project_id=project.id, priority=1, description="long",
                                       params={"a": 1})
    page = await client.list_summaries(limit=1000)
    summary = next(s for s in page.items if s.id == created.id)
    assert isinstance(summary, TaskSummary) and not hasattr(summary, "__dict__")
    listed = next(t for t in (await client.list_tasks(limit=1000)).items if t.id == created.id)
    assert summary == TaskSummary.of(listed)
    assert page.total == (await client.list_tasks(limit=1)).total and page.revision is not None
    # The full model made back from a summary has every summary field, and none of the long ones.
    task = summary.to_task()
    assert task.title == "a row" and task.priority == 1 and task.created_at == listed.created_at
    assert task.description is None and task.params is None
