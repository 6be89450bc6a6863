"""A whole run, start to end: spec -> data + model -> train loop -> events + checkpoints -> run folder.

`run` and `resume` are what `torchtui run` / `torchtui resume` (and the screen's worker) call.
Everything a user can get wrong is checked in `plan` - device first, then data, loss and
layers - before a run folder is created, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, devices, layers
from .data import Prepared, csv_columns, prepare
from .errors import TrainingFailed, UserError
from .objective import Objective
from .predict import Predictor
from .runs import RunFolder
from .spec import Spec
from .train import Emit, Outcome, Trainer


@dataclass
class Plan:
    spec: Spec
    device: devices.Device
    data: Prepared
    objective: Objective
    stack: layers.Stack


def plan(spec: Spec) -> Plan:
    device = devices.resolve(spec.train.device)  # before any data is read
    data = prepare(spec.data, spec.train.seed)
    objective = Objective.for_data(spec.train.loss, data.pre)
    stack = layers.resolve(spec.model.layers, data.input_shape, objective.n_outputs)
    if spec.data.test:
        data.pre.check_features(csv_columns(spec.data.test), spec.data.test)
    return Plan(spec, device, data, objective, stack)


def run(spec: Spec, emit: Emit) -> tuple[Outcome, RunFolder]:
    p = plan(spec)
    folder = RunFolder.create(spec, p.data.name)
    trainer = Trainer(spec, p.data, p.stack, p.objective, p.device, folder, emit)
    return _train(trainer, folder, p), folder


def resume(run_dir: str | Path, emit: Emit, epochs: int | None = None) -> tuple[Outcome, RunFolder]:
    folder = RunFolder.open(run_dir)
    last = folder.checkpoint_path("last")
    if not last.exists():
        raise UserError(f"{folder.path} has no last.pt yet (it stopped before its first epoch ended); start it again with `torchtui run`")
    ckpt = checkpoint.load(last)
    spec = Spec.from_dict(ckpt["spec"], source=str(last))
    if epochs is not None and epochs != spec.train.epochs:
        if spec.train.scheduler == "onecycle":
            raise UserError("a one-cycle schedule is fixed to its epochs; it cannot be extended with --epochs")
        spec = spec.with_overrides({"train.epochs": epochs})
    done = ckpt["progress"]["epoch"]
    if done >= spec.train.epochs:
        raise UserError(f"{folder.path} already trained {done} of {spec.train.epochs} epochs; "
                        f"pass --epochs N with N > {done} to train on")
    p = plan(spec)
    if p.data.pre.to_dict() != ckpt["preprocessing"]:
        raise UserError(f"the data of {folder.path} ({spec.data.dataset}) changed since the checkpoint was saved; "
                        f"resuming would not continue the same run - start a new one")
    trainer = Trainer(spec, p.data, p.stack, p.objective, p.device, folder, emit, resume=ckpt)
    folder.write_text("spec.toml", spec.to_toml())
    return _train(trainer, folder, p, resumed_from=done), folder


def _train(trainer: Trainer, folder: RunFolder, p: Plan, resumed_from: int | None = None) -> Outcome:
    trainer._emit(start_event(p, folder, trainer, resumed_from), sync=True)
    try:
        try:
            outcome = trainer.fit()
        except torch.cuda.OutOfMemoryError:
            msg = (f"out of memory on {p.device.description} at batch size {p.spec.train.batch_size}; "
                   f"try a smaller --batch-size or a smaller model. The last good checkpoint is kept.")
            trainer._emit({"event": "error", "kind": "out_of_memory", "message": msg}, sync=True)
            raise TrainingFailed(msg) from None
        except KeyboardInterrupt:
            trainer._emit({"event": "end", "status": "interrupted", "epochs": trainer.progress.epoch,
                           "best_val_loss": _finite(trainer.progress.best_loss)}, sync=True)
            raise
        except (TrainingFailed, UserError):
            raise
        except Exception as e:
            trainer._emit({"event": "error", "kind": "crash", "message": f"{type(e).__name__}: {e}"}, sync=True)
            raise
        if p.spec.data.test and folder.checkpoint_path("best").exists():
            out = folder.path / "predictions.csv"
            n = Predictor.load(folder.checkpoint_path("best")).predict_file(p.spec.data.test, out)
            trainer._emit({"event": "predictions", "path": str(out), "rows": n, "source": p.spec.data.test})
        prog = outcome.progress
        best = next((e for e in prog.epochs if e["epoch"] == prog.best_epoch), {})
        trainer._emit({"event": "end", "status": outcome.status, "epochs": prog.epoch, "best_epoch": prog.best_epoch,
                       "best_val_loss": _finite(prog.best_loss), "best_metrics": _metrics_of(best),
                       "run_dir": str(folder.path)}, sync=True)
        return outcome
    finally:
        folder.close()


def start_event(p: Plan, folder: RunFolder, trainer: Trainer, resumed_from: int | None) -> dict[str, Any]:
    pre, t = p.data.pre, p.spec.train
    return {
        "event": "start", "time": time.time(), "pid": os.getpid(), "run_dir": str(folder.path),
        "dataset": p.data.name, "task": pre.task, "target": pre.target, "classes": [str(c) for c in pre.classes],
        "train_rows": len(p.data.x_train), "val_rows": len(p.data.x_val), "inputs": pre.n_inputs,
        "outputs": p.objective.n_outputs, "loss": p.objective.loss, "notices": p.data.notices,
        "layers": [{"layer": lay.expr, "shape": list(lay.out_shape), "params": lay.params, "added": lay.added}
                   for lay in p.stack.layers],
        "summary": p.stack.summary(), "params": p.stack.params, "device": p.device.description,
        "epochs": t.epochs, "batch_size": t.batch_size, "steps_per_epoch": trainer.steps_per_epoch,
        "optimizer": t.optimizer, "lr": t.lr, "scheduler": t.scheduler, "seed": t.seed,
        "resumed_from": resumed_from,
    }


def _metrics_of(epoch_event: dict[str, Any]) -> dict[str, float]:
    return {k: epoch_event[k] for k in ("accuracy", "rmse", "mae", "r2") if k in epoch_event}


def _finite(x: float) -> float | None:
    return x if x != float("inf") else None
