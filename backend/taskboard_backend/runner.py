"""Executes tasks as asyncio tasks, one per running attempt, under a concurrency limit.

A task becomes `running` the moment execute/resume is accepted; its runtime
waits for a free slot. Every write a run makes names its attempt, so a stale
run (cancelled, or superseded by a resume) cannot change the task any more.

On SQLite the run starts in the server that accepted it. On a shared database (PostgreSQL) the run is
queued in the ledger instead, and every server's runner (and every `taskboard worker`) claims queued runs
of the runtimes it has, one per free slot, so none runs more than its --concurrency and each run is taken
once (Store.claim_run: FOR UPDATE SKIP LOCKED), as River's and Oban's workers take jobs. A queued run
is nobody's until it is claimed, as a job in their queues: if the server that accepted it dies or stops
first, it stays queued and the next runner with its runtime takes it (an operator of a durable queue expects
an accepted job to outlive the process that took the request). Only a claimed run belongs to a server, held
by its lease, and fails resumable with it. (On SQLite a run waiting for a slot fails resumable with its
server: there is no other runner to take it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskboard.models import MAX_RESUME_COUNT, SEED_AGENT_IDS, TaskStatus, execute_refusal, resume_refusal
from taskboard_backend.errors import ApiError, BudgetExceeded, InvalidTransition, NotFound
from taskboard_backend.permissions import (
    decide,
    request_argument,
    request_key,
    rule_answer_line,
    rules_of,
    suggest_pattern,
)
from taskboard_backend.runtimes import DemoRuntime, RunOutcome, Runtime, RuntimeFailure, ShellRuntime
from taskboard_backend.runtimes.base import PermissionDecision, parked_entries
from taskboard_backend.runtimes.demo import INPUT_MICROS_PER_TOKEN, OUTPUT_MICROS_PER_TOKEN
from taskboard_backend.store import Row, StoreNotWritable, new_id, now_iso, permission_row_to_wire, utcnow

if TYPE_CHECKING:
    from taskboard_backend.settings import Settings
    from taskboard_backend.store import Store, Tx

log = logging.getLogger("taskboard.runner")
FINISH_RETRY_SECONDS = 1.0
# What a run waiting for a slot shows (RunContext.progress's form, as _run writes it).
WAITING_FOR_SLOT: dict[str, Any] = {"current": 0, "phase": "waiting", "message": "Waiting for a free runner slot"}

class RunBudgetExceeded(Exception):
    pass


class StaleAttempt(Exception):
    """This run no longer owns the task (it was cancelled, finished or resumed elsewhere). `cancelled`: its
    attempt was cancelled, which a run's own write can see before the word of it comes (from another server),
    and which its ledger row then says, as for a cancel that reached it."""

    def __init__(self, cancelled: bool = False) -> None:
        super().__init__()
        self.cancelled = cancelled


def stale(row: Row | None, attempt: int) -> StaleAttempt:
    """The StaleAttempt a run meets, from its task's state as the write that found it read it."""
    return StaleAttempt(cancelled=row is not None and row["attempt"] == attempt
                        and row["status"] == TaskStatus.CANCELLED)


class Runner:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.runtimes: dict[str, Runtime] = {"demo": DemoRuntime()}
        if settings.enable_shell:
            self.runtimes["shell"] = ShellRuntime(settings.shell_env)
        if settings.enable_claude:
            from taskboard_backend.runtimes.claude_code import ClaudeCodeRuntime

            self.runtimes["claude-code"] = ClaudeCodeRuntime(
                home=settings.claude_dir / "home", work_root=settings.claude_dir / "work",
                roots=tuple(Path(r) for r in settings.claude_roots), env_names=settings.shell_env,
                anthropic_env=settings.anthropic_env, model=settings.claude_model,
                permission_window=settings.claude_permission_window)
        if settings.enable_codex:
            from taskboard_backend.runtimes.codex import CodexRuntime, Price

            self.runtimes["openai-codex-app-server"] = CodexRuntime(
                home=settings.codex_dir / "home", work_root=settings.codex_dir / "work",
                tmp_root=settings.codex_dir / "tmp", roots=tuple(Path(r) for r in settings.codex_roots),
                env_names=settings.shell_env, openai_env=settings.openai_env, binary=settings.codex_path,
                model=settings.codex_model, permission_window=settings.codex_permission_window,
                prices={model: Price(*rates) for model, rates in settings.codex_prices.items()})
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._active: dict[str, tuple[int, asyncio.Task[None]]] = {}
        # Runs whose runtime is done and which are saying how they ended: a cancel no longer reaches them.
        self._ending: set[asyncio.Task[None]] = set()
        self._permission_waiters: dict[str, asyncio.Future[PermissionDecision]] = {}
        self._answer_waiters: dict[str, asyncio.Future[str]] = {}
        # Answers to a parked run's request that arrived after its run was gone (a restart): the
        # attempt started to carry on takes its answer from here.
        self._parked_answers: dict[str, dict[str, PermissionDecision]] = {}
        self.on_finished: list[Any] = []  # callbacks(task_wire) after a run ends
        self._finishing: set[asyncio.Task[None]] = set()  # runs waiting for the disk to say they ended
        # What a write that failed for the database's reasons raises: the run's end is written later.
        self._write_errors: tuple[type[BaseException], ...] = (StoreNotWritable, *store.driver_errors)
        # On a shared database a cancel, an answer or a message may come through another server.
        self._looking: set[asyncio.Task[None]] = set()
        store.on_changed_elsewhere(self._changed_elsewhere)

    # ------------------------------------------------------------------ runtime choice

    def runtime_id_for(self, assigned_agent: str | None) -> str:
        agent = assigned_agent or self.settings.default_runtime
        if self.settings.alias_seed_agents and agent in SEED_AGENT_IDS and agent not in self.runtimes:
            return "demo"  # --demo: the seed's agents run on the demo runtime, unless this one is real here
        return agent

    def check_runtime(self, assigned_agent: str | None) -> Runtime:
        runtime_id = self.runtime_id_for(assigned_agent)
        runtime = self.runtimes.get(runtime_id)
        if runtime is None:
            available = ", ".join(sorted(self.runtimes))
            switch = {"shell": "--enable-shell", "claude-code": "--enable-claude",
                      "openai-codex-app-server": "--enable-codex"}.get(runtime_id)
            hint = f" (start the server with {switch} to allow it)" if switch else ""
            raise ApiError(
                f"Runtime '{runtime_id}' is not configured on this server{hint}; available: {available}",
                code="runtime_unavailable",
            )
        return runtime

    async def check_daily_budget(self) -> None:
        if self.settings.daily_budget_usd is None:
            return
        now = utcnow()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        spent = await self.store.cost_since(midnight.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        limit = int(self.settings.daily_budget_usd * 1_000_000)
        if spent >= limit:
            retry_after = int(((midnight + timedelta(days=1)) - now).total_seconds()) + 1
            raise BudgetExceeded(
                f"Budget limit exceeded: ${spent / 1e6:.2f} of the ${limit / 1e6:.2f} daily budget spent today "
                "(UTC); raise it with --daily-budget or wait until tomorrow",
                headers={"Retry-After": str(retry_after)},
            )

    def budget_micros_for(self, task: dict[str, Any]) -> int:
        usd = self.settings.workflow_step_max_budget_usd if task.get("workflow_id") else self.settings.max_budget_usd
        return int(usd * 1_000_000)

    # ------------------------------------------------------------------ start / stop

    async def execute(self, task_id: str) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        refusal = execute_refusal(task["status"])
        if refusal is not None:
            raise InvalidTransition(refusal)
        runtime = self.check_runtime(task["assigned_agent"])
        await self.check_daily_budget()
        return await self._start(task_id, runtime, resumed=False, from_statuses=[TaskStatus.QUEUED])

    async def resume(self, task_id: str) -> dict[str, Any]:
        task = await self.store.require_task(task_id)
        refusal = resume_refusal(task["status"], task["attempt"], task["resume_count"])
        if refusal is not None:
            raise InvalidTransition(refusal)
        runtime = self.check_runtime(task["assigned_agent"])
        await self.check_daily_budget()
        return await self._start(task_id, runtime, resumed=True,
                                 from_statuses=[TaskStatus.FAILED, TaskStatus.CANCELLED])

    async def _start(self, task_id: str, runtime: Runtime, *, resumed: bool,
                     from_statuses: list[TaskStatus]) -> dict[str, Any]:
        now = now_iso()
        async with self.store.transaction() as tx:
            row = await tx.run_state(task_id)
            if row is None:
                raise NotFound("Task not found")
            attempt = int(row["attempt"]) + 1
            fields: dict[str, Any] = {"attempt": attempt, "error": None, "started_at": now, "finished_at": None,
                                      "pending_permissions": 0}
            if resumed:
                fields["resume_count"] = int(row["resume_count"]) + 1
                if fields["resume_count"] > MAX_RESUME_COUNT:  # a race lost to another resume
                    raise InvalidTransition(resume_refusal(TaskStatus.FAILED, 1, MAX_RESUME_COUNT) or "")
            else:
                fields["checkpoint"] = None
                fields["progress"] = None
            queued = self.store.shared
            if queued and self._slots.locked():  # as _run says on SQLite; the runtime's first progress replaces it
                fields["progress"] = WAITING_FOR_SLOT
            wire = await tx.transition(task_id, TaskStatus.RUNNING, fields, from_statuses=from_statuses)
            if queued:
                await tx.queue_run(task_id, attempt, runtime.id, now, resumed=resumed)
            else:
                await tx.start_run(task_id, attempt, runtime.id, now)
            verb = "Resume" if resumed else "Execution"
            # The data marks where this attempt's lines begin: a log shows every run, and a reader can pick one.
            await tx.task_event(task_id, "log", "system", f"{verb} started (attempt {attempt}, runtime {runtime.id})",
                                {"attempt": attempt})
        if not self.store.shared:
            self._launch(task_id, attempt, runtime, resumed)
        return wire

    def _launch(self, task_id: str, attempt: int, runtime: Runtime, resumed: bool, *, has_slot: bool = False) -> None:
        handle = asyncio.create_task(self._run(task_id, attempt, runtime, resumed, has_slot=has_slot),
                                     name=f"run:{task_id}:{attempt}")
        self._active[task_id] = (attempt, handle)

    # ------------------------------------------------------------------ claims (a shared database)

    async def claim_runs(self, poll: float = 1.0) -> None:
        """Take queued runs while this runner has a free slot: a slot first, then the oldest queued run of a
        runtime this server has. A queued run (through any server) wakes it; it also looks every `poll`
        seconds, for a wake-up that was lost."""
        wake = asyncio.Event()
        self.store.on_run_queued(wake.set)
        while True:
            await self._slots.acquire()
            wake.clear()  # before the look: a run queued during it wakes the next wait
            try:
                claimed = await self.store.claim_run(list(self.runtimes))
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception as exc:  # the database is away: look again later
                log.warning("could not claim a queued run: %s", exc)
                claimed = None
            if claimed is not None:
                runtime = self.runtimes[str(claimed["runtime"])]
                self._launch(str(claimed["task_id"]), int(claimed["attempt"]), runtime, bool(claimed["resumed"]),
                             has_slot=True)
                continue
            self._slots.release()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await wake.wait()

    async def stop(self, task_id: str) -> None:
        """End the runtime of a task whose status was already moved on (cancel, delete, external finish)."""
        entry = self._active.get(task_id)
        if entry is None:
            return
        _, handle = entry
        self._end_runtime(handle)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(handle), 5)

    async def shutdown(self) -> None:
        for retry in list(self._finishing):
            retry.cancel()  # start-up recovery fails what is still running, resumable
        handles = [h for _, h in self._active.values()]
        for handle in handles:
            self._end_runtime(handle)
        if handles:
            await asyncio.wait(handles, timeout=5)

    def _end_runtime(self, handle: asyncio.Task[None]) -> None:
        """Cancel a run's runtime. Not once that has ended: the run is then writing how it ended (the ledger's
        outcome, the task's final state), and a cancel there would leave the run open in the ledger for ever
        (a cancel through another server comes to this one twice, as its word and as the run's own next
        write finding the task cancelled; the second cut the first one's ending short)."""
        if handle not in self._ending:
            handle.cancel()

    def is_active(self, task_id: str) -> bool:
        return task_id in self._active

    # ------------------------------------------------------------------ the run

    async def _run(self, task_id: str, attempt: int, runtime: Runtime, resumed: bool, *,
                   has_slot: bool = False) -> None:
        ctx: RunContextImpl | None = None
        final: dict[str, Any] | None = None
        outcome = "interrupted"
        held = has_slot  # a claimed run comes with its slot
        me = asyncio.current_task()
        assert me is not None
        try:
            try:
                try:
                    task = await self.store.require_task(task_id)
                except NotFound:  # deleted between its claim and now (a claimed run starts a moment later)
                    raise StaleAttempt() from None
                ctx = RunContextImpl(self, task, attempt, resumed)
                if task.get("project_id"):
                    project = await self.store.project(task["project_id"])
                    ctx.project_dir = project["working_directory"] if project else None
                if not held:
                    if self._slots.locked():
                        await ctx.progress(0, None, phase="waiting", message=WAITING_FOR_SLOT["message"])
                    await self._slots.acquire()
                held = False
                ctx.holds_slot = True
                try:
                    result = await runtime.run(ctx)
                finally:
                    if ctx.holds_slot:
                        ctx.holds_slot = False
                        self._slots.release()
            finally:
                # Before any of the handlers below: a cancel delivered now would land in their writes.
                self._ending.add(me)
            try:
                final = await self._finish(task_id, attempt, TaskStatus.COMPLETED, result=result)
            except StoreNotWritable as exc:
                final = await self._finish_or_later(task_id, attempt, f"Interrupted: {exc.message}; resume it "
                                                                      "once the database can be written again")
            outcome = "completed"
        except asyncio.CancelledError:
            outcome = "cancelled"
        except StaleAttempt as exc:
            outcome = "cancelled" if exc.cancelled else "superseded"
        except RunBudgetExceeded as exc:
            final = await self._finish_or_later(task_id, attempt, str(exc))
            outcome = "budget_exceeded"
        except RuntimeFailure as exc:
            final = await self._finish_or_later(task_id, attempt, str(exc))
            outcome = "failed"
        except StoreNotWritable as exc:
            # The run cannot write its log or progress: it ends, failed and resumable, once it can be said.
            final = await self._finish_or_later(task_id, attempt, f"Interrupted: {exc.message}; resume it once "
                                                                  "the database can be written again")
            outcome = "interrupted"
        except Exception as exc:  # a bug in a runtime must not leave the task running
            log.exception("runtime %s crashed on task %s", runtime.id, task_id)
            final = await self._finish_or_later(task_id, attempt, f"Runtime error: {exc}")
            outcome = "failed"
        finally:
            if held:  # ended before the runtime started (deleted, a database error): the claim's slot goes back
                self._slots.release()
            if self._active.get(task_id, (None,))[0] == attempt:
                self._active.pop(task_id, None)
            await self._close_run(task_id, attempt, outcome)
            self._ending.discard(me)
        if final is not None:
            for callback in self.on_finished:
                try:
                    await callback(final)
                except Exception:
                    log.exception("after-run callback failed for %s", task_id)

    async def _finish(self, task_id: str, attempt: int, status: TaskStatus, *, result: RunOutcome | None = None,
                      error: str | None = None) -> dict[str, Any] | None:
        fields: dict[str, Any] = {"finished_at": now_iso(), "pending_permissions": 0}
        if result is not None:
            fields["result"] = result.result
            fields["result_data"] = result.result_data
        if error is not None:
            fields["error"] = error
        try:
            async with self.store.transaction() as tx:
                if error is not None:
                    await tx.task_event(task_id, "log", "error", error)
                wire = await tx.transition(task_id, status, fields,
                                           from_statuses=[TaskStatus.RUNNING, TaskStatus.AWAITING_INPUT],
                                           attempt=attempt)
                await self.expire_for(tx, task_id)
                await tx.task_event(task_id, "log", "system", f"Task {status.value}")
                return wire
        except StoreNotWritable:
            raise
        except ApiError:
            # Lost the race to a cancel or an external PATCH: that final state stands.
            return None

    async def _finish_or_later(self, task_id: str, attempt: int, error: str) -> dict[str, Any] | None:
        """Fail the run now, or, when the database cannot be written (a full disk), as soon as it can: a
        task that could not say it stopped must not stay `running` for ever."""
        try:
            return await self._finish(task_id, attempt, TaskStatus.FAILED, error=error)
        except self._write_errors as exc:
            log.warning("could not end the run of %s yet (%s); trying again every %g s", task_id, exc,
                        FINISH_RETRY_SECONDS)
            retry = asyncio.create_task(self._finish_when_writable(task_id, attempt, error),
                                        name=f"finish-later:{task_id}:{attempt}")
            self._finishing.add(retry)
            retry.add_done_callback(self._finishing.discard)
            return None

    async def _finish_when_writable(self, task_id: str, attempt: int, error: str) -> None:
        while True:
            await asyncio.sleep(FINISH_RETRY_SECONDS)
            try:
                final = await self._finish(task_id, attempt, TaskStatus.FAILED, error=error)
            except self._write_errors:
                continue
            if final is not None:
                for callback in self.on_finished:
                    with contextlib.suppress(Exception):
                        await callback(final)
            return

    async def _close_run(self, task_id: str, attempt: int, outcome: str) -> None:
        try:
            async with self.store.transaction() as tx:
                await tx.end_run(task_id, attempt, outcome)
        except Exception as exc:  # the database is away: start-up recovery or the lease's reaper closes it
            log.warning("could not close the run of %s in the ledger: %s", task_id, exc)
        for key in [k for k, f in self._permission_waiters.items() if f.done()]:
            self._permission_waiters.pop(key, None)

    async def expire_for(self, tx: Tx, task_id: str) -> None:
        """The task's pending requests expire (in the store) and what its run waits for here ends."""
        for row in await tx.expire_pending_permissions(task_id):
            waiter = self._permission_waiters.pop(row["id"], None)
            if waiter is not None and not waiter.done():
                waiter.cancel()
        fut = self._answer_waiters.pop(task_id, None)
        if fut is not None and not fut.done():
            fut.cancel()

    # ------------------------------------------------------------------ changes through other servers

    def _changed_elsewhere(self, task_id: str) -> None:
        """Another server changed a task: if it runs here, see whether that was meant for its run."""
        if task_id in self._active:
            look = asyncio.create_task(self._look_at(task_id), name=f"look:{task_id}")
            self._looking.add(look)
            look.add_done_callback(self._looking.discard)

    async def _look_at(self, task_id: str) -> None:
        entry = self._active.get(task_id)
        if entry is None:
            return
        attempt, handle = entry
        try:
            task = await self.store.get_task_row(task_id)
            if task is None or task["attempt"] != attempt or task["status"] not in ("running", "awaiting_input"):
                self._end_runtime(handle)  # cancelled, finished, deleted or run again through another server
                return
            for notification_id, waiter in list(self._permission_waiters.items()):
                if waiter.done():
                    continue
                row = await self.store.permission(notification_id, task_id)
                if row is None or row["status"] == "pending":
                    continue
                if row["status"] == "expired":
                    waiter.cancel()
                else:
                    self.deliver_permission(notification_id, PermissionDecision(
                        behavior="allow" if row["behavior"] == "allow" else "deny",
                        message=row["response_message"]))
            if task_id in self._answer_waiters and task["status"] == "running":
                said = [m for m in await self.store.messages(task_id) if m["role"] == "user"]
                if said:
                    self.deliver_answer(task_id, said[-1]["message"])
        except Exception as exc:  # the next change looks again
            log.warning("could not look at %s after a change elsewhere: %s", task_id, exc)

    # ------------------------------------------------------------------ answers from the API

    def deliver_permission(self, notification_id: str, decision: PermissionDecision) -> bool:
        """Whether a run was waiting for this answer."""
        fut = self._permission_waiters.pop(notification_id, None)
        if fut is not None and not fut.done():
            fut.set_result(decision)
            return True
        return False

    async def continue_parked(self, task_id: str, notification_id: str, decision: PermissionDecision) -> bool:
        """A person answered a request a parked run waits for, and that run is gone (the server restarted
        while it waited): once every request it waits for is answered, start a new attempt that resumes the
        agent's session with the answers. It is the same run carrying on, not a resume: resume_count is
        not touched."""
        if task_id in self._active:
            return False
        task = await self.store.get_task_row(task_id)
        if task is None or task["status"] != TaskStatus.RUNNING:
            return False
        checkpoint = json.loads(task["checkpoint"]) if task["checkpoint"] else {}
        parked = parked_entries(checkpoint)
        if notification_id not in {p["notificationId"] for p in parked}:
            return False
        answers = self._parked_answers.setdefault(task_id, {})
        answers[notification_id] = decision
        for entry in parked:
            if entry["notificationId"] in answers:
                continue
            row = await self.store.permission(entry["notificationId"])
            if row is None or row["status"] == "pending":
                return False  # another still waits for a person
            # Answered before a restart lost what was said: behavior and message are on record.
            behavior = "allow" if row["behavior"] == "allow" else "deny"
            answers[entry["notificationId"]] = PermissionDecision(behavior=behavior, message=row["response_message"])
        runtime = self.runtimes.get(self.runtime_id_for(task["assigned_agent"]))
        if runtime is None:
            return False
        now = now_iso()
        async with self.store.transaction() as tx:
            attempt = int(task["attempt"]) + 1
            wire = await tx.update_task(task_id, {"attempt": attempt, "started_at": now},
                                        from_statuses=[TaskStatus.RUNNING], attempt=int(task["attempt"]))
            if wire is None:
                return False
            await tx.start_run(task_id, attempt, runtime.id, now)
            await tx.task_event(task_id, "log", "system", f"The request was answered: carrying on (attempt {attempt}, "
                                                          f"runtime {runtime.id})", {"attempt": attempt})
        # Here, not queued: the answers that carry it on are in this process (_parked_answers).
        self._launch(task_id, attempt, runtime, True)
        return True

    def deliver_answer(self, task_id: str, message: str) -> None:
        fut = self._answer_waiters.pop(task_id, None)
        if fut is not None and not fut.done():
            fut.set_result(message)


class RunContextImpl:
    def __init__(self, runner: Runner, task: dict[str, Any], attempt: int, resumed: bool) -> None:
        self.runner = runner
        self.store = runner.store
        self.task_id: str = task["id"]
        self.attempt = attempt
        self.title: str = task["title"]
        self.description: str | None = task["description"]
        self.params: dict[str, Any] = json.loads(task["params"]) if task["params"] else {}
        # The task's project's workingDirectory, filled in by Runner._run (claude-code works there).
        self.project_dir: str | None = None
        self.checkpoint: dict[str, Any] | None = json.loads(task["checkpoint"]) if task["checkpoint"] else None
        self.resumed = resumed
        self.speed = max(runner.settings.demo_speed, 0.001)
        self.budget_micros = runner.budget_micros_for(task)
        self.run_cost = 0
        # The answers (by notification id) to the requests this task's parked run waited for, when this
        # attempt carries it on after a restart.
        self.parked_answers: dict[str, PermissionDecision] = runner._parked_answers.pop(self.task_id, {})
        self.holds_slot = False

    @contextlib.asynccontextmanager
    async def slot_released(self) -> Any:
        """While a run waits for a person with nothing running (a parked claude-code run), its runner slot
        is free for other tasks; it takes one again before it goes on."""
        if not self.holds_slot:
            yield
            return
        self.holds_slot = False
        self.runner._slots.release()
        try:
            yield
        finally:
            await self.runner._slots.acquire()  # if this is cancelled, no slot is held, and none is given back
            self.holds_slot = True

    async def _owns(self, tx: Tx) -> None:
        row = await tx.run_state(self.task_id)
        if row is None or row["attempt"] != self.attempt or row["status"] not in ("running", "awaiting_input"):
            raise stale(row, self.attempt)

    async def log(self, event_type: str, message: str, data: dict[str, Any] | None = None) -> None:
        async with self.store.transaction() as tx:
            await self._owns(tx)
            await tx.task_event(self.task_id, "log", event_type, message[:10_000], data)

    async def log_many(self, lines: list[tuple[str, str]]) -> None:
        if not lines:
            return
        async with self.store.transaction() as tx:
            await self._owns(tx)
            await tx.task_events(self.task_id, "log", [(event_type, message[:10_000]) for event_type, message in lines])

    async def progress(self, current: int, total: int | None = None, *, phase: str | None = None,
                       message: str | None = None) -> None:
        percent = round(100.0 * current / total, 1) if total else None
        progress = {k: v for k, v in {"current": current, "total": total, "percent": percent, "phase": phase,
                                      "message": message}.items() if v is not None}
        async with self.store.transaction() as tx:
            wire = await tx.update_task(self.task_id, {"progress": progress},
                                        from_statuses=[TaskStatus.RUNNING, TaskStatus.AWAITING_INPUT],
                                        attempt=self.attempt)
            if wire is None:  # the state read only on this way out, in the same transaction
                raise stale(await tx.run_state(self.task_id), self.attempt)
            await tx.task_event(self.task_id, "progress", "progress", message or f"{current}/{total or '?'}",
                                {"status": wire["status"], "progress": progress})

    async def usage(self, input_tokens: int, output_tokens: int, model_id: str,
                    cost_micros: int | None = None) -> None:
        if cost_micros is None:
            cost_micros = input_tokens * INPUT_MICROS_PER_TOKEN + output_tokens * OUTPUT_MICROS_PER_TOKEN
        async with self.store.transaction() as tx:
            await self._owns(tx)
            await tx.add_usage(self.task_id, self.attempt, model_id, input_tokens, output_tokens, cost_micros)
            await tx.update_task(self.task_id, {}, attempt=self.attempt)
        self.run_cost += cost_micros
        if self.run_cost > self.budget_micros:
            raise RunBudgetExceeded(
                f"Budget exceeded: this run cost ${self.run_cost / 1e6:.4f}, over the "
                f"${self.budget_micros / 1e6:.2f} per-task limit"
            )

    async def save_checkpoint(self, data: dict[str, Any]) -> None:
        async with self.store.transaction() as tx:
            await self._owns(tx)
            await tx.save_checkpoint(self.task_id, data)

    async def set_diff(self, diff: str) -> None:
        """The unified diff of what this run changed so far (shown with the task's detail)."""
        async with self.store.transaction() as tx:
            await self._owns(tx)
            await tx.set_run_diff(self.task_id, self.attempt, diff)  # watchers fetch the detail again

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def request_permission(self, tool_name: str, tool_input: dict[str, Any],
                                 message: str | None = None, *, cwd: str | None = None,
                                 on_pending: Any = None) -> PermissionDecision:
        key = request_key(tool_name, tool_input, cwd)
        now = now_iso()
        verdict = decide(rules_of(await self.store.rules_in_force(now)), key)
        notification_id = f"notif-{new_id()}"
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PermissionDecision] = loop.create_future()
        async with self.store.transaction() as tx:
            await self._owns(tx)
            base = {"id": notification_id, "task_id": self.task_id, "attempt": self.attempt, "tool_name": tool_name,
                    "tool_input": json.dumps(tool_input), "message": message,
                    "suggested_pattern": suggest_pattern(tool_name, tool_input, cwd), "created_at": now}
            if verdict is not None:
                behavior, rule = verdict
                await tx.add_permission({**base, "status": "allowed" if behavior == "allow" else "denied",
                                         "behavior": behavior, "decided_by": "rule", "rule_id": rule.id,
                                         "resolved_at": now})
                await tx.rule_matched(rule.id, now)
                await tx.task_event(self.task_id, "log", "permission", rule_answer_line(behavior, tool_name, rule, key),
                                    {"notificationId": notification_id, "ruleId": rule.id})
            else:
                await tx.add_permission({**base, "status": "pending"})
                await tx.change_pending_count(self.task_id, 1)
                row = await tx.permission(notification_id, with_title=True)
                assert row is not None  # inserted just now, in this transaction
                await tx.task_event(self.task_id, "log", "permission",
                                    f"Permission requested: {tool_name} {request_argument(tool_input)[:200]}",
                                    {"notificationId": notification_id})
                await tx.update_task(self.task_id, {}, attempt=self.attempt)
                await tx.emit("permission.requested", task_id=self.task_id, permission=permission_row_to_wire(row))
                self.runner._permission_waiters[notification_id] = fut
        if verdict is not None:
            return PermissionDecision(behavior=verdict[0])
        if on_pending is not None:
            on_pending(notification_id)
        return await fut

    async def ask(self, question: str) -> str:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        async with self.store.transaction() as tx:
            try:
                await tx.transition(self.task_id, TaskStatus.AWAITING_INPUT, {}, from_statuses=[TaskStatus.RUNNING],
                                    attempt=self.attempt)
            except ApiError:
                raise stale(await tx.run_state(self.task_id), self.attempt) from None
            await tx.add_message(self.task_id, "agent", question)
            await tx.task_event(self.task_id, "log", "question", question)
            self.runner._answer_waiters[self.task_id] = fut
        return await fut

