"""Features that give the target away, found before training, and warned about (never dropped).

A column recorded after the outcome - a copy of the target, a unit conversion of it, a "low"
flag cut from it, a text copy of the class - makes validation look excellent and the model
useless on new rows. Each rule below asks whether one column alone *determines* the target
(or the target determines it), which honest features, however strong, do not:

- equal: the column equals the target in nearly every row (far above chance);
- monotone: sorted by the target, a numeric column only rises (or only falls);
- threshold / binning: sorted by the target, a column of few values changes value hardly more
  often than it has values, as a flag cut at one level of the target does;
- one-to-one: each of the column's values goes with one class, and each class with one value;
- classes cut from it: sorted by a numeric column, the classes change hardly more often than
  there are classes (the target is a threshold of the column).

"Hardly more often" is measured against chance: the changes an unrelated column of the same
value counts would make. The rules look at the training rows only, a seeded sample of at most
`SAMPLE` of them, in random order (so ties in the target, or a file sorted by some column, prove
nothing): about half a millisecond per column, whatever the file's length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .preprocess import is_numeric, plain
from .suspect_columns import Finding, id_like

SAMPLE = 20_000  # training rows looked at, at most: these rules need no more, and cost ~1% of preparing 1M rows
MIN_ROWS = 30  # fewer rows prove nothing
FEW_VALUES = 50  # a column of at most this many values is read as categories
OUT_OF_STEP = 0.01  # a monotone column may step the wrong way this share of its changes (noise, typos)
BEYOND_CHANCE = 0.02  # a determining column may leave this share of chance's disagreement
EQUAL = 0.95  # share of rows equal to the target


def check(frame: pd.DataFrame, targets: list[str], features: list[str], task: str,
          train_rows: np.ndarray) -> list[Finding]:
    """Every warning about the chosen features, in column order: leaks first, then id-like columns."""
    found = leaks(frame, targets, features, task, train_rows)
    leaking = {f.column for f in found}
    return found + [f for f in id_like(frame, features) if f.column not in leaking]


class Sample:
    """At most SAMPLE of the training rows, seeded, in a random order: read in row order (a gather that
    walks forward through the column, several times faster than a random one), then shuffled."""

    def __init__(self, train_rows: np.ndarray, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        rows = np.asarray(train_rows)
        self.rows = rows if len(rows) <= SAMPLE else np.sort(rng.choice(rows, SAMPLE, replace=False))
        self.order = rng.permutation(len(self.rows))

    def __len__(self) -> int:
        return len(self.rows)

    def values(self, col: pd.Series) -> np.ndarray:
        return col.to_numpy()[self.rows][self.order]

    def numbers(self, col: pd.Series) -> np.ndarray:
        """A numeric column's values as float64, empty cells NaN, without copying the whole column."""
        values = col.to_numpy()
        if values.dtype.kind in "iuf":
            return values[self.rows].astype(np.float64, copy=False)[self.order]
        return col.iloc[self.rows].to_numpy(dtype=np.float64, na_value=np.nan)[self.order]


def leaks(frame: pd.DataFrame, targets: list[str], features: list[str], task: str,
          train_rows: np.ndarray) -> list[Finding]:
    """The features that alone determine a target, judged on (a sample of) the training rows."""
    rows = Sample(train_rows)
    if len(rows) < MIN_ROWS:
        return []
    found: dict[str, Finding] = {}
    for target in targets:
        if task == "classification":
            judge: Any = _ClassTarget(target, rows.values(frame[target]))
        else:
            judge = _NumberTarget(target, rows.numbers(frame[target]))
        for c in features:
            if c in found:
                continue
            why = judge.why(frame[c], rows)
            if why:
                found[c] = Finding(c, "leak", why)
    return [found[c] for c in features if c in found]


# ---- a regression target ------------------------------------------------------------------------
class _NumberTarget:
    def __init__(self, name: str, y: np.ndarray) -> None:
        self.name, self.y = name, y
        self.order = np.argsort(y)  # tied rows come in an order made from the sample's, never the file's
        self.order = self.order[np.isfinite(y[self.order])]

    def why(self, col: pd.Series, rows: Sample) -> str:
        if is_numeric(col):
            f = rows.numbers(col)
            both = np.isfinite(f) & np.isfinite(self.y)
            if both.sum() < MIN_ROWS:
                return ""
            if why := _equal(f[both], self.y[both]):
                return why
            sorted_f = f[self.order]
            sorted_f = sorted_f[np.isfinite(sorted_f)]
            if why := self._monotone(sorted_f):
                return why
            if len(np.unique(f[both][:1000])) > FEW_VALUES:
                return ""
            return self._steps(col, rows)
        return self._steps(col, rows)

    def _monotone(self, f: np.ndarray) -> str:
        step = np.diff(f)
        up, down = int((step > 0).sum()), int((step < 0).sum())
        moves = up + down
        if moves < MIN_ROWS or min(up, down) > OUT_OF_STEP * moves:
            return ""
        way = "rises" if up > down else "falls"
        return (f"a monotone function of the target: sorted by {self.name}, it {way} in "
                f"{_percent(max(up, down) / moves)} of its {moves:,} changes")

    def _steps(self, col: pd.Series, rows: Sample) -> str:
        """A column of few values that follows the target's order: a threshold (2 values) or a binning."""
        codes, values = pd.factorize(rows.values(col)[self.order], use_na_sentinel=False)
        k = len(values)
        if not 2 <= k <= FEW_VALUES or not _beyond_chance(codes, k):
            return ""
        y = self.y[self.order]
        if k == 2:
            agree, cut, low = _best_cut(codes == 0, y)
            if agree is None:
                return ""
            value = values[0] if low else values[1]
            return (f"a threshold of the target: {col.name} is {plain(value)!r} exactly where "
                    f"{self.name} < {cut:.10g} ({_percent(agree)} of training rows)")
        agree = _in_ranges(codes, k)
        return (f"a binning of the target: each of its {k} values covers one range of {self.name} "
                f"({_percent(agree)} of training rows)")


# ---- a classification target --------------------------------------------------------------------
class _ClassTarget:
    def __init__(self, name: str, labels: np.ndarray) -> None:
        self.name, self.labels = name, labels
        self.codes, self.classes = pd.factorize(labels, use_na_sentinel=False)
        self.numeric = labels.dtype.kind in "iuf"

    def why(self, col: pd.Series, rows: Sample) -> str:
        raw = rows.values(col)
        if self.numeric and is_numeric(col) or raw.dtype == object and self.labels.dtype == object:
            same = raw == self.labels
            if (share := float(np.mean(same))) >= EQUAL and _far_above_chance(share, raw, self.labels):
                return f"equal to the target in {_percent(share)} of training rows"
        codes, values = pd.factorize(raw, use_na_sentinel=False)
        if len(values) <= max(FEW_VALUES, 2 * len(self.classes)) or not is_numeric(col):
            return self._one_to_one(codes, values)
        return self._cut(rows.numbers(col), str(col.name))

    def _one_to_one(self, codes: np.ndarray, values: np.ndarray) -> str:
        k, m, n = len(values), len(self.classes), len(codes)
        if max(k, m) > n / 5:  # a value or class of one or two rows matches anything: no evidence
            return ""
        table = np.bincount(codes * m + self.codes, minlength=k * m).reshape(k, m)
        miss_class = n - table.max(axis=1).sum()  # rows whose class is not their value's usual class
        miss_value = n - table.max(axis=0).sum()  # rows whose value is not their class's usual value
        chance_class = n - table.sum(axis=0).max()  # the same, knowing nothing but the commonest class
        chance_value = n - table.sum(axis=1).max()
        if min(chance_class, chance_value) == 0:
            return ""
        if miss_class > BEYOND_CHANCE * chance_class or miss_value > BEYOND_CHANCE * chance_value:
            return ""
        pairs = ", ".join(f"{plain(values[i])!r} -> {plain(self.classes[j])!r}"
                          for i, j in enumerate(table.argmax(axis=1)[:3]))
        return (f"its values map one-to-one onto the classes of {self.name} ({pairs}; "
                f"{_percent(1 - miss_class / n)} of training rows)")

    def _cut(self, f: np.ndarray, column: str) -> str:
        """The classes are ranges of this numeric column: the target was cut from it."""
        keep = np.isfinite(f)
        if keep.sum() < MIN_ROWS:
            return ""
        order = np.argsort(f[keep])
        codes = self.codes[keep][order]
        m = len(self.classes)
        if not _beyond_chance(codes, m):
            return ""
        if m == 2:
            agree, cut, low = _best_cut(codes == 0, f[keep][order])
            if agree is None:
                return ""
            label = self.classes[0] if low else self.classes[1]
            return (f"the target is a threshold of it: {self.name} is {plain(label)!r} exactly where "
                    f"{column} < {cut:.10g} ({_percent(agree)} of training rows)")
        agree = _in_ranges(codes, m)
        return (f"the classes of {self.name} are ranges of it: sorted by {column}, each class covers one range "
                f"({_percent(agree)} of training rows)")


# ---- the measures -------------------------------------------------------------------------------
def _equal(f: np.ndarray, y: np.ndarray) -> str:
    if np.mean(f[:200] == y[:200]) < 0.5:  # most columns are told apart by their first rows
        return ""
    share = float(np.mean(np.isclose(f, y, rtol=1e-6, atol=0.0)))
    if share >= EQUAL and _far_above_chance(share, f, y):
        return f"equal to the target in {_percent(share)} of training rows"
    return ""


def _far_above_chance(share: float, a: np.ndarray, b: np.ndarray) -> bool:
    """Equality this common is no coincidence of two columns that hold the same few values."""
    va, ca = np.unique(a.astype(str) if a.dtype == object else a, return_counts=True)
    vb, cb = np.unique(b.astype(str) if b.dtype == object else b, return_counts=True)
    _, ia, ib = np.intersect1d(va, vb, return_indices=True)
    chance = float((ca[ia] / len(a) * cb[ib] / len(b)).sum())
    return 1 - share <= 0.1 * (1 - chance)


def _beyond_chance(codes: np.ndarray, k: int) -> bool:
    """Along the sorted rows, a column of k values changes value hardly more than the k - 1 times
    it must, where an unrelated column of the same counts would change at nearly every row."""
    n = len(codes)
    if n < MIN_ROWS:
        return False
    shares = np.bincount(codes, minlength=k) / n
    chance = (n - 1) * (1 - float((shares ** 2).sum())) - (k - 1)  # changes beyond the k - 1, by chance
    changes = int((codes[1:] != codes[:-1]).sum()) - (k - 1)
    return chance >= 10 and changes <= BEYOND_CHANCE * chance  # (a column of all different values: never)


def _best_cut(first: np.ndarray, y: np.ndarray) -> tuple[float | None, float, bool]:
    """(share of rows agreeing, cut, whether the first value lies below it): the one cut of the sorted
    `y` that best separates the rows where `first` is true from the rest."""
    n = len(first)
    below_first = np.concatenate([[0], np.cumsum(first)])  # rows before position i with the first value
    below = np.arange(n + 1)
    total_first = below_first[-1]
    # first below and second above; or the other way round
    agree_low = below_first + (n - below - (total_first - below_first))
    agree_high = (below - below_first) + (total_first - below_first)
    possible = np.concatenate([[True], y[1:] != y[:-1], [True]])  # a cut never splits tied values
    possible[0] = possible[-1] = False
    if not possible.any():
        return None, 0.0, True
    low_i = int(np.argmax(np.where(possible, agree_low, -1)))
    high_i = int(np.argmax(np.where(possible, agree_high, -1)))
    low = agree_low[low_i] >= agree_high[high_i]
    i = low_i if low else high_i
    return float((agree_low if low else agree_high)[i]) / n, _roundest(float(y[i - 1]), float(y[i])), bool(low)


def _roundest(below: float, top: float) -> float:
    """The roundest number above `below` and at most `top`: a cut between 2496 and 2505 reads 2500."""
    size = max(abs(below), abs(top))
    if not below < top or size == 0:
        return top
    power = math.floor(math.log10(size)) + 1
    for k in range(power, power - 16, -1):
        step, digits = 10.0 ** k, max(0, -k)
        cut = round((math.floor(below / step) + 1) * step, digits)
        if cut <= below:  # floating point: -3.7 / 0.1 is a hair below -37
            cut = round(cut + step, digits)
        if below < cut <= top:
            return cut
    return top


def _in_ranges(codes: np.ndarray, k: int) -> float:
    """The share of rows in place when a column's `k` values (codes, in sorted order of the other column) each
    cover one range: k - 1 changes are needed, and each change beyond them puts about half a row out of place."""
    changes = int((codes[1:] != codes[:-1]).sum())
    return 1 - max(0, changes - (k - 1)) / (2 * len(codes))


def _percent(share: float) -> str:
    """100% only when it is all of them."""
    tenths = math.floor(share * 1000) / 10
    if share < 1 and tenths >= 100:
        tenths = 99.9
    return f"{tenths:g}%"
