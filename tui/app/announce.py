"""What the screen says, as a notification, about an event it reads from the run's log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tui.core.follow import saved_at
from tui.core.live_change import describe


@dataclass
class Notice:
    message: str
    title: str = ""
    severity: str = "information"
    timeout: float = 5


def notice_for(e: dict[str, Any], save_asked: bool, steps_per_epoch: int | None = None,
               resume: Callable[[], str] = lambda: "ctrl+r resumes") -> Notice | None:
    """The notification for event `e`, if it deserves one; `save_asked`: this screen asked for a save
    (a routine or another reader's save stays quiet); `steps_per_epoch`: the run's, from its start event;
    `resume`: how the user continues a stopped run from this screen now (the app's `resume_hint`: asked only for
    a stop, as it looks at the run's files)."""
    kind = e.get("event")
    if kind == "checkpoint" and e.get("requested") and save_asked:
        return Notice(f"saved {e.get('which', 'last')}.pt {saved_at(e, steps_per_epoch)}", timeout=3)
    if kind == "error":
        return Notice(e.get("message", "training failed"), "training stopped", "error", 10)
    if kind == "end":
        status = e.get("status")
        if status == "interrupted":
            return Notice(f"stopped; last.pt holds the exact position: {resume()}")
        best = e.get("best_val_loss")
        return Notice(f"training {'stopped early' if status == 'early_stopped' else 'done'}: {e.get('epochs')} epochs"
                      + (f", best loss {best:.4f}" if best is not None else ""))
    if kind == "change":
        if e.get("refused"):
            return Notice(e["refused"], "change refused", "warning", 10)
        how = "replayed after the resume" if e.get("replayed") else "changed"
        return Notice(f"{how}: {describe(e)} at step {e.get('step')} (epoch {e.get('epoch')})", timeout=5)
    if kind == "paused":
        if e.get("why") == "suspended":
            return Notice("suspended by Ctrl+Z where it was started: `fg` there goes on", timeout=5)
        return Notice("paused: ctrl+p resumes", timeout=3)
    if kind == "predictions":
        return Notice(f"predictions written to {e.get('path')}")
    return None
