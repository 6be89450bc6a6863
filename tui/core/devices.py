"""Device choice: `auto` picks a GPU when there is one; a device that is not here is refused early.

Checked before any data is read, so `--device cuda` on a box without a GPU fails in a
second with the fix, not after a minute of loading. `available` lists the choices for the
screen's picker, and `Telemetry` is what users of a shared GPU box watch besides the loss.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from .errors import UserError
from .spec import ALL_GPUS

# torch's own choice for this process (OMP_NUM_THREADS, else the physical cores), read before anything sets it
DEFAULT_THREADS = torch.get_num_threads()


def use_threads(n: int) -> int:
    """Compute with `n` intra-op threads (0: torch's default here); the count used. The count is part of a
    run: a CPU reduction split over another number of threads can round differently."""
    n = n or DEFAULT_THREADS
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or taskset's limit), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Device:
    torch: torch.device
    description: str

    @property
    def type(self) -> str:
        return self.torch.type


def resolve(name: str) -> Device:
    if name == "auto":
        if torch.cuda.is_available():
            return _cuda(0)
        if _mps_available():
            return Device(torch.device("mps"), "mps (Apple GPU)")
        return Device(torch.device("cpu"), _cpu_description())
    if name == "cpu":
        return Device(torch.device("cpu"), _cpu_description())
    if name == "mps":
        if not _mps_available():
            raise UserError("device mps is not available here (no Apple GPU); use --device cpu or auto")
        return Device(torch.device("mps"), "mps (Apple GPU)")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {name} is not available here: torch sees no CUDA GPU "
                            f"(torch {torch.__version__}); use --device cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise UserError(f"device {name} does not exist: this machine has {count} CUDA GPU(s), {have}")
        return _cuda(index)
    raise UserError(f"train.device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")


def _cuda(index: int) -> Device:
    props = torch.cuda.get_device_properties(index)
    return Device(torch.device("cuda", index), f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)")


def held_by_others(device: torch.device) -> int:
    """Bytes of `device`'s memory that other processes hold (0 off CUDA, or when it cannot be told): the card's
    used memory less this process's, its CUDA context allowed for. An out-of-memory on a shared box is often
    theirs, and then a smaller batch is not the fix."""
    if device.type != "cuda":
        return 0
    try:
        free, total = torch.cuda.mem_get_info(device)
        ours = torch.cuda.memory_reserved(device)
    except Exception:  # a driver that cannot say
        return 0
    context = 1 << 30  # a CUDA context and its libraries' workspaces: up to about a GiB, not in memory_reserved
    return max(0, total - free - ours - context)


def out_of_memory_advice(device: torch.device, batch_size: int | None) -> str:
    """What an out-of-memory calls for: a smaller batch or model (`batch_size` None: placing the model and the data,
    before any batch), or, when other processes hold much of the card, a card they leave free first."""
    own = (f"try a smaller --batch-size than {batch_size} or a smaller model" if batch_size is not None else
           "use a smaller model, or --device cpu")
    others = held_by_others(device)
    if device.type == "cuda" and others >= 2 << 30:
        total = torch.cuda.mem_get_info(device)[1]
        return (f"other processes hold {others / 2**30:,.1f} GiB of its {total / 2**30:,.0f} GiB (`nvidia-smi` "
                f"lists them): pick a GPU they leave free (--device cuda:N) or wait for them, or {own}")
    return own


def _cpu_description() -> str:
    return f"cpu ({threads_text(torch.get_num_threads())})"


def threads_text(n: int) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available() -> list[tuple[str, str]]:
    """(value, label) for each device that exists here, `auto` first, for a device picker.

    GPU names and free memory come from nvidia-smi, so the caller (the screen) never creates
    a CUDA context of its own, which would hold GPU memory for as long as it runs.
    """
    gpus: list[tuple[str, str]] = []
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    smi = _nvidia_smi(count) if count else None
    for i in range(count):
        name, free = smi[i] if smi else (torch.cuda.get_device_name(i), "")
        gpus.append((f"cuda:{i}", f"cuda:{i}  {name}" + (f"  {free}" if free else "")))
    if count > 1:  # the picker's way to DDP: device cuda with run.processes = gpu (the screen sets both)
        gpus.append((ALL_GPUS, f"all {count} GPUs (DDP)"))
    mps = [("mps", "mps (Apple GPU)")] if _mps_available() else []
    picked = gpus[0][1].split("  ")[:2] if gpus else [mps[0][0] if mps else "cpu"]
    return [("auto", f"auto ({' '.join(picked)})"), *gpus, *mps, ("cpu", "cpu")]  # its threads: a field of their own


def _nvidia_smi(count: int) -> list[tuple[str, str]] | None:
    """(name, '<free> / <total> GiB free') per CUDA index, or None when nvidia-smi cannot say which GPU
    is which: CUDA numbers the GPUs CUDA_VISIBLE_DEVICES shows, fastest first unless
    CUDA_DEVICE_ORDER=PCI_BUS_ID, while nvidia-smi numbers all of them in bus order."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,name,memory.used,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=3, check=True).stdout
        rows = {}
        for line in out.strip().splitlines():
            index, name, used, total = _smi_fields(line)
            rows[int(index)] = (name, float(used), float(total))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        order = [int(v) for v in visible.split(",")] if visible is not None else sorted(rows)
    except ValueError:  # GPU UUIDs or MIG names: no index to map
        return None
    order = list(itertools.takewhile(lambda i: i >= 0, order))  # CUDA stops at the first negative index
    if len(order) < count or any(i not in rows for i in order[:count]):
        return None
    chosen = [rows[i] for i in order[:count]]
    if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID" and len({name for name, _, _ in chosen}) > 1:
        return None  # CUDA may have put the faster model first
    return [(name, f"{(total - used) / 1024:.1f} / {total / 1024:.1f} GiB free") for name, used, total in chosen]


def _smi_fields(line: str) -> tuple[str, str, str, str]:
    """index, name, used, total; a GPU name may itself hold a comma."""
    index, rest = line.split(",", 1)
    name, used, total = rest.rsplit(",", 2)
    return index.strip(), name.strip(), used.strip(), total.strip()


class Telemetry:
    """This process's CPU and memory, and its GPU's memory and load, for each step event.

    Read a few times a second, never per step, and nothing here waits for the device:
    the memory counters are the caching allocator's own, utilization is asked of NVML.
    """

    def __init__(self, device: Device):
        self.device = device.torch
        self.cuda = device.type == "cuda"
        self.nvml = self.cuda  # until NVML fails once (no pynvml, no driver access): then never asked again
        self.total_mb = torch.cuda.get_device_properties(self.device).total_memory / 2**20 if self.cuda else 0.0
        self.restart()

    def restart(self) -> None:
        """Start the CPU share afresh, e.g. after a pause that should not dilute it."""
        self._cpu, self._wall = time.process_time(), time.monotonic()

    def sample(self) -> dict[str, Any]:
        cpu, wall = time.process_time(), time.monotonic()
        out: dict[str, Any] = {"cpu_percent": 100.0 * (cpu - self._cpu) / max(wall - self._wall, 1e-9),
                               "rss_mb": rss_mb()}
        self._cpu, self._wall = cpu, wall
        if self.cuda:
            out["gpu_mem_mb"] = torch.cuda.memory_allocated(self.device) / 2**20
            out["gpu_reserved_mb"] = torch.cuda.memory_reserved(self.device) / 2**20
            out["gpu_total_mb"] = self.total_mb
            if self.nvml:
                try:
                    out["gpu_util"] = torch.cuda.utilization(self.device)
                except Exception:
                    self.nvml = False
        return out


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Resident memory now (Linux /proc); elsewhere the peak, the best the platform offers cheaply."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
