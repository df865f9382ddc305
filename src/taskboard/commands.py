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
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:  # at run time the verbs import the client when they run: `taskboard --version` must not
    from taskboard.client.base import TaskSource
    from taskboard.models import LogEntry, Task

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
DEFAULT_URL = "http://127.0.0.1:8765"
IDLE_AFTER_BACKLOG = 1.0  # `logs` without -f: stop once the stream has been quiet this long
EVENT_WIDTH = 11  # the log's kind column (tool_result is the longest kind)
STATUS_WORDS = ("planned", "queued", "running", "awaiting_input", "completed", "failed", "cancelled")
TITLED = ("taskboard", "stagent")  # dialects whose tasks have a title (the others derive one)


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


def make_target_client(target: Target) -> TaskSource:
    from taskboard.client.dialects import make_client

    client: TaskSource = make_client(target.dialect, target.url, target.api_key,
                                     poll_interval=target.poll_interval, **target.settings)
    return client


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
                     help="The server's API: taskboard, stagent, background-tasks, agent-platform, v1-envelope, "
                          "cortex, auto."),
        click.option("--json", "as_json", is_flag=True, help="Write JSON for machines instead of a table."),
    ]):
        func = option(func)
    return func


def _group_options() -> dict[str, Any]:
    """What was given before the verb (`taskboard --url U ls`): it applies to the verb, after the verb's own."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.find_root().params) if ctx is not None else {}


def check_url(url: str) -> str:
    """An http(s) URL with a host, or a usage error (exit 2) saying what is wrong with it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"--url {url!r} is not an http:// or https:// URL with a host")
    return url


class Run:
    """One verb's run: its target, its client, and how to print."""

    def __init__(self, context_name: str | None, url: str | None, api_key: str | None, dialect: str | None,
                 as_json: bool) -> None:
        self.as_json = as_json
        group = _group_options()
        contexts = [n for value in group.get("context_names") or () for n in value.replace(",", " ").split()]
        if context_name is None and len(contexts) > 1:
            raise click.UsageError("a verb goes to one server: give one --context")
        context_name = context_name or (contexts[0] if contexts else None)
        url = url or group.get("url")
        self.target = resolve_target(context_name, url, api_key or group.get("api_key"),
                                     dialect or group.get("dialect"))
        self.target.read_only = self.target.read_only or bool(group.get("read_only"))
        if url:
            check_url(self.target.url)

    def go(self, work: Callable[[TaskSource], Awaitable[Any]], *, mutating: bool = False,
           action: str | None = None) -> None:
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

                found = await detect_dialect(self.target.url, self.target.api_key)
                self.target.dialect = found.dialect
                click.echo(f"taskboard: {self.target.url} speaks {found.dialect} ({found.seen})"
                           + ("" if found.certain else "; a guess: name the dialect to be sure"), err=True)
            async with make_target_client(self.target) as client:
                done = await work(client)
                # What this server turned out not to offer: said once, on stderr, never in the way.
                for reason in client.degraded.values():
                    click.echo(f"taskboard: note: {reason}", err=True)
                return done

        run_async(main())

    def emit(self, data: Any, table: Callable[[], Any]) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            shown = table()
            out = console()
            if not out.is_terminal:
                # In a pipe nothing is cut: the table is as wide as what it holds, with no trailing padding.
                from rich.console import Console

                wide = Console(width=100_000, highlight=False, soft_wrap=False)
                out = console(width=max(wide.measure(shown).maximum, 20))
                with out.capture() as captured:
                    out.print(shown)
                click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))
                return
            out.print(shown)


def terminal_width() -> int | None:
    """The terminal's width, or None in a pipe (where nothing is cut)."""
    out = console()
    return int(out.width) if out.is_terminal else None


def console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=width)


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
    except BrokenPipeError:
        # The reader went away (`taskboard logs ID --json | head -1`): a normal end, not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
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


def task_table(tasks: list[Any], now: datetime, width: int | None = None) -> Any:
    """One line per task, ids whole (people copy them). The title takes the room the terminal leaves
    (`width`) and is cut with an ellipsis there; in a pipe (no width) nothing is cut."""
    from rich.table import Table

    from taskboard.format import STATUS_ICON, STATUS_STYLE, percent, task_age

    table = Table(box=None, pad_edge=False, header_style="bold")
    status_width = max((len(t.status.value) + 2 for t in tasks), default=6)  # "✔ completed"
    widths = {"ID": max((len(t.id) for t in tasks), default=2), "STATUS": status_width, "PRI": 3, "DONE": 4,
              "AGE": 4}
    for name, size in widths.items():
        table.add_column(name, no_wrap=True, width=size)
    room = None if width is None else max(12, width - sum(widths.values()) - 2 * len(widths))
    table.add_column("TITLE", no_wrap=True, overflow="ellipsis", width=room)
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
@click.option("--status", "-s", multiple=True, type=click.Choice(STATUS_WORDS), metavar="STATUS",
              help=f"Only tasks in this status (repeatable): {', '.join(STATUS_WORDS)}.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="At most this many tasks, the newest first.")
@click.option("--query", "-q", default=None, help="Only tasks whose title contains this.")
@usage_errors
def ls(context_name: str | None, url: str | None, api_key: str | None, dialect: str | None, as_json: bool,
       status: tuple[str, ...], limit: int, query: str | None) -> None:
    """List tasks, newest first."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: TaskSource) -> None:
        tasks: list[Task] = []
        async for page in client.iter_task_pages(page_size=min(limit, 1000), status=list(status) or None,
                                                 q=query, sort="-created"):
            tasks.extend(page.items)
            if len(tasks) >= limit:
                break
        tasks = tasks[:limit]
        run.emit([dump(t) for t in tasks], lambda: task_table(tasks, datetime.now(UTC), terminal_width()))

    run.go(work)


@click.command("show")
@click.argument("task_id")
@target_options
@usage_errors
def show(task_id: str, context_name: str | None, url: str | None, api_key: str | None, dialect: str | None,
         as_json: bool) -> None:
    """One task in full."""
    run = Run(context_name, url, api_key, dialect, as_json)

    async def work(client: TaskSource) -> None:
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

    async def work(client: TaskSource) -> None:
        import asyncio

        await client.get_task(task_id)  # a 404 now, not an empty log
        started = datetime.now(UTC)
        first = True
        async with contextlib.aclosing(client.stream_log_batches(task_id)) as batches:
            while True:
                # A server may take a while for its first lines (Stagent's dev server compiles the route).
                wait = getattr(client, "backlog_wait", IDLE_AFTER_BACKLOG) if first else IDLE_AFTER_BACKLOG
                try:
                    batch = await (anext(batches) if follow else asyncio.wait_for(anext(batches), wait))
                except (StopAsyncIteration, TimeoutError):
                    return
                if not batch:  # the stream says its backlog is all here
                    if not follow:
                        return
                    continue
                if not follow and not first:
                    # Without -f the backlog is the answer: a line written after we asked is live.
                    caught_up = next((i for i, e in enumerate(batch) if e.timestamp > started), None)
                    if caught_up is not None:
                        write(batch[:caught_up])
                        return
                first = False
                write(batch)

    def write(batch: list[LogEntry]) -> None:
        for entry in batch:
            if as_json:
                click.echo(json.dumps(dump(entry)))
            else:
                stamp = entry.timestamp.astimezone().strftime("%H:%M:%S")
                kind = entry.event_type[:EVENT_WIDTH]  # one column for every kind, tool_result included
                out.print(f"[dim]{stamp}[/] [bold]{kind:<{EVENT_WIDTH}}[/] {escape(entry.message)}",
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
    @click.option("--description", "-d", default=None, help="What the agent is to do (its prompt).")
    @click.option("--priority", "-p", type=int, default=None, help="0 (urgent) to 3 (low); 1-10 on agent-platform.")
    @click.option("--agent", default=None, help="The runtime (taskboard) or agent id (agent-platform).")
    @click.option("--project", default=None, metavar="ID", help="The project the task belongs to (its id).")
    @click.option("--params", default=None, help="A JSON object for the agent (metadata on agent-platform).")
    @click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
                  help="Any other field the server's API takes (e.g. task_type=synthesis).")
    @target_options
    @usage_errors
    def command(title: str | None, description: str | None, priority: int | None, agent: str | None,
                project: str | None, params: str | None, extra: tuple[str, ...], context_name: str | None,
                url: str | None, api_key: str | None, dialect: str | None, as_json: bool) -> None:
        run = Run(context_name, url, api_key, dialect, as_json)
        if title is None and run.target.dialect in TITLED and "title" not in dict(x.partition("=")[::2] for x in extra):
            raise click.UsageError(f"{name} needs a TITLE on the {run.target.dialect} API")
        fields = _fields(title, description, priority, agent, project, params, extra)
        if run.target.dialect == "agent-platform" and agent:
            fields["agent_id"] = fields.pop("assigned_agent")

        async def work(client: TaskSource) -> None:
            task = await (client.spawn(**fields) if start else client.create_task(**fields))
            run.emit(dump(task), lambda: f"{'Started' if start else 'Created'} {task.id}  {task.title}")

        run.go(work, action="new_task")

    return command


create = _create_command("create", False, "Create a task (planned, on taskboard; other APIs start it).")
run_ = _create_command("run", True, "Create a task and start it (create, queue and execute).")


def _simple(name: str, call: Callable[[TaskSource, str], Awaitable[Any]], done: str,
            help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("task_id")
    @target_options
    @usage_errors
    def command(task_id: str, context_name: str | None, url: str | None, api_key: str | None,
                dialect: str | None, as_json: bool) -> None:
        run = Run(context_name, url, api_key, dialect, as_json)

        async def work(client: TaskSource) -> None:
            result = await call(client, task_id)
            run.emit({"taskId": task_id, "result": dump(result)}, lambda: done.format(id=task_id))

        run.go(work, action=name)

    return command


cancel = _simple("cancel", lambda c, t: c.cancel(t), "Cancelled {id}", "Cancel a task.")
resume = _simple("resume", lambda c, t: c.resume(t), "Resumed {id}", "Resume a failed or cancelled task.")


def _decide(name: str, behavior: Literal["allow", "deny"]) -> click.Command:
    @click.command(name, help=f"{behavior.capitalize()} a task's waiting permission request (the oldest, "
                              "or --request).")
    @click.argument("task_id")
    @click.option("--request", "request_id", default=None, help="Which request (its notification id).")
    @click.option("--message", "-m", default=None, help="Said to the agent with the answer.")
    @click.option("--always", is_flag=True, help="Also add a rule, so the same request is answered by itself.")
    @click.option("--pattern", default=None, help="The rule's pattern (default: the request's suggestion).")
    @click.option("--for", "lifetime", default=None, metavar="DURATION",
                  help="With --always: the rule stops matching after this long (30m, 8h, 2d).")
    @target_options
    @usage_errors
    def command(task_id: str, request_id: str | None, message: str | None, always: bool, pattern: str | None,
                lifetime: str | None, context_name: str | None, url: str | None, api_key: str | None,
                dialect: str | None, as_json: bool) -> None:
        from taskboard import format as fmt

        expires_in = None
        if lifetime is not None:
            if not always:
                raise click.UsageError("--for is how long the rule --always saves lasts: give --always too")
            try:
                expires_in = fmt.parse_duration(lifetime)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--for") from None
        run = Run(context_name, url, api_key, dialect, as_json)

        async def work(client: TaskSource) -> None:
            from taskboard.client.dialects import Capability

            client.require(Capability.RESPOND)
            await client.get_task(task_id)  # an unknown task is "not found", not "nothing waiting"
            waiting = await client.list_permissions("pending", task_id=task_id)
            chosen = next((r for r in waiting if r.id == request_id), None) if request_id else \
                (min(waiting, key=lambda r: r.created_at) if waiting else None)
            if chosen is None:
                fail(f"task {task_id} has no permission request waiting"
                     + (f" with id {request_id}" if request_id else ""), EXIT_REFUSED)
            assert chosen is not None
            await client.respond(task_id, chosen.id, behavior, message=message,
                                 always_allow=True if always else None,
                                 permission_pattern=(pattern or chosen.suggested_pattern) if always else None,
                                 expires_in_seconds=expires_in, saved_by=fmt.who() if always else None)
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

    async def work(client: TaskSource) -> None:
        task = await client.send_message(task_id, message)
        run.emit(dump(task), lambda: f"Sent to {task_id}; it is {task.status.value.replace('_', ' ')}")

    run.go(work, action="message")


@click.command("cleanup")
@click.option("--older-than", type=click.FloatRange(0, None), default=None, metavar="HOURS",
              help="Remove finished tasks older than this (server default: 24).")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask first (a terminal is asked; a script is not).")
@target_options
@usage_errors
def cleanup(older_than: float | None, dry_run: bool, yes: bool, context_name: str | None, url: str | None,
            api_key: str | None, dialect: str | None, as_json: bool) -> None:
    """Remove old finished tasks (completed or failed). On a terminal it asks first."""
    run = Run(context_name, url, api_key, dialect, as_json)
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not yes and not as_json

    async def work(client: TaskSource) -> None:
        import asyncio

        from taskboard.client.base import Capability

        client.require(Capability.CLEANUP)
        if dry_run or interactive:
            hours = 24.0 if older_than is None else older_than
            cutoff = datetime.now(UTC).timestamp() - hours * 3600
            doomed: list[Task] = []
            async for page in client.iter_task_pages(status=["completed", "failed"]):
                doomed += [t for t in page.items if t.updated_at.timestamp() < cutoff]
            if dry_run:
                run.emit({"wouldDelete": len(doomed), "taskIds": [t.id for t in doomed]},
                         lambda: f"Would remove {len(doomed)} task(s) finished over {hours:g} h ago")
                return
            if not doomed:
                click.echo(f"Nothing finished over {hours:g} h ago to remove.")
                return
            asked = f"Remove {len(doomed)} task(s) finished over {hours:g} h ago from {run.target.label}?"
            if not await asyncio.to_thread(click.confirm, asked, default=False):
                click.echo("Nothing removed.")
                return
        result = await client.cleanup(older_than)
        run.emit(dump(result), lambda: f"Removed {result.deleted} task(s)")

    run.go(work, action=None if dry_run else "cleanup")


@click.command("contexts")
@click.option("--json", "as_json", is_flag=True, help="Write JSON for machines instead of a table.")
@usage_errors
def contexts(as_json: bool) -> None:
    """List the contexts in the config file (keys are never shown, only where they come from)."""
    from rich.table import Table

    from taskboard.config import load_config

    config = load_config()
    rows: list[dict[str, Any]] = [
        {"name": c.name, "url": c.url, "dialect": c.dialect, "key": c.key_source, "readOnly": c.read_only,
         "pollInterval": c.poll_interval, "default": c.name == config.default_context,
         "settings": dict(c.settings.items())} for c in config.contexts.values()]
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
