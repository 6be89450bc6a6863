"""Atomic checkpoint writes and safe loads.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts: `torch.load`
with `weights_only=True` reads it without running any code, and refuses a file that would.
It is written to a temporary file in the same folder, flushed, fsynced and renamed over the
old one, so a crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .files import atomic_link, atomic_write

FORMAT = 1
EMPTY, TRUNCATED = "is empty (0 bytes)", "is truncated or corrupted (an incomplete file)"  # what _why_unloadable says


class Unreadable(UserError):
    """A checkpoint file that does not load; `why` says how (truncated, empty, would run code...)."""

    def __init__(self, message: str, why: str):
        super().__init__(message)
        self.why = why


def save(payload: dict[str, Any], path: str | Path) -> Path:
    """A checkpoint, whole or not at all. A write that fails inside torch's zip writer (a disk that fills
    mid-save) comes out of torch.save as a RuntimeError without its errno; it is raised as the OSError it is,
    so the caller says what every failed save says (the previous checkpoint is kept, free space, resume)."""

    def write(f: Any) -> None:
        try:
            torch.save(payload, f)
        except RuntimeError as e:
            if "inline_container" not in str(e) and "write" not in str(e).lower():
                raise
            full = shutil.disk_usage(Path(path).parent).free < 1 << 20
            raise OSError(errno.ENOSPC if full else errno.EIO, os.strerror(errno.ENOSPC) if full else
                          f"the file could not be written whole ({str(e).splitlines()[0][:160]})") from None

    return atomic_write(path, write)


def copy(source: Path, dest: Path) -> Path:
    """best.pt as the file last.pt is, made whole under its own name: a hard link renamed into place, so an
    improving epoch writes its checkpoint once, not twice (the copy cost as much as the save: a wide model's
    27 MB written and fsynced again each epoch). Every write of a checkpoint is a new file renamed over the
    name, never a write into the old one, so the next last.pt leaves best.pt's file as it was. Where the
    folder's file system has no hard links (some network and FAT mounts), the bytes are copied."""
    return atomic_link(source, dest) or _copied(source, dest)


def _copied(source: Path, dest: Path) -> Path:
    """An atomic copy of the bytes, without pickling the state a second time."""
    with open(source, "rb") as f:
        return atomic_write(dest, lambda out: shutil.copyfileobj(f, out))


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint without running code; anything else is refused with the reason.
    A run folder gives its best model (`best_of_run`)."""
    p = Path(path)
    if p.is_dir():
        p = best_of_run(p)
    if not p.exists():
        raise UserError(f"checkpoint {p} not found; `torchtui runs` lists the runs and their folders")
    try:
        with warnings.catch_warnings():  # torch's remarks on a file it then refuses ("Detected pickle protocol 4
            warnings.simplefilter("ignore", UserWarning)  # ..."): the refusal below says what the file is
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a checkpoint, or objects weights_only refuses
        why = _why_unloadable(e, p)
        broken = why in (EMPTY, TRUNCATED)  # an incomplete file: another checkpoint of the run may serve
        other = next((o for o in ("last.pt", "best.pt") if o != p.name and (p.parent / o).exists()
                      and not os.path.samefile(p, p.parent / o)), "")  # (best.pt may be last.pt's second name)
        advice = (f"; `torchtui resume {p.parent}` goes on from the newest checkpoint of the run that loads"
                  if broken and (p.parent / "spec.toml").exists() else "")
        if broken and other and p.name != "last.pt":
            advice += f", and {p.parent / other} may be used instead"
        raise Unreadable(f"{p} {why}{advice}", why) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "format" not in ckpt:
        raise UserError(f"{p} is not a torchtui checkpoint (no model and format entries)")
    if not isinstance(ckpt["format"], int) or isinstance(ckpt["format"], bool):
        raise UserError(f"{p} is not a torchtui checkpoint (its format is {ckpt['format']!r}, not a number)")
    if ckpt["format"] > FORMAT:
        raise UserError(f"{p} has checkpoint format {ckpt['format']!r}, newer than this torchtui reads ({FORMAT}); "
                        "upgrade torchtui")
    missing = [k for k, kind in REQUIRED.items() if not isinstance(ckpt.get(k), kind)]
    if missing:  # made by hand, or by another tool: every reader indexes these, and a KeyError was a traceback
        raise UserError(f"{p} is not a whole torchtui checkpoint (no {', '.join(missing)}); use a last.pt or best.pt "
                        "that torchtui saved")
    _check_model_entries(ckpt, p)
    return ckpt


def _check_model_entries(ckpt: dict[str, Any], p: Path) -> None:
    """The layers and the loss, which readers write into code (export's script, the weights card) and build: each
    must read as torchtui writes them. A checkpoint is data anyone can make; one whose layer was
    `Identity() if __import__('os').system(...) else ...` was refused by predict, and exported as it was."""
    from .layer_catalog import parse
    from .objective import CLASSIFICATION_LOSSES, REGRESSION_LOSSES

    wrong = _wrong_entries(ckpt)
    if wrong:
        raise UserError(f"{p} is not a whole torchtui checkpoint ({wrong}); use a last.pt or best.pt that torchtui "
                        "saved")
    for expr in ckpt["layers"]:
        try:
            if not isinstance(expr, str):
                raise UserError(f"a layer is {type(expr).__name__}, not text")
            parse(expr)
        except UserError as e:
            raise UserError(f"{p} is not a whole torchtui checkpoint: {e}; use a last.pt or best.pt that torchtui "
                            "saved") from None
    if ckpt["loss"] not in CLASSIFICATION_LOSSES + REGRESSION_LOSSES:
        raise UserError(f"{p} is not a whole torchtui checkpoint: its loss {ckpt['loss']!r} is none of torchtui's; use "
                        "a last.pt or best.pt that torchtui saved")


# the entries inside those that readers use as they are (a hand-made checkpoint with classes=None was a TypeError
# deep in predict): the type each must have where it is there
PREPROCESSING_TYPES: dict[str, type | tuple[type, ...]] = {
    "targets": list, "task": str, "columns": list, "classes": list, "target_mean": list, "target_std": list,
    "missing": str, "id_column": str, "words": bool, "codes": bool, "ids": bool,
    "gaps": bool, "decimal": str, "camel": bool,
    "dates": bool, "quoted": bool}
COLUMN_TYPES: dict[str, type | tuple[type, ...]] = {"name": str, "kind": str, "mean": (int, float), "std": (int, float),
                                                    "fill": (int, float), "categories": list}
PROGRESS_TYPES: dict[str, type | tuple[type, ...]] = {"epoch": int, "step": int, "epoch_step": int, "best_epoch": int,
                                                      "bad_epochs": int}


def _wrong_entries(ckpt: dict[str, Any]) -> str:
    """The first entry of a checkpoint's preprocessing or progress whose type is not what torchtui writes, said as
    "preprocessing.classes is NoneType, not list"; "" when all are."""
    def wrong(where: str, values: Any, types: dict[str, Any]) -> str:
        if not isinstance(values, dict):
            return f"{where} is {type(values).__name__}, not a dict"
        for key, kind in types.items():
            if key in values and (not isinstance(values[key], kind) or (kind is int and isinstance(values[key], bool))):
                names = "/".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
                return f"{where}.{key} is {type(values[key]).__name__}, not {names}"
        return ""

    found = wrong("preprocessing", ckpt["preprocessing"], PREPROCESSING_TYPES) or \
        wrong("progress", ckpt["progress"], PROGRESS_TYPES)
    for i, column in enumerate(ckpt["preprocessing"].get("columns") or []):
        found = found or wrong(f"preprocessing.columns[{i}]", column, COLUMN_TYPES)
    return found


# what the readers of a checkpoint (resume, predict, eval, export, the screen) take as given, and its type
REQUIRED: dict[str, type] = {"spec": dict, "layers": list, "loss": str, "preprocessing": dict, "model": dict,
                             "progress": dict}


def progress_of(path: Path) -> dict[str, Any] | None:
    """A checkpoint's progress (its epoch, best epoch, place in an epoch), or None where it is missing or does not
    load. Memory-mapped: the weights are not read."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return dict(ckpt["progress"])
    except Exception:  # missing, truncated, not ours: the callers say what that means for them
        return None


def holds_best(progress: dict[str, Any]) -> bool:
    """Whether a last.pt with this progress holds the run's best weights: saved at the end of its best epoch."""
    return bool(progress.get("best_epoch")) and progress["epoch"] == progress["best_epoch"] \
        and not progress.get("epoch_step")


def best_of_run(folder: Path) -> Path:
    """The file with a run's best model: best.pt, checked against the best epoch last.pt records.

    An improving epoch writes last.pt, then makes it best.pt too (`copy`); a run killed between the two leaves
    best.pt an older epoch while last.pt records the new best. Then last.pt itself is the best model and
    is used (a resume repairs best.pt, record.repair_best); a best.pt whose epoch's weights no file holds
    any more is refused, naming the file that can be used instead."""
    best, last = folder / "best.pt", folder / "last.pt"
    recorded = progress_of(last) if last.exists() else None
    if recorded is None:
        return best if best.exists() else last  # nothing to check best.pt against (load() says what is wrong)
    behind = best_behind(best, recorded)
    if not behind:
        return best if best.exists() else last  # no best epoch yet (no validated epoch): last.pt is all there is
    if holds_best(recorded):
        return last
    raise UserError(f"{best} {behind}, but the run's best epoch was {recorded['best_epoch']} (last.pt records it) and "
                    f"no file holds its weights any more; use the last weights instead: {last}")


def best_as_named(path: Path) -> Path:
    """A run's best.pt named as a file (`predict RUN/best.pt`, the form a run's own `next:` line prints): checked
    as a run folder is (`best_of_run`), so a kill between the saves of an improving epoch gives last.pt, which holds
    that epoch, where best.pt named alone was an epoch behind without a word. Any other file is itself."""
    if path.name == "best.pt" and (path.parent / "last.pt").exists():
        return best_of_run(path.parent)
    return path


def best_behind(best: Path, recorded: dict[str, Any]) -> str:
    """What is wrong with best.pt against the best epoch last.pt records ("holds epoch 9", "is missing", "does
    not load"); "" when it holds that epoch, or when no best epoch is recorded yet."""
    if not recorded.get("best_epoch"):
        return ""
    held = progress_of(best) if best.exists() else None
    if held is not None and held["epoch"] == recorded["best_epoch"] and not held.get("epoch_step"):
        return ""
    return f"holds epoch {held['epoch']}" if held is not None else ("does not load" if best.exists() else "is missing")


def _why_unloadable(e: Exception, path: Path) -> str:
    """torch's message, minus its advice to retry without weights_only (we never do)."""
    text = str(e)
    if path.stat().st_size == 0:
        return EMPTY
    with open(path, "rb") as f:
        zip_start = f.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    if zip_start and not zipfile.is_zipfile(path):
        return TRUNCATED
    code = re.search(r"GLOBAL ([\w.]+)", text)
    if code:
        return (f"was refused: loading it would run code ({code.group(1)}); torchtui loads checkpoints with "
                f"weights_only=True and never runs code from them")
    if "zip archive" in text or "central directory" in text:
        return TRUNCATED
    if not zip_start or isinstance(e, pickle.UnpicklingError):
        return "is not a PyTorch checkpoint"
    first = text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__
    return f"cannot be loaded: {first}"


def all_finite(state_dict: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state_dict.values() if t.is_floating_point())
