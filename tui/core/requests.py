"""Requests from outside a running loop: stop, save now, pause.

Signal handlers (tui/signals.py) set them; the loop reads one attribute per step,
`attention`, and serves the request at the next step boundary, where the position is exact,
so no request changes the weights. Setting a flag from a handler is all a handler does.

A save is asked by a handler and taken by the loop, so it is two counts with one writer each, not one
flag both set and clear: a handler runs between any two bytecodes of the loop, and one that set a flag
between the loop's read and its clear would be overwritten, a save-now lost (tests/test_requests.py
sends SIGUSR1 before each bytecode of `take_save`). Two asks at once may count as one, and one save
serves both. Blocking the signal around the read and the clear does not do: torch's own threads take
it for the process.
"""

from __future__ import annotations

from typing import Any


class Requests:
    stop: str  # the reason (a signal's name) to save the exact position and stop; "" while none
    pause: bool  # wait at the next step boundary until this is cleared (or a stop is asked)
    attention: bool  # the one flag the loop reads per step: set by any request above
    saves_asked: int  # save-now requests so far: written by the signal handler alone (`save = True`)
    saves_taken: int  # the count of them the loop has served: written by the loop alone

    def __init__(self) -> None:
        self.stop, self.pause = "", False
        self.saves_asked = self.saves_taken = 0
        self.attention = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if value and name not in ("attention", "saves_taken"):
            object.__setattr__(self, "attention", True)

    @property
    def save(self) -> bool:
        """Whether a save is asked and not yet taken: last.pt at the next step boundary, as --save-every does;
        its event says "requested"."""
        return self.saves_asked > self.saves_taken

    @save.setter
    def save(self, wanted: bool) -> None:
        if wanted:
            self.saves_asked += 1
        else:
            self.saves_taken = self.saves_asked

    def take_save(self) -> bool:
        """Whether a save was asked, which is then served: once, however many were asked before it. One asked
        while this runs is served at the next boundary."""
        asked = self.saves_asked
        wanted = asked > self.saves_taken
        self.saves_taken = asked
        return wanted
