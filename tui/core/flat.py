"""All of a model's parameters as views into one buffer, and their gradients into another.

SGD, Adam, AdamW and RMSprop do elementwise arithmetic with one step count for every weight,
so running the user's optimizer on one long tensor gives each weight the same bits as running
it on each layer's tensors (tests/test_exactness.py checks this against the textbook loop), in
a few kernels per step instead of a few per parameter tensor. On a small MLP at batch 64 that
is about a third of the step time, which is where a small model's training time goes.

Checkpoints keep torch's usual per-parameter optimizer state (`split_state`), so a checkpoint
reads the same as one from `torch.optim.Adam(model.parameters())` and loads into such an
optimizer; `join_state` turns it back into the flat form on resume.

Each parameter starts where a tensor of its own would: at a multiple of the allocator's alignment
(batch_views.alignment), with zeros between. A matrix library picks its kernel by where the weights
start (cuBLAS's heuristics read the pointers' alignment), and a kernel picked for a weight 8 bytes off
rounds the product differently from the one the textbook loop's weights get. The zeros in the gaps have
zero gradients and stay zero under every optimizer here (a zero moment, a zero update, a decay of zero).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .batch_views import alignment
from .errors import UserError


class FlatParameters:
    def __init__(self, model: nn.Module) -> None:
        self.params = list(model.parameters())
        first = self.params[0]
        step = max(1, alignment(first.device) // first.element_size())  # elements between aligned starts
        self.offsets: list[int] = []
        end = 0
        for p in self.params:
            start = -(-end // step) * step
            self.offsets.append(start)
            end = start + p.numel()
        values = torch.zeros(end, dtype=first.dtype, device=first.device)
        with torch.no_grad():
            for p, start in zip(self.params, self.offsets):
                values[start:start + p.numel()] = p.reshape(-1)
        self.flat = nn.Parameter(values)
        # flat.grad, kept here too: it is always set (flat.grad's type allows None) and one lookup cheaper per step
        self.grad = self.flat.grad = torch.zeros_like(values)
        for p, start in zip(self.params, self.offsets):
            p.data = values[start:start + p.numel()].view_as(p)
            # backward adds into an existing .grad in place, so every gradient lands in flat.grad
            p.grad = self.grad[start:start + p.numel()].view_as(p)

    @staticmethod
    def fits(model: nn.Module) -> bool:
        """One buffer needs one dtype and device. It also assumes every parameter gets a gradient at
        every step, which holds for every layer in layers.LAYERS: one that got none would here get
        a zero gradient, and momentum or weight decay would still move it."""
        params = list(model.parameters())
        return (bool(params) and all(p.requires_grad and p.is_floating_point() and not p.is_sparse for p in params)
                and len({(p.dtype, p.device) for p in params}) == 1
                and len({p.data_ptr() for p in params}) == len(params))

    def zero_grad(self) -> None:
        self.grad.zero_()

    def split_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """The flat optimizer's state_dict as a per-parameter one, the parameters in model order."""
        flat_state = state["state"].get(0, {})
        per_param = {i: {k: self._split(v, i) for k, v in flat_state.items()} for i in range(len(self.params))}
        groups = [{**g, "params": list(range(len(self.params)))} for g in state["param_groups"]]
        return {"state": per_param if flat_state else {}, "param_groups": groups}

    def join_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """A per-parameter optimizer state_dict (from a checkpoint) in the flat optimizer's form."""
        groups = state.get("param_groups", [])
        if len(groups) != 1 or len(groups[0].get("params", [])) != len(self.params):
            raise UserError("the checkpoint's optimizer state does not match the model's parameters; "
                            "start a new run instead of resuming this one")
        per_param = [state["state"].get(i, {}) for i in groups[0]["params"]]
        if not any(per_param):
            return {"state": {}, "param_groups": [{**groups[0], "params": [0]}]}
        joined: dict[str, Any] = {}
        for key, first in per_param[0].items():
            values = [s.get(key) for s in per_param]
            if isinstance(first, torch.Tensor) and first.shape == self.params[0].shape:
                if any(not isinstance(v, torch.Tensor) or v.shape != p.shape for v, p in zip(values, self.params)):
                    raise UserError(f"the checkpoint's optimizer state '{key}' does not match the model's "
                                    "parameters; start a new run instead of resuming this one")
                joined[key] = self._join(values)
            else:
                # the step count (one for all; a copy, as optimizers count it in place) or a buffer not yet made
                joined[key] = first.clone() if isinstance(first, torch.Tensor) else first
        return {"state": {0: joined}, "param_groups": [{**groups[0], "params": [0]}]}

    def _join(self, values: list[torch.Tensor]) -> torch.Tensor:
        """Per-parameter tensors laid out as the flat buffer is: each at its offset, zeros between."""
        joined = torch.zeros_like(self.flat, dtype=values[0].dtype, device=values[0].device)
        for v, start in zip(values, self.offsets):
            joined[start:start + v.numel()] = v.reshape(-1)
        return joined

    def _split(self, value: Any, i: int) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() == 1 and value.numel() == self.flat.numel():
            param, start = self.params[i], self.offsets[i]
            return value[start:start + param.numel()].view_as(param)
        return value.clone() if isinstance(value, torch.Tensor) else value  # the step count: one per parameter
