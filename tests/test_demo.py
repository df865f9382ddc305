"""`serve --demo`: a realistic board that keeps moving by itself."""

from __future__ import annotations

from taskboard.client import TaskboardClient
from tests.helpers import wait_until


async def test_demo_seeds_every_status_and_keeps_moving(start_server) -> None:
    # At 60x speed the minute-long demo cycle takes a second.
    server = start_server("--demo", "--demo-speed", "60")
    async with TaskboardClient(server.url) as client:
        projects = {p.name for p in await client.list_projects()}
        assert projects == {"Marketing Analysis", "Platform Reliability", "Research Digest"}
        [workflow] = await client.list_workflows()
        assert workflow.name == "Weekly research digest" and len(workflow.tasks) == 3

        async def every_status_seen() -> bool:
            counts = (await client.stats()).counts
            return all(counts[s] for s in ("planned", "queued", "running", "completed", "failed", "cancelled"))
        await wait_until(every_status_seen)

        # A question and a permission request come up, and unattended ones get answered.
        async def asked() -> bool:
            perms = await client.list_permissions(None)
            return any(p.status == "allowed" and p.decided_by == "user" for p in perms)
        await wait_until(asked, timeout=30)
        page = await client.list_tasks(limit=200)
        detail = await client.get_task(next(t.id for t in page.items if t.assigned_agent == "claude-code"))
        assert detail.project_name
        runtimes = {r.id: r for r in await client.runtimes()}
        assert runtimes["claude-code"].alias_of == "demo" and not runtimes["shell"].enabled
