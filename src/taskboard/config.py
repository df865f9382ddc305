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

    [aliases]                        # names for the board's `:` command line
    wf = "workflows"
    prod = "ctx production"          # an alias may carry the argument
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskboard.client.base import DEFAULT_POLL_INTERVAL, MIN_POLL_INTERVAL
from taskboard.client.dialects import DIALECT_SETTINGS, DIALECTS

COMMON_KEYS = frozenset({"url", "dialect", "api_key", "api_key_env", "read_only", "poll_interval"})
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


@dataclass
class Config:
    path: Path
    contexts: dict[str, Context] = field(default_factory=dict)
    default_context: str | None = None
    exists: bool = False
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

    unknown = set(data) - {"contexts", "default_context", "aliases"}
    if unknown:
        key = min(unknown)
        raise fail("unknown key (expected [contexts.NAME] tables, default_context and [aliases])", None, key)
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
    return Config(path, contexts, default, exists=True, aliases=_aliases(data.get("aliases", {}), fail))


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
