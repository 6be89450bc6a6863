"""Comparing runs: their best numbers side by side, the spec fields that differ, their curves, and
deleting a run folder that is no longer wanted.

The Runs pane and `torchtui runs --compare` both read runs through here, so the two show the
same numbers: each run's event log folded by `follow.read_run` (the one reader), its line by
`follow.summarize`, its spec from its `spec.toml`. Curves are per epoch, the one axis runs
with different batch sizes or data share.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .event_schema import METRICS
from .follow import RunInfo, read_run, summarize
from .live_change import running_spec
from .runs import SPEC
from .spec import Spec

# Where a run is written, not how it trains: never a difference worth a row.
NOT_COMPARED = ("run.name", "run.runs_dir")
# A folder with a spec but no start event may be a worker between creating its folder and starting:
# it is not deleted until its spec.toml is this old.
STARTING_GRACE_S = 60.0
COLUMNS = ("name", "status", "dataset", "epochs", "best val loss", "best metric", "time")
METRIC_LABELS = {key: short for key, short, _ in METRICS}
# Run names are cut into the parts that tell them apart at these characters (not "." : "0.01" is one part)
NAME_SEPARATORS = r"[-_ ]"
LABEL_CHARS = 16  # the longest a run's label gets in a column header or a legend
LOSS_FIELD = "loss function"  # a row of the differences: not a spec field, the loss each run's numbers are of


@dataclass
class Curves:
    """A run's per-epoch numbers, in epoch order (None where an epoch has no such number)."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    metric: list[float | None] = field(default_factory=list)


@dataclass
class ComparedRun:
    info: RunInfo
    spec: dict[str, Any] | None  # field path ("train.lr") -> value; None when spec.toml cannot be read
    spec_error: str
    curves: Curves
    loss: str = ""  # the loss function its losses are of (its start event's): "" where it never started

    @property
    def name(self) -> str:
        return self.info.path.name

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS.get(self.info.metric, self.info.metric)

    def summary(self) -> dict[str, Any]:
        """The run's best numbers as plain data (what `--json` prints)."""
        i = self.info
        return {"name": self.name, "path": str(i.path), "status": i.status, "weights_deleted": i.weights_deleted,
                "dataset": i.dataset, "epochs_done": i.epochs_done, "epochs": i.epochs,
                "best_val_loss": i.best_val_loss, "metric": i.metric, "best_metric": i.best_metric,
                "seconds": round(i.seconds, 3)}


@dataclass
class Difference:
    field: str  # "train.lr"
    values: list[Any]  # one per run, in the runs' order; None where a spec could not be read


def read(path: str | Path) -> ComparedRun:
    """One run folder: its line, spec and curves, from one read of its event log."""
    path = Path(path)
    state, _ = read_run(path)
    info = summarize(path, state)
    try:
        # as the run trains now: its live changes (lr, patience, epochs) applied, as loading it (ctrl+o) shows it
        spec: dict[str, Any] | None = flat_spec(running_spec(Spec.from_file(path / SPEC), state))
        spec_error = ""
    except UserError as e:  # an edited or foreign spec.toml: the run is listed, its spec shown as unknown
        spec, spec_error = None, str(e)
    metric = state.metric_name()
    curves = Curves()
    for row in state.epochs:
        curves.epochs.append(row["epoch"])
        curves.train_loss.append(_finite(row.get("train_loss")))
        curves.val_loss.append(_finite(row.get("val_loss")))
        curves.metric.append(_finite(row.get(metric)))
    return ComparedRun(info, spec, spec_error, curves, str(state.start.get("loss", "")) if state.start else "")


def list_compared(runs_dir: str | Path) -> list[ComparedRun]:
    """Every run folder under `runs_dir`, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for p in root.iterdir():
        if p.is_dir() and (p / SPEC).exists() and not p.name.startswith(".deleting-"):  # one being deleted
            try:
                runs.append(read(p))
            except OSError:  # deleted while being read
                continue
    return sorted(runs, key=lambda r: r.info.started, reverse=True)


def flat_spec(spec: Spec) -> dict[str, Any]:
    """{"section.key": value} in declaration order."""
    return {f"{section}.{key}": value for section, values in spec.to_dict().items() for key, value in values.items()}


def differences(runs: list[ComparedRun]) -> list[Difference]:
    """The spec fields whose values are not the same in all the runs, in declaration order, after the loss
    function where the runs' differ (LOSS_FIELD: their losses are then not one measure). A run whose spec cannot
    be read differs in nothing it could be compared on."""
    out = [Difference(LOSS_FIELD, [r.loss or None for r in runs])] if losses_differ(runs) else []
    specs = [r.spec for r in runs]
    known = [s for s in specs if s is not None]
    if len(known) < 2:
        return out
    fields = list(dict.fromkeys(k for s in known for k in s))
    for name in fields:
        if name in NOT_COMPARED:
            continue
        values = [s.get(name) if s is not None else None for s in specs]
        present = [v for s, v in zip(specs, values) if s is not None]
        if any(v != present[0] for v in present[1:]):
            out.append(Difference(name, values))
    return out


def losses_differ(runs: list[ComparedRun]) -> bool:
    """Whether the runs' losses are of different loss functions (CrossEntropy beside MSE, or beside a user's
    --loss BCEWithLogits): their best val losses are then no measure of which run did better, though they share a
    column. `train.loss` alone does not tell: auto is a different loss for a classifier and a regression."""
    return len({r.loss for r in runs if r.loss}) > 1


def loss_note(runs: list[ComparedRun]) -> str | None:
    """What `runs --compare` says under its table when the losses differ."""
    if not losses_differ(runs):
        return None
    names = ", ".join(dict.fromkeys(r.loss for r in runs if r.loss))
    return (f"note: these runs' val losses are of different loss functions ({names}): not one measure, so that "
            "column does not rank them")


def distinct_parts(names: list[str], longest: int = LABEL_CHARS) -> list[str]:
    """What tells run names apart, short enough for a column header: names cut into parts at - _ or
    space lose the parts that are the same in all of them ("035714" of "digits-20261130-035714"
    beside "digits-20261130-035620"; "iris-035620" beside "digits-035714"); names with different
    numbers of parts lose what they all begin and end with, cut at a separator. A name that would be
    left empty stays whole; a part longer than `longest` keeps its two ends around an ellipsis."""
    parts = list(names)
    split = [re.split(NAME_SEPARATORS, n) for n in names]
    if len(names) < 2:
        pass
    elif len({len(s) for s in split}) == 1:
        keep = [i for i in range(len(split[0])) if len({s[i] for s in split}) > 1]
        parts = ["-".join(s[i] for i in keep) or n for s, n in zip(split, names)]
    else:
        prefix = os.path.commonprefix(names)
        start = max((m.end() for m in re.finditer(NAME_SEPARATORS, prefix)), default=0)
        suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
        first = re.search(NAME_SEPARATORS, suffix)
        end = len(suffix) - first.start() if first else 0
        parts = [n[start:len(n) - end] if len(n) - end > start else n for n in names]
    if longest < 3:
        return parts
    head = (longest - 1) // 2
    return [p if len(p) <= longest else p[:head] + "…" + p[len(p) - (longest - 1 - head):] for p in parts]


def resolve(names: list[str], runs_dir: str | Path) -> list[Path]:
    """Run folders from what a user typed: a folder path, or a run's name inside `runs_dir`."""
    paths: list[Path] = []
    for name in names:
        direct, inside = Path(name), Path(runs_dir) / name
        path = next((p for p in (direct, inside) if (p / SPEC).is_file()), None)
        if path is None:
            raise UserError(f"no run {name!r}: not a run folder, and not a run in {runs_dir}/; "
                            f"`torchtui runs --runs-dir {runs_dir}` lists the runs there")
        if path.resolve() not in [p.resolve() for p in paths]:
            paths.append(path)
    return paths


def delete_run(path: str | Path) -> None:
    """Remove a run folder for good. Refused for anything that is not a run folder (no spec.toml,
    a link, a folder holding folders), for a run whose worker is alive, and for a fresh folder that
    has no start event yet (its worker may be starting). The folder is renamed first, so no reader
    ever sees half of it."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        raise UserError(f"{path} is not a run folder (not a folder of its own); nothing deleted")
    if not (path / SPEC).is_file():
        raise UserError(f"{path} is not a run folder (no {SPEC}); nothing deleted")
    inner = [p.name for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    if inner:
        raise UserError(f"{path} holds folders ({', '.join(sorted(inner)[:3])}), which a run folder never does; "
                        "nothing deleted")
    state, _ = read_run(path)
    if state.running and state.alive():
        raise UserError(f"{path.name} is still training (pid {state.pid}); stop it first (on the screen: ctrl+o it, "
                        f"then ctrl+x; or `kill -TERM {state.pid}`), then delete it")
    if not state.start and time.time() - (path / SPEC).stat().st_mtime < STARTING_GRACE_S:
        raise UserError(f"{path.name} was created moments ago and has not started yet (its worker may be "
                        f"starting); try again in a minute")
    trash = path.with_name(f".deleting-{path.name}-{time.time_ns()}")
    try:
        path.rename(trash)
    except OSError as e:
        raise UserError(f"cannot delete {path}: {e.strerror}") from None
    shutil.rmtree(trash, ignore_errors=True)


def sort_runs(runs: list[ComparedRun], column: str, descending: bool = False) -> list[ComparedRun]:
    """Runs ordered by one of COLUMNS; runs without that number (not started, no validation) go last
    whichever the direction."""
    def key(r: ComparedRun) -> Any:
        i = r.info
        return {"name": r.name, "status": i.shown_status, "dataset": i.dataset, "epochs": i.epochs_done,
                "best val loss": i.best_val_loss, "best metric": i.best_metric, "time": i.seconds}[column]

    have = [r for r in runs if key(r) is not None]
    missing = [r for r in runs if key(r) is None]
    return sorted(have, key=key, reverse=descending) + missing


# ---- how the numbers are written (screen and console alike) -------------------------------------
def fmt_number(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def fmt_metric(r: ComparedRun) -> str:
    return "-" if r.info.best_metric is None else f"{r.metric_label} {r.info.best_metric:.4f}"


def fmt_value(v: Any) -> str:
    """A spec value as a user wrote it: lists comma-separated, numbers short, "" quoted."""
    if v is None:
        return "?"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "[]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if v == "":
        return '""'
    return str(v)


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
