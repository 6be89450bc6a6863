"""Atomic checkpoint writes and safe loads.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts: `torch.load`
with `weights_only=True` reads it without running any code, and refuses a file that would.
It is written to a temporary file in the same folder, flushed, fsynced and renamed over the
old one, so a crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import pickle
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .files import atomic_write

FORMAT = 1


def save(payload: dict[str, Any], path: str | Path) -> Path:
    return atomic_write(path, lambda f: torch.save(payload, f))


def copy(source: Path, dest: Path) -> Path:
    """An atomic copy (best.pt from last.pt) without pickling the state a second time."""
    with open(source, "rb") as f:
        return atomic_write(dest, lambda out: shutil.copyfileobj(f, out))


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint without running code; anything else is refused with the reason."""
    p = Path(path)
    if p.is_dir():
        p = p / "best.pt" if (p / "best.pt").exists() else p / "last.pt"
    if not p.exists():
        raise UserError(f"checkpoint {p} not found; `torchtui runs` lists the runs and their folders")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a checkpoint, or objects weights_only refuses
        raise UserError(f"{p} {_why_unloadable(e, p)}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "format" not in ckpt:
        raise UserError(f"{p} is not a torchtui checkpoint (no model and format entries)")
    if ckpt["format"] > FORMAT:
        raise UserError(f"{p} has checkpoint format {ckpt['format']}, newer than this torchtui reads ({FORMAT}); "
                        "upgrade torchtui")
    return ckpt


def _why_unloadable(e: Exception, path: Path) -> str:
    """torch's message, minus its advice to retry without weights_only (we never do)."""
    text = str(e)
    if path.stat().st_size == 0:
        return "is empty (0 bytes); use an earlier checkpoint of the run"
    with open(path, "rb") as f:
        zip_start = f.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    if zip_start and not zipfile.is_zipfile(path):
        return "is truncated or corrupted (an incomplete file); use an earlier checkpoint of the run"
    code = re.search(r"GLOBAL ([\w.]+)", text)
    if code:
        return (f"was refused: loading it would run code ({code.group(1)}); torchtui loads checkpoints with "
                f"weights_only=True and never runs code from them")
    if "zip archive" in text or "central directory" in text:
        return "is truncated or corrupted (an incomplete file); use an earlier checkpoint of the run"
    if not zip_start or isinstance(e, pickle.UnpicklingError):
        return "is not a PyTorch checkpoint"
    first = text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__
    return f"cannot be loaded: {first}"


def all_finite(state_dict: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state_dict.values() if t.is_floating_point())
