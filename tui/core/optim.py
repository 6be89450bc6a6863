"""The optimizer and the learning-rate schedule, built as a user would build them."""

from __future__ import annotations

import torch

from .spec import TrainSpec


def make_optimizer(t: TrainSpec, params: list[torch.Tensor], device_type: str) -> torch.optim.Optimizer:
    """The optimizer as a user would build it, with the loop that suits its tensors.

    The Trainer hands it one flat tensor when it can (see flat.py): the per-tensor loop is then
    a single pass, half the time of the multi-tensor (foreach) one. For several tensors foreach
    gives the same bits as the per-tensor loop on the CPU (the exactness tests check it) with less
    Python per step. `fused` would be faster still but rounds differently, so it is not used.
    """
    foreach: bool | None
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
