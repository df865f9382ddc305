"""The `taskboard` command.

Imports stay inside the commands so `taskboard --version` does not pay for
FastAPI, uvicorn or Textual.
"""

from __future__ import annotations

import functools
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from taskboard import __version__

DEFAULT_URL = "http://127.0.0.1:8765"


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, "--version", "-V", prog_name="taskboard")
@click.option("--context", "-c", "context_names", multiple=True, metavar="NAME", envvar="TASKBOARD_CONTEXT",
              help="A context from the config file (`taskboard contexts`); repeat it for one board over several "
                   "servers. Also TASKBOARD_CONTEXT.")
@click.option("--all-contexts", is_flag=True, help="One board over every context in the config file.")
@click.option("--url", default=None, help=f"The server to watch [default: {DEFAULT_URL}]. Also TASKBOARD_URL.")
@click.option("--api-key", default=None,
              help="The server's API key. Prefer TASKBOARD_API_KEY, so it stays out of shell history.")
@click.option("--dialect", default=None, metavar="NAME",
              help="The server's API: taskboard (default), stagent, background-tasks, agent-platform, v1-envelope, "
                   "cortex, or auto (probe it).")
@click.option("--read-only", is_flag=True, help="Watch only: every key that changes something is off.")
@click.pass_context
def cli(ctx: click.Context, context_names: tuple[str, ...], all_contexts: bool, url: str | None,
        api_key: str | None, dialect: str | None, read_only: bool) -> None:
    """taskboard: watch and steer long-running agent tasks.

    With no command, opens the board on a server: --url, a --context from the config file, or the
    config's default context. `taskboard demo` starts a server with a live demo board and opens it;
    `taskboard serve` runs a server alone; the other commands script the same calls.
    """
    if ctx.invoked_subcommand is not None:
        return
    from taskboard.commands import EXIT_USAGE, fail
    from taskboard.config import ConfigError, config_path

    try:
        connector, shown_read_only = board_connector(context_names, all_contexts, url, api_key, dialect, read_only)
        choices = context_choices()
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
        return
    from taskboard.tui.app import make_app

    current = connector.label if connector.label in choices else None
    app = make_app(connector=connector, read_only=shown_read_only, contexts=choices, context=current,
                   config_path=config_path(), load_contexts=context_choices, aliases=config_aliases())
    app.read_only_flag = read_only  # --read-only holds across switches; a context's own, while it is shown
    app.run()
    sys.exit(app.return_code or 0)  # a crash (see TaskboardApp._handle_exception) is status 1


def config_aliases() -> dict[str, str]:
    """The config's [aliases] for the board's `:` line (read once the contexts have been: no new errors)."""
    from taskboard.config import load_config

    return load_config().aliases


def context_choices() -> dict[str, Any]:
    """The config's contexts, for switching inside the TUI (ctrl+k, the command palette)."""
    from taskboard.commands import resolve_target
    from taskboard.config import load_config
    from taskboard.connect import RemoteServer
    from taskboard.tui.app import ContextChoice

    def connector(name: str) -> RemoteServer:
        t = resolve_target(name, None, None)
        return RemoteServer(t.url, t.api_key, label=t.label, dialect=t.dialect, poll_interval=t.poll_interval,
                            settings=t.settings, read_only=t.read_only)

    return {name: ContextChoice(about=f"{ctx.url}  {ctx.dialect}" + ("  read-only" if ctx.read_only else ""),
                                connect=functools.partial(connector, name), read_only=ctx.read_only)
            for name, ctx in load_config().contexts.items()}


def board_connector(context_names: tuple[str, ...], all_contexts: bool, url: str | None, api_key: str | None,
                    dialect: str | None, read_only: bool) -> tuple[Any, bool]:
    """The TUI's connector for the flags: one server, or several merged into one board."""
    from taskboard.commands import resolve_target
    from taskboard.config import load_config
    from taskboard.connect import MultiServer, RemoteServer

    names = [name for value in context_names for name in value.replace(",", " ").split()]
    if all_contexts:
        names = list(load_config().contexts)
    single = len(names) <= 1  # the flags refine one server; several contexts are taken as written
    wanted: list[str | None] = list(names) or [None]
    targets = [resolve_target(name, url if single else None, api_key if single else None,
                              dialect if single else None) for name in wanted]
    servers = [RemoteServer(t.url, t.api_key, label=t.label, dialect=t.dialect, poll_interval=t.poll_interval,
                            settings=t.settings, read_only=t.read_only) for t in targets]
    if len(servers) == 1:
        return servers[0], read_only or targets[0].read_only
    return MultiServer({t.label: s for t, s in zip(targets, servers, strict=True)}), read_only


@cli.command()
@click.option("--temp", is_flag=True,
              help="Use a throwaway database, removed on exit (also on a hangup, SIGTERM or ctrl+c; what a "
                   "killed demo left behind is removed by the next one).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Database file [default: demo.db in the user data directory].")
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="The bundled server's port on 127.0.0.1, for other clients to reach it "
                   "[default: 0, a free one; the board shows it].")
@click.option("--read-only", is_flag=True, help="Watch only: every key that changes something is off.")
def demo(temp: bool, db_path: Path | None, port: int, read_only: bool) -> None:
    """Start the bundled server with a live demo board, and open the board on it."""
    import asyncio
    import os
    import signal
    import threading

    from taskboard.connect import DemoDir, LocalServer, check_bindable
    from taskboard.paths import data_dir

    if port:
        try:
            check_bindable("127.0.0.1", port)  # here, not in the child's log behind the board
        except OSError as exc:
            from taskboard_backend.server import bind_error

            click.echo(f"taskboard: {bind_error('127.0.0.1', port, exc)}", err=True)
            sys.exit(2)
    DemoDir.sweep()  # what earlier demos, killed before they could clean up, left behind
    workdir = DemoDir.create() if temp else None
    data = workdir.path if workdir else data_dir()
    server = LocalServer(db_path or data / "demo.db", log_path=data / "demo-server.log", port=port,
                         on_start=workdir.record if workdir else None)

    def clean_up() -> None:
        server.close()
        if workdir is not None:
            workdir.remove()

    def on_signal(signum: int, frame: object) -> None:
        # A hangup (the terminal or tmux session closed), SIGTERM or SIGINT: the server and the temp
        # directory go first, then the board is asked to end; if the board cannot (its terminal is
        # gone), the process ends anyway a moment later, with nothing left behind.
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        clean_up()
        code = 128 + signum
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            sys.exit(code)
        deadline = threading.Timer(3.0, os._exit, (code,))
        deadline.daemon = True
        deadline.start()
        loop.call_soon_threadsafe(lambda: app.exit(return_code=code))

    handled = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
    for sig in handled:
        signal.signal(sig, on_signal)
    try:
        server.start()  # before Textual starts, so the server boots while the UI does
        from taskboard.config import config_path
        from taskboard.tui.app import make_app

        app = make_app(connector=server, read_only=read_only, config_path=config_path())
        app.run()
    finally:
        clean_up()
    sys.exit(app.return_code or 0)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback by default.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind; 0 picks a free one (printed on start).")
@click.option("--db", "db_target", envvar="TASKBOARD_DB", default=None, metavar="PATH|URL",
              help="A SQLite database file [default: the user data directory], or postgresql://USER@HOST/DB for "
                   "PostgreSQL (several servers may share one). Also TASKBOARD_DB.")
@click.option("--api-key", envvar="TASKBOARD_API_KEY", default=None,
              help="Require this key (X-API-Key or Bearer). Also TASKBOARD_API_KEY; prefer the variable, "
                   "so the key stays out of shell history.")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              envvar="TASKBOARD_ALLOWED_HOSTS",
              help="Also answer to this host name (repeatable; TASKBOARD_ALLOWED_HOSTS takes a space-separated "
                   "list). IP addresses, localhost and this machine's name always work; other names are refused "
                   "(DNS rebinding). '*' turns the check off, for a proxy that does it.")
@click.option("--forwarded-allow-ips", "forwarded_allow_ips", default=None, metavar="ADDRS",
              help="Believe X-Forwarded-For from these proxy addresses (comma-separated). Off by default: "
                   "the client's address is the connection's.")
@click.option("--max-connections", default=1000, show_default=True, type=click.IntRange(8, 1_000_000),
              help="Open connections past this are closed as they arrive.")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), hidden=True,
              help="Seconds a request may take to send its headers.")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600), hidden=True,
              help="Seconds a request may take to send its body, once its headers are in.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256),
              help="How many tasks run at once.")
@click.option("--demo", is_flag=True, help="Seed demo projects and tasks, and keep the board moving.")
@click.option("--demo-speed", default=1.0, show_default=True, type=click.FloatRange(0.01, 10_000),
              envvar="TASKBOARD_DEMO_SPEED", help="Speed-up of the demo runtime (tests use large values).")
@click.option("--enable-shell", is_flag=True,
              help="Enable the shell runtime, which runs task commands on this machine.")
@click.option("--shell-env", "shell_env", multiple=True, metavar="NAME",
              help="Also pass this variable of the server's environment to shell tasks (repeatable). They get "
                   "PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR and TERM, never the API key.")
@click.option("--enable-claude", is_flag=True,
              help="Enable the claude-code runtime (needs taskboard[claude]), which runs Claude Code on this "
                   "machine; its tool calls wait for approval on the board. Uses ANTHROPIC_API_KEY and "
                   "ANTHROPIC_BASE_URL from this environment.")
@click.option("--claude-root", "claude_roots", multiple=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Also let claude-code tasks work in this directory tree (params.cwd; repeatable). By default "
                   "each task gets a directory of its own under the server's data directory.")
@click.option("--claude-model", default=None, metavar="MODEL", help="The model claude-code tasks use by default.")
@click.option("--claude-permission-window", default=50.0, show_default=True, type=click.FloatRange(0.1, 3600),
              hidden=True, help="Seconds a permission request waits inside Claude Code's callback before the run "
                                "ends its turn and waits, its session kept.")
@click.option("--enable-codex", is_flag=True,
              help="Enable the openai-codex-app-server runtime, which runs OpenAI Codex (codex app-server) on "
                   "this machine; its command and file-change approvals wait on the board. Uses OPENAI_API_KEY "
                   "and OPENAI_BASE_URL from this environment.")
@click.option("--codex-path", default=None, metavar="PATH", type=click.Path(dir_okay=False),
              help="The codex binary (default: codex on PATH; behind the npm package's wrapper, its native "
                   "binary is started).")
@click.option("--codex-root", "codex_roots", multiple=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Also let codex tasks work in this directory tree (params.cwd; repeatable). By default "
                   "each task gets a directory of its own under the server's data directory.")
@click.option("--codex-model", default=None, metavar="MODEL", help="The model codex tasks use by default "
              "(gpt-5.5).")
@click.option("--codex-price", "codex_prices", multiple=True, metavar="MODEL=IN,OUT[,CACHED]",
              help="What a model's tokens cost, in USD per million input, output (and cached input) tokens, "
                   "for the ledger and the budgets (repeatable). Codex reports tokens, not money: a model "
                   "without a price costs $0.")
@click.option("--codex-permission-window", default=50.0, show_default=True, type=click.FloatRange(0.1, 3600),
              hidden=True, help="Seconds an approval waits with codex running before the run ends its turn and "
                                "waits, its thread kept.")
@click.option("--daily-budget", type=click.FloatRange(0, None), default=None,
              help="USD; execute and resume answer 429 once today's runs cost this much.")
@click.option("--heartbeat", default=15.0, show_default=True, type=click.FloatRange(0.05, 3600), hidden=True)
@click.option("--stream-stall-seconds", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              hidden=True, help="Drop a stream client that has taken no data for this long.")
@click.option("--lease-seconds", default=15.0, show_default=True, type=click.FloatRange(0.5, 3600), hidden=True,
              help="On PostgreSQL: a server that has not renewed its lease for this long has its runs failed.")
@click.option("--event-retention", default=50_000, show_default=True, type=click.IntRange(10, None), hidden=True,
              help="How many watch events are kept for Last-Event-ID replay.")
@click.option("--fixed-clock", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]), default=None,
              hidden=True, help="Freeze the clock and number ids in order (snapshot tests, screenshots).")
@click.option("--clock-file", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True,
              help="Tell the time by this file's ISO 8601 instant, re-read when it changes (tests of expiry).")
@click.option("--alias-agents", is_flag=True, hidden=True,
              help="Run seed 001's agent ids on the demo runtime without seeding a demo board.")
@click.option("--exit-with-stdin", is_flag=True, hidden=True,
              help="Stop when stdin closes: `taskboard demo` runs the server this way.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="How much the server logs to stderr (info: every request).")
def serve(host: str, port: int, db_target: str | None, api_key: str | None, allowed_hosts: tuple[str, ...],
          forwarded_allow_ips: str | None, max_connections: int, header_timeout: float, body_timeout: float,
          concurrency: int, demo: bool, demo_speed: float, enable_shell: bool, shell_env: tuple[str, ...],
          enable_claude: bool, claude_roots: tuple[str, ...], claude_model: str | None,
          claude_permission_window: float, enable_codex: bool, codex_path: str | None,
          codex_roots: tuple[str, ...], codex_model: str | None, codex_prices: tuple[str, ...],
          codex_permission_window: float, daily_budget: float | None,
          heartbeat: float, stream_stall_seconds: float, lease_seconds: float, event_retention: int,
          fixed_clock: datetime | None, clock_file: Path | None,
          alias_agents: bool, exit_with_stdin: bool, log_level: str) -> None:
    """Run the bundled task server."""
    from taskboard_backend.runtimes.codex import find_codex, parse_price
    from taskboard_backend.server import serve_forever
    from taskboard_backend.settings import ANTHROPIC_ENV, OPENAI_ENV, SHELL_ENV_DEFAULT, Settings, default_db_path
    from taskboard_backend.store import is_postgres_url

    prices: dict[str, tuple[float, ...]] = {}
    for text in codex_prices:
        try:
            model, price = parse_price(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--codex-price") from None
        prices[model] = (price.input, price.output) + (() if price.cached_input is None else (price.cached_input,))

    postgres = bool(db_target) and is_postgres_url(db_target or "")
    settings = Settings(
        db_path=Path(db_target) if db_target and not postgres else default_db_path(),
        db_url=db_target if postgres else None, host=host, port=port, api_key=api_key or None,
        allowed_hosts=tuple(name for value in allowed_hosts for name in value.replace(",", " ").split()),
        stream_stall_seconds=stream_stall_seconds,
        forwarded_allow_ips=tuple(a.strip() for a in (forwarded_allow_ips or "").split(",") if a.strip()),
        max_connections=max_connections, header_timeout_seconds=header_timeout, body_timeout_seconds=body_timeout,
        concurrency=concurrency, demo=demo, demo_speed=demo_speed, enable_shell=enable_shell,
        shell_env=SHELL_ENV_DEFAULT + tuple(name for name in shell_env if name != "TASKBOARD_API_KEY"),
        enable_claude=enable_claude, claude_roots=tuple(os.path.realpath(r) for r in claude_roots),
        claude_model=claude_model, claude_permission_window=claude_permission_window,
        anthropic_env={name: os.environ[name] for name in ANTHROPIC_ENV if os.environ.get(name)},
        enable_codex=enable_codex, codex_path=codex_path, codex_roots=tuple(os.path.realpath(r) for r in codex_roots),
        codex_model=codex_model, codex_prices=prices, codex_permission_window=codex_permission_window,
        openai_env={name: os.environ[name] for name in OPENAI_ENV if os.environ.get(name)},
        alias_seed_agents=demo or alias_agents, daily_budget_usd=daily_budget, heartbeat_seconds=heartbeat,
        event_retention=event_retention, lease_seconds=lease_seconds,
        fixed_clock=fixed_clock.replace(tzinfo=fixed_clock.tzinfo or UTC) if fixed_clock else None,
        clock_file=clock_file,
    )
    settings.require_safe_bind()
    if enable_claude:
        from taskboard_backend.runtimes.claude_code import sdk_available

        missing = sdk_available()
        if missing:
            raise SystemExit(f"taskboard: --enable-claude: {missing}")
        if "ANTHROPIC_API_KEY" not in settings.anthropic_env and "ANTHROPIC_AUTH_TOKEN" not in settings.anthropic_env:
            click.echo("taskboard: warning: --enable-claude without ANTHROPIC_API_KEY in the environment: "
                       "claude-code tasks will fail until the server is started with one.", err=True)
    if enable_codex:
        found = find_codex(codex_path)
        if isinstance(found, str):
            raise SystemExit(f"taskboard: --enable-codex: {found}")
        if "OPENAI_API_KEY" not in settings.openai_env:
            click.echo("taskboard: warning: --enable-codex without OPENAI_API_KEY in the environment: "
                       "openai-codex-app-server tasks will fail until the server is started with one.", err=True)
    if (enable_shell or enable_claude or enable_codex) and not settings.api_key:
        which = " and ".join(n for n, on in (("shell", enable_shell), ("claude-code", enable_claude),
                                             ("openai-codex-app-server", enable_codex)) if on)
        click.echo(f"taskboard: warning: the {which} runtime is on and there is no API key: any process on this "
                   "machine, a shell task's own included, can call this API and answer permission requests. "
                   "Set TASKBOARD_API_KEY to keep tasks from deciding for themselves.", err=True)
    serve_forever(settings, log_level=log_level, exit_with_stdin=exit_with_stdin)


@cli.command()
@click.option("--db", "db_target", envvar="TASKBOARD_DB", required=True, metavar="URL",
              help="postgresql://USER@HOST/DB: the database the servers share. Also TASKBOARD_DB.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256),
              help="How many tasks run at once on this machine.")
@click.option("--demo-speed", default=1.0, show_default=True, type=click.FloatRange(0.01, 10_000),
              envvar="TASKBOARD_DEMO_SPEED", help="Speed-up of the demo runtime (tests use large values).")
@click.option("--enable-shell", is_flag=True, help="Run shell tasks (their commands run on this machine).")
@click.option("--shell-env", "shell_env", multiple=True, metavar="NAME",
              help="Also pass this variable of the worker's environment to shell tasks (repeatable).")
@click.option("--enable-claude", is_flag=True,
              help="Run claude-code tasks here (needs taskboard[claude] and ANTHROPIC_API_KEY).")
@click.option("--claude-root", "claude_roots", multiple=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Also let claude-code tasks work in this directory tree (repeatable).")
@click.option("--claude-model", default=None, metavar="MODEL", help="The model claude-code tasks use by default.")
@click.option("--lease-seconds", default=15.0, show_default=True, type=click.FloatRange(0.5, 3600), hidden=True,
              help="A worker or server that has not renewed its lease for this long has its runs failed.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="How much the worker logs to stderr.")
def worker(db_target: str, concurrency: int, demo_speed: float, enable_shell: bool, shell_env: tuple[str, ...],
           enable_claude: bool, claude_roots: tuple[str, ...], claude_model: str | None, lease_seconds: float,
           log_level: str) -> None:
    """Run tasks from a shared PostgreSQL database without serving HTTP (a machine that only executes)."""
    from taskboard_backend.settings import ANTHROPIC_ENV, SHELL_ENV_DEFAULT, Settings
    from taskboard_backend.store import is_postgres_url
    from taskboard_backend.worker import work_forever

    if not is_postgres_url(db_target):
        raise click.UsageError("--db must be a postgresql:// URL: a worker shares the servers' database")
    settings = Settings(
        db_url=db_target, concurrency=concurrency, demo_speed=demo_speed, enable_shell=enable_shell,
        shell_env=SHELL_ENV_DEFAULT + tuple(name for name in shell_env if name != "TASKBOARD_API_KEY"),
        enable_claude=enable_claude, claude_roots=tuple(os.path.realpath(r) for r in claude_roots),
        claude_model=claude_model,
        anthropic_env={name: os.environ[name] for name in ANTHROPIC_ENV if os.environ.get(name)},
        lease_seconds=lease_seconds,
    )
    if enable_claude:
        from taskboard_backend.runtimes.claude_code import sdk_available

        missing = sdk_available()
        if missing:
            raise SystemExit(f"taskboard: --enable-claude: {missing}")
    work_forever(settings, log_level=log_level)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on. Loopback by default: whoever reaches the page steers the board.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to serve on; 0 picks a free one (the URL printed names it).")
@click.option("--public-url", default=None, help="The URL browsers use, when behind a proxy or a tunnel.")
@click.option("--context", "-c", "context_names", multiple=True, metavar="NAME",
              help="The context(s) to show, as for the board.")
@click.option("--url", default=None, help="The server to show (default: the default context, or "
              f"{DEFAULT_URL}).")
@click.option("--dialect", default=None, metavar="NAME", help="The server's API, as for the board.")
@click.option("--read-only", is_flag=True, help="Watch only: every key that changes something is off.")
@click.option("--verbose", "-v", is_flag=True, help="Log every request (on stderr); otherwise warnings only.")
def web(host: str, port: int, public_url: str | None, context_names: tuple[str, ...], url: str | None,
        dialect: str | None, read_only: bool, verbose: bool) -> None:
    """Serve the board in a web browser (textual-serve), on loopback unless told otherwise.

    The URL it prints carries a secret made for this run: only a browser given it gets the board, and
    pages on other sites are refused (Host and Origin are checked, as the API checks them).

    Each browser tab runs its own board, as `taskboard` would with the same options; it ends when its
    tab closes, and every board ends with this command (ctrl+c, SIGTERM, SIGHUP). The API key travels
    in the environment (TASKBOARD_API_KEY, or the context's), never on a command line.
    """
    import shlex

    from taskboard.connect import loopback_host
    from taskboard.web import serve as serve_web

    args = [sys.executable, "-m", "taskboard"]
    for name in context_names:
        args += ["--context", name]
    for flag, value in (("--url", url), ("--dialect", dialect)):
        if value:
            args += [flag, value]
    if read_only:
        args.append("--read-only")
    if not loopback_host(host):
        click.echo(f"taskboard: warning: serving on {host}: anyone who can reach this port can steer the board. "
                   "Prefer an SSH tunnel to a loopback address.", err=True)

    def announce(url: str) -> None:
        # The URL carries this run's secret: the page and its websocket refuse anyone without it.
        # Printed once the port is bound (so --port 0 names the one it got).
        click.echo(f"taskboard: web board at {url} (ctrl+c stops it)", err=False)
        sys.stdout.flush()

    try:
        serve_web(shlex.join(args), host=host, port=port, public_url=public_url, verbose=verbose, announce=announce)
    except OSError as exc:
        click.echo(f"taskboard: cannot serve on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(2)


def _add_verbs() -> None:
    from taskboard.commands import VERBS

    for verb in VERBS:
        cli.add_command(verb)


_add_verbs()


def main() -> None:
    try:
        cli(prog_name="taskboard")
    except KeyboardInterrupt:
        sys.exit(130)
