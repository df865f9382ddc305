"""The keys of a dialog that is a list (the triage queue, the saved rules): j/k and g/G move its cursor
as they move the board's, besides the arrows, home and end the OptionList has."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import OptionList

CURSOR_KEYS = [
    Binding("j", "cursor('down')", "Down", show=False),
    Binding("k", "cursor('up')", "Up", show=False),
    Binding("g", "cursor('first')", "First", show=False),
    Binding("G", "cursor('last')", "Last", show=False),
]


def move_cursor(listing: OptionList, direction: str) -> None:
    {"down": listing.action_cursor_down, "up": listing.action_cursor_up, "first": listing.action_first,
     "last": listing.action_last}[direction]()
