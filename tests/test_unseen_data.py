"""What an audit of `torchtui run` on data files it had never seen found, each test failing before its fix.

A number too large to compute with (1e160 in a regression target) made the target's spread infinite: every
scaled target was 0, the run said "done" with rmse nan and predicted inf; in a feature it made the column zeros.
A '?' in a text column - the usual mark of a missing value - became a class of the target and a category of a
feature, under --missing drop and impute too. A True/False target was guessed to be regression, then refused
with "0 non-numeric cell(s)". A --runs-dir inside another run's folder put a new run in there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tui.app import training_process
from tui.core import checkpoint, job
from tui.core.errors import UserError

import warm_cli
from conftest import make_spec, train
from test_export import export_runs_bit_for_bit

IRIS_CSV = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"


def people(n: int = 300, seed: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": r.integers(18, 80, n).astype(float), "income": r.normal(50_000, 1_000, n),
                          "city": r.choice(["north", "south", "east"], n)})
    frame["price"] = 3 * frame.age + frame.income / 1000 + r.normal(0, 1, n)
    frame["label"] = np.where(frame.age > 45, "old", "young")
    return frame


def written(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def run(tmp_path, data: str, **overrides):
    spec = make_spec(tmp_path, **{"data__dataset": data, "train__epochs": 1, **overrides})
    events: list[dict] = []
    outcome, folder = job.run(spec, events.append)
    return outcome, folder, events


def start_of(events: list[dict]) -> dict:
    return next(e for e in events if e["event"] == "start")


# ---- numbers too large to compute with ---------------------------------------------------------------
@pytest.mark.parametrize("column", ["price", "income"])
def test_a_number_too_large_to_compute_with_is_refused_and_no_run_is_made(tmp_path, column):
    frame = people()
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = "1e160"
    data = written(frame.drop(columns="label"), tmp_path / "huge.csv")
    with pytest.raises(UserError) as refused:
        run(tmp_path, data, data__target="price")
    said = str(refused.value)
    what = "target price" if column == "price" else "column income"
    assert f"{what} holds 1 value(s) too large to compute with" in said and "1e+160, in data row 4" in said
    assert ("--drop income" in said) == (column == "income")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_file_for_a_trained_model_with_a_number_too_large_is_one_line_to_fix_the_cell(tmp_path):
    _, folder, _ = run(tmp_path, written(people().drop(columns="label"), tmp_path / "fine.csv"),
                       data__target="price")
    frame = people(40, seed=1).drop(columns=["label"])
    frame["income"] = frame["income"].astype(object)
    frame.loc[5, "income"] = "-3e200"
    data = written(frame, tmp_path / "new.csv")
    for command in (["predict", str(folder.path / "best.pt"), data], ["eval", str(folder.path / "best.pt"), data]):
        done = warm_cli.run([sys.executable, "-m", "tui", *command], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1] == (
            f"error: {data}: column income holds 1 value(s) too large to compute with (beyond +-1e+150; the "
            f"first, -3e+200, in data row 6); fix that cell")


def test_large_numbers_short_of_the_limit_still_train_to_finite_numbers(tmp_path):
    frame = people()
    frame["income"] = frame["income"] * 1e140  # large, but their squares and sums stay finite
    outcome, _, events = run(tmp_path, written(frame.drop(columns="label"), tmp_path / "big.csv"),
                             data__target="price")
    [epoch] = [e for e in events if e["event"] == "epoch"]
    assert np.isfinite(epoch["val_loss"]) and np.isfinite(epoch["rmse"])


# ---- '?' in a text column ----------------------------------------------------------------------------
def with_marks(tmp_path) -> str:
    frame = people()
    frame.loc[frame.index % 10 == 0, "city"] = "?"
    frame.loc[frame.index % 25 == 1, "label"] = " ?"
    return written(frame.drop(columns="price"), tmp_path / "marks.csv")


def test_a_question_mark_in_a_text_column_is_an_empty_cell_the_missing_policy_decides(tmp_path):
    data = with_marks(tmp_path)
    with pytest.raises(UserError) as refused:  # empty cells are refused unless a policy is chosen
        run(tmp_path, data, data__target="label")
    assert "city 30" in str(refused.value) and "label 12" in str(refused.value)

    outcome, folder, events = run(tmp_path, data, data__target="label", data__missing="impute")
    start = start_of(events)
    assert start["classes"] == ["old", "young"]  # '?' is no class
    assert "column city: 30 cell(s) '?' read as empty (the mark of a missing value)" in start["notices"]
    assert any("column label: 12 cell(s) '?'" in n for n in start["notices"])
    assert any("dropped 12 of 300 rows" in n for n in start["notices"])  # a target is never filled
    columns = checkpoint.load(folder.path / "last.pt")["preprocessing"]["columns"]
    assert next(c for c in columns if c["name"] == "city")["categories"] == ["(missing)", "east", "north", "south"]
    export_runs_bit_for_bit(folder.path, tmp_path / "marks.csv", tmp_path)  # the script reads '?' alike

    _, _, events = run(tmp_path, data, data__target="label", data__missing="drop", run__name="dropped")
    assert start_of(events)["classes"] == ["old", "young"]
    assert start_of(events)["train_rows"] + start_of(events)["val_rows"] == 258


def test_a_question_mark_among_numbers_and_a_minus_among_labels_are_as_before(tmp_path):
    frame = people(120)
    frame["sign"] = np.where(frame.age > 45, "+", "-")  # a file of '+' and '-' labels: '-' is a label
    frame["income"] = frame["income"].round(2).astype(object)
    frame.loc[[4, 9], "income"] = "?"  # numbers with stray cells: their own note, as before
    data = written(frame.drop(columns=["price", "label"]), tmp_path / "signs.csv")
    _, _, events = run(tmp_path, data, data__target="sign", data__missing="impute")
    notices = start_of(events)["notices"]
    assert start_of(events)["classes"] == ["+", "-"]
    assert any("column income: 2 cell(s) are not numbers ('?')" in n for n in notices), notices
    assert not any("read as empty (the mark" in n for n in notices)


# ---- a True/False target -----------------------------------------------------------------------------
@pytest.mark.parametrize("spelled", [("True", "False"), ("true", "false")], ids=["True", "true"])
def test_a_true_false_target_is_two_classes(tmp_path, spelled):
    frame = people()
    frame["paid"] = np.where(frame.income > 50_000, *spelled)
    _, _, events = run(tmp_path, written(frame.drop(columns=["label", "price"]), tmp_path / "paid.csv"),
                       data__target="paid")
    start = start_of(events)
    assert start["task"] == "classification" and len(start["classes"]) == 2
    assert "task: classification, because target paid holds true/false values (--task regression to change)" \
        in start["notices"]


# ---- a runs folder inside a run ------------------------------------------------------------------------
def test_a_runs_folder_inside_a_run_folder_is_refused_by_run_and_by_the_screen(tmp_path):
    _, folder, _ = run(tmp_path, "iris", run__name="first")
    before = sorted(p.name for p in folder.path.iterdir())
    inside = folder.path / "sub" / "deeper"
    with pytest.raises(UserError) as refused:
        run(tmp_path, "iris", run__runs_dir=str(inside))
    assert f"is inside the run folder {folder.path.absolute()}" in str(refused.value)
    assert f"--runs-dir {folder.path.absolute().parent}" in str(refused.value)
    spec = make_spec(tmp_path, **{"data__dataset": "iris", "run__runs_dir": str(inside)})
    with pytest.raises(UserError):
        training_process.start_run(spec, "iris")
    assert sorted(p.name for p in folder.path.iterdir()) == before  # nothing made in it
    # a path through the run's folder back out of it is outside it
    _, beside, _ = run(tmp_path, "iris", run__runs_dir=str(folder.path / ".." / "more"), run__name="beside")
    assert beside.path.parent.resolve() == (tmp_path / "runs" / "more").resolve()


# ---- smaller things the audit found ------------------------------------------------------------------------
def test_a_header_of_numbers_read_as_data_is_warned_of_where_its_target_became_a_class(tmp_path):
    """A header 1,2,3,y over small whole numbers fits its columns, so the reader takes it for data (its guess
    stands): the target's name 'y' became a class of one row, without a word."""
    r = np.random.default_rng(5)
    frame = pd.DataFrame(r.integers(0, 5, size=(400, 3)), columns=["1", "2", "3"])
    frame["y"] = r.choice(["a", "b"], 400)
    data = written(frame, tmp_path / "numbered.csv")
    _, _, events = run(tmp_path, data)
    assert ("warning: class 'y' of target col4 has one row, the file's first line: if that line names the columns, "
            "pass --header") in start_of(events)["notices"]
    _, _, events = run(tmp_path, data, data__header="yes", run__name="with-header")
    assert start_of(events)["classes"] == ["a", "b"]
    assert not any("file's first line" in n for n in start_of(events)["notices"])


def test_columns_named_alike_are_said_and_a_target_named_twice_is_refused(tmp_path):
    data = tmp_path / "twice.csv"
    data.write_text("age,age,income,label\n" + "".join(f"{i},{i * 2},{i * 3},{'ab'[i % 2]}\n" for i in range(60)))
    _, _, events = run(tmp_path, str(data))
    assert "2 columns are named 'age': read as age, age.1" in start_of(events)["notices"]
    with pytest.raises(UserError, match=r"^--target names label twice; name each target once$"):
        run(tmp_path, str(data), data__target="label,label", run__name="twice")


def test_a_validation_file_that_is_the_training_file_is_warned_of(tmp_path):
    data = written(people().drop(columns="label"), tmp_path / "rows.csv")
    _, _, events = run(tmp_path, data, data__target="price", data__val=str(tmp_path / "." / "rows.csv"))
    assert any(n.startswith("warning: the validation file") and "is the training file" in n
               for n in start_of(events)["notices"])


def test_a_csv_named_parquet_reads_as_the_text_it_is(tmp_path):
    data = written(people().drop(columns="price"), tmp_path / "rows.parquet")  # text under a Parquet name
    _, _, events = run(tmp_path, data, data__target="label")
    assert any("rows.parquet is named .parquet but is not Parquet" in n for n in start_of(events)["notices"])
    assert start_of(events)["classes"] == ["old", "young"]


def test_a_file_of_one_json_object_is_said_as_such(tmp_path):
    data = tmp_path / "one.json"
    data.write_text('{"a": 1, "b": [1, 2], "c": {"d": 2}, "y": "x"}')
    with pytest.raises(UserError, match=r"holds one JSON object, not rows: write its rows as a list of objects"):
        run(tmp_path, str(data))


def test_a_pipe_given_as_the_dataset_is_said_to_be_one(tmp_path):
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=r"is a pipe .* which can be read once, .* more than once: save it to a file"):
        run(tmp_path, str(fifo))
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m tui run --dataset <(cat {IRIS_CSV}) --epochs 1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is a pipe (a `<(...)` of the shell, or a named pipe)" in done.stderr, done.stderr


def test_a_file_read_without_a_header_that_lacks_the_features_says_how_it_was_read(tmp_path):
    _, folder, _ = run(tmp_path, written(people().drop(columns="price"), tmp_path / "rows.csv"),
                       data__target="label")
    rows = people(20, seed=3).drop(columns=["price", "label"])
    rows.to_csv(tmp_path / "bare.csv", index=False, header=False)
    done = warm_cli.run([sys.executable, "-m", "tui", "predict", str(folder.path), str(tmp_path / "bare.csv")],
                        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("it was read without a header line (its columns are col1, col2, ...): if "
                                        "its first line names the columns, pass --header"), done.stderr


def test_a_run_trained_when_a_question_mark_was_a_value_resumes_predicts_and_exports_as_it_was(tmp_path, monkeypatch):
    """A run of an earlier torchtui kept '?' as a category (and a class): read with today's rule, its resume was
    refused as 'data changed', its predictions refused (or changed) and its export no longer reproduced it. Its
    model's categories say which rule it trained with, and its files are read by that rule."""
    from tui.core import reader
    from tui.core.preprocess import reading_of

    data = with_marks(tmp_path)
    with monkeypatch.context() as old:  # the reader of an earlier torchtui
        old.setattr(reader, "_question_marks", lambda frame, fmt: None)
        _, folder, _ = run(tmp_path, data, data__target="label", train__epochs=2, train__patience=0)
    saved = checkpoint.load(folder.path / "last.pt")
    assert not reading_of(saved["preprocessing"]).question_marks and "?" in saved["preprocessing"]["classes"]

    resumed = job.resume(folder.path, lambda e: None, epochs=3)[0]  # not 'data changed', nor refused
    assert resumed.progress.epoch == 3
    done = warm_cli.run([sys.executable, "-m", "tui", "predict", str(folder.path), data], cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    export_runs_bit_for_bit(folder.path, Path(data), tmp_path)
    from tui.core import val_predictions

    assert len(val_predictions.compute(checkpoint.load(folder.path / "best.pt"))) == 60


def test_predict_and_eval_say_how_they_read_a_file_as_a_training_run_does(tmp_path):
    """A '?' read as empty was counted among the cells an imputing model filled, and never said to be a '?';
    a decimal comma or a cp1252 file was read without a word: `predict` and `eval` now say the reader's notes,
    first, on stderr and under --json, as a run says them in its start event."""
    from tui.app.results_pane import evaluation_line
    from tui.core.predict import Predictor

    _, folder, _ = run(tmp_path, with_marks(tmp_path), data__target="label", data__missing="impute")
    frame = people(40, seed=2).drop(columns="price")
    frame.loc[[1, 7, 8], "city"] = "?"
    data = written(frame, tmp_path / "new.csv")
    said = "note: column city: 3 cell(s) '?' read as empty (the mark of a missing value)"
    for command in ("predict", "eval"):
        done = warm_cli.run([sys.executable, "-m", "tui", command, str(folder.path), data], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        notes = [line for line in done.stderr.splitlines() if line.startswith("note: ")]
        assert notes[0] == said and "city: 3 empty cells filled" in notes[1] and len(notes) == 2, done.stderr
        done = warm_cli.run([sys.executable, "-m", "tui", command, str(folder.path), data, "--json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        answer = json.loads(done.stdout)
        assert answer["notes"] == [said.removeprefix("note: ")] and answer["filled"][0]["rows"] == 3
    predictor = Predictor.load(folder.path)
    lines = evaluation_line(data, predictor.evaluate_path(data, predictor.read_options({}))).plain.splitlines()
    assert lines[1] == said  # the Results pane says it under its line, in the same words
    written_file = predictor.predict_file(data, tmp_path / "out.csv", predictor.read_options({}))
    assert written_file.rows == 40 and written_file.notes == [said.removeprefix("note: ")]


def test_a_validation_file_number_too_large_is_named_by_its_line_where_rows_were_dropped(tmp_path):
    """With --missing drop the validation file's rows were renumbered before the check: the refusal named row 3
    of the rows kept, which is line 5 of the file's data."""
    train = written(people().drop(columns="label"), tmp_path / "train.csv")
    val = people(20, seed=3).drop(columns="label")
    val["income"] = val["income"].astype(object)
    val.loc[[0, 1], "age"] = np.nan  # dropped by the policy
    val.loc[4, "income"] = "1e170"
    with pytest.raises(UserError) as refused:
        run(tmp_path, train, data__target="price", data__val=written(val, tmp_path / "val.csv"),
            data__missing="drop")
    assert "column income holds 1 value(s) too large to compute with" in str(refused.value)
    assert "the first, 1e+170, in data row 5); fix that cell, or leave the column out (--drop income)" in str(
        refused.value)
    assert str(refused.value).startswith(str(tmp_path / "val.csv"))


def test_a_refused_file_for_predict_and_eval_says_how_it_was_read_first(tmp_path):
    """A model trained without imputing refuses an empty cell: a '?' read as empty was refused as "empty" with no
    word of the '?', where a training run's refusal says the reader's notes with it."""
    frame = people(120, seed=4).drop(columns="price")
    _, folder, _ = run(tmp_path, written(frame, tmp_path / "clean.csv"), data__target="label")
    frame.loc[3, "city"] = "?"
    data = written(frame, tmp_path / "marked.csv")
    for command in ("predict", "eval"):
        done = warm_cli.run([sys.executable, "-m", "tui", command, str(folder.path), data], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and lines[0].startswith("error: ") and "city" in lines[0], done.stderr
        assert lines[1:] == ["  note: column city: 1 cell(s) '?' read as empty (the mark of a missing value)"]


def test_predict_and_eval_say_the_lines_they_skipped_above_the_table(tmp_path):
    """A run says in its 'read' line that lines above the table were skipped as metadata; `predict` and `eval` read
    a file the same way without a word of it (a first data row taken for a title would have been lost unseen)."""
    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=1)
    iris = (Path(__file__).resolve().parents[1] / "datasets" / "iris.csv").read_text()
    data = tmp_path / "export.csv"
    data.write_text("Exported by LabSystem 4.2\nOperator: K. Lee\n" + iris)
    said = "2 line(s) above the table skipped as metadata; pass --skip-rows 0 to keep them"
    for command in ("predict", "eval"):
        done = warm_cli.run([sys.executable, "-m", "tui", command, str(folder.path), str(data), "--json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["notes"] == [said]
    plain = warm_cli.run([sys.executable, "-m", "tui", "eval", str(folder.path), str(data)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert f"note: {said}" in plain.stderr.splitlines() and "150" in plain.stdout, plain.stderr
