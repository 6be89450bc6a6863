"""Where a run is and what it has seen: what a checkpoint holds besides the weights.

The trainer advances it, the recorder saves it inside every checkpoint, and a resume starts
from it, so it holds plain numbers and lists only (`torch.load(weights_only=True)` reads it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Progress:
    epoch: int = 0  # completed epochs
    step: int = 0  # batches trained on (optimizer steps, and any skipped for a non-finite loss)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    epoch_step: int = 0  # batches done in the epoch in progress (0 at an epoch boundary)
    epoch_loss_sum: float = 0.0  # its sum of loss * batch size so far
    steps: list[list[float]] = field(default_factory=list)  # [step, loss] at each logged step
    epochs: list[dict[str, Any]] = field(default_factory=list)  # the epoch events
    skipped_steps: int = 0  # train.on_nan = "skip": steps not applied (non-finite loss), in all
    epoch_skipped_steps: int = 0  # ... and in the epoch in progress,
    epoch_skipped_rows: int = 0  # whose rows its train_loss leaves out

    @property
    def best_val_loss(self) -> float | None:
        """The best monitored loss, None before the first epoch."""
        return self.best_loss if math.isfinite(self.best_loss) else None

    def to_dict(self) -> dict[str, Any]:
        """History by column (a list per metric, steps as an (n, 2) tensor): it is saved every
        epoch, and a list of per-epoch dicts pickled 3x slower, a cost that grows with the run."""
        keys = list(dict.fromkeys(k for row in self.epochs for k in row if k not in ("event", "time")))
        return {"epoch": self.epoch, "step": self.step, "best_loss": self.best_loss, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "epoch_step": self.epoch_step, "epoch_loss_sum": self.epoch_loss_sum,
                "skipped_steps": self.skipped_steps, "epoch_skipped_steps": self.epoch_skipped_steps,
                "epoch_skipped_rows": self.epoch_skipped_rows,
                "history": {"steps": torch.tensor(self.steps, dtype=torch.float64).reshape(-1, 2),
                            "epochs": {k: [row.get(k) for row in self.epochs] for k in keys}}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Progress":
        h = d["history"]
        steps = [[int(s), loss] for s, loss in h["steps"].tolist()]
        return cls(d["epoch"], d["step"], d["best_loss"], d["best_epoch"], d["bad_epochs"], d["epoch_step"],
                   d["epoch_loss_sum"], steps, epoch_rows(d), d.get("skipped_steps", 0),
                   d.get("epoch_skipped_steps", 0), d.get("epoch_skipped_rows", 0))


def epoch_rows(progress: dict[str, Any]) -> list[dict[str, Any]]:
    """A checkpoint's per-epoch history as one dict per epoch (the `epoch` events, less their time)."""
    columns = progress["history"]["epochs"]
    n = len(columns.get("epoch", []))
    return [{k: v[i] for k, v in columns.items() if v[i] is not None} for i in range(n)]
