"""Several processes training one model: torch.distributed's DistributedDataParallel, under torchrun.

A process learns its place from the environment torchrun (torch's elastic launcher) sets:
RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR / MASTER_PORT. `torchtui run --nproc-per-node N`
starts that launcher itself (launch.py); `torchrun ... -m tui run ...` works as-is. Without
those variables a process is a world of one and nothing here does anything.

What every rank does the same, so no collective ever waits on a rank that took another path:
- the same global epoch order (the same seed and generator as one process), of which each rank
  takes its share of every global batch (`share`): `--batch-size` rows per process, the last
  global batch split as evenly as it goes, each share's loss weighted by its rows so the
  averaged gradient is the global batch's mean (DDP averages over ranks);
- the same decisions: requests (stop, save, pause) are agreed on at every step boundary (`agree`),
  the BatchNorm buffers are made rank 0's before validation, and every rank validates the whole
  split with the same weights, so validation losses, early stopping and schedules agree bit for bit;
- only rank 0 writes (the recorder's main-process gate): events, checkpoints, the run folder.

Backends: gloo on the CPU (a CPU box and CI can run it), NCCL on CUDA, each rank on its
LOCAL_RANK's GPU.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import torch
import torch.distributed as dist

from .errors import UserError

TIMEOUT_ENV = "TORCHTUI_DDP_TIMEOUT"  # seconds a collective waits for the other processes before the run fails
DEFAULT_TIMEOUT = 600.0  # a collective that waits longer means a rank is gone (or hung): fail, not hang
AGREE_EVERY = 8  # steps between the ranks' agreements on requests: a sync point each, measured +25% per step if
# every step (2 gloo processes, a small MLP); a stop, save or pause waits at most this many steps


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    launched: bool = False  # started by torchrun or --nproc-per-node: a process group is (to be) made

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def from_env(environ: Mapping[str, str] = os.environ) -> World:
    """This process's place, from torchrun's variables; a world of one without them."""
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return SINGLE
    try:
        rank, size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise UserError(f"RANK, LOCAL_RANK and WORLD_SIZE must be integers, got RANK={environ.get('RANK')!r}, "
                        f"LOCAL_RANK={environ.get('LOCAL_RANK')!r}, WORLD_SIZE={environ.get('WORLD_SIZE')!r}") from None
    if not 0 <= rank < size:
        raise UserError(f"RANK must be >= 0 and below WORLD_SIZE ({size}), got {rank}")
    return World(rank, local, size, launched=True)


def start(world: World, device_type: str) -> None:
    """Join the process group: NCCL for CUDA, gloo otherwise."""
    if not world.launched or dist.is_initialized():
        return
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
    backend = "nccl" if device_type == "cuda" else "gloo"
    with _stoppable():
        _join(world, backend)


def _join(world: World, backend: str) -> None:
    attempt, limit = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"), timeout()
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and attempt != "0":
        # a group the agent restarted: its store still holds the first group's addresses under the same keys,
        # and gloo would connect to the processes that died; a prefix per attempt keeps the groups apart
        store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world.size,
                              is_master=False, timeout=limit)
        dist.init_process_group(backend, store=dist.PrefixStore(f"torchtui/attempt_{attempt}", store),
                                rank=world.rank, world_size=world.size, timeout=limit)
    else:
        dist.init_process_group(backend, timeout=limit)


def timeout(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How long a collective waits for the other processes: 10 minutes, or TORCHTUI_DDP_TIMEOUT seconds (a cluster
    that wants a hung machine found sooner, a test that must outwait it). A process stopped with SIGSTOP past it
    fails its collective when woken; Ctrl+Z through our launcher does not (launcher_env)."""
    given = environ.get(TIMEOUT_ENV, "").strip()
    if not given:
        return timedelta(seconds=DEFAULT_TIMEOUT)
    try:
        seconds = float(given)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < 1e7:  # (nan too)
        raise UserError(f"{TIMEOUT_ENV} must be a number of seconds above 0, got {given!r}; unset it for 10 minutes")
    return timedelta(seconds=seconds)


def waited(delta: timedelta) -> str:
    """A collective timeout in words: "10 minutes", "5 s"."""
    seconds = delta.total_seconds()
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} s"


@contextlib.contextmanager
def _stoppable() -> Any:
    """SIGTERM, SIGINT and SIGHUP end the process at once (by their default action) while it waits to join the
    group: that wait is in torch's C++ code, where a Python handler never runs, and a stop signal was ignored
    until the rendezvous gave up (`timeout()`). Nothing is written yet, so there is nothing to save."""
    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # a `nohup` stays
            previous[sig] = signal.signal(sig, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def finish(world: World, failed: bool = False) -> None:
    """Leave the group. Not after a failure or a refusal (`failed`): the process ends next (os._exit in a rank), and
    destroying the group just after a collective deadlocked now and then - the main thread, holding the GIL, joined
    a gloo thread that waited for the GIL - so that a refused run hung until the launcher's SIGKILL, 30 s later."""
    if world.launched and dist.is_initialized() and not failed:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.launched:
        dist.barrier()


def share(rows: int, size: int, rank: int) -> tuple[int, int]:
    """(start, count) of `rank`'s share of a global batch of `rows`: contiguous, as even as it goes
    (the first rows % size ranks take one more)."""
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    return start, base + (rank < extra)


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's value, on every rank."""
    if not world.launched:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """The tensor summed over ranks, in place (every rank gets the same bits)."""
    if world.launched:
        dist.all_reduce(t)
    return t


def agree(flags: list[int], world: World, device: torch.device) -> list[int]:
    """Each flag's largest value over the ranks (for yes/no flags: whether any rank says yes): one small
    all-reduce, the same answer on every rank."""
    if world.size == 1:  # alone (torchrun with one process): nobody to agree with
        return flags
    t = torch.tensor(flags, dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [int(v) for v in t.tolist()]


def sync_buffers(model: torch.nn.Module, world: World) -> None:
    """Rank 0's buffers (BatchNorm's running statistics) on every rank: each rank's last step updated its own."""
    if world.size > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def gather_telemetry(sample: dict[str, Any], world: World) -> list[dict[str, Any]] | None:
    """Every rank's telemetry on rank 0 (None elsewhere): one small gather, every RANK_TELEMETRY_EVERY steps."""
    states: list[Any] | None = [None] * world.size if world.is_main else None
    dist.gather_object(sample, states, dst=0)
    return states


RANK_TELEMETRY_EVERY = 100  # steps between gathers of every rank's telemetry: a collective, so never per step


def gather_rng(world: World, device: torch.device) -> list[dict[str, torch.Tensor]] | None:
    """Every rank's random generators, on rank 0 (None elsewhere, and for one process): a rank's Dropout draws
    its own masks, and a resume must give each rank its own generators back to continue exactly."""
    if not world.launched:
        return None
    mine = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(device)
    states: list[Any] | None = [None] * world.size if world.is_main else None
    dist.gather_object(mine, states, dst=0)
    return states


def restore_rng(states: list[dict[str, torch.Tensor]] | None, world: World, device: torch.device) -> bool:
    """This rank's generators from a checkpoint's `rng.ranks`; False when it holds none for this world size."""
    if not world.launched or not states or len(states) != world.size:
        return False
    mine = states[world.rank]
    torch.set_rng_state(mine["torch"])
    if device.type == "cuda" and "cuda" in mine:
        torch.cuda.set_rng_state(mine["cuda"], device)
    return True


def evaluate_shared(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, objective: Any, criterion: Any,
                    batch_size: int, world: World) -> tuple[float, torch.Tensor]:
    """Validation split over the ranks: each evaluates its contiguous share of the rows (with the same weights),
    the loss sums are all-reduced and the outputs gathered in row order, so every rank holds the whole split's
    loss (weighted by rows, up to the order of the sums) and metrics."""
    from .objective import evaluate

    first, count = share(len(x), world.size, world.rank)
    loss, outputs = evaluate(model, x[first:first + count], y[first:first + count], objective, criterion, batch_size)
    total = torch.tensor([loss * count], dtype=torch.float64, device=x.device)
    dist.all_reduce(total)
    most = share(len(x), world.size, 0)[1]  # the first share is the largest
    padded = torch.zeros((most, *outputs.shape[1:]), dtype=outputs.dtype, device=x.device)
    padded[:count] = outputs.to(x.device)
    gathered = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(gathered, padded)
    parts = [g[:share(len(x), world.size, r)[1]] for r, g in enumerate(gathered)]
    return float(total) / max(len(x), 1), torch.cat(parts).cpu()
