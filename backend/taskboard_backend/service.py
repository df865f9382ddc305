"""The task service: every rule of the native API, between the routers and the store."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from taskboard.models import (
    SEED_AGENT_IDS,
    CleanupRequest,
    MessageCreate,
    PermissionResponse,
    PermissionRuleCreate,
    ProjectCreate,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    WorkflowCreate,
    delete_refusal,
    detect_content_type,
    message_refusal,
    transition_refusal,
)
from taskboard_backend.errors import ApiError, Conflict, InvalidTransition, NotFound, field_error
from taskboard_backend.permissions import (
    CompiledPattern,
    InvalidPattern,
    broadness,
    compile_pattern,
    decide,
    request_key,
    rule_answer_line,
    rules_of,
)
from taskboard_backend.runner import Runner
from taskboard_backend.runtimes import DemoRuntime, ShellRuntime
from taskboard_backend.runtimes.base import PermissionDecision, parked_entries
from taskboard_backend.settings import Settings
from taskboard_backend.store import (
    Row,
    Store,
    Tx,
    iso,
    new_id,
    now_iso,
    permission_row_to_wire,
    task_row_to_wire,
    utcnow,
)
from taskboard_backend.streams import task_stream, watch_stream

log = logging.getLogger("taskboard.service")

INTERRUPTED_ERROR = (
    "Interrupted: the server stopped while this task was running; "
    "resume it to continue from its last checkpoint"
)
LEASE_EXPIRED_ERROR = (
    "Interrupted: the server running this task stopped renewing its lease (it died or lost the database); "
    "resume it to continue from its last checkpoint"
)


class TaskService:
    def __init__(self, store: Store, runner: Runner, settings: Settings) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        runner.on_finished.append(self._after_run)

    # ------------------------------------------------------------------ start-up

    async def recover(self, *, stopping: bool = False, error: str = INTERRUPTED_ERROR) -> list[str]:
        """Tasks left running or awaiting_input by a crash become failed, resumable: at start-up, at shutdown
        (`stopping`: this server's own), and on PostgreSQL whenever a server's lease expires (`reap`)."""
        now = now_iso()
        async with self.store.transaction() as tx:
            rows = await tx.orphaned_tasks(ours=stopping)
            ids = []
            for r in rows:
                if r["status"] == TaskStatus.RUNNING and await _parked_and_pending(tx, r["checkpoint"]):
                    # Its agent ended its turn to wait for a person, session kept: it still waits, and
                    # carries on when answered (Runner.continue_parked).
                    await tx.task_event(r["id"], "log", "system", "Server restarted: still waiting for approval")
                    continue
                ids.append(r["id"])
            for task_id in ids:
                await tx.task_event(task_id, "log", "error", error)
                await tx.transition(task_id, TaskStatus.FAILED,
                                    {"error": error, "finished_at": now, "pending_permissions": 0})
                await tx.expire_pending_permissions(task_id)
            await tx.end_orphaned_runs("interrupted", ours=stopping)
        if ids:
            log.warning("recovered %d interrupted task(s) as failed", len(ids))
        return ids

    async def reap(self, every: float) -> None:
        """On a shared database: the runs of a server whose lease expired become failed, resumable, on
        whichever server looks first (each looks every `every` seconds; a transition happens once)."""
        while True:
            await asyncio.sleep(every)
            try:
                reaped = await self.recover(error=LEASE_EXPIRED_ERROR)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the next look tries again
                log.warning("could not look for expired leases: %s", exc)
                continue
            if reaped:
                log.warning("%d task(s) of a server whose lease expired are failed, resumable", len(reaped))

    # ------------------------------------------------------------------ what the routes read through

    @property
    def list_revision(self) -> int:
        """The revision a list read now would carry, for the list's ETag (a poll answered 304 when it has
        not moved). On PostgreSQL it is the newest this server has heard of: another server's commit
        counts once its notification is in, a few ms later."""
        return self.store.committed_revision

    async def list_page(self, **query: Any) -> tuple[list[str], int, int]:
        """A list page as wire JSON texts, the total and the revision (`Store.list_tasks`)."""
        return await self.store.list_tasks(**query)

    def watch(self, last_event_id: int | None, heartbeat: float) -> AsyncIterator[str]:
        return watch_stream(self.store, last_event_id, heartbeat)

    async def task_stream(self, task_id: str, kind: str, after: int, heartbeat: float) -> AsyncIterator[str]:
        await self.store.require_task(task_id)  # a 404 now, before the stream starts
        return task_stream(self.store, task_id, kind, after, heartbeat)

    def health(self) -> dict[str, Any]:
        """revision, streams, and `store` when writes cannot work (disk full, read-only, deleted)."""
        body: dict[str, Any] = {"revision": self.store.committed_revision, "streams": self.store.broker.open_streams}
        problem = self.store.health_problem()
        if problem is not None:
            body["store"] = problem
        return body

    def end_streams(self) -> None:
        """Every open stream ends now (shutdown), instead of waiting for its client."""
        self.store.broker.shutdown()

    # ------------------------------------------------------------------ tasks

    async def create_task(self, body: TaskCreate, *, source_type: str = "manual", workflow_id: str | None = None,
                          step_index: int | None = None, parent_id: str | None = None,
                          status: TaskStatus = TaskStatus.PLANNED) -> dict[str, Any]:
        task_id = new_id()
        now = now_iso()
        async with self.store.transaction() as tx:
            wire = await tx.insert_task({
                "id": task_id, "title": body.title, "description": body.description, "project_id": body.project_id,
                "status": status.value, "priority": body.priority, "assigned_agent": body.assigned_agent,
                "agent_profile": body.agent_profile, "task_type": body.task_type, "params": body.params,
                "document_ids": body.document_ids or [], "workflow_id": workflow_id, "step_index": step_index,
                "source_type": source_type, "parent_id": parent_id, "created_at": now, "updated_at": now})
            await tx.task_event(task_id, "progress", "status", f"Status: {status.value}", {"status": status.value})
        return wire

    async def get_task(self, task_id: str) -> dict[str, Any]:
        row = await self.store.task_with_names(task_id)
        if row is None:
            raise NotFound("Task not found")
        wire = task_row_to_wire(row)
        if row["project_name"]:
            wire["projectName"] = row["project_name"]
        if row["workflow_name"]:
            wire["workflowName"] = row["workflow_name"]
        usage = await self.store.task_usage(task_id)
        if usage is not None and usage["n"]:
            wire["usage"] = {k: v for k, v in {
                "inputTokens": usage["i"] or 0,
                "outputTokens": usage["o"] or 0,
                "totalTokens": (usage["i"] or 0) + (usage["o"] or 0),
                "costMicros": usage["c"] or 0,
                "modelId": usage["m"],
                "startedAt": usage["s"],
                "finishedAt": usage["f"] if wire["status"] in ("completed", "failed", "cancelled") else None,
            }.items() if v is not None}
        diffs = await self.store.run_diffs(task_id)
        if diffs:
            wire["diff"] = "\n".join(diffs)
        return wire

    async def update_task(self, task_id: str, body: TaskUpdate) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name in ("title", "description", "priority", "assigned_agent", "agent_profile", "result"):
            if name in body.model_fields_set:
                fields[name] = getattr(body, name)
        if "document_ids" in body.model_fields_set:
            fields["document_ids"] = body.document_ids or []
        target = body.status if "status" in body.model_fields_set else None

        task = await self.store.require_task(task_id)
        current = TaskStatus(task["status"])
        if target is None:
            if not fields:
                return task_row_to_wire(task)
            async with self.store.transaction() as tx:
                wire = await tx.update_task(task_id, fields)
            if wire is None:
                raise NotFound("Task not found")
            return wire

        refusal = transition_refusal(current, target)
        if refusal is not None:
            raise InvalidTransition(refusal)
        if target == TaskStatus.AWAITING_INPUT:
            raise InvalidTransition("awaiting_input is set by the agent when it asks a question, not through PATCH")

        if target == TaskStatus.RUNNING:
            # Starting a task through PATCH is execute (from queued) or resume (from failed/cancelled).
            if current == TaskStatus.QUEUED:
                self.runner.check_runtime(fields.get("assigned_agent", task["assigned_agent"]))
            await self._apply_fields(task_id, fields)
            if current == TaskStatus.QUEUED:
                return await self.runner.execute(task_id)
            return await self.runner.resume(task_id)
        if target == TaskStatus.CANCELLED:
            await self._apply_fields(task_id, fields)
            return await self.cancel(task_id)

        extra = dict(fields)
        if target in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            extra["finished_at"] = now_iso()
            extra["pending_permissions"] = 0
            if target == TaskStatus.FAILED:
                extra.setdefault("error", "Marked failed by a user")
        if target in (TaskStatus.PLANNED, TaskStatus.QUEUED):
            extra.update(error=None, progress=None)
        async with self.store.transaction() as tx:
            wire = await tx.transition(task_id, target, extra, from_statuses=[current])
            if target in (TaskStatus.COMPLETED, TaskStatus.FAILED):
                await self.runner.expire_for(tx, task_id)
                await tx.task_event(task_id, "log", "system", f"Marked {target.value} by a user")
        if target in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            await self.runner.stop(task_id)
            await self._after_run(wire)
        return wire

    async def _apply_fields(self, task_id: str, fields: dict[str, Any]) -> None:
        if fields:
            async with self.store.transaction() as tx:
                await tx.update_task(task_id, fields)

    async def delete_task(self, task_id: str) -> None:
        task = await self.store.require_task(task_id)
        refusal = delete_refusal(task["status"])  # none today: a running task is stopped as it goes
        if refusal is not None:
            raise InvalidTransition(refusal)
        async with self.store.transaction() as tx:
            await self.runner.expire_for(tx, task_id)
            if not await tx.delete_task(task_id):
                raise NotFound("Task not found")
        await self.runner.stop(task_id)

    async def execute(self, task_id: str) -> None:
        await self.runner.execute(task_id)

    async def resume(self, task_id: str) -> None:
        await self.runner.resume(task_id)

    async def cancel(self, task_id: str) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        current = TaskStatus(task["status"])
        if current.is_final:
            raise InvalidTransition(f"Task cannot be cancelled: it is already {current.value}")
        async with self.store.transaction() as tx:
            wire = await tx.transition(task_id, TaskStatus.CANCELLED,
                                       {"finished_at": now_iso(), "pending_permissions": 0})
            await self.runner.expire_for(tx, task_id)
            await tx.task_event(task_id, "log", "system", "Cancelled by user")
        await self.runner.stop(task_id)
        await self._after_run(wire)
        return wire

    async def output(self, task_id: str) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        result = task["result"] or ""
        if not result and task["result_data"] is not None:
            result = json.dumps(json.loads(task["result_data"]), indent=2)
        return {"taskId": task_id, "status": task["status"], "result": result,
                "contentType": detect_content_type(result)}

    async def result(self, task_id: str) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        if task["status"] != TaskStatus.COMPLETED:
            raise Conflict(f"Result is only available when the task is completed (current: {task['status']})")
        out = await self.output(task_id)
        body = {**out}
        if task["result_data"] is not None:
            body["resultData"] = json.loads(task["result_data"])
        return body

    async def provenance(self, task_id: str) -> dict[str, Any]:
        task = await self.get_task(task_id)
        chain: list[dict[str, Any]] = []
        parent_name = None
        if task.get("workflowId"):
            parent_name = task.get("workflowName")
            chain.append({"type": "workflow", "id": task["workflowId"], "name": parent_name})
        if task.get("parentId") and task.get("sourceType") != "workflow":
            parent = await self.store.get_task_row(task["parentId"])
            if parent is not None:
                parent_name = parent["title"]
                chain.append({"type": "task", "id": parent["id"], "name": parent["title"]})
        if task.get("projectId"):
            chain.append({"type": "project", "id": task["projectId"], "name": task.get("projectName")})
        body = {"taskId": task_id, "sourceType": task.get("sourceType", "manual"), "parentId": task.get("parentId"),
                "parentName": parent_name, "projectId": task.get("projectId"),
                "projectName": task.get("projectName"), "createdAt": task["createdAt"],
                "chain": [{k: v for k, v in c.items() if v is not None} for c in chain]}
        return {k: v for k, v in body.items() if v is not None}

    async def siblings(self, task_id: str) -> list[dict[str, Any]]:
        task = await self.store.require_task(task_id)
        if not task["workflow_id"]:
            return []
        rows = await self.store.workflow_siblings(task["workflow_id"], task_id)
        return [{"id": r["id"], "title": r["title"], "status": r["status"], "createdAt": r["created_at"],
                 "stepIndex": r["step_index"]} for r in rows]

    async def spawn(self, body: TaskCreate) -> dict[str, Any]:
        self.runner.check_runtime(body.assigned_agent)
        await self.runner.check_daily_budget()
        task = await self.create_task(body, source_type="spawn", status=TaskStatus.QUEUED)
        return await self.runner.execute(task["id"])

    async def cleanup(self, body: CleanupRequest) -> dict[str, Any]:
        cutoff = (utcnow() - timedelta(hours=body.older_than_hours)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        async with self.store.transaction() as tx:
            ids = await tx.delete_finished_before(cutoff + "Z")
        return {"deleted": len(ids), "taskIds": ids}

    # ------------------------------------------------------------------ awaiting_input

    async def send_message(self, task_id: str, body: MessageCreate) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        refusal = message_refusal(task["status"])
        if refusal is not None:
            raise InvalidTransition(refusal)
        async with self.store.transaction() as tx:
            wire = await tx.transition(task_id, TaskStatus.RUNNING, {}, from_statuses=[TaskStatus.AWAITING_INPUT])
            await tx.add_message(task_id, "user", body.message)
            await tx.task_event(task_id, "log", "user", body.message)
        self.runner.deliver_answer(task_id, body.message)
        return wire

    async def messages(self, task_id: str) -> list[dict[str, Any]]:
        await self.store.require_task(task_id)
        rows = await self.store.messages(task_id)
        return [{"id": r["id"], "taskId": r["task_id"], "role": r["role"], "message": r["message"],
                 "createdAt": r["created_at"]} for r in rows]

    # ------------------------------------------------------------------ permissions

    async def respond(self, task_id: str, body: PermissionResponse) -> None:
        await self.store.require_task(task_id)
        row = await self.store.permission(body.notification_id, task_id)
        if row is None:
            raise NotFound("Notification not found")
        original = json.loads(row["tool_input"])
        if body.updated_input is not None:
            extra = sorted(set(body.updated_input) - set(original))
            if extra:
                raise ApiError(f"Disallowed input keys: {', '.join(extra)} (allowed: "
                               f"{', '.join(sorted(original)) or 'none'})", code="disallowed_input_keys")
        pattern = None
        if not body.always_allow:
            for name, value in (("expiresInSeconds", body.expires_in_seconds), ("savedBy", body.saved_by)):
                if value is not None:
                    raise field_error(name, f"{name} is about the rule alwaysAllow saves: send it with alwaysAllow")
        else:
            if body.behavior != "allow":
                raise field_error("alwaysAllow", "alwaysAllow can only be used with behavior 'allow'")
            pattern = body.permission_pattern or row["suggested_pattern"]
            try:
                compiled = compile_pattern(pattern)
            except InvalidPattern as exc:
                raise field_error("permissionPattern", str(exc)) from None
            _refuse_broad(compiled, body.allow_broad, "permissionPattern")
        now, expires_at = now_iso(), _expiry(body.expires_in_seconds)
        async with self.store.transaction() as tx:
            status = "allowed" if body.behavior == "allow" else "denied"
            updated = await tx.resolve_permission(body.notification_id, status=status, behavior=body.behavior,
                                                  decided_by="user", response_message=body.message)
            if updated is None:
                current = await tx.permission(body.notification_id)
                state = current["status"] if current else "gone"
                raise Conflict(f"Already responded (this request is {state})")
            if pattern is not None:
                rule_id = new_id()
                await tx.add_rule(rule_id, pattern, "allow", "always-allow", now, saved_by=body.saved_by,
                                  expires_at=expires_at)
                updated = await tx.link_rule(body.notification_id, rule_id)
                assert updated is not None  # answered just now, in this transaction
            await tx.change_pending_count(task_id, -1)
            await tx.update_task(task_id, {})
            verb = "Allowed" if body.behavior == "allow" else "Denied"
            until = f" (until {expires_at})" if expires_at else ""
            note = f" and saved rule {pattern!r}{until}" if pattern else ""
            await tx.task_event(task_id, "log", "permission", f"{verb} {row['tool_name']}{note}",
                                {"notificationId": body.notification_id})
            await tx.emit("permission.resolved", task_id=task_id, permission=permission_row_to_wire(updated))
            answered = await self._answer_pending_by_rules(tx) if pattern is not None else []
        decision = PermissionDecision(behavior=body.behavior, message=body.message, updated_input=body.updated_input,
                                      always=pattern is not None)
        if not self.runner.deliver_permission(body.notification_id, decision):
            # A parked run (claude-code) whose server restarted while it waited carries on with this answer.
            await self.runner.continue_parked(task_id, body.notification_id, decision)
        self._deliver_rule_answers(answered)

    async def _answer_pending_by_rules(self, tx: Tx) -> list[tuple[str, str, str]]:
        """A rule just saved answers the requests already waiting that it covers, as it would have had
        they arrived after it (deny rules win, as in runner.request_permission). (id, behavior, rule id) of each."""
        rules = rules_of(await tx.rules_in_force(now_iso()))
        answered: list[tuple[str, str, str]] = []
        for row in await tx.pending_permissions():
            key = request_key(row["tool_name"], json.loads(row["tool_input"]))
            verdict = decide(rules, key)
            if verdict is None:
                continue
            behavior, rule = verdict
            updated = await tx.resolve_permission(row["id"], status="allowed" if behavior == "allow" else "denied",
                                                  behavior=behavior, decided_by="rule", rule_id=rule.id)
            if updated is None:
                continue
            task_id = row["task_id"]
            await tx.rule_matched(rule.id, updated["resolved_at"])
            await tx.change_pending_count(task_id, -1)
            await tx.update_task(task_id, {})
            await tx.task_event(task_id, "log", "permission", rule_answer_line(behavior, row["tool_name"], rule, key),
                                {"notificationId": row["id"], "ruleId": rule.id})
            await tx.emit("permission.resolved", task_id=task_id, permission=permission_row_to_wire(updated))
            answered.append((row["id"], behavior, rule.id))
        return answered

    def _deliver_rule_answers(self, answered: list[tuple[str, str, str]]) -> None:
        for notification_id, behavior, _ in answered:
            self.runner.deliver_permission(notification_id, PermissionDecision(behavior=behavior))

    async def list_permissions(self, status: str | None, task_id: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self.store.list_permissions(status, task_id, limit)
        return [permission_row_to_wire(r) for r in rows]

    async def list_rules(self) -> list[dict[str, Any]]:
        now = now_iso()
        return [_rule_wire(r, now) for r in await self.store.list_rules()]

    async def create_rule(self, body: PermissionRuleCreate) -> dict[str, Any]:
        try:
            compiled = compile_pattern(body.pattern)
        except InvalidPattern as exc:
            raise field_error("pattern", str(exc)) from None
        if body.behavior == "allow":
            _refuse_broad(compiled, body.allow_broad, "pattern")
        now, rule_id, expires_at = now_iso(), new_id(), _expiry(body.expires_in_seconds)
        async with self.store.transaction() as tx:
            await tx.add_rule(rule_id, body.pattern, body.behavior, "user", now, saved_by=body.saved_by,
                              expires_at=expires_at)
            answered = await self._answer_pending_by_rules(tx)
        self._deliver_rule_answers(answered)
        # What it answered at once counts among its matches, like any later one.
        matched = sum(1 for *_, by in answered if by == rule_id)
        row = {"id": rule_id, "pattern": body.pattern, "behavior": body.behavior, "source": "user",
               "created_at": now, "saved_by": body.saved_by, "expires_at": expires_at,
               "match_count": matched, "last_matched_at": now if matched else None}
        return _rule_wire(row, now)

    async def delete_rule(self, rule_id: str) -> None:
        async with self.store.transaction() as tx:
            deleted = await tx.delete_rule(rule_id)
        if not deleted:
            raise NotFound("Rule not found")

    # ------------------------------------------------------------------ projects, workflows

    async def create_project(self, body: ProjectCreate) -> dict[str, Any]:
        project_id, created = new_id(), now_iso()
        project = {"id": project_id, "name": body.name, "description": body.description,
                   "workingDirectory": body.working_directory, "createdAt": created}
        async with self.store.transaction() as tx:
            await tx.add_project(project_id, body.name, body.description, body.working_directory, created)
        return {**{k: v for k, v in project.items() if v is not None}, "taskCount": 0}

    async def list_projects(self) -> list[dict[str, Any]]:
        rows = await self.store.list_projects()
        return [_project_wire(r) for r in rows]

    async def get_project(self, project_id: str) -> dict[str, Any]:
        row = await self.store.project(project_id)
        if row is None:
            raise NotFound("Project not found")
        return _project_wire(row)

    async def create_workflow(self, body: WorkflowCreate) -> dict[str, Any]:
        workflow_id = new_id()
        now = now_iso()
        async with self.store.transaction() as tx:
            await tx.add_workflow(workflow_id, body.name, body.project_id, now)
        for index, step in enumerate(body.steps):
            create = TaskCreate(title=step.title, description=step.description, project_id=body.project_id,
                                priority=step.priority, assigned_agent=step.assigned_agent,
                                agent_profile=step.agent_profile, task_type=step.task_type, params=step.params)
            await self.create_task(create, source_type="workflow", workflow_id=workflow_id, step_index=index,
                                   parent_id=workflow_id)
        if body.start:
            await self._advance_workflow(workflow_id)
        return await self.get_workflow(workflow_id)

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        row = await self.store.workflow_row(workflow_id)
        if row is None:
            raise NotFound("Workflow not found")
        tasks = await self.store.workflow_tasks(workflow_id)
        wires = [task_row_to_wire(t) for t in tasks]
        body = {"id": row["id"], "name": row["name"], "projectId": row["project_id"],
                "status": _workflow_status([t["status"] for t in wires]), "createdAt": row["created_at"],
                "tasks": wires}
        return {k: v for k, v in body.items() if v is not None}

    async def list_workflows(self) -> list[dict[str, Any]]:
        return [await self.get_workflow(workflow_id) for workflow_id in await self.store.workflow_ids(200)]

    async def _advance_workflow(self, workflow_id: str) -> None:
        """Start the first step that is still planned once every step before it has completed."""
        rows = await self.store.workflow_tasks(workflow_id)
        for row in rows:
            if row["status"] == TaskStatus.COMPLETED:
                continue
            if row["status"] == TaskStatus.PLANNED:
                try:
                    async with self.store.transaction() as tx:
                        await tx.transition(row["id"], TaskStatus.QUEUED, {}, from_statuses=[TaskStatus.PLANNED])
                    await self.runner.execute(row["id"])
                except ApiError as exc:
                    async with self.store.transaction() as tx:
                        await tx.task_event(row["id"], "log", "error", f"Workflow could not start this step: "
                                                                       f"{exc.message}")
            return

    async def _after_run(self, task: dict[str, Any]) -> None:
        if task.get("workflowId") and task.get("status") == TaskStatus.COMPLETED:
            await self._advance_workflow(task["workflowId"])

    # ------------------------------------------------------------------ facts

    async def stats(self) -> dict[str, Any]:
        rows = await self.store.status_counts()
        counts = {s.value: 0 for s in TaskStatus}
        cost = 0
        for r in rows:
            counts[r["status"]] = r["n"]
            cost += r["c"] or 0
        pending = await self.store.pending_permission_count()
        today = await self.store.cost_since(utcnow().strftime("%Y-%m-%dT00:00:00.000Z"))
        body = {"counts": counts, "total": sum(counts.values()), "pendingPermissions": pending,
                "costMicros": cost, "todayCostMicros": today, "revision": await self.store.head_revision()}
        if self.settings.daily_budget_usd is not None:
            body["dailyBudgetMicros"] = int(self.settings.daily_budget_usd * 1_000_000)
        return body

    def runtimes(self) -> list[dict[str, Any]]:
        out = []
        for rt in (DemoRuntime, ShellRuntime):
            out.append({"id": rt.id, "name": rt.name, "description": rt.description,
                        "enabled": rt.id in self.runner.runtimes})
        from taskboard_backend.runtimes.claude_code import ClaudeCodeRuntime, sdk_available
        from taskboard_backend.runtimes.codex import CodexRuntime, find_codex

        def codex_missing() -> str | None:
            found = find_codex(self.settings.codex_path)
            return found if isinstance(found, str) else None

        # The real agents: (class, why it cannot run here, how to turn it on).
        agents: dict[str, tuple[Any, Callable[[], str | None], str]] = {
            "claude-code": (ClaudeCodeRuntime, sdk_available, "--enable-claude (and ANTHROPIC_API_KEY)"),
            "openai-codex-app-server": (CodexRuntime, codex_missing, "--enable-codex (and OPENAI_API_KEY)")}
        for agent_id, (runtime, _, _) in agents.items():
            if agent_id in self.runner.runtimes:
                out.append({"id": agent_id, "name": runtime.name, "description": runtime.description,
                            "enabled": True})
        aliased = self.settings.alias_seed_agents
        for agent in SEED_AGENT_IDS:
            if agent in self.runner.runtimes:
                continue
            if agent in agents and not aliased:
                runtime, missing, switch = agents[agent]
                problem = missing()
                why = f"start the server with {switch} to run it" + (f"; first: {problem}" if problem else "")
                out.append({"id": agent, "name": runtime.name, "description": f"Off: {why}", "enabled": False})
                continue
            out.append({"id": agent, "name": agent,
                        "description": "Runs on the demo runtime in this demo server" if aliased
                        else "Not configured on this server",
                        "enabled": aliased, **({"aliasOf": "demo"} if aliased else {})})
        return out


async def _parked_and_pending(tx: Tx, checkpoint: str | None) -> bool:
    """Whether a task's run parked (claude-code) and still waits for one of its requests."""
    try:
        data = json.loads(checkpoint) if checkpoint else None
    except ValueError:
        return False
    for entry in parked_entries(data):
        row = await tx.permission(entry["notificationId"])
        if row is not None and row["status"] == "pending":
            return True
    return False


def _expiry(seconds: int | None) -> str | None:
    """When a rule saved now with that lifetime stops matching, by the server's clock (utcnow)."""
    if seconds is None:
        return None
    return iso(utcnow() + timedelta(seconds=seconds))


def _rule_wire(row: Any, now: str) -> dict[str, Any]:
    body = {"id": row["id"], "pattern": row["pattern"], "behavior": row["behavior"], "source": row["source"],
            "createdAt": row["created_at"], "savedBy": row["saved_by"], "matchCount": row["match_count"],
            "lastMatchedAt": row["last_matched_at"], "expiresAt": row["expires_at"],
            "expired": row["expires_at"] is not None and row["expires_at"] <= now}
    return {k: v for k, v in body.items() if v is not None}


def _refuse_broad(pattern: CompiledPattern, meant: bool, field: str) -> None:
    """An allow rule for every tool or every argument is a decision about much more than the request a
    person was shown: saved only when the caller says so (allowBroad)."""
    covers = broadness(pattern)
    if covers is not None and not meant:
        raise field_error(field, f"Pattern {pattern.text!r} allows {covers}; send \"allowBroad\": true if that is "
                                 "what you mean")


def _project_wire(row: Row) -> dict[str, Any]:
    body = {"id": row["id"], "name": row["name"], "description": row["description"],
            "workingDirectory": row["working_directory"], "createdAt": row["created_at"],
            "taskCount": row["task_count"]}
    return {k: v for k, v in body.items() if v is not None}


def _workflow_status(statuses: list[str]) -> str:
    if not statuses:
        return "planned"
    if all(s == "completed" for s in statuses):
        return "completed"
    for s in ("awaiting_input", "running", "failed", "cancelled", "queued"):
        if s in statuses:
            return s
    return "running" if "completed" in statuses else "planned"
