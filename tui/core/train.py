"""The one training loop: the tutorial's loop done right, fast, and exact.

Every way of training (`torchtui run`, `resume`, the screen's worker, a distributed run)
goes through `Trainer.fit`. Per step it does what the tutorial does - `model.train()`,
`zero_grad`, forward, loss, `backward`, `step` - on batches sliced from in-memory tensors in
the order torch's own `DataLoader(shuffle=True, generator=g)` would visit them, so its weights
are bit-identical to the textbook loop's at several times the speed.

What happens besides the step is kept off the hot path: losses accumulate on the device and
are read (one sync) only when an event is due, a few times a second; validation, metrics,
checkpoints and events happen once per epoch, and only on the main process (`is_main`).

Requests from outside (stop, save now, pause: signal handlers, see tui/signals.py) only set a
flag and `Trainer.attention`; the loop reads that one attribute per step and serves the
request at the next step boundary, where the position is exact, so none changes the weights.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint
from .data import Prepared
from .devices import Device, Telemetry
from .errors import Interrupted, TrainingFailed, UserError
from .flat import FlatParameters
from .layers import Stack
from .objective import Objective, evaluate, task_metrics
from .runs import RunFolder
from .spec import Spec
from .user_dataset import as_targets

Emit = Callable[[dict[str, Any]], None]
EVAL_BATCH = 1024
GATHER_BYTES = 8 << 20  # training rows gathered in batch order at a time


# ---- batch order ---------------------------------------------------------------------------
def loader_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's sample order, exactly as `DataLoader(data, shuffle=True, generator=g)` visits it.

    The loader must run to its end: its sampler draws from the generator again after the last
    index, and the next epoch depends on that.
    """
    return torch.cat(list(DataLoader(range(n), batch_size=n, shuffle=True, generator=generator)))


def fast_order(n: int, generator: torch.Generator, finish: bool = True) -> torch.Tensor:
    """The same order and generator use without a DataLoader's per-element Python work.

    Per epoch the DataLoader draws a base seed for its workers, then `RandomSampler` draws a
    permutation, and, when it runs out, a second one for its remainder (empty here).
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n, generator=generator)
    if finish:
        finish_order(n, generator)
    return order


def finish_order(n: int, generator: torch.Generator) -> None:
    """The sampler's second permutation, which only moves the generator on. The trainer draws it
    when the epoch's batches are done (`fast_order(..., finish=False)`), not before its first step."""
    torch.randperm(n, generator=generator)


def epoch_order_fn() -> Callable[[int, torch.Generator], torch.Tensor]:
    """`fast_order` when it reproduces this torch's DataLoader (probed on copies), else the DataLoader."""
    seed_state = torch.Generator().manual_seed(12345).get_state()
    a, b = torch.Generator(), torch.Generator()
    a.set_state(seed_state)
    b.set_state(seed_state)
    same = all(torch.equal(loader_order(n, a), fast_order(n, b)) for n in (1, 7, 97, 97, 1000))
    return fast_order if same and torch.equal(a.get_state(), b.get_state()) else loader_order


# ---- optimisation pieces -------------------------------------------------------------------
def make_optimizer(t, params: list[torch.Tensor], device_type: str) -> torch.optim.Optimizer:
    """The optimizer as a user would build it, with the loop that suits its tensors.

    The Trainer hands it one flat tensor when it can (see flat.py): the per-tensor loop is then
    a single pass, half the time of the multi-tensor (foreach) one. For several tensors foreach
    gives the same bits as the per-tensor loop on the CPU (the exactness tests check it) with less
    Python per step. `fused` would be faster still but rounds differently, so it is not used.
    """
    if len(params) == 1:
        foreach = False
    else:
        foreach = True if device_type in ("cpu", "cuda") else None
    if t.optimizer == "SGD":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay,
                               foreach=foreach)
    if t.optimizer == "Adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, foreach=foreach)
    if t.optimizer == "AdamW":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, foreach=foreach)
    return torch.optim.RMSprop(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, foreach=foreach)


def make_scheduler(t, optimizer, steps_per_epoch: int):
    """(scheduler or None, stepped per batch?)."""
    s = t.scheduler
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=t.step_size, gamma=t.gamma), False
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs), False
    if s == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, epochs=t.epochs,
                                                   steps_per_epoch=steps_per_epoch), True
    if s == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=t.gamma, patience=t.plateau_patience), False
    return None, False


# ---- state ---------------------------------------------------------------------------------
@dataclass
class Progress:
    """What survives in a checkpoint besides weights: where the run is and what it has seen."""

    epoch: int = 0  # completed epochs
    step: int = 0  # batches trained on (optimizer steps, and any skipped for a non-finite loss)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    epoch_step: int = 0  # batches done in the epoch in progress (0 at an epoch boundary)
    epoch_loss_sum: float = 0.0  # its sum of loss * batch size so far
    steps: list[list[float]] = field(default_factory=list)  # [step, loss] at each logged step
    epochs: list[dict[str, Any]] = field(default_factory=list)  # the epoch events
    skipped_steps: int = 0  # train.on_nan = "skip": steps not applied (non-finite loss), in all
    epoch_skipped_steps: int = 0  # ... and in the epoch in progress,
    epoch_skipped_rows: int = 0  # whose rows its train_loss leaves out

    def to_dict(self) -> dict[str, Any]:
        """History by column (a list per metric, steps as an (n, 2) tensor): it is saved every
        epoch, and a list of per-epoch dicts pickled 3x slower, a cost that grows with the run."""
        keys = list(dict.fromkeys(k for row in self.epochs for k in row if k not in ("event", "time")))
        return {"epoch": self.epoch, "step": self.step, "best_loss": self.best_loss, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "epoch_step": self.epoch_step, "epoch_loss_sum": self.epoch_loss_sum,
                "skipped_steps": self.skipped_steps, "epoch_skipped_steps": self.epoch_skipped_steps,
                "epoch_skipped_rows": self.epoch_skipped_rows,
                "history": {"steps": torch.tensor(self.steps, dtype=torch.float64).reshape(-1, 2),
                            "epochs": {k: [row.get(k) for row in self.epochs] for k in keys}}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Progress":
        h = d["history"]
        steps = [[int(s), loss] for s, loss in h["steps"].tolist()]
        return cls(d["epoch"], d["step"], d["best_loss"], d["best_epoch"], d["bad_epochs"], d["epoch_step"],
                   d["epoch_loss_sum"], steps, epoch_rows(d), d.get("skipped_steps", 0),
                   d.get("epoch_skipped_steps", 0), d.get("epoch_skipped_rows", 0))


def epoch_rows(progress: dict[str, Any]) -> list[dict[str, Any]]:
    """A checkpoint's per-epoch history as one dict per epoch (the `epoch` events, less their time)."""
    columns = progress["history"]["epochs"]
    n = len(columns.get("epoch", []))
    return [{k: v[i] for k, v in columns.items() if v[i] is not None} for i in range(n)]


@dataclass
class Outcome:
    status: str  # "done" | "early_stopped"
    progress: Progress


class Trainer:
    def __init__(self, spec: Spec, data: Prepared, stack: Stack, objective: Objective, device: Device,
                 run: RunFolder | None, emit: Emit, is_main: bool = True, resume: dict[str, Any] | None = None):
        self.spec, self.data, self.stack, self.objective, self.device = spec, data, stack, objective, device
        self.run, self._emit_fn, self.is_main = run, emit, is_main
        t = spec.train

        torch.manual_seed(t.seed)
        random.seed(t.seed)
        self.model = stack.build().to(device.torch)
        self.generator = torch.Generator().manual_seed(t.seed)
        self.criterion = objective.criterion()
        # one buffer for all weights when it can be had: the same bits, a third less time per small step
        self.flat = FlatParameters(self.model) if FlatParameters.fits(self.model) else None
        self.optimizer = make_optimizer(t, [self.flat.flat] if self.flat else list(self.model.parameters()), device.type)
        self.zero_grad = self.flat.zero_grad if self.flat else self.optimizer.zero_grad
        self.steps_per_epoch = math.ceil(data.n_train / t.batch_size)
        self.scheduler, self.per_batch_schedule = make_scheduler(t, self.optimizer, self.steps_per_epoch)
        self.progress = Progress()
        self._order = epoch_order_fn()
        self.attention = False  # the one flag the loop reads per step; set with any request below
        self._stop_reason, self._save_wanted, self._pause_wanted = "", False, False
        self.telemetry = Telemetry(device)
        self._epoch_start = self.generator.get_state()

        dev = device.torch
        self.loader = None
        if data.train_set is not None:  # a user's Dataset: the textbook DataLoader, same generator, same order
            self.loader = DataLoader(data.train_set, t.batch_size, shuffle=True, generator=self.generator,
                                     num_workers=spec.data.workers, pin_memory=device.type == "cuda")
        self.x_train, self.y_train = data.x_train.to(dev), data.y_train.to(dev)
        self.y_train_loss = objective.loss_targets(self.y_train)
        self.x_val, self.y_val = data.x_val.to(dev), data.y_val.to(dev)
        if resume is not None:
            self._restore(resume)

    # ---- requests from outside (signal handlers): a flag each, served at the next step -------
    @property
    def stop_requested(self) -> str:
        """The reason (a signal's name) to save the exact position and stop; "" while none."""
        return self._stop_reason

    @stop_requested.setter
    def stop_requested(self, reason: str) -> None:
        self._stop_reason = reason
        if reason:
            self.attention = True

    @property
    def save_requested(self) -> bool:
        """Save last.pt at the next step boundary, as --save-every does; its event says "requested"."""
        return self._save_wanted

    @save_requested.setter
    def save_requested(self, wanted: bool) -> None:
        self._save_wanted = wanted
        if wanted:
            self.attention = True

    @property
    def pause_requested(self) -> bool:
        """Wait at the next step boundary until this is cleared (or a stop is asked)."""
        return self._pause_wanted

    @pause_requested.setter
    def pause_requested(self, wanted: bool) -> None:
        self._pause_wanted = wanted
        if wanted:
            self.attention = True

    # ---- the loop --------------------------------------------------------------------------
    def fit(self) -> Outcome:
        t, p = self.spec.train, self.progress
        model, opt, crit, zero_grad = self.model, self.optimizer, self.criterion, self.zero_grad
        n, bs, clip, save_every = self.data.n_train, t.batch_size, t.grad_clip, t.save_every
        has_val = len(self.x_val) > 0
        skip_bad = t.on_nan == "skip"
        status = "done"
        next_log = time.monotonic() + min(t.log_interval, 0.05)  # one early point, then at most one per interval
        for epoch in range(p.epoch + 1, t.epochs + 1):
            epoch_start = time.monotonic()
            model.train()
            self._epoch_start = self.generator.get_state()  # a mid-epoch checkpoint redraws this epoch's order
            skip = p.epoch_step  # batches already done, when resuming inside an epoch
            batches = self._batches(skip)
            # sum of loss * batch size, never synced per step
            loss_sum = torch.full((), p.epoch_loss_sum, device=self.device.torch, dtype=torch.float32)
            seen = min(skip * bs, n)
            skipped, dropped = p.epoch_skipped_steps, p.epoch_skipped_rows  # steps not applied, and their rows
            logged_sum, logged_seen, logged_rows, last_log = p.epoch_loss_sum, seen, seen - dropped, time.monotonic()
            for i, (xb, yb) in enumerate(batches, skip):
                zero_grad()
                loss = crit(model(xb), yb)
                if skip_bad and not torch.isfinite(loss):  # on_nan = "skip": this test syncs every step
                    skipped, dropped, p.skipped_steps = skipped + 1, dropped + len(xb), p.skipped_steps + 1
                else:
                    loss.backward()
                    if clip:
                        nn.utils.clip_grad_norm_(model.parameters(), clip)
                    opt.step()
                    if self.per_batch_schedule:
                        self.scheduler.step()
                    loss_sum.add_(loss.detach(), alpha=len(xb))
                p.step += 1
                seen += len(xb)
                if self.attention or (save_every and p.step % save_every == 0 and seen < n):
                    p.epoch_step, p.epoch_loss_sum = i + 1, float(loss_sum)  # the position a resume starts from
                    p.epoch_skipped_steps, p.epoch_skipped_rows = skipped, dropped
                    due = bool(save_every) and p.step % save_every == 0 and seen < n
                    paused = self._serve(epoch, seen < n, due)
                    epoch_start, last_log = epoch_start + paused, last_log + paused  # paused time is no training time
                now = time.monotonic()
                if now >= next_log and seen - dropped > logged_rows:  # (a window of only skipped steps has no loss)
                    total = float(loss_sum)  # the one sync, a few times a second
                    if not math.isfinite(total):
                        self._diverged(epoch, total)
                    window = (total - logged_sum) / (seen - dropped - logged_rows)
                    rate = (seen - logged_seen) / max(now - last_log, 1e-9)
                    p.steps.append([p.step, window])
                    self.emit({"event": "step", "epoch": epoch, "step": p.step, "epoch_step": i + 1,
                                "loss": window, "lr": opt.param_groups[0]["lr"], "samples_per_s": rate,
                                **self.telemetry.sample()})
                    logged_sum, logged_seen, logged_rows, last_log = total, seen, seen - dropped, now
                    next_log = now + t.log_interval

            p.epoch_step, p.epoch_loss_sum, p.epoch_skipped_steps, p.epoch_skipped_rows = 0, 0.0, 0, 0
            train_loss = float(loss_sum) / (n - dropped) if n > dropped else math.nan
            if not math.isfinite(train_loss):
                self._diverged(epoch, train_loss, "every step's " if n == dropped else "")
            row: dict[str, Any] = {"event": "epoch", "epoch": epoch, "step": p.step, "train_loss": train_loss}
            if skip_bad:
                row["skipped_steps"] = skipped
            if has_val:
                val_loss, outputs = evaluate(model, self.x_val, self.y_val, self.objective, crit, max(bs, EVAL_BATCH))
                if not math.isfinite(val_loss):
                    self._diverged(epoch, val_loss, "validation ")
                row["val_loss"] = val_loss
                row.update(task_metrics(outputs, self.y_val, self.objective, self.data.pre))
            monitor = row.get("val_loss", train_loss)
            improved = monitor < p.best_loss
            if improved:
                p.best_loss, p.best_epoch, p.bad_epochs = monitor, epoch, 0
            else:
                p.bad_epochs += 1
            lr_used = opt.param_groups[0]["lr"]  # the rate of this epoch's last step, before the epoch's schedule step
            if self.scheduler is not None and not self.per_batch_schedule:
                if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step(monitor)
                else:
                    self.scheduler.step()
            p.epoch = epoch
            elapsed = time.monotonic() - epoch_start
            row.update({"lr": lr_used, "best": improved, "best_val_loss": p.best_loss,
                        "seconds": elapsed, "samples_per_s": n / max(elapsed, 1e-9)})
            p.epochs.append(dict(row))
            self.emit(row, sync=True)
            requested, self.save_requested = self.save_requested, False  # a request on the epoch's last step lands here
            self._save(best=improved, requested=requested)
            if t.patience and p.bad_epochs >= t.patience:
                status = "early_stopped"
                break
        return Outcome(status, p)

    def _batches(self, skip: int = 0):
        """One epoch's (x, y) batches on the device, in the order DataLoader(shuffle=True, generator=g)
        gives, less the first `skip` (done before a mid-epoch checkpoint)."""
        dev, bs = self.device.torch, self.spec.train.batch_size
        if self.loader is not None:
            task, to_loss = self.objective.task, self.objective.loss_targets
            batches = itertools.islice(iter(self.loader), skip, None)  # skipped batches are still loaded
            return ((xb.to(dev, non_blocking=True), to_loss(as_targets(yb.to(dev, non_blocking=True), task)))
                    for xb, yb in batches)
        n, fast = len(self.x_train), self._order is fast_order
        order = (fast_order(n, self.generator, finish=False) if fast else self._order(n, self.generator)).to(dev)
        return self._gathered(order[skip * bs:], finish=n if fast else 0)

    def _gathered(self, order: torch.Tensor, finish: int):
        """Batches of rows `order`, gathered a chunk of batches at a time: each batch is then a free
        contiguous view, no second copy of the training set is held, and the first step waits for
        one batch's gather only (chunks double from one batch up to a few MiB).
        After the last batch, `finish_order(finish)`."""
        bs, x, y = self.spec.train.batch_size, self.x_train, self.y_train_loss
        row_bytes = x[:1].nelement() * x.element_size() + y[:1].nelement() * y.element_size()
        most = max(1, GATHER_BYTES // max(1, bs * row_bytes))
        start, batches = 0, 1
        while start < len(order):
            rows = order[start:start + batches * bs]
            xs, ys = x.index_select(0, rows), y.index_select(0, rows)
            for i in range(0, len(rows), bs):
                yield xs[i:i + bs], ys[i:i + bs]
            start, batches = start + len(rows), min(most, batches * 2)
        if finish:
            finish_order(finish, self.generator)

    def _serve(self, epoch: int, mid_epoch: bool, due: bool) -> float:
        """Serve what was asked at this step boundary (the position is already recorded): stop, save
        (asked for, or `due` by --save-every: the same save), pause. Returns the seconds paused."""
        self.attention = False  # cleared before the flags are read: a request from now on is served next step
        if self.stop_requested:
            self._stop(epoch)
        requested = self.save_requested and mid_epoch  # on an epoch's last step the epoch-end save serves it
        if requested or due:
            if requested:
                self.save_requested = False
            self._save(best=False, requested=requested)
        return self._pause(epoch, mid_epoch) if self.pause_requested else 0.0

    def _pause(self, epoch: int, mid_epoch: bool) -> float:
        """Wait until the pause is toggled off; a stop still saves and stops, a save is served at once."""
        began = time.monotonic()
        self.emit({"event": "paused", "epoch": epoch, "step": self.progress.step}, sync=True)
        while self.pause_requested and not self.stop_requested:
            if self.save_requested and mid_epoch:
                self.save_requested = False
                self._save(best=False, requested=True)
            time.sleep(0.05)
        if self.stop_requested:
            self._stop(epoch)
        paused = time.monotonic() - began
        self.telemetry.restart()  # the CPU share of the next step event is of training time
        self.emit({"event": "resumed", "epoch": epoch, "step": self.progress.step, "paused_seconds": paused}, sync=True)
        return paused

    def _stop(self, epoch: int) -> None:
        """Save the exact position (mid-epoch) as last.pt, then stop; resume continues from the next step."""
        p = self.progress
        self._save(best=False)
        self.emit({"event": "end", "status": "interrupted", "reason": self.stop_requested, "epochs": p.epoch,
                   "epoch_step": p.epoch_step, "step": p.step, "best_val_loss": p.best_loss if p.best_loss < math.inf else None,
                   "skipped_steps": p.skipped_steps}, sync=True)
        raise Interrupted(self.stop_requested)

    # ---- events and checkpoints (main process only) --------------------------------------------
    def emit(self, event: dict[str, Any], sync: bool = False) -> None:
        if self.is_main:
            event.setdefault("time", time.time())
            if self.run is not None:
                self.run.log(event, sync=sync)
            self._emit_fn(event)

    def _diverged(self, epoch: int, value: float, what: str = "") -> None:
        t = self.spec.train
        hint = f"lower the learning rate (now {t.lr:g})"
        if not t.grad_clip:
            hint += " or clip gradients (--grad-clip 1.0)"
        msg = (f"training diverged: {what}loss became {value} in epoch {epoch} (step {self.progress.step}); {hint}. "
               f"The last good checkpoint is kept.")
        self.emit({"event": "error", "kind": "diverged", "message": msg, "epoch": epoch, "step": self.progress.step},
                   sync=True)
        raise TrainingFailed(msg)

    def state(self) -> dict[str, Any]:
        """The checkpoint: plain data only, so `torch.load(weights_only=True)` reads it.

        Tensors are stored on the CPU, so a checkpoint from a GPU box loads on a laptop
        without `map_location`; `load_state_dict` moves them back to the model's device.
        """
        from .. import __version__

        return {
            "format": checkpoint.FORMAT,
            "torchtui": __version__,
            "torch": str(torch.__version__),
            "spec": self.spec.to_dict(),
            "layers": self.stack.exprs,
            "input_shape": list(self.stack.input_shape),
            "loss": self.objective.loss,
            "preprocessing": self.data.pre.to_dict(),
            "model": to_cpu(self.model.state_dict()),
            "optimizer": to_cpu(self.optimizer_state()),
            "scheduler": to_cpu(self.scheduler.state_dict()) if self.scheduler is not None else None,
            "progress": self.progress.to_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "python": random.getstate(),
                # the batch-order generator as it was when the epoch in progress (or the next one) began
                "batch_order": self._epoch_start if self.progress.epoch_step else self.generator.get_state(),
            },
        }

    def optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state_dict as `torch.optim.X(model.parameters())` would give it."""
        state = self.optimizer.state_dict()
        return self.flat.split_state(state) if self.flat else state

    def _save(self, best: bool, requested: bool = False) -> None:
        """last.pt, and best.pt as an atomic copy of it when this epoch is the best so far.
        `requested`: a save-now request; last.pt's checkpoint event says so."""
        if not self.is_main or self.run is None:
            return
        state = self.state()
        if not checkpoint.all_finite(state["model"]):
            self._diverged(self.progress.epoch, float("nan"), "a weight of the ")
        try:
            last = checkpoint.save(state, self.run.checkpoint_path("last"))
            saved = [last] + ([checkpoint.copy(last, self.run.checkpoint_path("best"))] if best else [])
        except OSError as e:  # disk full, file too large, read-only: the previous checkpoint is untouched
            msg = (f"cannot save a checkpoint in {self.run.path}: {e.strerror or e}; the previous last.pt is kept. "
                   f"Free some space or fix the folder, then `torchtui resume {self.run.path}`")
            try:
                self.emit({"event": "error", "kind": "save_failed", "message": msg}, sync=True)
            except OSError:
                pass  # the event log is on the same full disk; the message still reaches the console
            raise TrainingFailed(msg) from None
        for path in saved:
            event = {"event": "checkpoint", "which": path.stem, "path": str(path), "epoch": self.progress.epoch,
                     "step": self.progress.step}
            if requested and path.stem == "last":
                event["requested"] = True
            self.emit(event)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        if ckpt["layers"] != self.stack.exprs:
            raise UserError(f"the checkpoint's layers ({', '.join(ckpt['layers'])}) differ from this spec's "
                            f"({', '.join(self.stack.exprs)})")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(self.flat.join_state(ckpt["optimizer"]) if self.flat else ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.progress = Progress.from_dict(ckpt["progress"])
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(_as_python_state(rng["python"]))
        self.generator.set_state(rng["batch_order"])


def to_cpu(obj: Any) -> Any:
    """A copy on the CPU, each tensor with its own storage: the weights are views of one flat buffer
    (flat.py), and a user who saves one tensor of a checkpoint should not write them all."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        out = type(obj)((k, to_cpu(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # state_dict versions, read by load_state_dict
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def _as_python_state(state: Any) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
