"""Dialogs that fit the terminal: the body scrolls, the buttons stay on screen.

A dialog's height is `auto` with a max-height in percent, but a scrolling body inside an auto-height
box cannot take "what is left" from CSS alone: at 80x24 the body grew to its own max-height and
pushed the buttons off the bottom. So the body's max-height is set from the screen's height, less
what the rest of the dialog needs, whenever the terminal is resized.
"""

from __future__ import annotations

from textual.widget import Widget


def fit_body(body: Widget, screen_height: int, reserve: int, *, share: float = 0.9) -> None:
    """Let `body` be at most what is left of `share` of the screen after `reserve` rows (borders,
    buttons, their margins)."""
    body.styles.max_height = max(3, int(screen_height * share) - reserve)
