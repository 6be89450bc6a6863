"""The training step replayed as one CUDA graph: the GPU, not the host, sets the pace.

Why: a small model's step on a GPU is bound by the host launching some forty small kernels one
at a time (an H200 ran the engine at 0.6x of two CPU cores). A CUDA graph records those launches
once and replays them with one (`torch.cuda.graph`, the "whole network capture" of PyTorch's
CUDA semantics notes).

What is captured, and what is not, so that the weights stay bit-identical to the eager engine
and to the textbook loop:
- captured: the batch's rows gathered into static buffers (the epoch's order lives on the
  device, a device counter says which batch is next), zero_grad, the forward pass and the loss,
  backward, gradient clipping, and the epoch's loss sum. These are the kernels eager runs, on
  the same inputs, so they give the same bits.
- left eager: the optimizer step and a per-batch schedule. Their per-step numbers (Adam's bias
  corrections, the learning rate) are host floats that a graph would freeze at capture; torch's
  `capturable` optimizers compute them on the device with other rounding, so a graphed optimizer
  would not be bit-identical to the textbook loop. On the flat parameter buffer (flat.py) the
  optimizer is a handful of kernels, and schedules and live learning-rate changes work as ever.
- the last, shorter batch of an epoch runs eagerly, as does a run the graph cannot serve
  (`decide` says which and why; the start event carries its words).

The graph is captured once per process, after WARMUP_STEPS steps run eagerly on a side stream (real
training steps, like any other). A capture that fails, out of memory included, or a warm-up step
that runs out of memory, leaves the run eager, as does a capture whose pool would leave the eager
steps (the epoch's last batch, the optimizer, validation) less memory than they took in the warm-up:
a model that fits without a graph must not run out of memory because of one. The `cuda_graph` event
says what happened either way, with the capture's time and the memory its pool holds. On other
devices `GraphedStep` runs the same body eagerly every step: the tests check on the CPU that this
path gives the eager engine's weights, and with capture and replay emulated
(tests/cuda_graph_emulator.py), that the capture code keeps a graph's rules.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch
from torch import nn

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as PyTorch's capture recipe asks
WORTH_STEPS = 200  # auto: a run with fewer full-batch steps than this would not repay a capture


@dataclass(frozen=True)
class Decision:
    use: bool
    description: str  # the start event's `cuda_graphs`: the mode and why


def decide(mode: str, device_type: str, *, on_nan: str, dataset_class: bool, precision: str, flat: bool,
           full_batches: int, epochs: int, distributed: bool = False) -> Decision:
    """Whether this run's steps are replayed as a CUDA graph (`mode`: auto | on | off), and why (not)."""
    if mode == "off":
        return Decision(False, "off (--cuda-graphs off)")
    if device_type != "cuda":
        return Decision(False, f"off: CUDA graphs need a CUDA device, this run is on {device_type}")
    if distributed:
        return Decision(False, "off: a run of several processes (DDP) steps eagerly")
    if on_nan == "skip":
        return Decision(False, "off: --on-nan skip checks every step's loss on the host")
    if dataset_class:
        return Decision(False, "off: batches come from your Dataset class through a DataLoader and may vary in shape")
    if precision == "fp16":
        return Decision(False, "off: fp16's gradient scaler checks every step for overflow on the host")
    if not flat:
        return Decision(False, "off: the parameters are not of one dtype and device")
    if full_batches < 1:
        return Decision(False, "off: the batch size is above the training rows, so there is no full batch")
    if mode == "auto" and full_batches * epochs < WORTH_STEPS:
        return Decision(False, f"off: {full_batches * epochs} steps are too few to repay a capture "
                               "(--cuda-graphs on captures anyway)")
    return Decision(True, "on: forward and backward replayed as one CUDA graph, the optimizer step eager "
                          "(the same bits as without)")


@dataclass(frozen=True)
class Capture:
    """What capturing cost, or why it failed (the `cuda_graph` event)."""

    captured: bool
    seconds: float  # the capture itself, synchronised, after the warm-up steps
    warmup_steps: int
    memory_mb: float  # GPU memory the graph's pool added (activations and gradients of the step)
    reason: str = ""


class GraphedStep:
    """One training step's work on static buffers: `step()` runs it (warm-up, capture, then replay)."""

    def __init__(self, model: nn.Module, criterion: Callable[..., torch.Tensor], zero_grad: Callable[[], None],
                 x: torch.Tensor, y: torch.Tensor, batch_size: int, clip: float,
                 autocast: Callable[[], ContextManager[Any]] | None) -> None:
        self.model, self.criterion, self.zero_grad = model, criterion, zero_grad
        self.x, self.y, self.batch_size, self.clip, self.autocast = x, y, batch_size, clip, autocast
        self.full = len(x) // batch_size  # full batches per epoch: the ones the graph replays
        dev = x.device
        self.rows = torch.zeros((max(self.full, 1), batch_size), dtype=torch.int64, device=dev)
        self.pos = torch.zeros(1, dtype=torch.int64, device=dev)  # the next batch, counted on the device
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=dev)
        self.capture = dev.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side: Any = None  # the warm-up's stream (torch.cuda.Stream), made at the first warm-up step
        self.warm = 0
        self.failed = False

    def start_epoch(self, order: torch.Tensor, skip: int, loss_sum: float) -> torch.Tensor:
        """The epoch's order into the static buffer, `skip` batches done; the epoch's loss sum (returned)."""
        self.rows.copy_(order[:self.full * self.batch_size].view(self.full, self.batch_size))
        self.pos.fill_(skip)
        self.loss_sum.fill_(loss_sum)
        return self.loss_sum

    def gather(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch's rows, by the device counter: the batch `DataLoader(shuffle=True)` would give."""
        idx = self.rows.index_select(0, self.pos).view(-1)
        return self.x.index_select(0, idx), self.y.index_select(0, idx)

    def body(self) -> None:
        """zero_grad, forward, loss, backward, clipping, the loss sum, the counter: what the graph holds."""
        xb, yb = self.gather()
        self.zero_grad()
        if self.autocast is not None:
            with self.autocast():
                loss = self.criterion(self.model(xb), yb)
        else:
            loss = self.criterion(self.model(xb), yb)
        loss.backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.loss_sum.add_(loss.detach(), alpha=self.batch_size)
        self.pos.add_(1)

    def step(self) -> Capture | None:
        """This batch's step up to the optimizer; the capture's report on the step that captured."""
        if self.graph is not None:
            self.graph.replay()
            return None
        if not self.capture or self.failed:
            self.body()
            return None
        if self.warm < WARMUP_STEPS:
            return self._warm_up()
        return self._capture()

    def _warm_up(self) -> Capture | None:
        """A real step on a side stream, as the capture recipe asks (lazy inits happen off the capture). One
        stream for all of them: the allocator caches blocks per stream, and the memory the warm-up leaves
        cached is what `_capture` takes as the eager steps' need.

        That cache is on top of the main stream's, so a model that fits eagerly can run out of memory here (an
        H200 did, under a memory cap between the eager and the graphed peak). Then the run goes on eagerly, with
        the step's state as it was before it: the buffers a forward pass updates (BatchNorm's running
        statistics), the random state Dropout drew from, the loss sum and the counter. The step then runs again
        from zero_grad on, and the weights are the eager engine's to the bit."""
        if self.side is None:
            self.side = torch.cuda.Stream()
        side, dev = self.side, self.x.device
        before = self._state()
        began, failure = time.perf_counter(), ""
        side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(side):
                self.body()
        except torch.cuda.OutOfMemoryError as e:
            failure = f"out of memory in warm-up step {self.warm + 1} of {WARMUP_STEPS}: {str(e).splitlines()[0]}"
        torch.cuda.current_stream().wait_stream(side)
        if failure:  # out of the except clause: its traceback's frames held the step's tensors
            self._restore(before, dev)
            return self._eager_instead(began, failure)
        self.warm += 1
        return None

    def _state(self) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """What a step changes besides the gradients (which zero_grad resets): buffers, the loss sum, the
        counter; and the random state. A few small copies, for the warm-up steps only."""
        kept = [t.detach().clone() for t in (*self.model.buffers(), self.loss_sum, self.pos)]
        cuda_rng = torch.cuda.get_rng_state(self.x.device) if self.x.device.type == "cuda" else None
        return kept, torch.get_rng_state(), cuda_rng

    def _restore(self, state: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None], dev: torch.device) -> None:
        kept, cpu_rng, cuda_rng = state
        with torch.no_grad():
            for t, old in zip((*self.model.buffers(), self.loss_sum, self.pos), kept):
                t.copy_(old)
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, dev)

    def _capture(self) -> Capture:
        """Record this step as the graph and replay it (capturing runs nothing). If the capture fails, or its pool
        would leave the steps run without it (the epoch's last batch, the optimizer, validation) less room than
        they took in the warm-up, the graph goes and this step and the rest run eagerly."""
        dev = self.x.device
        torch.cuda.synchronize(dev)
        # what the eager steps took and gave back (activations, the optimizer's temporaries), still cached; freed
        # here, so that what the reserve grows by is the graph's pool alone
        eager_need = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        torch.cuda.empty_cache()
        began, before = time.perf_counter(), torch.cuda.memory_reserved(dev)
        graph = torch.cuda.CUDAGraph()
        failure = ""
        try:
            with torch.cuda.graph(graph):
                self.body()
        except Exception as e:  # out of memory, or an op that cannot be captured: this run stays eager
            kind = "out of memory" if isinstance(e, torch.cuda.OutOfMemoryError) else type(e).__name__
            failure = f"{kind}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        if failure:  # out of the except clause: its traceback's frames held tensors of the graph's pool
            del graph
            return self._eager_instead(began, failure)
        torch.cuda.synchronize(dev)
        pool = torch.cuda.memory_reserved(dev) - before
        room = room_outside_graph(dev)
        if room < eager_need:  # it fits, but the steps it does not hold would run out of memory beside it
            del graph
            return self._eager_instead(began, f"out of memory: beside the graph's pool ({pool / 2**20:,.0f} MiB) "
                                              f"the eager steps would have {max(room, 0) / 2**20:,.0f} MiB, and "
                                              f"they need {eager_need / 2**20:,.0f} MiB")
        self.graph = graph
        graph.replay()  # capturing ran nothing: this step
        torch.cuda.synchronize(dev)
        return Capture(True, time.perf_counter() - began, self.warm, pool / 2**20)

    def _eager_instead(self, began: float, reason: str) -> Capture:
        """No graph for this run (its memory given back): this step, and every later one, eagerly."""
        self.failed = True
        dev = self.x.device
        # a backward that failed midway leaves its unrun nodes, which hold the capture's activations, queued in
        # autograd's ready queue until the next backward: an empty one drains them, and a collection frees any
        # cycle still holding the graph, so that its pool is given back before the eager step needs the memory
        torch.zeros(1, device=dev, requires_grad=True).sum().backward()
        gc.collect()
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        self.body()  # a failed or dropped capture ran nothing: this step, eagerly
        return Capture(False, time.perf_counter() - began, self.warm, 0.0, reason[:300])


def room_outside_graph(dev: torch.device) -> int:
    """Bytes the allocator can still get for the steps outside the graph: the device's free memory, within
    the process's cap (`torch.cuda.set_per_process_memory_fraction`). Blocks the graph's pool keeps are not
    theirs to reuse, so they do not count."""
    free, total = torch.cuda.mem_get_info(dev)
    cap = getattr(torch.cuda, "get_per_process_memory_fraction", None)  # torch >= 2.9
    fraction = cap(dev) if cap is not None else 1.0
    return int(min(free, total * fraction - torch.cuda.memory_reserved(dev)))
