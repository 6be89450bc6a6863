"""Validation rows that are copies of training rows: warned about before training, never dropped.

A file whose rows were repeated before it reached us (an oversampling step, overlapping exports pasted
together, a join that doubled rows) puts copies on both sides of any split: the model is validated on rows it
trained on, and its validation loss flatters it. Equal rows are not always copies, though: in a table of
few-valued columns (three sizes, two colours, ages in years) different records share every value by nature,
and warning there would teach users to ignore the warning.

So a table is checked only where equal rows cannot be a coincidence. Its most varied column must have at least
half as many values as there are distinct training rows (measurements at full precision, prices, timestamps),
its columns must have room for ten times as many distinct rows as it has (1-5 stars and the yes/no they decide
fill theirs), and the warning needs copies of rows whose value there no other distinct training row holds: two
records that agree on such a value and on every other column are copies. (A target of two classes beside a
column of three sizes passes the first test, six distinct rows of three values, but not the second: every size
goes with both classes.) Values and distinct rows are counted on the distinct rows, which copies do not change.
A validation row is a copy when a training row equals it in every feature and target; a few percent of copies
are warned of.

Rows are compared by a 64-bit hash of their cells (pandas' hash_pandas_object; numbers as float64, so an int
column in one file and a float column in the other still match), and only the rows that share a value in
the most varied column are hashed: hashing every row of a million cost a third of preparing them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .preprocess import is_numeric

SAMPLE = 20_000  # validation rows looked at, at most, and training rows the most varied column is found in
MIN_COPIES = 3  # fewer copies are not worth a warning
MIN_SHARE = 0.01  # nor copies in fewer than this share of the validation rows


def row_hashes(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> np.ndarray:
    """One uint64 per row of `rows`, of `columns`: equal rows, equal hashes."""
    cells = pd.DataFrame({c: _cells(frame[c], rows) for c in columns})
    return pd.util.hash_pandas_object(cells, index=False).to_numpy()


def check(train: pd.DataFrame, train_rows: np.ndarray, val: pd.DataFrame, val_rows: np.ndarray | None,
          columns: list[str], val_name: str = "", seed: int = 0) -> list[str]:
    """A warning notice (in a list, empty when there is nothing to say) when validation rows equal a training row
    in every one of `columns` (the features and targets) in a table where that is no coincidence. `val_rows`
    None: `val` is a validation file of its own, named `val_name`; else its rows `val_rows` of the training
    table `train`, which is then `val` too."""
    rng = np.random.default_rng(seed)
    train_rows = np.asarray(train_rows)
    val_rows = np.arange(len(val)) if val_rows is None else np.asarray(val_rows)
    sampled = len(val_rows) > SAMPLE
    if sampled:
        val_rows = np.sort(rng.choice(val_rows, SAMPLE, replace=False))
    need = max(MIN_COPIES, MIN_SHARE * len(val_rows))
    if len(val_rows) < need or len(train_rows) == 0 or not columns:
        return []
    sample = train_rows if len(train_rows) <= SAMPLE else np.sort(rng.choice(train_rows, SAMPLE, replace=False))
    _, first = np.unique(row_hashes(train, columns, sample), return_index=True)
    distinct = sample[first]  # the distinct training rows (of the sample)
    varied = _most_varied(train, columns, distinct)
    if varied is None or not _has_room(train, columns, distinct):
        return []
    # a copy holds a training row's value in the varied column: only those rows, few, are hashed whole (the
    # lookup table is made of the validation rows' values, at most SAMPLE; the training rows only probe it)
    trained_values, held_values = _cells(train[varied], train_rows), _cells(val[varied], val_rows)
    twin = pd.Series(trained_values).isin(held_values).to_numpy()
    twins = train_rows[twin]
    shared = pd.Series(held_values).isin(trained_values[twin]).to_numpy()
    if shared.sum() < need:
        return []
    copy = np.zeros(len(val_rows), dtype=bool)
    copy[shared] = pd.Series(row_hashes(val, columns, val_rows[shared])).isin(row_hashes(train, columns, twins))
    # the proof: copies of a row whose value there no other distinct training row holds (in a column of few values,
    # S/M/L beside a 0/1 target, every row has twins by nature, and such values are held by several rows)
    counts = pd.Series(_cells(train[varied], distinct)).value_counts(dropna=True)
    telling = pd.Series(held_values).isin(counts.index[counts.to_numpy() == 1]).to_numpy()
    if (copy & telling).sum() < need:
        return []
    copies = int(copy.sum())
    where = f"rows of the validation file {val_name}" if val_name else "validation rows"
    return [f"warning: {copies:,} of {len(val_rows):,} {where}{' (a sample)' if sampled else ''} "
            f"({copies / len(val_rows):.0%}) are copies of training rows (equal in every feature and target, though "
            f"column {varied} rarely repeats a value): the validation loss flatters the model on rows it trained on; "
            "remove the repeated rows from the file (pandas: drop_duplicates) before training"]


def _cells(col: pd.Series, rows: np.ndarray) -> np.ndarray:
    """A column's cells at `rows`, numbers as float64 (18 in one file is 18.0 in another; an empty cell of a
    nullable integer column, pandas' NA, is NaN)."""
    values = col.to_numpy()  # (numpy's own dtypes: no copy)
    if not is_numeric(col):
        return values[rows]
    if values.dtype.kind in "iufb":
        return values[rows].astype(np.float64)
    return col.iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan)  # a nullable column: NA becomes NaN


def _has_room(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> bool:
    """Whether the table's rows could differ ten times as many ways as its distinct rows `rows` do: else equal
    rows are what its columns hold by nature. A column of numbers can hold each value on the grid its values lie
    on (its range in steps of its finest decimal), one of text the values it holds. 1-5 stars beside the yes/no
    they decide fill their 10 possible rows with 5 (every validation row was called a copy); ages in years, or a
    length to the millimetre, beside a label fill theirs too; 13 measurements to two decimals never do."""
    room = 0.0  # log of the number of possible rows
    for c in columns:
        room += math.log(_values_possible(frame[c], rows))
        if room >= math.log(10 * len(rows)):
            return True
    return False


def _values_possible(col: pd.Series, rows: np.ndarray) -> float:
    values = _cells(col, rows)
    if not is_numeric(col):
        return max(1, pd.Series(values).nunique(dropna=False))
    values = np.unique(values[np.isfinite(values)])
    if len(values) < 2:
        return 1 + (len(values) < len(rows))  # one value, and perhaps empty cells
    scale = max(1.0, float(np.abs(values).max()))
    for decimals in range(10):
        if np.allclose(np.round(values, decimals), values, rtol=0, atol=1e-9 * scale):
            return (values[-1] - values[0]) * 10.0 ** decimals + 1
    return math.inf  # more than 9 decimals: a measurement's full precision


def _most_varied(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> str | None:
    """The column of `columns` with the most values among `rows` (distinct rows) - or the first with a value for
    nearly every row - where it has at least half as many values as there are rows; else None."""
    best, most = None, 0
    for c in columns:
        values = frame[c].iloc[rows].nunique(dropna=True)
        if values > most:
            best, most = c, values
        if most >= 0.9 * len(rows):  # nearly every row its own value: as good as any, and 20 columns cost 10 ms
            break
    return best if most * 2 >= len(rows) else None
