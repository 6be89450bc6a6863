"""The validation rows as the best model sees them: each row's inputs in its file's own units,
the true and the predicted label or value, and the error, worst first - what the model gets wrong.

The worker writes them into the run folder at the end of a run (`val_predictions.csv`, through
the recorder: `job.write_val_predictions`); the screen computes the same table from `best.pt` for
a run without the file (an older run, an interrupted one, one still training). Both go through
`compute`. Nothing here reaches the recorder or the loop: the screen imports this module.

The rows are found again from the checkpoint's spec, through `data.split_table` as `data.prepare`
finds them: the same file, the same choice of columns, the same missing-value policy and the same
seeded split. The preprocessing is fitted anew there on the training rows and must equal the
checkpoint's: if the data file changed since the run, the rows found would not be the ones it
validated on, and they are refused.

Columns: `row` (the row's number among its file's data rows, from 1: the header is not counted),
the id column when the data has one, the feature columns as the file holds them, then
- classification: `true`, `predicted` (labels), `p_predicted`, `error` = 1 - p(true class);
- regression: `true`, `predicted` (`true_<t>`, `predicted_<t>` per target with several), `error` =
  |predicted - true| in the target's units (the mean over the targets with several).
Sorted by error, largest first (ties in row order); at most MAX_ROWS rows, the worst ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .spec import Spec, moved_data_files

if TYPE_CHECKING:  # numpy, pandas and torch are imported where used: the screen imports this module's names
    import numpy as np
    import pandas as pd

    from .preprocess import Preprocessor
    from .reader import Reading

FILE = "val_predictions.csv"
MAX_ROWS = 10_000  # the worst rows kept: a screen table and a file a person reads, not a data dump
ROW, TRUE, PREDICTED, P_PREDICTED, ERROR = "row", "true", "predicted", "p_predicted", "error"


@dataclass
class ValidationRows:
    frame: pd.DataFrame  # the validation rows, with the file's columns and values
    numbers: np.ndarray  # each row's number among its file's data rows, from 1
    source: str  # the file (or built-in set) they come from
    pre: Preprocessor  # fitted on the training rows, as the run fitted it


def validation_rows(spec: Spec, reading: Reading | None = None) -> ValidationRows:
    """The run's validation rows, found as `data.prepare` finds them (see the module's note); `reading` as there
    (preprocess.reading_of)."""
    from . import user_dataset
    from .data import split_table

    d = spec.data
    if user_dataset.is_class_path(d.dataset):
        raise UserError(f"{d.dataset} is a Dataset class: its validation items are not rows of a table, "
                        "so there is no predictions table")
    table = split_table(d, spec.train.seed, notices=[], reading=reading) if reading else \
        split_table(d, spec.train.seed, notices=[])
    return ValidationRows(table.validation_frame(), table.val_numbers, table.val_name, table.pre)


def compute(ckpt: dict[str, Any], source: str = "checkpoint", max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The table (see the module's note) of a checkpoint's model on its run's validation rows."""
    import numpy as np

    from .predict import Predictor

    spec = _data_where_it_is_now(Spec.from_dict(ckpt["spec"], source=source), source)
    from .preprocess import reading_of

    rows = validation_rows(spec, reading_of(ckpt["preprocessing"]))
    predictor = Predictor(ckpt, source)
    if rows.pre.to_dict() != predictor.pre.to_dict():
        raise UserError(f"the data of this run ({spec.data.dataset}) changed since {source} was saved, so its "
                        "validation rows cannot be found again; evaluate on a file instead")
    outputs = predictor.outputs(rows.frame, rows.source)
    table = _inputs(rows)
    if rows.pre.task == "classification":
        _add_classes(table, rows, outputs)
    else:
        _add_values(table, rows, outputs.double().numpy())
    order = np.argsort(-table[ERROR].to_numpy(), kind="stable")[:max_rows]
    return table.iloc[order].reset_index(drop=True)


def _data_where_it_is_now(spec: Spec, source: str) -> Spec:
    """A run's checkpoint spec with its data files where its folder's spec.toml says they are now: a best.pt saved
    before a `resume --dataset` (the file moved) names the old place (runs.RunFolder.resume_point's rule)."""
    on_disk = Path(source).parent / "spec.toml"
    try:
        now = Spec.from_file(on_disk) if on_disk.is_file() else None
    except UserError:
        now = None
    moved = moved_data_files(spec, now) if now is not None else {}
    return spec.with_overrides(moved) if moved else spec


def _inputs(rows: ValidationRows) -> pd.DataFrame:
    import pandas as pd

    pre = rows.pre
    reserved = {ROW, TRUE, PREDICTED, P_PREDICTED, ERROR, *(f"{w}_{t}" for w in (TRUE, PREDICTED) for t in pre.targets)}
    names = ([pre.id_column] if pre.id_column and pre.id_column in rows.frame.columns else []) + pre.feature_names
    # made at once from all its columns: added one by one, a wide table (hundreds of inputs) printed pandas'
    # PerformanceWarning ("highly fragmented") on the console
    columns = {ROW: rows.numbers, **{input_column(c, reserved): rows.frame[c].to_numpy() for c in names}}
    return pd.DataFrame(columns)


def input_column(name: str, reserved: set[str] | None = None) -> str:
    """The table's name for an input column: its own, unless it is one of the table's result columns."""
    taken = reserved if reserved is not None else {ROW, TRUE, PREDICTED, P_PREDICTED, ERROR}
    return f"{name} (input)" if name in taken else name


def _add_classes(table: pd.DataFrame, rows: ValidationRows, outputs: Any) -> None:
    import torch

    from .metrics import class_probabilities, predicted_classes

    pre = rows.pre
    true = torch.from_numpy(pre.transform_y(rows.frame, rows.source))
    predicted = predicted_classes(outputs)
    probs = class_probabilities(outputs)  # as `torchtui predict` computes its p_ columns
    every = torch.arange(len(true))
    table[TRUE] = [pre.classes[i] for i in true.tolist()]
    table[PREDICTED] = [pre.classes[i] for i in predicted.tolist()]
    table[P_PREDICTED] = probs[every, predicted].double().numpy()
    table[ERROR] = 1.0 - probs[every, true].double().numpy()


def _add_values(table: pd.DataFrame, rows: ValidationRows, outputs: np.ndarray) -> None:
    import numpy as np

    pre = rows.pre
    predicted = pre.to_target_units(outputs)
    true = np.column_stack([rows.frame[t].to_numpy(dtype=np.float64) for t in pre.targets])
    if len(pre.targets) == 1:
        table[TRUE], table[PREDICTED] = true[:, 0], predicted[:, 0]
    else:
        for i, t in enumerate(pre.targets):
            table[f"{TRUE}_{t}"], table[f"{PREDICTED}_{t}"] = true[:, i], predicted[:, i]
    table[ERROR] = np.abs(predicted - true).mean(axis=1)


# ---- the run folder's file ----------------------------------------------------------------------
def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def read(path: str | Path) -> pd.DataFrame:
    """The file as written."""
    import pandas as pd

    return pd.read_csv(path)


@dataclass
class Loaded:
    table: pd.DataFrame
    origin: str  # where it came from, in words: the file, or best.pt


def for_run(run_dir: str | Path) -> Loaded:
    """A run's table: its `val_predictions.csv` when that is at least as new as its best.pt, else
    computed from best.pt (a run without the file, or one whose best.pt changed since)."""
    folder = Path(run_dir)
    path, best = folder / FILE, folder / "best.pt"
    if path.exists() and (not best.exists() or _mtime(path) >= _mtime(best)):
        return Loaded(read(path), FILE)
    if not best.exists():
        raise UserError(f"{folder.name} has no best.pt yet: the table appears once an epoch has been validated")
    from . import checkpoint

    chosen = checkpoint.best_of_run(folder)  # last.pt where a kill left best.pt an epoch behind it
    return Loaded(compute(checkpoint.load(chosen), str(chosen)), chosen.name)


def freshness(run_dir: str | Path) -> tuple[int, int]:
    """What `for_run` depends on (the file's and best.pt's modification times): a reader loads again when it changes."""
    folder = Path(run_dir)
    return _mtime(folder / FILE), _mtime(folder / "best.pt")


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
