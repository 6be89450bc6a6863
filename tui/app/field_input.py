"""An Input that applies the keys typed into it in the order they were typed.

Textual's Input inserts a printable character in its own key handler, but runs its bound keys (backspace, delete,
the arrows, home/end, ctrl+w...) only after the key event has bubbled up to the app, which looks the binding up
there. Keys that arrive in a burst (over SSH, from tmux, a paste) are handled one after another, so the characters
typed after a backspace could be inserted before the backspace ran: `End`, six backspaces and "0.02" in a
Learning rate box holding 0.01 left "0." - the backspaces deleted what was typed after them (a tmux audit, 2 bursts
in 6; Textual issue 6605). `FieldInput` runs its own (non-priority) bindings in its key handler, as the app would
have run them - the focused widget's bindings are the first the app tries - so a key does what it did, in its place.
Only its own: a container's key handler (the Model pane's escape) must see a key before the screen's bindings do.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    _select_after: bool | None = None  # focused by `focus_typed`: select_on_focus as it was, put back on blur

    def focus_typed(self, text: str) -> None:
        """Focus the box with `text` typed in, the cursor after it, so the keys that follow add to it: Input selects
        its whole text on focus, and the next key replaced it (a layer's name typed over the stack lost its first
        letter). Textual runs every class's focus handler, Input's too: its selecting is off until the box is left."""
        self.insert_text_at_cursor(text)
        if self._select_after is None:
            self._select_after, self.select_on_focus = self.select_on_focus, False
        self.focus()

    def _on_blur(self, event: events.Blur) -> None:
        if self._select_after is not None:
            self.select_on_focus, self._select_after = self._select_after, None

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                # (app.run_action: what the app's own lookup calls; False where check_action refuses it)
                if not binding.priority and await self.app.run_action(binding.action, self):
                    self._restart_blink()  # (as Input's own handler does for every key)
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)
