"""Signals are how a running worker is controlled: by the screen (its training child process) and by `kill`.

- SIGTERM, SIGINT (Ctrl+C), SIGHUP: save the exact position as last.pt and stop, exit 143 / 130
  (SIGHUP counts as SIGTERM); a second one exits at once - but in a process of a distributed run, a repeat
  of the same signal is the same request: the launcher passes each signal it gets on to the processes (two
  SIGHUPs when a tmux server closes), and the kernel repeats a launcher's death signal for each of its threads.
- SIGUSR1: save now - last.pt with the exact position at the next step, as --save-every does;
  its `checkpoint` event carries `"requested": true`.
- SIGUSR2: pause, or resume a paused run (`paused` / `resumed` events); a stop still works while paused.

The worker's pid is in the run's `start` event (events.jsonl). A handler only sets a flag on
the trainer's `requests` (tui/core/requests.py); the loop serves it at the next step boundary,
so nothing is written from inside a signal handler and no request changes the weights.
SIGHUP already ignored (`nohup`) stays ignored; otherwise it is treated like SIGTERM, so a
dropped SSH session stops a run cleanly.
SIGUSR1 / SIGUSR2 exist only on POSIX systems; before training starts (while data loads) they
are ignored rather than killing the process, their default. Once the process exits (the run
finished and saved), every one of these signals is ignored: see `ignore_stop_signals`.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tui.core.launcher_env import LAUNCHER_PID


class StopOnSignal:
    def __init__(self) -> None:
        self.trainer: Any = None
        self.received = 0
        self.first = 0  # the first stop signal's number
        self.launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # a process of a distributed run

    def install(self) -> "StopOnSignal":
        signals = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signals.append(signal.SIGHUP)
        for s in signals:
            signal.signal(s, self._handle)
        if hasattr(signal, "SIGUSR1") and hasattr(signal, "SIGUSR2"):
            signal.signal(signal.SIGUSR1, self._save_now)
            signal.signal(signal.SIGUSR2, self._toggle_pause)
        atexit.unregister(ignore_stop_signals)  # once, and last: atexit runs it first, before torch's own
        atexit.register(ignore_stop_signals)
        return self

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received and self.launched and signum == self.first:  # passed on again: the same request
            return
        self.received += 1
        self.first = self.first or signum
        if self.trainer is None or self.received > 1:  # nothing to save yet, or asked twice: go now
            os._exit(exit_code(signum))
        self.trainer.requests.stop = signal.Signals(signum).name

    def _save_now(self, signum: int, frame: Any) -> None:
        if self.trainer is not None:
            self.trainer.requests.save = True

    def _toggle_pause(self, signum: int, frame: Any) -> None:
        if self.trainer is not None:
            self.trainer.requests.pause = not self.trainer.requests.pause


def interrupt_at_once_while_importing() -> None:
    """Set first thing, until a command installs its own: a Ctrl+C that lands while a module is being imported
    ends the process at once (130; nothing is written yet), anywhere else it is Python's KeyboardInterrupt.
    Raised inside an import, the KeyboardInterrupt left modules half made - a traceback from a later line of
    numpy ("module 'numpy' has no attribute ...") - or, inside torch's C module, which imports numpy, was
    swallowed, and the run went on as if no key had been pressed."""
    signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            os._exit(exit_code(signum))
        frame = frame.f_back
    raise KeyboardInterrupt


def ignore_stop_signals() -> None:
    """Run at exit (atexit; `StopOnSignal.install` registers it), so after the job and its last save, whatever
    its end: a stop signal has nothing left to stop, and is ignored. Without this, a Ctrl+C in the second or
    so the interpreter then takes to exit killed the process by the signal: Python's teardown, which runs
    after atexit, gives SIGINT, SIGTERM and SIGHUP back their default action (killing) before it frees
    torch, and spares only handlers set to SIG_IGN. The exit code stays the job's own: 0 for a finished
    run, so `torchtui run ... && torchtui predict ...` goes on, as nothing is lost or unsaved."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"):  # USR1/2 would kill too, by default
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def exit_code(signum: int) -> int:
    """130 for Ctrl+C, 143 for SIGTERM; SIGHUP counts as SIGTERM."""
    return 130 if signum == signal.SIGINT else 143


def follow_the_launcher() -> None:
    """In a process of a distributed run, started by our launcher or torchrun's agent: SIGTERM when the launcher
    dies. Otherwise a launcher killed (SIGKILL) while the processes start leaves them waiting for it at the
    rendezvous for distributed.timeout(), and one killed later leaves them training with nobody to stop them. A
    process that finds its launcher already gone exits (143). Linux only (prctl's PR_SET_PDEATHSIG), and only
    where the parent is the launcher: the signal comes when the parent's thread that started this process ends,
    and the agent starts the processes from the thread that runs it, which lives as long."""
    if not sys.platform.startswith("linux") or "TORCHELASTIC_RESTART_COUNT" not in os.environ:
        return
    parent, ours = os.getppid(), os.environ.get(LAUNCHER_PID)
    if ours and str(parent) != ours:  # our launcher is not the parent: gone already, or a wrapper sits between
        from tui.core.runs import process_alive  # (a zombie, killed and not yet reaped, is gone)

        if ours.isdigit() and not process_alive(int(ours)):
            os._exit(143)
        return
    if not ours and not is_torchrun_agent(parent):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG = 1
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made: nobody will send the signal
        os._exit(143)


def is_torchrun_agent(pid: int) -> bool:
    """Whether process `pid` is torchrun's agent (`torchrun`, `python -m torch.distributed.run`)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(w.endswith(b"torchrun") or w == b"torch.distributed.run" or w.endswith(b"torch/distributed/run.py")
               for w in words)
