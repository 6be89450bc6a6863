"""The recorder: the one writer of a run folder's events and checkpoints.

Every kind of event is built here, by one function each from plain values, and written by
`Recorder.write`; the schema they follow is `event_schema.SCHEMA`, and `follow.RunState` is
their one reader. The recorder also assembles, saves and restores checkpoints, so what a
run folder holds is decided in one module.

Only the main process writes (`Recorder.writes`): in a distributed run every rank trains,
and rank 0 alone records, so the run folder looks the same as a single process's.
"""

from __future__ import annotations

import math
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from . import checkpoint, distributed, live_change
from .errors import TrainingFailed, UserError
from .event_schema import METRIC_KEYS
from .progress import Progress
from .runs import FolderGone, RunFolder

if TYPE_CHECKING:
    from .train import Trainer

Event = dict[str, Any]
Emit = Callable[[Event], None]


# ---- the events, one function each ----------------------------------------------------------
def loading(message: str) -> Event:
    return {"event": "loading", "message": message}


def start(*, pid: int, run_dir: str, dataset: str, task: str, target: str, classes: list[str], train_rows: int,
          val_rows: int, input_shape: list[int], outputs: int, loss: str, notices: list[str], preview: list[str],
          table: bool, layers: list[dict[str, Any]], summary: str, params: int, device: str, epochs: int,
          batch_size: int, steps_per_epoch: int, optimizer: str, lr: float, scheduler: str, seed: int,
          resumed_from: int | None, precision: str = "fp32 (exact)", cuda_graphs: str = "",
          world_size: int = 1, launcher_pid: int | None = None, warnings: list[dict[str, str]] | None = None) -> Event:
    return {"event": "start", "pid": pid, "run_dir": run_dir, "dataset": dataset, "task": task,
            "target": target, "classes": classes, "train_rows": train_rows, "val_rows": val_rows,
            "inputs": math.prod(input_shape),
            "input_shape": input_shape, "outputs": outputs, "loss": loss, "notices": notices,
            "warnings": warnings or [], "preview": preview,
            "table": table, "layers": layers, "summary": summary, "params": params, "device": device,
            "epochs": epochs, "batch_size": batch_size, "steps_per_epoch": steps_per_epoch, "optimizer": optimizer,
            "lr": lr, "scheduler": scheduler, "seed": seed, "resumed_from": resumed_from, "precision": precision,
            "cuda_graphs": cuda_graphs, "world_size": world_size, "launcher_pid": launcher_pid}


def step(*, epoch: int, step: int, epoch_step: int, loss: float, lr: float, samples_per_s: float,
         telemetry: dict[str, float], ranks: list[dict[str, Any]] | None = None) -> Event:
    return {"event": "step", "epoch": epoch, "step": step, "epoch_step": epoch_step, "loss": loss, "lr": lr,
            "samples_per_s": samples_per_s, **telemetry, **({"ranks": ranks} if ranks else {})}


def epoch(*, epoch: int, step: int, train_loss: float, skipped_steps: int | None, val_loss: float | None,
          metrics: dict[str, float], lr: float, best: bool, best_val_loss: float, seconds: float,
          samples_per_s: float) -> Event:
    """`skipped_steps` only with on_nan = skip, `val_loss` and `metrics` only with validation rows."""
    row: Event = {"event": "epoch", "epoch": epoch, "step": step, "train_loss": train_loss}
    if skipped_steps is not None:
        row["skipped_steps"] = skipped_steps
    if val_loss is not None:
        row["val_loss"] = val_loss
    row.update(metrics)
    row.update({"lr": lr, "best": best, "best_val_loss": best_val_loss, "seconds": seconds,
                "samples_per_s": samples_per_s})
    return row


def paused(*, epoch: int, step: int, why: str = "asked") -> Event:
    return {"event": "paused", "epoch": epoch, "step": step, "why": why}


def resumed(*, epoch: int, step: int, paused_seconds: float) -> Event:
    return {"event": "resumed", "epoch": epoch, "step": step, "paused_seconds": paused_seconds}


def change(*, epoch: int, step: int, id: str, values: dict[str, Any] | None = None, lr_from: float | None = None,
           replayed: bool = False, refused: str = "") -> Event:
    """A change of a run in progress (live_change.py), or its refusal: `values` of lr, patience, epochs."""
    event: Event = {"event": "change", "epoch": epoch, "step": step, "id": id, **(values or {})}
    if lr_from is not None:
        event["lr_from"] = lr_from
    if replayed:
        event["replayed"] = True
    if refused:
        event["refused"] = refused
    return event


def cuda_graph(*, epoch: int, step: int, captured: bool, seconds: float, warmup_steps: int, memory_mb: float,
               reason: str) -> Event:
    return {"event": "cuda_graph", "epoch": epoch, "step": step, "captured": captured, "seconds": seconds,
            "warmup_steps": warmup_steps, "memory_mb": memory_mb, **({"reason": reason} if reason else {})}


def checkpoint_saved(*, which: str, path: str, epoch: int, step: int, epoch_step: int,
                     requested: bool = False) -> Event:
    event: Event = {"event": "checkpoint", "which": which, "path": path, "epoch": epoch, "step": step,
                    "epoch_step": epoch_step}
    if requested:
        event["requested"] = True
    return event


def evaluation(*, model: str, epoch: int, rows: int, val_loss: float, results: dict[str, Any]) -> Event:
    """`results`: the task metrics, and for a report the confusion matrix or predicted-vs-actual pairs."""
    return {"event": "evaluation", "model": model, "epoch": epoch, "split": "validation", "rows": rows,
            "val_loss": val_loss, **results}


def predictions(*, path: str, rows: int, source: str, unseen: list[str], left_out_rows: list[str],
                filled: list[str]) -> Event:
    """`unseen`: per text column, its rows whose value the model has no category for, and how they were encoded;
    `left_out_rows`: the rows with an empty cell a --missing drop model left without a prediction; `filled`: per
    column, the cells a --missing impute model filled."""
    event: Event = {"event": "predictions", "path": path, "rows": rows, "source": source, "unseen": unseen}
    if left_out_rows:
        event["left_out_rows"] = left_out_rows
    if filled:
        event["filled"] = filled
    return event


def end(status: str, progress: Progress, run_dir: str | Path, reason: str = "") -> Event:
    """The last event of a run (until a resume): how it ended and its best epoch."""
    best = next((e for e in progress.epochs if e["epoch"] == progress.best_epoch), {})
    event: Event = {"event": "end", "status": status}
    if reason:
        event["reason"] = reason
    event.update({"epochs": progress.epoch, "step": progress.step, "epoch_step": progress.epoch_step,
                  "best_epoch": progress.best_epoch, "best_val_loss": progress.best_val_loss,
                  "best_metrics": {k: best[k] for k in METRIC_KEYS if k in best},
                  "skipped_steps": progress.skipped_steps, "run_dir": str(run_dir)})
    return event


def error(kind: str, message: str, epoch: int | None = None, step: int | None = None) -> Event:
    event: Event = {"event": "error", "kind": kind, "message": message}
    if epoch is not None:
        event.update({"epoch": epoch, "step": step})
    return event


# ---- the writer --------------------------------------------------------------------------------
class Recorder:
    """Writes events to the run folder's log and hands them to `emit` (the console); saves checkpoints.

    Created before the run folder exists (data loading reports progress), given the folder once
    nothing the user asked for can fail any more.
    """

    def __init__(self, emit: Emit | None = None, folder: RunFolder | None = None, is_main: bool = True):
        self.emit, self.folder, self.is_main = emit, folder, is_main
        self._behind: SaveBehind | None = None  # a checkpoint being written while training goes on (`save`)

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder: the main process, once the folder exists."""
        return self.is_main and self.folder is not None

    def write(self, event: Event, sync: bool = False) -> None:
        """Append the event (stamped with its time) and report it; sync=True makes it durable at once."""
        if not self.is_main:
            return
        event.setdefault("time", time.time())
        if self.folder is not None:
            self.folder.log(event, sync=sync)
        if self.emit is not None:
            self.emit(event)

    def fail(self, kind: str, message: str, epoch: int | None = None, step: int | None = None) -> TrainingFailed:
        """Record an error event; returns the exception for the caller to raise."""
        self.write(error(kind, message, epoch, step), sync=True)
        return TrainingFailed(message)

    def cannot_write(self, e: OSError, doing: str = "write in", kept: str = "") -> TrainingFailed:
        """The run folder could not be written (a full disk, a folder gone read-only): one line saying so, what is
        on disk (`kept`; by default whether last.pt is there) and the resume that goes on, recorded if the log
        still takes it; returns the exception for the caller to raise."""
        if self.folder is None:  # (a process that writes no run folder: not its failure to say)
            return TrainingFailed(f"cannot {doing}: {e.strerror or e}")
        if isinstance(e, FolderGone):  # nothing is written at its old path, which may be another run's by now
            msg = (f"{e.strerror}: training stops, writing nothing more; if it was moved, `torchtui resume` of it "
                   f"where it is now goes on from its last.pt")
            try:
                self.write(error("folder_gone", msg), sync=True)  # (the event log, held open, went with it)
            except OSError:
                pass
            return TrainingFailed(msg)
        kept = kept or ("last.pt is kept" if self.folder.saved("last") else "nothing was saved yet")
        msg = (f"cannot {doing} {self.folder.path}: {e.strerror or e}; {kept}. Free some space or fix the folder, "
               f"then `torchtui resume {self.folder.path}`")
        try:
            self.write(error("save_failed", msg), sync=True)
        except OSError:
            pass  # the event log is on the same disk; the message still reaches the console
        return TrainingFailed(msg)

    def save(self, state: dict[str, Any], best: bool, requested: bool = False, behind: bool = False) -> None:
        """last.pt, and best.pt as the same file (checkpoint.copy) when this epoch is the best so far.
        `requested`: a save-now request; last.pt's checkpoint event says so.

        `behind`: written by a thread while training goes on (the Trainer asks it for an epoch's save on a GPU,
        whose steps would otherwise wait on the disk: a wide model's 26 MB took 40 ms an epoch on an H200 box,
        a third of its bf16 epoch). `state` is a copy (`checkpoint_state`), so the steps cannot change what is
        written. Its checkpoint events are written, and its failure raised, by the training thread: when it is
        seen done (`saved_behind`), or at the next save, the end of training, or any stop (`settle`). Until then
        the previous last.pt is the one on disk, as while any save is written."""
        if not self.writes:
            return
        self.settle()  # one write at a time, in order: the one before is done and said first
        if behind:
            self._behind = SaveBehind(self._write_checkpoint, state, best, requested)
            return
        try:
            outcome: list[Path] | BaseException = self._write_checkpoint(state, best)
        except SaveFailed as e:
            outcome = e
        self._conclude(outcome, state["progress"], requested)

    def saved_behind(self) -> None:
        """A save written behind that has finished: its events now (a look, never a wait)."""
        if self._behind is not None and self._behind.done():
            self.settle()

    def settle(self, quiet: bool = False) -> None:
        """Wait for a save written behind; write its checkpoint events, or raise its failure as a failed save
        says it. `quiet`: the run is failing already: a failed save is not raised over that failure (what is on
        disk is what its message reads, `folder.saved`)."""
        behind = self._behind
        if behind is None:
            return
        outcome = behind.wait()  # (a Ctrl+C while waiting leaves it to the next settle: the failure's, or close's)
        self._behind = None
        self._conclude(outcome, behind.progress, behind.requested, quiet)

    def _conclude(self, outcome: list[Path] | BaseException, p: dict[str, Any], requested: bool,
                  quiet: bool = False) -> None:
        """A save's end, written in line or behind: the checkpoint events of the files it wrote (last.pt too where
        only best.pt failed), then its failure raised as a failed save says it (`quiet`: not raised)."""
        if isinstance(outcome, SaveFailed):
            saved = outcome.saved
        else:
            saved = [] if isinstance(outcome, BaseException) else outcome
        try:
            self._said(saved, p, requested)
        except OSError:
            if not quiet:
                raise
        if quiet:
            return
        if isinstance(outcome, SaveFailed):
            raise self.cannot_write(outcome.error, "save a checkpoint in", outcome.kept) from None
        if isinstance(outcome, BaseException):
            raise outcome

    def _write_checkpoint(self, state: dict[str, Any], best: bool) -> list[Path]:
        """The files of a save; SaveFailed says what is on disk after a failed one."""
        assert self.folder is not None
        last: Path | None = None
        try:
            checkpoint.save(state, self.folder.checkpoint_path("last"))
            last = self.folder.checkpoint_path("last")  # where it is now: a folder moved mid-save took it along
            return [last] + ([checkpoint.copy(last, self.folder.checkpoint_path("best"))] if best else [])
        except OSError as e:  # disk full, file too large, read-only: what was there is untouched
            if last is None:
                kept = "the previous last.pt is kept" if self.folder.saved("last") else "nothing was saved yet"
            else:  # say what is on disk: last.pt was replaced, best.pt was not
                kept = "last.pt is saved, " + ("best.pt is still the previous best" if self.folder.saved("best")
                                               else "best.pt could not be written")
            raise SaveFailed(e, kept, [last] if last is not None else []) from None

    def _said(self, saved: list[Path], p: dict[str, Any], requested: bool) -> None:
        """The checkpoint events of the files a save wrote (`p`: the progress it holds)."""
        for path in saved:
            self.write(checkpoint_saved(which=path.stem, path=str(path), epoch=p["epoch"], step=p["step"],
                                        epoch_step=p["epoch_step"],
                                        requested=requested and path.stem == "last"))

    def repair_best(self, folder: RunFolder, last: dict[str, Any]) -> str:
        """Before a resume trains: make best.pt the best epoch that `last` (last.pt) records. A run killed
        between saving last.pt and copying it to best.pt left best.pt an older epoch; last.pt is then the
        best model, and is copied again. Returns the notice that says what was found ('' when all agree)."""
        if not self.is_main:
            return ""
        progress, best = last["progress"], folder.checkpoint_path("best")
        behind = checkpoint.best_behind(best, progress)
        if not behind:
            return ""
        if checkpoint.holds_best(progress):
            checkpoint.copy(folder.checkpoint_path("last"), best)
            return (f"best.pt {behind}, but the best epoch is {progress['best_epoch']} (the run stopped between saving "
                    f"last.pt and copying it): best.pt is last.pt again")
        return (f"warning: best.pt {behind}, but the best epoch was {progress['best_epoch']}, whose weights no file "
                f"holds any more; best.pt is replaced by the next epoch that beats it")

    def write_text(self, name: str, text: str) -> Path | None:
        """Another file of the run folder (val_predictions.csv), written atomically; None where this
        process does not write the folder."""
        if not self.writes:
            return None
        assert self.folder is not None
        return self.folder.write_text(name, text)

    def close(self) -> None:
        """The folder's log closed, once a save written behind is done and said (a run that failed already says
        why; this is no place to raise another failure)."""
        try:
            self.settle(quiet=True)
        finally:
            if self.folder is not None:
                self.folder.close()


class SaveFailed(Exception):
    """A checkpoint's write failed: the OSError, what is on disk after it in words (`Recorder.cannot_write` says
    both), and the files it did write (last.pt, where best.pt failed), whose checkpoint events are still written."""

    def __init__(self, error: OSError, kept: str, saved: list[Path]):
        super().__init__(str(error))
        self.error, self.kept, self.saved = error, kept, saved


class SaveBehind:
    """One checkpoint written by a thread of its own while the run trains on (`Recorder.save(behind=True)`).

    Not a daemon: a process that ends while it writes waits for the file rather than leave a temp file behind. Its
    outcome (the files, or the failure) is handed to the training thread by `wait`, which alone writes events."""

    def __init__(self, write: Callable[[dict[str, Any], bool], list[Path]], state: dict[str, Any], best: bool,
                 requested: bool):
        # the progress alone, for the events: the state itself is let go once written (Thread drops its args)
        self.progress, self.requested = state["progress"], requested
        self._outcome: list[Path] | BaseException = []
        self._thread = threading.Thread(target=self._run, args=(write, state, best), name="torchtui-save")
        self._thread.start()

    def _run(self, write: Callable[[dict[str, Any], bool], list[Path]], state: dict[str, Any], best: bool) -> None:
        try:
            self._outcome = write(state, best)
        except BaseException as e:  # handed to the training thread, raised there (`Recorder.settle`)
            self._outcome = e

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> list[Path] | BaseException:
        """The files written, or what the write raised (SaveFailed for a failed write), for the caller to raise."""
        self._thread.join()
        return self._outcome


# ---- checkpoints: what a run folder's .pt files hold -------------------------------------------
def checkpoint_state(trainer: Trainer, rank_rngs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The checkpoint: plain data only, so `torch.load(weights_only=True)` reads it.

    Tensors are stored on the CPU, so a checkpoint from a GPU box loads on a laptop
    without `map_location`; `load_state_dict` moves them back to the model's device.
    """
    from .. import __version__

    t = trainer
    return {
        "format": checkpoint.FORMAT,
        "torchtui": __version__,
        "torch": str(torch.__version__),
        "spec": t.run_spec.to_dict(),  # as the run started (its spec.toml); `changes` made to it since
        "changes": [dict(c) for c in t.changes.applied],
        "layers": t.stack.exprs,
        "input_shape": list(t.stack.input_shape),
        "loss": t.objective.loss,
        "preprocessing": t.data.pre.to_dict(),
        "data_check": t.data_check(),  # the prepared rows, for a resume to check its data against
        "model": to_cpu(t.model.state_dict()),
        "optimizer": to_cpu(t.optimizer_state()),
        "scheduler": to_cpu(t.scheduler.state_dict()) if t.scheduler is not None else None,
        "scaler": t.precision.scaler.state_dict() if t.precision.scaler is not None else None,  # fp16's
        "progress": t.progress.to_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if t.device.type == "cuda" else [],
            "python": random.getstate(),
            # the batch-order generator as it was when the epoch in progress (or the next one) began
            "batch_order": t.epoch_start_rng if t.progress.epoch_step else t.generator.get_state(),
            # a run of several processes: each rank's generators, in rank order (distributed.py)
            "ranks": rank_rngs or [],
        },
        "world_size": t.world.size,
    }


def restore_state(trainer: Trainer, ckpt: dict[str, Any]) -> None:
    """Put a trainer exactly where `checkpoint_state` found it: weights, optimizer, schedule, progress, RNGs."""
    t = trainer
    if ckpt["layers"] != t.stack.exprs:
        raise UserError(f"the checkpoint's layers ({', '.join(ckpt['layers'])}) differ from this spec's "
                        f"({', '.join(t.stack.exprs)})")
    t.model.load_state_dict(ckpt["model"])
    t.optimizer.load_state_dict(with_loop(t.optimizer, t.flat.join_state(ckpt["optimizer"]) if t.flat
                                          else ckpt["optimizer"]))
    if t.scheduler is not None and ckpt.get("scheduler") is not None:
        t.scheduler.load_state_dict(ckpt["scheduler"])
    if t.precision.scaler is not None and ckpt.get("scaler"):
        t.precision.scaler.load_state_dict(ckpt["scaler"])
    t.progress = Progress.from_dict(ckpt["progress"])
    t.changes.applied = [dict(c) for c in ckpt.get("changes", [])]  # their rates are in the optimizer's state
    t.spec = live_change.live_spec(t.run_spec, t.changes.applied)
    rng = ckpt["rng"]
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and t.device.type == "cuda" and not t.world.launched:
        torch.cuda.set_rng_state_all(rng["cuda"])
    distributed.restore_rng(rng.get("ranks"), t.world, t.device.torch)  # under DDP, this rank's own
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    t.generator.set_state(rng["batch_order"])


def with_loop(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
    """`state` with the loop this optimizer was made with (`fused`, `foreach`: optim.make_optimizer's choice for
    this run's device and precision) in place of the one it was saved with. load_state_dict takes a param group's
    flags from the checkpoint: a run saved on CUDA in bf16 (fused) resumed on a CPU box stepped with the fused
    kernel there, one saved on a CPU (the per-tensor loop) resumed on CUDA with a loop that rounds otherwise than
    the textbook's there. torch places Adam's step count by these flags too (on the weights' device when fused)."""
    loop = {k: optimizer.defaults[k] for k in ("fused", "foreach") if k in optimizer.defaults}
    return {**state, "param_groups": [{**g, **loop} for g in state["param_groups"]]}


def to_cpu(obj: Any) -> Any:
    """A copy on the CPU, each tensor with its own storage: the weights are views of one flat buffer
    (flat.py), and a user who saves one tensor of a checkpoint should not write them all."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        out: Any = type(obj)((k, to_cpu(v)) for k, v in obj.items())  # a dict subclass may carry attributes
        if hasattr(obj, "_metadata"):  # state_dict versions, read by load_state_dict
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
