"""Stagent (navam-io/stagent), the server seed 001 was written from, as it really answers.

Seed 001 documents the task routes; the real server adds what a board needs and differs where a
client notices (`shared/peers/stagent.md`):

- The list is not paged, searched or sorted, and filters on one status at most: the client does all
  of it. Timestamps are whole seconds, so the revision a board compares is made here, from what changed.
- A permission request or a question is a *notification*, answered through `respond`. Requests come from
  `/api/notifications/pending-approvals`; questions (`agent_message`, AskUserQuestion) from
  `/api/notifications`, and a running task with one unanswered is shown as awaiting input. Stagent denies
  on its own after 55 s but keeps the notification pending for ever (and `respond` still says 200), so a
  request older than that is shown as expired, never as answerable.
- The log stream sends bare `data:` rows with no ids, replays every row on connect, never ends, and its
  1-second cursor drops rows written in the same second as one already sent. The tail joins text deltas
  into lines, drops the replays by row id, ends when the task is final, and closes the gaps with one more
  connection (which replays everything) at the end.
- Errors: an empty 500 has meanings the client knows (delete of a task that ran; execute of an unknown id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx

from taskboard.client.base import Capability, PatternForm, meant, one_line, poll_changes, utc
from taskboard.client.dialects.base import DialectClient
from taskboard.client.errors import (
    ApiError,
    ConnectionLost,
    NotFound,
    ServerError,
    UnexpectedResponse,
    Unsupported,
)
from taskboard.client.sse import SSEChunkDecoder
from taskboard.client.streams import StreamStatus, sse_event_batches
from taskboard.client.transport import camel_body, path_segment
from taskboard.models import (
    Accepted,
    Event,
    LineageLink,
    LogEntry,
    PermissionRequest,
    PermissionRule,
    PermissionStatus,
    Project,
    Provenance,
    Success,
    Task,
    TaskDetail,
    TaskMessage,
    TaskOutput,
    TaskStatus,
    Usage,
)

#: Stagent's canUseTool gives up after this long and tells the agent "denied".
PERMISSION_TIMEOUT = 55.0
QUESTION_TOOL = "AskUserQuestion"
TEXT_IDLE = 0.25  # a text line still being written is shown after this long without a new delta
REPLAY_FIRST = 2.0  # the closing replay: how long to wait for its first row (a task with none sends nothing)
REPLAY_IDLE = 0.5  # ... and for the next one


def stagent_pattern(tool: str, tool_input: dict[str, Any]) -> str:
    """The pattern Stagent's own "always allow" saves: `Bash(command:<first word> *)` for Bash, else the tool."""
    command = tool_input.get("command")
    if tool == "Bash" and isinstance(command, str) and command.split():
        return f"Bash(command:{command.split()[0]} *)"
    return tool


def summary_of(tool: str, tool_input: dict[str, Any]) -> str:
    """What Stagent's inbox shows of a request: the command, the file, or the first string."""
    if tool == "Bash" and isinstance(tool_input.get("command"), str):
        return str(tool_input["command"])
    if tool in ("Read", "Write", "Edit") and isinstance(tool_input.get("file_path"), str):
        return str(tool_input["file_path"])
    return next((v for v in tool_input.values() if isinstance(v, str)), "")


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


class StagentClient(DialectClient):
    dialect = "stagent"
    api_name = "Stagent API"
    statuses: ClassVar = {s: TaskStatus(s) for s in ("planned", "queued", "running", "completed", "failed",
                                                       "cancelled")}
    supported = frozenset({Capability.LIST, Capability.CREATE, Capability.EXECUTE, Capability.RESUME,
                           Capability.CANCEL, Capability.DELETE, Capability.RESPOND, Capability.MESSAGE,
                           Capability.LOG_STREAM, Capability.OUTPUT, Capability.USAGE, Capability.PRIORITY,
                           Capability.RULES})
    reasons: ClassVar = {
        Capability.CLEANUP: "Stagent has no cleanup: delete tasks one at a time (only tasks that never ran).",
        Capability.PROGRESS_STREAM: "Stagent reports no progress, only the agent's log.",
        Capability.EVENTS: "Stagent has no change stream; the board polls it.",
        Capability.RULE_EXPIRY: "Stagent keeps a saved pattern until it is deleted: it has no expiry.",
    }

    patterns = PatternForm(r"^[A-Za-z0-9_.\-]+(\([A-Za-z0-9_]+:[^()]+\))?$",
                           "Always allow (Stagent's form: a tool, or Tool(key:prefix*)):",
                           "A Stagent pattern is a tool name (Write) or Tool(key:prefix*), e.g. Bash(command:npm *)")
    #: How long the first log lines may take: a cold `next dev` compiles a route on its first request.
    backlog_wait = 20.0

    def __init__(self, base_url: str, api_key: str | None = None, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self._rows: dict[str, dict[str, Any]] = {}  # each task's last row, for the reasons a key is greyed
        self._revisions: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._next_revision = 0
        self._permissions: dict[str, PermissionRequest] = {}  # pending (answerable or expired), by id
        self._questions: dict[str, list[dict[str, Any]]] = {}  # unanswered agent_message rows, by task
        self._inbox_read = 0.0

    # ------------------------------------------------------------------ reasons per task

    def why_not(self, capability: Capability, task_id: str | None = None) -> str | None:
        reason = super().why_not(capability, task_id)
        row = self._rows.get(task_id or "")
        if reason is not None or row is None:
            return reason
        if capability is Capability.RESUME and not row.get("sessionId"):
            return "Stagent resumes a session, and this task never started one: queue it again instead."
        if capability is Capability.DELETE and (row.get("sessionId") or row.get("status") not in ("planned",
                                                                                                   "queued")):
            return "Stagent cannot delete a task that has run (its log and notifications keep it)."
        return None

    # ------------------------------------------------------------------ tasks

    def _revision(self, row: dict[str, Any], *overlay: Any) -> int:
        key = (row.get("updatedAt"), row.get("status"), row.get("result"), row.get("sessionId"),
               row.get("resumeCount"), row.get("priority"), row.get("title"), *overlay)
        known = self._revisions.get(row["id"])
        if known is not None and known[0] == key:
            return known[1]
        self._next_revision += 1
        self._revisions[row["id"]] = (key, self._next_revision)
        return self._next_revision

    def to_task(self, row: Any) -> TaskDetail:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("title"), str):
            raise UnexpectedResponse("Stagent: a task that is not an object with an id and a title")
        created = utc(row.get("createdAt"))
        if created is None:
            raise UnexpectedResponse("Stagent: a task without createdAt")
        task_id = row["id"]
        self._rows[task_id] = row
        status = self.status(row.get("status"))
        live = [p for p in self._permissions.values() if p.task_id == task_id
                and p.status is PermissionStatus.PENDING]
        asked = self._questions.get(task_id, [])
        if status is TaskStatus.RUNNING and asked:
            status = TaskStatus.AWAITING_INPUT
        result = row.get("result")
        usage = Usage.model_validate(row["usage"]) if isinstance(row.get("usage"), dict) else None
        updated = utc(row.get("updatedAt")) or created
        source = "workflow" if row.get("workflowId") else "schedule" if row.get("scheduleId") else "manual"
        return TaskDetail(
            id=task_id, title=row["title"], description=row.get("description"), project_id=row.get("projectId"),
            status=status, priority=int(row.get("priority") or 0), assigned_agent=row.get("assignedAgent"),
            agent_profile=row.get("agentProfile"), created_at=created, updated_at=updated,
            # Stagent writes a failure's reason where a success's answer goes.
            result=result if status is not TaskStatus.FAILED else None,
            error=one_line(str(result), 2000) if status is TaskStatus.FAILED and result else None,
            workflow_id=row.get("workflowId"), source_type=source, resume_count=int(row.get("resumeCount") or 0),
            attempt=1 if row.get("sessionId") else 0, pending_permissions=len(live),
            cost_micros=usage.cost_micros if usage else 0, total_tokens=usage.total_tokens if usage else 0,
            started_at=usage.started_at if usage else None,
            finished_at=updated if status.is_final else None,
            project_name=row.get("projectName"), usage=usage,
            revision=self._revision(row, len(live), len(asked), bool(usage)),
        )

    async def _json(self, method: str, path: str, *, body: Any = None, params: Any = None,
                    retries: int | None = None) -> Any:
        response = await self._request(method, path, json=body, params=params, retries=retries)
        try:
            return self.parse(response)
        except ValueError:
            raise UnexpectedResponse(f"Unexpected response from {method} {path}: not JSON "
                                     f"({response.headers.get('content-type') or 'no content type'})",
                                     status=response.status_code) from None

    async def _list_page(self, *, status: list[str] | None, limit: int, offset: int) -> tuple[list[TaskDetail], int]:
        wanted = {TaskStatus(s) for s in status} if status else None
        # One status the server can filter on (awaiting input is running there); several, here.
        server_status = None
        if wanted and len(wanted) == 1:
            only = next(iter(wanted))
            server_status = "running" if only is TaskStatus.AWAITING_INPUT else only.value
        rows = await self._json("GET", "/api/tasks", params={"status": server_status} if server_status else None)
        if not isinstance(rows, list):
            raise UnexpectedResponse("Unexpected response from GET /api/tasks: not a list of tasks")
        await self._read_inbox()  # what waits for a person, laid over the tasks
        tasks = [self.to_task(row) for row in rows]
        if wanted:
            tasks = [t for t in tasks if t.status in wanted]
        return tasks[offset:offset + limit], len(tasks)

    async def list_tasks(self, *, status: str | Iterable[str] | None = None, limit: int | None = None,
                         offset: int = 0, q: str | None = None, sort: str | None = None, summary: bool = False,
                         **ignored: Any) -> Any:
        """Stagent's whole list, filtered, searched, sorted and paged here."""
        statuses = [status] if isinstance(status, str) else list(status) if status else None
        if statuses and len(statuses) == 1 and "," in statuses[0]:
            statuses = statuses[0].split(",")
        everything, _ = await self._list_page(status=statuses, limit=10**9, offset=0)
        if q:
            needle = q.casefold()
            everything = [t for t in everything if needle in f"{t.title}\0{t.description or ''}\0{t.id}".casefold()]
        everything = sort_tasks(everything, sort)
        for task in everything:
            self._known[task.id] = task
        from taskboard.models import TaskPage

        window = everything[offset:offset + limit] if limit else everything[offset:]
        return TaskPage(items=list(window), total=len(everything), limit=limit, offset=offset)

    async def get_task(self, task_id: str) -> TaskDetail:
        row = await self._json("GET", f"/api/tasks/{path_segment(task_id)}")
        await self._read_inbox(max_age=1.0)
        return self.to_task(row)

    async def create_task(self, body: Any = None, **fields: Any) -> Task:
        data = camel_body(body, fields)
        if data.pop("params", None):
            raise Unsupported("Stagent tasks take no params: say what the agent needs in the description.",
                              capability="create", dialect=self.dialect)
        for unknown in ("taskType", "documentIds"):
            data.pop(unknown, None)
        return self.to_task(await self._json("POST", "/api/tasks", body=data))

    async def spawn(self, body: Any = None, **fields: Any) -> Task:
        """Stagent has no spawn: create, queue and execute, as its UI's "run now" does."""
        task = await self.create_task(body, **fields)
        await self.queue(task.id)
        await self.execute(task.id)
        return await self.get_task(task.id)

    async def update_task(self, task_id: str, body: Any = None, **fields: Any) -> Task:
        row = await self._json("PATCH", f"/api/tasks/{path_segment(task_id)}", body=camel_body(body, fields))
        return self.to_task(row)

    async def queue(self, task_id: str) -> Task:
        return await self.update_task(task_id, status="queued")

    async def delete_task(self, task_id: str) -> Success:
        try:
            await self._json("DELETE", f"/api/tasks/{path_segment(task_id)}", retries=0)
        except ServerError as exc:
            if exc.body:
                raise
            raise ServerError("Stagent cannot delete a task that has run (its log and notifications keep it).",
                              status=exc.status, body=exc.body) from exc
        self._rows.pop(task_id, None)
        return Success()

    async def execute(self, task_id: str) -> Accepted:
        try:
            body = await self._json("POST", f"/api/tasks/{path_segment(task_id)}/execute")
        except ServerError as exc:
            if exc.body:
                raise
            await self.get_task(task_id)  # Stagent's empty 500 for an unknown id: say 404 instead
            raise
        return Accepted(message=str(body.get("message", "Execution started")) if isinstance(body, dict) else "")

    async def resume(self, task_id: str) -> Accepted:
        body = await self._json("POST", f"/api/tasks/{path_segment(task_id)}/resume")
        return Accepted(message=str(body.get("message", "Resume started")) if isinstance(body, dict) else "")

    async def cancel(self, task_id: str) -> Success:
        await self._json("POST", f"/api/tasks/{path_segment(task_id)}/cancel")
        return Success()

    async def get_output(self, task_id: str) -> TaskOutput:
        body = await self._json("GET", f"/api/tasks/{path_segment(task_id)}/output")
        return TaskOutput.model_validate(body)

    async def get_result(self, task_id: str) -> Any:
        from taskboard.models import TaskResult

        output = await self.get_output(task_id)
        return TaskResult(task_id=output.task_id, status=output.status, result=output.result or None,
                          content_type=output.content_type)

    async def provenance(self, task_id: str) -> Provenance | None:
        """Who started the task and on what (None when this server answers something else)."""
        return await self.optional("Provenance", self._provenance(task_id), None)

    async def _provenance(self, task_id: str) -> Provenance:
        body = await self._json("GET", f"/api/tasks/{path_segment(task_id)}/provenance")
        row = self._rows.get(task_id, {})
        if not isinstance(body, dict):
            raise UnexpectedResponse("Unexpected response from GET provenance: not an object")
        parts = [str(body[k]) for k in ("initiator", "runtime", "agentProfile") if body.get(k)]
        chain = []
        if row.get("workflowId"):
            chain.append(LineageLink(type="workflow", id=row["workflowId"]))
        if row.get("scheduleId"):
            chain.append(LineageLink(type="schedule", id=row["scheduleId"]))
        created = utc(body.get("createdAt")) or utc(row.get("createdAt")) or datetime.now(UTC)
        return Provenance(task_id=task_id, source_type=" · ".join(parts) or "user", project_id=row.get("projectId"),
                          project_name=row.get("projectName"), created_at=created, chain=chain)

    async def list_projects(self) -> list[Project]:
        try:
            rows = await self._json("GET", "/api/projects")
            if not isinstance(rows, list):
                raise UnexpectedResponse("not a list")
            return [Project(id=r["id"], name=r["name"], description=r.get("description"),
                            created_at=utc(r.get("createdAt")) or datetime.now(UTC),
                            task_count=int(r.get("taskCount") or 0)) for r in rows]
        except (UnexpectedResponse, ApiError, KeyError, TypeError) as exc:
            self.degrade("projects", f"Projects are off for this server (GET /api/projects: {_said(exc)}).")
            return []

    # ------------------------------------------------------------------ permissions and questions

    async def _read_inbox(self, max_age: float = 0.0) -> None:
        """What waits for a person: pending permission requests and unanswered questions.

        Optional: a server that answers something else here still shows its tasks, without an inbox."""
        if max_age and time.monotonic() - self._inbox_read < max_age:
            return
        self._inbox_read = time.monotonic()
        if self.can(Capability.RESPOND):
            try:
                rows = await self._json("GET", "/api/notifications/pending-approvals")
                if not isinstance(rows, list):
                    raise UnexpectedResponse("not a list")
                self._permissions = {r.id: r for r in (self._request_from(row) for row in rows)}
            except (UnexpectedResponse, ApiError, KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, ApiError) and meant(exc):
                    raise
                self.disable(Capability.RESPOND, "Stagent's permission inbox cannot be read here "
                                                 f"(GET /api/notifications/pending-approvals: {_said(exc)}).")
                self._permissions = {}
        if self.can(Capability.MESSAGE):
            try:
                rows = await self._json("GET", "/api/notifications", params={"type": "agent_message"})
                if not isinstance(rows, list):
                    raise UnexpectedResponse("not a list")
                now = datetime.now(UTC)
                questions: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    created = utc(row.get("createdAt"))
                    if row.get("response") is None and created and (now - created).total_seconds() < PERMISSION_TIMEOUT:
                        questions.setdefault(str(row["taskId"]), []).append(row)
                self._questions = questions
            except (UnexpectedResponse, ApiError, KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, ApiError) and meant(exc):
                    raise
                self.disable(Capability.MESSAGE, "Stagent's questions cannot be read here "
                                                 f"(GET /api/notifications: {_said(exc)}).")
                self._questions = {}

    def _request_from(self, row: dict[str, Any]) -> PermissionRequest:
        tool = str(row.get("toolName") or row.get("permissionLabel") or "tool")
        tool_input = row.get("toolInput")
        if not isinstance(tool_input, dict):
            tool_input = _loads(row.get("body")) if isinstance(row.get("body"), str) else None
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        created = utc(row.get("createdAt")) or datetime.now(UTC)
        expired = (datetime.now(UTC) - created).total_seconds() >= PERMISSION_TIMEOUT
        return PermissionRequest(
            id=str(row["notificationId"]), task_id=str(row["taskId"]), task_title=row.get("taskTitle"),
            tool_name=tool, tool_input=tool_input,
            message=row.get("compactSummary") or summary_of(tool, tool_input) or None,
            suggested_pattern=stagent_pattern(tool, tool_input),
            status=PermissionStatus.EXPIRED if expired else PermissionStatus.PENDING,
            response_message="Stagent denied it after 55 s without an answer." if expired else None,
            created_at=created)

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        """Pending requests (status "pending"), or with the expired ones too (status None)."""
        await self._read_inbox()
        found = [r for r in self._permissions.values() if (task_id is None or r.task_id == task_id)
                 and (status is None or r.status.value == status)]
        found.sort(key=lambda r: r.created_at)
        return found[:limit] if limit else found

    async def list_rules(self) -> list[PermissionRule]:
        """Stagent's saved patterns, as allow rules: a pattern is all Stagent keeps of one (no one who
        saved it, no date, no count), so the rest is left empty; its id is the pattern itself."""
        body = await self._json("GET", "/api/permissions")
        patterns = body.get("permissions") if isinstance(body, dict) else None
        if not isinstance(patterns, list):
            raise UnexpectedResponse("Unexpected response from GET /api/permissions: no list of patterns")
        return [PermissionRule(id=str(p), pattern=str(p), behavior="allow", source="stagent",
                               created_at=datetime.fromtimestamp(0, UTC)) for p in patterns]

    async def delete_rule(self, rule_id: str) -> Success:
        """Stagent forgets a saved pattern by name (DELETE /api/permissions {pattern}): the rule's id is it."""
        await self._json("DELETE", "/api/permissions", body={"pattern": rule_id}, retries=0)
        return Success()

    async def respond(self, task_id: str, notification_id: str, behavior: Literal["allow", "deny"], *,
                      message: str | None = None, updated_input: dict[str, Any] | None = None,
                      always_allow: bool | None = None, permission_pattern: str | None = None,
                      expires_in_seconds: int | None = None, saved_by: str | None = None) -> Success:
        """As Stagent's inbox answers: allow sends the (edited) input back, deny a message, always allow
        the pattern in Stagent's own form."""
        if expires_in_seconds is not None:
            self.require(Capability.RULE_EXPIRY)
        request = self._permissions.get(notification_id)
        if request is not None and request.status is PermissionStatus.EXPIRED:
            raise Unsupported("Stagent already denied this request: nobody answered it within 55 s.",
                              capability="respond", dialect=self.dialect)
        body: dict[str, Any] = {"notificationId": notification_id, "behavior": behavior}
        if behavior == "allow":
            body["updatedInput"] = updated_input if updated_input is not None else \
                (request.tool_input if request is not None else {})
            if always_allow:
                body["alwaysAllow"] = True
                body["permissionPattern"] = permission_pattern or (request.suggested_pattern if request else None)
        else:
            body["message"] = message or "User denied this action"
        await self._json("POST", f"/api/tasks/{path_segment(task_id)}/respond", body={
            k: v for k, v in body.items() if v is not None}, retries=0)
        self._permissions.pop(notification_id, None)
        return Success()

    async def list_messages(self, task_id: str) -> list[TaskMessage]:
        """The agent's questions (and the answers given), oldest first."""
        return await self.optional("The questions", self._messages(task_id), [], Capability.MESSAGE)

    async def _messages(self, task_id: str) -> list[TaskMessage]:
        rows = await self._json("GET", "/api/notifications", params={"type": "agent_message"})
        if not isinstance(rows, list):
            raise UnexpectedResponse("Unexpected response from GET /api/notifications: not a list")
        messages: list[TaskMessage] = []
        for row in sorted((r for r in rows if isinstance(r, dict) and r.get("taskId") == task_id),
                          key=lambda r: str(r.get("createdAt"))):
            created = utc(row.get("createdAt")) or datetime.now(UTC)
            messages.append(TaskMessage(id=len(messages) + 1, task_id=task_id, role="agent",
                                        message=question_text(_loads(row.get("toolInput")) or {}), created_at=created))
            answer = _loads(row.get("response"))
            if isinstance(answer, dict):
                answers = (answer.get("updatedInput") or {}).get("answers") or {}
                said = "; ".join(str(a) for a in answers.values()) or answer.get("behavior", "")
                messages.append(TaskMessage(id=len(messages) + 1, task_id=task_id, role="user", message=str(said),
                                            created_at=utc(row.get("respondedAt")) or created))
        return messages

    async def send_message(self, task_id: str, message: str) -> Task:
        """Answer the task's open question as Stagent's UI does: `respond` with the questions and the answers
        keyed by question text (an option's label or number picks it; several questions take one line each)."""
        await self._read_inbox()
        open_ = sorted(self._questions.get(task_id, []), key=lambda r: str(r.get("createdAt")))
        if not open_:
            raise Unsupported("This task has no question waiting for an answer.", capability="message",
                              dialect=self.dialect)
        row = open_[0]
        tool_input = _loads(row.get("toolInput")) or {}
        questions = tool_input.get("questions") if isinstance(tool_input, dict) else None
        questions = questions if isinstance(questions, list) else []
        await self._json("POST", f"/api/tasks/{path_segment(task_id)}/respond", retries=0, body={
            "notificationId": row["id"], "behavior": "allow",
            "updatedInput": {"questions": questions, "answers": answers_for(questions, message)}})
        self._questions[task_id] = open_[1:]
        return await self.get_task(task_id)

    # ------------------------------------------------------------------ the watch: tasks and the inbox

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[Event, None]:
        """Every poll: the tasks that changed, and the requests that appeared, were answered or expired."""
        shown = {r.id: r for r in self._permissions.values() if r.status is PermissionStatus.PENDING}

        def inbox_changes() -> list[dict[str, Any]]:
            nonlocal shown
            live = {r.id: r for r in self._permissions.values() if r.status is PermissionStatus.PENDING}
            # Answered ones leave Stagent's list; expired ones stay on it (as expired, here).
            changes: list[dict[str, Any]] = [
                {"type": "permission.resolved", "task_id": shown[gone].task_id,
                 "permission": self._permissions.get(gone, shown[gone])} for gone in shown.keys() - live.keys()]
            changes += [{"type": "permission.requested", "task_id": live[new].task_id, "permission": live[new]}
                        for new in live.keys() - shown.keys()]
            shown = live
            return changes

        async with contextlib.aclosing(poll_changes(self.list_all, self.poll_interval, on_status=on_status,
                                                    known=self._known, reconnect=reconnect,
                                                    extra=inbox_changes)) as events:
            async for event in events:
                yield event

    async def list_all(self) -> list[Task]:
        tasks, _ = await self._list_page(status=None, limit=10**9, offset=0)
        return list(tasks)

    # ------------------------------------------------------------------ the log tail

    async def _log_stream(self, task_id: str, *, after: int | None, reconnect: bool,
                          on_status: Callable[[StreamStatus], Any] | None) -> AsyncGenerator[list[LogEntry], None]:
        """The agent's log as lines, each row once; ends once the task is final and every row is in."""
        path = f"/api/tasks/{path_segment(task_id)}/logs"
        lines = LogLines(task_id, skip=after or 0)
        queue: asyncio.Queue[list[Any] | BaseException] = asyncio.Queue()

        async def pump() -> None:
            try:
                async with contextlib.aclosing(sse_event_batches(self._http, path, last_id=None, reconnect=reconnect,
                                                                 on_status=on_status, base_url=self.base_url,
                                                                 read_timeout=60.0)) as stream:
                    async for events in stream:
                        queue.put_nowait([sse.data for sse in events if sse.data])
                raise ConnectionLost(f"Stream from {self.base_url}{path} ended", url=self.base_url)
            except BaseException as exc:
                queue.put_nowait(exc)

        reader = asyncio.create_task(pump())
        checked = 0.0
        caught_up = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), TEXT_IDLE)
                except TimeoutError:
                    item = None
                if isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        return
                    raise item  # not an event stream at all: the caller polls instead
                batch = lines.feed(item) if item is not None else lines.flush()
                if batch or (item is None and not caught_up):
                    caught_up = caught_up or item is None
                    yield batch  # an empty one says: the backlog is all here
                # Asked only once the stream is quiet: the backlog Stagent sends on connect comes first.
                if item is None and time.monotonic() - checked >= self.poll_interval:
                    checked = time.monotonic()
                    task = await self.get_task(task_id)
                    if task.status.is_final:
                        # The 1-second cursor may have dropped rows: a new connection replays all of them.
                        missed = lines.feed(await self._replay(path), late=True) + lines.flush()
                        if missed:
                            yield missed
                        return
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _replay(self, path: str) -> list[str]:
        """Every row the server has for the task (a fresh connection replays them all, then goes quiet)."""
        rows: list[str] = []
        arrived = asyncio.Event()

        async def read() -> None:
            decoder = SSEChunkDecoder()
            async with self._http.stream("GET", path, headers={"Accept": "text/event-stream"},
                                         timeout=httpx.Timeout(10.0, read=None)) as response:
                async for chunk in response.aiter_bytes():
                    for sse in decoder.feed(chunk):
                        if sse.data:
                            rows.append(sse.data)
                            arrived.set()

        reader = asyncio.create_task(read())
        try:
            wait = REPLAY_FIRST
            while not reader.done():
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), wait)
                except TimeoutError:
                    break
                wait = REPLAY_IDLE
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        return rows


def sort_tasks(tasks: list[TaskDetail], sort: str | None) -> list[TaskDetail]:
    """The native API's sorts (a leading - reverses); none keeps Stagent's order (priority, newest)."""
    if not sort:
        return tasks
    key = sort.lstrip("-")
    reverse = sort.startswith("-")
    keys: dict[str, Callable[[TaskDetail], Any]] = {
        "created": lambda t: t.created_at, "updated": lambda t: t.updated_at, "priority": lambda t: t.priority,
        "status": lambda t: t.status.value, "title": lambda t: t.title.casefold(),
    }
    if key not in keys:
        return tasks
    # Stagent's createdAt is whole seconds: its own order (newest first within a priority) breaks the ties.
    index = {task.id: n for n, task in enumerate(tasks)}
    tie = -1 if key in ("created", "updated") else 1
    return sorted(tasks, key=lambda t: (keys[key](t), tie * index[t.id]), reverse=reverse)


def question_text(tool_input: dict[str, Any]) -> str:
    parts = []
    for question in tool_input.get("questions") or []:
        if not isinstance(question, dict):
            continue
        options = [str(o.get("label")) for o in question.get("options") or [] if isinstance(o, dict)]
        text = str(question.get("question", ""))
        if options:
            text += " (" + " / ".join(f"{i}. {label}" for i, label in enumerate(options, 1)) + ")"
        parts.append(text)
    return "\n".join(parts) or "The agent has a question."


def answers_for(questions: list[Any], message: str) -> dict[str, str]:
    """Answers keyed by question text; an option's number or label (any case) picks that label, several
    picks of a multi-select are joined with ", " as Stagent's UI joins them."""
    replies = [line.strip() for line in message.splitlines() if line.strip()] or [message.strip()]
    if len(questions) > 1 and len(replies) != len(questions):
        replies = [message.strip()] * len(questions)
    answers: dict[str, str] = {}
    for question, reply in zip(questions, replies * (len(questions) if len(replies) == 1 else 1), strict=False):
        if not isinstance(question, dict):
            continue
        labels = [str(o.get("label")) for o in question.get("options") or [] if isinstance(o, dict)]
        picks = [p.strip() for p in reply.split(",")] if question.get("multiSelect") else [reply]
        chosen = []
        for pick in picks:
            if pick.isdigit() and 1 <= int(pick) <= len(labels):
                chosen.append(labels[int(pick) - 1])
            else:
                chosen.append(next((label for label in labels if label.casefold() == pick.casefold()), pick))
        answers[str(question.get("question", ""))] = ", ".join(chosen)
    return answers


class LogLines:
    """Stagent's log rows as lines: text deltas joined, tool starts summarized, each row once by id."""

    def __init__(self, task_id: str, skip: int = 0) -> None:
        self.task_id = task_id
        self.seen: set[str] = set()
        self.number = 0
        self.skip = skip  # lines a caller already has (`after`)
        self.text = ""
        self.text_at: datetime | None = None
        self.live = False  # the live stream brought rows: what the closing replay adds is a gap it left

    def feed(self, frames: list[str], *, late: bool = False) -> list[LogEntry]:
        out: list[LogEntry] = []
        for frame in frames:
            row = _loads(frame)
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                continue
            if row["id"] in self.seen:
                continue  # replayed on a reconnect
            self.seen.add(row["id"])
            self.live = self.live or not late
            moment = utc(row.get("timestamp")) or datetime.now(UTC)
            if late and self.live and not any(e.event_type == "gap" for e in out):
                out += self.flush()
                self._add(out, "gap", "(rows the live stream skipped, read again at the end:)", moment)
            self._row(out, str(row.get("event", "")), _loads(row.get("payload")), moment)
        return out

    def flush(self) -> list[LogEntry]:
        out: list[LogEntry] = []
        if self.text.strip():
            self._add(out, "text", self.text.strip(), self.text_at or datetime.now(UTC))
        self.text, self.text_at = "", None
        return out

    def _add(self, out: list[LogEntry], kind: str, message: str, moment: datetime,
             data: dict[str, Any] | None = None) -> None:
        self.number += 1
        if self.number > self.skip:
            out.append(LogEntry(id=self.number, task_id=self.task_id, event_type=kind, message=message,
                                timestamp=moment, data=data))

    def _row(self, out: list[LogEntry], event: str, payload: Any, moment: datetime) -> None:
        payload = payload if isinstance(payload, dict) else {}
        if event == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text += str(delta.get("text", ""))
                self.text_at = self.text_at or moment
                *done, self.text = self.text.split("\n")
                for line in done:
                    if line.strip():
                        self._add(out, "text", line.rstrip(), self.text_at)
            return
        if event == "message_start" or (event == "content_block_start" and
                                        (payload.get("content_block") or {}).get("type") == "text"):
            out += self.flush()
            return
        if event == "content_block_start":
            return  # a tool_use block: its tool_start row says it better
        out += self.flush()
        if event == "tool_start":
            tool = str(payload.get("tool", "tool"))
            tool_input = payload.get("input") if isinstance(payload.get("input"), dict) else {}
            summary = question_text(tool_input) if tool == QUESTION_TOOL else \
                summary_of(tool, tool_input) or one_line(json.dumps(tool_input), 120)
            self._add(out, "tool", f"{tool} {one_line(summary, 200)}".rstrip(), moment,
                      {"tool": tool, "input": tool_input})
        elif event == "completed":
            self._add(out, "completed", "completed: " + one_line(str(payload.get("result", "")), 300), moment)
        elif event == "error":
            self._add(out, "error", "error: " + one_line(str(payload.get("error", "")), 300), moment)
        elif event == "session_resumed":
            self._add(out, "resumed", f"── resumed (attempt {int(payload.get('resumeCount') or 0) + 1}, "
                                      f"session {str(payload.get('sessionId', ''))[:8]}) ──", moment)
        else:
            self._add(out, event or "event", one_line(json.dumps(payload), 300) if payload else event, moment)


def _said(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}, {exc.message}"
    if isinstance(exc, NotFound | UnexpectedResponse):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"
