"""Ctrl+C, SIGTERM and SIGHUP for headless runs: the first asks the loop to save and stop, the second exits.

A handler only sets a flag (`Trainer.stop_requested`); the loop checks it after each step,
saves the exact position as last.pt and ends with exit code 128 + the signal, so nothing is
written from inside a signal handler. SIGHUP already ignored (`nohup`) stays ignored;
otherwise it is treated like SIGTERM, so a dropped SSH session stops a run cleanly.
"""

from __future__ import annotations

import os
import signal
from typing import Any


class StopOnSignal:
    def __init__(self) -> None:
        self.trainer: Any = None
        self.received = 0

    def install(self) -> "StopOnSignal":
        signals = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signals.append(signal.SIGHUP)
        for s in signals:
            signal.signal(s, self._handle)
        return self

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer

    def _handle(self, signum: int, frame: Any) -> None:
        self.received += 1
        if self.trainer is None or self.received > 1:  # nothing to save yet, or asked twice: go now
            os._exit(exit_code(signum))
        self.trainer.stop_requested = signal.Signals(signum).name


def exit_code(signum: int) -> int:
    """130 for Ctrl+C, 143 for SIGTERM; SIGHUP counts as SIGTERM."""
    return 130 if signum == signal.SIGINT else 143
