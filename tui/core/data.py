"""Spec -> training and validation tensors.

Reads a built-in dataset or a CSV, picks target and features, decides the task, splits by
seed and fits the preprocessing on the training rows only. The result is in-memory tensors:
batches are then sliced from them, which is several times faster than a per-row `Dataset`
and gives the same batches (see train.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .datasets import BUILTINS
from .errors import UserError
from .preprocess import Preprocessor, class_labels, first_non_numeric, infer_task, is_numeric, refuse_missing
from .spec import DataSpec


@dataclass
class Prepared:
    name: str
    pre: Preprocessor
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    notices: list[str] = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.pre.task

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.pre.n_inputs,)


def load_frame(dataset: str, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """(table, display name) for a built-in name or a CSV path."""
    builtin = BUILTINS.get(dataset)
    if builtin is not None:
        return builtin.frame(seed), builtin.name
    if not Path(dataset).exists():
        names = ", ".join(BUILTINS)
        raise UserError(f"dataset {dataset} is neither a built-in dataset ({names}) nor an existing file; check the path")
    return read_csv(dataset), dataset


def read_csv(path: str | Path, header_only: bool = False) -> pd.DataFrame:
    """A CSV as a table, column names stripped of spaces; every failure is one line naming the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path} not found; check the path")
    if p.is_dir():
        raise UserError(f"{path} is a folder; give a CSV file inside it")
    try:
        frame = pd.read_csv(p, skipinitialspace=True, nrows=0 if header_only else None)
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty; it needs a header line and rows") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{path} is not a well-formed CSV: {str(e).strip().splitlines()[-1]}") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty and not header_only:
        raise UserError(f"{path} has a header but no rows")
    return frame


def prepare(spec: DataSpec, seed: int) -> Prepared:
    frame, name = load_frame(spec.dataset, seed)
    target, features = choose_columns(frame, spec, name)
    notices: list[str] = []

    refuse_missing(frame, [target, *features], name)
    task, classes = decide_task(frame[target], spec.task, target, name, notices)

    train_idx, val_idx = split_indices(len(frame), spec.val_split, seed)
    train, val = frame.iloc[train_idx], frame.iloc[val_idx]
    if task == "classification" and len(val):
        absent = sorted(set(map(str, classes)) - {str(v) for v in class_labels(train[target])})
        if absent:
            notices.append(f"classes absent from the training split: {', '.join(absent)}")

    pre = Preprocessor.fit(train, target, features, task, classes, spec.standardize_target)
    for c in pre.columns:
        if c.kind == "categorical":
            notices.append(f"column {c.name} is one-hot encoded: {len(c.categories)} values such as "
                           f"{', '.join(map(repr, c.categories[:3]))}")
    tensors = [torch.from_numpy(a) for part in (train, val)
               for a in (pre.transform_x(part, name), pre.transform_y(part, name))]
    notices.insert(0, f"{len(train)} training rows, {len(val)} validation rows, {pre.n_inputs} inputs from {len(features)} columns")
    return Prepared(name, pre, *tensors, notices=notices)


def choose_columns(frame: pd.DataFrame, spec: DataSpec, name: str) -> tuple[str, list[str]]:
    columns = [str(c) for c in frame.columns]
    target = spec.target or columns[-1]
    if target not in columns:
        raise UserError(f"data.target {target!r} is not a column of {name}; columns: {', '.join(columns)}")
    if spec.features:
        unknown = [f for f in spec.features if f not in columns]
        if unknown:
            raise UserError(f"data.features: {', '.join(map(repr, unknown))} not a column of {name}; columns: {', '.join(columns)}")
        if target in spec.features:
            raise UserError(f"data.features includes the target {target!r}; remove it from the features")
        features = list(spec.features)
    else:
        features = [c for c in columns if c != target]
    if not features:
        raise UserError(f"{name} has no feature columns besides the target {target!r}")
    return target, features


def decide_task(col: pd.Series, wanted: str, target: str, name: str, notices: list[str]) -> tuple[str, list[Any]]:
    inferred, why = infer_task(col)
    task = inferred if wanted == "auto" else wanted
    if wanted == "auto":
        other = "regression" if task == "classification" else "classification"
        notices.append(f"task: {task}, because target {target} {why} (--task {other} to change)")
    if task == "regression":
        if not is_numeric(col):
            row, example = first_non_numeric(col)
            raise UserError(f"regression target {target} in {name} holds non-numeric values such as {example!r} "
                            f"(data row {row + 1}); use --task classification")
        return task, []
    classes = class_labels(col)
    if len(classes) < 2:
        raise UserError(f"target {target} in {name} has a single class ({classes[0]!r}); a classifier needs at least two")
    return task, classes


def split_indices(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and validation splits; the same seed gives the same split."""
    n_val = int(round(n * val_split))
    if val_split > 0:
        n_val = max(1, n_val)
    if n - n_val < 1:
        raise UserError(f"data.val_split {val_split} leaves no training rows out of {n}; lower it")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
