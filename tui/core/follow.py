"""Following a run: read its event log as it grows, and fold it into what a reader shows.

`RunState.apply` is the one fold of a run's events into state: the screen (reading the run
folder's `events.jsonl` incrementally), `torchtui runs` (reading it whole) and the console
(fed each event as it is written) all show what it holds, the ETA included. The screen never
talks to the training process except by signals, so a run started headless, by an earlier
screen, or by this one, looks the same, with its whole history.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .event_schema import METRICS, readable
from .runs import EVENTS, SPEC, began_by, process_alive, process_suspended, writer_alive

if TYPE_CHECKING:
    import numpy as np

ETA_EPOCHS = 5  # the ETA's rate: the mean of the last few epochs (the step rate within the first)


class EventTail:
    """New complete lines of an append-only JSON-lines file since the last call.

    A line still being written (no newline yet) waits for the next call, so a reader never
    sees half an event; a file that shrank (replaced) is read again from the start.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._offset:
                    self._offset, self._partial = 0, b""
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if readable(event):  # a line of the log that is no event a reader can take is skipped
                events.append(event)
        return events


class Series:
    """A growing (x, y) series in numpy buffers: appending is amortised O(1), and a view of a
    million points costs nothing to hand to the downsampler."""

    def __init__(self) -> None:
        import numpy as np  # (not at import: the screen draws its first frame before numpy is loaded)

        self._x = np.empty(1024)
        self._y = np.empty(1024)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            import numpy as np

            self._x = np.resize(self._x, 2 * self.n)
            self._y = np.resize(self._y, 2 * self.n)
        self._x[self.n], self._y[self.n] = x, y
        self.n += 1

    def truncate_from(self, x: float) -> None:
        """Drop points at x and after: a resumed run redoes the steps after its checkpoint."""
        if self.n and self._x[self.n - 1] >= x:
            import numpy as np

            self.n = int(np.searchsorted(self._x[:self.n], x, side="left"))

    @property
    def x(self) -> np.ndarray:
        return self._x[:self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self.n]

    def __len__(self) -> int:
        return self.n


@dataclass
class RunState:
    """A run as its events describe it; `apply` takes events in log order."""

    run_dir: Path
    start: dict[str, Any] = field(default_factory=dict)
    status: str = "waiting"  # waiting | running | paused | done | early_stopped | interrupted | failed
    steps: Series = field(default_factory=Series)  # training loss per logged step
    lr: Series = field(default_factory=Series)  # learning rate per logged step
    val: Series = field(default_factory=Series)  # validation loss at each epoch's last step
    metric: Series = field(default_factory=Series)  # accuracy or R² per epoch
    epochs: list[dict[str, Any]] = field(default_factory=list)
    last_step: dict[str, Any] = field(default_factory=dict)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)  # "best" / "last"
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    end: dict[str, Any] = field(default_factory=dict)
    loading: str = ""
    paused: dict[str, Any] = field(default_factory=dict)  # the last `paused` event: where the worker waits
    started: float | None = None  # the time of the first start (a resumed run has one start per resume)
    changes: list[dict[str, Any]] = field(default_factory=list)  # applied `change` events, one per request id
    graph: dict[str, Any] = field(default_factory=dict)  # the `cuda_graph` event of this process, if any
    version: int = 0  # bumped by every event: a reader redraws only when it changed
    # each epoch's end on the process's clock less its pauses, for the ETA: (epoch, the process's start, seconds)
    ends: list[tuple[int, int, float]] = field(default_factory=list)
    _process: int = 0  # start events so far: epochs ended in one process
    _paused: float = 0.0  # the seconds this process was paused

    def apply(self, e: dict[str, Any]) -> None:
        kind = e.get("event")
        self.version += 1
        if kind == "loading":
            self.loading = e.get("message", "")
        elif kind == "start":
            self.start, self.status, self.error, self.end, self.evaluations = e, "running", "", {}, {}
            self.graph = {}  # a resume is a new process: it captures anew
            self._process, self._paused = self._process + 1, 0.0
            if self.started is None:
                self.started = e.get("time")
        elif kind == "step":
            step = float(e["step"])
            self.steps.truncate_from(step)
            self.lr.truncate_from(step)
            if e.get("loss") is not None:
                self.steps.append(step, e["loss"])
            if e.get("lr") is not None:
                self.lr.append(step, e["lr"])
            self.last_step = e
            if self.status == "paused":
                self.status = "running"
        elif kind == "epoch":
            if self.epochs and self.epochs[-1]["epoch"] >= e["epoch"]:  # a resume redoes epochs after its checkpoint
                self.epochs = [row for row in self.epochs if row["epoch"] < e["epoch"]]
            self.epochs.append(e)
            self.ends = [end for end in self.ends if end[0] < e["epoch"]]
            if isinstance(e.get("time"), (int, float)):
                self.ends.append((e["epoch"], self._process, e["time"] - self._paused))
            self.val.truncate_from(float(e["step"]))
            self.metric.truncate_from(float(e["epoch"]))
            if e.get("val_loss") is not None:
                self.val.append(float(e["step"]), e["val_loss"])
            value = e.get(self.metric_name())
            if value is not None:
                self.metric.append(float(e["epoch"]), value)
        elif kind == "paused":
            self.status, self.paused = "paused", e
        elif kind == "resumed":
            self.status = "running"
            self._paused += e.get("paused_seconds") or 0.0
        elif kind == "change":
            if not e.get("refused"):  # a resume replays a change: the same id, at the same step
                self.changes = [c for c in self.changes if c.get("id") != e.get("id")] + [e]
                if e.get("epochs") is not None and self.start:
                    self.start = {**self.start, "epochs": e["epochs"]}  # the run's new length, for every reader
        elif kind == "checkpoint":
            self.checkpoints.append(e)
        elif kind == "cuda_graph":
            self.graph = e
        elif kind == "evaluation":
            self.evaluations[e.get("model", "last")] = e
        elif kind == "error":
            self.status, self.error = "failed", e.get("message", "training failed")
        elif kind == "end":
            self.status, self.end = e.get("status", "done"), e

    # ---- what a reader shows ------------------------------------------------------------------
    def cuda_graph_text(self) -> str:
        """Whether the steps replay a CUDA graph, in a few words (empty off CUDA, where the question is moot)."""
        said = self.start.get("cuda_graphs", "")
        if said.startswith("on"):
            if self.graph and not self.graph.get("captured"):
                return f"no CUDA graph: {self.graph.get('reason', 'capture failed')}"
            if self.graph:
                return f"CUDA graph (captured in {self.graph['seconds']:.2f} s)"
            return "CUDA graph (capturing after warm-up)"
        if said and str(self.start.get("device", "")).startswith("cuda"):
            return "no CUDA graph: " + said.removeprefix("off: ").removeprefix("off ")
        return ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")

    @property
    def pid(self) -> int | None:
        pid = self.start.get("pid")
        return pid if isinstance(pid, int) else None

    @property
    def control_pid(self) -> int | None:
        """Where stop, save and pause are sent: the launcher of a run of several processes (it passes them to
        every process, and a stop through it is not taken for a failure to restart from), else the worker - also
        when the launcher is gone (killed) and its processes train on: rank 0 makes the others follow."""
        launcher = self.start.get("launcher_pid")
        written = self.start.get("time")  # (a killed launcher's number, taken by another program since, is not it)
        return launcher if isinstance(launcher, int) and process_alive(launcher) and began_by(launcher, written) \
            else self.pid

    def alive(self) -> bool:
        """Its writer lives: the process its start event names, not another program given its number since."""
        return self.pid is not None and writer_alive(self.run_dir / EVENTS, self.pid, self.start.get("time"))

    @property
    def epoch_done(self) -> int:
        return self.epochs[-1]["epoch"] if self.epochs else 0

    @property
    def best_val_loss(self) -> float | None:
        return self.epochs[-1].get("best_val_loss") if self.epochs else None

    @property
    def best_epoch(self) -> dict[str, Any] | None:
        """The last epoch that set a new best validation loss: the one best.pt holds."""
        return next((row for row in reversed(self.epochs) if row.get("best")), None)

    @property
    def train_seconds(self) -> float:
        """Training time of the epochs in the log (pauses and the time between resumes left out)."""
        return sum(row.get("seconds") or 0.0 for row in self.epochs)

    def worker_gone(self, status: str, message: str) -> None:
        """The worker ended without saying how (killed, refused before its start event): what a
        reader learned from the process itself, folded in like an event."""
        self.status, self.error = status, message
        self.version += 1

    def eta_seconds(self) -> float | None:
        """Time left: epochs left at the time an epoch takes, end to end - the last ETA_EPOCHS epochs' ends, apart
        on the clock (pauses left out, and the gap between a kill and its resume); else (one epoch ended) that
        epoch's training time, or within the first epoch the last logged rate. An epoch's own `seconds` leaves out
        its checkpoint saves and events: on a small model those are most of its time, and the ETA said 0:10 where
        32 s were left. None while paused or not running."""
        total = self.start.get("epochs")
        if not total or self.status != "running":
            return None
        steps_per_epoch = self.start.get("steps_per_epoch") or 1
        left_steps = max(total * steps_per_epoch - (self.last_step.get("step") or 0), 0)
        ends = self.ends[-(ETA_EPOCHS + 1):]
        spans = [(b[2] - a[2]) / (b[0] - a[0]) for a, b in zip(ends, ends[1:]) if a[1] == b[1] and b[0] > a[0]]
        if spans:
            return left_steps * sum(spans) / (len(spans) * steps_per_epoch)
        recent = [row["seconds"] for row in self.epochs[-ETA_EPOCHS:] if row.get("seconds")]
        if recent:
            return left_steps * sum(recent) / (len(recent) * steps_per_epoch)
        rate = self.last_step.get("samples_per_s")
        batch = self.start.get("batch_size") or 1
        return left_steps * batch / rate if rate else None

    def metric_name(self) -> str:
        return "accuracy" if self.start.get("task") == "classification" else "r2"


def read_run(run_dir: str | Path) -> tuple[RunState, EventTail]:
    """A run's state from its whole log so far, and the tail to keep following it with."""
    state = RunState(Path(run_dir))
    tail = EventTail(Path(run_dir) / EVENTS)
    for e in tail.read():
        state.apply(e)
    if state.running and not state.alive():  # killed without an end event
        state.status = "interrupted"
    return state, tail


@dataclass
class RunInfo:
    """One line of `torchtui runs` (and of the screen's load dialog)."""

    path: Path
    status: str  # a RunState status, or "not started" (no start event)
    dataset: str
    epochs_done: int
    epochs: int
    best_val_loss: float | None
    started: float
    pid: int | None = None
    metric: str = ""  # the task metric's event key: accuracy (classification) or r2 (regression)
    best_metric: float | None = None  # that metric at the best epoch
    seconds: float = 0.0  # training time (RunState.train_seconds)
    suspended: bool = False  # running, but its process stopped by a signal (Ctrl+Z): it trains nothing till SIGCONT
    weights_deleted: bool = False  # its log records a save, and neither last.pt nor best.pt is in its folder

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")

    @property
    def shown_status(self) -> str:
        """The status as lists show it: a run whose checkpoints were deleted since it saved them says so. It was
        listed done, and predict, export and resume each refused it."""
        return f"{self.status}, weights deleted" if self.weights_deleted and not self.running else self.status


def summarize(path: Path, state: RunState | None = None) -> RunInfo:
    """A run's line, from its folder (or from its state, when the caller has read it already)."""
    if state is None:
        state, _ = read_run(path)
    best = state.best_epoch
    status, dataset = (state.status, state.start.get("dataset", "?")) if state.start else ("not started", "?")
    done, epochs, best_loss = state.epoch_done, state.start.get("epochs", 0), state.best_val_loss
    if not state.start and (path / "last.pt").exists():  # a log lost or garbled; its checkpoint says what it trained
        status, dataset, done, epochs, best_loss = (_saved_without_log(path)
                                                    or (status, dataset, done, epochs, best_loss))
    return RunInfo(path=path, status=status, dataset=dataset, epochs_done=done,
                   epochs=epochs, best_val_loss=best_loss,
                   started=state.started if state.started is not None else path.stat().st_mtime, pid=state.pid,
                   metric=state.metric_name() if state.start else "",
                   best_metric=best.get(state.metric_name()) if best else None, seconds=state.train_seconds,
                   suspended=state.running and (process_suspended(state.pid)  # Ctrl+Z: its process, or
                                                or process_suspended(state.start.get("launcher_pid"))),  # launcher
                   weights_deleted=bool(state.checkpoints) and not (path / "last.pt").exists()
                   and not (path / "best.pt").exists())


def _saved_without_log(path: Path) -> tuple[str, str, int, int, float | None] | None:
    """(status, dataset, epochs done, epochs, best loss) of a run whose event log says nothing, from its last.pt and
    spec.toml:
    listed "not started, 0/0", a run of 4 trained epochs looked empty enough to delete. It resumes (from last.pt):
    interrupted. None where the checkpoint does not load either."""
    from .checkpoint import progress_of
    from .spec import Spec

    progress = progress_of(path / "last.pt")
    if progress is None:
        return None
    done, best = int(progress.get("epoch", 0)), progress.get("best_loss")
    best = float(best) if isinstance(best, (int, float)) and math.isfinite(best) else None
    try:
        spec = Spec.from_file(path / SPEC)
    except Exception:  # a spec that does not read: the checkpoint's epochs alone
        return "interrupted", "?", done, 0, best
    return "interrupted", spec.data.dataset, done, spec.train.epochs, best


def list_runs(runs_dir: str | Path) -> list[RunInfo]:
    """Every run folder under `runs_dir`, newest first, with what its event log says."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [_listed(p) for p in root.iterdir() if _may_be_a_run(p)]
    return sorted(runs, key=lambda r: r.started, reverse=True)


def _may_be_a_run(path: Path) -> bool:
    """A folder holding spec.toml, or one this user may not look into (another user's run on a shared box, listed
    as unreadable by `_listed`): its spec.toml's stat raised PermissionError and ended the listing of every run."""
    try:
        return path.is_dir() and (path / SPEC).exists()
    except PermissionError:
        return True


def _listed(path: Path) -> RunInfo:
    """A run's line; one whose event log cannot be read (another user's run, a log that is a folder) is listed as
    unreadable: it ended the listing of every other run with a traceback."""
    try:
        return summarize(path)
    except OSError:
        try:
            started = path.stat().st_mtime
        except OSError:
            started = 0.0
        return RunInfo(path=path, status="unreadable", dataset="?", epochs_done=0, epochs=0, best_val_loss=None,
                       started=started)


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `buckets` points: the mean of each equal-width stretch of x.

    A plot `buckets` characters wide cannot show more, and plotext's cost is linear in the
    points it is given, so a curve of a million steps draws as fast as one of a thousand.
    Non-finite values are left out of the means.
    """
    n = len(x)
    if n <= buckets:
        return x, y
    import numpy as np

    edges = np.linspace(0, n, buckets + 1).astype(np.int64)  # equal counts: x is the step, evenly logged
    finite = np.isfinite(y)
    sums = np.add.reduceat(np.where(finite, y, 0.0), edges[:-1])
    counts = np.add.reduceat(finite.astype(np.int64), edges[:-1])
    xs = np.add.reduceat(x, edges[:-1]) / np.diff(edges)
    keep = counts > 0
    return xs[keep], sums[keep] / counts[keep]


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 x `buckets` points: the lowest and the highest point of each equal stretch of x, in x order.

    For the curves whose single points matter - the validation loss, the metric, the learning rate - where a
    mean of each stretch (`downsample`) flattened them: a run whose accuracy reached 1.0 in two epochs of four
    hundred drew a chart topping out at 0.9778. Non-finite values are left out.
    """
    n = len(x)
    if n <= 2 * buckets:
        return x, y
    import numpy as np

    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    for a, b in zip(edges[:-1], edges[1:]):
        finite = a + np.flatnonzero(np.isfinite(y[a:b]))
        if len(finite):
            lo, hi = finite[np.argmin(y[finite])], finite[np.argmax(y[finite])]
            keep += sorted({int(lo), int(hi)})
    return x[keep], y[keep]


def fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def saved_at(e: dict[str, Any], steps_per_epoch: int | None = None) -> str:
    """Where a checkpoint event's position lies, as the status line says it: `in epoch 49 at step 3/8` mid-epoch,
    `after epoch 48` at an epoch's end (its `epoch` counts the epochs done, its `step` the run's steps). A log of
    an older torchtui has no `epoch_step`: it is found from the run's steps, as when every epoch had this many."""
    within = e.get("epoch_step")
    if within is None:
        within = e["step"] - e["epoch"] * steps_per_epoch if steps_per_epoch else 0
    if not within:
        return f"after epoch {e['epoch']}"
    return f"in epoch {e['epoch'] + 1} at step {within}" + (f"/{steps_per_epoch}" if steps_per_epoch else "")


def epoch_line(e: dict[str, Any], epochs: int | None = None, rate: bool = True) -> str:
    """One epoch as the console prints it and the screen logs it (`rate`: its samples/s, which the screen's
    status line shows)."""
    epochs = epochs or e["epoch"]
    parts = [f"epoch {e['epoch']:>{len(str(epochs))}}/{epochs}", f"train {e['train_loss']:.4f}"]
    if e.get("val_loss") is not None:
        parts.append(f"val {e['val_loss']:.4f}")
    for key, label, _ in METRICS:
        if e.get(key) is not None:
            parts.append(f"{label} {e[key]:.4f}")
    parts += [f"lr {e['lr']:.3g}"] + ([f"{e['samples_per_s']:,.0f} samples/s"] if rate else [])
    if e.get("skipped_steps"):
        parts.append(f"skipped {e['skipped_steps']} (non-finite loss)")
    return "  ".join(parts) + ("  * best" if e.get("best") else "")
