"""Table -> numbers, fitted on the training split only, and carried inside the checkpoint.

A `Preprocessor` is learnt from the training rows (means, scales, fill values, categories,
class labels) and then applied unchanged to validation, evaluation and prediction data. Its
state is a plain dict of lists, strings and floats, because `torch.load(weights_only=True)`
refuses anything else, and because a checkpoint must predict on a new CSV with nothing else
at hand.
"""

from __future__ import annotations

import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .errors import UserError
from .reader import COLUMN_N, PANDAS_EMPTY_WORDS, VERSIONED_RULES, Reading, are_codes

MAX_CLASSES_BY_INFERENCE = 20
MAX_LEVELS = 50  # one-hot columns per categorical feature; rarer values share "(other)"
OTHER = "(other)"
MISSING = "(missing)"
ALL_ZERO = "all-zero one-hot"  # a text value the model has no category for, in a column without (other)
SHOWN_VALUES = 3  # unseen values named in a note
# The largest magnitude a number column may hold: squared (a variance, a squared error) it stays finite in float64
# (1e308), with room for sums of many. Beyond it the statistics overflowed to infinity and a run trained on zeros.
LARGEST = 1e150
BLOCK_ROWS = 65536  # rows of a matrix written at a time: a few MiB, in cache
# threads that prepare a big table (numpy's loops run without the GIL), within the CPUs this process may use
WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass
class Column:
    name: str
    kind: str  # "numeric" | "categorical"
    mean: float = 0.0
    std: float = 1.0
    fill: float = 0.0  # numeric: the training median, used when missing = "impute"
    categories: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1


@dataclass
class Unseen:
    """Rows of one text column whose value the model has no category for, and what they were encoded as."""

    column: str
    rows: int
    values: list[str]  # the most frequent of them, at most SHOWN_VALUES
    distinct: int  # how many different values
    encoded_as: str  # OTHER, or ALL_ZERO
    known: int  # the categories the model has for this column, (other) left out

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values) + (", ..." if self.distinct > len(self.values) else "")
        rows = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        if self.encoded_as == OTHER:
            return (f"column {self.column}: {rows} with values not among the {self.known} it kept from training "
                    f"({shown}): encoded as '{OTHER}'")
        return (f"column {self.column}: {rows} with values not seen in training ({shown}): "
                f"encoded as {ALL_ZERO} (no category of its own)")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.describe()}


@dataclass
class Filled:
    """Empty cells of one column a model trained with --missing impute filled: its numbers with the training
    median, its text with the value '(missing)'. Said by `predict` and `eval`, as training says it."""

    column: str
    rows: int
    value: str  # what they were filled with, as written
    # of those, cells of a number column that hold text or an infinite number, not nothing ('abc', 'inf'): as its
    # training counted them among the empty (data._coerce_mostly_numeric), but said as what they are
    not_numbers: int = 0
    examples: list[str] = field(default_factory=list)  # the first few of them

    def describe(self) -> str:
        empty = self.rows - self.not_numbers
        parts = [f"{empty} empty cell{'s' if empty != 1 else ''}"] if empty else []
        if self.not_numbers:
            parts.append(f"{self.not_numbers} cell(s) that are not finite numbers "
                         f"({', '.join(map(repr, self.examples))})")
        return f"column {self.column}: {' and '.join(parts)} filled with {self.value} (the model trained with " \
               "--missing impute)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.describe()}


@dataclass
class RowsLeftOut:
    """A file's rows with an empty cell, which a model trained with --missing drop does not answer for: it left
    such rows out of its training and fills nothing. They keep their place in the predictions, with empty
    prediction cells (one row out per row in), and are left out of an evaluation's metrics."""

    rows: int
    first: int  # the first one's data row (1-based)
    column: str  # and its first empty cell's column
    scored: bool  # an evaluation (else predictions)
    blank: bool = False  # rows with no value in any cell (a spreadsheet's empty lines), which no model answers for

    def describe(self) -> str:
        what = "left out of the metrics" if self.scored else "not predicted (their prediction cells are empty)"
        if self.blank:
            return (f"{self.rows} row(s) with no value in any cell (a spreadsheet's empty lines; first: data row "
                    f"{self.first}) {what}")
        return (f"{self.rows} row(s) with an empty cell or no number where the model takes one (first: data row "
                f"{self.first}, column {self.column}) {what}: "
                f"the model trained with --missing drop, which leaves such rows out; fill those cells to "
                f"{'score' if self.scored else 'predict'} them")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.describe()}


@dataclass(frozen=True)
class Answerable:
    """A file as a model reads it to answer for its rows (`Preprocessor.answerable`): the rows it leaves out (with
    --missing drop those with an empty cell; with any model those with no value at all) passed over in `read` (so
    that a refusal names a cell by its row in the file) and `rows` the others; where it leaves none out, the file
    itself, every row (`rows` None)."""

    read: pd.DataFrame
    rows: np.ndarray | None
    left_out: list[RowsLeftOut]

    def kept(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of `frame` answered for."""
        return frame if self.rows is None else frame.iloc[self.rows]


@dataclass
class Preprocessor:
    targets: list[str]  # one for classification; one or more for regression
    task: str  # "classification" | "regression"
    columns: list[Column]
    classes: list[Any] = field(default_factory=list)
    target_mean: list[float] = field(default_factory=list)  # regression: per target, from the training rows
    target_std: list[float] = field(default_factory=list)
    missing: str = "error"  # error | drop | impute: what to do with empty cells in features
    id_column: str = ""  # kept beside predictions when a file has it
    # its files' 'NA' and 'None' in a column of words are values (reader.Reading.words); False in a model trained
    # before that rule, which read them as empty (a checkpoint without the field)
    words: bool = False
    # a class column of whole numbers written with leading zeros has its classes as written (reader.Reading.codes);
    # False in a model trained before that rule, whose classes are the numbers
    codes: bool = False
    # an identifier is told by its name only where the name is one's and its numbers whole (reader.Reading.ids);
    # False in a model trained before that rule, which left out a header cell left empty ('Unnamed: 2')
    ids: bool = False
    # a line with some names left empty ("x,,,label") is the header, not a title (reader.Reading.gaps); False in a
    # model trained before that rule, which read such a file without a header line (columns col1, col2, ...)
    gaps: bool = False
    # the training file's decimal mark, for files whose cells could be written with either ('2.096': reader.Reading
    # .decimal); '' in a model trained before, whose files are read by the mark their cells say most
    decimal: str = ""
    # PassengerId, CustomerID say identifier (reader.Reading.camel); False in a model trained before, which used them
    camel: bool = False
    # a column of dates is left out however often they repeat (reader.Reading.dates); False in a model trained before
    dates: bool = False
    # a JSON file's classes in quotes ("001") keep their names (reader.Reading.quoted); False in a model trained before
    quoted: bool = False
    # numbers in a spreadsheet's forms beyond the file's marks ("0,420" in a file of decimal dots, "(1,067.49)", the
    # minus U+2212: reader.Reading.forms); False in a model trained before, which read "0,420" as 420
    forms: bool = False
    # the decimal mark each column of numbers written for people was read with (reader.Reading.number_marks)
    number_marks: dict[str, str] = field(default_factory=dict)
    # a column of numbers whose other cells mark a missing value is numbers however many those are (reader.Reading
    # .marked_numbers); False in a model trained before, for which it took 90% numbers
    marked_numbers: bool = False
    # a CSV row repeating the header line is refused (reader.Reading.stray_lines); False in a model trained
    # before, which read it as a row
    stray_lines: bool = False
    # a column of numbers written with a unit ('190 cm') or SAP's minus after ('2.583,07-') is numbers (reader.Reading
    # .suffixes); False in a model trained before, which encoded it value by value or left it out
    suffixes: bool = False
    # a text target naming its rows is refused (reader.Reading.named_rows); False in a model trained before
    named_rows: bool = False
    # a header over rows ending in a separator is the header (reader.Reading.row_ends); False in a model trained
    # before, which read such a tab or ';' file without it
    row_ends: bool = False
    # a column of durations or clock times is numbers (reader.Reading.durations); False in a model trained before,
    # which left it out as dates or took its values for classes
    durations: bool = False
    # the form each column read as durations was written in (reader.Reading.duration_forms)
    duration_forms: dict[str, str] = field(default_factory=dict)
    # numbers with ₹ (and other signs), 'Rs.', India's grouping '12,34,567' (reader.Reading.currencies); False in a
    # model trained before, which read them as text
    currencies: bool = False
    # an R file's "NA" in quotes is the text NA (reader.Reading.quoted_na); False in a model trained before, which
    # read it as empty
    quoted_na: bool = False
    # a first line counting up '0,1,...,23' is a header (reader.Reading.counts); False in a model trained before,
    # which read it as a row
    counts: bool = False
    # rows with no value are left out before the columns are chosen (reader.Reading.blank_rows); False in a model
    # trained before
    blank_rows: bool = False

    # ---- shapes -------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def target(self) -> str:
        return ", ".join(self.targets)

    @property
    def target_standardised(self) -> bool:
        """A regression model that learnt (y - mean) / std: its loss is in those units, not the target's."""
        return self.task == "regression" and any(m != 0.0 or s != 1.0
                                                 for m, s in zip(self.target_mean, self.target_std))

    # ---- fitting ------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: pd.DataFrame, train_rows: np.ndarray, targets: list[str], features: list[str], task: str,
            classes: list[Any], standardize_target: bool, missing: str = "error",
            id_column: str = "", rules: Reading = Reading()) -> "Preprocessor":
        """Statistics from `train_rows` of `frame` only; validation rows never inform them. `rules`: those the
        frame was read and its columns chosen by, kept with the model (`reading_of`).

        A big table's columns are shared among threads (numpy works without the GIL), each with
        one scratch buffer for its columns' training rows, allocated once and by torch: numpy asks
        the kernel for huge pages, whose first touch stalled for up to 0.2 s on our test machine.
        """
        columns_of = {name: frame[name] for name in features}  # taken here: threads only read numpy and Series

        def column(name: str, scratch: np.ndarray) -> Column:
            col = columns_of[name]
            if is_numeric(col):
                mean, std, fill = _numeric_stats(col.to_numpy(dtype=np.float64), train_rows, scratch,
                                                 missing == "impute")
                return Column(name, "numeric", mean, std, fill)
            counts = _as_labels(col.iloc[train_rows], missing).value_counts()
            cats = sorted(counts.index.tolist())
            if len(cats) > MAX_LEVELS:
                cats = sorted(counts.index[: MAX_LEVELS - 1].tolist()) + [OTHER]
            return Column(name, "categorical", categories=cats)

        def share(names: list[str]) -> list[Column]:
            scratch = torch.empty(len(train_rows), dtype=torch.float64).numpy()
            return [column(name, scratch) for name in names]

        workers = min(WORKERS, len(features)) if len(train_rows) > BLOCK_ROWS else 1
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                shares = [features[i::workers] for i in range(workers)]
                done = {c.name: c for part in pool.map(share, shares) for c in part}
            columns = [done[name] for name in features]
        else:
            columns = share(features)
        pre = cls(targets=list(targets), task=task, columns=columns, classes=list(classes), missing=missing,
                  id_column=id_column, decimal=rules.decimal, number_marks=dict(sorted(rules.number_marks)),
                  duration_forms=dict(sorted(rules.duration_forms or ())),
                  **{rule: getattr(rules, rule) for rule in VERSIONED_RULES})
        if task == "regression":
            pre.target_mean, pre.target_std = [0.0] * len(targets), [1.0] * len(targets)
            if standardize_target:
                for i, t in enumerate(targets):
                    y = frame[t].to_numpy(dtype=np.float64)[train_rows]
                    std = float(y.std())
                    pre.target_mean[i], pre.target_std[i] = float(y.mean()), (std if std > 0 else 1.0)
        return pre

    # ---- applying -----------------------------------------------------------------------
    def transform_x(self, frame: pd.DataFrame, source: str = "data", rows: np.ndarray | None = None) -> np.ndarray:
        """float32 (rows, inputs) of `rows` (default: all rows)."""
        return self.transform_splits(frame, source, [rows])[0]

    def transform_splits(self, frame: pd.DataFrame, source: str, splits: list[np.ndarray | None]) -> list[np.ndarray]:
        """One float32 (rows, inputs) matrix per row set in `splits` (None: all rows), each written
        straight from the table: no float64 copy of the table, no full matrix to cut splits from.

        Each column is checked and encoded once for all splits (numbers as float64 views,
        categories as codes). A matrix is then written in blocks of rows that stay in cache while
        they are filled (see `_write`), the blocks shared among threads (numpy works without the
        GIL). The matrices are allocated by torch, which trains on them, and which, unlike numpy,
        does not ask for huge pages (see `fit`).
        """
        parts = self._encoded(frame, source)
        outs = []
        for rows in splits:
            n = len(frame) if rows is None else len(rows)
            out = torch.empty((n, self.n_inputs), dtype=torch.float32).numpy()
            starts = range(0, n, BLOCK_ROWS)
            if len(starts) > 2 and WORKERS > 1:
                step = math.ceil(len(starts) / WORKERS)
                with ThreadPoolExecutor(WORKERS) as pool:
                    list(pool.map(lambda share, rows=rows, out=out: self._write(parts, rows, out, share),
                                  [starts[i:i + step] for i in range(0, len(starts), step)]))
            else:
                self._write(parts, rows, out, starts)
            outs.append(out)
        return outs

    def _encoded(self, frame: pd.DataFrame, source: str) -> list[tuple[Column, np.ndarray]]:
        """(column, float64 values or category codes) per input column, all rows; empty cells refused or filled."""
        self.check_features(frame.columns, source)
        parts: list[tuple[Column, np.ndarray]] = []
        for c in self.columns:
            col = frame[c.name]
            if c.kind == "numeric":
                values = numeric_values(col)
                within_range(values, c.name, source)
                if not all_finite(values):
                    bad = ~np.isfinite(values)
                    if self.missing != "impute":
                        raise UserError(_missing_message(source, c.name, col, bad))
                    values = np.where(bad, c.fill, values)
                parts.append((c, values))
            else:
                if self.missing != "impute" and col.isna().any():
                    raise UserError(_missing_message(source, c.name, col, col.isna().to_numpy()))
                labels = _category_labels(col, self.missing, c.categories)
                if OTHER in c.categories:
                    labels = labels.where(labels.isin(c.categories), OTHER)
                parts.append((c, pd.Index(c.categories).get_indexer(labels)))
        return parts

    def _write(self, parts: list[tuple[Column, np.ndarray]], rows: np.ndarray | None, out: np.ndarray,
               starts: range) -> None:
        """out[start:start + BLOCK_ROWS] for each start: the table's rows `rows[start:...]` (or the same rows).

        Input by input, straight into the block of `out`: the block (a few MiB) stays in cache
        while its strided columns are filled, which is faster than building it transposed and
        copying it over.
        """
        n = len(out)
        scratch = np.empty(min(n, BLOCK_ROWS), dtype=np.float64)
        for start in starts:
            stop = min(n, start + BLOCK_ROWS)
            window, tmp = out[start:stop], scratch[: stop - start]
            j = 0
            for c, data in parts:
                # rows picked with take(mode="clip"): the indices are known good, and it is 4x a fancy index
                values = data[start:stop] if rows is None else np.take(data, rows[start:stop], mode="clip",
                                                                        out=tmp if c.kind == "numeric" else None)
                if c.kind == "numeric":  # float64 arithmetic, as the statistics; rounded to float32 once
                    np.subtract(values, c.mean, out=tmp)
                    np.divide(tmp, c.std, out=window[:, j], casting="same_kind")
                else:
                    window[:, j:j + c.width] = 0.0
                    known = np.nonzero(values >= 0)[0]
                    window[known, j + values[known]] = 1.0
                j += c.width

    def unseen(self, frame: pd.DataFrame) -> list[Unseen]:
        """Per text column, the rows of `frame` whose value has no category of its own in the model: encoded
        as `(other)` where the column has one, else as all zeros. Said by `predict` and `eval`, which would
        otherwise answer for such rows without a word."""
        found = []
        for c in self.columns:
            if c.kind != "categorical" or c.name not in frame.columns:
                continue
            labels = _category_labels(frame[c.name], self.missing, c.categories)
            outside = labels.notna() & ~labels.isin(c.categories)
            if outside.any():
                counts = labels[outside].value_counts()
                folded = OTHER in c.categories
                found.append(Unseen(c.name, int(outside.sum()), [str(v) for v in counts.index[:SHOWN_VALUES]],
                                    len(counts), OTHER if folded else ALL_ZERO, len(c.categories) - folded))
        return found

    def filled(self, frame: pd.DataFrame) -> list[Filled]:
        """Per feature column, the empty cells of `frame` a model trained with --missing impute fills (none for
        another model: it refuses them)."""
        if self.missing != "impute":
            return []
        found = []
        for c in self.columns:
            if c.name not in frame.columns:
                continue
            col = frame[c.name]
            others = pd.Series([], dtype=object)
            bad = missing_cells(col, c.kind == "numeric")
            empty = int(bad.sum())
            if c.kind == "numeric":
                value = f"the training median {c.fill:g}"
                others = col[bad & col.notna().to_numpy()]
            else:
                value = repr(MISSING)
            if empty:
                examples = [str(plain(v)) for v in others.drop_duplicates().head(SHOWN_VALUES).tolist()]
                found.append(Filled(c.name, empty, value, len(others), examples))
        return found

    def answerable(self, frame: pd.DataFrame, source: str, scored: bool) -> Answerable:
        """`frame` as the model reads it to answer for its rows (to score them where `scored`): what `predict`,
        `eval` and a run's --test read, alike."""
        keep, left = self._rows_answered(frame, source, scored)
        if keep is None:
            return Answerable(frame, None, [])
        return Answerable(self._passed_over(frame, ~keep), np.flatnonzero(keep), left)

    def _rows_answered(self, frame: pd.DataFrame, source: str, scored: bool) -> tuple[np.ndarray | None,
                                                                                      list[RowsLeftOut]]:
        """(the rows a model trained with --missing drop answers for, None for all; what it says of the others):
        those without an empty cell among the features (and the targets, to score them). Any other model
        refuses an empty cell (or fills it: impute), as it did in training. A file of nothing but such rows is
        refused: there is nothing to answer. A row with no value in any cell (a spreadsheet's ',,,' line) is
        answered by no model, as no training read one (data.without_blank_rows): an imputing model gave it the
        medians' prediction, any other refused the file."""
        blank = blank_rows(frame)
        if blank.all() and len(frame):
            raise UserError(f"{source}: no row holds a value (only empty lines, ',,,'): there is nothing to "
                            f"{'score' if scored else 'predict'}; give the file with its rows")
        blanks = [RowsLeftOut(int(blank.sum()), int(np.argmax(blank)) + 1, "", scored, blank=True)] * bool(blank.any())
        if self.missing != "drop":
            return (~blank if blank.any() else None), blanks
        empty, first = self.empty_cells(frame, source, targets=scored)
        if not empty.any():
            return None, []
        if empty.all():
            raise UserError(f"{source}: every row has an empty cell (first: data row 1, column {first[0]}), and the "
                            "model trained with --missing drop, which leaves such rows out; fill those cells to "
                            f"{'score' if scored else 'predict'} them")
        # a row with no value is said as such (as for any model), not as one with an empty cell to fill
        cells = empty & ~blank
        at = int(np.argmax(cells))
        return ~empty, blanks + [RowsLeftOut(int(cells.sum()), at + 1, first[at], scored)] * bool(cells.any())

    def empty_cells(self, frame: pd.DataFrame, source: str, targets: bool = False) -> tuple[np.ndarray, list[str]]:
        """(each row has an empty cell, the column of each row's first) among the features - and the targets, where
        `targets` - as the model's training counted them (data._bad_cells): in a column it takes as numbers, a
        cell that is no finite number ('', '?', 'n/a', inf); in another, an empty one. A model trained with
        --missing drop left such rows out; `predict` and `eval` leave them out alike."""
        self.check_features(frame.columns, source)
        names = [c.name for c in self.columns] + ([t for t in self.targets if t in frame.columns] if targets else [])
        numbers = {c.name for c in self.columns if c.kind == "numeric"} | (
            set(self.targets) if self.task == "regression" else set())
        empty = np.zeros(len(frame), dtype=bool)
        first = np.full(len(frame), "", dtype=object)
        for name in names:
            col = frame[name]
            cells = missing_cells(col, name in numbers)
            first[cells & ~empty] = name
            empty |= cells
        return empty, first.tolist()

    def _passed_over(self, frame: pd.DataFrame, skip: np.ndarray) -> pd.DataFrame:
        """`frame` with the cells of the model's columns in the `skip` rows (those a --missing drop model leaves
        out) set to values it takes - a mean, its first category or class - so that the transforms read every row
        and a refusal names a cell by its row in the file, not by its place among the rows kept. The rows' own
        answers are never used."""
        out = frame.copy()
        for c in self.columns:
            out[c.name] = frame[c.name].where(~skip, c.mean if c.kind == "numeric"
                                              else (c.categories[0] if c.categories else None))
        for i, t in enumerate(self.targets):
            if t in frame.columns:
                stand_in = self.classes[0] if self.task == "classification" and self.classes else (
                    self.target_mean[i] if i < len(self.target_mean) else 0.0)
                out[t] = frame[t].where(~skip, stand_in)
        return out

    def without_its_targets(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        """(the file as the model reads it, a note) for a file without a header line and without the target columns,
        where the model trained on such a file: its columns are named col1, col2... by place, and the target's
        place, left out, moved every column after it (a label first: the features were col2..col785, and a file of
        them alone read as col1..col784, refused as lacking col785 with "pass --header" as the fix). Named by the
        places they had in the training file; any other file is read as it is ('')."""
        names = [c.name for c in self.columns]
        place = {n: int(n[3:]) for n in [*names, *self.targets] if re.fullmatch(r"col[1-9]\d*", n)}
        cols = list(map(str, frame.columns))
        if (len(place) != len(names) + len(self.targets) or cols != [f"col{i}" for i in range(1, len(cols) + 1)]
                or all(n in cols for n in names)):
            return frame, ""
        targets = {place[t] for t in self.targets}
        places = [i for i in range(1, len(cols) + len(targets) + 1) if i not in targets][:len(cols)]
        renamed = [f"col{i}" for i in places]
        if not set(names) <= set(renamed):
            return frame, ""
        return frame.set_axis(renamed, axis=1), (
            f"{len(cols)} columns, no header line and no {', '.join(self.targets)}: read as the training file's "
            f"columns without {'it' if len(targets) == 1 else 'them'} ({renamed[0]}..{renamed[-1]})")

    def check_features(self, columns: Any, source: str) -> None:
        names = list(map(str, columns))
        missing = [c.name for c in self.columns if c.name not in set(names)]
        if missing:
            # a file read without a header line has columns col1, col2...: say so, and how to read its first line
            unnamed = bool(names) and all(re.fullmatch(r"col\d+", n) for n in names)
            raise UserError(f"{source} lacks the feature column(s) {', '.join(missing)} that the model was trained on"
                            + ("; it was read without a header line (its columns are col1, col2, ...): if its first "
                               "line names the columns, pass --header" if unnamed else ""))

    def transform_y(self, frame: pd.DataFrame, source: str = "data") -> np.ndarray:
        """Class indices (int64, shape (n,)) or scaled values (float32, shape (n, targets))."""
        absent = [t for t in self.targets if t not in frame.columns]
        if absent:
            raise UserError(f"{source} has no target column {', '.join(absent)}; it is needed for evaluation")
        for t in self.targets:
            if frame[t].isna().any():
                raise UserError(_missing_message(source, t, frame[t], frame[t].isna().to_numpy(), target=True))
        if self.task == "regression":
            return np.column_stack([self._scaled(frame[t], t, source) for t in self.targets]).astype(np.float32)
        col = frame[self.targets[0]]
        if self.task == "classification":
            index = {_label_key(c): i for i, c in enumerate(self.classes)}
            keys = [_label_key(v) for v in col.tolist()]
            unknown = [k for k in keys if k not in index]
            if unknown:
                raise UserError(f"{source}: target {self.target} holds label {unknown[0]!r} "
                                f"that the model does not know (it knows {', '.join(map(str, self.classes))})"
                                + _lookalike(unknown[0], self.classes))
            return np.array([index[k] for k in keys], dtype=np.int64)
        raise AssertionError(self.task)

    def _scaled(self, col: pd.Series, name: str, source: str) -> np.ndarray:
        if not is_numeric(col):
            bad = first_non_numeric(col)
            raise UserError(f"{source}: regression target {name} must be numeric, "
                            f"but row {bad[0] + 1} holds {bad[1]!r}")
        i = self.targets.index(name)
        values = col.to_numpy(dtype=np.float64)
        infinite = ~np.isfinite(values)  # (NaN was refused above) inf or 1e309: a loss of inf and an r2 of nan
        if infinite.any():
            raise UserError(_missing_message(source, name, col, infinite, target=True))
        within_range(values, name, source, target=True)
        return (values - self.target_mean[i]) / self.target_std[i]

    def to_target_units(self, scaled: np.ndarray) -> np.ndarray:
        """(n, targets) scaled values back in each target's own units."""
        return scaled * np.asarray(self.target_std) + np.asarray(self.target_mean)

    # ---- checkpoint form ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for rule in (*VERSIONED_RULES, "decimal", "number_marks", "duration_forms"):
            if not d[rule]:  # as a model trained before the rule wrote it: a resume compares the two
                del d[rule]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessor":
        return cls(**{**d, "columns": [Column(**c) for c in d["columns"]]})


def _numeric_stats(values: np.ndarray, rows: np.ndarray, scratch: np.ndarray,
                   impute: bool) -> tuple[float, float, float]:
    """(mean, std, median if `impute`) of the finite values among `rows`; std 1 for a constant column."""
    known = np.take(values, rows, out=scratch, mode="clip")  # the rows are known good; 2x faster unchecked
    if not all_finite(known):
        known = known[np.isfinite(known)]
    if not len(known):
        return 0.0, 1.0, 0.0
    mean = float(known.mean())
    fill = float(np.median(known)) if impute else 0.0
    known -= mean  # np.std's own arithmetic, in place of its two temporary arrays
    np.square(known, out=known)
    std = math.sqrt(float(known.sum()) / len(known))
    return mean, (std if std > 0 else 1.0), fill


def _lookalike(label: str, classes: list) -> str:
    """'; it is the model's '>50K' but for a trailing '.' ...' where `label` differs from a class only by a
    trailing period, blanks or case (UCI's adult.test writes '>50K.' where adult.data writes '>50K'): what to fix."""
    def plain(text: str) -> str:
        return text.strip().rstrip(".").strip().casefold()

    near = [c for c in map(str, classes) if plain(c) == plain(str(label))]
    if len(near) != 1:
        return ""
    return (f"; it is the model's {near[0]!r} but for a trailing '.', blanks or case: write the labels as the "
            "training file does")


def _headerless(d: dict[str, Any]) -> bool:
    """The model's columns are those of a file without a header line: col1, col2, ..."""
    names = [*(c.get("name", "") for c in d.get("columns") or []), *(d.get("targets") or [])]
    return bool(names) and all(COLUMN_N.fullmatch(str(name)) for name in names)


def reading_of(pre: "Preprocessor | dict[str, Any] | None") -> Reading:
    """The rules a model's files are read by (reader.Reading), those it was trained under: its resume, predictions,
    evaluations, export and validation table read files as it did. None: no model yet (a new run), today's rules.
    Each rule of reader.VERSIONED_RULES is on where the model says it (a flag of the same name: a model trained
    before the rule lacks it, and reads as it did then: '0,420' as 420, a column of '2:41:07' as dates, ...; each
    field's comment in Reading says what it changed). Beside those: a lone '?' in a text column is empty for all
    but a model whose categories or classes hold '?'; 'NA' and 'None' are values in the columns whose categories
    hold them (`known`); a model whose classes are whole numbers written with leading zeros reads its class column
    as text (`text`); a model that knows its file's decimal mark reads a file whose cells could be written with
    either by it, one trained before by the marks its cells say most; each column of numbers written for people,
    or of durations, is read in the mark or form the model read it in; a headerless model's file of one line is a
    row."""
    if pre is None:
        return Reading()
    d = pre.to_dict() if isinstance(pre, Preprocessor) else pre
    marks = not ("?" in map(str, d.get("classes") or []) or any(
        "?" in map(str, c.get("categories") or []) for c in d.get("columns") or []))
    values = [(c.get("name"), c.get("categories") or []) for c in d.get("columns") or []]
    if d.get("task") == "classification" and d.get("targets"):
        values.append((d["targets"][0], d.get("classes") or []))
    known = frozenset((str(name), w) for name, held in values for w in PANDAS_EMPTY_WORDS if w in map(str, held))
    rule = bool(d.get("codes", False))
    classes = [str(c) for c in d.get("classes") or []] if d.get("task") == "classification" else []
    text = frozenset(d["targets"][:1]) if rule and are_codes(classes) else frozenset()
    return Reading(question_marks=marks, known=known, text=text, marks="decimal" in d,
                   decimal=str(d.get("decimal", "")),
                   duration_forms=frozenset((d.get("duration_forms") or {}).items()) if d.get("durations") else None,
                   number_marks=frozenset((d.get("number_marks") or {}).items()), headerless=_headerless(d),
                   **{r: bool(d.get(r, False)) for r in VERSIONED_RULES})


def within_range(values: np.ndarray, name: str, source: str, target: bool = False,
                 numbers: np.ndarray | None = None, training: bool = False) -> None:
    """Refuse a number column holding a value beyond +-LARGEST (1e160 typed for 160, a sensor's overflow code):
    its mean or spread overflowed, and the run trained on a column of zeros (a target: a model predicting inf)
    and said 'done'. One line naming the column, the value and its data row (`numbers`: each row's number in
    the file, where rows were dropped before). `training`: the run's own table, whose rows or column can be
    left out; a file for a trained model (predict, eval) can only have the cell fixed."""
    with np.errstate(invalid="ignore"):
        big = (np.abs(values) > LARGEST) & np.isfinite(values)  # (an infinity is an empty cell, as NaN is)
    if not big.any():
        return
    first = int(np.argmax(big))
    row = int(numbers[first]) if numbers is not None else first + 1
    fix = "fix that cell" + ("" if not training else ", or delete that row" if target
                             else f", or leave the column out (--drop {name})")
    raise UserError(f"{source}: {'target' if target else 'column'} {name} holds {int(big.sum())} value(s) too large "
                    f"to compute with (beyond +-{LARGEST:g}; the first, {plain(values[first]):g}, in data row "
                    f"{row}); {fix}")


def all_finite(values: np.ndarray) -> bool:
    """No NaN and no infinity: one sum, without a mask the size of the column (a NaN or an
    infinity makes the sum so; a sum of finite values that overflows is checked cell by cell)."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = values.sum()
    return bool(np.isfinite(total)) or bool(np.isfinite(values).all())


def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Where a row holds no value in any cell (a spreadsheet's ',,,' line): the one test training
    (data.without_blank_rows) and a model's answers (`Preprocessor.answerable`) leave such rows out by."""
    return frame.isna().all(axis=1).to_numpy() if frame.shape[1] else np.zeros(len(frame), dtype=bool)


def missing_cells(col: pd.Series, number: bool) -> np.ndarray:
    """Where a cell counts as missing (a bool per row), as training counts it (data._bad_cells) and a model
    trained with --missing drop or impute reads its files after (`empty_cells`, `filled`): in a column taken as
    numbers, every cell that is no finite number ('', '?', 'n/a', inf, 1e309); in another, an empty one."""
    return ~np.isfinite(numeric_values(col)) if number else col.isna().to_numpy()


def numeric_values(col: pd.Series) -> np.ndarray:
    """float64 values; cells that are not numbers (blank, '?', 'n/a') come back as NaN."""
    if is_numeric(col):
        return col.to_numpy(dtype=np.float64)
    return as_numbers(col).to_numpy(dtype=np.float64)


def as_numbers(col: pd.Series, decimal: str | None = None) -> pd.Series:
    """Text cells read as numbers, others NaN. decimal: the file's mark; None tries '.' and ',' and keeps the better."""
    dot = pd.to_numeric(col, errors="coerce") if decimal != "," else None
    if decimal == "." or not (col.dtype == object or pd.api.types.is_string_dtype(col)):
        return dot if dot is not None else pd.to_numeric(col, errors="coerce")
    comma = pd.to_numeric(col.astype(str).str.replace(",", ".", regex=False), errors="coerce").where(col.notna())
    return comma if dot is None or comma.notna().sum() > dot.notna().sum() else dot


MOSTLY_NUMERIC = 0.9  # the share of a column's cells that are numbers for it to be numbers with stray cells


def mostly_numeric(col: pd.Series, share: float = MOSTLY_NUMERIC, decimal: str | None = None) -> bool:
    """A text column whose non-empty cells are nearly all numbers: numbers with a few stray cells ('?')."""
    present = int(col.notna().sum())
    return present > 0 and int(as_numbers(col, decimal).notna().sum()) >= share * present


def _missing_message(source: str, column: str, col: pd.Series, bad: np.ndarray, target: bool = False) -> str:
    first = int(np.argmax(bad))
    value = col.iloc[first]
    what = "empty" if pd.isna(value) else f"not a finite number ({plain(value)!r})"
    fix = ("fill them, or leave those rows out: a row without its target cannot be scored" if target else
           "fill them (training with --missing impute fills them from the training rows)")
    return (f"{source}: column {column} has {int(bad.sum())} cell(s) that are empty or not numbers "
            f"(first in data row {first + 1}: {what}); {fix}")


def plain(value: object) -> object:
    """A numpy scalar as the Python value it holds: inf, not np.float64(inf), in a message."""
    return value.item() if hasattr(value, "item") else value


def _as_labels(col: pd.Series, missing: str) -> pd.Series:
    labels = col.astype(str).where(col.notna(), MISSING if missing == "impute" else None)
    return labels


# the spellings pandas reads as true and false (its default true_values, false_values), as it names them
_PANDAS_BOOLS = {"True": "True", "TRUE": "True", "true": "True", "False": "False", "FALSE": "False", "false": "False"}


def _true_false_as_trained(labels: pd.Series, categories: list[str]) -> pd.Series:
    """A column trained on as true/false (pandas read it so: categories 'False' and 'True') in a file where pandas
    read it as text - one cell neither (a '1', a 'yes') keeps a whole column text: its TRUE and false are the
    model's True and False, not values unseen in training (a model that knew them answered as if it did not)."""
    if not {"True", "False"} & set(categories):
        return labels
    spelled = labels.map(lambda v: _PANDAS_BOOLS.get(v.strip(), v) if isinstance(v, str) else v)
    take = spelled.isin(categories) & ~labels.isin(categories)
    return labels.where(~take, spelled) if take.any() else labels


def _category_labels(col: pd.Series, missing: str, categories: list[str]) -> pd.Series:
    """A text column's cells as the model's categories name them. A file whose cells of a code column are all
    numbers (grades 1, 2, 3 where training also saw 'A') and one of them blank is read by pandas as floats: '1.0'
    was no category, and every row was encoded as unseen. A whole number matches the category written without
    '.0' where the model has that one and not the other."""
    labels = _as_labels(col, missing)
    if not is_numeric(col):
        return _true_false_as_trained(labels, categories)
    values = col.to_numpy(dtype=np.float64)
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.any():
        return labels
    known = pd.Index(categories)
    written = pd.Series([_label_key(v) for v in values[whole]], index=col.index[whole])
    take = written.isin(known).to_numpy() & ~labels[whole].isin(known).to_numpy()
    labels = labels.copy()
    labels.loc[written.index[take]] = written[take]
    return labels


def infer_task(col: pd.Series) -> tuple[str, str]:
    """('classification' | 'regression', why) for a target column."""
    if pd.api.types.is_bool_dtype(col):
        return "classification", "holds true/false values"
    if not is_numeric(col):
        return "classification", "holds text labels"
    values = col.to_numpy(dtype=np.float64)
    if not np.all(values == np.round(values)):
        return "regression", "holds fractional numbers"
    distinct = np.unique(values)
    if len(distinct) > 2 and 2 * len(distinct) > len(values):
        # a class is a value rows share: 18 prices in 19 rows are a quantity, not 18 classes of about one row each
        return "regression", (f"holds {len(distinct)} distinct integers in {len(values)} rows, most rows a value "
                              "of its own")
    if len(distinct) <= MAX_CLASSES_BY_INFERENCE:
        return "classification", f"holds {len(distinct)} distinct integer values"
    return "regression", f"holds more than {MAX_CLASSES_BY_INFERENCE} distinct numbers"


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
