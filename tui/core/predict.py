"""Use a checkpoint on new data: predict labels or values, or evaluate on labelled rows.

Everything comes from the checkpoint itself - the layer stack, the weights, the
preprocessing fitted on the training split, the class names - so a `best.pt` copied to
another machine predicts with nothing else at hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

from . import checkpoint
from .errors import UserError
from .files import write_user_file
from .layers import build_sequential
from .metrics import class_probabilities, predicted_classes
from .objective import Objective, evaluate, task_metrics
from .preprocess import Filled, Preprocessor, RowsLeftOut, Unseen, reading_of
from .reader import ReadOptions, TableFormat, read_table
from .runs import SPEC, RunFolder, is_run_folder, refuse_run_file

BATCH = 4096
STANDARDISED = "standardised target"  # an evaluation's loss_units when the model trained on (y - mean) / std


@dataclass
class FileNotes:
    """What is said about a file beside its predictions or metrics: the reader's notes on how it read it (a `?`
    read as empty, a decimal comma, a cp1252 file: reader.TableFormat), the text values the model has no category
    for, the empty cells an imputing model filled, and the rows with empty cells a dropping model left out."""

    unseen: list[Unseen] = field(default_factory=list)
    filled: list[Filled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left_out_rows: list[RowsLeftOut] = field(default_factory=list)

    def said(self) -> dict[str, Any]:
        """The four, as `--json` gives them and `note_lines` says them."""
        return {"unseen": [u.to_dict() for u in self.unseen], "filled": [f.to_dict() for f in self.filled],
                "left_out_rows": [r.to_dict() for r in self.left_out_rows], "notes": list(self.notes)}


def note_lines(said: dict[str, Any]) -> list[str]:
    """`note: ...` lines, the reader's first: what `torchtui predict` and `eval` say on stderr and the Results pane
    under its line, from `FileNotes.said()` or an evaluation's result, which holds the same keys."""
    values = [u["message"] for u in [*said.get("unseen", []), *said.get("filled", []), *said.get("left_out_rows", [])]]
    return [f"note: {n}" for n in [*said.get("notes", []), *values]]


def not_predicted(left_out: list[RowsLeftOut]) -> tuple[int, str]:
    """(how many rows a prediction file holds unpredicted, why in words), as `torchtui predict -o` and the Results
    pane say it: an empty cell (a --missing drop model), no value at all (any model). A spreadsheet's empty line
    was counted as 'with an empty cell' for every model, also where no cell of any other row was empty."""
    empty, blank = (sum(r.rows for r in left_out if r.blank is b) for b in (False, True))
    return empty + blank, " and ".join([f"{empty} with an empty cell"] * bool(empty)
                                       + [f"{blank} with no value at all"] * bool(blank))


@dataclass
class Predicted(FileNotes):
    """A file's predictions, one row per input row, and what is said about the file."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class Written(FileNotes):
    """A predictions file written: its rows, and what is said about the file."""

    rows: int = 0


def _refuse_inconsistent(predictor: "Predictor", source: str) -> None:
    """A checkpoint whose parts disagree - a model answering for more or fewer classes than its preprocessing
    names, one class named twice, a column's statistics not numbers, a column of a kind no run writes - is
    refused as one line here. Each part loaded alone, and the answers were an IndexError, a broadcast error,
    or predictions of NaN or a probability column lost."""
    pre = predictor.pre
    problem = ""
    keys = [str(c) for c in pre.classes]
    if len(set(keys)) != len(keys):
        problem = "a class is named twice"
    for c in pre.columns:
        if c.kind not in ("numeric", "categorical"):
            problem = problem or f"column {c.name} is of kind {c.kind!r}"
        elif c.kind == "numeric" and not (math.isfinite(c.mean) and math.isfinite(c.std) and c.std > 0):
            problem = problem or f"column {c.name}'s statistics are not finite numbers"
    if not problem:
        try:
            with torch.no_grad():
                width = predictor.model(torch.zeros((1, pre.n_inputs))).shape
        except RuntimeError as e:
            problem = f"its layers do not take its {pre.n_inputs} inputs ({str(e).splitlines()[0][:200]})"
        else:
            if tuple(width) != (1, predictor.objective.n_outputs):
                problem = (f"its model gives {width[-1]} outputs where its preprocessing wants "
                           f"{predictor.objective.n_outputs}")
    if problem:
        raise UserError(f"{source} is a damaged torchtui checkpoint: {problem}; use another checkpoint of the run, "
                        "or train it again")


class Predictor:
    def __init__(self, ckpt: dict[str, Any], source: str = "checkpoint"):
        self.source = source
        self.run_data = dict((ckpt.get("spec") or {}).get("data") or {})  # the run's data section, as saved
        try:
            self.epoch = int((ckpt.get("progress") or {}).get("epoch", 0))  # the epoch whose weights these are
            self.pre = Preprocessor.from_dict(ckpt["preprocessing"])
            if not self.pre.columns:
                raise UserError(f"{source} was trained on a Dataset class ({ckpt['spec']['data']['dataset']}), "
                                "not a table; predict in Python: tui.core.layers.build_sequential(ckpt['layers']) "
                                "and ckpt['model']")
            self.objective = Objective(ckpt["loss"], self.pre.task, len(self.pre.classes), len(self.pre.targets))
            self.layers = list(ckpt["layers"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # entries edited or made by another program
            raise UserError(f"{source} is a damaged torchtui checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                            "use another checkpoint of the run, or train it again") from None
        self.model = build_sequential(self.layers)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:  # torch's first line only says "Error(s) in loading state_dict": the next says which
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            reason = lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
            raise UserError(f"{source}: weights do not fit its layer stack ({reason[:300]})") from None
        self.model.eval()
        _refuse_inconsistent(self, source)

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        if Path(path).is_dir():
            refuse_folder_of_runs(Path(path))
            refuse_run_without_checkpoint(Path(path))
            path = checkpoint.best_of_run(Path(path))  # a run folder: its best model
        path = checkpoint.best_as_named(Path(path))
        return cls(checkpoint.load(path), str(path))

    def data_files(self) -> list[tuple[str, Path]]:
        """(what, where) of each file the run read its rows from - its data, --val and --test files, a built-in
        set's CSV - as its checkpoint and its folder's spec.toml (a resume may have moved them) record them.
        `predict -o` named the training CSV and replaced it: the run could not be resumed, its data had changed."""
        from .datasets import BUILTINS, data_dir
        from .spec import DATA_FILE_FIELDS, DATA_FILE_NAMES

        sections = [self.run_data, _folder_data(Path(self.source).parent)]
        found = []
        for path in DATA_FILE_FIELDS:
            for data in sections:
                name = str(data.get(path.split(".")[1]) or "")
                builtin = BUILTINS.get(name)
                if builtin is not None and builtin.file:
                    try:
                        found.append((f"built-in {name} set", data_dir() / builtin.file))
                    except FileNotFoundError:
                        pass
                elif name and name not in BUILTINS:
                    found.append((DATA_FILE_NAMES[path], Path(name)))
        return found

    def outputs(self, frame: pd.DataFrame, source: str, rows: np.ndarray | None = None) -> torch.Tensor:
        """The model's outputs for `rows` of `frame` (all by default)."""
        x = torch.from_numpy(self.pre.transform_x(frame, source, rows))
        with torch.no_grad():
            return torch.cat([self.model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]).float() \
                if len(x) else torch.zeros((0, self.objective.n_outputs))

    def predict_frame(self, frame: pd.DataFrame, source: str = "data", rows: np.ndarray | None = None) -> pd.DataFrame:
        """The predictions for `rows` of `frame` (all by default), a row each."""
        out = self.outputs(frame, source, rows)
        result = pd.DataFrame(index=range(len(out)))
        if self.pre.id_column and self.pre.id_column in frame.columns:
            ids = frame[self.pre.id_column].to_numpy()
            result[self.pre.id_column] = ids if rows is None else ids[rows]
        if self.pre.task == "classification":
            result[self.pre.targets[0]] = [self.pre.classes[i] for i in predicted_classes(out).tolist()]
            probs = class_probabilities(out).numpy()
            for j, c in enumerate(self.pre.classes):  # a name taken (a target called p_a, class a): told apart
                name = f"p_{c}"
                result[name if name not in result.columns else f"{name} (probability)"] = probs[:, j]
            return result
        values = self.pre.to_target_units(out.double().numpy())
        for i, t in enumerate(self.pre.targets):
            result[t] = values[:, i]
        return result

    def read_options(self, overrides: dict[str, Any]) -> ReadOptions:
        """How to read a file for this model: as its run read its data (the format flags it was given; auto
        where it was given none), with `overrides` (data.sep, data.header, ...; None: not given) on top."""
        from .data import read_options
        from .spec import FORMAT_FIELDS, Spec

        run = Spec().with_overrides({f"data.{k}": v for k, v in self.run_data.items() if k in FORMAT_FIELDS})
        return read_options(run.with_overrides(overrides).data, reading_of(self.pre))

    def predict_path(self, data: str | Path, options: ReadOptions | None = None) -> Predicted:
        """A CSV file read and predicted (`torchtui predict`, and the Results pane through `predict_file`).
        `options`: the format flags of the run that named the file; None sniffs it."""
        frame, fmt = read_table(data, options)
        frame, moved = self.pre.without_its_targets(frame)
        said = fmt.said() + ([moved] if moved else [])
        with _refused_with(said, _read_by_the_runs_flags(fmt, options)):
            answerable = self.pre.answerable(frame, str(data), scored=False)
            table = self.predict_frame(answerable.read, str(data), answerable.rows)
        if answerable.rows is not None:  # one row out per row in: those left out in their places, predictions empty
            if self.pre.task == "classification":
                table[self.pre.targets[0]] = table[self.pre.targets[0]].astype(object)  # (a class 1, not 1.0)
            table = table.set_axis(answerable.rows).reindex(range(len(frame)))
            if self.pre.id_column and self.pre.id_column in frame.columns:
                table[self.pre.id_column] = frame[self.pre.id_column].to_numpy()
        answered = answerable.kept(frame)
        return Predicted(table=table, unseen=self.pre.unseen(answered), filled=self.pre.filled(answered),
                         notes=said, left_out_rows=answerable.left_out)

    def predict_file(self, data: str | Path, out: str | Path, options: ReadOptions | None = None,
                     own_run: bool = False) -> Written:
        """`own_run`: the run writing its own predictions.csv (--test), the one writer allowed a run's file."""
        refuse_overwriting(out, data, self.source, own_run, [] if own_run else self.data_files())
        predicted = self.predict_path(data, options)
        write_csv(predicted.table, out, own_run)
        return Written(rows=len(predicted.table), unseen=predicted.unseen, filled=predicted.filled,
                       notes=predicted.notes, left_out_rows=predicted.left_out_rows)

    def evaluate_path(self, data: str | Path, options: ReadOptions | None = None) -> dict[str, Any]:
        """A labelled file read and evaluated (`torchtui eval`, the Results pane): `evaluate_frame`'s result, with
        the reader's notes on the file (a `?` read as empty, a decimal comma, a cp1252 file) under "notes", as a
        training run says them: a `?` counted among the cells filled was never said to be one."""
        frame, fmt = read_table(data, options)
        said = fmt.said()
        with _refused_with(said, _read_by_the_runs_flags(fmt, options)):
            return {**self.evaluate_frame(frame, str(data)), "notes": said}

    def evaluate_frame(self, frame: pd.DataFrame, source: str = "data") -> dict[str, Any]:
        answerable = self.pre.answerable(frame, source, scored=True)
        rows = answerable.rows
        x = torch.from_numpy(self.pre.transform_x(answerable.read, source, rows))
        targets = self.pre.transform_y(answerable.read, source)
        y = torch.from_numpy(targets if rows is None else targets[rows])
        frame = answerable.kept(frame)
        loss, out = evaluate(self.model, x, y, self.objective, self.objective.criterion(), BATCH)
        result = {"checkpoint": self.source, "epoch": self.epoch, "rows": len(x), "loss": loss,
                  "loss_name": self.objective.loss}
        if self.pre.task == "regression":  # the loss is in the units it trained in; the metrics in the target's
            result["loss_units"] = STANDARDISED if self.pre.target_standardised else "target"
        result.update(task_metrics(out, y, self.objective, self.pre, detail=True))
        if self.pre.task == "classification":
            result["classes"] = [str(c) for c in self.pre.classes]
        result["unseen"] = [u.to_dict() for u in self.pre.unseen(frame)]
        result["filled"] = [f.to_dict() for f in self.pre.filled(frame)]
        result["left_out_rows"] = [r.to_dict() for r in answerable.left_out]
        return result


@contextlib.contextmanager
def _refused_with(notes: list[str], flags: str = "") -> Iterator[None]:
    """A refusal of the file's cells says how the file was read first, as a training run's does: "column size has 1
    cell that is empty" of a cell holding '?' left out the note that said '?' reads as empty. `flags`: where the
    run's format flags read it, and the file lacks the model's columns, that note too (a ',' file read with the
    run's --sep ';' was one column, and "lacks the feature columns" said nothing of why)."""
    try:
        yield
    except UserError as e:
        lacking = flags and "lacks the feature column" in str(e)
        raise e.with_notes([*notes, flags] if lacking else notes) from None


def _read_by_the_runs_flags(fmt: TableFormat, options: ReadOptions | None) -> str:
    """How a file was read where the run's format flags chose it ('' where nothing was given)."""
    if options is None:
        return ""
    flags = {"header": {"yes": "--header", "no": "--no-header"}.get(options.header, "")}
    for name in ("sep", "skip_rows", "decimal", "encoding"):
        if getattr(options, name) not in ("auto", -1):
            flags[name] = f"--{name.replace('_', '-')} {getattr(options, name)!r}"
    given = [flag for flag in flags.values() if flag]
    if not given:
        return ""
    return (f"read with {fmt.describe()}: the run's format flags ({' '.join(given)}), which predict and eval keep; "
            "a file written otherwise needs flags of its own (--sep auto finds its separator)")


def loss_label(result: dict[str, Any]) -> str:
    """`loss (MSE)`, and for a target standardised in training `loss (MSE, standardised target)`: that loss is
    not in the target's units, as RMSE and MAE beside it are (an MSE there is (RMSE / the target's std)²)."""
    on = ", standardised target" if result.get("loss_units") == STANDARDISED else ""
    return f"loss ({result['loss_name']}{on})"


def refuse_overwriting(out: str | Path, data: str | Path, checkpoint: str | Path, own_run: bool = False,
                       run_data: list[tuple[str, Path]] | None = None) -> None:
    """Predictions are never written over what they are made from: `-o` naming the data file replaced the user's
    rows with the predictions, without a word (the checkpoint likewise), nor over the files the run trained on
    (`run_data`: `Predictor.data_files`), which `--force` does not make ours to replace. Checked before
    predicting."""
    for what, path in (("the data file", data), ("the checkpoint", checkpoint)):
        if _same_file(out, path):
            raise UserError(f"{out} is {what} being predicted from: the predictions would replace it; "
                            f"write them to another file")
    for what, path in run_data or []:
        if _same_file(out, path):
            raise UserError(f"{out} is the {what} the model trained on: the predictions would replace its rows and "
                            f"the run could not be resumed; write them to another file")
    if not own_run:
        refuse_run_file(Path(out))  # nor over a run's own files


def refuse_run_without_checkpoint(folder: Path) -> None:
    """A run folder whose training saved no checkpoint: "checkpoint RUN/last.pt not found" sent a user looking for
    a file, where the run's own story says why there is none."""
    if not (folder / SPEC).exists() or any((folder / name).exists() for name in ("best.pt", "last.pt")):
        return
    from .follow import read_run

    state, _ = read_run(folder)
    if state.running:
        why = "it is still training and has saved none yet"
    elif state.status == "failed":
        why = f"it failed before its first save ({state.error})" if state.error else "it failed before its first save"
    else:
        why = "it ended before its first save"
    raise UserError(f"{folder} has no model yet: {why}")


def refuse_folder_of_runs(folder: Path) -> None:
    """A folder holding run folders, or no run at all, given where one run goes (`predict checkpoints DATA`): it said
    "checkpoint checkpoints/last.pt not found", which sends a user looking for a file."""
    if (folder / SPEC).exists() or any((folder / name).exists() for name in ("best.pt", "last.pt")):
        return
    try:
        runs = sorted((p for p in folder.iterdir() if is_run_folder(p)), key=_modified, reverse=True)
    except OSError:
        return
    if runs:
        named = " or ".join(str(p) for p in runs[:2])
        raise UserError(f"{folder} is a folder of runs, not a run; name one run in it, e.g. {named} "
                        f"(`torchtui runs --runs-dir {folder}` lists them)")
    RunFolder.open(folder)  # neither (an empty folder, a data folder): refused as resume, export and change refuse it


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _folder_data(folder: Path) -> dict[str, Any]:
    """The data section of the run folder's spec.toml, where the checkpoint sits in one; {} where it does not."""
    if not (folder / SPEC).is_file():
        return {}
    from .spec import Spec

    try:
        return dataclasses.asdict(Spec.from_file(folder / SPEC).data)
    except (UserError, OSError):
        return {}


def write_csv(frame: pd.DataFrame, out: str | Path, own_run: bool = False) -> Path:
    return write_user_file(out, frame.to_csv(index=False).encode("utf-8"), own_run)
