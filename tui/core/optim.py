"""The optimizer and the learning-rate schedule, built as a user would build them."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .spec import TrainSpec


def state_copies(t: TrainSpec) -> int:
    """How many tensors the size of the weights the optimizer keeps (Adam: two moments; SGD: its momentum, if any),
    for the memory a stack needs to train (layers.resolve)."""
    if t.optimizer in ("Adam", "AdamW"):
        return 2
    return int(t.momentum > 0) + (t.optimizer == "RMSprop")


def fused_optimizer(t: TrainSpec, device_type: str) -> bool:
    """Whether the optimizer step is torch's fused one: on CUDA, in a precision that is not bit-exact anyway.

    Why: with the forward and backward replayed as one CUDA graph (cuda_graph.py), the eager optimizer's some ten
    launches were the larger part of a wide MLP's bf16 step on an H200 (0.195 of 0.43 ms at batch 4096); fused,
    they are one. fp32 keeps the multi-tensor loop, whose bits the textbook loop has. RMSprop has no fused step.
    """
    if device_type != "cuda" or t.precision == "fp32":
        return False
    kind = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}.get(t.optimizer)
    return kind is not None and "fused" in inspect.signature(kind).parameters  # SGD's came in torch 2.3


def make_optimizer(t: TrainSpec, params: list[torch.Tensor], device_type: str) -> torch.optim.Optimizer:
    """The optimizer as a user would build it, with the loop that suits its tensors.

    On CUDA it is the multi-tensor (foreach) loop, the one torch picks for a user's loop there: the per-tensor
    loop rounds otherwise on CUDA (Adam's division by its bias correction, a host float, runs as a
    multiplication by the reciprocal), and an H200 measured Adam and AdamW off the textbook loop's bits with it.
    Over one flat tensor (flat.py) the foreach loop does per element what it does over the model's tensors.
    On the CPU the Trainer's one flat tensor takes the per-tensor loop, a single pass, half the time of the
    foreach one; for several tensors foreach gives the same bits as the per-tensor loop there (the exactness
    tests check it) with less Python per step. `fused` (one kernel) is faster still but rounds differently, so an
    exact run (fp32, the default) does not use it; a run that asked for tf32, bf16 or fp16 on CUDA has given up
    fp32's bits already and takes it where torch has it (`fused_optimizer`).
    """
    loop: dict[str, Any]  # fused=True, or the foreach choice (SGD took no `fused` before torch 2.3)
    if fused_optimizer(t, device_type):
        loop = {"fused": True}
    elif device_type == "cuda":
        loop = {"foreach": True}
    elif len(params) == 1:
        loop = {"foreach": False}
    else:
        loop = {"foreach": True if device_type == "cpu" else None}
    if t.optimizer == "SGD":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay,
                               **loop)
    if t.optimizer == "Adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, **loop)
    if t.optimizer == "AdamW":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, **loop)
    return torch.optim.RMSprop(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, **loop)


def make_scheduler(t: TrainSpec, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
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
