"""Loss choice and the one evaluation pass, shared by validation, `eval` and `predict`.

The loss decides the output layer (BCEWithLogits on two classes needs one logit) and the form
of the targets it is fed, so these live together. `evaluate` is the tutorial's validation
loop: `model.eval()`, `torch.no_grad()`, loss weighted by batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import metrics
from .batch_views import row_batches
from .errors import UserError
from .preprocess import Preprocessor

CLASSIFICATION_LOSSES = ("CrossEntropy", "BCEWithLogits")
REGRESSION_LOSSES = ("MSE", "L1", "Huber")


def choose_loss(wanted: str, task: str) -> str:
    if wanted == "auto":
        return "CrossEntropy" if task == "classification" else "MSE"
    allowed = CLASSIFICATION_LOSSES if task == "classification" else REGRESSION_LOSSES
    if wanted not in allowed:
        raise UserError(f"train.loss {wanted} does not fit a {task} target; use {' or '.join(allowed)} "
                        f"(or --task to change the task)")
    return wanted


@dataclass(frozen=True)
class Objective:
    loss: str
    task: str
    n_classes: int
    n_targets: int = 1

    @property
    def n_outputs(self) -> int:
        if self.task == "regression":
            return self.n_targets
        return 1 if (self.loss == "BCEWithLogits" and self.n_classes == 2) else self.n_classes

    def criterion(self) -> nn.Module:
        return {"MSE": nn.MSELoss, "L1": nn.L1Loss, "Huber": nn.HuberLoss,
                "CrossEntropy": nn.CrossEntropyLoss, "BCEWithLogits": nn.BCEWithLogitsLoss}[self.loss]()

    def loss_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in the form the loss wants: class indices, a 0/1 column, one-hot rows, or values."""
        if self.loss != "BCEWithLogits":
            return y
        if self.n_outputs == 1:
            return y.float().unsqueeze(1)
        return nn.functional.one_hot(y, self.n_classes).float()

    @classmethod
    def for_data(cls, wanted: str, pre: Preprocessor) -> "Objective":
        return cls(choose_loss(wanted, pre.task), pre.task, len(pre.classes), len(pre.targets))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective: Objective, criterion: nn.Module,
             batch_size: int) -> tuple[float, torch.Tensor]:
    """(mean loss over all rows, outputs on the CPU). Leaves the model in eval mode."""
    model.eval()
    total = torch.zeros((), device=x.device)
    outputs = []
    for xb, yb in row_batches(x, objective.loss_targets(y), batch_size):  # as aligned as DataLoader's batches
        out = model(xb)
        total += criterion(out, yb) * len(out)
        outputs.append(out)
    out_all = torch.cat(outputs).float().cpu() if outputs else torch.zeros((0, objective.n_outputs))
    return float(total) / max(len(x), 1), out_all


def task_metrics(outputs: torch.Tensor, y: torch.Tensor, objective: Objective, pre: Preprocessor,
                 detail: bool = False) -> dict[str, Any]:
    y = y.cpu()
    if objective.task == "classification":
        return metrics.classification(outputs, y, objective.n_classes, detail)
    to_units = lambda t: torch.from_numpy(pre.to_target_units(t.double().reshape(len(t), -1).numpy()))  # noqa: E731
    return metrics.regression(to_units(outputs), to_units(y), pre.targets if detail else None)
