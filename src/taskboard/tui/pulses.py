"""Pulses: how many tasks finished and what was spent, minute by minute, as a one-line sparkline.

The numbers are the server's own (`GET /api/tasks/stats`: the completed count and the cost total),
sampled every few seconds; a minute's pulse is how much each grew since the minute before. A server
without stats shows none, and says nothing about it (the header is no place for an apology). Until
two minutes have been seen there is nothing to draw, so the line appears a minute after the board
opens (and never under a frozen clock, which keeps the snapshots still).
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from rich.text import Text

from taskboard import format as fmt

BUCKET_SECONDS = 60
SHOWN = 10  # minutes
BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[0] if v <= 0 else BARS[max(1, round(v / top * (len(BARS) - 1)))] for v in values)


class Pulses:
    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}  # minute -> the last (completed, cost) seen in it

    def clear(self) -> None:
        self._last.clear()

    @property
    def minutes(self) -> int:
        """How many minutes have a sample."""
        return len(self._last)

    def add(self, at: datetime, completed: int, cost_micros: int) -> None:
        minute = int(at.timestamp()) // BUCKET_SECONDS
        self._last[minute] = (completed, cost_micros)
        for old in [m for m in self._last if m <= minute - SHOWN - 1]:
            del self._last[old]  # one before the window stays: the first minute shown has a baseline

    def series(self) -> tuple[list[int], list[int]] | None:
        """(finished, spent) per minute, oldest first; None before two minutes are seen."""
        if len(self._last) < 2:
            return None
        minutes = sorted(self._last)
        latest = minutes[-1]
        done, spent = [0] * SHOWN, [0] * SHOWN
        for before, minute in pairwise(minutes):
            at = minute - latest + SHOWN - 1
            if 0 <= at < SHOWN:
                (c0, m0), (c1, m1) = self._last[before], self._last[minute]
                done[at], spent[at] = max(0, c1 - c0), max(0, m1 - m0)  # a cleanup lowers the count: no pulse
        first = max(minutes[0] - latest + SHOWN - 1, 0)  # before the first minute seen: unknown, not idle
        return done[first:], spent[first:]

    def render(self) -> Text | None:
        series = self.series()
        if series is None:
            return None
        done, spent = series
        text = Text(no_wrap=True)
        text.append("  done ", style="grey62")
        text.append(sparkline(done), style="green")
        text.append(f" {sum(done)}", style="grey70")
        text.append("  spend ", style="grey62")
        text.append(sparkline(spent), style="yellow")
        text.append(f" {fmt.cost(sum(spent)) if sum(spent) else '$0'} in {len(done)} min", style="grey70")
        return text
