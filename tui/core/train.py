"""The one training loop: the tutorial's loop done right, fast, and exact.

Every way of training (`torchtui run`, `resume`, the screen's worker) goes through
`Trainer.fit`. Per step it does what the tutorial does - `model.train()`, `zero_grad`,
forward, loss, `backward`, `step` - on batches sliced from in-memory tensors in the order
torch's own `DataLoader(shuffle=True, generator=g)` would visit them (order.py), so its weights
are bit-identical to the textbook loop's at several times the speed.

What happens besides the step is kept off the hot path: losses accumulate on the device and
are read (one sync) only when a step event is due, a few times a second; validation, metrics
and checkpoints happen once per epoch. Events and checkpoints go through the recorder
(record.py), which alone decides what is written and by which process.

Requests from outside (stop, save now, pause: signal handlers, see tui/signals.py) only set a
flag on `Trainer.requests`; the loop reads one attribute of it per step and serves the request
at the next step boundary, where the position is exact, so none changes the weights.
A change of learning rate, patience or epochs (live_change.py) arrives as a file in the run
folder, looked for when a step is logged; the loop compares its step with the change's and
applies it at that boundary.
"""

from __future__ import annotations

import itertools
import math
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint, cuda_graph, distributed, launcher_env, live_change, precision, record
from .batch_views import batches_aligned
from .data import Prepared, fingerprint
from .devices import Device, Telemetry
from .errors import Interrupted, UserError
from .flat import FlatParameters
from .layers import Stack
from .objective import Objective, evaluate, task_metrics
from .optim import make_optimizer, make_scheduler
from .order import epoch_order_fn, fast_order, finish_order
from .progress import Progress
from .record import Recorder
from .requests import Requests
from .runs import FolderGone
from .spec import Spec
from .user_dataset import as_targets

EVAL_BATCH = 1024
NEVER_STEP = live_change.NEVER  # later than any step: every pending change is due
GATHER_BYTES = 8 << 20  # training rows gathered in batch order at a time


@dataclass
class Outcome:
    status: str  # "done" | "early_stopped"
    progress: Progress


@dataclass
class Tally:
    """The epoch in progress: its loss sum (on the device, never synced per step), rows seen, and
    steps skipped for a non-finite loss with their rows (train_loss leaves them out)."""

    loss_sum: torch.Tensor
    seen: int
    skipped: int
    dropped: int
    started: float  # monotonic time the epoch began, moved on by pauses


@dataclass
class StepLog:
    """Where the last step event left off: the next one reports the loss and rate since."""

    next_at: float
    loss_sum: float = 0.0
    seen: int = 0
    rows: int = 0
    at: float = 0.0
    count: int = 0  # step events written by this process


class Trainer:
    def __init__(self, spec: Spec, data: Prepared, stack: Stack, objective: Objective, device: Device,
                 recorder: Recorder, resume: dict[str, Any] | None = None,
                 world: distributed.World = distributed.SINGLE):
        self.spec, self.data, self.stack, self.objective, self.device = spec, data, stack, objective, device
        self.world = world  # several processes (distributed.py): each trains its share of every global batch
        self.run_spec = spec  # as the run started: `spec` is it with the live changes applied
        self.changes = live_change.Changes()
        self.to_share: list[live_change.Change] = []  # under DDP, rank 0's: changes found, shared at the next _agree
        self.recorder = recorder
        t = spec.train

        torch.manual_seed(t.seed)
        random.seed(t.seed)
        self.model = stack.build().to(device.torch)
        self.generator = torch.Generator().manual_seed(t.seed)
        self.criterion = objective.criterion()
        # one buffer for all weights when it can be had: the same bits, a third less time per small step
        self.flat = FlatParameters(self.model) if FlatParameters.fits(self.model) else None
        self.precision = precision.setup(t.precision, device.type)  # fp32 (exact) unless asked
        self.optimizer = make_optimizer(
            t, [self.flat.flat] if self.flat else list(self.model.parameters()), device.type)
        self.zero_grad = self.flat.zero_grad if self.flat else self.optimizer.zero_grad
        # the module the steps call: under DDP its wrapper, which averages the gradients over the ranks in backward.
        # A world of one process has nothing to average: DDP's bucket copies and all-reduce with itself measured
        # +35% per small step (gloo), so it trains unwrapped, as one process does
        self.net: nn.Module = self.model
        if world.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[device.torch] if device.type == "cuda" else None)
        self.steps_per_epoch = math.ceil(data.n_train / (t.batch_size * world.size))
        # under DDP: this rank's rows trained, and every rank's telemetry as last gathered (rank 0's step events)
        self._rank_rows, self._ranks_at = 0, (time.monotonic(), 0)
        self.ranks: list[dict[str, Any]] = []
        self._rank_telemetry = Telemetry(device) if world.size > 1 else None
        self.scheduler, self.per_batch_schedule = make_scheduler(t, self.optimizer, self.steps_per_epoch)
        self.progress = Progress()
        self.requests = Requests()
        # under DDP: what the ranks last agreed to serve (_agree); suspended: their launcher is stopped (Ctrl+Z)
        self.agreed_stop = self.agreed_save = self.agreed_pause = self.agreed_suspend = False
        self.save_at_epoch_end = False  # a save asked on an epoch's last step, which the epoch-end save serves
        self.telemetry = Telemetry(device)
        self._order = epoch_order_fn()
        self.epoch_start_rng = self.generator.get_state()  # a mid-epoch checkpoint redraws this epoch's order
        self._log = StepLog(next_at=0.0)

        dev = device.torch
        self.loader = None
        if data.train_set is not None:  # a user's Dataset: the textbook DataLoader, same generator, same order
            self.loader = DataLoader(data.train_set, t.batch_size, shuffle=True, generator=self.generator,
                                     num_workers=spec.data.workers, pin_memory=device.type == "cuda")
        # an epoch's save written while the next trains, not where a Dataset class's loader forks its workers each
        # epoch: a fork while the writer thread holds a lock (torch.save's, malloc's) can hang the worker
        self.saves_behind = saves_behind(device.type, world.size) and not (self.loader and spec.data.workers)
        self.x_train, self.y_train = data.x_train.to(dev), data.y_train.to(dev)
        self.y_train_loss = objective.loss_targets(self.y_train)
        self.x_val, self.y_val = data.x_val.to(dev), data.y_val.to(dev)
        self._data_check: list[float] | None = None
        self.graph_decision = cuda_graph.decide(
            t.cuda_graphs, device.type, on_nan=t.on_nan, dataset_class=self.loader is not None, precision=t.precision,
            flat=self.flat is not None, full_batches=data.n_train // t.batch_size, epochs=t.epochs,
            distributed=world.launched)
        self.graphed = self._graphed_step() if self.graph_decision.use else None
        if resume is not None:
            record.restore_state(self, resume)

    def data_check(self) -> list[float]:
        """The prepared data's fingerprint (Prepared.fingerprint; none for a Dataset class), from the copies on this
        run's device (fast on a GPU, and no second pass over the host's); once, at the first save."""
        if self._data_check is None:
            self._data_check = [] if self.loader is not None else fingerprint(self.x_train, self.y_train, self.x_val,
                                                                               self.y_val)
        return self._data_check

    def _graphed_step(self) -> cuda_graph.GraphedStep:
        t = self.spec.train
        return cuda_graph.GraphedStep(self.model, self.criterion, self.zero_grad, self.x_train, self.y_train_loss,
                                      t.batch_size, t.grad_clip, self.precision.autocast if self.precision.mixed
                                      else None)

    # ---- the loop --------------------------------------------------------------------------
    def fit(self) -> Outcome:
        """The tutorial's loop: each epoch, train on every batch, then validate and keep the best."""
        # one early point, then per interval
        self._log.next_at = time.monotonic() + min(self.spec.train.log_interval, 0.05)
        epoch = self.progress.epoch
        self._serve_changes(epoch + 1)  # asked while the worker started; or replayed by a resume, due now
        if self.world.size > 1:
            launcher_env.mark_following()  # from here a Ctrl+Z of our launcher waits at an agreement (_agree)
        while epoch < self.spec.train.epochs:  # a live change may move the end
            epoch += 1
            tally = self.train_epoch(epoch)
            # patience reached on the last epoch ends the run no earlier: it is done (as _unsaid_end says too)
            if self.end_epoch(epoch, tally) and epoch < self.spec.train.epochs:
                self._refuse_pending(epoch)
                self.recorder.settle()  # the last save on disk before the reports read it
                return Outcome("early_stopped", self.progress)
        self._refuse_pending(epoch)
        self.recorder.settle()
        return Outcome("done", self.progress)

    def train_epoch(self, epoch: int) -> Tally:
        """One pass over the training batches (the rest of it, when resuming inside an epoch)."""
        t, p, requests = self.spec.train, self.progress, self.requests
        n, bs, save_every = self.data.n_train, t.batch_size, t.save_every
        self.model.train()
        self.epoch_start_rng = self.generator.get_state()
        skip = p.epoch_step  # batches already done, when resuming inside an epoch
        world = self.world
        so_far = p.epoch_loss_sum if world.is_main else 0.0  # a resume's sum so far (of every rank) counts once
        tally = Tally(torch.full((), so_far, device=self.device.torch, dtype=torch.float32),
                      min(skip * bs * world.size, n), p.epoch_skipped_steps, p.epoch_skipped_rows, time.monotonic())
        if self.graphed is not None:
            steps = self._graphed_steps(skip, tally)
        elif world.size > 1:
            steps = self._steps(self._shared_batches(skip), tally)
        else:
            steps = self._steps(((xb, yb, len(xb), 1.0) for xb, yb in self._batches(skip)), tally)
        log, main = self._log, self.recorder.is_main
        agreeing = world.size > 1  # several processes serve requests together, at every AGREE_EVERY-th step
        change_at = self.changes.next_step  # a live change's step (live_change.NEVER without one)
        log.loss_sum, log.seen, log.rows, log.at = (
            p.epoch_loss_sum, tally.seen, tally.seen - tally.dropped, tally.started)
        logged, done = log.count, skip  # step events so far; this epoch's batches done
        for i, rows in enumerate(steps, skip):
            done = i + 1
            p.step += 1
            tally.seen += rows
            due = bool(save_every) and p.step % save_every == 0 and tally.seen < n
            if agreeing:
                attention = p.step % distributed.AGREE_EVERY == 0 and self._agree()
            else:
                attention = requests.attention
            if attention or due or p.step >= change_at:
                # the position a resume starts from (the loss so far summed over the ranks)
                p.epoch_step, p.epoch_loss_sum = i + 1, float(distributed.all_sum(tally.loss_sum.clone(), world))
                p.epoch_skipped_steps, p.epoch_skipped_rows = tally.skipped, tally.dropped
                paused = self._serve(epoch, tally.seen < n, due)
                tally.started, log.at = tally.started + paused, log.at + paused  # paused time is no training time
                change_at = self.changes.next_step
            now = time.monotonic()
            if world.size > 1 and p.step % distributed.RANK_TELEMETRY_EVERY == 0:
                self._gather_ranks(tally)
            # (only skipped steps: no loss to log; under DDP rank 0 logs its share's loss, the others nothing)
            if now >= log.next_at and tally.seen - tally.dropped > log.rows and main:
                self._log_step(epoch, i + 1, tally, now)
                change_at = self.changes.next_step
        if log.count == logged and tally.seen - tally.dropped > log.rows and main:
            # an epoch shorter than the log interval: its loss at its end (one sync; validation syncs there anyway),
            # or a run of short epochs drew a loss chart of a point or two
            self._log_step(epoch, done, tally, time.monotonic())
        p.epoch_step, p.epoch_loss_sum, p.epoch_skipped_steps, p.epoch_skipped_rows = 0, 0.0, 0, 0
        distributed.all_sum(tally.loss_sum, world)  # the epoch's loss over every rank's rows
        return tally

    def _gather_ranks(self, tally: Tally) -> None:
        """Every rank's telemetry (its rows per second since the last gather, CPU, memory, its GPU's), on rank 0
        for its next step events."""
        now, rows = time.monotonic(), self._rank_rows
        rate = (rows - self._ranks_at[1]) / max(now - self._ranks_at[0], 1e-9)
        assert self._rank_telemetry is not None  # made for several processes, the only ones that gather
        sample = {"rank": self.world.rank, "samples_per_s": rate, **self._rank_telemetry.sample()}
        self._ranks_at = (now, rows)
        gathered = distributed.gather_telemetry(sample, self.world)
        if gathered is not None:
            self.ranks = gathered

    def _agree(self) -> bool:
        """Under DDP, the requests every rank serves at this step boundary: a stop or a save asked of any rank
        (the launcher passes a signal to each), a pause as rank 0 has it, and the live changes rank 0 found,
        broadcast to every rank, and whether a launcher is stopped (Ctrl+Z: launcher_env), which makes every rank
        wait as in a pause. One small all-reduce every AGREE_EVERY steps (and a broadcast with a change)."""
        r = self.requests
        # this rank's save request is consumed into the agreement; one that arrives after it waits for the next
        stop, save, pause, change, suspend = distributed.agree(
            [_signal_number(r.stop), r.take_save(), bool(r.pause) and self.world.is_main, bool(self.to_share),
             launcher_env.suspended()], self.world, self.device.torch)
        if stop:  # every rank stops for one reason, and exits with one code (130 for Ctrl+C), whichever rank's
            r.stop = signal.Signals(stop).name  # signal came first: a Ctrl+C reaches each rank at its own moment
        self.agreed_stop, self.agreed_save = bool(stop), self.agreed_save or bool(save)
        self.agreed_pause = bool(pause)  # rank 0's own flag stays as its signals left it: a toggle after this counts
        self.agreed_suspend = bool(suspend)
        if change:  # rank 0's live changes, scheduled on every rank at this boundary (or their own later step)
            shared, self.to_share = distributed.broadcast(self.to_share, self.world), []
            for c in shared:
                self.changes.schedule(c, self.progress.step)
        return bool(stop or save or pause or change or suspend)

    def _asked(self) -> tuple[bool, bool]:
        """(stop, save) to serve at this boundary. Under DDP, what the ranks agreed (`_agree`), never this rank's
        own flags: a signal reaches each rank at its own moment, and a rank that stopped or saved alone would
        leave the others waiting in a collective forever. One that came after the agreement waits for the next."""
        if self.world.size == 1:
            return bool(self.requests.stop), self.requests.take_save()
        stop, save = self.agreed_stop, self.agreed_save
        self.agreed_save = False
        return stop, save

    def _paused(self) -> bool:
        """Whether to (stay) paused at this boundary. Under DDP, as the ranks last agreed: a SIGUSR2 flips a rank's
        own flag at any moment, and a rank that read it alone would wait in the pause's agreements while the others
        trained on, their collectives paired with the wrong ones."""
        return self.requests.pause if self.world.size == 1 else self.agreed_pause

    def _shared_batches(self, skip: int = 0):
        """This rank's share of each global batch (`--batch-size` rows per process) in the one global order, with
        the global batch's rows and the weight that makes the ranks' averaged gradient the global batch's mean.
        A rank whose share of a short last batch is empty steps on a stand-in row with weight 0."""
        n, bs, world, dev = len(self.x_train), self.spec.train.batch_size, self.world, self.device.torch
        size = bs * world.size
        fast = self._order is fast_order
        order = (fast_order(n, self.generator, finish=False) if fast else self._order(n, self.generator)).to(dev)
        x, y = self.x_train, self.y_train_loss
        for start in range(skip * size, n, size):
            rows = order[start:start + size]
            first, count = distributed.share(len(rows), world.size, world.rank)
            mine = rows[first:first + count] if count else rows[:1]
            yield x.index_select(0, mine), y.index_select(0, mine), len(rows), count * world.size / len(rows)
        if fast:
            finish_order(n, self.generator)

    def _steps(self, batches, tally: Tally):
        """The tutorial's step on each (x, y, rows, weight): zero_grad, forward, loss, backward, (clip,) optimizer
        step, the loss summed on the device. Yields the rows of each step (every rank's) once it is done (or
        skipped, for on_nan skip). `weight` scales the loss a rank backpropagates (distributed: its share)."""
        t, p = self.spec.train, self.progress
        model, opt, crit, zero_grad, clip = self.net, self.optimizer, self.criterion, self.zero_grad, t.grad_clip
        skip_bad, loss_sum = t.on_nan == "skip", tally.loss_sum
        mixed = self.precision.mixed  # bf16 / fp16: under autocast (fp32, the default, is the textbook step)
        for xb, yb, rows, weight in batches:
            zero_grad()
            if mixed:
                with self.precision.autocast():
                    loss = crit(model(xb), yb)
            else:
                loss = crit(model(xb), yb)
            if skip_bad and not torch.isfinite(loss):  # on_nan = "skip": this test syncs every step
                tally.skipped, tally.dropped, p.skipped_steps = (
                    tally.skipped + 1, tally.dropped + len(xb), p.skipped_steps + 1)
            else:
                step_loss = loss if weight == 1.0 else loss * weight
                if mixed:
                    self._mixed_step(step_loss, clip)
                else:
                    step_loss.backward()
                    if clip:
                        nn.utils.clip_grad_norm_(model.parameters(), clip)
                    opt.step()
                if self.per_batch_schedule:
                    self.scheduler.step()
                loss_sum.add_(loss.detach(), alpha=len(xb) if weight else 0)  # a stand-in row counts nothing
            self._rank_rows += len(xb) if weight else 0  # this process's own rows (telemetry of several)
            yield rows

    def _graphed_steps(self, skip: int, tally: Tally):
        """The same steps with everything up to the optimizer replayed as one CUDA graph (cuda_graph.py); the
        last, shorter batch eagerly. The batches and the generator's draws are those of `_batches`."""
        graphed, opt, bs = self.graphed, self.optimizer, self.spec.train.batch_size
        assert graphed is not None
        n, fast = len(self.x_train), self._order is fast_order
        order = (fast_order(n, self.generator, finish=False) if fast else self._order(n, self.generator))
        order = order.to(self.device.torch)
        tally.loss_sum = graphed.start_epoch(order, skip, self.progress.epoch_loss_sum)
        for _ in range(skip, graphed.full):
            captured = graphed.step()
            opt.step()
            if self.per_batch_schedule:
                self.scheduler.step()
            if captured is not None:
                self.recorder.write(record.cuda_graph(epoch=self.progress.epoch + 1, step=self.progress.step + 1,
                                                      captured=captured.captured, seconds=captured.seconds,
                                                      warmup_steps=captured.warmup_steps,
                                                      memory_mb=captured.memory_mb, reason=captured.reason), sync=True)
            yield bs
        tail = order[max(skip, graphed.full) * bs:]
        if len(tail):
            yield from self._steps(((self.x_train.index_select(0, tail), self.y_train_loss.index_select(0, tail),
                                     len(tail), 1.0),), tally)
        if fast:
            finish_order(n, self.generator)

    def end_epoch(self, epoch: int, tally: Tally) -> bool:
        """Validate under eval() and no_grad(), keep the best, step the schedule, record and save.
        True when early stopping ends the run."""
        t, p, n = self.spec.train, self.progress, self.data.n_train
        train_loss = float(tally.loss_sum) / (n - tally.dropped) if n > tally.dropped else math.nan
        stepped = time.monotonic() - tally.started  # (the float above waited for the device's last step)
        if not math.isfinite(train_loss):
            self._diverged(epoch, train_loss, "every step's " if n == tally.dropped else "")
        val_loss, metrics = None, {}
        distributed.sync_buffers(self.model, self.world)  # every rank validates the same model: the same decisions
        if len(self.x_val):
            _draw_as_a_validation_loader()
            if self.world.size > 1:  # each rank its share of the rows; the sums and outputs put together
                val_loss, outputs = distributed.evaluate_shared(self.model, self.x_val, self.y_val, self.objective,
                                                                self.criterion, max(t.batch_size, EVAL_BATCH),
                                                                self.world)
            else:
                val_loss, outputs = evaluate(self.model, self.x_val, self.y_val, self.objective, self.criterion,
                                             max(t.batch_size, EVAL_BATCH))
            if not math.isfinite(val_loss):
                self._diverged(epoch, val_loss, "validation ")
            metrics = task_metrics(outputs, self.y_val, self.objective, self.data.pre)
        monitor = train_loss if val_loss is None else val_loss
        improved = monitor < p.best_loss
        if improved:
            p.best_loss, p.best_epoch, p.bad_epochs = monitor, epoch, 0
        else:
            p.bad_epochs += 1
        lr_used = self.optimizer.param_groups[0]["lr"]  # the rate of the epoch's last step, before its schedule step
        if self.scheduler is not None and not self.per_batch_schedule:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(monitor)
            else:
                self.scheduler.step()
        p.epoch = epoch
        elapsed = time.monotonic() - tally.started
        row = record.epoch(epoch=epoch, step=p.step, train_loss=train_loss,
                           skipped_steps=tally.skipped if t.on_nan == "skip" else None, val_loss=val_loss,
                           metrics=metrics, lr=lr_used, best=improved, best_val_loss=p.best_loss, seconds=elapsed,
                           samples_per_s=n / max(stepped, 1e-9))  # the steps' pace, as step events say it
        p.epochs.append(dict(row))
        self.recorder.saved_behind()  # the last epoch's save, if written by now, said before this epoch
        self.recorder.write(row, sync=True)
        # a request served on the epoch's last step (or come since) lands here
        requested, self.save_at_epoch_end = self.save_at_epoch_end or self._asked()[1], False
        self.save(best=improved, requested=requested, behind=self.saves_behind and not requested)
        return bool(t.patience) and p.bad_epochs >= t.patience

    def _mixed_step(self, loss: torch.Tensor, clip: float) -> None:
        """backward and step under bf16 / fp16 autocast: fp16 scales the loss (its gradients would underflow)
        and unscales before clipping; a step whose gradients overflowed is skipped by the scaler."""
        scaler = self.precision.scaler
        if scaler is None:  # bf16: fp32's range, nothing to scale
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
            return
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        scaler.step(self.optimizer)
        scaler.update()

    def _log_step(self, epoch: int, epoch_step: int, tally: Tally, now: float) -> None:
        """A step event: the mean loss and the rate since the last one (the one sync, a few times a second)."""
        p, log = self.progress, self._log
        total = float(tally.loss_sum)
        if not math.isfinite(total):
            self._diverged(epoch, total)
        rows = tally.seen - tally.dropped
        window = (total - log.loss_sum) / (rows - log.rows)
        rate = (tally.seen - log.seen) / max(now - log.at, 1e-9)
        p.steps.append([p.step, window])
        self.recorder.write(record.step(epoch=epoch, step=p.step, epoch_step=epoch_step, loss=window,
                                        lr=self.optimizer.param_groups[0]["lr"], samples_per_s=rate,
                                        telemetry=self.telemetry.sample(), ranks=self.ranks))
        log.loss_sum, log.seen, log.rows, log.at = total, tally.seen, rows, now
        log.next_at, log.count = now + self.spec.train.log_interval, log.count + 1
        self._look_for_change(epoch)  # a stat, a few times a second
        self.recorder.saved_behind()  # an epoch's save finished meanwhile: its checkpoint events

    # ---- batches -----------------------------------------------------------------------------
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
        A chunk holds more than one batch only where each batch in it starts as aligned as a tensor of its own
        would (batch_views): else each batch is gathered on its own, as DataLoader's collate gives the textbook
        loop, or its matrix products round differently, and a resume mid-epoch, whose chunks start elsewhere,
        ends elsewhere than the run never stopped. After the last batch, `finish_order(finish)`."""
        bs, x, y = self.spec.train.batch_size, self.x_train, self.y_train_loss
        row_bytes = x[:1].nelement() * x.element_size() + y[:1].nelement() * y.element_size()
        # (the chunks are new tensors: where x and y themselves start does not matter)
        most = max(1, GATHER_BYTES // max(1, bs * row_bytes)) if batches_aligned(bs, x, y) else 1
        start, batches = 0, 1
        while start < len(order):
            rows = order[start:start + batches * bs]
            xs, ys = x.index_select(0, rows), y.index_select(0, rows)
            for i in range(0, len(rows), bs):
                yield xs[i:i + bs], ys[i:i + bs]
            start, batches = start + len(rows), min(most, batches * 2)
        if finish:
            finish_order(finish, self.generator)

    # ---- requests, served at a step boundary -------------------------------------------------
    def _serve(self, epoch: int, mid_epoch: bool, due: bool) -> float:
        """Serve what was asked at this step boundary (the position is already recorded): stop, save
        (asked for, or `due` by --save-every: the same save), pause. Returns the seconds paused."""
        requests = self.requests
        requests.attention = False  # cleared before the flags are read: a request from now on is served next step
        if self.progress.step >= self.changes.next_step:  # before a save here, so the checkpoint holds it
            self._apply_changes(epoch)
        stop, save = self._asked()
        if stop:
            self._stop()
        requested = mid_epoch and save  # on an epoch's last step the epoch-end save serves it
        self.save_at_epoch_end = self.save_at_epoch_end or (save and not mid_epoch)  # and says it was asked for
        if requested or due:
            self.save(best=False, requested=requested)
        return self._pause(epoch) if self._paused() or self.agreed_suspend else 0.0

    def _pause(self, epoch: int) -> float:
        """Wait until the pause is toggled off (and, under DDP, until a launcher stopped by Ctrl+Z is woken: the
        ranks wait here, agreeing, rather than stopped inside a collective whose clock runs on); a stop still saves
        and stops, a save is served at once."""
        began = time.monotonic()
        why = "asked" if self._paused() else "suspended"
        self.recorder.write(record.paused(epoch=epoch, step=self.progress.step, why=why), sync=True)
        stop = False
        while (self._paused() or self.agreed_suspend) and not stop:
            self._serve_changes(epoch)  # a change asked while paused applies here, at this boundary
            time.sleep(0.05)
            self.recorder.saved_behind()  # the epoch's save, finished while paused: said now
            if self.world.size > 1:
                self._agree()  # every rank waits in step: rank 0's pause, anyone's stop or save
            stop, save = self._asked()
            if save:  # at once, on an epoch's last step too (the position a stop there saves): the user waits on it
                self.save(best=False, requested=True)
        self._serve_changes(epoch)  # asked just before the pause ended: applied before the next step
        if stop:
            self._stop()
        paused = time.monotonic() - began
        self.telemetry.restart()  # the CPU share of the next step event is of training time
        self.recorder.write(record.resumed(epoch=epoch, step=self.progress.step, paused_seconds=paused), sync=True)
        return paused

    # ---- live changes (live_change.py) ----------------------------------------------------------
    def _look_for_change(self, epoch: int) -> None:
        """A new change request in the run folder is scheduled; one that cannot be read is refused. Under DDP
        rank 0 (the one that reads the folder) holds it until the next agreement shares it with every rank:
        applied by rank 0 alone, its rate would differ from the others' and the replicas drift apart."""
        alone = self.world.size == 1
        found = self.changes.look(self._request_folder(), self.progress.step, schedule=alone)
        if isinstance(found, UserError):
            self.recorder.write(record.change(epoch=epoch, step=self.progress.step, id="", refused=str(found)),
                                sync=True)
        elif found is not None and not alone:
            self.to_share.append(found)

    def _serve_changes(self, epoch: int) -> None:
        """A request just asked for, and every change due at this step boundary, applied now."""
        self._look_for_change(epoch)
        if self.progress.step >= self.changes.next_step:
            self._apply_changes(epoch)

    def _apply_changes(self, epoch: int) -> None:
        """Apply the changes whose step has come, at this step boundary: the rate to the optimizer (and its
        schedule), patience and epochs to the live spec; each is a `change` event (synced), or a refusal."""
        p, folder = self.progress, self._request_folder()
        for change in self.changes.due(p.step):
            try:
                spec = live_change.check(self.spec, change, p.epoch)
            except UserError as e:
                self.recorder.write(record.change(epoch=epoch, step=p.step, id=change.id, refused=str(e)), sync=True)
            else:
                lr_from = self.optimizer.param_groups[0]["lr"] if change.lr is not None else None
                if change.lr is not None:
                    live_change.set_lr(self.optimizer, self.scheduler, change.lr)
                self.spec = spec
                self.changes.applied.append({"id": change.id, "epoch": epoch, "step": p.step, **change.values()})
                self.recorder.write(record.change(epoch=epoch, step=p.step, id=change.id, values=change.values(),
                                                  lr_from=lr_from, replayed=change.replayed), sync=True)
            self.changes.consume(folder, change)

    def _refuse_pending(self, epoch: int) -> None:
        """The run has ended: a change still waiting for its step (or asked in the last moments) is refused
        and its file removed, so a later `resume --epochs` does not apply it unasked. (A stopped run keeps
        its request: the resume serves it.)"""
        self._look_for_change(epoch)
        unshared, self.to_share = self.to_share, []  # under DDP: found by rank 0 since the last agreement
        for change in self.changes.due(NEVER_STEP) + unshared:
            before = f"the change's step {change.step}" if change.step is not None else "its next step boundary"
            self.recorder.write(record.change(epoch=epoch, step=self.progress.step, id=change.id,
                                              refused=f"the run ended at step {self.progress.step}, before "
                                                      f"{before}"), sync=True)
            self.changes.consume(self._request_folder(), change)

    def _request_folder(self) -> Path | None:
        """Where change requests are found: the run folder, in the process that writes it (where it is now: a folder
        renamed while its run trains takes its requests there; one gone, none)."""
        if not self.recorder.writes or self.recorder.folder is None:
            return None
        try:
            return self.recorder.folder.follow()
        except FolderGone:
            return None

    def _stop(self) -> None:
        """Save the exact position (mid-epoch) as last.pt, then stop; resume continues from the next step."""
        self.save(best=False)
        reason = self.requests.stop
        self.recorder.write(record.end("interrupted", self.progress, self._run_dir(), reason), sync=True)
        distributed.barrier(self.world)  # every rank leaves once rank 0 has saved: none exits under another's feet
        raise Interrupted(reason)

    def _diverged(self, epoch: int, value: float, what: str = "") -> None:
        t = self.spec.train
        hint = f"lower the learning rate (now {t.lr:g})"
        if not t.grad_clip:
            hint += " or clip gradients (--grad-clip 1.0)"
        folder = self.recorder.folder
        self.recorder.settle(quiet=True)  # an epoch's save still being written: on disk, or not, before it is said
        kept = folder is not None and folder.saved("last")
        msg = (f"training diverged: {what}loss became {value} in epoch {epoch} "
               f"(noticed at step {self.progress.step}: the loss is checked a few times a second); {hint}. "
               + ("The last good checkpoint is kept." if kept else "No checkpoint had been saved yet."))
        raise self.recorder.fail("diverged", msg, epoch, self.progress.step)

    # ---- checkpoints -------------------------------------------------------------------------
    def save(self, best: bool, requested: bool = False, behind: bool = False) -> None:
        """last.pt (and best.pt) through the recorder; weights that are not finite are never saved. `behind`:
        written while training goes on (Recorder.save); a save the user asked for is waited for."""
        rngs = distributed.gather_rng(self.world, self.device.torch)  # every rank's generators (under DDP)
        if not self.recorder.writes:
            return
        self.recorder.settle()  # a save still written behind, done first: never two copies of the state in memory
        state = record.checkpoint_state(self, rngs)
        if not checkpoint.all_finite(state["model"]):
            self._diverged(self.progress.epoch, float("nan"), "a weight of the ")
        self.recorder.save(state, best, requested, behind)

    def optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state_dict as `torch.optim.X(model.parameters())` would give it."""
        state = self.optimizer.state_dict()
        return self.flat.split_state(state) if self.flat else state

    def _run_dir(self) -> str:
        folder = self.recorder.folder
        return str(folder.path) if folder is not None else ""


def saves_behind(device_type: str, world_size: int) -> bool:
    """Whether an epoch's save is written while the next epoch trains (Recorder.save): on a GPU, whose steps would
    otherwise wait on the disk; a CPU's cores train and write alike, and its small models save in a millisecond.
    One process only: under DDP the ranks leave together once rank 0 has saved, which an in-line save keeps plain."""
    return device_type == "cuda" and world_size == 1


def _draw_as_a_validation_loader() -> None:
    """What the tutorial's validation pass over `DataLoader(val_set, batch_size, shuffle=False)` does to torch's
    global generator, the one Dropout draws its masks from: a DataLoader draws its base seed from its generator at
    each pass, and one made without a generator from the global one. The engine validates from tensors; without
    this draw a model with Dropout trained from its second epoch on with other masks than the tutorial's loop."""
    torch.empty((), dtype=torch.int64).random_()


def _signal_number(reason: str) -> int:
    """A stop's reason (a signal's name, "" for none) as the number the ranks agree on: 0 for none; a reason
    that names no signal counts as SIGTERM, as it does for the exit code."""
    if not reason:
        return 0
    return int(signal.Signals.__members__.get(reason, signal.SIGTERM))
