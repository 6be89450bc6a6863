"""What "train" means once a run is loaded: continue it exactly, or start a new one.

The screen's ctrl+r follows this rule; it is kept here, beside the run folder, because it is
about runs, not about widgets, and because a test can then hold it without a screen.
A loaded run is continued (`torchtui resume`) only when nothing but the number of epochs
changed, since only then is the continuation the same run; anything else starts a new run.
"""

from __future__ import annotations

from dataclasses import dataclass

from .follow import RunState
from .spec import Spec


@dataclass
class Choice:
    action: str  # "resume" | "new" | "refuse"
    epochs: int | None = None  # resume: the new total of epochs, when it changed
    message: str = ""  # what to tell the user


def same_run(a: Spec, b: Spec) -> bool:
    """Equal in everything but the number of epochs (and the run's name, which names a folder, not
    a setting): a continuation of one is the other."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d["train"].pop("epochs")
        d["run"].pop("name")
    return da == db


def choose(spec: Spec, loaded: Spec | None, run: RunState | None) -> Choice:
    """ctrl+r with `spec` on screen, after `loaded` was loaded from `run` (None: nothing loaded)."""
    if loaded is None or run is None:
        return Choice("new")
    if spec.run.name and spec.run.name != run.run_dir.name:  # a name of its own: the user asked for a new run
        return Choice("new", message=f"starting a new run, {spec.run.name}; {run.run_dir.name} stays as it is")
    if not same_run(spec, loaded):
        return Choice("new", message=f"the settings differ from {run.run_dir.name}: starting a new run")
    done, epochs = run.epoch_done, spec.train.epochs
    finished = run.status in ("done", "early_stopped")
    if finished and epochs <= done:
        return Choice("refuse", message=f"{run.run_dir.name} already trained {done} epochs: "
                                         f"raise Epochs above {done} to train on")
    return Choice("resume", epochs if epochs != loaded.train.epochs else None,
                  f"resuming {run.run_dir.name} after epoch {done}")


def loaded_message(run: RunState, spec: Spec) -> str:
    """What loading `run` means for the next ctrl+r."""
    name = run.run_dir.name
    if run.running:
        return f"attached to {name}, still training (pid {run.pid})"
    if run.status in ("done", "early_stopped"):
        return f"loaded {name}: {run.epoch_done} epochs, finished; raise Epochs and ctrl+r to train on"
    return f"loaded {name} at epoch {run.epoch_done}/{spec.train.epochs}: ctrl+r resumes exactly"


def next_train(spec: Spec, loaded: Spec | None, run: RunState | None) -> str:
    """One line for the screen: what ctrl+r will do with `spec` now, and where it will write."""
    if run is not None and run.running:
        return f"{run.run_dir.name} is training: ctrl+x stops it"
    choice = choose(spec, loaded, run)
    if choice.action == "refuse":
        return choice.message
    if choice.action == "resume" and run is not None:
        total = choice.epochs or spec.train.epochs
        return f"ctrl+r continues {run.run_dir.name} exactly, from epoch {run.epoch_done} to {total}"
    where = f"{spec.run.runs_dir}/{spec.run.name or '<dataset>-<date>-<time>'}"
    if spec.run.processes != "1":
        where += (" with one process per GPU (DDP)" if spec.run.processes == "gpu"
                  else f" with {spec.run.processes} processes (DDP)")
    if loaded is not None and run is not None and not spec.run.name:
        return f"ctrl+r trains a new run in {where} (the settings differ from {run.run_dir.name}, which stays as it is)"
    return f"ctrl+r trains a new run in {where}"
