"""What the task table and the detail pane share: a ScrollView whose content grows or shrinks in place."""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def set_content_size(view: ScrollView, size: Size) -> None:
    """Give `view` a new virtual size without laying the screen out again.

    `view.virtual_size = size` is a reactive that re-lays out the whole screen (~15 ms at 160x45), on
    every page of a 100,000-task load or every change of the selected task. The view keeps its region;
    only its scrollbars change."""
    if size != view.virtual_size:
        view.set_reactive(ScrollView.virtual_size, size)
        view._scroll_update(size)
