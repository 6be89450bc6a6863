"""Arithmetic precision on request: fp32 (the default, and the only bit-exact mode), tf32, bf16, fp16.

bf16 and fp16 run the forward pass and the loss under `torch.autocast`: matrix products in half
precision, sums and the loss in fp32, the weights and the optimizer in fp32 as always. fp16's
narrow range needs a gradient scaler (`torch.amp.GradScaler`), whose state (the scale and its
growth tracker) is part of the checkpoint, so a resume continues the same run. tf32 lets CUDA
matrix products use TensorFloat-32; on other devices it is fp32. None of these is bit-identical
to fp32: the README says so, and the tests hold each to "trains, and stays close to fp32".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch

from .spec import PRECISIONS

__all__ = ["PRECISIONS", "Precision", "describe", "setup"]


@dataclass
class Precision:
    mode: str
    autocast: Callable[[], ContextManager[Any]]  # entered around the forward pass and the loss
    scaler: Any  # torch.amp.GradScaler for fp16, else None
    description: str  # for the start event: the mode and whether it is exact

    @property
    def mixed(self) -> bool:
        return self.mode in ("bf16", "fp16")


def describe(mode: str, device_type: str, fused: bool = False) -> str:
    """The mode in words, and whether it is exact (the start event's `precision`); `fused`: the optimizer step is
    torch's fused one (optim.fused_optimizer), which a mode that is not exact takes on CUDA."""
    if mode == "fp32":
        return "fp32 (exact)"
    if mode == "tf32" and device_type != "cuda":
        return f"tf32 applies to CUDA only: fp32 on {device_type}"
    words = {"tf32": "tf32 matrix products", "bf16": "bf16 autocast", "fp16": "fp16 autocast with a gradient scaler"}
    return words[mode] + (", fused optimizer step" if fused else "") + " (not bit-exact)"


def setup(mode: str, device_type: str) -> Precision:
    """The precision for a run on `device_type` (cuda | cpu | mps). tf32 is set process-wide: the worker
    is a process of its own."""
    description = describe(mode, device_type)
    if device_type == "cuda":
        # cuDNN's convolution kernels are chosen per call and some add in a varying order: two runs of one Conv2d
        # loop differed on an H200 without this. PyTorch's reproducibility notes ask for both flags.
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    if mode in ("fp32", "tf32"):
        if device_type == "cuda":  # tf32 on request; fp32 puts torch's defaults back (a bench mixes modes)
            torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
            torch.backends.cudnn.allow_tf32 = True  # torch's default for convolutions, as the textbook loop has it
        return Precision(mode, contextlib.nullcontext, None, description)
    dtype = torch.bfloat16 if mode == "bf16" else torch.float16

    def autocast() -> ContextManager[Any]:
        # no cache of cast weights: a CUDA graph capture needs it off (cuda_graph.py), and each weight is cast
        # once per forward pass anyway, so the bits and the speed are the same
        return torch.autocast(device_type, dtype=dtype, cache_enabled=False)

    scaler = torch.amp.GradScaler(device_type) if mode == "fp16" else None
    return Precision(mode, autocast, scaler, description)
