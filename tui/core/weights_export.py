"""A run's model as a safetensors file plus a small JSON card: weights that travel with no pickle and no torchtui.

The safetensors file holds the `state_dict` of the checkpoint's `nn.Sequential` (best.pt by
default); the JSON beside it (same stem, `.json`) holds what is needed to use it on new rows:
the layers as PyTorch calls (`nn.Linear(4, 64)`), each feature's preprocessing statistics
(mean and population std, the median that fills an empty cell, one-hot categories), the
targets' classes or scaling, and how the outputs read. With torch alone, each layer's call read for its
literals (README, "Leave with your code": never `eval` a file's text):

    model = nn.Sequential(*[layer(call) for call in card["layers"]])
    model.load_state_dict(safetensors.torch.load_file("model.safetensors"))

safetensors is an optional dependency (`pip install safetensors`, or the `export` extra).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import refuse_existing, write_user_files
from .layer_catalog import canonical

SUFFIX = ".safetensors"
CARD_FORMAT = 1
PREPARE = ("each numeric feature: (value - mean) / std in float64, then rounded to float32 (an empty cell is "
           "refused, or filled with `fill` when missing is 'impute'); each one_hot feature: one input per category, "
           "1.0 where the cell's text equals it, else 0.0 (an empty cell is the category '(missing)' when missing "
           "is 'impute'; a value not among the categories is '(other)' when that is one of them, else all 0.0); "
           "inputs in the order of `features`")


@dataclass
class WeightsExport:
    """What was written, and from which checkpoint (said on the console)."""

    checkpoint: Path
    epoch: int
    weights: Path
    card: Path


def card_path(weights: str | Path) -> Path:
    """The JSON beside a weights file: same stem, `.json`."""
    return Path(weights).with_suffix(".json")


def check_target(weights: str | Path, force: bool) -> None:
    """Refuse a name that is not `.safetensors`, or files that exist without `force` (before any work)."""
    path = Path(weights)
    if path.suffix != SUFFIX:
        raise UserError(f"--weights {path}: name a {SUFFIX} file, e.g. --weights model{SUFFIX}")
    for p in (path, card_path(path)):
        refuse_existing(p, force, "--weights")


def from_run(run_dir: str | Path, weights: str | Path, which: str = "best", force: bool = False) -> WeightsExport:
    """Write `weights` (safetensors) and its JSON card from the run's `which` checkpoint (best or last)."""
    from . import checkpoint
    from .runs import RunFolder

    check_target(weights, force)
    save = _saver()
    folder = RunFolder.open(run_dir)
    path = checkpoint.best_as_named(folder.checkpoint_path(which))  # last.pt where a kill left best.pt behind it
    if not path.exists():
        other = "last" if which == "best" else "best"
        raise UserError(f"{path} not found: the run has not saved it yet"
                        + (f"; --which {other} takes its {other}.pt" if folder.checkpoint_path(other).exists()
                           else ""))
    ckpt = checkpoint.load(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt["model"].items()}
    card = make_card(ckpt, folder.path.name, path.name)
    data = save(tensors, metadata={"format": "pt"})
    # the pair is renamed into place one file after the other: a kill between the two left new weights beside an
    # old card without a sign; the card names its weights' bytes, so such a pair is told from a true one
    card["weights_sha256"] = hashlib.sha256(data).hexdigest()
    out = Path(weights)
    write_user_files([(out, data), (card_path(out), (json.dumps(card, indent=2) + "\n").encode("utf-8"))])
    epoch = int((ckpt.get("progress") or {}).get("epoch", 0))
    return WeightsExport(path, epoch, out, card_path(out))


def make_card(ckpt: dict[str, Any], run: str, checkpoint_name: str) -> dict[str, Any]:
    """The JSON card of a checkpoint: plain lists, strings and numbers (floats written exactly)."""
    from .preprocess import Preprocessor

    pre = Preprocessor.from_dict(ckpt["preprocessing"])
    features = []
    for c in pre.columns:
        if c.kind == "numeric":
            numeric = {"name": c.name, "kind": "numeric", "mean": c.mean, "std": c.std}
            if pre.missing == "impute":
                numeric["fill"] = c.fill  # the training median
            features.append(numeric)
        else:
            features.append({"name": c.name, "kind": "one_hot", "categories": list(c.categories)})
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "made_by": "torchtui export --weights",
        "run": run,
        "checkpoint": checkpoint_name,
        "epoch": int((ckpt.get("progress") or {}).get("epoch", 0)),
        "layers": [f"nn.{canonical(expr)}" for expr in ckpt["layers"]],  # written afresh: a checkpoint is not code
        "loss": f"nn.{ckpt['loss']}Loss",
        "task": pre.task,
        "n_inputs": math.prod(ckpt["input_shape"]) if "input_shape" in ckpt else pre.n_inputs,
        "input_shape": list(ckpt.get("input_shape", [pre.n_inputs])),  # an image's (1, 8, 8): x as the model takes it
        "features": features,
        "missing": pre.missing,
        "prepare": PREPARE if pre.columns else "the inputs as your Dataset class gives them (the run read one)",
        "targets": list(pre.targets),
    }
    if pre.task == "classification":
        card["classes"] = [_plain(c) for c in pre.classes]
        card["outputs"] = ("one logit: class 1 when > 0, its probability sigmoid(logit)" if _one_logit(ckpt, pre)
                           else "one logit per class, in the order of `classes`: argmax is the class, softmax the "
                           "probabilities")
    else:
        card["target_mean"], card["target_std"] = list(pre.target_mean), list(pre.target_std)
        card["outputs"] = "one value per target, scaled: value * target_std + target_mean is in the target's units"
    return card


def _one_logit(ckpt: dict[str, Any], pre: Any) -> bool:
    return ckpt["loss"] == "BCEWithLogits" and len(pre.classes) == 2


def _plain(value: Any) -> Any:
    """A class label as JSON holds it (numpy ints and floats as Python's)."""
    return value.item() if hasattr(value, "item") else value


def _saver() -> Any:
    try:
        from safetensors.torch import save
    except ImportError:
        raise UserError("--weights needs the safetensors package: pip install safetensors") from None
    return save
