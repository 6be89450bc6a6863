"""A request set by a signal handler is never lost to the loop reading and clearing it.

A handler runs between two bytecodes of the main thread, wherever Python next checks for one. `take_save`
reads the save flag and clears it: a SIGUSR1 whose handler ran between the two would set a flag the clear then
overwrote, and that save-now would never be served. The test sends a real SIGUSR1, to this process, before
each bytecode of `take_save` in turn (a trace function, `f_trace_opcodes`), and checks that every one is either
taken now or still waiting for the next boundary.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tui.core.requests import Requests

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="SIGUSR1 exists on POSIX systems only")


def settle() -> None:
    """A Python call: a handler whose signal is pending runs here at the latest."""


def take_with_a_signal_before_opcode(requests: Requests, k: int) -> tuple[bool, bool]:
    """`requests.take_save()` with SIGUSR1 sent just before its k-th bytecode; (sent, what it returned)."""
    code, seen, sent = Requests.take_save.__code__, 0, False

    def trace(frame, event, arg):
        nonlocal seen, sent
        if frame.f_code is not code:
            return None
        frame.f_trace_lines, frame.f_trace_opcodes = False, True
        if event == "opcode":
            if seen == k:
                os.kill(os.getpid(), signal.SIGUSR1)
                sent = True
            seen += 1
        return trace

    sys.settrace(trace)
    try:
        taken = requests.take_save()
    finally:
        sys.settrace(None)
    settle()
    return sent, taken


def test_a_save_signal_at_any_bytecode_of_take_save_is_never_lost():
    requests = Requests()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: setattr(requests, "save", True))
    try:
        tried = 0
        for k in range(200):
            requests.save = False
            sent, taken = take_with_a_signal_before_opcode(requests, k)
            if not sent:  # past take_save's last bytecode
                break
            tried += 1
            assert taken or requests.save, f"a save-now sent before bytecode {k} of take_save was lost"
            assert not (taken and requests.save), f"a save-now sent before bytecode {k} was counted twice"
        assert tried >= 4  # the read, the clear and what is around them
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_without_a_signal_a_save_is_taken_once():
    requests = Requests()
    assert not requests.take_save()
    requests.save = True
    assert requests.attention and requests.take_save() and not requests.take_save()
