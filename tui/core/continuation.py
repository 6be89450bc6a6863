"""What "train" means once a run is loaded: continue it exactly, or start a new one.

The screen's ctrl+r follows this rule; it is kept here, beside the run folder, because it is
about runs, not about widgets, and because a test can then hold it without a screen.
A loaded run is continued (`torchtui resume`) only when nothing but the number of epochs
changed, since only then is the continuation the same run; anything else starts a new run.
A data file of the run that is gone from its place (moved, or its disk mounted elsewhere) may be
given its new place on the Data pane: that is the same run, resumed as `torchtui resume RUN
--dataset NEW` would (the resume checks the rows against the checkpoint's fingerprint of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .files import is_file_here, no_such_path
from .follow import RunState
from .runs import run_stem
from .spec import DATA_FILE_NAMES, Spec, data_file_places, spec_field


def box(path: str) -> str:
    """The Data pane's box for a data file field: its label ("Validation file"), "Path" for the dataset's."""
    return spec_field(path).label or "Path"


@dataclass
class Choice:
    action: str  # "resume" | "new" | "refuse"
    epochs: int | None = None  # resume: the new total of epochs, when it changed
    message: str = ""  # what to tell the user
    moved: dict[str, str] = field(default_factory=dict)  # resume: a data file's new place (spec path -> file)
    pane: str = "hyper"  # refuse: the pane where the user changes what it asks


def moved(spec: Spec, loaded: Spec) -> dict[str, str]:
    """The loaded run's data files that `spec` gives a new place: the run's own place holds no file any more (a
    run keeps its files' absolute paths), and the one on screen is a file (made absolute: the worker's folder is
    not the screen's concern). A place changed while the old one still holds the file is another run's data."""
    return {path: str(Path(now).resolve()) for path, was, now in data_file_places(loaded, spec)
            if was and now and was != now and Path(was).is_absolute() and no_such_path(was) and is_file_here(now)}


def gone(spec: Spec, loaded: Spec) -> list[str]:
    """What to say of each data file of the loaded run that is gone from its place and still named there on screen:
    "its data file /old/x.csv is gone: type where it is now in Path on the Data pane"."""
    return [f"its {DATA_FILE_NAMES[path]} {was} is gone: type where it is now in {box(path)} on the Data pane"
            for path, was, now in data_file_places(loaded, spec)
            if was and was == now and Path(was).is_absolute() and no_such_path(was)]


def same_run(a: Spec, b: Spec) -> bool:
    """Equal in everything but the number of epochs (and the run's name, which names a folder, not
    a setting): a continuation of one is the other."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d["train"].pop("epochs")
        d["run"].pop("name")
    return da == db


def continues(spec: Spec, loaded: Spec, new_places: dict[str, str] | None = None) -> bool:
    """Whether `spec` is the loaded run's own (ctrl+r resumes it, and its folder's name is no other run's): the
    same run (`same_run`), its data files given new places (`moved`, or `new_places` where the caller has them)
    or not."""
    new_places = moved(spec, loaded) if new_places is None else new_places
    saved_places = {path: was for path, was, _ in data_file_places(loaded, spec) if path in new_places}
    return same_run(spec.with_overrides(saved_places), loaded)


def choose(spec: Spec, loaded: Spec | None, run: RunState | None) -> Choice:
    """ctrl+r with `spec` on screen, after `loaded` was loaded from `run` (None: nothing loaded)."""
    if loaded is None or run is None:
        return Choice("new")
    if spec.run.name and spec.run.name != run.run_dir.name:  # a name of its own: the user asked for a new run
        return Choice("new", message=f"starting a new run, {spec.run.name}; {run.run_dir.name} stays as it is")
    new_places = moved(spec, loaded)  # (once: each asks the file system, and the screen asks twice a second)
    if not continues(spec, loaded, new_places):
        return Choice("new", message=f"the settings differ from {run.run_dir.name}: starting a new run")
    done, epochs = run.epoch_done, spec.train.epochs
    finished = run.status in ("done", "early_stopped")
    if finished and epochs <= done:
        return Choice("refuse", message=f"{run.run_dir.name} already trained {done} epochs: "
                                         f"raise Epochs above {done} to train on")
    missing = gone(spec, loaded)
    if missing:
        return Choice("refuse", message=f"{run.run_dir.name}: {'; '.join(missing)}, then ctrl+r resumes it (or "
                                         "give a Run name for a new run)", pane="data")
    if run.status == "early_stopped":  # its own epochs were not reached: a resume without --epochs says it ended
        return Choice("resume", epochs, f"training {run.run_dir.name} on from epoch {done} to {epochs}, its patience "
                      "counted afresh" + _from(new_places), new_places)
    return Choice("resume", epochs if epochs != loaded.train.epochs else None,
                  f"resuming {run.run_dir.name} after epoch {done}" + _from(new_places), new_places)


def _from(new_places: dict[str, str]) -> str:
    """", its data file now /new/x.csv" for each file given a new place."""
    return "".join(f", its {DATA_FILE_NAMES[path]} now {place}" for path, place in new_places.items())


def loaded_message(run: RunState, spec: Spec) -> str:
    """What loading `run` means for the next ctrl+r."""
    name = run.run_dir.name
    if run.running:
        return f"attached to {name}, still training (pid {run.pid})"
    if run.status in ("done", "early_stopped"):
        return f"loaded {name}: {run.epoch_done} epochs, finished; raise Epochs and ctrl+r to train on" + _gone(spec)
    return f"loaded {name} at epoch {run.epoch_done}/{spec.train.epochs}: ctrl+r resumes exactly" + _gone(spec)


def _gone(spec: Spec) -> str:
    """The loaded run's data files that are gone from their places, and where to give them new ones."""
    missing = gone(spec, spec)
    return f"; but {'; '.join(missing)}" if missing else ""


def next_train(spec: Spec, loaded: Spec | None, run: RunState | None, dataset_label: str = "") -> str:
    """One line for the screen: what ctrl+r will do with `spec` now, and where it will write (a new run's folder
    named after `dataset_label`, the data's name, as the run will name it)."""
    if run is not None and run.running:
        return f"{run.run_dir.name} is training: ctrl+x stops it"
    choice = choose(spec, loaded, run)
    if choice.action == "refuse":
        return choice.message
    if choice.action == "resume" and run is not None:
        total = choice.epochs or spec.train.epochs
        how = "on, its patience counted afresh," if run.status == "early_stopped" else "exactly,"
        return (f"ctrl+r continues {run.run_dir.name} {how} from epoch {run.epoch_done} to {total}"
                + _from(choice.moved))
    where = f"{spec.run.runs_dir}/{spec.run.name or run_stem(dataset_label or spec.data.dataset) + '-<date>-<time>'}"
    if spec.run.processes != "1":
        where += (" with one process per GPU (DDP)" if spec.run.processes == "gpu"
                  else f" with {spec.run.processes} processes (DDP)")
    if loaded is not None and run is not None and not spec.run.name:
        return f"ctrl+r trains a new run in {where} (the settings differ from {run.run_dir.name}, which stays as it is)"
    return f"ctrl+r trains a new run in {where}"
