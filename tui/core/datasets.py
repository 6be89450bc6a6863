"""Built-in datasets, by name: small real CSVs shipped with the package, and synthetic sets.

The real files live in the repository's top-level `datasets/` folder, which a wheel installs
as `tui/datasets/`; both places are looked up, so a name works from any working directory,
from a source checkout or editable install, and after a non-editable install. Synthetic sets
are generated from the run's seed, so a spec names them completely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BuiltIn:
    name: str
    task: str
    description: str
    file: str | None = None
    generate: Callable[[int], pd.DataFrame] | None = None
    keep_constant: bool = False  # images: a pixel that is always 0 still has its place in the grid

    def frame(self, seed: int = 0) -> pd.DataFrame:
        if self.file is not None:
            return pd.read_csv(data_dir() / self.file)
        assert self.generate is not None
        return self.generate(seed)


_PACKAGE = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """tui/datasets in an installed wheel, or datasets/ beside tui/ in a source checkout."""
    for candidate in (_PACKAGE / "datasets", _PACKAGE.parent / "datasets"):
        if (candidate / "iris.csv").is_file():
            return candidate
    raise FileNotFoundError(f"built-in datasets not found beside {_PACKAGE}; reinstall torchtui")


def _spiral(seed: int, per_class: int = 300, classes: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    xs, labels = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, per_class) + rng.normal(0.0, 0.2, per_class)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(per_class, k))
    return _frame(np.concatenate(xs), np.concatenate(labels))


def _moons(seed: int, n: int = 1000, noise: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    half = n // 2
    t_out, t_in = np.linspace(0, np.pi, n - half), np.linspace(0, np.pi, half)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)])
    x = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n, 2))
    return _frame(x, np.repeat([0, 1], [n - half, half]))


def _circles(seed: int, n: int = 1000, noise: float = 0.05, factor: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    half = n // 2
    t_out = np.linspace(0, 2 * np.pi, n - half, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, half, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = factor * np.column_stack([np.cos(t_in), np.sin(t_in)])
    x = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n, 2))
    return _frame(x, np.repeat([0, 1], [n - half, half]))


def _xor(seed: int, n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2))
    return _frame(x, (x[:, 0] * x[:, 1] > 0).astype(int))


def _sine(seed: int, n: int = 1000, noise: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, n)
    return pd.DataFrame({"x": x, "y": np.sin(x) + rng.normal(0.0, noise, n)})


def _frame(x: np.ndarray, label: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": label.astype(int)})


BUILTINS: dict[str, BuiltIn] = {
    b.name: b
    for b in [
        BuiltIn("iris", "classification", "Fisher's iris flowers: 4 measurements, 3 species", file="iris.csv"),
        BuiltIn("wine", "classification", "Italian wines: 13 chemical measurements, 3 cultivars", file="wine.csv"),
        BuiltIn("breast_cancer", "classification",
                "Wisconsin diagnostic breast cancer: 30 cell-nucleus features, benign or malignant",
                file="breast_cancer.csv"),
        BuiltIn("digits", "classification",
                "8x8 handwritten digits (64 pixels, 0-16), 10 classes; Unflatten(1, (1, 8, 8)) for Conv2d",
                file="digits.csv", keep_constant=True),
        BuiltIn("diabetes", "regression", "diabetes progression one year on, from 10 baseline measurements",
                file="diabetes.csv"),
        BuiltIn("spiral", "classification", "synthetic: 3 interleaved spiral arms, 900 points", generate=_spiral),
        BuiltIn("moons", "classification", "synthetic: two interleaving half circles, 1000 points", generate=_moons),
        BuiltIn("circles", "classification", "synthetic: a circle inside a circle, 1000 points", generate=_circles),
        BuiltIn("xor", "classification", "synthetic: sign of x1 * x2, 1000 points", generate=_xor),
        BuiltIn("sine", "regression", "synthetic: y = sin(x) + noise, 1000 points", generate=_sine),
    ]
}
