"""The batch order: exactly the one torch's `DataLoader(shuffle=True, generator=g)` visits.

This is what makes the engine's weights bit-identical to the textbook loop's: the same
generator draws, in the same sequence, without the DataLoader's per-element Python work.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import DataLoader


def loader_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's sample order, exactly as `DataLoader(data, shuffle=True, generator=g)` visits it.

    The loader must run to its end: its sampler draws from the generator again after the last
    index, and the next epoch depends on that.
    """
    # a range is a map-style dataset (__getitem__, __len__), but torch's annotation asks for a Dataset
    loader: DataLoader[int] = DataLoader(
        range(n), batch_size=n, shuffle=True, generator=generator)  # type: ignore[arg-type]
    return torch.cat(list(loader))


def fast_order(n: int, generator: torch.Generator, finish: bool = True) -> torch.Tensor:
    """The same order and generator use without a DataLoader's per-element Python work.

    Per epoch the DataLoader draws a base seed for its workers, then `RandomSampler` draws a
    permutation, and, when it runs out, a second one for its remainder (empty here).
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n, generator=generator)
    if finish:
        finish_order(n, generator)
    return order


def finish_order(n: int, generator: torch.Generator) -> None:
    """The sampler's second permutation, which only moves the generator on. The trainer draws it
    when the epoch's batches are done (`fast_order(..., finish=False)`), not before its first step."""
    torch.randperm(n, generator=generator)


def epoch_order_fn() -> Callable[[int, torch.Generator], torch.Tensor]:
    """`fast_order` when it reproduces this torch's DataLoader (probed on copies), else the DataLoader."""
    seed_state = torch.Generator().manual_seed(12345).get_state()
    a, b = torch.Generator(), torch.Generator()
    a.set_state(seed_state)
    b.set_state(seed_state)
    same = all(torch.equal(loader_order(n, a), fast_order(n, b)) for n in (1, 7, 97, 97, 1000))
    return fast_order if same and torch.equal(a.get_state(), b.get_state()) else loader_order
