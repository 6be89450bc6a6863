"""'NA' and 'None' in a column of words are words: a region NA (North America), a severity None. pandas reads
them as empty in every column, so a class or a category was lost - its rows dropped under --missing drop (the fix
the refusal offered), filled under impute, and refused as 'empty' where the file showed a word. In a column of
numbers they stay empty (R writes a missing number NA). A model trained before this rule reads its files as it
did: its resume, predictions and export are unchanged."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tui.cli import app
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
        old.setattr(reader, "_words_kept", lambda p, frame, fmt, options, reading: pd.read_csv(p, **options))
        real = preprocess.Preprocessor.to_dict
        old.setattr(preprocess.Preprocessor, "to_dict",
                    lambda self: {k: v for k, v in real(self).items() if k != "words"})
        _, folder = job.run(spec, lambda e: None)
    saved = checkpoint.load(folder.path / "last.pt")
    assert "words" not in saved["preprocessing"] and not preprocess.reading_of(saved["preprocessing"]).words
    assert "None" not in saved["preprocessing"]["classes"]  # it never knew the class

    resumed = job.resume(folder.path, lambda e: None, epochs=3)[0]  # not 'data changed'
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    assert "unseen" not in done.stderr and "read as values" not in done.stderr, done.stderr
    export_runs_bit_for_bit(folder.path, data, tmp_path)


# ---- what the review of the rule found ---------------------------------------------------------------------------
def exported_reading(path: Path, reading=None) -> pd.DataFrame:
    """The table the exported script's reading lines make of `path` (section 1 of the script, run here)."""
    from tui.core import export
    from tui.core.reader import Reading
    from tui.core.spec import Spec

    spec = Spec().with_overrides({"data.dataset": str(path)})
    lines = export._read_file(path, spec, "frame", "args.data", reading or Reading())
    scope = {"np": np, "pd": pd, "args": type("Args", (), {"data": str(path)})}
    exec("\n".join(lines), scope)
    return scope["frame"]


def test_the_exported_script_reads_each_file_as_the_run_did(tmp_path):
    """The script read with pandas' defaults and put the words back: a big file, whose chunks pandas types one by
    one, came out '1.0' where the run read '1' (65,750 cells of a 200,000-row file)."""
    r = np.random.default_rng(1)
    n = 200_000
    grade = np.where(np.arange(n) < n // 2, r.choice(["1", "2", "NA"], n), r.choice(["A", "B", "1"], n))
    big = pd.DataFrame({"x": r.normal(size=n).round(3), "grade": grade, "y": r.integers(0, 2, n)})
    big.to_csv(tmp_path / "big.csv", index=False)
    files = {"big": tmp_path / "big.csv", "rows": written(survey(), tmp_path / "rows.csv", row_names=True)}
    (tmp_path / "r.csv").write_text('"region","ok","x"\n"EU",TRUE,1\nNA,NA,2\n"NA",FALSE,3\n"AS",TRUE,NA\n'
                                    '"EU",FALSE,5\n')
    files["r"] = tmp_path / "r.csv"
    (tmp_path / "bare.csv").write_text("".join(f"{i},{['NA', 'EU', 'AS'][i % 3]},{i % 2}\n" for i in range(30)))
    files["bare"] = tmp_path / "bare.csv"
    for name, path in files.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # pandas' DtypeWarning on the first read of a file typed chunk by chunk
            read = read_table(path)[0]
        pd.testing.assert_frame_equal(exported_reading(path), read, obj=name)


def test_r_writes_a_missing_value_na_in_every_column(tmp_path):
    """R's write.csv quotes its text and writes a missing value NA bare, in a column of words or of TRUE/FALSE
    too: both read as words made a TRUE/FALSE target three classes."""
    path = tmp_path / "r.csv"
    path.write_text('"region","ok","x"\n"EU",TRUE,1\nNA,NA,2\n"AS",FALSE,3\n"AS",TRUE,NA\n"EU",FALSE,5\n')
    table, fmt = read_table(path)
    assert table["region"].isna().tolist() == [False, True, False, False, False]
    assert table["ok"].isna().tolist() == [False, True, False, False, False]
    assert table["x"].isna().tolist() == [False, False, False, True, False]
    assert "1 bare NA cell(s) among text in quotes read as empty: R's mark of a missing value (its write.csv " \
           "quotes every text)" in fmt.notes
    late = tmp_path / "late.csv"  # the first NA below the lines sniffed: the quotes of the text said it already
    late.write_text('"region","x"\n' + "".join(f'"{"EU" if i % 2 else "AS"}",{i}\n' for i in range(400))
                    + "NA,400\n")
    assert read_table(late)[0]["region"].isna().tolist() == [False] * 400 + [True]
    plain = tmp_path / "plain.csv"  # unquoted, as pandas writes it: true/false with NA is still two values
    plain.write_text("ok,region\nTRUE,NA\nNA,EU\nFALSE,AS\n")
    table, fmt = read_table(plain)
    assert table["ok"].isna().tolist() == [False, True, False] and table["region"].tolist() == ["NA", "EU", "AS"]


def test_a_models_own_na_category_is_a_value_in_a_file_of_nothing_else(tmp_path):
    """The words-or-numbers choice was made again from each file's other cells: a file for predict whose region
    column held NA alone read it as empty, and the model refused it (or filled it, or left the row out)."""
    data = written(survey(), tmp_path / "survey.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="severity", data__missing="drop",
                     train__epochs=1)
    _, folder = job.run(spec, lambda e: None)
    rows = survey(4, seed=5).drop(columns="severity")
    rows["region"] = "NA"
    rows["age"] = [30.0, 50.0, 70.0, 45.0]
    rows.to_csv(tmp_path / "na-only.csv", index=False)
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(tmp_path / "na-only.csv"), "--json"])
    assert done.exit_code == 0, done.output
    said = json.loads(done.stdout)
    assert said["unseen"] == [] and said["filled"] == [] and len(said["predictions"]) == 4
    assert [n for n in said["notes"] if "region" in n] == [
        "column region: 4 cell(s) 'NA' read as values, as a category of the model's (pandas reads them as empty); "
        "where one means a missing value, leave its cell empty"]


def test_the_notes_name_the_columns_as_the_table_does(tmp_path):
    path = tmp_path / "bare.csv"  # no header line: the columns are col1, col2, ...
    path.write_text("".join(f"{i},{i % 2},{['NA', 'EU', 'AS'][i % 3]}\n" for i in range(30)))
    assert any(n.startswith("column col3: 10 cell(s) 'NA' read as values") for n in read_table(path)[1].notes)
    path = tmp_path / "shares.csv"  # numbers written for people, a missing one NA: no column of words
    path.write_text("share,y\n12%,a\nNA,b\n30%,a\n45%,b\n")
    table, fmt = read_table(path)
    assert table["share"].isna().tolist() == [False, True, False, False]
    assert not [n for n in fmt.notes if "read as values" in n], fmt.notes
