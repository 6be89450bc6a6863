"""Requests from outside a running loop: stop, save now, pause.

Signal handlers (tui/signals.py) set them; the loop reads one attribute per step,
`attention`, and serves the request at the next step boundary, where the position is exact,
so no request changes the weights. Setting a flag from a handler is all a handler does.
"""

from __future__ import annotations

from typing import Any


class Requests:
    stop: str  # the reason (a signal's name) to save the exact position and stop; "" while none
    save: bool  # save last.pt at the next step boundary, as --save-every does; its event says "requested"
    pause: bool  # wait at the next step boundary until this is cleared (or a stop is asked)
    attention: bool  # the one flag the loop reads per step: set by any request above

    def __init__(self) -> None:
        self.stop, self.save, self.pause = "", False, False
        self.attention = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if value and name != "attention":
            object.__setattr__(self, "attention", True)

    def take_save(self) -> bool:
        """Whether a save was asked, clearing it: it is served once."""
        wanted, self.save = self.save, False
        return wanted
