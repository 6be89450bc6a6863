"""Files shaped like well-known public data sets, as a newcomer brings them (an audit with unseen files): pandas'
JSON layouts (split, table, index), UCI Adult's test labels with a trailing period, a rare class no validation
row holds (credit-card fraud), a last column that is constant (MNIST's pixel783 as the default target), an
image's blank pixels (184 constant columns of 784), true/false cells beside one that is neither. Each test failed
on the code before its fix."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import data, job
from tui.core.errors import UserError
from tui.core.reader import read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit


def table(rows: int = 150, seed: int = 2) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    x = r.normal(size=(rows, 2)).round(4)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": np.where(x[:, 0] + x[:, 1] > 0, "up", "down")})


@pytest.mark.parametrize("orient", ["split", "table", "index"])
def test_pandas_json_layouts_read_as_rows(tmp_path, orient):
    """to_json(orient='split') was refused with pandas' 'All arrays must be of the same length', 'table' as one
    object, and 'index' read sideways: 3 rows of 150 columns, and a run trained on them."""
    frame = table()
    path = tmp_path / f"d_{orient}.json"
    frame.to_json(path, orient=orient)
    read, fmt = read_table(path)
    assert list(read.columns) == ["x1", "x2", "y"] and len(read) == 150, read.shape
    assert np.allclose(read["x1"], frame["x1"]) and fmt.orient == orient  # (pandas' JSON floats: to 1e-16)
    assert (f"one object in pandas' '{orient}' layout" if orient != "index" else "one object with a row per key") \
        in fmt.describe()
    if orient == "split":
        read_alike_by_run_predict_and_export(tmp_path, path, 150)


def test_a_json_of_columns_and_one_of_records_read_as_before(tmp_path):
    """And one whose first key is only like a layout's: a dict of lists starting with 'data' or 'index', a column
    named 'schema' (its layout's reading fails: read as pandas reads it, as before)."""
    frame = table(20)
    for orient in ("columns", "records"):
        frame.to_json(tmp_path / "d.json", orient=orient)
        read, fmt = read_table(tmp_path / "d.json")
        assert read.shape == (20, 3) and fmt.orient == ""
    for first in ("data", "index", "schema"):
        shaped = frame.rename(columns={"x1": first})
        for how in ("list", "dict"):
            (tmp_path / "d.json").write_text(json.dumps(shaped.to_dict(how)))
            read, fmt = read_table(tmp_path / "d.json")
            assert list(read.columns) == [first, "x2", "y"] and len(read) == 20, (first, how, read.shape)
            assert fmt.orient == "", (first, how)


@pytest.mark.parametrize("how", ["dict by id", "index, text index", "columns, text index", "index, numbered",
                                 "columns, numbered", "index, two rows"])
def test_a_json_object_of_objects_is_read_with_its_rows_as_rows(tmp_path, how):
    """{"alice": {"age": 30, ...}, "bob": {...}} - a file hand-made as a dict by id, or pandas' to_json(orient=
    'index') of a frame with a text index - was read sideways: 3 rows of 60 columns, and a run trained on them.
    Rows are the numbered keys (pandas' row numbers) where one side is numbered, else the more numerous side;
    to_json's default ('columns') still reads as it did."""
    frame = table(60 if how != "index, two rows" else 2)
    ids = [f"p{i:03d}" for i in range(len(frame))]
    path = tmp_path / "d.json"
    if how == "dict by id":
        path.write_text(json.dumps({i: row for i, row in zip(ids, frame.to_dict("records"))}))
    elif how.endswith("text index"):
        frame.set_axis(ids).to_json(path, orient=how.split(",")[0])
    else:
        frame.to_json(path, orient=how.split(",")[0])
    read, fmt = read_table(path)
    assert list(read.columns) == ["x1", "x2", "y"] and len(read) == len(frame), read.shape
    assert np.allclose(read["x1"], frame["x1"]) and list(read["y"]) == list(frame["y"])
    assert fmt.orient == ("" if how.startswith("columns") else "index")
    if how == "dict by id":
        read_alike_by_run_predict_and_export(tmp_path, path, 60)


def test_a_class_no_validation_row_holds_is_warned_of(tmp_path):
    """3 rows of class 1 in 1000, all drawn for training: 'acc 1.0000' on validation rows of class 0 alone."""
    r = np.random.default_rng(0)
    frame = pd.DataFrame(r.normal(size=(1000, 2)), columns=["a", "b"]).assign(Class=0)
    frame.loc[[10, 500, 900], "Class"] = 1
    frame.to_csv(tmp_path / "rare.csv", index=False)
    notices: list[str] = []
    split = data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "rare.csv")).data, 0, notices)
    assert 1 not in set(split.frame["Class"].iloc[split.val_rows])  # (the seed's draw: none of the three)
    assert ("warning: classes absent from the validation rows: 1: the validation loss and accuracy say nothing of "
            "them; --stratify keeps each class's share in both") in notices
    notices = []
    data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "rare.csv"), data__stratify=True).data, 0,
                     notices)
    assert not any("absent from the validation" in n for n in notices), notices


def test_a_constant_last_column_names_target_and_many_constants_are_one_note(tmp_path):
    """MNIST as CSV: label first, 784 pixels, the last one blank in every image. The default target (the last
    column) was refused as one class without saying it was a default; the 184-line flood of 'left out: constant'
    notes is one note."""
    r = np.random.default_rng(1)
    pixels = r.integers(0, 255, size=(60, 16))
    pixels[:, [0, 1, 2, 3, 12, 13, 14, 15]] = 0  # the border
    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(16)])
    frame.insert(0, "label", r.integers(0, 3, 60))
    frame.to_csv(tmp_path / "mnist.csv", index=False)
    with pytest.raises(UserError) as refused:
        data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "mnist.csv")).data, 0, [])
    assert str(refused.value).endswith("has a single class (0); a classifier needs at least two (pixel15 is the last "
                                       "column, the target unless --target names another: --target NAME)")
    notices: list[str] = []
    data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "mnist.csv"), data__target="label").data, 0,
                     notices)
    constant = [n for n in notices if "left out: constant" in n]
    assert constant == ["columns pixel0, pixel1, pixel2 ... (8 in all) left out: constant (every row holds one value); "
                        "name them in --features, or pass --keep-constant, to use them"], constant
    notices = []  # --keep-constant: every pixel an input, in its place in the grid, and no note of them
    table = data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "mnist.csv"), data__target="label",
                                       data__keep_constant=True).data, 0, notices)
    assert table.features == [f"pixel{i}" for i in range(16)] and table.left_out == []
    assert not any("left out" in n for n in notices), notices
    with pytest.raises(UserError) as refused:
        data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "mnist.csv"), data__target="pixel15").data,
                         0, [])
    assert str(refused.value).endswith("a classifier needs at least two")  # named by the user: no hint
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(tmp_path / "mnist.csv"), data__target="label",
                                  train__epochs=1), lambda e: None)
    script = tmp_path / "train.py"
    assert CliRunner().invoke(app, ["export", str(folder.path), "-o", str(script)]).exit_code == 0
    assert "# columns pixel0, pixel1, pixel2 ... (8 in all) left out: constant (every row holds one value)\n" in \
        script.read_text()


def test_a_label_with_a_trailing_period_names_the_class_it_nearly_is(tmp_path):
    """UCI Adult: adult.data writes >50K, adult.test writes >50K. - refused as a label the model does not know."""
    r = np.random.default_rng(4)
    x = r.normal(size=(200, 2)).round(3)
    label = np.where(x[:, 0] > 0, ">50K", "<=50K")
    pd.DataFrame({"age": x[:, 0], "hours": x[:, 1], "income": label}).to_csv(tmp_path / "adult.csv", index=False)
    pd.DataFrame({"age": x[:9, 0], "hours": x[:9, 1], "income": [v + "." for v in label[:9]]}).to_csv(
        tmp_path / "adult_test.csv", index=False)
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(tmp_path / "adult.csv"), train__epochs=1),
                        lambda e: None)
    done = CliRunner().invoke(app, ["eval", str(folder.path), str(tmp_path / "adult_test.csv")])
    assert done.exit_code == 2
    said = done.output.strip().splitlines()[0]
    assert said.endswith("that the model does not know (it knows <=50K, >50K); it is the model's "
                         f"'{label[0]}' but for a trailing '.', blanks or case: write the labels as the training "
                         "file does"), said


def test_true_and_false_beside_a_cell_that_is_neither_are_the_values_trained_on(tmp_path):
    """Trained on TRUE/true/FALSE/false (pandas reads true/false): a file for predict with one '1' among them is
    read as text, and its TRUE and false were 'values not seen in training', encoded as all zeros."""
    r = np.random.default_rng(1)
    insured = r.random(300) < 0.5
    words = np.where(insured, np.where(r.random(300) < 0.5, "TRUE", "true"),
                     np.where(r.random(300) < 0.5, "FALSE", "false"))
    pd.DataFrame({"age": r.integers(18, 80, 300), "insured": words, "y": insured.astype(int)}).to_csv(
        tmp_path / "b.csv", index=False)
    (tmp_path / "b_test.csv").write_text("age,insured\n40,TRUE\n41,false\n42,1\n")
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(tmp_path / "b.csv"), train__epochs=8), lambda e: None)
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(tmp_path / "b_test.csv"), "--json"])
    assert done.exit_code == 0, done.output
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(u["column"], u["values"]) for u in said["unseen"]] == [("insured", ["1"])], said["unseen"]
    assert said["predictions"][0]["p_1"] > 0.9 and said["predictions"][1]["p_0"] > 0.9, said["predictions"]


def titanic(path, rows: int = 300, seed: int = 3):
    """Kaggle's Titanic shape: PassengerId 1..n first, a Name each, the class and sex deciding survival."""
    r = np.random.default_rng(seed)
    cls, sex = r.integers(1, 4, rows), r.choice(["male", "female"], rows)
    survived = ((sex == "female") & (cls < 3) | (r.random(rows) < 0.1)).astype(int)
    pd.DataFrame({"PassengerId": np.arange(1, rows + 1), "Name": [f"Passenger, Mr. No{i}" for i in range(rows)],
                  "Pclass": cls, "Sex": sex, "Age": r.integers(1, 80, rows), "Survived": survived}).to_csv(
        path, index=False)
    return path


def test_a_camel_case_id_is_an_identifier_kept_beside_predictions(tmp_path):
    """Titanic's PassengerId (1..891) was a feature - its name has no '_id' - and the --test predictions kept the
    Name column as the rows' id, where Kaggle asks for PassengerId,Survived."""
    train = titanic(tmp_path / "train.csv")
    test = tmp_path / "test.csv"
    pd.read_csv(titanic(tmp_path / "t.csv", rows=40, seed=4)).drop(columns=["Survived"]).assign(
        PassengerId=lambda f: f["PassengerId"] + 891).to_csv(test, index=False)
    notices: list[str] = []
    split = data.split_table(make_spec(tmp_path, data__dataset=str(train)).data, 0, notices)
    assert split.features == ["Pclass", "Sex", "Age"] and split.id_column == "PassengerId", notices
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(train), data__test=str(test), train__epochs=2),
                        lambda e: None)
    written = pd.read_csv(folder.path / "predictions.csv")
    assert list(written.columns[:2]) == ["PassengerId", "Survived"] and written["PassengerId"].iloc[0] == 892
    for name in ("Humid", "Acid", "PaidAmount", "ValidId_x"):  # words ending in 'id', and an Id inside a name
        assert not data._named_like_an_id(name, None), name
    for name in ("CustomerID", "userId", "order2Id"):
        assert data._named_like_an_id(name, None), name


def test_a_model_trained_before_the_camel_case_rule_keeps_its_feature(tmp_path, monkeypatch):
    """Trained by an earlier torchtui (no `camel` in its checkpoint: PassengerId a feature): its resume is not
    'data changed'."""
    import re


    train = titanic(tmp_path / "train.csv")
    spec = make_spec(tmp_path, data__dataset=str(train), train__epochs=2, train__patience=0)
    folder, saved = trained_before_the_rule(monkeypatch, spec, "camel", [(data, "_ID_CAMEL", re.compile(r"$^"))])
    assert "PassengerId" in [c["name"] for c in saved["columns"]]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


def test_a_model_trained_without_a_header_line_predicts_a_file_of_one_row(tmp_path):
    """UCI's adult.data has no header line (columns col1..col15): a file of one person for predict was taken for a
    header line and refused as 'no data rows'. A model whose columns are a headerless file's reads its files so."""
    r = np.random.default_rng(0)
    x = r.normal(size=(200, 2)).round(3)
    (tmp_path / "bare.csv").write_text("".join(f"{a},{b},{'yes' if a + b > 0 else 'no'}\n" for a, b in x))
    (tmp_path / "one.csv").write_text("0.5,0.7\n")
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(tmp_path / "bare.csv"), train__epochs=4),
                        lambda e: None)
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(tmp_path / "one.csv"), "--json"])
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.stdout.strip().splitlines()[-1])["predictions"]
    assert row["col3"] == "yes", row
    (tmp_path / "named.csv").write_text("col1,col2\n0.5,0.7\n-1,-2\n")  # its own names as a header: a header
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(tmp_path / "named.csv"), "--json"])
    assert done.exit_code == 0, done.output
    assert [p["col3"] for p in json.loads(done.stdout.strip().splitlines()[-1])["predictions"]] == ["yes", "no"]


def test_a_column_of_dates_that_repeat_is_left_out_as_dates(tmp_path, monkeypatch):
    """Bike sharing's hourly file: dteday repeats each day 24 times, so fewer than half its cells were distinct and
    the dates check never ran - it was one-hot encoded, 21 dates in 500 rows (and a validation file's later dates
    were all '(other)'). A model trained before the rule keeps its encoding on its resume."""
    from tui.core import preprocess

    hours = pd.date_range("2011-01-01", periods=500, freq="h")
    r = np.random.default_rng(0)
    frame = pd.DataFrame({"dteday": hours.strftime("%Y-%m-%d"), "hr": hours.hour, "temp": r.uniform(0, 1, 500)})
    frame["cnt"] = (100 * frame["temp"] + r.normal(0, 5, 500)).round(1)
    frame.to_csv(tmp_path / "hour.csv", index=False)
    notices: list[str] = []
    split = data.split_table(make_spec(tmp_path, data__dataset=str(tmp_path / "hour.csv")).data, 0, notices)
    assert split.features == ["hr", "temp"], notices
    assert "column dteday left out: looks like dates; name it in --features to use it" in notices

    spec = make_spec(tmp_path, data__dataset=str(tmp_path / "hour.csv"), train__epochs=2, train__patience=0)
    real_reason = data._leave_out_reason
    folder, saved = trained_before_the_rule(monkeypatch, spec, "dates", [(
        data, "_leave_out_reason", lambda col, name, keep, rules=preprocess.Reading():
        real_reason(col, name, keep, dataclasses.replace(rules, dates=False)))])
    assert "dteday" in [c["name"] for c in saved["columns"]]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


def test_uci_auto_mpg_reads_as_nine_columns(tmp_path):
    """auto-mpg.data: numbers aligned with blanks, then a tab and the car's name in quotes. Its names hold blanks, so
    the lines split on blanks into 10 to 12 fields, and the reader took the tab for the separator: two columns, the
    numbers one text cell ('--sep whitespace' skipped 4 lines as 'above the table'). A quoted cell is one."""
    r = np.random.default_rng(7)
    names = ["toyota corona mark ii", "peugeot 504", "ford torino", "amc rebel sst", "buick skylark 320"]
    lines = [f"{r.uniform(9, 45):.1f}   {r.choice([4, 6, 8])}      {r.uniform(70, 450):.1f}      "
             f"{'?' if i == 7 else f'{r.uniform(46, 230):.1f}'}     {r.uniform(1600, 5100):.1f}       "
             f"{r.uniform(8, 25):.1f}  {r.integers(70, 83)} {r.integers(1, 4)}\t\"{names[i % 5]}\"" for i in range(120)]
    path = tmp_path / "auto-mpg.data"
    path.write_text("\n".join(lines) + "\n")
    frame, fmt = read_table(path)
    assert fmt.sep == "whitespace" and not fmt.header and frame.shape == (120, 9), fmt.describe()
    assert frame["col9"].iloc[0] == names[0] and frame["col1"].dtype.kind == "f"
    notices: list[str] = []
    split = data.split_table(make_spec(tmp_path, data__dataset=str(path), data__target="col1",
                                       data__missing="impute").data, 0, notices)
    assert split.task == "regression" and "col4" in split.features, notices


def test_a_val_file_without_the_target_or_with_an_empty_one_is_refused_in_one_line(tmp_path):
    """The warning of classes no validation row holds looked at the --val file's target before the file was
    checked: a file without the column was a KeyError, one with an empty cell a ValueError - tracebacks."""
    frame = table(60)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.drop(columns=["y"]).to_csv(tmp_path / "no_target.csv", index=False)
    frame.assign(y=frame["y"].where(frame.index != 3)).to_csv(tmp_path / "empty.csv", index=False)
    for val, said in (("no_target.csv", "has no target column y"), ("empty.csv", "column y has 1 cell")):
        done = CliRunner().invoke(app, ["run", "--dataset", str(tmp_path / "train.csv"), "--val", str(tmp_path / val),
                                        "--epochs", "1", "--runs-dir", str(tmp_path / "runs"), "--device", "cpu"])
        assert done.exit_code == 2 and done.exception is None or isinstance(done.exception, SystemExit), done.output
        assert said in done.output.strip().splitlines()[0], done.output


def read_alike_by_run_predict_and_export(tmp_path, path, rows: int) -> None:
    """A run on `path`, its predictions for the file's `rows` rows, and the exported script read it alike."""
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(path), train__epochs=2), lambda e: None)
    out = tmp_path / "p.csv"
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(path), "-o", str(out)])
    assert done.exit_code == 0 and len(pd.read_csv(out)) == rows, done.output
    export_runs_bit_for_bit(folder.path, path, tmp_path)
