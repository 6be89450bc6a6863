"""The event log's schema: every kind of event a run writes, its fields, their types and units.

Written once, here. `record.py` builds the events (and is the only module that does);
`follow.RunState` folds them back into state (and is the only module that does); a test runs
real trainings and validates every event they write against this table, and the README's
run-folder section lists every kind. Nothing here imports torch: readers use it too.

Types: "int", "number" (int or float), "str", "bool", "list", "dict"; a trailing "?" allows
null - a number that was NaN or infinite is written as null (strict JSON), and some values
are unknown at times (no validation rows, no best epoch yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class F:
    type: str
    doc: str
    required: bool = True


def _opt(type_: str, doc: str) -> F:
    return F(type_, doc, required=False)


# The task metrics, in the order readers show them: (event key, short label, label).
METRICS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "acc", "accuracy"),
    ("rmse", "rmse", "RMSE"),
    ("mae", "mae", "MAE"),
    ("r2", "r2", "R²"),
)
METRIC_KEYS = tuple(key for key, _, _ in METRICS)
_METRIC_FIELDS = {key: _opt("number?", f"{label} (classification: accuracy; regression: RMSE, MAE, R² in target units)")
                  for key, _, label in METRICS}

# Telemetry on step events: what a shared box's user watches. GPU fields only on CUDA.
_TELEMETRY = {
    "cpu_percent": _opt("number", "the worker's CPU time over wall time since the last step event, percent"),
    "rss_mb": _opt("number", "the worker's resident memory, MiB"),
    "gpu_mem_mb": _opt("number", "GPU memory allocated by tensors, MiB"),
    "gpu_reserved_mb": _opt("number", "GPU memory held by torch's caching allocator, MiB"),
    "gpu_total_mb": _opt("number", "the GPU's total memory, MiB"),
    "gpu_util": _opt("number", "GPU utilisation reported by NVML, percent"),
}

COMMON = {"event": F("str", "the kind"),
          "time": F("number", "when it was written, seconds since the epoch (time.time())")}

SCHEMA: dict[str, dict[str, F]] = {
    "loading": {
        "message": F("str", "what the worker is doing before training starts (reading, preparing)"),
    },
    "start": {
        "pid": F("int", "the worker's process id: signal it to stop, save or pause"),
        "run_dir": F("str", "the run folder"),
        "dataset": F("str", "the dataset's name or file"),
        "task": F("str", "classification | regression"),
        "target": F("str", "the target column(s)"),
        "classes": F("list", "class names, in output order (empty for regression)"),
        "train_rows": F("int", "training rows"),
        "val_rows": F("int", "validation rows"),
        "inputs": F("int", "numbers per input row"),
        "input_shape": F("list", "the shape of one input"),
        "outputs": F("int", "the model's outputs"),
        "loss": F("str", "the loss function"),
        "notices": F("list", "what preparing the data decided, one line each"),
        "warnings": _opt("list", "columns to doubt, kept as features (leakage.py, suspect_columns.py): "
                                 "{column, kind (leak | id), why, message}; each message is among the notices too"),
        "preview": F("list", "how the file was read, a few lines (empty for built-ins)"),
        "table": F("bool", "trained from a table (not a Dataset class): predict works on a CSV"),
        "layers": F("list", "each layer: {layer, shape, params, added}"),
        "summary": F("str", "the stack in one line"),
        "params": F("int", "trainable parameters"),
        "device": F("str", "the device, described"),
        "epochs": F("int", "epochs to train in all"),
        "batch_size": F("int", "samples per step (per process: a step takes batch_size x world_size rows)"),
        "world_size": F("int", "processes training the model together (torchrun / --nproc-per-node; 1 alone)"),
        "launcher_pid": F("int?", "several processes: the launcher's pid, where stop, save and pause go; else null"),
        "steps_per_epoch": F("int", "optimizer steps per epoch"),
        "optimizer": F("str", "the optimizer"),
        "lr": F("number", "the learning rate asked for"),
        "scheduler": F("str", "the learning-rate schedule"),
        "seed": F("int", "the seed"),
        "resumed_from": F("int?", "completed epochs a resume continues after; null for a new run"),
        "precision": F("str", "the arithmetic: fp32 (exact), or tf32 / bf16 / fp16 and that it is not bit-exact"),
        "cuda_graphs": F("str", "whether steps are replayed as a CUDA graph (on: ...) or not (off: and why)"),
    },
    "step": {
        "epoch": F("int", "the epoch in progress (1-based)"),
        "step": F("int", "optimizer steps so far, in all"),
        "epoch_step": F("int", "steps so far in this epoch"),
        "loss": F("number?", "mean training loss of the rows since the last step event"),
        "lr": F("number", "the learning rate now"),
        "samples_per_s": F("number", "training rows per second since the last step event"),
        **_TELEMETRY,
        "ranks": _opt("list", "several processes: each rank's telemetry as last gathered (every 100 steps): "
                              "rank, samples_per_s (its own rows), and the fields above"),
    },
    "epoch": {
        "epoch": F("int", "the epoch just completed (1-based)"),
        "step": F("int", "optimizer steps so far, in all"),
        "train_loss": F("number?", "mean training loss over the epoch's rows"),
        "val_loss": _opt("number?", "validation loss, weighted by batch size (only with validation rows)"),
        **_METRIC_FIELDS,
        "skipped_steps": _opt("int", "steps not applied for a non-finite loss (only with train.on_nan = skip)"),
        "lr": F("number", "the learning rate of the epoch's last step"),
        "best": F("bool", "this epoch has the best validation loss so far (best.pt was written)"),
        "best_val_loss": F("number?", "the best validation (or, without validation, training) loss so far"),
        "seconds": F("number", "training time of the epoch, pauses left out, seconds"),
        "samples_per_s": F("number", "training rows per second over the epoch's steps (its validation left out, "
                                     "as in step events)"),
    },
    "cuda_graph": {
        "epoch": F("int", "the epoch in progress"),
        "step": F("int", "the step that was captured (the steps before it ran eagerly, as warm-up)"),
        "captured": F("bool", "true: the later steps replay the graph; false: the run goes on without one"),
        "seconds": F("number", "the capture's time, seconds (paid once per process)"),
        "warmup_steps": F("int", "eager steps run before the capture"),
        "memory_mb": F("number", "GPU memory the graph's pool added, MiB"),
        "reason": _opt("str", "why the capture failed (out of memory, an op that cannot be captured)"),
    },
    "paused": {
        "epoch": F("int", "the epoch in progress"),
        "step": F("int", "the step the worker waits after"),
        "why": _opt("str", "asked (SIGUSR2, ctrl+p) | suspended (several processes whose launcher Ctrl+Z stopped: "
                           "they wait until it is woken, fg)"),
    },
    "resumed": {
        "epoch": F("int", "the epoch in progress"),
        "step": F("int", "the step the worker waited after"),
        "paused_seconds": F("number", "how long it was paused, seconds"),
    },
    "change": {
        "epoch": F("int", "the epoch in progress"),
        "step": F("int", "steps done when it took effect: it governs the steps after this one"),
        "id": F("str", "the request's id (change.json's `id`; empty for a file that could not be read)"),
        "lr": _opt("number", "the new learning rate (a schedule's later rates are scaled with it)"),
        "lr_from": _opt("number", "the learning rate before the change"),
        "patience": _opt("int", "the new early-stopping patience (0: off)"),
        "epochs": _opt("int", "the new number of epochs in all"),
        "replayed": _opt("bool", "true when a resume applied it again at its step (it came after the checkpoint)"),
        "refused": _opt("str", "the request could not be applied, and why; nothing changed"),
    },
    "checkpoint": {
        "which": F("str", "last | best"),
        "path": F("str", "the file written"),
        "epoch": F("int", "completed epochs it holds"),
        "step": F("int", "steps it holds (beyond epoch's: a mid-epoch position)"),
        "epoch_step": _opt("int", "steps it holds of the epoch in progress (0: at an epoch's end)"),
        "requested": _opt("bool", "true for a save-now request (SIGUSR1, ctrl+s)"),
    },
    "evaluation": {
        "model": F("str", "best | last"),
        "epoch": F("int", "the epoch of that model"),
        "split": F("str", "validation"),
        "rows": F("int", "rows evaluated"),
        "val_loss": F("number?", "loss on them"),
        **_METRIC_FIELDS,
        "confusion": _opt("list", "classification: counts, rows true class, columns predicted"),
        "precision": _opt("list", "classification: per class"),
        "recall": _opt("list", "classification: per class"),
        "support": _opt("list", "classification: rows of each true class"),
        "classes": _opt("list", "classification: class names"),
        "target": _opt("str", "regression: the (first) target column, the one `pairs` holds"),
        "per_target": _opt("list", "regression with several targets: {target, rmse, mae, r2} for each, in its "
                                   "own units (rmse and mae above are over every value, of all targets)"),
        "pairs": _opt("list", "regression: [actual, predicted] for up to 2000 evenly spaced rows, target units"),
    },
    "predictions": {
        "path": F("str", "the predictions CSV written"),
        "rows": F("int", "rows predicted"),
        "source": F("str", "the file predicted for (--test)"),
        "unseen": F("list", "one line per text column with values the model has no category for: how many rows, "
                            "which values, how they were encoded (as `torchtui predict` says them)"),
        "left_out_rows": _opt("list", "rows left without a prediction, in one line (as `torchtui predict` says "
                                      "it): with a --missing drop model those with an empty cell; with any, those "
                                      "with no value in any cell"),
        "filled": _opt("list", "a model trained with --missing impute: per column, the cells it filled (as "
                               "`torchtui predict` says them)"),
    },
    "end": {
        "status": F("str", "done | early_stopped | interrupted"),
        "reason": _opt("str", "interrupted by a signal: its name (SIGTERM, SIGINT, SIGHUP)"),
        "epochs": F("int", "completed epochs"),
        "step": F("int", "steps in all"),
        "epoch_step": F("int", "steps done in the epoch in progress (interrupted mid-epoch), else 0"),
        "best_epoch": F("int", "the epoch of the best validation loss (0: none yet)"),
        "best_val_loss": F("number?", "the best validation loss; null when no epoch completed"),
        "best_metrics": F("dict", "the best epoch's task metrics"),
        "skipped_steps": F("int", "steps not applied for a non-finite loss, in all"),
        "run_dir": F("str", "the run folder"),
    },
    "error": {
        "kind": F("str", "diverged | out_of_memory | save_failed | folder_gone (its folder deleted while it trained) | "
                         "process_lost (a distributed run) | crash | "
                         "refused (a command the user must fix, exit code 2: only on stdout under --json, never in "
                         "a run folder's log)"),
        "message": F("str", "what happened and what to do, one line"),
        "notes": _opt("list", "refused: what preparing the data had decided before the refusal, one line each"),
        "epoch": _opt("int", "the epoch it happened in (diverged)"),
        "step": _opt("int", "the step it happened at (diverged)"),
    },
}
KINDS = tuple(SCHEMA)

_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "number": (int, float), "str": (str,), "bool": (bool,),
                                       "list": (list,), "dict": (dict,)}


def problems(event: Any) -> list[str]:
    """Why `event` (as read back from the log) does not fit the schema; empty when it does."""
    if not isinstance(event, dict):
        return [f"not a JSON object: {event!r}"]
    kind = event.get("event")
    if kind not in SCHEMA:
        return [f"unknown kind {kind!r}"]
    fields = {**COMMON, **SCHEMA[kind]}
    out = [f"{kind}: unknown field {k!r}" for k in event if k not in fields]
    for name, f in fields.items():
        if name not in event:
            if f.required:
                out.append(f"{kind}: missing {name!r}")
            continue
        value, nullable = event[name], f.type.endswith("?")
        if value is None and nullable:
            continue
        types = _TYPES[f.type.rstrip("?")]
        if isinstance(value, bool) and bool not in types:  # a bool is an int to Python, not to a reader
            out.append(f"{kind}.{name}: expected {f.type}, got {value!r}")
        elif not isinstance(value, types):
            out.append(f"{kind}.{name}: expected {f.type}, got {value!r}")
    return out


# The fields a reader takes as given (indexes), by kind: an event without them cannot be read
_READ_KEYS = {"step": ("step",), "epoch": ("epoch", "step"), "change": ("step",), "checkpoint": ("step",)}
_NUMBER_OR_NONE = (int, float, type(None))


def readable(event: Any) -> bool:
    """Whether a reader can fold `event` (a line of the log, parsed) into a run's state: an object of a known kind,
    with the fields readers index and every field it has of its type. A line a person or another program wrote
    into the log ([1, 2], "text", {"event": "epoch"}) is skipped, as a torn one is: before, one such line ended
    `torchtui runs` for the whole runs folder, and the screen at its start. Fields the schema requires but an
    older torchtui did not write yet are not asked for: its logs stay readable. The step events, nearly all of a
    long log, have only the fields readers use checked (a tenth of the full check's time)."""
    if not isinstance(event, dict):
        return False
    kind = event.get("event")
    if kind == "step":
        step, loss, lr = event.get("step"), event.get("loss"), event.get("lr")
        return (type(step) is int and type(loss) in _NUMBER_OR_NONE and type(lr) in _NUMBER_OR_NONE)
    fields = SCHEMA.get(kind)  # type: ignore[arg-type]
    if fields is None or any(k not in event for k in _READ_KEYS.get(kind, ())):  # type: ignore[arg-type]
        return False
    for name, value in event.items():
        f = fields.get(name) or COMMON.get(name)
        if f is None or (value is None and f.type.endswith("?")):
            continue  # a field this version does not know: a newer torchtui's, not read here
        types = _TYPES[f.type.rstrip("?")]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return False
    return True
