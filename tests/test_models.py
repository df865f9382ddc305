"""The shared wire models: camelCase on the wire, the transition table as data, content detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskboard.models import TRANSITIONS, Task, TaskStatus, can_transition, detect_content_type, sources_for


def test_camel_case_on_the_wire_snake_case_in_python() -> None:
    task = Task.model_validate({"id": "t", "title": "x", "status": "running", "priority": 1,
                                "assignedAgent": "demo", "createdAt": "2026-04-03T10:30:00.000Z",
                                "updatedAt": "2026-04-03T10:31:15.000Z", "pendingPermissions": 1})
    assert task.assigned_agent == "demo" and task.needs_attention
    wire = task.wire()
    assert wire["assignedAgent"] == "demo" and "assigned_agent" not in wire


def test_the_transition_table_is_the_seeds_plus_awaiting_input() -> None:
    assert TRANSITIONS[TaskStatus.PLANNED] == {TaskStatus.QUEUED, TaskStatus.CANCELLED}
    assert TRANSITIONS[TaskStatus.RUNNING] == {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED,
                                               TaskStatus.AWAITING_INPUT}
    assert can_transition("failed", "running") and not can_transition("completed", "cancelled")
    assert sources_for("cancelled") == {TaskStatus.PLANNED, TaskStatus.QUEUED, TaskStatus.RUNNING,
                                        TaskStatus.AWAITING_INPUT}
    assert {s for s in TaskStatus if s.is_final} == {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}


@pytest.mark.parametrize(("text", "kind"), [
    ('{"papers_found": 15}', "json"),
    ("[1, 2, 3]", "json"),
    ("## Q4 Revenue Analysis\n\nRevenue grew 23% QoQ...", "markdown"),
    ("- one\n- two", "markdown"),
    ("def f(x):\n    return x * 2\n", "code"),
    ("const a = 1;\nfunction b() {\n  return a;\n}", "code"),
    ("Extracted 12 insights across 5 themes.", "text"),
    ("{not json at all", "text"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_content_type_detection(text: str | None, kind: str) -> None:
    assert detect_content_type(text) == kind


@given(st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\f", "\x85", "\x1c", "\u00a0", "\u3000", "\ufeff",
                                         "a", "é", "-"]), max_size=205))
def test_the_schema_and_the_server_agree_on_every_title(title: str) -> None:
    """A title is accepted exactly when the schema's pattern says so (the fuzz run found whitespace-only titles
    schema-valid and refused, and 201 characters with a space refused by the schema but taken)."""
    import re

    from pydantic import ValidationError

    from taskboard.models import TaskCreate

    pattern = TaskCreate.model_json_schema()["properties"]["title"]["pattern"]
    try:
        TaskCreate(title=title)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == bool(re.search(pattern, title))
