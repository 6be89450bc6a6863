"""The learning-rate range test (Leslie Smith, 2015; as fastai runs it): which rates does this
model learn at, before any run is started?

A fresh model, built and seeded exactly as a run would build it (or a copy of a run's
checkpoint weights), takes training steps on the run's own batches, in the run's own batch
order, with the learning rate raised geometrically from `start_lr` to `end_lr`, one rate per
step. The loss of each step is smoothed (an exponential moving average with bias correction);
the test stops early once the smoothed loss is more than 4 times its minimum, or not finite.

The suggestion is one stated rule (`RULE`): the rate at the smoothed loss's minimum, divided
by 10 - a rate where the loss still falls fast, safely below the point where training blows up.

Nothing is written: the data, the stack, the objective and the optimizer come from the same
functions a run uses (`job.plan`, `Trainer`), with a recorder that has no folder, and a
checkpoint is only read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import checkpoint, devices
from .errors import UserError
from .job import _new_trainer, plan
from .record import Recorder
from .spec import Spec

START_LR = 1e-7
END_LR = 10.0
MIN_STEPS, MAX_STEPS = 100, 300  # the default: one epoch of steps, within these bounds
SMOOTHING = 0.98  # the moving average's weight on the past (fastai's beta)
DIVERGED = 4.0  # stop once the smoothed loss exceeds this many times its minimum
RULE = "the rate at the smoothed loss's minimum, divided by 10 (to 2 significant digits)"


@dataclass
class RangeTest:
    """What the test found: one entry per step run, in order."""

    lrs: list[float]
    losses: list[float]  # smoothed
    raw_losses: list[float]
    suggested_lr: float | None  # None when the loss never fell: `note` says why
    min_lr: float | None  # the rate at the smoothed loss's minimum
    steps: int  # steps run
    planned_steps: int
    start_lr: float
    end_lr: float
    stopped: str  # "end" (all steps run) | "diverged" (above 4x the minimum) | "not finite"
    rule: str = RULE
    note: str = ""
    device: str = ""
    notices: list[str] = field(default_factory=list)  # what preparing the data noticed

    def view_top(self) -> float:
        """Where a plot cuts the curve: the blow-up at the end is cut at 1.5 times the first loss (or at
        the curve's top, when lower), so it does not flatten the part where the rate is chosen."""
        if not self.losses:
            return math.inf
        top = max(self.losses)
        if 1.5 * self.losses[0] > min(self.losses):
            top = min(top, 1.5 * self.losses[0])
        return top

    def view(self) -> list[float]:
        """The smoothed losses for a plot, cut at `view_top`."""
        top = self.view_top()
        return [min(v, top) for v in self.losses]

    def to_dict(self) -> dict[str, Any]:
        return {"lrs": self.lrs, "losses": self.losses, "raw_losses": self.raw_losses,
                "suggested_lr": self.suggested_lr, "rule": self.rule, "min_lr": self.min_lr, "steps": self.steps,
                "planned_steps": self.planned_steps, "start_lr": self.start_lr, "end_lr": self.end_lr,
                "stopped": self.stopped, "note": self.note, "device": self.device, "view_top": self.view_top()}


def default_steps(steps_per_epoch: int) -> int:
    """One epoch of steps, but at least 100 (a small training set is cycled through again, epoch
    after epoch, in the run's batch order) and at most 300."""
    return min(MAX_STEPS, max(MIN_STEPS, steps_per_epoch))


LOWEST_LR, HIGHEST_LR = 1e-12, 1e6  # the rates a range test may span: far past any that trains, either way


def check_range(steps: int | None, start_lr: float, end_lr: float) -> None:
    """Refuse a range the test cannot run, naming the flag, before any data is read."""
    if steps is not None and not 5 <= steps <= 100_000:
        raise UserError(f"--steps must be an integer from 5 to 100000, got {steps}")
    for flag, v in (("--start-lr", start_lr), ("--end-lr", end_lr)):
        if not (math.isfinite(v) and v > 0):
            raise UserError(f"{flag} must be a number > 0, got {v:g}")
        if not LOWEST_LR <= v <= HIGHEST_LR:  # beyond: the geometric steps overflowed to inf or fell to 0
            raise UserError(f"{flag} must be from {LOWEST_LR:g} to {HIGHEST_LR:g}, got {v:g}")
    if end_lr <= start_lr:
        raise UserError(f"--end-lr ({end_lr:g}) must be greater than --start-lr ({start_lr:g})")


def read_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or a run folder's last.pt (the weights a resume would continue from;
    best.pt when there is no last.pt). Only read, with weights_only=True."""
    p = Path(path)
    if p.is_dir():
        p = p / "last.pt" if (p / "last.pt").exists() else p / "best.pt"
    return p, checkpoint.load(p)


def range_test(spec: Spec, steps: int | None = None, start_lr: float = START_LR, end_lr: float = END_LR,
               weights: dict[str, Any] | None = None,
               on_step: Callable[[int, int], None] | None = None) -> RangeTest:
    """Run the range test for `spec` (its data, layers, loss, optimizer, batch size, grad clip,
    seed and device); `weights` (a checkpoint) starts from its model weights instead of fresh ones.
    `on_step(done, planned)` is told each step."""
    check_range(steps, start_lr, end_lr)
    p = plan(spec)
    trainer = _new_trainer(p, Recorder())  # no emit, no folder: nothing is written anywhere
    if weights is not None:
        _copy_weights(trainer.model, weights, p.stack.exprs)
    n = steps or default_steps(trainer.steps_per_epoch)
    lrs = [start_lr * (end_lr / start_lr) ** (i / (n - 1)) for i in range(n)]
    result = RangeTest([], [], [], None, None, 0, n, start_lr, end_lr, "end", device=p.device.description,
                       notices=list(p.data.notices))
    try:
        _steps(trainer, lrs, result, on_step)
    except torch.cuda.OutOfMemoryError:
        raise UserError(f"out of memory on {p.device.description} at batch size {spec.train.batch_size}; "
                        f"{devices.out_of_memory_advice(p.device.torch, spec.train.batch_size)}") from None
    _suggest(result)
    return result


def _steps(trainer: Any, lrs: list[float], result: RangeTest, on_step: Callable[[int, int], None] | None) -> None:
    """The tutorial's step at each rate in turn, on the run's batches, epoch after epoch."""
    model, opt, crit, zero_grad = trainer.model, trainer.optimizer, trainer.criterion, trainer.zero_grad
    clip = trainer.spec.train.grad_clip
    model.train()
    average, best, i = 0.0, math.inf, 0
    while True:
        for xb, yb in trainer._batches():  # one epoch, in the order the run would draw it
            lr = lrs[i]
            for group in opt.param_groups:
                group["lr"] = lr
            zero_grad()
            loss = crit(model(xb), yb)
            value = float(loss.detach())  # one sync per step: the stopping rule needs it, and there are a few hundred
            if not math.isfinite(value):
                result.stopped = "not finite"
                return
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smoothed = average / (1 - SMOOTHING ** (i + 1))
            result.lrs.append(lr)
            result.losses.append(smoothed)
            result.raw_losses.append(value)
            result.steps = i = i + 1
            if on_step is not None:
                on_step(i, len(lrs))
            if smoothed > DIVERGED * best:
                result.stopped = "diverged"
                return
            best = min(best, smoothed)
            if i == len(lrs):
                return
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()


def _suggest(result: RangeTest) -> None:
    """RULE, or no suggestion with the reason when the loss never fell within the range."""
    if not result.losses:
        result.note = (f"the loss was not finite at the first step (lr {result.start_lr:g}); "
                       f"check the data and the model, or lower --start-lr")
        return
    lowest = min(range(len(result.losses)), key=result.losses.__getitem__)
    result.min_lr = result.lrs[lowest]
    suggestion = float(f"{result.min_lr / 10:.2g}")
    if suggestion < result.start_lr:
        result.note = (f"the loss did not fall between {result.start_lr:g} and {result.end_lr:g} (lowest at "
                       f"{result.min_lr:g}); lower --start-lr, or check the data and the model")
        return
    result.suggested_lr = suggestion
    if result.stopped == "end" and lowest == len(result.losses) - 1:
        result.note = f"the loss was still falling at {result.end_lr:g}; a higher --end-lr may find a higher rate"


def _copy_weights(model: nn.Module, ckpt: dict[str, Any], exprs: list[str]) -> None:
    """A checkpoint's weights, copied into this test's own model (the checkpoint is not changed)."""
    if ckpt.get("layers") != exprs:
        raise UserError(f"the checkpoint's layers ({', '.join(ckpt.get('layers') or [])}) differ from the spec's "
                        f"({', '.join(exprs)}); use the run's own spec")
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"the checkpoint's weights do not fit this model ({first}); use the run's own spec") from None
