"""The direct list path (FastListMiddleware) answers exactly as the FastAPI route does, and leaves
everything it does not fully understand to the route."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# Every parameter the list takes, with values good and bad, each possibly repeated (the route
# refuses a single-valued one given twice, and more than 20 statuses).
_STATUS_VALUES = ["planned", "queued", "running", "completed", "failed", "cancelled", "awaiting_input",
                  "planned,queued", "", ",", "bogus", " running "]
_PARAMS = {
    "status": st.sampled_from(_STATUS_VALUES),
    "sort": st.sampled_from(["priority", "-priority", "created", "-updated", "title", "createdAt", "sideways", ""]),
    "limit": st.sampled_from(["1", "5", "1000", "1001", "0", "-1", "5.0", "007", "", "x"]),
    "offset": st.sampled_from(["0", "3", "10000000", "10000001", "-1", ""]),
    "view": st.sampled_from(["full", "summary", "compact"]),
    "projectId": st.sampled_from(["p", "", "p" * 200, "p" * 201]),
    "q": st.sampled_from(["task", ""]),
}
QUERIES = st.lists(
    st.tuples(st.sampled_from(sorted(_PARAMS)), st.integers(1, 25)).flatmap(
        lambda pair: st.lists(_PARAMS[pair[0]], min_size=pair[1], max_size=pair[1]).map(
            lambda values, name=pair[0]: [(name, v) for v in values])),
    max_size=4,
).map(lambda groups: [item for group in groups for item in group])


@given(query=QUERIES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_direct_path_and_the_route_agree_on_any_query(list_server: str, query: list[tuple[str, str]]) -> None:
    """Over generated query strings, repeated parameters included: the same status, body and headers
    whether the direct path answers or the route does."""
    encoded = urlencode(query)
    with httpx.Client(base_url=list_server, timeout=30) as http:
        direct = http.get(f"/api/tasks?{encoded}")
        routed = http.get(f"/api/tasks?{encoded}{VIA_ROUTE}")
    assert direct.status_code == routed.status_code, encoded
    assert direct.content == routed.content, encoded
    if direct.status_code == 200:
        for header in ("x-total-count", "x-revision"):
            assert direct.headers[header] == routed.headers[header], (encoded, header)


def test_twenty_one_statuses_are_the_routes_400() -> None:
    assert plain_list_query(b"&".join([b"status=planned"] * 20)) is not None
    assert plain_list_query(b"&".join([b"status=planned"] * 21)) is None


@pytest.fixture(scope="module")
def list_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.server import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("fastlist") / "db.db")
    proc.start()
    with httpx.Client(base_url=proc.url) as http:
        project = http.post("/api/projects", json={"name": "p"}).json()
        for n in range(12):
            body: dict = {"title": f"task {n}", "priority": n % 4}
            if n % 3 == 0:
                body["projectId"] = project["id"]
            http.post("/api/tasks", json=body)
    yield proc.url
    proc.stop()


async def test_deep_pages_read_through_the_index_agree_with_shallow_ones(start_server) -> None:
    """From offset 1,000 a page is found in the index before its rows are read (a deferred join), and a
    page of more than 300 rows is read off the loop: either way, the same rows in the same order."""
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        project = (await http.post("/api/projects", json={"name": "deep"})).json()
        for n in range(1_150):
            body = {"title": f"task {n % 97:02d}", "priority": n % 4, **({"projectId": project["id"]} if n % 3 else {})}
            assert (await http.post("/api/tasks", json=body)).status_code == 201
        for sort in ("-created", "priority", "title", "-updated"):
            for extra in ("", f"&projectId={project['id']}", "&view=summary"):
                base = f"/api/tasks?sort={sort}{extra}"
                shallow = (await http.get(f"{base}&limit=400&offset=700")).json()  # read whole, off the loop
                deep = await http.get(f"{base}&limit=100&offset=1000")
                assert deep.status_code == 200
                total = int(deep.headers["x-total-count"])
                assert deep.json() == shallow[300:400], (sort, extra)
                pages = [(await http.get(f"{base}&limit=250&offset={at}")).json() for at in range(0, total, 250)]
                ids = [t["id"] for page in pages for t in page]
                assert len(ids) == len(set(ids)) == total, (sort, extra)
