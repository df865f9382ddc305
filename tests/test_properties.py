"""Property tests (Hypothesis): the transition table against the real store, and the rule matcher.

The state machine drives the real server through PATCH with statuses chosen at random and checks
every answer against `TRANSITIONS`; the matcher properties check the promises SECURITY.md makes.
"""

from __future__ import annotations

import posixpath
import re

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from taskboard.models import TRANSITIONS, TaskStatus
from taskboard_backend.permissions import (
    FILE_TOOLS,
    InvalidPattern,
    Rule,
    compile_pattern,
    decide,
    request_key,
    suggest_pattern,
)
from tests.helpers import LONG

STATUSES = st.sampled_from(list(TaskStatus))


class TransitionMachine(RuleBasedStateMachine):
    """A model of each task's status beside the real one; they must never disagree."""

    url = ""
    tasks = Bundle("tasks")

    @initialize()
    def connect(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.model: dict[str, TaskStatus] = {}
        self.ran: set[str] = set()  # resuming needs a session: a task that never ran has none

    def teardown(self) -> None:
        for task_id, status in self.model.items():
            if status.is_active:
                self.http.post(f"/api/tasks/{task_id}/cancel")
        self.http.close()

    @rule(target=tasks)
    def create(self) -> str:
        response = self.http.post("/api/tasks", json={"title": "property", "params": LONG})
        assert response.status_code == 201
        task_id = response.json()["id"]
        self.model[task_id] = TaskStatus.PLANNED
        return task_id

    @rule(task_id=tasks, target_status=STATUSES)
    def patch_status(self, task_id: str, target_status: TaskStatus) -> None:
        current = self.model[task_id]
        response = self.http.patch(f"/api/tasks/{task_id}", json={"status": target_status.value})
        # awaiting_input is the agent's to set, never a client's.
        legal = target_status in TRANSITIONS[current] and target_status != TaskStatus.AWAITING_INPUT
        if target_status == TaskStatus.RUNNING and current in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            legal = legal and task_id in self.ran
        if legal:
            assert response.status_code == 200, response.text
            assert response.json()["status"] == target_status.value
            self.model[task_id] = target_status
            if target_status == TaskStatus.RUNNING:
                self.ran.add(task_id)
        else:
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "invalid_transition"

    @rule(task_id=tasks)
    def cancel(self, task_id: str) -> None:
        current = self.model[task_id]
        response = self.http.post(f"/api/tasks/{task_id}/cancel")
        if TaskStatus.CANCELLED in TRANSITIONS[current]:
            assert response.status_code == 200, response.text
            self.model[task_id] = TaskStatus.CANCELLED
        else:
            assert response.status_code == 400, response.text

    @invariant()
    def the_store_agrees(self) -> None:
        for task_id, status in self.model.items():
            assert self.http.get(f"/api/tasks/{task_id}").json()["status"] == status.value


def test_the_transition_table_holds_against_the_real_store(server) -> None:
    TransitionMachine.url = server.url
    run_state_machine_as_test(TransitionMachine, settings=settings(
        max_examples=15, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow], derandomize=True))


# --------------------------------------------------------------------------- the rule matcher

SEGMENTS = st.sampled_from(["reports", "etc", "..", ".", "", "a", "b", "passwd", "x.md"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))
TOOLS = st.sampled_from(["write", "read", "Write", "bash", "edit"])
PATTERNS = st.builds(lambda tool, path, tail: f"{tool}:{path}{tail}", TOOLS, PATHS, st.sampled_from(["", "/*", "/**", "*"]))
BEHAVIOURS = st.sampled_from(["allow", "deny"])


def rules_from(specs: list[tuple[str, str]]) -> list[Rule]:
    return [Rule(id=str(n), pattern=p, behavior=b) for n, (p, b) in enumerate(specs)]


@given(st.lists(st.tuples(PATTERNS, BEHAVIOURS), max_size=6), TOOLS, PATHS)
def test_a_matching_deny_rule_always_wins(specs: list[tuple[str, str]], tool: str, path: str) -> None:
    rules = rules_from(specs)
    key = request_key(tool, {"file_path": path})
    denied = any(b == "deny" and compile_pattern(p).matches(key) for p, b in specs)
    decision = decide(rules, key)
    if denied:
        assert decision is not None and decision[0] == "deny"
    elif decision is not None:
        assert decision[0] == "allow"


@given(st.lists(st.tuples(PATTERNS, BEHAVIOURS), max_size=4), TOOLS, PATHS,
       st.sampled_from(["nocolon", "write:", "Bad Tool:/x", "write:   ", "w\x00:/x"]))
def test_an_unreadable_rule_blocks_automatic_approval(specs: list[tuple[str, str]], tool: str, path: str,
                                                      broken: str) -> None:
    rules = [*rules_from(specs), Rule(id="broken", pattern=broken, behavior="deny")]
    decision = decide(rules, request_key(tool, {"file_path": path}))
    assert decision is None or decision[0] == "deny"


@given(TOOLS, PATHS)
def test_dot_segments_cannot_escape_a_directory_rule(tool: str, path: str) -> None:
    key = request_key(tool, {"file_path": path})
    if tool.lower() in FILE_TOOLS and compile_pattern(f"{tool}:/reports/*").matches(key):
        real = posixpath.normpath(re.sub(r"/+", "/", path))  # every run of slashes is one (a leading // too)
        assert real == "/reports" or posixpath.dirname(real) == "/reports", (path, real)


@given(TOOLS, PATHS, PATHS)
def test_always_allow_is_never_broader_than_the_suggested_pattern(tool: str, seen: str, other: str) -> None:
    """The pattern offered in the modal matches the request it was offered for, and a file pattern
    covers that request's directory and nothing above or beside it."""
    suggested = suggest_pattern(tool, {"file_path": seen})
    try:
        compiled = compile_pattern(suggested)
    except InvalidPattern:
        return  # an empty path: the modal refuses to save it
    seen_key = request_key(tool, {"file_path": seen})
    assert compiled.matches(seen_key)
    other_key = request_key(tool, {"file_path": other})
    if tool.lower() in FILE_TOOLS and compiled.matches(other_key) and other_key != seen_key:
        seen_path = seen_key.partition(":")[2]
        seen_dir = (seen_path.rstrip("/") if seen_path.endswith("/") else posixpath.dirname(seen_path)) or "/"
        other_path = other_key.partition(":")[2].rstrip("/") or "/"
        # The directory itself, or an entry directly in it: never above it, never deeper, never beside.
        assert other_path == seen_dir or posixpath.dirname(other_path) == seen_dir, (seen, other)
