"""Whether a batch may be a view into a bigger tensor, or must be a tensor of its own.

The engine cuts batches out of one tensor (a gathered chunk of training rows, the validation rows) where the
tutorial's DataLoader hands each batch over as a new tensor. A view costs nothing, but it starts wherever its
rows fall, and a matrix product reads an input that starts off its usual alignment with other instructions,
which round differently: MKL's on the CPU (Linear(3) on wine at batch 10, 520 bytes a batch, ended 1.5e-8 from
the textbook loop's weights), and cuBLAS picks its kernels by alignment too. So a view is used only where it
starts as aligned as a new tensor would: at a multiple of the allocator's alignment.
"""

from __future__ import annotations

from typing import Iterator

import torch

CPU_ALIGN_BYTES = 64  # c10's CPU allocator starts every tensor at a multiple of this
DEVICE_ALIGN_BYTES = 512  # CUDA's caching allocator (and, to be safe, any other device's)


def alignment(device: torch.device) -> int:
    return CPU_ALIGN_BYTES if device.type == "cpu" else DEVICE_ALIGN_BYTES


def batches_aligned(batch_size: int, *tensors: torch.Tensor) -> bool:
    """True when every batch of `batch_size` rows cut from a new tensor of rows like each of `tensors` (a gathered
    chunk) starts as aligned as a new tensor: a batch's bytes are a multiple of the alignment."""
    return all((batch_size * t[:1].nelement() * t.element_size()) % alignment(t.device) == 0 for t in tensors)


def views_aligned(batch_size: int, *tensors: torch.Tensor) -> bool:
    """True when every batch of `batch_size` rows cut from each of `tensors` themselves starts as aligned as a new
    tensor: each is contiguous and starts aligned, and a batch's bytes are a multiple of the alignment."""
    return all(t.is_contiguous() and t.data_ptr() % alignment(t.device) == 0 for t in tensors) \
        and batches_aligned(batch_size, *tensors)


def row_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches in row order: views where they stay aligned, else copies, each a tensor of its own."""
    own = not views_aligned(batch_size, x, y)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        if own:
            xb, yb = xb.clone(memory_format=torch.contiguous_format), yb.clone(memory_format=torch.contiguous_format)
        yield xb, yb
