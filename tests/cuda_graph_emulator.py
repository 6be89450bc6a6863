"""CUDA graph capture and replay emulated on a CPU, so that tui/core/cuda_graph.py's own capture code runs in CI.

Why: a re-run of the step's Python at each "replay" would hide exactly the faults a real graph has. A CUDA
graph records kernels, not Python: a value the Python computes once (a step count, a learning rate, a host
float) is frozen into the graph, capturing runs no kernel at all (what capture-time tensors hold is garbage,
and state is left untouched), and anything that needs the host mid-capture (`.item()`, `bool(t)`,
`nonzero`) is refused. This stand-in keeps those three rules:

- capture records every aten op the body dispatches (a `TorchDispatchMode`, under autograd and autocast, so
  backward's kernels and autocast's casts are recorded too), with the very tensors it used;
- when capture ends, every tensor that existed before it gets back its old values, the RNG its old state,
  and tensors the capture made are filled with garbage (NaN, or -7 for integers): "capturing ran nothing";
- `replay()` runs the recorded ops again, in order, on the same tensors (a fresh output's new values are
  copied into the recorded tensor, as a replay rewrites the graph pool's memory); no Python of the body runs;
- a host sync during capture raises CUDA's own error; an out-of-memory is raised mid-capture where the
  capture's tensors pass the emulated device's room (a process cap, `set_per_process_memory_fraction`), or at
  a chosen op (`fail_after`); and at a chosen op of a chosen warm-up step (`warmup_fault`).

Random ops draw from the CPU generator at each replay, in the eager order: what a real graph does with its
Philox offsets. `install(monkeypatch)` puts the stand-ins where cuda_graph.py looks (torch.cuda.CUDAGraph,
torch.cuda.graph, streams, synchronize, the memory counters).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

CAPTURING = "CUDA error: operation not permitted when stream is capturing"
aten = torch.ops.aten
HOST_SYNC = {aten._local_scalar_dense.default, aten.is_nonzero.default, aten.equal.default, aten.nonzero.default,
             aten.masked_select.default, aten._unique2.default, aten.unique_consecutive.default,
             aten.unique_dim.default}


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _garbage(t: torch.Tensor) -> None:
    with torch.no_grad():
        if t.is_floating_point() or t.is_complex():
            t.fill_(float("nan"))
        elif t.dtype == torch.bool:
            t.fill_(True)
        else:
            t.fill_(-7)


@dataclass
class Op:
    func: Any
    args: tuple
    kwargs: dict
    outputs: list[torch.Tensor]  # as recorded
    fresh: list[int]  # which outputs the op made (not views or in-place results of its inputs)


@dataclass
class EmulatedGraph:
    """torch.cuda.CUDAGraph's stand-in: what capture recorded, and `replay()`."""

    fail_after: int | None = None  # raise an out-of-memory at this op of the capture (a test's fault)
    room: Any = None  # bytes the capture may take before it runs out of memory (the emulator's cap), or None
    ops: list[Op] = field(default_factory=list)
    replays: int = 0
    pool_bytes: int = 0  # what the capture's fresh tensors hold: the graph pool
    failed: bool = False  # the capture raised: there is nothing to replay
    tensors_made: list[weakref.ref] = field(default_factory=list)  # the capture's own tensors (its pool's)

    def replay(self) -> None:
        assert not self.failed, "replay of a graph whose capture failed"
        self.replays += 1
        with torch.no_grad():
            for op in self.ops:
                outputs = _tensors(op.func(*op.args, **op.kwargs))
                for i in op.fresh:
                    op.outputs[i].copy_(outputs[i])


class _Recorder(TorchDispatchMode):
    def __init__(self, graph: EmulatedGraph) -> None:
        super().__init__()
        self.graph = graph
        self.storages_made: set[int] = set()  # storages the capture allocated
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []  # (a pre-existing tensor, its value before)
        self.seen: set[tuple] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_SYNC:
            raise RuntimeError(f"{CAPTURING} ({func} needs the host)")
        if self.graph.fail_after is not None and len(self.graph.ops) >= self.graph.fail_after:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.graph.room is not None and self.pool() > self.graph.room():
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {self.pool()} bytes")
        inputs = _tensors((args, kwargs))
        for t in inputs:  # the first sight of pre-existing state: its value, to put back when capture ends
            key = (_storage(t), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
            if t.numel() and _storage(t) not in self.storages_made and key not in self.seen:
                self.seen.add(key)
                self.saved.append((t, t.detach().clone()))
        out = func(*args, **kwargs)
        outputs = _tensors(out)
        used = {_storage(t) for t in inputs}
        fresh = [i for i, t in enumerate(outputs) if t.numel() and _storage(t) not in used]
        self.storages_made.update(_storage(outputs[i]) for i in fresh)
        self.graph.tensors_made.extend(weakref.ref(outputs[i]) for i in fresh)
        self.graph.ops.append(Op(func, args, kwargs, outputs, fresh))
        return out

    def pool(self) -> int:
        """What the capture's own tensors take so far."""
        return sum(op.outputs[i].untyped_storage().nbytes() for op in self.graph.ops for i in op.fresh)

    def ran_nothing(self) -> None:
        """Capture leaves state as it found it; what it allocated holds garbage until a replay."""
        with torch.no_grad():
            for t, before in reversed(self.saved):
                if all(stride or size == 1 for stride, size in zip(t.stride(), t.shape)):  # not an expanded view
                    t.copy_(before)
        pool = {}
        for op in self.graph.ops:
            for i in op.fresh:
                _garbage(op.outputs[i])
                pool[_storage(op.outputs[i])] = op.outputs[i].untyped_storage().nbytes()
        self.graph.pool_bytes = sum(pool.values())
        self.saved.clear()


class EmulatedCapture:
    """torch.cuda.graph(g)'s stand-in: records the block into g; on an error mid-capture, ran nothing too."""

    def __init__(self, graph: EmulatedGraph, *args: Any, **kwargs: Any) -> None:
        self.graph, self.recorder = graph, _Recorder(graph)

    def __enter__(self) -> None:
        self.rng = torch.get_rng_state()
        self.recorder.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.recorder.__exit__(*exc)
        self.recorder.ran_nothing()
        torch.set_rng_state(self.rng)
        if exc[0] is not None:
            self.graph.failed, self.graph.ops, self.graph.pool_bytes = True, [], 0


class _Stream:
    def wait_stream(self, other: Any) -> None:
        pass


class _OutOfMemoryAt(TorchDispatchMode):
    """An out-of-memory at the `at`-th op dispatched inside the block (a warm-up step on its side stream), or
    none: the ops it dispatched, counted."""

    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.at, self.ops = at, 0  # at None: none, the ops counted

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.at is not None and self.ops >= self.at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 MiB")
        self.ops += 1
        return func(*args, **(kwargs or {}))


@dataclass
class Emulator:
    """What a test can steer and see: the graphs made; an out-of-memory at a chosen op of each capture; and a
    device's memory: `total` bytes, a process cap (`fraction`), the graphs' pools, and `cached`, the blocks the
    eager steps took and gave back (as torch's caching allocator keeps them, until empty_cache)."""

    fail_after: int | None = None
    # (warm-up step, op): an out-of-memory at that op of that warm-up step (counted from 0), on its side stream
    warmup_fault: tuple[int, int] | None = None
    warmups: int = 0  # side-stream blocks entered: the warm-up steps run
    warmup_ops: list[_OutOfMemoryAt] = field(default_factory=list)  # each warm-up step's ops (`.ops`)
    graph_refs: list[weakref.ref] = field(default_factory=list)  # a graph's pool is the device's until it is dropped
    total: int = 2**34
    fraction: float = 1.0
    cached: int = 0
    peak: int = 0  # the most reserved since reset_peak (as seen when asked: the capture code asks after each)
    # the most tensors of a failed or dropped capture still alive when the cache was emptied: each keeps its
    # block of the graph's pool from being given back (0 is right)
    stranded: int = 0
    pools_made: list[tuple[weakref.ref, list[weakref.ref]]] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)  # the GraphedSteps made, which capture as on CUDA

    def new_graph(self) -> EmulatedGraph:
        graph = EmulatedGraph(fail_after=self.fail_after, room=self.room_for_a_capture)
        self.graph_refs.append(weakref.ref(graph))
        self.pools_made.append((weakref.ref(graph), graph.tensors_made))
        return graph

    @property
    def graphs(self) -> list[EmulatedGraph]:
        """The graphs not yet dropped."""
        return [g for g in (ref() for ref in self.graph_refs) if g is not None]

    def pools(self) -> int:
        return sum(g.pool_bytes for g in self.graphs)

    def reserved(self, device: Any = None) -> int:
        now = self.pools() + self.cached
        self.peak = max(self.peak, now)
        return now

    def peak_reserved(self, device: Any = None) -> int:
        return max(self.peak, self.reserved())

    def reset_peak(self, device: Any = None) -> None:
        self.peak = 0

    def allocated(self, device: Any = None) -> int:
        return self.pools()

    def room_for_a_capture(self) -> int:
        return int(self.total * self.fraction) - self.reserved()

    def mem_get_info(self, device: Any = None) -> tuple[int, int]:
        return self.total - self.reserved(), self.total

    def empty_cache(self) -> None:
        self.cached = 0
        gone = [tensors for ref, tensors in self.pools_made if ref() is None or ref().failed]  # type: ignore[union-attr]
        self.stranded = max(self.stranded, sum(t() is not None for tensors in gone for t in tensors))

    def set_fraction(self, fraction: float, device: Any = None) -> None:
        self.fraction = fraction

    def stream(self, stream: Any) -> Any:
        """torch.cuda.stream(side): the warm-up's block, where `warmup_fault` strikes."""
        step, self.warmups = self.warmups, self.warmups + 1
        fault = self.warmup_fault
        self.warmup_ops.append(_OutOfMemoryAt(fault[1] if fault is not None and fault[0] == step else None))
        return self.warmup_ops[-1]


def install(monkeypatch: Any) -> Emulator:
    """torch.cuda's capture API and memory counters, emulated on the CPU for the rest of the test; a GraphedStep
    made on the CPU warms up and captures as on CUDA (whether a run is graphed at all is `decide`'s: the caller's)."""
    from tui.core.cuda_graph import GraphedStep

    emulator = Emulator()
    made_step = GraphedStep.__init__

    def capturing(step: GraphedStep, *args: Any, **kwargs: Any) -> None:
        made_step(step, *args, **kwargs)
        step.capture = True
        emulator.steps.append(step)

    monkeypatch.setattr(GraphedStep, "__init__", capturing)
    cuda = torch.cuda
    monkeypatch.setattr(cuda, "CUDAGraph", emulator.new_graph)
    monkeypatch.setattr(cuda, "graph", EmulatedCapture)
    monkeypatch.setattr(cuda, "Stream", _Stream)
    monkeypatch.setattr(cuda, "current_stream", lambda *a, **k: _Stream())
    monkeypatch.setattr(cuda, "stream", emulator.stream)
    monkeypatch.setattr(cuda, "synchronize", lambda *a, **k: None)
    monkeypatch.setattr(cuda, "empty_cache", emulator.empty_cache)
    monkeypatch.setattr(cuda, "memory_reserved", emulator.reserved)
    monkeypatch.setattr(cuda, "memory_allocated", emulator.allocated)
    monkeypatch.setattr(cuda, "mem_get_info", emulator.mem_get_info)
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda device=None: emulator.fraction)
    monkeypatch.setattr(cuda, "set_per_process_memory_fraction", emulator.set_fraction)
    return emulator
