"""'NA' and 'None' in a column of words are words: a region NA (North America), a severity None. pandas reads
them as empty in every column, so a class or a category was lost - its rows dropped under --missing drop (the fix
the refusal offered), filled under impute, and refused as 'empty' where the file showed a word. In a column of
numbers they stay empty (R writes a missing number NA). A model trained before this rule reads its files as it
did: its resume, predictions and export are unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tui.core import checkpoint, job, preprocess, reader
from tui.core.reader import read_table

from conftest import make_spec
from test_export import export_runs_bit_for_bit


def survey(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Ages (some missing, written NA as R writes them), a region (NA is North America), and a severity whose
    mildest class is None."""
    r = np.random.default_rng(seed)
    age = r.integers(20, 80, n).astype(float)
    frame = pd.DataFrame({"age": age, "dose": r.normal(5, 1, n).round(3),
                          "region": r.choice(["NA", "EU", "AS"], n),
                          "severity": np.where(age < 40, "None", np.where(age < 60, "Mild", "Severe"))})
    frame["age"] = frame["age"].astype(object)
    frame.loc[frame.index % 15 == 4, "age"] = "NA"
    return frame


def written(frame: pd.DataFrame, path: Path, row_names: bool = False) -> Path:
    """As pandas writes it, or as R's write.table(sep=",") does: a header one field short (no name over the row
    names), every row starting with its name."""
    if not row_names:
        frame.to_csv(path, index=False)
        return path
    lines = [",".join(frame.columns)] + [",".join([f"r{i}", *map(str, row)]) for i, row in
                                         enumerate(frame.itertuples(index=False), 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_words_in_a_column_of_words_are_values_and_numbers_written_na_are_empty(tmp_path):
    frame = survey()
    for row_names in (False, True):
        table, fmt = read_table(written(frame, tmp_path / "survey.csv", row_names))
        assert table["region"].tolist() == frame["region"].tolist()
        assert table["severity"].tolist() == frame["severity"].tolist()
        missing = frame["age"].eq("NA")
        assert table["age"].isna().tolist() == missing.tolist()  # a number column: NA is a missing number
        assert table["age"][~missing].tolist() == frame["age"][~missing].astype(float).tolist()
        n_na, n_none = int(frame["region"].eq("NA").sum()), int(frame["severity"].eq("None").sum())
        assert fmt.notes[-2:] == [
            f"column region: {n_na} cell(s) 'NA' read as values, as its other cells are words (pandas reads them as "
            "empty); where one means a missing value, leave its cell empty",
            f"column severity: {n_none} cell(s) 'None' read as values, as its other cells are words (pandas reads "
            "them as empty); where one means a missing value, leave its cell empty"], fmt.notes


def test_an_empty_cell_and_pandas_other_marks_stay_empty_in_a_column_of_words(tmp_path):
    path = tmp_path / "marks.csv"
    path.write_text("colour,size\nred,1\n,2\nNaN,3\nNULL,4\nn/a,5\nNone,6\nblue,7\nNA,8\n")
    table, _ = read_table(path)
    assert [v if isinstance(v, str) else None for v in table["colour"]] == \
        ["red", None, None, None, None, "None", "blue", "NA"]
    path.write_text("colour,size\nNA,1\nNone,2\n,3\n")  # nothing but marks: no words to read them among
    assert read_table(path)[0]["colour"].isna().all()


def test_a_class_none_is_trained_and_drop_keeps_its_rows(tmp_path):
    data = written(survey(), tmp_path / "survey.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="severity", data__missing="drop",
                     train__epochs=1)
    events: list[dict] = []
    _, folder = job.run(spec, events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["train_rows"] + start["val_rows"] == 140  # only the 10 rows whose age is NA dropped
    saved = checkpoint.load(folder.path / "last.pt")
    assert saved["preprocessing"]["classes"] == ["Mild", "None", "Severe"]
    region = next(c for c in saved["preprocessing"]["columns"] if c["name"] == "region")
    assert region["categories"] == ["AS", "EU", "NA"]
    assert saved["preprocessing"]["words"] is True


def test_a_model_trained_when_na_was_empty_reads_its_files_as_it_did(tmp_path, monkeypatch):
    """Trained by an earlier torchtui (no words rule, no `words` in its checkpoint): its resume is not 'data
    changed', its predictions read 'NA' as the empty cell it was trained with, its export reproduces it."""
    data = written(survey(), tmp_path / "survey.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="severity", data__missing="impute",
                     train__epochs=2, train__patience=0)
    with monkeypatch.context() as old:  # the reader and the checkpoints of an earlier torchtui
        old.setattr(reader, "_words_kept", lambda p, frame, fmt, options: pd.read_csv(p, **options))  # pandas' own
        real = preprocess.Preprocessor.to_dict
        old.setattr(preprocess.Preprocessor, "to_dict",
                    lambda self: {k: v for k, v in real(self).items() if k != "words"})
        _, folder = job.run(spec, lambda e: None)
    saved = checkpoint.load(folder.path / "last.pt")
    assert "words" not in saved["preprocessing"] and not preprocess.reading_of(saved["preprocessing"]).words
    assert "None" not in saved["preprocessing"]["classes"]  # it never knew the class

    resumed = job.resume(folder.path, lambda e: None, epochs=3)[0]  # not 'data changed'
    assert resumed.progress.epoch == 3
    done = subprocess.run([sys.executable, "-m", "tui", "predict", str(folder.path), str(data), "-o", "p.csv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "unseen" not in done.stderr and "read as values" not in done.stderr, done.stderr
    export_runs_bit_for_bit(folder.path, data, tmp_path)
