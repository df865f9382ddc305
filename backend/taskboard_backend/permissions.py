"""Permission rules: `tool:argument` glob patterns, normalised before matching.

`write:/reports/*` allows writes directly inside /reports; `write:/reports/**`
allows the whole tree. For file tools both the pattern and the requested path
are normalised first (`..`, `.`, repeated slashes), so `/reports/../etc/passwd`
is `/etc/passwd` and cannot slip past a `/reports/*` rule. For other tools the
argument is a command line: whitespace is collapsed and `*` matches anything.
A deny rule always beats an allow rule.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from dataclasses import dataclass
from typing import Any

from taskboard.models import PATTERN_SPACE

FILE_TOOLS = frozenset({"read", "write", "edit", "multiedit", "delete", "ls", "glob", "notebookedit", "mkdir"})
_ARG_KEYS = ("file_path", "path", "notebook_path", "command", "url", "pattern", "query")
_TOOL_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
CASE_INSENSITIVE_PATHS = sys.platform in ("darwin", "win32")


class InvalidPattern(ValueError):
    pass


def normalise_path(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path.strip())
    if not path:
        return path
    normalised = posixpath.normpath(path)
    if path.endswith("/") and normalised != "/":
        normalised += "/"
    return normalised.lower() if CASE_INSENSITIVE_PATHS else normalised


def normalise_command(command: str) -> str:
    return " ".join(command.split())


def request_argument(tool_input: dict[str, Any]) -> str:
    for key in _ARG_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return json.dumps(tool_input, sort_keys=True, separators=(",", ":"))


def request_key(tool_name: str, tool_input: dict[str, Any]) -> str:
    """The normalised `tool:argument` string a rule is matched against."""
    tool = tool_name.strip().lower()
    arg = request_argument(tool_input)
    arg = normalise_path(arg) if tool in FILE_TOOLS else normalise_command(arg)
    return f"{tool}:{arg}"


def suggest_pattern(tool_name: str, tool_input: dict[str, Any]) -> str:
    """The narrowest useful rule for a request: its directory for file tools, else the exact command."""
    key = request_key(tool_name, tool_input)
    tool, _, arg = key.partition(":")
    if tool in FILE_TOOLS and arg.startswith("/") and arg.rstrip("/"):  # never "everything under /"
        # A file: its directory's entries. A directory (a trailing /): its own entries.
        directory = arg.rstrip("/") if arg.endswith("/") else posixpath.dirname(arg)
        return f"{tool}:{directory.rstrip('/')}/*"
    return key


@dataclass(frozen=True)
class CompiledPattern:
    text: str
    tool: str
    regex: re.Pattern[str]

    def matches(self, key: str) -> bool:
        tool, _, arg = key.partition(":")
        return (self.tool == "*" or tool == self.tool) and self.regex.fullmatch(arg) is not None


def _glob_to_regex(glob: str, *, path: bool) -> str:
    out, i = [], 0
    while i < len(glob):
        ch = glob[i]
        if ch == "*":
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*" if path else ".*")
        elif ch == "?":
            out.append("[^/]" if path else ".")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_pattern(text: str) -> CompiledPattern:
    if not isinstance(text, str) or "\x00" in text:
        raise InvalidPattern("Pattern must be a string without NUL characters")
    tool, sep, arg = text.strip(PATTERN_SPACE).partition(":")
    tool = tool.strip(PATTERN_SPACE)
    if not sep:
        raise InvalidPattern(f"Pattern {text!r} must look like tool:argument, e.g. write:/reports/*")
    if tool != "*" and not _TOOL_RE.match(tool):
        raise InvalidPattern(f"Pattern {text!r} has an invalid tool name {tool!r}")
    tool = tool.lower()
    if not arg.strip(PATTERN_SPACE):
        raise InvalidPattern(f"Pattern {text!r} has an empty argument; use tool:* to match any")
    is_path = tool in FILE_TOOLS
    arg = normalise_path(arg) if is_path else normalise_command(arg)
    return CompiledPattern(text=text, tool=tool, regex=re.compile(_glob_to_regex(arg, path=is_path), re.DOTALL))


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: str
    behavior: str


def decide(rules: list[Rule], key: str) -> tuple[str, Rule] | None:
    """('deny', rule) if any deny rule matches, else ('allow', rule) if an allow rule does, else None
    (a person decides).

    A stored rule that does not compile may have been meant to deny this request, so while one
    exists nothing is auto-allowed: the request blocks for a person instead.
    """
    allow: Rule | None = None
    unreadable = False
    for rule in rules:
        try:
            compiled = compile_pattern(rule.pattern)
        except InvalidPattern:
            unreadable = True
            continue
        if compiled.matches(key):
            if rule.behavior == "deny":
                return "deny", rule
            allow = allow or rule
    if allow is not None and not unreadable:
        return "allow", allow
    return None
