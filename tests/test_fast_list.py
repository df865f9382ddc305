"""The direct list path (FastListMiddleware) answers exactly as the FastAPI route does, and leaves
everything it does not fully understand to the route."""

from __future__ import annotations

import httpx
import pytest
from taskboard_backend.fast_list import plain_list_query

# An unknown parameter is ignored by the route but makes the direct path step aside: the same
# query, answered once by each.
VIA_ROUTE = "&via=route"

PLAIN_QUERIES = [
    "",
    "sort=-updated&limit=5",
    "status=planned&status=queued&sort=priority&limit=7",
    "status=planned,queued&sort=title&limit=3&offset=2",
    "status=planned&sort=-createdAt&view=summary",
    "sort=status&limit=4&offset=4",
    "limit=1000&offset=0",
    "limit=007",
]


async def test_the_direct_path_answers_exactly_as_the_route(start_server) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        project = (await http.post("/api/projects", json={"name": "fast"})).json()
        for n in range(24):
            body = {"title": f"task {n:02d} {'zyx'[n % 3]}", "priority": n % 4}
            if n % 2:
                body["projectId"] = project["id"]
            assert (await http.post("/api/tasks", json=body)).status_code == 201
        queries = [*PLAIN_QUERIES, f"projectId={project['id']}&sort=-created&limit=6",
                   f"status=planned&projectId={project['id']}&sort=priority"]
        for query in queries:
            assert plain_list_query(query.encode()) is not None, query  # the direct path takes it
            direct = await http.get(f"/api/tasks?{query}")
            routed = await http.get(f"/api/tasks?{query}{VIA_ROUTE}")
            assert direct.status_code == routed.status_code == 200, query
            assert direct.content == routed.content, query
            for header in ("content-type", "content-length", "x-total-count", "x-revision"):
                assert direct.headers[header] == routed.headers[header], (query, header)
        # And the answers are right, not merely alike: priority 0 (most urgent) first, then newest first.
        page = (await http.get("/api/tasks?sort=priority&limit=30")).json()
        assert len(page) == 24
        assert [(t["priority"], t["title"]) for t in page] == sorted(
            ((t["priority"], t["title"]) for t in page), key=lambda p: (p[0], -int(p[1].split()[1])))
        summary = (await http.get("/api/tasks?view=summary&limit=1")).json()[0]
        assert "description" not in summary


@pytest.mark.parametrize("query", [
    "status=",                 # names nothing: the route's 400
    "status=bogus",            # not a status: the route's 400
    "limit=0", "limit=1001", "limit=-1", "limit=5.0", "limit= 5", "offset=10000001",
    "sort=sideways", "view=compact",
    "limit=5&limit=6",         # a single-valued parameter twice: the route's 400
    "q=hello", "workflowId=w", "assignedAgent=a", "unknown=1",
    "projectId=" + "p" * 201,
])
def test_anything_unusual_is_left_to_the_route(query: str) -> None:
    assert plain_list_query(query.encode()) is None


@pytest.mark.parametrize("query, status", [
    ("status=", 400), ("status=bogus", 400), ("limit=0", 400), ("limit=5&limit=6", 400), ("sort=sideways", 400),
])
async def test_bad_lists_still_get_the_documented_error(server, query: str, status: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.get(f"/api/tasks?{query}")
    assert response.status_code == status
    assert response.json()["code"] == "validation_error"


async def test_the_direct_path_is_behind_the_api_key(start_server) -> None:
    server = start_server(env={"TASKBOARD_API_KEY": "the-right-key"})
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        refused = await http.get("/api/tasks?limit=5")
        allowed = await http.get("/api/tasks?limit=5", headers={"X-API-Key": "the-right-key"})
    assert refused.status_code == 401
    assert allowed.status_code == 200 and allowed.json() == []
