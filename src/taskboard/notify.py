"""Notifications that reach a person who is not looking at the board: the terminal's own notification,
a command, a webhook.

The board rings the bell and shows a toast; neither reaches someone in another window, on another
desk or behind an SSH session. The `[notify]` table of the config file (taskboard.config) chooses the
events (a permission request, a question, a failure, a completion) and the ways:

- the terminal's own notification, OSC 9 (iTerm2, WezTerm, Windows Terminal, Ghostty, kitty, foot…) or
  OSC 777 `notify;title;body` (rxvt-unicode, VTE terminals, WezTerm…), which most show as a desktop
  notification, over SSH too. Inside tmux the sequence is wrapped in tmux's DCS passthrough
  (`ESC P tmux; … ESC \\`), which tmux 3.3 and later forward only with `set -g allow-passthrough on`;
- a command, run without a shell: its arguments may hold `{event}`, `{title}`, `{server}`, `{id}`,
  `{headline}`, `{text}`, `{detail}` and `{url}`, and it gets the same as TASKBOARD_NOTIFY_* variables;
- a webhook: ntfy-style (the text as a plain body, a `Title` header), Slack-compatible (`{"text": …}`),
  or the notice's fields as JSON.

Nothing here may hold up the board. `post` decides at once (the terminal's sequence is a write of a
few bytes); the command and the webhook each have a queue and a loop of their own in the board's
worker, every send has a timeout, so a webhook that hangs delays only the webhook's next notice.
A rate limit (a burst of BURST, then `per_minute`) counts what it holds back and says so with the next
notice, or in a summary once it allows one. A way that fails is said once, as a notification, until it
works again: a dead webhook is one toast, not one per event.

No textual here: the TUI hands in how to write to the terminal and how to tell the person.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.header import Header

import httpx

from taskboard.config import NotifySettings

BURST = 5
QUEUE_SIZE = 50
SUMMARY_CHECK = 1.0  # how often held-back events are looked at, for their summary
HEADLINES = {"permission": "Approval needed", "question": "Question", "failed": "Failed", "completed": "Completed",
             "summary": "taskboard"}
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_FIELD = re.compile(r"\{(event|title|server|id|headline|text|detail|url)\}")


@dataclass(frozen=True)
class Notice:
    """One event worth telling: what happened to which task, on which server."""

    event: str  # permission, question, failed, completed (or summary: what the rate limit held back)
    title: str
    server: str
    task_id: str
    detail: str = ""  # what it asks, why it failed
    url: str = ""  # the server's address
    more: int = 0  # events the rate limit held back before this one

    @property
    def headline(self) -> str:
        head = HEADLINES.get(self.event, self.event)
        return f"{head}: {self.title}" if self.title else head

    @property
    def text(self) -> str:
        where = f"{self.server} · task {self.task_id}" if self.task_id else self.server
        parts = [p for p in (self.detail, where) if p]
        if self.more:
            parts.append(f"(and {self.more} more not sent: the rate limit)")
        return " — ".join(parts)

    def fields(self) -> dict[str, str | int]:
        return {"event": self.event, "title": self.title, "server": self.server, "id": self.task_id,
                "headline": self.headline, "text": self.text, "detail": self.detail, "url": self.url,
                "more": self.more}


def _clean(text: str, limit: int = 240) -> str:
    """A title or message as the terminal may safely get it: no control characters (a task's title must
    not end the sequence early or start another one), and not too long."""
    text = _CONTROLS.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def terminal_sequence(style: str, headline: str, text: str, *, tmux: bool = False) -> str:
    """The escape sequence of the terminal's notification: OSC 9 or OSC 777, wrapped for tmux."""
    if style == "osc777":
        sequence = f"\x1b]777;notify;{_clean(headline).replace(';', ',')};{_clean(text).replace(';', ',')}\x07"
    else:
        sequence = f"\x1b]9;{_clean(headline + ' — ' + text)}\x07"
    if tmux:  # tmux's passthrough: every ESC inside doubled, the whole in a DCS
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


def command_line(command: tuple[str, ...], notice: Notice) -> list[str]:
    fields = notice.fields()
    return [_FIELD.sub(lambda m: str(fields[m.group(1)]), part) for part in command]


def webhook_request(fmt: str, notice: Notice) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the webhook's POST."""
    if fmt == "slack":
        return json.dumps({"text": f"{notice.headline}\n{notice.text}"}).encode(), {"Content-Type": "application/json"}
    if fmt == "json":
        return json.dumps(notice.fields()).encode(), {"Content-Type": "application/json"}
    # ntfy: the message is the body; the title a header (RFC 2047 when it is not ASCII, which ntfy decodes).
    title = notice.headline
    if not title.isascii():
        title = Header(title, "utf-8").encode()
    return notice.text.encode(), {"Content-Type": "text/plain; charset=utf-8", "Title": title, "Tags": notice.event}


class Notifier:
    """Hands notices to the ways the config chose, rate-limited, and never waits for one of them."""

    def __init__(self, settings: NotifySettings, *, write: Callable[[str], None] | None,
                 report: Callable[[str, bool], None], clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] = os.environ) -> None:
        """`write` puts a string on the terminal (None: no terminal); `report(message, error)` tells the
        person (a toast)."""
        self.settings = settings
        self.write = write
        self.report = report
        self.clock = clock
        self.tmux = bool(environ.get("TMUX"))
        self.tokens = float(BURST)
        self._refilled = clock()
        self.held: Counter[str] = Counter()  # held back by the rate limit, not yet said
        self.failing: set[str] = set()
        self.sent: Counter[str] = Counter()  # per way, for the tests and the curious
        self._queues: dict[str, asyncio.Queue[Notice]] = {"command": asyncio.Queue(QUEUE_SIZE),
                                                          "webhook": asyncio.Queue(QUEUE_SIZE)}

    def update(self, settings: NotifySettings) -> None:
        """The config was re-read."""
        self.settings = settings

    # ------------------------------------------------------------------ deciding (never waits)

    def post(self, notice: Notice) -> bool:
        """Tell the chosen ways about `notice`, if its event is chosen and the rate limit allows it."""
        settings = self.settings
        if not settings.active or notice.event not in settings.events:
            return False
        if not self._take():
            self.held[notice.event] += 1
            return False
        if self.held:
            notice = replace(notice, more=sum(self.held.values()))
            self.held.clear()
        self._deliver(notice)
        return True

    def _take(self) -> bool:
        now = self.clock()
        rate = self.settings.per_minute / 60.0
        self.tokens = min(float(BURST), self.tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def _deliver(self, notice: Notice) -> None:
        settings = self.settings
        if settings.terminal != "off" and self.write is not None:
            try:
                self.write(terminal_sequence(settings.terminal, notice.headline, notice.text, tmux=self.tmux))
                self.sent["terminal"] += 1
            except OSError as exc:
                self._failed("terminal", str(exc))
        for way, wanted in (("command", bool(settings.command)), ("webhook", settings.webhook is not None)):
            if not wanted:
                continue
            try:
                self._queues[way].put_nowait(notice)
            except asyncio.QueueFull:
                self._failed(way, f"it is not keeping up ({QUEUE_SIZE} notices waiting); this one was dropped")

    def _summary(self) -> None:
        """What the rate limit held back, once it allows a notice: nothing held back goes unsaid."""
        if self.held and self._take():
            counts = ", ".join(f"{n} {event}" for event, n in sorted(self.held.items()))
            total = sum(self.held.values())
            self.held.clear()
            self._deliver(Notice("summary", "", f"{total} more event{'s' if total != 1 else ''} ({counts})", ""))

    # ------------------------------------------------------------------ sending (the board's worker)

    async def run(self) -> None:
        """The ways' loops and the summary check; runs until cancelled (the board's worker)."""
        async with httpx.AsyncClient(follow_redirects=False) as http:
            loops = [asyncio.ensure_future(self._loop("command", self._run_command)),
                     asyncio.ensure_future(self._loop("webhook", lambda n: self._post_webhook(http, n)))]
            try:
                while True:
                    await asyncio.sleep(SUMMARY_CHECK)
                    self._summary()
            finally:
                for loop in loops:
                    loop.cancel()
                for loop in loops:
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    async def _loop(self, way: str, send: Callable[[Notice], object]) -> None:
        queue = self._queues[way]
        while True:
            notice = await queue.get()
            try:
                await asyncio.wait_for(send(notice), self.settings.timeout)  # type: ignore[arg-type]
            except TimeoutError:
                self._failed(way, f"no answer in {self.settings.timeout:g} s")
            except (OSError, httpx.HTTPError, NotifyFailed, ValueError) as exc:
                self._failed(way, str(exc) or type(exc).__name__)
            else:
                self.sent[way] += 1
                if way in self.failing:
                    self.failing.discard(way)
                    self.report(f"Notifications by {way} work again.", False)

    def _failed(self, way: str, why: str) -> None:
        if way not in self.failing:
            self.failing.add(way)
            self.report(f"Notifications by {way} failed: {why}. Further failures are not shown until it works "
                        "again.", True)

    async def _post_webhook(self, http: httpx.AsyncClient, notice: Notice) -> None:
        assert self.settings.webhook is not None
        body, headers = webhook_request(self.settings.webhook_format, notice)
        response = await http.post(self.settings.webhook, content=body, headers=headers,
                                   timeout=self.settings.timeout)
        if response.status_code >= 300:
            raise NotifyFailed(f"{self.settings.webhook} answered HTTP {response.status_code}")

    async def _run_command(self, notice: Notice) -> None:
        args = command_line(self.settings.command, notice)
        env = {**os.environ, **{f"TASKBOARD_NOTIFY_{k.upper()}": str(v) for k, v in notice.fields().items()}}
        process = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE, env=env)
        try:
            _, err = await process.communicate()
        except asyncio.CancelledError:  # the timeout: it is not left running
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        if process.returncode:
            said = err.decode(errors="replace").strip().splitlines()
            raise NotifyFailed(f"{args[0]} exited with status {process.returncode}"
                               + (f": {_clean(said[-1], 120)}" if said else ""))


class NotifyFailed(Exception):
    """A way of notifying answered, and not with success."""
