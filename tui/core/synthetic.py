"""The synthetic built-in datasets, generated from the run's seed (numpy and pandas live here, so
naming the built-ins, as the screen's first frame does, imports neither)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def spiral(seed: int, per_class: int = 300, classes: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    xs, labels = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, per_class) + rng.normal(0.0, 0.2, per_class)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(per_class, k))
    return _frame(np.concatenate(xs), np.concatenate(labels))


def moons(seed: int, n: int = 1000, noise: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    half = n // 2
    t_out, t_in = np.linspace(0, np.pi, n - half), np.linspace(0, np.pi, half)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)])
    x = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n, 2))
    return _frame(x, np.repeat([0, 1], [n - half, half]))


def circles(seed: int, n: int = 1000, noise: float = 0.05, factor: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    half = n // 2
    t_out = np.linspace(0, 2 * np.pi, n - half, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, half, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = factor * np.column_stack([np.cos(t_in), np.sin(t_in)])
    x = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n, 2))
    return _frame(x, np.repeat([0, 1], [n - half, half]))


def xor(seed: int, n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2))
    return _frame(x, (x[:, 0] * x[:, 1] > 0).astype(int))


def sine(seed: int, n: int = 1000, noise: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, n)
    return pd.DataFrame({"x": x, "y": np.sin(x) + rng.normal(0.0, noise, n)})


def _frame(x: np.ndarray, label: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": label.astype(int)})
