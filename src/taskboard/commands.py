"""The scripting verbs: `taskboard ls | show | logs | create | run | cancel | resume | approve | deny |
msg | cleanup | contexts`, on the same client (and dialects) as the TUI.

Each verb takes --context, --url, --api-key and --json after it. Exit codes: 0 ok, 1 the server
refused (or cannot do it), 2 usage or config error, 3 the server could not be reached. Tables are
rich, which honours NO_COLOR; --json writes one JSON document to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
DEFAULT_URL = "http://127.0.0.1:8765"
IDLE_AFTER_BACKLOG = 1.0  # `logs` without -f: stop once the stream has been quiet this long


@dataclass
class Target:
    """Where a verb goes: a URL, its key and dialect, from the flags, a context, or the defaults."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    dialect: str = "taskboard"
    read_only: bool = False
    poll_interval: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""


def resolve_target(context: str | None, url: str | None, api_key: str | None, dialect: str | None = None) -> Target:
    """Flags win over the context, the context over the environment's TASKBOARD_URL and the default
    context, and those over http://127.0.0.1:8765."""
    from taskboard.config import load_config

    config = load_config()
    name = context or (None if url else os.environ.get("TASKBOARD_CONTEXT") or config.default_context)
    if name:
        ctx = config.get(name)
        return Target(url=url or ctx.url, api_key=api_key or ctx.resolve_key(), dialect=dialect or ctx.dialect,
                      read_only=ctx.read_only, poll_interval=ctx.poll_interval, settings=dict(ctx.settings),
                      label=name)
    final_url = url or os.environ.get("TASKBOARD_URL") or DEFAULT_URL
    return Target(url=final_url, api_key=api_key or os.environ.get("TASKBOARD_API_KEY") or None,
                  dialect=dialect or "taskboard", label=final_url)


def make_target_client(target: Target) -> Any:
    from taskboard.client.dialects import make_client

    return make_client(target.dialect, target.url, target.api_key, poll_interval=target.poll_interval,
                       **target.settings)


# ---------------------------------------------------------------------------- plumbing


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--context/--url/--api-key/--dialect/--json after the verb."""
    for option in reversed([
        click.option("--context", "-c", "context_name", default=None, metavar="NAME",
                     help="A context from the config file (`taskboard contexts`)."),
        click.option("--url", default=None, help="The server (overrides the context). Also TASKBOARD_URL."),
        click.option("--api-key", default=None,
                     help="The server's key. Prefer TASKBOARD_API_KEY or a context's api_key_env."),
        click.option("--dialect", default=None, metavar="NAME",
                     help="The server's API: taskboard, background-tasks, agent-platform, v1-envelope, cortex, "
                          "auto."),
        click.option("--json", "as_json", is_flag=True, help="Write JSON for machines instead of a table."),
    ]):
        func = option(func)
    return func


class Run:
    """One verb's run: its target, its client, and how to print."""

    def __init__(self, context_name: str | None, url: str | None, api_key: str | None, dialect: str | None,
                 as_json: bool) -> None:
        self.as_json = as_json
        self.target = resolve_target(context_name, url, api_key, dialect)

    def go(self, work: Callable[[Any], Awaitable[Any]], *, mutating: bool = False, action: str | None = None) -> None:
        """`action` names the verb's entry in taskboard/actions.py, which says whether it changes
        anything (refused on a read-only context), as it does for the TUI's keys."""
        if action is not None:
            from taskboard.actions import ACTIONS  # here: `taskboard --version` must not import the client

            mutating = mutating or ACTIONS[action].mutating
        if mutating and self.target.read_only:
            fail(f"Context {self.target.label!r} is read-only: nothing can be changed through it.", EXIT_REFUSED)

        async def main() -> Any:
            if self.target.dialect == "auto":
                from taskboard.client.dialects import detect_dialect

                self.target.dialect, seen = await detect_dialect(self.target.url, self.target.api_key)
                click.echo(f"taskboard: {self.target.url} speaks {self.target.dialect} ({seen})", err=True)
            async with make_target_client(self.target) as client:
                return await work(client)

        run_async(main())

    def emit(self, data: Any, table: Callable[[], Any]) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            console().print(table())


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def fail(message: str, code: int) -> None:
    click.echo(f"taskboard: {message}", err=True)
    sys.exit(code)


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a verb; the client's errors become a message on stderr and the documented exit code."""
    import asyncio  # here, not at the top: `taskboard --version` must not pay for it

    from taskboard.client import ApiError, ConnectionLost, TaskboardError, Unsupported
    from taskboard.config import ConfigError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ConnectionLost as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    except ApiError as exc:
        fail(f"the server refused ({exc.status}): {exc.message}", EXIT_REFUSED)
    except Unsupported as exc:
        fail(exc.message, EXIT_REFUSED)
    except (ConfigError, ValueError) as exc:
        fail(str(exc), EXIT_USAGE)
    except TaskboardError as exc:
        fail(str(exc), EXIT_REFUSED)


def usage_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A broken config file is a usage error (2), said in one line."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from taskboard.config import (
            ConfigError,  # here: `taskboard --version` must not pay for it
        )

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)

    return wrapper


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---------------------------------------------------------------------------- tables


def task_table(tasks: list[Any], now: datetime) -> Any:
    from rich.table import Table

    from taskboard.tui.format import STATUS_ICON, STATUS_STYLE, percent, task_age

    table = Table(box=None, pad_edge=False, header_style="bold")
    widths = {"ID": max((len(t.id) for t in tasks), default=2), "STATUS": 16, "PRI": 3, "DONE": 4, "AGE": 4,
              "TITLE": 12}
    for name, width in widths.items():
        # One line per task, ids whole (people copy them); the title gives way.
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=width,
                         ratio=1 if name == "TITLE" else None)
    for task in tasks:
        value = percent(task.progress)
        table.add_row(task.id, f"[{STATUS_STYLE[task.status]}]{STATUS_ICON[task.status]} "
                               f"{task.status.value.replace('_', ' ')}[/]",
                      f"P{task.priority}", f"{value:.0f}%" if value is not None else "", task_age(task, now),
                      task.title)
    return table


def detail_table(task: Any) -> Any:
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    data = task.model_dump(mode="json", exclude_none=True)
    for key, value in data.items():
        if value in ([], {}, "") or (value == 0 and key != "priority") or key == "revision":
            continue
        table.add_row(key.replace("_", " "), value if isinstance(value, str) else json.dumps(value))
    return table


# ---------------------------------------------------------------------------- verbs


@click.command("ls")
@target_options
@click.option("--status", "-s", multiple=True, help="Only these statuses (repeatable).")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--query", "-q", default=None, help="Only tasks whose title contains this.")
@usage_errors
def ls(context_name: str | None, url: str | None, api_key: str | None, dialect: str | None, as_json: bool,
       status: tuple[str, ...], limit: int, query: str | None) -> None:
    """List tasks, newest first."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: Any) -> None:
        tasks: list[Any] = []
        async for page in client.iter_task_pages(page_size=min(limit, 1000), status=list(status) or None,
                                                 q=query, sort="created"):
            tasks.extend(page.items)
            if len(tasks) >= limit:
                break
        tasks = tasks[:limit]
        run.emit([dump(t) for t in tasks], lambda: task_table(tasks, datetime.now(UTC)))

    run.go(work)


@click.command("show")
@click.argument("task_id")
@target_options
@usage_errors
def show(task_id: str, context_name: str | None, url: str | None, api_key: str | None, dialect: str | None,
         as_json: bool) -> None:
    """One task in full."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: Any) -> None:
        task = await client.get_task(task_id)
        run.emit(dump(task), lambda: detail_table(task))

    run.go(work)


@click.command("logs")
@click.argument("task_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the task is over.")
@target_options
@usage_errors
def logs(task_id: str, follow: bool, context_name: str | None, url: str | None, api_key: str | None,
         dialect: str | None, as_json: bool) -> None:
    """A task's log (JSON: one object per line). Without -f, what the server has now."""
    from rich.markup import escape

    run = Run(context_name, url, api_key, dialect, as_json)
    out = console()

    async def work(client: Any) -> None:
        import asyncio

        await client.get_task(task_id)  # a 404 now, not an empty log
        started = datetime.now(UTC)
        first = True
        async with contextlib.aclosing(client.stream_log_batches(task_id)) as batches:
            while True:
                try:
                    batch = await (anext(batches) if follow else asyncio.wait_for(anext(batches),
                                                                                  IDLE_AFTER_BACKLOG))
                except (StopAsyncIteration, TimeoutError):
                    return
                if not follow and not first:
                    # Without -f the backlog is the answer: a line written after we asked is live.
                    caught_up = next((i for i, e in enumerate(batch) if e.timestamp > started), None)
                    if caught_up is not None:
                        write(batch[:caught_up])
                        return
                first = False
                write(batch)

    def write(batch: list[Any]) -> None:
        for entry in batch:
            if as_json:
                click.echo(json.dumps(dump(entry)))
            else:
                stamp = entry.timestamp.astimezone().strftime("%H:%M:%S")
                out.print(f"[dim]{stamp}[/] [bold]{entry.event_type:<9}[/] {escape(entry.message)}",
                          markup=True, highlight=False)

    run.go(work)


def _fields(title: str | None, description: str | None, priority: int | None, agent: str | None,
            project: str | None, params: str | None, extra: tuple[str, ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in (("title", title), ("description", description), ("priority", priority),
                       ("assigned_agent", agent), ("project_id", project)):
        if value is not None:
            fields[key] = value
    if params:
        try:
            fields["params"] = json.loads(params)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from exc
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            fields[key] = value
    return fields


def _create_command(name: str, start: bool, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("title", required=False)
    @click.option("--description", "-d", default=None)
    @click.option("--priority", "-p", type=int, default=None, help="0 (urgent) to 3 (low); 1-10 on agent-platform.")
    @click.option("--agent", default=None, help="The runtime (taskboard) or agent id (agent-platform).")
    @click.option("--project", default=None)
    @click.option("--params", default=None, help="A JSON object for the agent (metadata on agent-platform).")
    @click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
                  help="Any other field the server's API takes (e.g. task_type=synthesis).")
    @target_options
    @usage_errors
    def command(title: str | None, description: str | None, priority: int | None, agent: str | None,
                project: str | None, params: str | None, extra: tuple[str, ...], context_name: str | None,
                url: str | None, api_key: str | None, dialect: str | None, as_json: bool) -> None:
        run = Run(context_name, url, api_key, dialect, as_json)
        fields = _fields(title, description, priority, agent, project, params, extra)
        if run.target.dialect == "agent-platform" and agent:
            fields["agent_id"] = fields.pop("assigned_agent")

        async def work(client: Any) -> None:
            task = await (client.spawn(**fields) if start else client.create_task(**fields))
            run.emit(dump(task), lambda: f"{'Started' if start else 'Created'} {task.id}  {task.title}")

        run.go(work, action="new_task")

    return command


create = _create_command("create", False, "Create a task (planned, on taskboard; other APIs start it).")
run_ = _create_command("run", True, "Create a task and start it (create, queue and execute).")


def _simple(name: str, call: Callable[[Any, str], Awaitable[Any]], done: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("task_id")
    @target_options
    @usage_errors
    def command(task_id: str, context_name: str | None, url: str | None, api_key: str | None,
                dialect: str | None, as_json: bool) -> None:
        run = Run(context_name, url, api_key, dialect, as_json)

        async def work(client: Any) -> None:
            result = await call(client, task_id)
            run.emit({"taskId": task_id, "result": dump(result)}, lambda: done.format(id=task_id))

        run.go(work, action=name)

    return command


cancel = _simple("cancel", lambda c, t: c.cancel(t), "Cancelled {id}", "Cancel a task.")
resume = _simple("resume", lambda c, t: c.resume(t), "Resumed {id}", "Resume a failed or cancelled task.")


def _decide(name: str, behavior: str) -> click.Command:
    @click.command(name, help=f"{behavior.capitalize()} a task's waiting permission request (the oldest, "
                              "or --request).")
    @click.argument("task_id")
    @click.option("--request", "request_id", default=None, help="Which request (its notification id).")
    @click.option("--message", "-m", default=None, help="Said to the agent with the answer.")
    @click.option("--always", is_flag=True, help="Also add a rule, so the same request is answered by itself.")
    @click.option("--pattern", default=None, help="The rule's pattern (default: the request's suggestion).")
    @target_options
    @usage_errors
    def command(task_id: str, request_id: str | None, message: str | None, always: bool, pattern: str | None,
                context_name: str | None, url: str | None, api_key: str | None, dialect: str | None,
                as_json: bool) -> None:
        run = Run(context_name, url, api_key, dialect, as_json)

        async def work(client: Any) -> None:
            from taskboard.client.dialects import Capability

            client.require(Capability.RESPOND)
            waiting = await client.list_permissions("pending", task_id=task_id)
            chosen = next((r for r in waiting if r.id == request_id), None) if request_id else \
                (min(waiting, key=lambda r: r.created_at) if waiting else None)
            if chosen is None:
                fail(f"task {task_id} has no permission request waiting"
                     + (f" with id {request_id}" if request_id else ""), EXIT_REFUSED)
            assert chosen is not None
            await client.respond(task_id, chosen.id, behavior, message=message,
                                 always_allow=True if always else None,
                                 permission_pattern=(pattern or chosen.suggested_pattern) if always else None)
            verb = "Approved" if behavior == "allow" else "Denied"
            run.emit({"taskId": task_id, "requestId": chosen.id, "behavior": behavior, "tool": chosen.tool_name},
                     lambda: f"{verb} {chosen.tool_name} for {task_id}")

        run.go(work, action=name)

    return command


approve = _decide("approve", "allow")
deny = _decide("deny", "deny")


@click.command("msg")
@click.argument("task_id")
@click.argument("message")
@target_options
@usage_errors
def msg(task_id: str, message: str, context_name: str | None, url: str | None, api_key: str | None,
        dialect: str | None, as_json: bool) -> None:
    """Send a message to a task awaiting input."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: Any) -> None:
        task = await client.send_message(task_id, message)
        run.emit(dump(task), lambda: f"Sent to {task_id}; it is {task.status.value.replace('_', ' ')}")

    run.go(work, action="message")


@click.command("cleanup")
@click.option("--older-than", type=click.FloatRange(0, None), default=None, metavar="HOURS",
              help="Remove finished tasks older than this (server default: 24).")
@target_options
@usage_errors
def cleanup(older_than: float | None, context_name: str | None, url: str | None, api_key: str | None,
            dialect: str | None, as_json: bool) -> None:
    """Remove old finished tasks."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: Any) -> None:
        result = await client.cleanup(older_than)
        run.emit(dump(result), lambda: f"Removed {result.deleted} task(s)")

    run.go(work, action="cleanup")


@click.command("contexts")
@click.option("--json", "as_json", is_flag=True, help="Write JSON for machines instead of a table.")
@usage_errors
def contexts(as_json: bool) -> None:
    """List the contexts in the config file (keys are never shown, only where they come from)."""
    from rich.table import Table

    from taskboard.config import load_config

    config = load_config()
    rows = [{"name": c.name, "url": c.url, "dialect": c.dialect, "key": c.key_source, "readOnly": c.read_only,
             "pollInterval": c.poll_interval, "default": c.name == config.default_context,
             "settings": {k: v for k, v in c.settings.items()}} for c in config.contexts.values()]
    if as_json:
        click.echo(json.dumps({"config": str(config.path), "contexts": rows}, indent=2, default=str))
        return
    out = console()
    if not rows:
        out.print(f"No contexts yet. Add one to {config.path}:\n\n"
                  '[contexts.local]\nurl = "http://127.0.0.1:8765"', markup=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("", "NAME", "URL", "DIALECT", "KEY", "MODE"):
        table.add_column(name, no_wrap=True)
    for row in rows:
        table.add_row("*" if row["default"] else "", row["name"], row["url"], row["dialect"], row["key"],
                      "read-only" if row["readOnly"] else "")
    out.print(table)
    out.print(f"[dim]{config.path}[/]")


VERBS = [ls, show, logs, create, run_, cancel, resume, approve, deny, msg, cleanup, contexts]
