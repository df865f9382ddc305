"""Server settings: one frozen object built by the CLI or by tests."""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from taskboard.models import DEFAULT_MAX_BUDGET_USD, WORKFLOW_STEP_MAX_BUDGET_USD
from taskboard.paths import data_dir

# What a command needs to find programs, write temporary files and print text; nothing that grants
# anything. `--shell-env NAME` adds to it.
SHELL_ENV_DEFAULT = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
                     "TERM")

# What of the server's environment a claude-code task's CLI gets besides the allow-list: the
# operator's Anthropic settings (a gateway or a local model server may stand in via the base URL).
ANTHROPIC_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
# The same for an openai-codex-app-server task: the key reaches codex, the base URL its config.toml.
OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL")


def default_db_path() -> Path:
    return data_dir() / "taskboard.db"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    db_path: Path = field(default_factory=default_db_path)
    # postgresql://USER@HOST/DB: the PostgreSQL store (db_path is then not used for the database).
    db_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = None
    # Host names (besides IP addresses, loopback names and this machine's) the server answers to;
    # "*" turns the Host/Origin check off, for a server behind a proxy that checks it.
    allowed_hosts: tuple[str, ...] = ()
    # A stream client that has not taken any data for this long is dropped (it may resume).
    stream_stall_seconds: float = 10.0
    concurrency: int = 4
    demo: bool = False
    # Divides every sleep of the demo runtime: 1.0 makes a demo task take 5-30 s.
    demo_speed: float = 1.0
    enable_shell: bool = False
    # The only variables of the server's environment a shell task's child gets (besides the
    # TASKBOARD_TASK_* ones it is given): never the API key or anything else the server holds.
    shell_env: tuple[str, ...] = SHELL_ENV_DEFAULT
    # The claude-code runtime (issue 21): off unless enabled; runs Claude Code on this machine.
    enable_claude: bool = False
    # Besides the server's own <data>/claude/work, where a task's params.cwd may point.
    claude_roots: tuple[str, ...] = ()
    claude_model: str | None = None
    # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL (and the like) the operator gives Claude Code tasks.
    anthropic_env: dict[str, str] = field(default_factory=dict)
    # Seconds a permission request may wait inside the CLI's callback before the run parks
    # (ends its turn, keeps the session, resumes when answered). Below the CLI's own limit.
    claude_permission_window: float = 50.0
    # The openai-codex-app-server runtime (issue 22): off unless enabled; runs Codex on this machine.
    enable_codex: bool = False
    # The codex binary (the native one, or the npm wrapper it is found behind); None: `codex` on PATH.
    codex_path: str | None = None
    codex_roots: tuple[str, ...] = ()
    codex_model: str | None = None
    # USD per million input / output (/ cached input) tokens, by model: codex reports tokens, not money.
    codex_prices: dict[str, tuple[float, ...]] = field(default_factory=dict)
    openai_env: dict[str, str] = field(default_factory=dict)
    codex_permission_window: float = 50.0
    default_runtime: str = "demo"
    # In demo mode the seed's agent ids run on the demo runtime, so the board looks real.
    alias_seed_agents: bool = False
    max_budget_usd: float = DEFAULT_MAX_BUDGET_USD
    workflow_step_max_budget_usd: float = WORKFLOW_STEP_MAX_BUDGET_USD
    daily_budget_usd: float | None = None
    max_body_bytes: int = 1024 * 1024
    # Proxies whose X-Forwarded-For is believed (uvicorn's --forwarded-allow-ips); none by default.
    forwarded_allow_ips: tuple[str, ...] = ()
    # A request's headers must arrive within this of its first byte, its body within this of them.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # Open connections past this are closed as they come (streams and the board count too).
    max_connections: int = 1000
    # On PostgreSQL: a server renews its lease every third of this; when one has not for this long, its
    # runs are failed (resumable) by whichever server looks first.
    lease_seconds: float = 15.0
    # How many watch events the store keeps for Last-Event-ID replay before a reset.
    event_retention: int = 50_000
    # Streams send a comment this often when idle, so proxies and clients know they are alive.
    heartbeat_seconds: float = 15.0
    # With demo mode on: a permission request and a question roughly this often.
    demo_interaction_seconds: float = 60.0
    # Freezes the clock and makes ids sequential, for snapshot tests and screenshots.
    fixed_clock: datetime | None = None
    # Tests only: the clock reads this file (an ISO 8601 instant) and moves when a test rewrites it,
    # so what depends on time passing (a rule's expiry) is tested without waiting.
    clock_file: Path | None = None

    @property
    def db(self) -> str:
        """What the store opens: the PostgreSQL URL, or the SQLite file's path."""
        return self.db_url or str(self.db_path)

    @property
    def db_shown(self) -> str:
        """The database as a log line may show it: a URL without its password."""
        if self.db_url is None:
            return str(self.db_path)
        parts = urllib.parse.urlsplit(self.db_url)
        if parts.password is None:
            return self.db_url
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    @property
    def claude_dir(self) -> Path:
        """The claude-code runtime's own directory: its HOME (sessions) and the tasks' working directories."""
        return (self.db_path.parent if self.db_url is None else data_dir()) / "claude"

    @property
    def codex_dir(self) -> Path:
        """The codex runtime's own directory: its CODEX_HOME (threads), the tasks' working and temporary
        directories."""
        return self.db_path.parent / "codex"

    def require_safe_bind(self) -> None:
        """Binding beyond loopback without an API key is refused."""
        if not is_loopback(self.host) and not self.api_key:
            raise SystemExit(
                f"taskboard: refusing to listen on {self.host} without an API key. "
                "Set one with --api-key KEY or the TASKBOARD_API_KEY environment variable, "
                "or bind to 127.0.0.1."
            )
