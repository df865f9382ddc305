"""Stagent as it really runs (navam-io/stagent v0.3.1), from `shared/peers/stagent.md`: seed 001's Tasks API
with the server's own quirks, its notifications inbox and a scripted agent standing in for Claude Code.

The plain seed-001 proxy (`plain_seed_001.py`) is the document's version of this API; this one is what a
client meets on the real server, quirks included:

- timestamps in whole seconds; the list ordered priority ascending, then newest first, with no paging,
  no text search and one status at most;
- a missing or broken JSON body is a 500 with an empty body and no Content-Type; an unknown path is
  Next.js's HTML 404 page; a known path with the wrong method a 405 with an empty body;
- `/logs` sends `data:` frames only (no ids, no event names), replays every row of the task on connect,
  then polls with the cursor "timestamp > the last sent timestamp", so rows written in the same second
  as a row already sent are lost; the status line and headers go out only with the first frame; the
  stream never ends;
- execute of an unknown id is an empty 500; cancel works from any status; delete of a task that has log
  rows or notifications is an empty 500 (a foreign key);
- a permission request or a question is a notification; unanswered, the agent is told "denied" after
  55 s while the notification stays pending for ever (and `respond` still says 200).

The agent is scripted by the task's description, as the scripted model behind the real Claude Code is:
`SCENARIO:write PATH=...`, `SCENARIO:bash CMD=...`, `SCENARIO:ask`, `SCENARIO:slow`, `SCENARIO:burst N`
(N fast turns: rows the lossy cursor drops), `SCENARIO:fail`; anything else answers at once.

Control routes (not Stagent's) under `/_contract/`: `config` (timings), `notifications` (a request
created in the past), `drop` (every open stream ends).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]
Handler = Callable[..., Awaitable[Any]]

STATUSES = ("planned", "queued", "running", "completed", "failed", "cancelled")
AGENTS = ("claude-code", "openai-codex-app-server")
PROFILES = ("general", "code-reviewer", "researcher")
TRANSITIONS = {
    "planned": {"queued", "cancelled"}, "queued": {"running", "planned", "cancelled"},
    "running": {"completed", "failed", "cancelled"}, "completed": {"planned"},
    "failed": {"planned", "queued", "running"}, "cancelled": {"planned", "running"},
}
TASK_KEYS = ("id", "projectId", "workflowId", "scheduleId", "title", "description", "status", "assignedAgent",
             "agentProfile", "priority", "result", "sessionId", "resumeCount", "createdAt", "updatedAt")
HTML_404 = ("<!DOCTYPE html><html><head><meta charSet=\"utf-8\"/><title>404: This page could not be found.</title>"
            "</head><body><div id=\"__next\"><h1 class=\"next-error-h1\">404</h1><div><h2>This page could not be "
            "found.</h2></div></div></body></html>")


def stamp(moment: datetime | None = None) -> str:
    """Stagent's clock: ISO 8601 in whole seconds, with milliseconds written as .000."""
    moment = (moment or datetime.now(UTC)).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)


class Raw:
    """A response written as given: status, headers, body (bytes)."""

    def __init__(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.status, self.body, self.content_type = status, body, content_type


def js(body: Any, status: int = 200) -> Raw:
    return Raw(status, json.dumps(body, separators=(",", ":")).encode(), "application/json")


def err(message: str, status: int = 400) -> Raw:
    return js({"error": message}, status)


class BadBody(Exception):
    """No body, or not JSON: Stagent's route throws, Next.js answers 500 with nothing in it."""


class Zod:
    """Zod v4's flatten(): fieldErrors in schema order."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def string(self, body: dict[str, Any], key: str, *, required: bool = False, low: int = 0, high: int | None = None,
               nullable: bool = False, empty: str | None = None) -> None:
        if key not in body:
            if required:
                self.add(key, "Invalid input: expected string, received undefined")
            return
        value = body[key]
        if value is None and nullable:
            return
        if not isinstance(value, str):
            self.add(key, f"Invalid input: expected string, received {kind(value)}")
        elif len(value) < low:
            self.add(key, empty or f"Too small: expected string to have >={low} characters")
        elif high is not None and len(value) > high:
            self.add(key, f"Too big: expected string to have <={high} characters")

    def number(self, body: dict[str, Any], key: str, low: float, high: float) -> None:
        if key not in body:
            return
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(key, f"Invalid input: expected number, received {kind(value)}")
        elif value < low:
            self.add(key, f"Too small: expected number to be >={low:g}")
        elif value > high:
            self.add(key, f"Too big: expected number to be <={high:g}")

    def option(self, body: dict[str, Any], key: str, options: tuple[str, ...]) -> None:
        if key in body and body[key] not in options:
            self.add(key, "Invalid option: expected one of " + "|".join(f'"{o}"' for o in options))

    def answer(self) -> Raw | None:
        if not self.fields:
            return None
        return js({"error": {"formErrors": [], "fieldErrors": self.fields}}, 400)


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Stagent:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.logs: list[dict[str, Any]] = []  # agent_log rows, oldest first
        self.notifications: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, list[dict[str, Any]]] = {}
        self.patterns: list[str] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.changed = asyncio.Event()
        self.generation = 0  # `/_contract/drop`: every open stream ends, as when a proxy or a restart cuts them
        # Real timings are slower (CLI start-up 1.7 s); the tests' defaults keep the same order of events.
        self.config = {"startDelay": 0.3, "turnDelay": 0.05, "permissionTimeout": 55.0, "keepalive": 15.0,
                       "logPoll": 0.5, "answerPoll": 0.2}

    # -- rows

    def view(self, task: dict[str, Any]) -> dict[str, Any]:
        return {key: task[key] for key in TASK_KEYS}

    def touch(self, task: dict[str, Any], **fields: Any) -> None:
        task.update(fields, updatedAt=stamp())
        self.changed.set()

    def log(self, task_id: str, event: str, payload: dict[str, Any]) -> None:
        self.logs.append({"id": str(uuid.uuid4()), "taskId": task_id, "agentType": "general", "event": event,
                          "payload": json.dumps(payload, separators=(",", ":")), "timestamp": stamp()})

    def notify(self, task_id: str, type_: str, title: str, body: str, tool: str | None = None,
               tool_input: dict[str, Any] | None = None, created: datetime | None = None) -> dict[str, Any]:
        row = {"id": str(uuid.uuid4()), "taskId": task_id, "type": type_, "title": title, "body": body,
               "read": False, "toolName": tool,
               "toolInput": json.dumps(tool_input, separators=(",", ":")) if tool_input is not None else None,
               "response": None, "respondedAt": None, "createdAt": stamp(created)}
        self.notifications[row["id"]] = row
        self.changed.set()
        return row

    # -- the scripted agent

    def start(self, task_id: str, resumed: bool = False) -> None:
        old = self.runs.pop(task_id, None)
        if old is not None:
            old.cancel()
        self.runs[task_id] = asyncio.create_task(self.run(task_id, resumed))

    async def run(self, task_id: str, resumed: bool) -> None:
        task = self.tasks[task_id]
        config = self.config
        started = stamp()
        if resumed:
            await asyncio.sleep(0.1)
            self.touch(task, resumeCount=task["resumeCount"] + 1)
            self.log(task_id, "session_resumed", {"sessionId": task["sessionId"], "resumeCount": task["resumeCount"],
                                                  "profile": "general"})
        await asyncio.sleep(config["startDelay"])
        if task["status"] != "running":
            return
        if task["sessionId"] is None:
            self.touch(task, sessionId=str(uuid.uuid4()))
        description = task["description"] or task["title"]
        words = dict(re.findall(r"([A-Z]+)=(\S+)", description))
        scenario = (re.search(r"SCENARIO:(\w+)", description) or [None, "plain"])[1]
        self.message_start(task_id)
        if scenario == "fail":
            self.log(task_id, "error", {"error": "Claude Code process exited with code 1"})
            self.finish(task, "failed", "Claude Code process exited with code 1", started)
            return
        if scenario == "burst":
            for turn in range(int(words.get("N", "30"))):
                self.text(task_id, f"turn {turn + 1}")
                await asyncio.sleep(0.005)
            self.finish(task, "completed", "FINAL: burst done", started)
            return
        if scenario == "slow":
            for turn in range(int(words.get("N", "20"))):
                self.text(task_id, f"Working on step {turn + 1}")
                await asyncio.sleep(1.0)
                if task["status"] != "running":
                    return
            self.finish(task, "completed", "FINAL: slow done", started)
            return
        if scenario in ("write", "bash", "ask"):
            if scenario == "write":
                tool, tool_input = "Write", {"file_path": words.get("PATH", "/srv/project/hello.txt"),
                                             "content": "hello from fake model\n"}
            elif scenario == "bash":
                tool, tool_input = "Bash", {"command": words.get("CMD", "echo hi").replace("+", " "),
                                            "description": "Run a command"}
            else:
                tool, tool_input = "AskUserQuestion", {"questions": [{
                    "question": "Which color should the banner use?", "header": "Color", "multiSelect": False,
                    "options": [{"label": "Blue", "description": "Calm"}, {"label": "Red", "description": "Loud"}]}]}
            self.log(task_id, "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:12], "name": tool, "input": {}}})
            self.log(task_id, "tool_start", {"tool": tool, "input": tool_input})
            said = await self.ask(task, tool, tool_input)
            if task["status"] != "running":
                return
            self.message_start(task_id)
            self.text(task_id, f"FINAL: tool said (is_error={None if said.startswith('ok') else True}): {said}")
            self.finish(task, "completed", f"FINAL: tool said (is_error=None): {said}", started)
            return
        self.text(task_id, "FINAL: hello")
        self.finish(task, "completed", "FINAL: hello", started)

    def message_start(self, task_id: str) -> None:
        self.log(task_id, "message_start", {"type": "message_start", "message": {
            "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 4280, "output_tokens": 1}}})

    def text(self, task_id: str, text: str) -> None:
        self.log(task_id, "content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}})
        for piece in re.findall(r".{1,12}", text, re.DOTALL):
            self.log(task_id, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                      "delta": {"type": "text_delta", "text": piece}})

    def covered(self, tool: str, tool_input: dict[str, Any]) -> bool:
        for pattern in self.patterns:
            match = re.fullmatch(r"(\w+)\((\w+):(.*)\)", pattern)
            if pattern == tool:
                return True
            if match and match[1] == tool:
                value = str(tool_input.get(match[2], ""))
                glob = match[3]
                if value == glob or (glob.endswith("*") and value.startswith(glob[:-1])):
                    return True
        return False

    async def ask(self, task: dict[str, Any], tool: str, tool_input: dict[str, Any]) -> str:
        """A permission request or a question, waited for as Stagent's canUseTool does (denied after 55 s)."""
        if tool != "AskUserQuestion" and self.covered(tool, tool_input):
            return "ok: done (a saved pattern allowed it)"
        body = json.dumps(tool_input)[:1000]
        if tool == "AskUserQuestion":
            row = self.notify(task["id"], "agent_message", "Agent has a question", body, tool, tool_input)
        else:
            row = self.notify(task["id"], "permission_required", f"Permission required: {tool}", body, tool,
                              tool_input)
        deadline = asyncio.get_running_loop().time() + self.config["permissionTimeout"]
        while row["response"] is None:
            if asyncio.get_running_loop().time() > deadline:
                return "denied: Permission request timed out"
            await asyncio.sleep(self.config["answerPoll"])
        answer = json.loads(row["response"])
        if answer["behavior"] == "deny":
            return "denied: " + answer.get("message", "")
        if tool == "AskUserQuestion":
            answers = (answer.get("updatedInput") or {}).get("answers") or {}
            said = ", ".join(f'"{q}"="{a}"' for q, a in answers.items())
            return f"ok: User has answered your questions: {said}. You can now continue with the user's answers in mind."
        return f"ok: {tool} ran with {json.dumps(answer.get('updatedInput') or tool_input, sort_keys=True)}"

    def finish(self, task: dict[str, Any], status: str, result: str, started: str) -> None:
        if status == "completed":
            self.log(task["id"], "completed", {"result": result[:1000]})
            self.notify(task["id"], "task_completed", f"Task completed: {task['title']}", result[:500])
        else:
            self.notify(task["id"], "task_failed", f"Task failed: {task['title']}", result)
        self.usage.setdefault(task["id"], []).append({
            "inputTokens": 4280, "outputTokens": 1, "costMicros": 12855, "modelId": "claude-sonnet-4-6",
            "startedAt": started, "finishedAt": stamp()})
        self.touch(task, status=status, result=result)

    # -- routes

    async def list_tasks(self, query: dict[str, str]) -> Raw:
        status = query.get("status", "")
        if status and status not in STATUSES:
            return err("Invalid status. Must be one of: " + ", ".join(STATUSES))
        rows = [t for t in self.tasks.values() if (not status or t["status"] == status)
                and (not query.get("projectId") or t["projectId"] == query["projectId"])]
        rows.sort(key=lambda t: (t["priority"], -parse_stamp(t["createdAt"]).timestamp(), -t["_n"]))
        return js([self.view(t) for t in rows])

    async def create_task(self, body: Any) -> Raw:
        if not isinstance(body, dict):
            return js({"error": {"formErrors": [f"Invalid input: expected object, received {kind(body)}"],
                                 "fieldErrors": {}}}, 400)
        zod = Zod()
        zod.string(body, "title", required=True, low=1, high=200, empty="Title is required")
        zod.string(body, "description", high=2000)
        zod.string(body, "projectId")
        zod.number(body, "priority", 0, 3)
        zod.option(body, "assignedAgent", AGENTS)
        zod.string(body, "agentProfile")
        if "fileIds" in body and not isinstance(body["fileIds"], list):
            zod.add("fileIds", f"Invalid input: expected array, received {kind(body['fileIds'])}")
        if (bad := zod.answer()) is not None:
            return bad
        if body.get("agentProfile") and body["agentProfile"] not in PROFILES:
            return err(f'Task profile "{body["agentProfile"]}" was not found')
        now = stamp()
        task = {"id": str(uuid.uuid4()), "projectId": body.get("projectId"), "workflowId": None, "scheduleId": None,
                "title": body["title"], "description": body.get("description"), "status": "planned",
                "assignedAgent": body.get("assignedAgent"), "agentProfile": body.get("agentProfile"),
                "priority": body.get("priority", 2), "result": None, "sessionId": None, "resumeCount": 0,
                "createdAt": now, "updatedAt": now, "_n": len(self.tasks)}
        self.tasks[task["id"]] = task
        self.changed.set()
        return js(self.view(task), 201)

    async def get_task(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Not found", 404)
        row = self.view(task)
        project = self.projects.get(task["projectId"] or "")
        if project is not None:
            row["projectName"] = project["name"]
        usage = self.usage.get(task_id)
        if usage:
            tokens_in = sum(u["inputTokens"] for u in usage)
            tokens_out = sum(u["outputTokens"] for u in usage)
            row["usage"] = {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out,
                            "costMicros": sum(u["costMicros"] or 0 for u in usage), "modelId": usage[-1]["modelId"],
                            "startedAt": usage[0]["startedAt"], "finishedAt": usage[-1]["finishedAt"]}
        return js(row)

    async def update_task(self, task_id: str, body: Any) -> Raw:
        if not isinstance(body, dict):
            return js({"error": {"formErrors": [f"Invalid input: expected object, received {kind(body)}"],
                                 "fieldErrors": {}}}, 400)
        zod = Zod()
        zod.string(body, "title", low=1, high=200, empty="Title is required")
        zod.string(body, "description", high=2000)
        zod.option(body, "status", STATUSES)
        zod.number(body, "priority", 0, 3)
        zod.option(body, "assignedAgent", AGENTS)
        zod.string(body, "agentProfile")
        zod.string(body, "result", nullable=True)
        zod.string(body, "sessionId", nullable=True)
        if (bad := zod.answer()) is not None:
            return bad
        task = self.tasks.get(task_id)
        if task is None:
            return err("Not found", 404)
        if body.get("agentProfile") and body["agentProfile"] not in PROFILES:
            return err(f'Task profile "{body["agentProfile"]}" was not found')
        status = body.get("status")
        if status and status != task["status"] and status not in TRANSITIONS[task["status"]]:
            return err(f"Invalid transition from {task['status']} to {status}")
        fields = {k: body[k] for k in ("title", "description", "status", "priority", "assignedAgent", "agentProfile",
                                       "result", "sessionId") if k in body}
        self.touch(task, **fields)
        return js(self.view(task))

    async def delete_task(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Not found", 404)
        if any(r["taskId"] == task_id for r in self.logs) or \
                any(n["taskId"] == task_id for n in self.notifications.values()):
            return Raw(500)  # FOREIGN KEY constraint failed, thrown past the route
        del self.tasks[task_id]
        self.changed.set()
        return js({"success": True})

    async def execute(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return Raw(500)  # the budget check throws before the 404 branch
        if task["status"] != "queued":
            return err(f"Task must be queued to execute, current status: {task['status']}")
        self.touch(task, status="running", agentProfile=task["agentProfile"] or "general")
        self.start(task_id)
        return js({"message": "Execution started"}, 202)

    async def resume(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Not found", 404)
        if not task["sessionId"]:
            return err("No session to resume — use Retry instead")
        if task["resumeCount"] >= 3:
            return err("Resume limit reached. Re-queue for fresh start.")
        if task["status"] not in ("failed", "cancelled"):
            return err(f"Task must be failed or cancelled to resume, current status: {task['status']}")
        self.touch(task, status="running")
        self.start(task_id, resumed=True)
        return js({"message": "Resume started"}, 202)

    async def cancel(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Not found", 404)
        run = self.runs.pop(task_id, None)
        if run is not None:
            run.cancel()
        self.touch(task, status="cancelled")
        return js({"success": True})

    async def respond(self, task_id: str, body: Any) -> Raw:
        if not isinstance(body, dict) or not isinstance(body.get("notificationId"), str) \
                or body.get("behavior") not in ("allow", "deny"):
            return err("notificationId (string) and behavior ('allow' | 'deny') are required")
        row = self.notifications.get(body["notificationId"])
        if row is None:
            return err("Notification not found", 404)
        if row["response"] is not None:
            return err("Already responded", 409)
        stored = {k: body[k] for k in ("behavior", "message", "updatedInput", "alwaysAllow") if k in body}
        row.update(response=json.dumps(stored, separators=(",", ":")), respondedAt=stamp(), read=True)
        pattern = body.get("permissionPattern")
        if body["behavior"] == "allow" and body.get("alwaysAllow") and isinstance(pattern, str) \
                and pattern not in self.patterns:
            self.patterns.append(pattern)
        self.changed.set()
        return js({"success": True})

    async def output(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Task not found", 404)
        result = task["result"] or ""
        content_type = "json" if result[:1] in "{[" and result else "markdown" if result.startswith("#") else "text"
        return js({"taskId": task_id, "status": task["status"], "result": result, "contentType": content_type})

    async def provenance(self, task_id: str) -> Raw:
        task = self.tasks.get(task_id)
        if task is None:
            return err("Task not found", 404)
        rows = [r for r in self.logs if r["taskId"] == task_id][-100:]
        timeline = [{"timestamp": r["timestamp"], "type": "log", "event": r["event"], "detail": r["payload"]}
                    for r in rows]
        asks = [n for n in self.notifications.values() if n["taskId"] == task_id and n["type"] == "permission_required"]
        timeline += [{"timestamp": n["createdAt"], "type": "approval", "event": "permission_required",
                      "detail": n["toolInput"], "status": n["response"] or "pending"} for n in asks]
        usage = self.usage.get(task_id, [])
        timeline += [{"timestamp": u["finishedAt"], "type": "cost", "event": "usage",
                      "detail": f"{u['inputTokens']} in / {u['outputTokens']} out tokens"} for u in usage]
        timeline.sort(key=lambda e: e["timestamp"], reverse=True)
        return js({"taskId": task_id, "taskTitle": task["title"], "taskStatus": task["status"], "initiator": "user",
                   "agentProfile": task["agentProfile"], "runtime": task["assignedAgent"] or "claude-code",
                   "createdAt": task["createdAt"],
                   "completedAt": task["updatedAt"] if task["status"] == "completed" else None,
                   "timeline": timeline, "totalCost": sum(u["costMicros"] or 0 for u in usage) / 1e6,
                   "approvalCount": len(asks), "toolCallCount": sum(r["event"] == "tool_start" for r in rows)})

    async def list_notifications(self, query: dict[str, str]) -> Raw:
        rows = sorted(self.notifications.values(), key=lambda n: n["createdAt"], reverse=True)
        if query.get("unread") == "true":
            rows = [n for n in rows if not n["read"]]
        if query.get("type"):
            rows = [n for n in rows if n["type"] == query["type"]]
        if query.get("countOnly") == "true":
            if not query.get("type") and query.get("unread") != "true":
                rows = [n for n in rows if not n["read"]]
            return js({"count": len(rows)})
        return js(rows[:100])

    def pending_approvals(self) -> list[dict[str, Any]]:
        rows = sorted((n for n in self.notifications.values() if n["type"] == "permission_required"
                       and n["response"] is None), key=lambda n: n["createdAt"], reverse=True)[:20]
        out = []
        for n in rows:
            task = self.tasks.get(n["taskId"], {})
            tool_input = json.loads(n["toolInput"] or "{}")
            if n["toolName"] == "Bash":
                summary = tool_input.get("command", "")
            elif n["toolName"] in ("Read", "Write", "Edit"):
                summary = tool_input.get("file_path", "")
            else:
                summary = next((v for v in tool_input.values() if isinstance(v, str)), "")
            out.append({"channel": "in_app", "notificationId": n["id"], "taskId": n["taskId"], "workflowId": None,
                        "toolName": n["toolName"], "permissionLabel": n["toolName"], "compactSummary": summary,
                        "deepLink": f"/tasks/{n['taskId']}",
                        "supportedActionIds": ["allow_once", "always_allow", "deny", "open_inbox"],
                        "title": n["title"], "body": n["body"], "taskTitle": task.get("title"), "workflowName": None,
                        "toolInput": tool_input, "createdAt": n["createdAt"], "read": n["read"],
                        "notificationType": "permission_required"})
        return out

    async def patch_notification(self, notification_id: str, body: Any) -> Raw:
        if notification_id == "mark-all-read":
            for row in self.notifications.values():
                row["read"] = True
            return js({"success": True})
        row = self.notifications.get(notification_id)
        if row is None:
            return err("Not found", 404)
        row["read"] = bool(body.get("read", True)) if isinstance(body, dict) else True
        return js(row)

    async def permissions(self, method: str, body: Any) -> Raw:
        if method == "GET":
            return js({"permissions": self.patterns})
        if not isinstance(body, dict) or not isinstance(body.get("pattern"), str):
            return err("pattern (string) is required")
        if method == "POST" and body["pattern"] not in self.patterns:
            self.patterns.append(body["pattern"])
        if method == "DELETE" and body["pattern"] in self.patterns:
            self.patterns.remove(body["pattern"])
        return js({"success": True})

    async def projects_route(self, method: str, body: Any) -> Raw:
        if method == "GET":
            return js([{**p, "taskCount": sum(t["projectId"] == p["id"] for t in self.tasks.values())}
                       for p in self.projects.values()])
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return err("Name is required")
        project = {"id": str(uuid.uuid4()), "name": body["name"], "description": body.get("description"),
                   "workingDirectory": body.get("workingDirectory"), "status": "active", "createdAt": stamp(),
                   "updatedAt": stamp()}
        self.projects[project["id"]] = project
        return js(project, 201)

    async def control(self, what: str, body: dict[str, Any]) -> Raw:
        if what == "drop":
            self.generation += 1
            return js({"generation": self.generation})
        if what == "config":
            self.config.update(body)
            return js(self.config)
        if what == "notifications":  # a request made `ageSeconds` ago, for the time-out's sake
            created = datetime.now(UTC) - timedelta(seconds=float(body.pop("ageSeconds", 0)))
            row = self.notify(body["taskId"], body.get("type", "permission_required"),
                              body.get("title", f"Permission required: {body.get('toolName', 'Bash')}"),
                              json.dumps(body.get("toolInput", {})), body.get("toolName", "Bash"),
                              body.get("toolInput", {}), created)
            return js(row, 201)
        return err("Not found", 404)


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> Any:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise BadBody() from exc


def make_app(api_key: str | None = None) -> Callable[..., Awaitable[None]]:
    state = Stagent()
    task = r"/api/tasks/(?P<id>[^/]+)"
    # (path, {method: handler(match, query, body-reader)}): a known path with another method is a 405.
    routes: list[tuple[str, dict[str, Handler]]] = []

    def route(path: str, **methods: Handler) -> None:
        routes.append((path, methods))

    route(r"/api/tasks", GET=lambda m, q, r: state.list_tasks(q),
          POST=lambda m, q, r: _with_body(r, state.create_task))
    route(task + r"/execute", POST=lambda m, q, r: state.execute(m["id"]))
    route(task + r"/resume", POST=lambda m, q, r: state.resume(m["id"]))
    route(task + r"/cancel", POST=lambda m, q, r: state.cancel(m["id"]))
    route(task + r"/respond", POST=lambda m, q, r: _with_body(r, lambda b: state.respond(m["id"], b)))
    route(task + r"/output", GET=lambda m, q, r: state.output(m["id"]))
    route(task + r"/provenance", GET=lambda m, q, r: state.provenance(m["id"]))
    route(task + r"/logs", GET=None)  # streamed below
    route(task, GET=lambda m, q, r: state.get_task(m["id"]),
          PATCH=lambda m, q, r: _with_body(r, lambda b: state.update_task(m["id"], b)),
          DELETE=lambda m, q, r: state.delete_task(m["id"]))
    route(r"/api/notifications/pending-approvals/stream", GET=None)  # streamed below
    route(r"/api/notifications/pending-approvals", GET=lambda m, q, r: _async(js(state.pending_approvals())))
    route(r"/api/notifications", GET=lambda m, q, r: state.list_notifications(q))
    route(r"/api/notifications/(?P<id>[^/]+)",
          PATCH=lambda m, q, r: _with_body(r, lambda b: state.patch_notification(m["id"], b)),
          DELETE=lambda m, q, r: _delete_notification(state, m["id"]))
    route(r"/api/permissions", GET=lambda m, q, r: state.permissions("GET", None),
          POST=lambda m, q, r: _with_body(r, lambda b: state.permissions("POST", b)),
          DELETE=lambda m, q, r: _with_body(r, lambda b: state.permissions("DELETE", b)))
    route(r"/api/profiles", GET=lambda m, q, r: _async(js([{"id": p, "name": p.replace("-", " ").title()}
                                                            for p in PROFILES])))
    route(r"/api/projects", GET=lambda m, q, r: state.projects_route("GET", None),
          POST=lambda m, q, r: _with_body(r, lambda b: state.projects_route("POST", b)))
    route(r"/_contract/(?P<what>\w+)", POST=lambda m, q, r: _with_body(r, lambda b: state.control(m["what"], b)))

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        for pattern, methods in routes:
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            if method not in methods:
                return await write(send, Raw(405))
            handler = methods[method]
            if handler is None:
                if path.endswith("/logs"):
                    return await logs(state, match["id"], send)
                return await approvals_stream(state, send)
            try:
                answer = await handler(match, query, receive)
            except BadBody:
                answer = Raw(500)
            return await write(send, answer)
        await write(send, Raw(404, HTML_404.encode(), "text/html; charset=utf-8"))

    return app


async def _async(value: Raw) -> Raw:
    return value


async def _with_body(receive: Any, handler: Callable[[Any], Awaitable[Raw]]) -> Raw:
    return await handler(await read_body(receive))


async def _delete_notification(state: Stagent, notification_id: str) -> Raw:
    state.notifications.pop(notification_id, None)
    return js({"success": True})


async def write(send: Any, answer: Raw) -> None:
    headers = [(b"content-length", str(len(answer.body)).encode())]
    if answer.content_type:
        headers.append((b"content-type", answer.content_type.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


class LazyStream:
    """An event stream whose status line and headers go out with its first frame, as Next.js sends them."""

    def __init__(self, send: Any) -> None:
        self.send, self.started = send, False

    async def frame(self, text: str) -> None:
        if not self.started:
            self.started = True
            await self.send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                (b"vary", b"rsc, next-router-state-tree, next-router-prefetch, next-router-segment-prefetch")]})
        await self.send({"type": "http.response.body", "body": text.encode(), "more_body": True})


async def logs(state: Stagent, task_id: str, send: Any) -> None:
    """Every row of the task at once, then every logPoll s the rows with a later (whole-second) timestamp."""
    stream = LazyStream(send)
    loop = asyncio.get_running_loop()
    last_keepalive = loop.time()
    sent_to = ""
    generation = state.generation
    rows = [r for r in state.logs if r["taskId"] == task_id]
    for row in rows:
        await stream.frame(f"data: {json.dumps(row, separators=(',', ':'))}\n\n")
    if rows:
        sent_to = rows[-1]["timestamp"]
    while state.generation == generation:
        await asyncio.sleep(state.config["logPoll"])
        fresh = [r for r in state.logs if r["taskId"] == task_id and r["timestamp"] > sent_to]
        for row in fresh:
            await stream.frame(f"data: {json.dumps(row, separators=(',', ':'))}\n\n")
        if fresh:
            sent_to = fresh[-1]["timestamp"]
        if loop.time() - last_keepalive >= state.config["keepalive"]:
            last_keepalive = loop.time()
            await stream.frame(": keepalive\n\n")
    if not stream.started:
        await stream.frame(": keepalive\n\n")
    await send({"type": "http.response.body", "body": b""})


async def approvals_stream(state: Stagent, send: Any) -> None:
    stream = LazyStream(send)
    loop = asyncio.get_running_loop()
    last_keepalive = loop.time()
    shown: Any = None
    while True:
        rows = state.pending_approvals()
        key = [(r["notificationId"], r["createdAt"]) for r in rows]
        if key != shown:
            shown = key
            await stream.frame(f"data: {json.dumps(rows, separators=(',', ':'))}\n\n")
        if loop.time() - last_keepalive >= state.config["keepalive"]:
            last_keepalive = loop.time()
            await stream.frame(": keepalive\n\n")
        await asyncio.sleep(0.75)

