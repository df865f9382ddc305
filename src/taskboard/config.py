"""Named contexts: which servers a user watches, in a TOML file.

    # ~/.config/taskboard/config.toml (TASKBOARD_CONFIG overrides the path)
    default_context = "local"

    [contexts.local]
    url = "http://127.0.0.1:8765"

    [contexts.research]
    url = "https://tasks.example.com"
    dialect = "v1-envelope"          # taskboard, background-tasks, agent-platform, v1-envelope, cortex, auto
    api_key_env = "RESEARCH_API_KEY" # or api_key = "..." (the file should then be private)
    read_only = true
    poll_interval = 5                # seconds, for servers without a push stream (at least 0.5)

Dialect settings sit beside these: `workspace_id` (and `conversation_id`, `task_type`) for
background-tasks; `agent_id`, `auth_header`, `registry_path` and a `[contexts.NAME.paths]` table for
agent-platform; `project_id`, `list_limit` for v1-envelope. A mistake is reported with the file, the
line and the key; a key's value is never printed.

Three optional tables beside the contexts:

    [notify]                         # what reaches you when you are not looking (taskboard.notify)
    events = ["permission", "question", "failed"]   # and "completed"
    terminal = "osc9"                # the terminal's own notification: osc9, osc777 or off (the default)
    command = ["notify-send", "{headline}", "{text}"]   # run, no shell; {event} {title} {server} {id} too
    webhook = "https://ntfy.sh/my-topic"
    webhook_format = "text"          # text (ntfy: the body plain, a Title header), slack ({"text": ...}), json
    per_minute = 12                  # at most this many a minute (a burst of 5 first); the rest are counted

    [ui]                             # written by the board: the theme and the log pane's choices
    theme = "textual-dark"

    [aliases]                        # names for the board's `:` command line
    wf = "workflows"
    prod = "ctx production"          # an alias may carry the argument

The board re-reads the file when it changes. It writes only the `[ui]` table's lines (`save_ui`), in place,
so every comment and every other line stays as it was, and atomically (a temporary file renamed over it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskboard.client.base import DEFAULT_POLL_INTERVAL, MIN_POLL_INTERVAL
from taskboard.client.dialects import DIALECT_SETTINGS, DIALECTS

COMMON_KEYS = frozenset({"url", "dialect", "api_key", "api_key_env", "read_only", "poll_interval"})
NOTIFY_EVENTS = ("permission", "question", "failed", "completed")
NOTIFY_KEYS = frozenset({"events", "terminal", "command", "webhook", "webhook_format", "per_minute", "timeout"})
TERMINAL_NOTIFY = ("off", "osc9", "osc777")
WEBHOOK_FORMATS = ("text", "slack", "json")
UI_KEYS = {"theme": str, "log_wrap": bool, "log_timestamps": bool}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file, the line and the key."""


def config_path() -> Path:
    override = os.environ.get("TASKBOARD_CONFIG")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin" and not os.environ.get("XDG_CONFIG_HOME"):
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "taskboard" / "config.toml"


@dataclass(frozen=True)
class Context:
    name: str
    url: str
    dialect: str = "taskboard"
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    read_only: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    settings: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def resolve_key(self) -> str | None:
        """The API key: written in the file, or read from the variable the file names."""
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ConfigError(f"context {self.name!r} reads its API key from ${self.api_key_env}, "
                                  "which is not set")
            return value
        return self.api_key

    @property
    def key_source(self) -> str:
        """Where the key comes from, never the key: for `taskboard contexts`."""
        if self.api_key_env:
            return f"${self.api_key_env} ({'set' if os.environ.get(self.api_key_env) else 'not set'})"
        return "in the file" if self.api_key else "none"


@dataclass(frozen=True)
class NotifySettings:
    """The `[notify]` table: which events reach you, and how (see taskboard.notify)."""

    events: frozenset[str] = frozenset({"permission", "question", "failed"})
    terminal: str = "off"
    command: tuple[str, ...] = ()
    webhook: str | None = None
    webhook_format: str = "text"
    per_minute: float = 12.0
    timeout: float = 5.0

    @property
    def active(self) -> bool:
        return bool(self.events) and (self.terminal != "off" or bool(self.command) or self.webhook is not None)


@dataclass
class Config:
    path: Path
    contexts: dict[str, Context] = field(default_factory=dict)
    default_context: str | None = None
    exists: bool = False
    notify: NotifySettings = field(default_factory=NotifySettings)
    ui: dict[str, Any] = field(default_factory=dict)  # the `[ui]` table: theme, log_wrap, log_timestamps
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Context:
        try:
            return self.contexts[name]
        except KeyError:
            known = ", ".join(self.contexts) or "none"
            raise ConfigError(f"{self.path}: no context named {name!r} (known: {known})") from None


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc  # tomllib says "(at line L, column C)"
    return parse_config(data, text, path)


def parse_config(data: dict[str, Any], text: str, path: Path) -> Config:
    def fail(message: str, context: str | None = None, key: str | None = None) -> ConfigError:
        line = _line_of(text, context, key)
        where = f"{path}, line {line}" if line else str(path)
        name = ".".join(p for p in ("contexts" if context else None, context, key) if p)
        return ConfigError(f"{where}: {name}: {message}" if name else f"{where}: {message}")

    unknown = set(data) - {"contexts", "default_context", "notify", "ui", "aliases"}
    if unknown:
        key = min(unknown)
        raise fail("unknown key (expected [contexts.NAME] tables, default_context, [notify], [ui] and [aliases])",
                   None, key)
    contexts_data = data.get("contexts", {})
    if not isinstance(contexts_data, dict):
        raise fail("must be a table of [contexts.NAME] tables", None, "contexts")
    contexts: dict[str, Context] = {}
    for name, raw in contexts_data.items():
        if not NAME.match(name):
            raise fail("a context name is letters, digits, '.', '_' or '-'", name)
        if not isinstance(raw, dict):
            raise fail("must be a table", name)
        contexts[name] = _context(name, raw, path, lambda message, key, n=name: fail(message, n, key))
    default = data.get("default_context")
    if default is not None and default not in contexts:
        raise fail(f"names no context (known: {', '.join(contexts) or 'none'})", None, "default_context")
    notify = _notify(data.get("notify", {}), lambda message, key: _table_error(text, path, "notify", message, key))
    ui = data.get("ui", {})
    if not isinstance(ui, dict):
        raise fail("must be a table", None, "ui")
    for key, value in ui.items():
        kind = UI_KEYS.get(key)
        if kind is None:
            raise _table_error(text, path, "ui", f"unknown key (one of {', '.join(UI_KEYS)})", key)
        if not isinstance(value, kind):
            raise _table_error(text, path, "ui", "must be " + ("a string" if kind is str else "true or false"), key)
    return Config(path, contexts, default, exists=True, notify=notify, ui=dict(ui),
                  aliases=_aliases(data.get("aliases", {}), fail))


def _table_error(text: str, path: Path, table: str, message: str, key: str | None) -> ConfigError:
    line = _line_in_table(text, table, key)
    where = f"{path}, line {line}" if line else str(path)
    return ConfigError(f"{where}: {table}{'.' + key if key else ''}: {message}")


def _notify(raw: Any, fail: Any) -> NotifySettings:
    if not isinstance(raw, dict):
        raise fail("must be a table", None)
    for key in raw:
        if key not in NOTIFY_KEYS:
            raise fail(f"unknown key (one of {', '.join(sorted(NOTIFY_KEYS))})", key)
    defaults = NotifySettings()
    events = raw.get("events", sorted(defaults.events))
    if not isinstance(events, list) or not all(e in NOTIFY_EVENTS for e in events):
        raise fail(f"must be a list of events: {', '.join(NOTIFY_EVENTS)}", "events")
    terminal = raw.get("terminal", "off")
    if terminal is False:
        terminal = "off"
    if terminal not in TERMINAL_NOTIFY:
        raise fail(f"must be one of {', '.join(TERMINAL_NOTIFY)}", "terminal")
    command = raw.get("command", [])
    if isinstance(command, str):
        command = shlex.split(command)
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        raise fail("must be a command line: a list of strings, or one string split as a shell would "
                   "(it is run without a shell)", "command")
    webhook = raw.get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or not re.match(r"^https?://[^\s/]+", webhook)):
        raise fail("must be an http:// or https:// URL", "webhook")
    fmt = raw.get("webhook_format", "text")
    if fmt not in WEBHOOK_FORMATS:
        raise fail(f"must be one of {', '.join(WEBHOOK_FORMATS)}", "webhook_format")
    numbers = {}
    for key, low in (("per_minute", 0.1), ("timeout", 0.1)):
        value = raw.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise fail(f"must be a number, at least {low}", key)
        numbers[key] = float(value)
    return NotifySettings(events=frozenset(events), terminal=terminal, command=tuple(command), webhook=webhook,
                          webhook_format=fmt, **numbers)


def save_ui(path: Path, **values: str | bool) -> None:
    """Write `[ui]` settings into the config file, keeping everything else in it as it was.

    Only the lines of the keys written change: one that is there is replaced in place (its comment
    after the value is kept), one that is not is added at the end of the `[ui]` table, and a file with
    no `[ui]` table gets one at its end. The result is parsed before it replaces the file (a temporary
    file in the same directory, renamed over it), so a crash or a bad value never leaves half a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if _UI_HEADER.match(line)), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines.append("[ui]\n")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for key, value in values.items():
        rendered = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        pattern = re.compile(rf"^(\s*\"?{re.escape(key)}\"?\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|true|false)(.*)$", re.S)
        at = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
        if at is not None:
            found = pattern.match(lines[at])
            assert found is not None
            lines[at] = found.group(1) + rendered + found.group(3)
        else:
            # After the table's last setting, before the blank lines and comments that lead into the next table.
            last = max((i for i in range(start, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")),
                       default=start)
            lines.insert(last + 1, f"{key} = {rendered}\n")
            end += 1
    new = "".join(lines)
    parse_config(tomllib.loads(new), new, path)  # never write what would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".config.", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, path.stat().st_mode & 0o777)  # a private file (an api_key in it) stays private
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


_UI_HEADER = re.compile(r"^\s*\[\s*ui\s*\]\s*(#.*)?$")


def _line_in_table(text: str, table: str, key: str | None) -> int | None:
    lines = text.splitlines()
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
    found = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if found is None or key is None:
        return None if found is None else found + 1
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(found + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if pattern.match(lines[i]):
            return i + 1
    return found + 1


def _aliases(raw: Any, fail: Any) -> dict[str, str]:
    """The `[aliases]` table: name = "what the `:` line runs" (a view or action, and its argument)."""
    if not isinstance(raw, dict):
        raise fail("must be a table of name = \"command\"", None, "aliases")
    for name, command in raw.items():
        if not NAME.match(name):
            raise fail("an alias is letters, digits, '.', '_' or '-'", None, f"aliases.{name}")
        if not isinstance(command, str) or not command.strip():
            raise fail("must be the command it stands for, as a string (\"workflows\", \"ctx prod\")", None,
                       f"aliases.{name}")
    return {name.casefold(): command.strip() for name, command in raw.items()}


def _context(name: str, raw: dict[str, Any], path: Path, fail: Any) -> Context:
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        raise fail("required: the server's http:// or https:// address", "url")
    dialect = raw.get("dialect", "taskboard")
    if dialect not in (*DIALECTS, "auto"):
        raise fail(f"unknown dialect {dialect!r} (one of {', '.join((*DIALECTS, 'auto'))})", "dialect")
    allowed = COMMON_KEYS | (DIALECT_SETTINGS.get(dialect, frozenset()) if dialect != "auto" else frozenset())
    for key in raw:
        if key not in allowed:
            hint = f"the {dialect} dialect has no such setting" if dialect != "auto" else \
                "name the dialect to use its settings"
            raise fail(f"unknown key ({hint})", key)
    for key in ("api_key", "api_key_env"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise fail("must be a non-empty string", key)
    if "api_key" in raw and "api_key_env" in raw:
        raise fail("give api_key or api_key_env, not both", "api_key_env")
    read_only = raw.get("read_only", False)
    if not isinstance(read_only, bool):
        raise fail("must be true or false", "read_only")
    interval = raw.get("poll_interval", DEFAULT_POLL_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < MIN_POLL_INTERVAL:
        raise fail(f"must be a number of seconds, at least {MIN_POLL_INTERVAL}", "poll_interval")
    settings = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    if dialect == "background-tasks" and not isinstance(settings.get("workspace_id"), str):
        raise fail("required for background-tasks (every list is per workspace)", "workspace_id")
    if "paths" in settings and (not isinstance(settings["paths"], dict)
                                or not all(isinstance(v, str) for v in settings["paths"].values())):
        raise fail("must be a table of path templates", "paths")
    return Context(name=name, url=url.rstrip("/"), dialect=dialect, api_key=raw.get("api_key"),
                   api_key_env=raw.get("api_key_env"), read_only=read_only, poll_interval=float(interval),
                   settings=settings, source=path)


def _line_of(text: str, context: str | None, key: str | None) -> int | None:
    """The line where a context's key (or the context, or a top-level key) is written."""
    lines = text.splitlines()
    start = 0
    if context is not None:
        header = re.compile(rf"^\s*\[\s*contexts\s*\.\s*\"?{re.escape(context)}\"?\s*\]")
        found = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if found is None:
            return None
        if key is None:
            return found + 1
        start = found + 1
    if key is None:
        return None
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(start, len(lines)):
        if context is not None and i > start and lines[i].lstrip().startswith("[") \
                and not lines[i].lstrip().startswith(f"[contexts.{context}."):
            break
        if pattern.match(lines[i]):
            return i + 1
    return start if context is not None else None
