"""The footer, fitted to the terminal: the focused pane's own keys first, then as many of the
screen-wide keys as the width holds, the ones that matter now kept first.

Textual's Footer lists every active binding and cuts the line at the right edge, so on an 80-column
terminal (or with the Model table focused, even at 100) Save, Pause, Load, Export and Help
vanished. Here nothing is cut mid-key: what does not fit is left out whole, by rank - while a run
trains, stop, pause and save outrank train and load; while none does they are not shown - and F1 Help
(which lists every key) is always shown.
"""

from __future__ import annotations

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Screen-wide actions, most wanted first; anything not named ranks after them.
# lr_find is a screen-wide binding shown on the Hyperparameters pane only: that pane's own key, so it ranks high.
# ctrl+p is "pause", or "resume" while the run is paused: one rank.
WHILE_TRAINING = ("help", "lr_find", "stop", "pause", "resume", "save", "pane", "quit", "train", "load", "export")
WHILE_IDLE = ("help", "lr_find", "train", "pane", "load", "quit", "export")
# The keys of a run in progress: while none trains they are not shown (a wide footer offered ^x Stop and ^p Pause
# with nothing to stop or pause); pressed, each still says why it does nothing, and F1 lists them.
RUN_KEYS = ("stop", "pause", "resume", "save")


def key_width(key: FooterKey) -> int:
    """Cells a compact footer key takes, with the one-cell gap after it: 'key description '."""
    return 1 + len(key.key_display) + (1 + len(key.description) if key.description else 0)


def action_name(action: str) -> str:
    return action.split("(", 1)[0].removeprefix("app.")


def shown_as(keys: list[FooterKey]) -> tuple:
    """What a row of keys looks like and does: two rows alike need no new widgets."""
    return tuple((k.key, k.key_display, k.description, k.action, k.disabled, k.tooltip) for k in keys)


class KeyBar(Footer):
    _shown: tuple = ()  # the keys mounted now, as shown_as sees them

    def fitted(self) -> list[FooterKey]:
        """The keys the bar shows at this width: Help, the pane's own keys, then the rest by rank. None while a
        dialog is over the panes: their keys do nothing there, and the dialog says its own."""
        if self.is_attached and self.app.screen is not self.screen:
            return []
        keys = [k for k in super().compose() if isinstance(k, FooterKey)]
        app_actions = {action_name(b.action) for b in self.app.BINDINGS if hasattr(b, "action")}
        pane_keys = [k for k in keys if action_name(k.action) not in app_actions]
        screen_keys = [k for k in keys if action_name(k.action) in app_actions]
        training = getattr(self.app, "training_now", lambda: False)()
        rank = WHILE_TRAINING if training else WHILE_IDLE
        if not training:
            screen_keys = [k for k in screen_keys if action_name(k.action) not in RUN_KEYS]

        def position(key: FooterKey) -> int:
            name = action_name(key.action)
            return rank.index(name) if name in rank else len(rank)

        ranked = sorted(screen_keys, key=position)
        wanted = ranked[:1] + pane_keys + ranked[1:]  # Help, then the pane's own keys, then the rest by rank
        room, kept = (self.app.size.width or 80) - 1, set()
        for key in wanted:
            if key_width(key) <= room:
                kept.add(id(key))
                room -= key_width(key)
        return [k for k in pane_keys + screen_keys if id(k) in kept]

    def compose(self):
        shown = self.fitted()
        self._shown = shown_as(shown)
        self.styles.grid_size_columns = len(shown)
        yield from shown

    def bindings_changed(self, screen) -> None:
        """Textual's Footer remounts every key on each bindings update, five of them per pane switch. Here the
        keys are remounted only when the row they make changes (the focused pane's keys, a key enabled or not,
        training started or ended): the app's CPU per switch 118 -> 81 ms on two cores
        (tests/bench/tui_overhead.py --only switch)."""
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self.refit)

    async def refit(self) -> None:
        """Fitted again where the keys it would show changed (bindings, training, a dialog over the panes)."""
        if shown_as(self.fitted()) != self._shown:
            await self.recompose()

    def on_resize(self) -> None:
        self.refresh(recompose=True)
