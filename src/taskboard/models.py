"""Wire models shared by the backend, the client, the CLI and the TUI.

Everything here is camelCase on the wire and snake_case in Python. Request
models use strict primitive types so that `"priority": "1"` is refused the way
seed 001's Zod schemas refuse it, instead of being coerced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

# Seed 001 constants.
MAX_RESUME_COUNT = 3
DEFAULT_MAX_TURNS = 50
DEFAULT_MAX_BUDGET_USD = 2.00
WORKFLOW_STEP_MAX_BUDGET_USD = 5.00

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
MESSAGE_MAX = 10_000
PATTERN_MAX = 500
SAVED_BY_MAX = 200
# A saved rule may last at most this long (ten years); without expiresInSeconds it lasts until deleted.
RULE_LIFETIME_MAX = 10 * 365 * 24 * 3600
LIST_LIMIT_MAX = 1000
LIST_LIMIT_DEFAULT = 100

# A title as Zod's z.string().trim(): surrounding spaces go, so a title of only spaces is empty and
# refused with the seed's "String must contain at least 1 character(s)" (a blank row on the board otherwise).
# JavaScript's trim() removes exactly these (ECMA-262 WhiteSpace and LineTerminator), not Python's isspace()
# set (which adds \x1c-\x1f and \x85): the server trims as Zod does, and the schema's pattern names the same
# characters explicitly, so a JSON-Schema (ECMA regex) client and the server agree on every title.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_SPACE_CLASS = "".join(f"\\u{ord(c):04x}" for c in JS_SPACE)


def _js_trim(value: Any) -> Any:
    return value.strip(JS_SPACE) if isinstance(value, str) else value


TrimmedStr = Annotated[StrictStr, BeforeValidator(_js_trim)]


def _trimmed_title_schema(schema: dict[str, Any]) -> None:
    """The schema says what is accepted: 1 to TITLE_MAX characters once the surrounding whitespace is gone
    (min/maxLength would count the spaces that are trimmed, and refuse a title the server takes)."""
    schema.pop("minLength", None)
    schema.pop("maxLength", None)
    space = _JS_SPACE_CLASS
    schema["pattern"] = f"^[{space}]*[^{space}]([\\s\\S]{{0,{TITLE_MAX - 2}}}[^{space}])?[{space}]*$"


TITLE_SCHEMA = _trimmed_title_schema

# Runtime ids named by seed 001, plus the two this project ships.
SEED_AGENT_IDS = (
    "claude-code",
    "openai-codex-app-server",
    "anthropic-direct",
    "openai-direct",
    "ollama",
)
AgentId = Literal[
    "claude-code",
    "openai-codex-app-server",
    "anthropic-direct",
    "openai-direct",
    "ollama",
    "demo",
    "shell",
]


def _json_number(value: Any) -> Any:
    # JSON has one number type: 1.0 is the integer 1 (as in Zod), but "1" and true are not numbers.
    if isinstance(value, str | bool):
        raise ValueError(f"Expected number, received {'string' if isinstance(value, str) else 'boolean'}")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]
JsonFloat = Annotated[float, BeforeValidator(_json_number)]
# Seconds a saved rule lasts; its bounds inside the type, so the schema's nullable form keeps them.
RuleLifetime = Annotated[int, Field(ge=1, le=RULE_LIFETIME_MAX), BeforeValidator(_json_number)]

# A rule pattern is tool:argument; the schema says so, the matcher checks the rest.
# tool:argument. The server's parser follows this exactly (ASCII whitespace only, no NUL), so the
# schema and the server never disagree about what a pattern is.
PATTERN_SPACE = " \t\n\r\f\v"
PATTERN_REGEX = r"^[ \t\n\r\f\v]*(\*|[A-Za-z0-9_.\-]{1,64})[ \t\n\r\f\v]*:[^\x00]*[^\x00 \t\n\r\f\v][^\x00]*$"
# A pattern for every tool (`*:…`), or for every argument of one (an argument of wildcards and `/` only).
BROAD_PATTERN_REGEX = (r"^[ \t\n\r\f\v]*(\*[ \t\n\r\f\v]*:[\s\S]*|[A-Za-z0-9_.\-]{1,64}[ \t\n\r\f\v]*:"
                       r"[*/? \t\n\r\f\v]*)$")


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
        serialize_by_alias=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase, without unset optional noise."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class RequestModel(WireModel):
    # Unknown keys are refused: a typo like {"stauts": "queued"} must not be a silent no-op.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        serialize_by_alias=True,
    )


# --------------------------------------------------------------------------- status


class TaskStatus(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_INPUT = "awaiting_input"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self in (TaskStatus.RUNNING, TaskStatus.AWAITING_INPUT)


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

# The transition table (seed 001, plus awaiting_input from seed 002), as data.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PLANNED: frozenset({TaskStatus.QUEUED, TaskStatus.CANCELLED}),
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.PLANNED, TaskStatus.CANCELLED}),
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.AWAITING_INPUT,
        }
    ),
    TaskStatus.AWAITING_INPUT: frozenset(
        {TaskStatus.RUNNING, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset({TaskStatus.PLANNED}),
    TaskStatus.FAILED: frozenset({TaskStatus.PLANNED, TaskStatus.QUEUED, TaskStatus.RUNNING}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.PLANNED, TaskStatus.RUNNING}),
}


def can_transition(current: TaskStatus | str, target: TaskStatus | str) -> bool:
    return TaskStatus(target) in TRANSITIONS[TaskStatus(current)]


def sources_for(target: TaskStatus | str) -> frozenset[TaskStatus]:
    """Every status from which `target` may be reached."""
    target = TaskStatus(target)
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


# --------------------------------------------------------------------------- the task rules
#
# What a task may do, in the words the server refuses with. The backend's checks call these, and
# so does taskboard/actions.py (the TUI's greyed keys, the palette, the CLI): one rule, one place.

# Statuses from which running again means resuming the last session (failed/cancelled -> running).
RESUMABLE = frozenset(s for s in sources_for(TaskStatus.RUNNING) if s.is_final)
# Only a queued task executes: from the other statuses that may become running it is a resume, or
# the agent's own step (awaiting_input -> running, when answered).
EXECUTABLE = frozenset({TaskStatus.QUEUED})


def transition_refusal(current: TaskStatus | str, target: TaskStatus | str) -> str | None:
    """Why `current -> target` is not allowed, or None when TRANSITIONS allows it."""
    current, target = TaskStatus(current), TaskStatus(target)
    if target in TRANSITIONS[current]:
        return None
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
    return f"Invalid status transition: {current.value} → {target.value} (allowed from {current.value}: {allowed})"


def execute_refusal(status: TaskStatus | str) -> str | None:
    status = TaskStatus(status)
    if status in EXECUTABLE:
        return None
    return (f"Task not in queued state (current: {status.value}); queue it first with "
            'PATCH {"status": "queued"}')


def resume_refusal(status: TaskStatus | str, attempt: int, resume_count: int) -> str | None:
    """Why the task cannot resume: it must be failed or cancelled, have run (a session to resume),
    and be under MAX_RESUME_COUNT resumes."""
    status = TaskStatus(status)
    if status not in RESUMABLE:
        return f"Task must be failed or cancelled to resume (current: {status.value})"
    if attempt == 0:
        return "No session to resume: the task has never been executed"
    if resume_count >= MAX_RESUME_COUNT:
        return f"Resume limit reached (max {MAX_RESUME_COUNT}): re-queue the task for a fresh start"
    return None


def message_refusal(status: TaskStatus | str) -> str | None:
    status = TaskStatus(status)
    if status is TaskStatus.AWAITING_INPUT:
        return None
    return f"Task is not awaiting input (current: {status.value})"


def delete_refusal(status: TaskStatus | str) -> str | None:
    """Any task may be deleted; a running one is stopped first (the server does both at once)."""
    return None


# --------------------------------------------------------------------------- tasks


class Progress(WireModel):
    current: int = 0
    total: int | None = None
    percent: float | None = None
    phase: str | None = None
    message: str | None = None


class Usage(WireModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0
    model_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / 1_000_000


class Task(WireModel):
    """The task object of seed 001 (list form), with the additions of DESIGN.md."""

    id: str
    title: str
    description: str | None = None
    project_id: str | None = None
    status: TaskStatus
    priority: int
    assigned_agent: str | None = None
    agent_profile: str | None = None
    created_at: datetime
    updated_at: datetime
    # Additions (seeds 000/002/003/004 and the monitor's needs).
    task_type: str | None = None
    params: dict[str, Any] | None = None
    result: str | None = None
    result_data: Any = None
    error: str | None = None
    progress: Progress | None = None
    workflow_id: str | None = None
    step_index: int | None = None
    source_type: str = "manual"
    parent_id: str | None = None
    document_ids: list[str] = Field(default_factory=list)
    resume_count: int = 0
    attempt: int = 0
    pending_permissions: int = 0
    cost_micros: int = 0
    total_tokens: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    revision: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.status == TaskStatus.AWAITING_INPUT or self.pending_permissions > 0


@pydantic_dataclass(slots=True, config=ConfigDict(alias_generator=to_camel, populate_by_name=True))
class TaskSummary:
    """A task as a board holds it: the `view=summary` fields in slots, validated straight from JSON.

    Boards hold 100,000 of these. A `Task` costs ~1.4 KB and ~23 µs to parse (a 30-key __dict__ and a
    fields-set record per instance); this costs well under half of both. `to_task()` makes the full
    model for the one task a pane shows."""

    id: str
    title: str
    status: TaskStatus
    priority: int
    created_at: datetime
    updated_at: datetime
    project_id: str | None = None
    assigned_agent: str | None = None
    agent_profile: str | None = None
    task_type: str | None = None
    error: str | None = None
    progress: Progress | None = None
    workflow_id: str | None = None
    step_index: int | None = None
    source_type: str = "manual"
    parent_id: str | None = None
    resume_count: int = 0
    attempt: int = 0
    pending_permissions: int = 0
    cost_micros: int = 0
    total_tokens: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    revision: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.status == TaskStatus.AWAITING_INPUT or self.pending_permissions > 0

    @classmethod
    def of(cls, task: Task) -> TaskSummary:
        return cls(**{name: getattr(task, name) for name in _SUMMARY_FIELDS})

    def to_task(self) -> Task:
        """The full model with what a summary has; what it leaves out is unset (None or empty)."""
        return Task.model_construct(**{name: getattr(self, name) for name in _SUMMARY_FIELDS})


_SUMMARY_FIELDS = tuple(TaskSummary.__dataclass_fields__)


class TaskDetail(Task):
    """GET /api/tasks/{id}: the task with resolved names and usage from the cost ledger."""

    project_name: str | None = None
    workflow_name: str | None = None
    schedule_name: str | None = None
    usage: Usage | None = None
    # The unified diff of what the task's agent changed, its runs' in order (openai-codex-app-server).
    diff: str | None = None


class TaskCreate(RequestModel):
    title: TrimmedStr = Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=TITLE_SCHEMA)
    description: StrictStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    project_id: StrictStr | None = Field(default=None, max_length=100)
    priority: JsonInt = Field(default=2, ge=0, le=3)
    assigned_agent: AgentId | None = None
    agent_profile: StrictStr | None = Field(default=None, max_length=100)
    document_ids: list[StrictStr] | None = Field(default=None, max_length=100)
    task_type: StrictStr | None = Field(default=None, max_length=100)
    params: dict[str, Any] | None = None


class TaskUpdate(RequestModel):
    # title, status and priority may be left out but not cleared: not nullable, default unset.
    title: TrimmedStr = Field(default=None, min_length=1, max_length=TITLE_MAX,  # type: ignore[assignment]
                              json_schema_extra=TITLE_SCHEMA)
    description: StrictStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    status: TaskStatus = Field(default=None)  # type: ignore[assignment]
    priority: JsonInt = Field(default=None, ge=0, le=3)  # type: ignore[assignment]
    assigned_agent: AgentId | None = None
    agent_profile: StrictStr | None = Field(default=None, max_length=100)
    result: StrictStr | None = Field(default=None, max_length=1_000_000)
    document_ids: list[StrictStr] | None = Field(default=None, max_length=100)


class TaskPage(WireModel):
    """One page of GET /api/tasks: the array body plus its X-Total-Count and X-Revision headers."""

    items: list[Task]
    total: int
    revision: int | None = None
    limit: int | None = None
    offset: int = 0


@dataclass(slots=True)
class SummaryPage:
    """One page of a board's list: summaries, the total and the revision to watch from."""

    items: list[TaskSummary]
    total: int
    revision: int | None = None
    offset: int = 0

    @classmethod
    def of(cls, page: TaskPage) -> SummaryPage:
        return cls([TaskSummary.of(task) for task in page.items], page.total, page.revision, page.offset)


class Success(WireModel):
    success: bool = True


class Accepted(WireModel):
    message: str


# --------------------------------------------------------------------------- output


ContentType = Literal["text", "markdown", "code", "json", "unknown"]

_MARKDOWN_HINTS = re.compile(
    r"(^#{1,6}\s)|(^\s*[-*+]\s)|(^\s*\d+\.\s)|(\*\*[^*]+\*\*)|(^```)|(\[[^\]]+\]\([^)]+\))|(^>\s)|(^\|.*\|$)",
    re.MULTILINE,
)
_CODE_HINTS = re.compile(
    r"^\s*(def |class |import |from \S+ import |function |const |let |var |#include|package |"
    r"public |private |fn |func |SELECT |INSERT |CREATE |return |if \(|for \(|#!/)",
    re.MULTILINE,
)


def detect_content_type(text: str | None) -> ContentType:
    """Seed 001's auto-detected contentType: text, markdown, code, json or unknown."""
    if text is None or not text.strip():
        return "unknown"
    stripped = text.strip()
    if stripped[0] in "{[":
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass
    if "\x00" in text:
        return "unknown"
    if _MARKDOWN_HINTS.search(text) and not stripped.startswith(("def ", "import ", "class ")):
        return "markdown"
    lines = [ln for ln in stripped.splitlines() if ln.strip()]
    code_lines = sum(1 for ln in lines if _CODE_HINTS.match(ln) or ln.rstrip().endswith((";", "{", "}")))
    if lines and code_lines / len(lines) >= 0.3:
        return "code"
    return "text"


class TaskOutput(WireModel):
    task_id: str
    status: TaskStatus
    result: str
    content_type: ContentType


class TaskResult(WireModel):
    """GET /api/tasks/{id}/result (seed 004): only for completed tasks."""

    task_id: str
    status: TaskStatus
    result: str | None = None
    result_data: Any = None
    content_type: ContentType = "unknown"


# --------------------------------------------------------------------------- logs, progress


class LogEntry(WireModel):
    id: int | None = None
    task_id: str | None = None
    event_type: str
    message: str
    timestamp: datetime
    data: dict[str, Any] | None = None


class ProgressEvent(WireModel):
    id: int | None = None
    task_id: str
    status: TaskStatus
    progress: Progress | None = None
    timestamp: datetime


# --------------------------------------------------------------------------- messages


class MessageCreate(RequestModel):
    message: StrictStr = Field(min_length=1, max_length=MESSAGE_MAX)


class TaskMessage(WireModel):
    id: int
    task_id: str
    role: Literal["agent", "user"]
    message: str
    created_at: datetime


# --------------------------------------------------------------------------- permissions


class PermissionStatus(StrEnum):
    PENDING = "pending"
    ALLOWED = "allowed"
    DENIED = "denied"
    EXPIRED = "expired"


class PermissionRequest(WireModel):
    id: str  # the notificationId of seed 001
    task_id: str
    task_title: str | None = None
    tool_name: str
    tool_input: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    suggested_pattern: str
    status: PermissionStatus = PermissionStatus.PENDING
    behavior: Literal["allow", "deny"] | None = None
    response_message: str | None = None
    decided_by: Literal["user", "rule"] | None = None
    rule_id: str | None = None
    created_at: datetime
    resolved_at: datetime | None = None


class PermissionResponse(RequestModel):
    """POST /api/tasks/{id}/respond."""

    notification_id: StrictStr = Field(min_length=1, max_length=200)
    behavior: Literal["allow", "deny"]
    message: StrictStr | None = Field(default=None, max_length=MESSAGE_MAX)
    updated_input: dict[str, Any] | None = None
    always_allow: StrictBool | None = None
    permission_pattern: StrictStr | None = Field(default=None, min_length=1, max_length=PATTERN_MAX,
                                                 json_schema_extra={"pattern": PATTERN_REGEX})
    # A pattern for every tool, or every argument of one, is refused unless this says it is meant.
    allow_broad: StrictBool = False
    # With alwaysAllow: the rule it saves stops matching this many seconds after it is saved,
    # and who saved it (shown where the rules are listed).
    expires_in_seconds: RuleLifetime | None = Field(default=None, description=(
        "With alwaysAllow: the saved rule stops matching this many seconds from now (by the server's clock)."))
    saved_by: StrictStr | None = Field(default=None, min_length=1, max_length=SAVED_BY_MAX,
                                       description="With alwaysAllow: who saves the rule, e.g. user@host.")


class PermissionRule(WireModel):
    id: str
    pattern: str
    behavior: Literal["allow", "deny"]
    source: str = "user"
    created_at: datetime
    # Issue 25, additive: who saved it, how many requests it has answered since (and when last), and
    # when it stops matching (absent: never). `expired` is the server's own clock's say.
    saved_by: str | None = None
    match_count: int = 0
    last_matched_at: datetime | None = None
    expires_at: datetime | None = None
    expired: bool = False


class PermissionRuleCreate(RequestModel):
    # The schema says what the server checks: an allow rule whose pattern covers every tool, or every
    # argument of one (BROAD_PATTERN_REGEX), is valid only with allowBroad true.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"behavior": {"const": "allow"}, "allowBroad": {"const": False}}},
        "then": {"properties": {"pattern": {"not": {"pattern": BROAD_PATTERN_REGEX}}}},
    })

    pattern: StrictStr = Field(min_length=1, max_length=PATTERN_MAX, json_schema_extra={"pattern": PATTERN_REGEX})
    behavior: Literal["allow", "deny"]
    # An allow rule for every tool, or for every argument of one, is refused unless this says it is meant.
    allow_broad: StrictBool = False
    expires_in_seconds: RuleLifetime | None = Field(default=None, description=(
        "The rule stops matching this many seconds from now (by the server's clock); absent: never."))
    saved_by: StrictStr | None = Field(default=None, min_length=1, max_length=SAVED_BY_MAX,
                                       description="Who saves the rule, e.g. user@host; shown with it.")


# --------------------------------------------------------------------------- provenance, siblings


class LineageLink(WireModel):
    type: str
    id: str
    name: str | None = None


class Provenance(WireModel):
    task_id: str
    source_type: str
    parent_id: str | None = None
    parent_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    created_at: datetime
    chain: list[LineageLink] = Field(default_factory=list)


class Sibling(WireModel):
    id: str
    title: str
    status: TaskStatus
    created_at: datetime
    step_index: int | None = None


# --------------------------------------------------------------------------- projects, workflows


class Project(WireModel):
    id: str
    name: str
    description: str | None = None
    working_directory: str | None = None
    created_at: datetime
    task_count: int = 0


class ProjectCreate(RequestModel):
    name: StrictStr = Field(min_length=1, max_length=TITLE_MAX)
    description: StrictStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    # Where the project's agents work (an absolute path; a claude-code run checks it against the
    # server's allowed roots).
    working_directory: StrictStr | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^/")


class WorkflowStep(RequestModel):
    title: TrimmedStr = Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=TITLE_SCHEMA)
    description: StrictStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    priority: JsonInt = Field(default=2, ge=0, le=3)
    assigned_agent: AgentId | None = None
    agent_profile: StrictStr | None = Field(default=None, max_length=100)
    task_type: StrictStr | None = Field(default=None, max_length=100)
    params: dict[str, Any] | None = None


class WorkflowCreate(RequestModel):
    name: StrictStr = Field(min_length=1, max_length=TITLE_MAX)
    project_id: StrictStr | None = Field(default=None, max_length=100)
    steps: list[WorkflowStep] = Field(min_length=1, max_length=50)
    start: StrictBool = True


class Workflow(WireModel):
    id: str
    name: str
    project_id: str | None = None
    status: str
    created_at: datetime
    tasks: list[Task] = Field(default_factory=list)


class CleanupRequest(RequestModel):
    older_than_hours: JsonFloat = Field(default=24, ge=0, le=24 * 365 * 10)


class CleanupResult(WireModel):
    deleted: int
    task_ids: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- watch stream


EventType = Literal[
    "hello",
    "task.upserted",
    "task.deleted",
    "permission.requested",
    "permission.resolved",
    "reset",
]


class Event(WireModel):
    """One change on GET /api/events; `revision` is global, monotonic and the SSE id."""

    revision: int
    type: EventType
    task_id: str | None = None
    task: Task | None = None
    permission: PermissionRequest | None = None
    timestamp: datetime | None = None


# --------------------------------------------------------------------------- server facts


class Stats(WireModel):
    counts: dict[str, int]
    total: int
    pending_permissions: int
    cost_micros: int
    today_cost_micros: int
    daily_budget_micros: int | None = None
    revision: int


class Runtime(WireModel):
    id: str
    name: str
    description: str
    enabled: bool
    alias_of: str | None = None


class Health(WireModel):
    status: Literal["ok", "degraded"] = "ok"
    store: str | None = None  # why the store cannot be written, when status is degraded
    version: str
    revision: int
    uptime_seconds: float
    streams: int = 0  # event streams being served (watch, logs, progress)


# --------------------------------------------------------------------------- validation messages
# Pydantic's errors, said the way seed 001's Zod schemas say them. The server answers with these and
# the TUI's forms show the same words before a request is even sent.

_TYPE_NAMES = {
    str: "string", int: "number", float: "number", bool: "boolean",
    list: "array", dict: "object", type(None): "null",
}


def _received(value: Any) -> str:
    for py, name in _TYPE_NAMES.items():
        if type(value) is py:
            return name
    return "unknown"


def zod_message(err: dict[str, Any]) -> str:
    """Pydantic's error, said the way Zod says it (seed 001's bodies are Zod's)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return "Required"
    if value is None:
        expected = {"string_type": "string", "enum": "string", "literal_error": "string", "dict_type": "object",
                    "model_type": "object", "list_type": "array", "bool_type": "boolean"}.get(kind, "number")
        return f"Expected {expected}, received null"
    if kind == "value_error" and str(ctx.get("error", "")).startswith("Expected "):
        return str(ctx["error"])
    if kind == "string_too_short":
        return f"String must contain at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"String must contain at most {ctx.get('max_length')} character(s)"
    if kind == "too_short":
        return f"Array must contain at least {ctx.get('min_length')} element(s)"
    if kind == "too_long":
        return f"Array must contain at most {ctx.get('max_length')} element(s)"
    if kind in ("less_than_equal", "less_than"):
        return f"Number must be less than or equal to {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"Number must be greater than or equal to {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("int_type", "int_parsing", "float_type", "float_parsing", "int_from_float"):
        if kind == "int_from_float" or (type(value) is float):
            return "Expected integer, received float"
        return f"Expected number, received {_received(value)}"
    if kind in ("string_type",):
        return f"Expected string, received {_received(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"Expected boolean, received {_received(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"Expected object, received {_received(value)}"
    if kind in ("list_type",):
        return f"Expected array, received {_received(value)}"
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        return f"Invalid enum value. Expected {expected}, received '{value}'"
    if kind == "extra_forbidden":
        return "Unrecognized key in object"
    if kind == "string_pattern_mismatch":
        return "Invalid"
    return str(err.get("msg", "Invalid input"))


def flatten_validation_errors(errors: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[str]]]:
    form: list[str] = []
    fields: dict[str, list[str]] = {}
    for err in errors:
        loc = [part for part in err.get("loc", ()) if part not in ("body", "query", "path", "header")]
        kind = err.get("type", "")
        if kind == "json_invalid":
            form.append("Invalid JSON body")
            continue
        if kind == "extra_forbidden" and loc:
            form.append(f"Unrecognized key(s) in object: '{loc[-1]}'")
            continue
        if not loc or isinstance(loc[0], int):
            # The body itself is wrong (an array, a string, or missing entirely).
            if kind == "missing":
                form.append("Request body is required")
            else:
                form.append(zod_message(err))
            continue
        # Zod's flatten() keys by the first path segment, with the message about the leaf.
        key = str(loc[0])
        msg = zod_message(err)
        if len(loc) > 1:
            msg = f"{'.'.join(str(p) for p in loc[1:])}: {msg}"
        fields.setdefault(key, [])
        if msg not in fields[key]:
            fields[key].append(msg)
    return form, fields


class ErrorBody(BaseModel):
    """`{"error": "..."}`; `code` is a machine-readable addition."""

    error: str
    code: str | None = None


class FieldErrors(BaseModel):
    formErrors: list[str] = Field(default_factory=list)
    fieldErrors: dict[str, list[str]] = Field(default_factory=dict)


class ValidationErrorBody(BaseModel):
    """Seed 001's flattened Zod error."""

    error: FieldErrors
    code: str | None = None
