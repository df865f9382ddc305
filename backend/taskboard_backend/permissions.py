"""Permission rules: `tool:argument` glob patterns, normalised before matching.

`write:/reports/*` allows writes directly inside /reports; `write:/reports/**`
allows the whole tree. A deny rule always beats an allow rule.

What a rule is matched against is the argument the tool acts on, named per tool (`TOOL_ARGUMENTS`):
`command` for Bash, `file_path` for Write, `path` for Grep, and so on; never "the first field that
looks like one", which let `{"path": "npm test", "command": "rm -rf …"}` pass as `npm test`. A tool
not in the table matches only a rule naming it with its exact input (canonical JSON), never a
wildcard, and a `*` tool never matches it.

- Paths (file tools) are made absolute against the task's working directory and normalised (`..`,
  `.`, repeated `/`) first, so `/reports/../etc/passwd` is `/etc/passwd` and `../../../../etc/passwd`
  is too: neither slips past a `/reports/*` rule, and a deny of `write:/etc/**` catches both. In a path
  `*` and `?` stop at `/`, whatever the rule's tool (`*:/reports/*` does not reach `/reports/a/b`).
- Commands have their whitespace collapsed, and a wildcard never matches a character that makes one
  command several or feeds it another (`;`, `|`, `&`, a backtick, `$`, `<`, `>`, a newline): a rule
  matches such a command only where it spells that character itself. `bash:npm test*` allows
  `npm test -- --watch`, not `npm test; curl … | sh`.
- `\\*`, `\\?` and `\\\\` in a pattern are the characters themselves: the suggested pattern escapes
  the request's own glob characters, so "always allow" for `ls *.txt` saves `bash:ls \\*.txt`, which
  matches that command and nothing else.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from taskboard.models import PATTERN_SPACE

# tool (lower case) -> (the input field it acts on, how that argument is matched)
TOOL_ARGUMENTS: dict[str, tuple[str, str]] = {
    "bash": ("command", "command"),
    "read": ("file_path", "path"), "write": ("file_path", "path"), "edit": ("file_path", "path"),
    "multiedit": ("file_path", "path"), "delete": ("file_path", "path"), "notebookedit": ("notebook_path", "path"),
    "notebookread": ("notebook_path", "path"), "ls": ("path", "path"), "mkdir": ("path", "path"),
    "glob": ("path", "path"), "grep": ("path", "path"),
    "webfetch": ("url", "text"), "websearch": ("query", "text"),
}
FILE_TOOLS = frozenset(tool for tool, (_, kind) in TOOL_ARGUMENTS.items() if kind == "path")
# Tools that search a directory and default to the working directory when given none.
_DEFAULTS_TO_CWD = frozenset({"ls", "glob", "grep"})
_TOOL_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
CASE_INSENSITIVE_PATHS = sys.platform in ("darwin", "win32")
# What a wildcard in a command pattern never matches.
SHELL_SEPARATORS = ";|&`$<>\n\r"
_NOT_SEPARATOR = "[^" + re.escape(SHELL_SEPARATORS) + "]"


class InvalidPattern(ValueError):
    pass


def argument_kind(tool: str) -> str:
    """"path", "command", "text", or "exact" for a tool the table does not know."""
    entry = TOOL_ARGUMENTS.get(tool)
    return entry[1] if entry else "exact"


def normalise_path(path: str, cwd: str | None = None) -> str:
    path = re.sub(r"/{2,}", "/", path.strip())
    if not path:
        return path
    if cwd is not None and not path.startswith("/"):
        path = posixpath.join(cwd, path)
    normalised = posixpath.normpath(path)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    if path.endswith("/") and normalised != "/":
        normalised += "/"
    return normalised.lower() if CASE_INSENSITIVE_PATHS else normalised


def normalise_command(command: str) -> str:
    """Runs of spaces and tabs become one space; a newline stays, as the shell reads it as `;`."""
    lines = (" ".join(line.split()) for line in command.replace("\r\n", "\n").split("\n"))
    return "\n".join(lines).strip("\n ")


def _canonical(tool_input: dict[str, Any]) -> str:
    return json.dumps(tool_input, sort_keys=True, separators=(",", ":"))


def request_argument(tool_input: dict[str, Any], tool_name: str | None = None) -> str:
    """The argument a request is judged by: the tool's own field, or its whole input as JSON."""
    entry = TOOL_ARGUMENTS.get(tool_name.strip().lower()) if tool_name else None
    if entry is not None:
        value = tool_input.get(entry[0])
        if isinstance(value, str) and value:
            return value
    elif tool_name is None:  # for display only: the likeliest field
        for key in ("file_path", "path", "notebook_path", "command", "url", "pattern", "query"):
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return value
    return _canonical(tool_input)


def request_key(tool_name: str, tool_input: dict[str, Any], cwd: str | None = None) -> str:
    """The normalised `tool:argument` string a rule is matched against. Relative paths are resolved
    against `cwd` (the server's working directory, which its tasks' commands run in, by default)."""
    tool = tool_name.strip().lower()
    kind = argument_kind(tool)
    if kind == "path":
        field_name = TOOL_ARGUMENTS[tool][0]
        value = tool_input.get(field_name)
        if (value is None or value == "") and tool in _DEFAULTS_TO_CWD:
            value = "."
        if not isinstance(value, str) or not value:
            return f"{tool}:{_canonical(tool_input)}"  # no path to judge: only an exact rule matches
        return f"{tool}:{normalise_path(value, cwd if cwd is not None else os.getcwd())}"
    arg = request_argument(tool_input, tool)
    return f"{tool}:{normalise_command(arg) if kind == 'command' else arg}"


def escape_glob(text: str) -> str:
    return re.sub(r"([*?\\])", r"\\\1", text)


def suggest_pattern(tool_name: str, tool_input: dict[str, Any], cwd: str | None = None) -> str:
    """The narrowest useful rule for a request: its directory for file tools, else the exact argument,
    with its own glob characters escaped so the rule matches what it literally says."""
    key = request_key(tool_name, tool_input, cwd)
    tool, _, arg = key.partition(":")
    if tool in FILE_TOOLS and arg.startswith("/") and arg.rstrip("/"):  # never "everything under /"
        # A file: its directory's entries. A directory (a trailing /): its own entries.
        directory = arg.rstrip("/") if arg.endswith("/") else posixpath.dirname(arg)
        return f"{tool}:{escape_glob(directory.rstrip('/'))}/*"
    return f"{tool}:{escape_glob(arg)}"


def _glob_to_regex(glob: str, *, kind: str) -> str:
    out, i = [], 0
    one = {"path": "[^/]", "command": _NOT_SEPARATOR}.get(kind, ".")
    while i < len(glob):
        ch = glob[i]
        if ch == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if ch == "*":
            if glob.startswith("**", i):
                out.append(f"{_NOT_SEPARATOR}*" if kind == "command" else ".*")
                i += 2
                continue
            out.append(f"{one}*")
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _unescape(glob: str) -> str:
    return re.sub(r"\\(.)", r"\1", glob)


@dataclass(frozen=True)
class CompiledPattern:
    text: str
    tool: str
    arg: str  # the pattern's argument, as written (escapes included)
    _regexes: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def _regex(self, kind: str) -> re.Pattern[str]:
        regex = self._regexes.get(kind)
        if regex is None:
            arg = normalise_path(self.arg) if kind == "path" else normalise_command(self.arg) if kind == "command" \
                else self.arg
            regex = re.compile(_glob_to_regex(arg, kind=kind), re.DOTALL)
            self._regexes[kind] = regex
        return regex

    def matches(self, key: str) -> bool:
        tool, _, arg = key.partition(":")
        kind = argument_kind(tool)
        if kind == "exact" or (kind == "path" and not arg.startswith("/")):
            # A tool the table does not know, or a request with no path: its exact input, named, or nothing.
            return self.tool == tool and _unescape(self.arg) == arg
        if self.tool != "*" and tool != self.tool:
            return False
        return self._regex(kind).fullmatch(arg) is not None


def broadness(pattern: CompiledPattern) -> str | None:
    """What an allow rule would cover beyond one tool's particular arguments, or None: `*:…` covers every
    tool, and an argument made only of wildcards (and `/`) covers every argument of its tool."""
    if pattern.tool == "*":
        return "every tool"
    if not re.sub(r"\\.", "x", pattern.arg).strip("*/? " + PATTERN_SPACE):
        return f"every argument of {pattern.tool}"
    return None


def compile_pattern(text: str) -> CompiledPattern:
    if not isinstance(text, str) or "\x00" in text:
        raise InvalidPattern("Pattern must be a string without NUL characters")
    tool, sep, arg = text.strip(PATTERN_SPACE).partition(":")
    tool = tool.strip(PATTERN_SPACE)
    if not sep:
        raise InvalidPattern(f"Pattern {text!r} must look like tool:argument, e.g. write:/reports/*")
    if tool != "*" and not _TOOL_RE.match(tool):
        raise InvalidPattern(f"Pattern {text!r} has an invalid tool name {tool!r}")
    if not arg.strip(PATTERN_SPACE):
        raise InvalidPattern(f"Pattern {text!r} has an empty argument; use tool:* to match any")
    compiled = CompiledPattern(text=text, tool=tool.lower(), arg=arg)
    kind = argument_kind(compiled.tool)
    try:
        compiled._regex("text" if kind == "exact" else kind)
    except re.error as exc:  # pragma: no cover - every glob compiles
        raise InvalidPattern(f"Pattern {text!r} does not compile: {exc}") from None
    return compiled


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: str
    behavior: str
    saved_by: str | None = None


def rules_of(rows: Any) -> list[Rule]:
    """Rules from the store's rows (id, pattern, behavior, saved_by): the ones in force, as they are decided."""
    return [Rule(r["id"], r["pattern"], r["behavior"], r["saved_by"]) for r in rows]


def rule_answer_line(behavior: str, tool_name: str, rule: Rule, key: str) -> str:
    """The task log's line for a request a saved rule answered: which rule (its pattern, its id, who saved it),
    so a person reading the log knows what to revoke."""
    verb = "Auto-allowed" if behavior == "allow" else "Auto-denied"
    by = f", saved by {rule.saved_by}" if rule.saved_by else ""
    return f"{verb} {tool_name} by rule {rule.pattern!r} (rule {rule.id[:8]}{by}) for {key}"


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
