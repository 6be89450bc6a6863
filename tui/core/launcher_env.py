"""How a process of a distributed run knows the launcher that started it: the launcher's pid, and the launcher's own
folder, in the environment it hands its processes (launch.py sets them; the console's signals.follow_the_launcher
reads the pid before torch is loaded, which is why this module imports nothing but os).

The folder carries Ctrl+Z. Stopped (SIGSTOP) in the middle of a collective, a process of a run left stopped longer
than the collective timeout (10 minutes) found the collective timed out when woken, and the run failed: gloo and
NCCL measure the wait on a clock that runs on while a process is stopped. So the launcher, asked to stop, leaves a
note (`SUSPENDED`) in its folder and stops itself; its processes read the note at their next agreement (every few
steps), and wait there together, agreeing every 50 ms, until the launcher, woken (`fg`), takes the note away. A
process marks that it reads the note (`mark_following`) once it trains; until every one has, the launcher stops
them with SIGSTOP, as before (they are starting: no collective of theirs waits on a clock yet that long).
A note, not a signal: a stop and a wake that reach a busy process together arrive in no order, a note's absence
does."""

import os

LAUNCHER_PID = "TORCHTUI_LAUNCHER_PID"
LAUNCHER_DIR = "TORCHTUI_LAUNCHER_DIR"  # the launcher's own temporary folder, removed when it ends
SUSPENDED = "suspended"  # the note, in that folder, while the launcher is stopped (Ctrl+Z)


def suspended() -> bool:
    """Whether this process's launcher is stopped (Ctrl+Z) and asks its processes to wait."""
    folder = os.environ.get(LAUNCHER_DIR)
    return os.path.exists(os.path.join(folder, SUSPENDED)) if folder else False


def mark_following() -> None:
    """Say to the launcher that this process reads its note from now on, so a Ctrl+Z need not stop it."""
    folder = os.environ.get(LAUNCHER_DIR)
    if folder and os.path.isdir(folder):
        with open(following_mark(folder, os.getpid()), "w"):
            pass


def following_mark(folder: str, pid: int) -> str:
    return os.path.join(folder, f"following-{pid}")
