"""The footer, greying and restoring keys in place.

Textual's Footer rebuilds all its keys whenever the bindings are refreshed: ~15 widgets removed,
mounted, styled and laid out (20-80 ms on a loaded board), which a key pressed meanwhile waits for.
Moving the cursor from a running task to a finished one changes only which keys are enabled, so
when the keys shown are the same ones, this footer flips their disabled state and repaints them.
And a rebuild already on its way is not asked for again: it reads the bindings as they are when it runs.
Before, each refresh of the bindings while one was pending found no keys yet and asked for another, so
a board's start built the footer three times, the last two just after its first rows were drawn, where
the first key pressed waited for them (~80 ms).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    _rebuilding = False  # a rebuild (Footer.recompose) is asked for and has not composed yet

    def compose(self) -> ComposeResult:
        self._rebuilding = False
        self._bindings_ready = True  # built with the screen, not after its first refresh
        yield from super().compose()

    def _rebuild(self, screen: Screen[Any]) -> None:
        # Footer.bindings_changed asks for a rebuild only when these hold.
        self._rebuilding = self.is_attached and screen is self.screen and screen.app.app_focus
        super().bindings_changed(screen)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._rebuilding and screen is self.screen:
            return
        if not (self.is_attached and screen is self.screen and screen.app.app_focus and self._bindings_ready):
            self._rebuild(screen)
            return
        # As Footer.compose lists them: one key per action, the first bound.
        first: dict[str, tuple[str, bool]] = {}
        for _, binding, enabled, _ in screen.active_bindings.values():
            if binding.show:
                first.setdefault(binding.action, (binding.key, enabled))
        shown = [(key, action, enabled) for action, (key, enabled) in first.items()]
        keys = list(self.query(FooterKey))
        command_palette = [key for key in keys if key.has_class("-command-palette")]
        keys = [key for key in keys if key not in command_palette]
        if [(key.key, key.action) for key in keys] != [(k, action) for k, action, _ in shown]:
            self._rebuild(screen)  # other keys (another screen, a modal): rebuild
            return
        for key, (_, _, enabled) in zip(keys, shown, strict=True):
            if key._disabled == enabled:  # what FooterKey reads on a click: it rings instead of pressing
                key._disabled = not enabled
                key.set_class(not enabled, "-disabled")
