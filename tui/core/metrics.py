"""Task metrics from model outputs, in the units the user thinks in.

Classification: accuracy, confusion matrix, per-class precision and recall. Regression:
RMSE, MAE and R² on the original target scale (the model may train on a standardised one).
Inputs are CPU tensors gathered once per evaluation, so nothing here syncs a device per step.
"""

from __future__ import annotations

from typing import Any

import torch


def predicted_classes(outputs: torch.Tensor) -> torch.Tensor:
    """Class indices from logits: one logit means binary (positive when > 0)."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).long()
    return outputs.argmax(dim=1)


def class_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    if outputs.shape[1] == 1:
        p = torch.sigmoid(outputs[:, 0])
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(outputs, dim=1)


def classification(outputs: torch.Tensor, labels: torch.Tensor, n_classes: int, detail: bool = False) -> dict[str, Any]:
    pred = predicted_classes(outputs)
    out: dict[str, Any] = {"accuracy": int((pred == labels).sum()) / len(labels) if len(labels) else float("nan")}
    if detail:
        cm = torch.bincount(labels * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
        tp = cm.diag().double()
        out["confusion"] = cm.tolist()  # rows: true class, columns: predicted class
        out["precision"] = (tp / cm.sum(0).clamp(min=1)).tolist()
        out["recall"] = (tp / cm.sum(1).clamp(min=1)).tolist()
        out["support"] = cm.sum(1).tolist()  # rows of each true class: how much its recall is worth
    return out


def regression(pred: torch.Tensor, target: torch.Tensor, names: list[str] | None = None) -> dict[str, Any]:
    """(n, targets), both in target units. RMSE and MAE over every value; R² = 1 - SS_res / SS_tot
    per target, averaged over targets (nan when a target is constant). `names`, for several targets: also each
    target's own, in its own units (`per_target`): a price's RMSE pooled with a ratio's says little of either."""
    pred, target = pred.double().reshape(len(pred), -1), target.double().reshape(len(target), -1)
    err = pred - target
    ss_tot = ((target - target.mean(0)) ** 2).sum(0)
    r2 = float((1.0 - (err**2).sum(0) / ss_tot).mean()) if bool((ss_tot > 0).all()) else float("nan")
    out: dict[str, Any] = {"rmse": float(err.pow(2).mean().sqrt()), "mae": float(err.abs().mean()), "r2": r2}
    if names and len(names) > 1 and len(names) == target.shape[1]:
        out["per_target"] = [{"target": name, **regression(pred[:, j], target[:, j])} for j, name in enumerate(names)]
    return out
