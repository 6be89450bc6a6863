"""The optimizer and the learning-rate schedule, built as a user would build them."""

from __future__ import annotations

import torch

from .spec import TrainSpec


def state_copies(t: TrainSpec) -> int:
    """How many tensors the size of the weights the optimizer keeps (Adam: two moments; SGD: its momentum, if any),
    for the memory a stack needs to train (layers.resolve)."""
    if t.optimizer in ("Adam", "AdamW"):
        return 2
    return int(t.momentum > 0) + (t.optimizer == "RMSprop")


def make_optimizer(t: TrainSpec, params: list[torch.Tensor], device_type: str) -> torch.optim.Optimizer:
    """The optimizer as a user would build it, with the loop that suits its tensors.

    On CUDA it is the multi-tensor (foreach) loop, the one torch picks for a user's loop there: the per-tensor
    loop rounds otherwise on CUDA (Adam's division by its bias correction, a host float, runs as a
    multiplication by the reciprocal), and an H200 measured Adam and AdamW off the textbook loop's bits with it.
    Over one flat tensor (flat.py) the foreach loop does per element what it does over the model's tensors.
    On the CPU the Trainer's one flat tensor takes the per-tensor loop, a single pass, half the time of the
    foreach one; for several tensors foreach gives the same bits as the per-tensor loop there (the exactness
    tests check it) with less Python per step. `fused` would be faster still but rounds differently, so it is
    not used.
    """
    foreach: bool | None
    if device_type == "cuda":
        foreach = True
    elif len(params) == 1:
        foreach = False
    else:
        foreach = True if device_type == "cpu" else None
    if t.optimizer == "SGD":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay,
                               foreach=foreach)
    if t.optimizer == "Adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, foreach=foreach)
    if t.optimizer == "AdamW":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, foreach=foreach)
    return torch.optim.RMSprop(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, foreach=foreach)


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
