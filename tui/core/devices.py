"""Device choice: `auto` picks a GPU when there is one; a device that is not here is refused early.

Checked before any data is read, so `--device cuda` on a box without a GPU fails in a
second with the fix, not after a minute of loading.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import UserError


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


def _cpu_description() -> str:
    return f"cpu ({torch.get_num_threads()} threads)"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
