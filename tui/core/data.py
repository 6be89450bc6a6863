"""Spec -> training and validation tensors, with every decision stated.

Reads a built-in dataset or a file (format sniffed, see reader.py), picks target and
features - leaving out, with a notice, columns that are constant or look like identifiers,
free text or dates - applies the missing-value policy, decides the task, splits (random,
stratified, by group, or a separate file) and fits the preprocessing on the training rows
only. The result is in-memory tensors: batches are sliced from them, several times faster
than a per-row `Dataset` and the same batches (see train.py).
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
import torch

from . import copied_rows, leakage, user_dataset
from .datasets import BUILTINS
from .errors import UserError
from .files import broken_link
from .preprocess import (
    MISSING,
    MOSTLY_NUMERIC,
    OTHER,
    Preprocessor,
    all_finite,
    as_numbers,
    blank_rows,
    class_labels,
    infer_task,
    is_numeric,
    missing_cells,
    mostly_numeric,
    plain,
    within_range,
)
from .reader import (
    MISSING_MARKS,
    PANDAS_EMPTY_WORDS,
    SHEET_ERRORS,
    Reading,
    ReadOptions,
    TableFormat,
    are_codes,
    as_written,
    column_name,
    empty_but_words,
    preview,
    read_table,
    refuse_pipe,
    rows_said,
)
from .spec import FORMAT_FIELDS, DataSpec

_ID_NAME = re.compile(r"(?i)^(id|idx|index|key|uuid|row|row_?id|row_?num(ber)?|unnamed: ?\d+|.*[_ ]id|id[_ ].*)$")
# a name in camel case ending in Id or ID (PassengerId, CustomerID, userId); not in id (Humid, Acid, Paid)
_ID_CAMEL = re.compile(r"^[A-Za-z0-9]*[a-z0-9](Id|ID)$")
Progress = Optional[Callable[[str], None]]


@dataclass
class Prepared:
    name: str
    pre: Preprocessor
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    notices: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)
    train_set: Any = None  # a user's Dataset (its training subset), read through a DataLoader
    shape: tuple[int, ...] | None = None  # a user's Dataset's x shape; tables give (inputs,)
    left_out: list[str] = field(default_factory=list)  # columns the checks left out (not those --drop named)
    warnings: list[dict[str, str]] = field(default_factory=list)  # leakage.Finding.as_dict(): columns to doubt
    _fingerprint: list[float] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def task(self) -> str:
        return self.pre.task

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shape if self.shape is not None else (self.pre.n_inputs,)

    @property
    def n_train(self) -> int:
        return len(self.train_set) if self.train_set is not None else len(self.x_train)

    def fingerprint(self) -> list[float]:
        """Numbers that change when the prepared rows do: for the training and the validation inputs and targets,
        the rows and three float64 sums (of all values, weighted by row position, weighted by column position).
        The checkpoint keeps them, and a resume checks its data against them (job._resume): the column statistics
        of the training rows alone miss a changed validation row, or a moved data file that is another one. Sums,
        not a hash, so the data is read where it lives (on a GPU, at its speed); compared with a tolerance, since
        a resume on another device adds in another order. Computed once. Empty for a Dataset class: its items
        may be drawn anew each time they are read (augmentation), and its training rows are not held here."""
        if self.train_set is not None:
            return []
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.x_train, self.y_train, self.x_val, self.y_val)
        return self._fingerprint


def fingerprint(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor) -> list[float]:
    """`Prepared.fingerprint` of these tensors, wherever they are (the trainer's copies on its device)."""
    return [v for t in (x_train, y_train, x_val, y_val) for v in _sums(t)]


def _sums(t: torch.Tensor, elements: int = 1 << 22) -> list[float]:
    """rows, sum, sum weighted by row position, sum weighted by column position (float64, in chunks of about
    `elements` values: a float64 copy of a whole table, or of a set of images, could run out of memory)."""
    flat = t.reshape(len(t), -1) if len(t) else t.reshape(0, 1)
    chunk = max(1, elements // max(flat.shape[1], 1))
    col_sums = torch.zeros(flat.shape[1], dtype=torch.float64, device=flat.device)
    total = by_row = 0.0
    for start in range(0, len(flat), chunk):
        rows = flat[start:start + chunk].to(torch.float64)
        col_sums += rows.sum(0)
        per_row = rows.sum(1)
        total += float(per_row.sum())
        by_row += float((per_row * torch.arange(start + 1, start + len(per_row) + 1, dtype=torch.float64,
                                                device=flat.device)).sum())
    by_col = float((col_sums * torch.arange(1, len(col_sums) + 1, dtype=torch.float64, device=flat.device)).sum())
    return [float(len(t)), total, by_row, by_col]


FINGERPRINT_PARTS = ("training inputs", "training targets", "validation inputs", "validation targets")


def fingerprint_differs(now: list[float], saved: list[float]) -> str:
    """Which part of the prepared data differs from a checkpoint's fingerprint ('' for none): rows equal, sums
    equal but for the rounding of another order of adding (relative 1e-9)."""
    if len(now) != len(saved):
        return "the data"
    for i, part in enumerate(FINGERPRINT_PARTS):
        a, b = now[4 * i:4 * i + 4], saved[4 * i:4 * i + 4]
        if not all(abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1.0) for x, y in zip(a, b)):  # (a NaN differs)
            return part
    return ""


def read_options(spec: DataSpec, reading: Reading = Reading()) -> ReadOptions:
    """`reading`: the rules a run's model was trained under (preprocess.reading_of)."""
    return ReadOptions(**{name: getattr(spec, name) for name in FORMAT_FIELDS}, reading=reading)


def read_csv(path: str | Path, options: ReadOptions | None = None) -> pd.DataFrame:
    return read_table(path, options)[0]


def load_frame(spec: DataSpec, seed: int, notices: list[str], progress: Progress = None,
               reading: Reading = Reading()) -> tuple[pd.DataFrame, str, bool, str]:
    """(table, display name, keep constant columns, decimal mark) for a built-in name or a file path."""
    frame, name, keep_constant, decimal, _ = load_table(spec, seed, notices, progress, reading)
    return frame, name, keep_constant, decimal


def load_table(spec: DataSpec, seed: int, notices: list[str], progress: Progress = None,
               reading: Reading = Reading()) -> tuple[pd.DataFrame, str, bool, str, TableFormat | None]:
    """`load_frame`, and the format the file was read with (None for a built-in): what the reader guessed
    about the header and the lines above it is said, with its override, by refusals that may follow from it."""
    builtin = BUILTINS.get(spec.dataset)
    if builtin is not None:
        return builtin.frame(seed), builtin.name, builtin.keep_constant or spec.keep_constant, ".", None
    path = Path(spec.dataset)
    if not path.exists():
        refuse_pipe(path, "dataset ")  # a shell's `<(...)`, by now a name that is no file (a pipe that is, read_table)
        if broken_link(path):
            raise UserError(f"dataset {broken_link(path)}")
        names = ", ".join(BUILTINS)
        module = spec.dataset.rsplit(":", 1)[0]
        hint = (f"; a Dataset class is named by its module as Python imports it, without a path or .py: "
                f"{Path(module).stem.removesuffix('.py')}:{spec.dataset.rsplit(':', 1)[1]}, run from the folder "
                "that holds the file" if ":" in spec.dataset and module else "; check the path")
        raise UserError(f"dataset {spec.dataset} is neither a built-in dataset ({names}) nor an existing file{hint}")
    start = time.monotonic()
    if progress and path.is_file():
        progress(f"reading {spec.dataset} ({path.stat().st_size / 2**20:,.1f} MiB)")
    frame, fmt = read_table(spec.dataset, read_options(spec, reading))
    if progress:
        progress(f"read {len(frame):,} rows x {frame.shape[1]} columns in {time.monotonic() - start:.1f} s; "
                 "preparing tensors")
    notices.append(f"read {spec.dataset}: {len(frame)} rows, {frame.shape[1]} columns; {fmt.describe()}")
    notices.extend(fmt.notes)
    return frame, spec.dataset, spec.keep_constant, fmt.decimal, fmt


@dataclass
class TableSplit:
    """A table's columns, task, split and fitted preprocessing, every decision stated in the notices:
    what `prepare` builds its tensors from, and how `val_predictions` finds a run's validation rows again."""
    frame: pd.DataFrame  # the table after the missing-value policy (its rows renumbered from 0)
    name: str
    targets: list[str]
    features: list[str]
    id_column: str
    task: str
    classes: list[Any]
    decimal: str
    val_frame: pd.DataFrame  # the --val file's table; with a split, `frame` itself (its rows `val_rows`)
    val_name: str  # the file (or built-in set) the validation rows come from
    train_rows: np.ndarray  # rows of frame
    val_rows: np.ndarray | None  # rows of frame; None with a --val file
    pre: Preprocessor  # fitted on the training rows
    val_numbers: np.ndarray  # each validation row's number among its file's data rows, from 1
    left_out: list[str]  # columns the checks left out (not those --drop or --group named)

    def validation_frame(self) -> pd.DataFrame:
        """The validation rows as a table of their own: with a split, a copy of those rows."""
        if self.val_rows is None:
            return self.val_frame
        return self.frame.iloc[self.val_rows].reset_index(drop=True)


def split_table(spec: DataSpec, seed: int, notices: list[str], progress: Progress = None,
                reading: Reading = Reading()) -> TableSplit:
    """Read the table, choose its columns, apply the missing-value policy, decide the task, split
    (or read the --val file) and fit the preprocessing on the training rows. `reading`: the rules the run's
    model was trained under (preprocess.reading_of)."""
    frame, name, keep_constant, decimal, fmt = load_table(spec, seed, notices, progress, reading)
    if reading.marks:  # its --val file, and its model's files, read with its mark where theirs could be either
        reading = dataclasses.replace(reading, decimal=decimal)
    if reading.forms and fmt is not None:  # ... and each column of numbers written for people with the mark it took
        reading = dataclasses.replace(reading, number_marks=frozenset(
            (c, fmt.column_marks.get(c, fmt.decimal)) for c in fmt.formatted))
    if reading.durations and fmt is not None:  # ... and each column of durations in the form it took
        reading = dataclasses.replace(reading, duration_forms=frozenset(fmt.durations.items()))
    spec = spelled_as_columns(spec, list(frame.columns))
    hint = fmt.hint() if fmt else ""
    blank = None
    if reading.blank_rows:  # before any choice of columns: an empty line makes no column less constant or distinct
        frame, blank = without_blank_rows(frame, name, notices)
    if len(frame) < 2 and not spec.val:  # before any other check: none of theirs would be the real problem
        raise UserError(f"{name} has 1 data row; training needs at least 2, one to train on and one to validate"
                        + (f" ({hint})" if hint else ""))
    if reading.stray_lines:  # (a model trained before the rule reads its file as it did)
        _refuse_a_second_header_line(frame, name, spec.missing, decimal)
    targets, features, id_column = choose_columns(frame, spec, name, notices, keep_constant, decimal, fmt, reading)
    target = targets[0]
    codes = False
    if len(targets) == 1 and reading.codes:
        reading, codes = _class_codes(spec, frame, fmt, target, reading, notices)
    for t in targets:
        if not codes:
            _coerce_mostly_numeric(frame, t, notices, decimal, marks_only=True)
    _warn_of_total_rows(frame, notices)
    frame, kept = apply_missing_policy(frame, targets, features, spec.missing, name, notices)
    kept = blank if kept is None else kept if blank is None else blank[kept]
    numbers = kept + 1 if kept is not None else np.arange(1, len(frame) + 1)  # each row's number in the file
    if kept is not None and spec.task != "classification" and not codes:
        _numbers_once_rows_dropped(frame, targets, decimal)
    if len(targets) > 1:
        task, classes = several_targets(frame, spec.task, targets, name, notices, decimal, numbers)
    else:
        task, classes = decide_task(frame[target], spec.task, target, name, notices, decimal, numbers, codes=codes,
                                    chosen=bool(spec.target), named_rows=reading.named_rows)

    val_rows: np.ndarray | None
    if spec.val:
        if _val_is_the_training_file(spec):
            notices.append(f"warning: the validation file {spec.val} is the training file: every validation row is "
                           "a training row, so the validation loss says nothing of rows the model has not seen")
        if spec.stratify:  # (as --group is refused with it; a screen's stratify left on is said, not refused)
            notices.append("warning: --stratify keeps class shares when the dataset itself is split; with a --val "
                           "file nothing is split, and it does nothing")
        val_frame, val_kept = read_table(spec.val, read_options(spec, reading))[0], None
        if reading.blank_rows:
            val_frame, val_kept = without_blank_rows(val_frame, spec.val, notices)
        if spec.missing != "error":  # the same policy; impute fills its features from the training rows
            number_columns = {c for c in [*features, *targets] if is_numeric(frame[c])}
            val_frame, kept_of_those = apply_missing_policy(val_frame, targets, features, spec.missing, spec.val,
                                                            notices, number_columns)
            if kept_of_those is not None:
                val_kept = kept_of_those if val_kept is None else val_kept[kept_of_those]
        train_rows, val_rows, val_name = np.arange(len(frame)), None, spec.val
        val_numbers = (val_kept if val_kept is not None else np.arange(len(val_frame))) + 1
    else:
        val_frame, val_name = frame, name
        train_rows, val_rows = split_rows(frame, spec, seed, task, target, notices)
        val_numbers = (kept[val_rows] if kept is not None else val_rows) + 1
    if task == "classification":
        _warn_of_a_header_read_as_data(frame, target, numbers, fmt, notices)
        absent = sorted(set(map(str, classes)) - {str(v) for v in class_labels(frame[target].iloc[train_rows])})
        if absent:
            notices.append(f"warning: classes absent from the training split: {', '.join(absent[:10])}"
                           f"{f' ... ({len(absent)} in all)' if len(absent) > 10 else ''}")
        held = (val_frame[target] if target in val_frame.columns else None) if spec.val else \
            frame[target].iloc[val_rows] if val_rows is not None else None  # (a file lacking it: refused later)
        _warn_of_classes_not_validated(spec, classes, held, notices)

    for c in [*features, *(targets if task == "regression" else [])]:  # before their statistics overflow
        if is_numeric(frame[c]):
            within_range(frame[c].to_numpy(dtype=np.float64), c, name, c in targets, numbers, training=True)
        if spec.val and c in val_frame.columns and is_numeric(val_frame[c]):  # by its line, after --missing drop
            within_range(val_frame[c].to_numpy(dtype=np.float64), c, spec.val, c in targets, val_numbers,
                         training=True)
    pre = Preprocessor.fit(frame, train_rows, targets, features, task, classes, spec.standardize_target,
                           spec.missing, id_column, reading)
    left_out = [c for c in frame.columns if c not in (*features, *targets, *spec.drop, spec.group)]
    return TableSplit(frame, name, targets, features, id_column, task, classes, decimal, val_frame, val_name,
                      train_rows, val_rows, pre, val_numbers, left_out)


def _class_codes(spec: DataSpec, frame: pd.DataFrame, fmt: TableFormat | None, target: str, reading: Reading,
                 notices: list[str]) -> tuple[Reading, bool]:
    """(the rules the run's files are read by from here on, whether `target` holds codes). Codes are whole numbers
    some written with leading zeros (001, 002, 010; zips 02134): a class is a name, and its name is the file's,
    where pandas reads 1, 2, 10 and predictions said so. Where the task is decided by the numbers they are (so a
    column of codes that is a regression stays one), a class column of them is read again as text (`Reading.text`,
    kept by the model: its predictions, evaluations, resume and export read it alike) and `frame` takes it.
    A number written two ways (1 and 01) keeps the numbers, with a warning: as text they would be two classes."""
    col = frame[target]
    if spec.task == "regression" or pd.api.types.is_bool_dtype(col):
        return reading, False
    if is_numeric(col):
        if fmt is None or fmt.kind == "parquet" or (fmt.kind == "json" and not reading.quoted):
            return reading, False  # (a Parquet column of numbers holds no zeros to keep)
        if spec.task == "auto" and infer_task(col.dropna())[0] != "classification":
            return reading, False
        empty = {*empty_but_words(), *PANDAS_EMPTY_WORDS}  # (read as empty cells in a column of numbers)
        cells = [c for c in as_written(Path(spec.dataset), fmt, target, list(frame.columns)) if c not in empty]
        if not cells:
            return reading, False
    else:  # read as text: a model's codes (Reading.text), or a Parquet column of strings
        cells = list(col.dropna().astype(str).str.strip().unique())
    if not are_codes(cells):
        return reading, False  # (1.0 or 1e3 beside 001: numbers written as numbers)
    if not is_numeric(col) and spec.task == "auto" and infer_task(pd.to_numeric(col.dropna()))[0] != "classification":
        return reading, False  # decided by the numbers, as a column pandas reads as numbers is
    spelled: dict[int, set[str]] = {}
    for c in cells:
        spelled.setdefault(int(c), set()).add(c)
    twice = next((sorted(ways) for ways in spelled.values() if len(ways) > 1), None)
    if twice is not None:
        if is_numeric(col):
            notices.append(f"warning: target {target} writes a class two ways ({' and '.join(twice)}): read as "
                           "numbers, its leading zeros dropped; write each class one way to keep them")
        return reading, False
    if is_numeric(col):
        reading = dataclasses.replace(reading, text=reading.text | {target})
        frame[target] = read_table(spec.dataset, read_options(spec, reading))[0][target]
    shown = ", ".join(sorted(next(iter(w)) for w in spelled.values())[:5]) + (" ..." if len(spelled) > 5 else "")
    notices.append(f"target {target}: whole numbers written with leading zeros ({shown}): its classes are named as "
                   "written, not as numbers")
    return reading, True


def _warn_of_classes_not_validated(spec: DataSpec, classes: list, held: pd.Series | None, notices: list[str]) -> None:
    """A class none of the validation rows hold (3 rows of fraud in 1000, all drawn for training): the validation
    loss and accuracy say nothing of it, and 'acc 1.0000' read as a model that finds fraud."""
    if held is None or not len(held.dropna()):
        return
    unseen = sorted(set(map(str, classes)) - {str(v) for v in class_labels(held.dropna())})
    if not unseen:
        return
    fix = ("" if spec.val or spec.group else "; --stratify keeps each class's share in both" if not spec.stratify
           else "; too few of its rows to split")
    notices.append(f"warning: classes absent from the validation rows: {', '.join(unseen[:10])}"
                   f"{' ...' if len(unseen) > 10 else ''}: the validation loss and accuracy say nothing of them{fix}")


def _val_is_the_training_file(spec: DataSpec) -> bool:
    return bool(spec.val) and Path(spec.val).resolve() == Path(spec.dataset).resolve()


def prepare(spec: DataSpec, seed: int, progress: Progress = None, reading: Reading = Reading()) -> Prepared:
    """`progress` hears what is being read and prepared: a big file takes seconds. `reading`: the rules the run's
    model was trained under (preprocess.reading_of)."""
    if user_dataset.is_class_path(spec.dataset):
        return prepare_user_dataset(spec, seed)
    notices: list[str] = []
    unused = [flag for flag, given in (("--dataset-arg", spec.dataset_args), (f"--workers {spec.workers}",
                                                                           spec.workers)) if given]
    if unused:  # a config written for a Dataset class, used on a table: said, not refused
        notices.append(f"warning: {' and '.join(unused)} {'are' if len(unused) > 1 else 'is'} for a Dataset class "
                       f"(module:Class), and {spec.dataset} is a table: ignored")
    try:
        table = split_table(spec, seed, notices, progress, reading)
    except UserError as e:  # what was read and decided before the refusal is shown with it
        raise e.with_notes(notices) from None
    frame, name, pre, train_rows, val_rows = table.frame, table.name, table.pre, table.train_rows, table.val_rows
    y = pre.transform_y(frame, name)
    if val_rows is None:
        x_train, y_train = pre.transform_x(frame, name), y
        val_frame, val_name = table.val_frame, table.val_name
        x_val, y_val = pre.transform_x(val_frame, val_name), pre.transform_y(val_frame, val_name)
    else:  # each split written once, straight from the table: no full matrix to copy the splits out of
        x_train, x_val = pre.transform_splits(frame, name, [train_rows, val_rows])
        y_train, y_val = y[train_rows], y[val_rows]
    _note_encodings(pre, notices, frame, train_rows)
    text = [c.name for c in pre.columns if c.kind == "categorical"]
    if text:  # a value only the validation rows hold: encoded as predict encodes it, and said as predict says it
        held_out = table.val_frame[text] if val_rows is None else frame[text].iloc[val_rows]
        notices.extend(f"validation rows: {u.describe()}" for u in pre.unseen(held_out))
    warnings = leakage.check(frame, table.targets, table.features, table.task, train_rows)  # warned, never dropped
    notices.extend(w.message for w in warnings)
    if not _val_is_the_training_file(spec):  # that one is warned of as such
        notices.extend(copied_rows.check(frame, train_rows, table.val_frame, val_rows,
                                         [*table.features, *table.targets], table.val_name if spec.val else "", seed))
    notices.append(f"{len(x_train)} training rows, {len(x_val)} validation rows, "
                   f"{pre.n_inputs} inputs from {len(table.features)} columns")
    xt, yt, xv, yv = [torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_val, y_val)]
    return Prepared(name, pre, xt, yt, xv, yv, notices=notices, left_out=table.left_out,
                    preview=preview(frame.head(5)[[*table.features, *table.targets]], last=len(table.targets)),
                    warnings=[w.as_dict() for w in warnings])


def prepare_user_dataset(spec: DataSpec, seed: int) -> Prepared:
    if spec.group or spec.stratify or spec.val:
        raise UserError("data.group, data.stratify and data.val apply to tables; "
                        "a Dataset class is split by data.val_split")
    if spec.test:  # refused at the end before: a whole training, then a run that no resume could finish
        raise UserError(f"data.test (--test {spec.test}) is a table to predict, and a model of a Dataset class takes "
                        "its items, not a table's rows: leave it out, and predict in Python (the README's Dataset "
                        "class section)")
    dataset = user_dataset.load(spec)
    shape, targets = user_dataset.scan(dataset, spec.dataset)
    pre = user_dataset.describe(spec, targets)
    y = user_dataset.as_targets(targets, pre.task)
    # torch's Dataset declares no __len__ (user_dataset.load checks that this one has it)
    train_rows, val_rows = split_indices(len(dataset), spec.val_split, seed)  # type: ignore[arg-type]
    train_set, val_set = user_dataset.split(dataset, (train_rows, val_rows))
    x_val = user_dataset.gather(val_set).reshape(len(val_rows), *shape)
    unused = [flag for flag, given in (("--target", spec.target), ("--features", spec.features),
                                       ("--drop", spec.drop), (f"--missing {spec.missing}", spec.missing != "error"))
              if given]
    notices = [f"warning: {', '.join(unused)} {'are' if len(unused) > 1 else 'is'} for a table's columns, and "
               f"{spec.dataset} is a Dataset class (its items are x and y): ignored"] if unused else []
    if pre.classes:  # classes are the indices 0..max: one that no item holds is an output trained toward nothing
        absent = sorted(set(range(len(pre.classes))) - set(y.tolist()))
        if absent:
            notices.append(f"warning: no item has class {', '.join(map(str, absent[:10]))}"
                           f"{' ...' if len(absent) > 10 else ''}: classes are the indices 0..{len(pre.classes) - 1}, "
                           f"one output each; number the classes from 0 without gaps")
    notices += [f"{spec.dataset}: {len(dataset)} items, x of shape {shape}, {pre.task}"  # type: ignore[arg-type]
               + (f" with {len(pre.classes)} classes" if pre.classes else f", {y.shape[1]} value(s) per item"),
               f"{len(train_rows)} training items (through a DataLoader), {len(val_rows)} validation items"]
    return Prepared(spec.dataset, pre, torch.zeros(0), y[train_rows], x_val.float(), y[val_rows], notices=notices,
                    train_set=train_set, shape=shape)


def choose_columns(frame: pd.DataFrame, spec: DataSpec, name: str, notices: list[str],
                   keep_constant: bool = False, decimal: str = ".",
                   fmt: TableFormat | None = None, rules: Reading = Reading()) -> tuple[list[str], list[str], str]:
    """(targets, features, id column). Columns not named by the user are checked and may be left out.
    `fmt`: how the file was read; its guesses (header, skipped lines) and their overrides are said with a refusal.
    `rules`: those of the run's model (`_named_like_an_id`'s ids and camel, dates; a model trained before one
    chooses as it did)."""
    columns = list(frame.columns)
    hint, names_hint = (fmt.hint(), fmt.hint(found_header=False)) if fmt else ("", "")
    spec, named_targets = _comma_names_joined(spec, columns)

    def known(names: list[str], what: str) -> None:
        unknown = [c for c in names if c not in columns]
        if unknown:
            meant = _meant(unknown[0], columns)
            raise UserError(f"{what}: {', '.join(map(repr, unknown))} not a column of {name}"
                            + (f" (did you mean {meant!r}?)" if meant else "")
                            + f"; columns: {_column_list(columns)}" + (f" ({names_hint})" if names_hint else ""))

    targets = named_targets or [columns[-1]]
    twice = next((t for t in targets if targets.count(t) > 1), None)
    if twice is not None:  # it was taken for a regression of two targets, refused as 'non-numeric'
        raise UserError(f"--target names {twice} twice; name each target once")
    known(targets, "data.target")
    known(spec.drop, "data.drop")
    known(spec.features, "data.features")
    if spec.group:
        known([spec.group], "data.group")
    both = [t for t in targets if t in spec.features]
    if both:
        raise UserError(f"data.features includes the target {both[0]!r}; remove it from the features")
    dropped = [t for t in targets if t in spec.drop]  # was ignored without a word
    if dropped:
        raise UserError(f"data.drop names the target {dropped[0]!r}; a target cannot be left out - choose another "
                        f"with --target, or remove it from --drop")
    named_twice = [c for c in spec.features if c in spec.drop]
    if named_twice:
        raise UserError(f"data.features and data.drop both name {named_twice[0]!r}; keep it in one of them")

    id_column = ""
    if spec.features:
        features = list(spec.features)
        for c in features:
            _coerce_mostly_numeric(frame, c, notices, decimal)
    else:
        features = []
        constant: list[str] = []  # the notes on constant columns left out: said together (_constant_columns_said)
        for c in columns:
            if c in targets or c in spec.drop or c == spec.group:
                continue
            _coerce_mostly_numeric(frame, c, notices, decimal)
            reason, is_id = _leave_out_reason(frame[c], c, keep_constant, rules)
            if reason:
                said = f"column {c} left out: {reason}; name it in --features" + (
                    ", or pass --keep-constant, to use it" if reason.startswith("constant") else " to use it")
                (constant if reason.startswith("constant") else notices).append(said)
                id_column = id_column or (c if is_id else "")
                continue
            if rules.ids and _unnamed_after_the_first(c):
                notices.append(f"column {c}: its header cell is empty, and pandas names it so; used as a feature "
                               "(write a name in the header line to call it otherwise)")
            features.append(c)
        notices += _constant_columns_said(constant)
    if not features:
        raise UserError(f"{name} has no usable feature columns besides the target {', '.join(targets)}; "
                        f"name the ones to use with --features" + (f" ({hint})" if hint else ""))
    return targets, features, id_column


def _constant_columns_said(said: list[str], most: int = 5) -> list[str]:
    """The notes on constant columns left out, one a column up to `most`; more (an image's blank border pixels, 184
    of MNIST's 784) in one note that names the first few, rather than a screenful of the same line."""
    if len(said) <= most:
        return said
    names = [line.removeprefix("column ").split(" left out: ")[0] for line in said]
    return [f"columns {', '.join(names[:3])} ... ({len(names)} in all) left out: constant (every row holds one "
            "value); name them in --features, or pass --keep-constant, to use them"]


def _column_list(columns: list[str]) -> str:
    """The columns for a message; those a file without a header was given (col1, col2, ...) as a range. A name
    with a comma in it is quoted: listed bare, 'Class, final' read as two columns."""
    if len(columns) > 3 and columns == [f"col{i + 1}" for i in range(len(columns))]:
        return f"col1..col{len(columns)}"
    return ", ".join(repr(c) if "," in c else c for c in columns)


def _comma_names_joined(spec: DataSpec, columns: list[str]) -> tuple[DataSpec, list[str]]:
    """(the spec, the targets it names) with the column names a comma split put back together: a column named
    'Class, final' given as --target "Class, final" (or in --features, --drop) came as two names, neither a
    column. --target is the one comma-separated text; the others are lists, split where they were given."""
    whole = {",".join(part.strip() for part in c.split(",")): c for c in columns if "," in c}
    targets = [t.strip() for t in spec.target.split(",") if t.strip()]
    if not whole:
        return spec, targets

    def joined(names: list[str]) -> list[str]:
        pieces, out, i = [n.strip() for n in names], [], 0
        while i < len(pieces):
            j = next((j for j in range(len(pieces), i + 1, -1) if ",".join(pieces[i:j]) in whole), i + 1)
            out.append(whole[",".join(pieces[i:j])] if j > i + 1 else names[i])
            i = j
        return out

    return dataclasses.replace(spec, features=joined(list(spec.features)), drop=joined(list(spec.drop))), \
        joined(targets)


def _meant(given: str, columns: list[str]) -> str:
    """The column a name not in the table most likely meant: the one spelled alike but for case and blanks
    ('price' for a header's 'Price '), else the closest spelling; '' for none."""
    import difflib

    alike = [c for c in columns if c.strip().lower() == given.strip().lower()]
    if len(alike) == 1:
        return alike[0]
    close = difflib.get_close_matches(given, columns, n=1, cutoff=0.8)
    return close[0] if close else ""


def spelled_as_columns(spec: DataSpec, columns: list[str]) -> DataSpec:
    """The spec with each column it names spelled as the table spells it: a header's quotes are dropped
    ('vote' is the column vote), so a name given with them (--target "'vote'") means the same column."""
    def spelled(name: str) -> str:
        return name if name in columns or column_name(name) not in columns else column_name(name)

    target = ",".join(spelled(t.strip()) for t in spec.target.split(",")) if spec.target else spec.target
    changed: dict[str, Any] = {"target": target, "features": [spelled(c) for c in spec.features],
               "drop": [spelled(c) for c in spec.drop], "group": spelled(spec.group) if spec.group else spec.group}
    if all(getattr(spec, k) == v for k, v in changed.items()):
        return spec
    return dataclasses.replace(spec, **changed)


def _coerce_mostly_numeric(frame: pd.DataFrame, c: str, notices: list[str], decimal: str,
                           marks_only: bool = False) -> None:
    """A number column with a few stray cells ('?', 'n/a') is numbers with missing cells, not categories.
    `marks_only` (a target): only where every stray cell says "no value" ('?', '-', 'n/a'), so --missing drop
    and impute leave those rows out (a target is never filled); text that says something is left to decide_task,
    which refuses it with its rows. Before, a target's '?' was refused as text even under --missing drop, and a
    spreadsheet's error value ('#DIV/0!', where a formula failed) is no value either."""
    col = frame[c]
    if is_numeric(col) or pd.api.types.is_bool_dtype(col) or not mostly_numeric(col, MOSTLY_NUMERIC, decimal):
        return
    values = as_numbers(col, decimal)
    bad = col[col.notna() & values.isna()]
    if marks_only and not bad.astype(str).str.strip().str.lower().isin(MISSING_MARKS | SHEET_ERRORS).all():
        return
    frame[c] = values
    if len(bad):
        examples = ", ".join(map(repr, list(dict.fromkeys(bad.tolist()))[:3]))
        notices.append(f"target {c}: {len(bad)} cell(s) mark a missing value ({examples}); they count as empty"
                       if marks_only else
                       f"column {c}: {len(bad)} cell(s) are not numbers ({examples}); they count as empty")


def _named_like_an_id(name: str, values: np.ndarray | None, rules: Reading = Reading()) -> bool:
    """Whether a column's name says identifier (id, customer_id, index; with `rules.camel` PassengerId, CustomerID,
    userId: Titanic's PassengerId was a feature, 1..891, and predictions kept the Name column beside them). pandas
    names a header cell left empty 'Unnamed: N': only the first column's is an identifier (the index to_csv
    writes), another is a column whose name was not written, as likely a measurement as not; and numbers with a
    fraction are no identifier whatever their name (`values`: a column of numbers). Before this rule (`rules.ids` False)
    the name alone said it: a header `x,,y,label` lost its second column as an 'identifier'."""
    if not (_ID_NAME.match(name) or (rules.camel and _ID_CAMEL.match(name))):
        return False
    if not rules.ids:
        return True
    if _unnamed_after_the_first(name):
        return False
    return values is None or bool(np.all(values[np.isfinite(values)] % 1 == 0))


def _unnamed_after_the_first(name: str) -> bool:
    """pandas' name for a header cell left empty, but the first column's (to_csv's index: 'Unnamed: 0')."""
    return bool(re.fullmatch(r"(?i)unnamed: ?[1-9]\d*", name))


def _leave_out_reason(col: pd.Series, name: str, keep_constant: bool, rules: Reading = Reading()) -> tuple[str, bool]:
    n = len(col)
    if is_numeric(col):  # numbers are features unless constant or named like an id: a time step 0..n-1 is data
        values = col.to_numpy(dtype=np.float64)
        complete = all_finite(values)
        if not complete and np.isnan(values).all():
            return "empty in every row", False
        head = values[:1000]  # a column that varies nearly always shows it in its first rows
        if complete and head.min() == head.max() and values.min() == values.max():
            if pd.api.types.is_integer_dtype(col) and col.min() != col.max():  # 19-digit ids, one float64 value
                return (f"its {col.nunique()} distinct whole numbers differ only past the 15-16 digits a float64 "
                        "holds: as inputs they are all one value (an identifier?)"), False  # (as when 'constant':
                # an id column of its own would change what a run trained before resumes with)
            if not keep_constant:
                return f"constant (every row is {plain(col.iloc[0])!r})", False
        if _named_like_an_id(name, values, rules) and col.nunique() > 0.9 * n:
            return f"looks like an identifier ({col.nunique()} distinct values in {n} rows)", True
        return "", False
    distinct = col.nunique(dropna=False)
    if distinct <= 1 and not keep_constant:
        return f"constant (every row is {plain(col.iloc[0])!r})", False
    if _named_like_an_id(name, None, rules) and distinct > 0.9 * n:
        return f"looks like an identifier ({distinct} distinct values in {n} rows)", True
    if distinct > 20 and (distinct > 0.5 * n or rules.dates):
        # (`rules.dates`: a day of hourly rows repeats 24 times, and the column was one-hot encoded by its dates)
        sample = col.dropna().astype(str)
        sample = (sample.drop_duplicates() if rules.dates else sample).head(100)
        dates = pd.to_datetime(sample, errors="coerce", format="mixed")
        if len(sample) and dates.notna().mean() >= 0.9:
            return "looks like dates", False
    if distinct > 0.5 * n and distinct > 20:
        return f"looks like free text or an identifier ({distinct} distinct values in {n} rows)", True
    return "", False


def without_blank_rows(frame: pd.DataFrame, name: str, notices: list[str]) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The table without its rows that hold no value in any cell - a spreadsheet's empty lines, which it saves as
    ',,,' (pandas skips a line with nothing on it, not one of separators): below the rows, or between groups of
    them. Such a row is no example of anything; it was refused as empty cells (so every Excel export needed
    --missing drop, which then dropped rows the user wanted refused), or dropped for its empty target by drop and
    impute alike, after its empty cells had made a constant column look varied and an id look repeated (a model
    trained so, before Reading.blank_rows, reads its file as it did). Returns the table, its rows numbered from 0
    again, and the rows kept (None: all of them), as `apply_missing_policy` does."""
    if not len(frame) or not frame.shape[1]:
        return frame, None
    blank = blank_rows(frame)
    if not blank.any() or blank.all():  # (a table of nothing but such rows is refused by what reads it next)
        return frame, None
    rows = np.flatnonzero(blank) + 1
    notices.append(f"{name}: left out {len(rows)} row{'s' * (len(rows) > 1)} with no value in any cell (a "
                   f"spreadsheet's empty lines; data row{'s' * (len(rows) > 1)} {rows_said(rows.tolist())})")
    kept = np.flatnonzero(~blank)
    return frame.iloc[kept].reset_index(drop=True), kept


def apply_missing_policy(frame: pd.DataFrame, targets: list[str], features: list[str], policy: str, name: str,
                         notices: list[str], numbers: set[str] | frozenset[str] = frozenset()
                         ) -> tuple[pd.DataFrame, np.ndarray | None]:
    """error: refuse, naming each column's count; drop: drop those rows; impute: filled later, from training rows.
    `numbers`: columns that are numbers in the training table (a --val file's cells there that are text are no
    numbers either: they were filled without a word).

    Returns the table and the rows it kept (their indices in `frame`; None: all of them): the rows it
    returns are numbered from 0 again, and a validation row's number in its file is found through these.
    """
    target_missing = np.zeros(len(frame), dtype=bool)
    counts: dict[str, int] = {}
    for target in targets:  # an infinity (inf, 1e309) is no value to learn, as for a feature: an empty cell
        empty = _bad_cells(frame[target], target in numbers)
        if empty is None:
            continue
        if empty.all():
            raise UserError(f"target {target} in {name} is empty in every row; choose another with --target")
        target_missing |= empty
        counts[target] = int(empty.sum())
    bad = {c: b for c in features if (b := _bad_cells(frame[c], c in numbers)) is not None}
    counts = {**{c: int(b.sum()) for c, b in bad.items()}, **counts}
    if not counts:
        return frame, None
    summary = ", ".join(f"{c} {k}" for c, k in counts.items())
    if policy == "error":
        first = min(int(np.argmax(b)) for b in [*bad.values(), target_missing] if b.any())
        raise UserError(f"{name} has empty, non-numeric or infinite cells: {summary} (first in data row {first + 1}); "
                        "fill them, or pass --missing drop (drop those rows) or --missing impute (fill from the "
                        "training rows)")
    drop = target_missing.copy()
    if policy == "drop":
        for b in bad.values():
            drop |= b
    if drop.all():
        raise UserError(f"{name}: every row has an empty cell ({summary}); "
                        "use --missing impute or leave columns out with --drop")
    kept = None
    if drop.any():
        why = summary if policy == "drop" else ", ".join(f"{t} {counts[t]}" for t in targets if t in counts)
        notices.append(f"dropped {int(drop.sum())} of {len(frame)} rows with empty cells ({why})")
        keep = ~drop
        frame, kept = frame.loc[keep].reset_index(drop=True), np.flatnonzero(keep)
    if policy == "impute":
        # the cells of the rows kept: those of a row dropped for its target were counted as filled, before
        filled = {c: k for c, b in bad.items() if c not in targets and (k := int(b[~drop].sum()))}
        if filled:
            notices.append(f"filled empty cells (or no number where one belongs) from the training rows (median; "
                           f"{MISSING!r} for text): "
                           + ", ".join(f"{c} {k}" for c, k in filled.items()))
    return frame, kept


def _refuse_a_second_header_line(frame: pd.DataFrame, name: str, missing: str, decimal: str) -> None:
    """The first data row alone text where its columns hold numbers: a second line of the header (a data logger's
    units, 's,degC,kPa'; the names under a row of groups, ',Q1,Q1,Q2'). Its refusal as empty cells offered
    --missing drop or impute: impute filled it in as a row, and both trained on columns named after the groups (the
    fix, --skip-rows, was never said). Refused naming the line and the fixes; --missing drop leaves it out."""
    if missing == "drop" or len(frame) < 5:
        return
    text: list[str] = []
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or not isinstance(col.iloc[0], str):
            continue
        for below in (col.iloc[1:200], col.iloc[1:]):  # (a column of text shows it in its first cells)
            numbers = as_numbers(below, decimal)
            if not numbers.notna().sum() or numbers.notna().sum() != below.notna().sum():
                break
        else:  # numbers below it, all
            text.append(col.iloc[0].strip())
    if len(text) < 2 or any(t.lower() in MISSING_MARKS for t in text):
        return
    shown = ", ".join(map(repr, text[:4])) + (" ..." if len(text) > 4 else "")
    raise UserError(f"{name}: data row 1 is text where its columns hold numbers ({shown}): a second header line "
                    "(units, or the column names under a row of groups); if it names the columns, pass --skip-rows "
                    "with one line more, else delete it or pass --missing drop to leave it out")


def _bad_cells(col: pd.Series, number: bool = False) -> np.ndarray | None:
    """Where a feature is empty or not a finite number; None where it is complete. `number`: a column of numbers
    in the training table, whatever this file's holds."""
    cells = missing_cells(col, number or is_numeric(col))
    return cells if cells.any() else None


def decide_task(col: pd.Series, wanted: str, target: str, name: str, notices: list[str],
                decimal: str = ".", numbers: np.ndarray | None = None,
                label_fix: str = "use --task classification if it is a label", codes: bool = False,
                chosen: bool = True, named_rows: bool = True) -> tuple[str, list[Any]]:
    """The task and its classes. `numbers`: each row's number in the file (rows dropped before count);
    `label_fix`: what a regression target of text is told to do; `codes`: a class column of whole numbers written
    with leading zeros, read as text (`_class_codes`): the task is the numbers', the classes their names;
    `chosen`: the user named the target (else it is the last column, and a refusal says how to name another);
    `named_rows` (Reading.named_rows): a text target with most rows a label of its own is refused (a model trained
    before, on such a target, resumes as it trained)."""
    if codes:  # told by the numbers they are, as a column pandas reads as numbers (none a regression: _class_codes)
        inferred, why = "classification", infer_task(pd.to_numeric(col))[1]
    else:
        inferred, why = infer_task(col)
    if (inferred == "classification" and not codes and not is_numeric(col) and not pd.api.types.is_bool_dtype(col)
            and mostly_numeric(col, decimal=decimal)):  # (True/False are labels, though pandas counts them 1/0)
        inferred, why = "regression", "holds numbers"  # with a few stray cells, refused below with their rows
    task = inferred if wanted == "auto" else wanted
    if wanted == "auto":
        other = "regression" if task == "classification" else "classification"
        text = task == "classification" and not is_numeric(col) and not pd.api.types.is_bool_dtype(col)
        notices.append(f"task: {task}, because target {target} {why}"  # (text is no regression target: not offered)
                       + ("" if text else f" (--task {other} to change)"))
    if task == "regression":
        if not is_numeric(col):
            values = as_numbers(col, decimal)
            bad = np.nonzero(values.isna().to_numpy() & col.notna().to_numpy())[0]
            shown = ", ".join(f"data row {numbers[i] if numbers is not None else i + 1}: {col.iloc[i]!r}"
                              for i in bad[:3])
            raise UserError(f"regression target {target} in {name} has {len(bad)} non-numeric cell(s) ({shown}); "
                            f"clean them, or {label_fix}")
        return task, []
    classes = class_labels(col)
    if len(classes) < 2:
        raise UserError(f"target {target} in {name} has a single class ({classes[0]!r}); a classifier needs at least "
                        "two" + ("" if chosen else f" ({target} is the last column, the target unless --target "
                                                   "names another: --target NAME)"))
    if named_rows and not codes and not is_numeric(col) and len(classes) > 2 and 2 * len(classes) > len(col):
        alone = int((col.astype(str).value_counts() == 1).sum())  # rows whose label no other row holds
        if 2 * alone > len(col):
            _refuse_labels_that_name_rows(col, classes, target, name, wanted, chosen, notices)
    _warn_of_lookalike_classes(classes, target, notices)
    _warn_of_marks_as_classes(col, classes, target, notices)
    return task, classes


def _refuse_labels_that_name_rows(col: pd.Series, classes: list[Any], target: str, name: str, wanted: str,
                                  chosen: bool, notices: list[str]) -> None:
    """A text target with most rows a label of its own (a name, an id, a free-text comment): a class is a value
    rows share, and 200 names in 200 rows trained as 200 classes of one row each, most never in the training
    split, to an accuracy of 0. Refused, as its integer twin is read as a quantity (`infer_task`); asked for by
    --task classification, it trains, with the warning."""
    said = f"target {target} in {name} holds {len(classes)} distinct labels in {len(col)} rows, most rows a label " \
           "of its own: it names rows (an id, a name), not classes a model can learn"
    if wanted == "classification":
        notices.append(f"warning: {said}")
        return
    fix = ("name the column to predict, --target NAME" if chosen else
           f"{target} is the last column, the target unless --target names another: --target NAME")
    raise UserError(f"{said}; {fix} (--task classification trains on it as it is)")


def _warn_of_marks_as_classes(col: pd.Series, classes: list[Any], target: str, notices: list[str]) -> None:
    """A class written as a common mark of a missing value ('-', 'none', '--', '.'): a label nobody gave, most
    likely, trained as a class of its own without a word (an audit: '-' in 2 of 60 rows of a yes/no label made 3
    classes). Said, with the fix; the class stands ('-' is a label beside '+', and the marks pandas reads as
    empty, 'NA' and 'None', have a note of their own)."""
    marks = [c for c in classes if isinstance(c, str) and c.strip().lower() in MISSING_MARKS - {"", "?"}
             and c not in PANDAS_EMPTY_WORDS and not (c.strip() == "-" and "+" in classes)]
    if marks:
        counts = col.value_counts()
        shown = ", ".join(f"{m!r} ({int(counts.get(m, 0))} row{'s' * (int(counts.get(m, 0)) != 1)})" for m in marks)
        what = "common marks of a missing value" if len(marks) > 1 else "a common mark of a missing value"
        notices.append(f"warning: target {target} has the class{'es' * (len(marks) > 1)} {shown}, {what}: if it "
                       "means no label, leave those cells empty (--missing drop then leaves the rows out)")


_TOTAL = re.compile(r"^\s*(?:\S+\s+){0,3}(?:grand\s+|sub-?)?totals?\s*:?\s*$"  # 'Total', 'North Subtotal'
                    r"|^\s*(?:grand\s+|sub-?)?totals?\b[^,;]{0,30}$"  # 'Total North', 'Subtotal: Q1'
                    r"|^\s*(?:sum|summe|gesamt|insgesamt|zwischensumme|totaal)\s*:?\s*$", re.IGNORECASE)


def _numbers_once_rows_dropped(frame: pd.DataFrame, targets: list[str], decimal: str) -> None:
    """A target read as text for a row --missing drop left out (a units line under the header: 'kW' over numbers)
    is numbers once it is gone: it was refused as 'regression target power has 0 non-numeric cell(s) ()'."""
    for t in targets:
        col = frame[t]
        if is_numeric(col) or pd.api.types.is_bool_dtype(col) or not len(col):
            continue
        values = as_numbers(col, decimal)
        if values.notna().sum() == col.notna().sum():
            frame[t] = values


def _warn_of_total_rows(frame: pd.DataFrame, notices: list[str]) -> None:
    """A spreadsheet's total lines saved with its rows ('Total,,,5678.90' under the last record, 'North Subtotal'
    under each group): read as records, their sums trained as such (--missing impute filled their empty cells; a
    total with every cell filled was taken without a word, its label a category of its own). Said, naming the rows.
    Looked for in columns of text whose values rows share (a group's name; not ids or free text), each total's
    label held by its row alone ('total', a class of many rows, is none)."""
    rows: list[int] = []
    said = ""
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        values = col.dropna().unique()
        if len(values) > max(10, len(col) // 2):
            continue
        totals = [v for v in values if isinstance(v, str) and _TOTAL.match(v)]
        if not totals:
            continue
        at = np.flatnonzero(col.isin(totals).to_numpy())
        counts = col.iloc[at].value_counts()
        found = [int(i) for i in at if counts[col.iloc[i]] == 1]
        if found and not said:
            said = f"{str(col.iloc[found[0]]).strip()!r} in column {c}"
        rows.extend(found)
    rows = sorted(set(rows))
    if not rows:
        return
    many = len(rows) > 1
    notices.append(f"warning: data row{'s' * many} {rows_said([i + 1 for i in rows])} look{'s' * (not many)} "
                   f"like {'total lines' if many else 'a total line'} ({said}), not "
                   f"{'records' if many else 'a record'}: {'their' if many else 'its'} numbers would train as one; "
                   f"delete {'them' if many else 'it'} from the file")


def _warn_of_a_header_read_as_data(frame: pd.DataFrame, target: str, numbers: np.ndarray,
                                   fmt: TableFormat | None, notices: list[str]) -> None:
    """A first line the reader took for data (its cells fit their columns: names like 1,2,3 over small whole
    numbers) whose target cell is a class of that one row: most likely the line names the columns, and its
    target's name became a class. Said, with the override; the reader's guess stands."""
    if fmt is None or fmt.kind != "csv" or fmt.header or not fmt.header_detected or not len(frame) or numbers[0] != 1:
        return
    first = frame[target].iloc[0]
    if int((frame[target] == first).sum()) == 1:
        notices.append(f"warning: class {plain(first)!r} of target {target} has one row, the file's first line: if "
                       "that line names the columns, pass --header")


def _warn_of_lookalike_classes(classes: list[Any], target: str, notices: list[str]) -> None:
    """Labels that differ only in case or blanks ('Cat', 'cat', 'cat ') are usually one class typed two ways:
    each trains as a class of its own, so it is said - the file is the place to make them one."""
    alike = _lookalikes(classes)
    if alike:
        notices.append(f"warning: target {target} has labels that differ only in case or blanks ({_shown(alike)}); "
                       "each is a class of its own - if they are one, write them alike in the file")


def _lookalikes(values: list[Any]) -> list[list[str]]:
    """The groups of text values that differ only in case or blanks ('yes', 'Yes', 'YES ')."""
    spelled: dict[str, list[str]] = {}
    for v in values:
        if isinstance(v, str):
            spelled.setdefault(" ".join(v.split()).lower(), []).append(v)
    return [names for names in spelled.values() if len(names) > 1]


def _shown(alike: list[list[str]]) -> str:
    return "; ".join(", ".join(map(repr, names)) for names in alike[:3])


def several_targets(frame: pd.DataFrame, wanted: str, targets: list[str], name: str, notices: list[str],
                    decimal: str, numbers: np.ndarray | None = None) -> tuple[str, list[Any]]:
    """Several targets are values to regress together: each must be numeric."""
    if wanted == "classification":
        raise UserError(f"several targets ({', '.join(targets)}) are for regression; a classifier takes one --target")
    for t in targets:  # (--task classification takes one target: told so, it was refused in turn)
        decide_task(frame[t], "regression", t, name, [], decimal, numbers,
                    f"if it is a label, train a classifier on it alone: --target {t} --task classification")
    notices.append(f"task: regression of {len(targets)} targets ({', '.join(targets)}), one output each")
    return "regression", []


def split_rows(frame: pd.DataFrame, spec: DataSpec, seed: int, task: str, target: str,
               notices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    n = len(frame)
    if spec.group:
        return _group_split(frame[spec.group], spec.val_split, seed, notices)
    if spec.stratify:
        if task != "classification":
            raise UserError("data.stratify keeps class shares, so it needs a classification target")
        return _stratified_split(frame[target], spec.val_split, seed)
    return split_indices(n, spec.val_split, seed)


def split_indices(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and validation splits; the same seed gives the same split."""
    n_val = int(round(n * val_split))
    if val_split > 0:
        n_val = max(1, n_val)
    if n - n_val < 1:
        raise UserError(f"data.val_split {val_split} leaves no training rows out of {n}; lower it")
    perm = np.random.default_rng(seed).permutation(n)
    is_val = np.zeros(n, dtype=bool)  # both splits in row order without sorting: O(n), 60 ms less at 1M rows
    is_val[perm[:n_val]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _stratified_split(labels: pd.Series, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    keys = labels.astype(str).to_numpy()
    val = []
    for k in sorted(set(keys)):
        rows = np.nonzero(keys == k)[0]
        take = int(round(len(rows) * val_split))
        if val_split > 0 and len(rows) > 1:
            take = max(1, min(take, len(rows) - 1))
        val.extend(rng.permutation(rows)[:take].tolist())
    val_rows = np.sort(np.array(val, dtype=np.int64))
    return np.setdiff1d(np.arange(len(keys)), val_rows), val_rows


def _group_split(groups: pd.Series, val_split: float, seed: int, notices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups to validation, in a seeded order, until its share is reached. Rows with an empty group cell
    are one group of their own, said in a notice (numbers and text may mix in the column: keys are text)."""
    empty = groups.isna().to_numpy()
    keys = groups.astype("string").fillna(MISSING).to_numpy(dtype=object).astype(str)
    if empty.any():
        notices.append(f"data.group {groups.name}: {int(empty.sum())} row(s) have no group; they form one group, "
                       f"{MISSING!r}")
    names, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    if len(names) < 2:
        raise UserError(f"data.group {groups.name} has a single group; a group split needs at least two")
    chosen = _groups_drawn(sizes, val_split, seed)
    in_val = np.isin(inverse, chosen)
    notices.append(f"validation: {len(chosen)} of {len(names)} groups of {groups.name} ({int(in_val.sum())} rows); "
                   f"no group is on both sides")
    share = in_val.mean()
    if val_split and not val_split / 2 <= share <= val_split * 2:  # a draw of a few uneven groups: said, with a fix
        shares = {s: sizes[_groups_drawn(sizes, val_split, s)].sum() / len(keys) for s in range(seed + 1, seed + 200)}
        better = min(shares, key=lambda s: abs(shares[s] - val_split))
        fix = (f"train.seed {better} draws {shares[better]:.0%}, or " if abs(shares[better] - val_split)
               < abs(share - val_split) / 2 else "")
        notices.append(f"warning: validation holds {share:.0%} of the rows where data.val_split asked "
                       f"{val_split:.0%}: {len(names)} groups of {groups.name}, the largest {sizes.max()} rows, split "
                       f"no closer in this draw; {fix}give the validation rows as a file of their own (--val)")
    return np.nonzero(~in_val)[0], np.nonzero(in_val)[0]


def _groups_drawn(sizes: np.ndarray, val_split: float, seed: int) -> list[int]:
    """The groups (indices into `sizes`) `seed`'s order takes for validation: whole groups until their rows reach
    the share, one group left for training at least. A resume draws the same (its data are checked against the
    checkpoint's fingerprint), so the rule stays as runs were trained with it."""
    wanted = val_split * sizes.sum()
    chosen: list[int] = []
    count = 0
    for g in np.random.default_rng(seed).permutation(len(sizes)):
        if count >= wanted or len(chosen) == len(sizes) - 1:
            break
        chosen.append(int(g))
        count += sizes[g]
    return chosen


def _note_encodings(pre: Preprocessor, notices: list[str], frame: pd.DataFrame, train_rows: np.ndarray) -> None:
    """Each one-hot column said; one whose values differ only in case or blanks ('yes', 'Yes', 'YES') warned of:
    each is a category of its own (pandas makes TRUE, True and true one; a text column it leaves as written), and
    which is right is the user's call, made in the file. Where rarer values share '(other)', the training rows'
    own values are compared: a rare 'Yes' folded there beside a category 'yes' is the same doubt."""
    encoded = [c for c in pre.columns if c.kind == "categorical"]
    if len(encoded) > 5:  # an image of True/False pixels: one note, not 784 lines of them
        notices.append(f"columns {', '.join(c.name for c in encoded[:3])} ... ({len(encoded)} in all) are one-hot "
                       f"encoded: {sum(c.width for c in encoded)} inputs")
    for c in encoded:
        folded = c.categories[-1:] == [OTHER]
        if len(encoded) <= 5:
            notices.append(f"column {c.name} is one-hot encoded: {len(c.categories)} values such as "
                           f"{', '.join(map(repr, c.categories[:3]))}"
                           + (f" (rarer values folded into '{OTHER}')" if folded else ""))
        values = c.categories
        if folded:
            col = frame[c.name].iloc[train_rows]
            values = sorted(col[col.notna()].astype(str).unique().tolist())
        kept = set(c.categories)
        # a group encoded apart: two of its values kept, or one kept and one folded (all folded: encoded alike)
        alike = [names for names in _lookalikes(values)
                 if sum(v in kept for v in names) + any(v not in kept for v in names) >= 2]
        if alike:
            rare = [v for names in alike for v in names if v not in kept]
            notices.append(f"warning: column {c.name} has values that differ only in case or blanks "
                           f"({_shown(alike)}); "
                           + (f"they are encoded apart ({_shown([rare])} with the rarer values in '{OTHER}')"
                              if rare else "each is a category of its own")
                           + " - if they are one, write them alike in the file")
        _warn_of_limits(c.name, frame[c.name], notices)  # (the cells of the file, as it is to be mended)


# '<0.005', '>90', '≥ 5', '90+'
_LIMIT = re.compile(r"^\s*(?:[<>]=?|≤|≥)\s*[+-]?\d*[.,]?\d+\s*$|^\s*[+-]?\d*[.,]?\d+\s*\+\s*$")


def _warn_of_limits(name: str, col: pd.Series, notices: list[str]) -> None:
    """A column of measurements whose values past a limit are written as the limit ('<0.005', a lab's detection
    limit; '>90', '90+', a top code): read as text, one-hot encoded value by value, its numbers' order and size
    lost and most validation values unseen. Said, with the fix; the encoding stands."""
    cells = col.dropna().astype(str)
    if not len(cells):
        return
    limits = cells.str.match(_LIMIT)
    numbers = as_numbers(cells[~limits]).notna()  # (either decimal mark)
    if limits.any() and int(numbers.sum()) + int(limits.sum()) == len(cells) and numbers.mean() >= 0.5:
        shown = ", ".join(map(repr, list(dict.fromkeys(cells[limits].str.strip()))[:3]))
        notices.append(f"warning: column {name} is numbers but for {int(limits.sum())} cell(s) written as a limit "
                       f"({shown}): it is one-hot encoded value by value, their order and size lost; write the "
                       "limit as a number (or leave those cells empty) to read it as numbers")


def explain_inputs(e: UserError, data: Prepared) -> UserError:
    """A layer refused for the shape it gets, on a table whose columns are not its inputs one for one: the same
    refusal, saying how many inputs the data gives, which columns the checks left out (a 61 that should be 64) and
    which one-hot encoding widened (an image of True/False pixels gave 1034 inputs for 784 columns)."""
    shape_error = e.layer is not None and ("input" in str(e) or "the data gives" in str(e))
    encoded = [c for c in data.pre.columns if c.kind == "categorical"]
    if not shape_error or not (data.left_out or encoded) or data.shape is not None:
        return e
    said = []
    if data.left_out:
        named = ", ".join(data.left_out[:5]) + (f" and {len(data.left_out) - 5} more" if len(data.left_out) > 5
                                                else "")
        constant = any(" left out: constant" in n for n in data.notices)  # (an image's blank border)
        said.append(f"{len(data.left_out)} column(s) left out, {named}; name them in --features"
                    + (", or pass --keep-constant for the constant ones," if constant else "") + " to keep them")
    flags = [c for c in encoded if set(c.categories) <= {"False", "True", MISSING}]  # an image of True/False
    for kind, columns, fix in (("true/false", flags, "; write them as 0 and 1 in the file to make each one input"),
                               ("text", [c for c in encoded if c not in flags], "")):
        if columns:
            named = ", ".join(c.name for c in columns[:3]) + (f" and {len(columns) - 3} more" if len(columns) > 3
                                                              else "")
            said.append(f"{len(columns)} {kind} column(s) one-hot encoded into {sum(c.width for c in columns)} "
                        f"inputs, {named}{fix}")
    out = UserError(f"{e} (the data gives {data.pre.n_inputs} inputs: {'; '.join(said)})", e.notes)
    out.layer = e.layer
    return out
