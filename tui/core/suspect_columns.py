"""Integer features that look like ids: kept (data.py decides what is left out), but warned about.

data.py leaves out columns *named* like ids. These are the ones whose values give them away
whatever their name, and which a model would read as a quantity:

- a panel id: each value fills one block of the same number of rows (`individual` 1,1,1,1,2,2,2,2,...),
  a person measured several times. A random split then puts the same person on both sides, and
  the validation score flatters: `--group COL` keeps each one's rows together;
- an id number: nearly every row a different integer, all of one width (483920, 483977, ...),
  and not a plain row count (0, 1, 2, ... is a time step: data).

Only the first `HEAD` rows are looked at, in file order: a block pattern shows there, and the
cost stays flat on a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HEAD = 100_000
MIN_BLOCKS = 10  # fewer blocks of a sorted column prove nothing
SAME_SIZE = 0.9  # share of blocks with the common size
MIN_ROWS = 50  # an id number needs this many rows to look like one
DISTINCT = 0.99  # share of rows with a value of their own
ID_DIGITS = 4  # an id number's width, at least


@dataclass(frozen=True)
class Finding:
    """One column to doubt: `kind` is "leak" (may give the target away) or "id" (looks like an id)."""

    column: str
    kind: str
    why: str  # in words, without the column's name

    @property
    def message(self) -> str:
        c = self.column
        if self.kind == "leak":
            return f"warning: column {c} may leak the target: {self.why}; --drop {c} removes it"
        return (f"warning: column {c} {self.why}, yet is used as a number; if rows sharing a value belong "
                f"together, --group {c} keeps them on one side of the split (--drop {c} leaves it out)")

    def as_dict(self) -> dict[str, str]:
        return {"column": self.column, "kind": self.kind, "why": self.why, "message": self.message}


def id_like(frame: pd.DataFrame, features: list[str]) -> list[Finding]:
    found = []
    for c in features:
        col = frame[c]
        if col.dtype.kind not in "iu":
            continue
        values = col.to_numpy()[:HEAD]
        why = _panel(values) or _id_number(values)
        if why:
            found.append(Finding(c, "id", why))
    return found


def _panel(values: np.ndarray) -> str:
    starts = np.flatnonzero(values[1:] != values[:-1]) + 1
    edges = np.concatenate([[0], starts])
    sizes = np.diff(np.concatenate([edges, [len(values)]]))[:-1]  # the last block may be cut short
    if len(sizes) < MIN_BLOCKS:
        return ""
    size = int(np.bincount(sizes).argmax())
    if size < 2 or (sizes == size).mean() < SAME_SIZE:
        return ""
    if len(np.unique(values[edges])) < len(edges):  # a value comes back later: a cycle, not an id
        return ""
    shown = ", ".join(str(v) for v in values[: 2 * size])
    return f"looks like a panel id: its values come in blocks of {size} rows ({shown}, ...)"


def _id_number(values: np.ndarray) -> str:
    n = len(values)
    if n < MIN_ROWS:
        return ""
    low, high = int(values.min()), int(values.max())
    if low < 0 or len(str(low)) != len(str(high)) or len(str(low)) < ID_DIGITS:  # cheap tests first
        return ""
    if len(np.unique(values[:1000])) < DISTINCT * min(n, 1000):
        return ""
    distinct = len(np.unique(values))
    if distinct < DISTINCT * n or high - low + 1 == distinct:  # 0, 1, 2, ... in any order: a row count, a time step
        return ""
    return f"looks like an id: {distinct:,} different integers of {len(str(low))} digits in {n:,} rows"
