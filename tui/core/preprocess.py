"""Table -> numbers, fitted on the training split only, and carried inside the checkpoint.

A `Preprocessor` is learnt from the training rows (means, scales, categories, class labels)
and then applied unchanged to validation, evaluation and prediction data. Its state is a
plain dict of lists, strings and floats, because `torch.load(weights_only=True)` refuses
anything else, and because a checkpoint must predict on a new CSV with nothing else at hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import UserError

MAX_CLASSES_BY_INFERENCE = 20


@dataclass
class Column:
    name: str
    kind: str  # "numeric" | "categorical"
    mean: float = 0.0
    std: float = 1.0
    categories: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1


@dataclass
class Preprocessor:
    target: str
    task: str  # "classification" | "regression"
    columns: list[Column]
    classes: list[Any] = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0

    # ---- shapes -------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    # ---- fitting ------------------------------------------------------------------------
    @classmethod
    def fit(cls, train: pd.DataFrame, target: str, features: list[str], task: str,
            classes: list[Any], standardize_target: bool) -> "Preprocessor":
        columns = []
        for name in features:
            col = train[name]
            if is_numeric(col):
                values = col.to_numpy(dtype=np.float64)
                std = float(values.std()) if len(values) else 1.0
                columns.append(Column(name, "numeric", float(values.mean()), std if std > 0 else 1.0))
            else:
                cats = sorted({str(v) for v in col.tolist()})
                columns.append(Column(name, "categorical", categories=cats))
        pre = cls(target=target, task=task, columns=columns, classes=list(classes))
        if task == "regression" and standardize_target:
            y = train[target].to_numpy(dtype=np.float64)
            std = float(y.std())
            pre.target_mean, pre.target_std = float(y.mean()), (std if std > 0 else 1.0)
        return pre

    # ---- applying -----------------------------------------------------------------------
    def transform_x(self, frame: pd.DataFrame, source: str = "data") -> np.ndarray:
        self.check_features(frame.columns, source)
        refuse_missing(frame, self.feature_names, source)
        parts = []
        for c in self.columns:
            col = frame[c.name]
            if c.kind == "numeric":
                if not is_numeric(col):
                    bad = first_non_numeric(col)
                    raise UserError(f"{source}: column {c.name} must be numeric, but row {bad[0] + 1} holds {bad[1]!r}")
                parts.append(((col.to_numpy(dtype=np.float64) - c.mean) / c.std)[:, None])
            else:
                codes = pd.Categorical(col.astype(str), categories=c.categories).codes
                onehot = np.zeros((len(col), len(c.categories)))
                known = codes >= 0
                onehot[np.nonzero(known)[0], codes[known]] = 1.0
                parts.append(onehot)
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def check_features(self, columns: Any, source: str) -> None:
        missing = [c.name for c in self.columns if c.name not in set(map(str, columns))]
        if missing:
            raise UserError(f"{source} lacks the feature column(s) {', '.join(missing)} that the model was trained on")

    def transform_y(self, frame: pd.DataFrame, source: str = "data") -> np.ndarray:
        """Class indices (int64, shape (n,)) or scaled values (float32, shape (n, 1))."""
        if self.target not in frame.columns:
            raise UserError(f"{source} has no target column {self.target}; it is needed for evaluation")
        refuse_missing(frame, [self.target], source)
        col = frame[self.target]
        if self.task == "classification":
            index = {_label_key(c): i for i, c in enumerate(self.classes)}
            keys = [_label_key(v) for v in col.tolist()]
            unknown = [k for k in keys if k not in index]
            if unknown:
                raise UserError(f"{source}: target {self.target} holds label {unknown[0]!r} that the model does not know "
                                f"(it knows {', '.join(map(str, self.classes))})")
            return np.array([index[k] for k in keys], dtype=np.int64)
        if not is_numeric(col):
            bad = first_non_numeric(col)
            raise UserError(f"{source}: regression target {self.target} must be numeric, but row {bad[0] + 1} holds {bad[1]!r}")
        y = (col.to_numpy(dtype=np.float64) - self.target_mean) / self.target_std
        return y.astype(np.float32)[:, None]

    def to_target_units(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.target_std + self.target_mean

    # ---- checkpoint form ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessor":
        return cls(**{**d, "columns": [Column(**c) for c in d["columns"]]})


def refuse_missing(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Empty cells are refused by name and row, never turned silently into numbers."""
    for c in columns:
        empty = frame[c].isna().to_numpy()
        if empty.any():
            first = int(np.argmax(empty))
            raise UserError(f"{source}: column {c} has {int(empty.sum())} empty cells (first in data row {first + 1}); "
                            f"fill them or drop those rows")


def infer_task(col: pd.Series) -> tuple[str, str]:
    """('classification' | 'regression', why) for a target column."""
    if not is_numeric(col):
        return "classification", "holds text labels"
    values = col.to_numpy(dtype=np.float64)
    distinct = np.unique(values)
    if np.all(values == np.round(values)) and len(distinct) <= MAX_CLASSES_BY_INFERENCE:
        return "classification", f"holds {len(distinct)} distinct integer values"
    return "regression", (f"holds more than {MAX_CLASSES_BY_INFERENCE} distinct numbers" if len(distinct) > MAX_CLASSES_BY_INFERENCE else "holds fractional numbers")


def class_labels(col: pd.Series) -> list[Any]:
    """Sorted distinct labels as plain str / int / float (checkpoint-safe)."""
    if is_numeric(col):
        values = sorted(set(col.to_numpy(dtype=np.float64).tolist()))
        return [int(v) if v == int(v) else float(v) for v in values]
    return sorted({str(v) for v in col.tolist()})


def _label_key(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v) == int(v):
        return str(int(v))
    return str(v)


def is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def first_non_numeric(col: pd.Series) -> tuple[int, Any]:
    converted = pd.to_numeric(col, errors="coerce")
    bad = np.nonzero(converted.isna().to_numpy() & col.notna().to_numpy())[0]
    i = int(bad[0]) if len(bad) else 0
    return i, col.iloc[i]
