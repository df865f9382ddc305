"""What keeps lists fast at scale: the stored wire JSON, the summary view, trigger-kept totals, and
the migration that brings an older database up to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from taskboard.client import TaskboardClient
from taskboard.tui.board import Board
from taskboard_backend.store import MIGRATIONS, SUMMARY_LEAVES_OUT, _split_sql
from taskboard.models import Task


def make_tasks(n: int) -> list[Task]:
    return [Task.model_validate({
        "id": f"t-{i:04d}", "title": f"task {i}", "status": ["planned", "queued", "completed"][i % 3],
        "priority": (i * 7) % 4, "createdAt": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
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
