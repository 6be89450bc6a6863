"""Files as other tools write them, read as the numbers and rows they hold.

Each case is a quirk of a real writer: quoted cells that span lines (notes fields from a form or a CRM
export), a separator at the end of every line (Excel and SAS exports), numbers written for people
("$4,791.31", "95.6%", "4.031,82"), JSON records with nested objects or lists. Before, each was misread
without a word - the header lost to a line break in a cell, every column name shifted by one, prices left out
as text or "dates" - and training went on, on the wrong table, or ended in a traceback. Each test builds the
quirky file from a known table and checks the table read back is that one; the end-to-end ones train on it,
predict with it and export it, and compare with the plain file bit for bit.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job
from tui.core.predict import Predictor
from tui.core.reader import Reading, ReadOptions, read_table

import warm_cli
from conftest import make_spec
from test_export import export_runs_bit_for_bit
from test_messy_data import IRIS, WINE, prep, write


def wine_rows() -> tuple[list[str], list[list[str]]]:
    with open(WINE, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def thousands(value: str, mark: str) -> str:
    """A whole number as people write it: 1065 -> 1,065 (or 1.065)."""
    return f"{int(value):,}".replace(",", mark)


# ---- quoted cells over several lines ----------------------------------------------------------------
def test_a_quoted_cell_with_line_breaks_is_one_cell_of_one_row(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).round(3)
    notes = ['"called twice,\nno answer"' if i % 2 else "ok" for i in range(40)]
    lines = ["x1,x2,notes,y"] + [f"{a},{b},{n},{'pos' if a > 0 else 'neg'}" for (a, b), n in zip(x, notes)]
    frame, fmt = read_table(write(tmp_path, "calls.csv", "\n".join(lines) + "\n"))
    assert (fmt.sep, fmt.header, fmt.skip_rows) == (",", True, 0)
    assert list(frame.columns) == ["x1", "x2", "notes", "y"] and len(frame) == 40
    assert frame["notes"].tolist() == [n.strip('"') for n in notes]
    assert np.array_equal(frame[["x1", "x2"]].to_numpy(), x)


def test_every_row_with_a_multiline_cell_keeps_the_separator_and_the_header(tmp_path):
    # every record spans two lines: read line by line, the sample's lines disagreed on the separator, and a
    # run on the file trained on "whitespace" columns with a target of 119 classes
    lines = ["id,name,comment,score"] + [f'{i},"Smith, J{i}","line1\nline2, with comma",{i / 10}' for i in range(60)]
    frame, fmt = read_table(write(tmp_path, "crm.csv", "\n".join(lines) + "\n"))
    assert fmt.sep == "," and list(frame.columns) == ["id", "name", "comment", "score"] and len(frame) == 60
    assert frame["score"].tolist() == [i / 10 for i in range(60)]
    assert set(frame["comment"]) == {"line1\nline2, with comma"}


def test_an_inch_mark_inside_a_cell_opens_no_quoted_field(tmp_path):
    # a quote opens a field only at its start: 5'10" must not swallow the lines after it into one record
    lines = ["name,height,weight"] + [f"p{i},5'{i % 12}\",{150 + i}" for i in range(30)]
    frame, fmt = read_table(write(tmp_path, "people.csv", "\n".join(lines) + "\n"))
    assert fmt.sep == "," and len(frame) == 30 and frame["weight"].tolist() == [150 + i for i in range(30)]


# ---- a separator at the end of every line -------------------------------------------------------------------
@pytest.mark.parametrize("header_ends_too", [False, True], ids=["rows-only", "header-too"])
def test_a_separator_ending_every_line_is_not_a_column(tmp_path, header_ends_too):
    # the rows-only case shifted every name by one (the first column read as row names); the other added an
    # empty column that became the default target
    rows = [f"{i};0,{500 + i};0,{900 - i};{'yes' if i % 3 else 'no'};" for i in range(1, 31)]
    header = "id;a;b;y" + (";" if header_ends_too else "")
    frame, fmt = read_table(write(tmp_path, "excel.csv", "\r\n".join([header, *rows]) + "\r\n"))
    assert list(frame.columns) == ["id", "a", "b", "y"] and not fmt.row_names
    assert frame["id"].tolist() == list(range(1, 31))
    assert frame["a"].tolist() == [float(f"0.{500 + i}") for i in range(1, 31)]
    assert frame["y"].tolist() == ["yes" if i % 3 else "no" for i in range(1, 31)]
    assert len(fmt.notes) == 1 and "ends with a separator" in fmt.notes[0]
    assert prep(tmp_path / "excel.csv").pre.target == "y"


def test_r_row_names_are_still_row_names(tmp_path):
    # the header one short with the rows' LAST field filled: R's write.table, whose first column is row names
    rows = [f'"r{i}",{i / 10},{i % 2}' for i in range(20)]
    frame, fmt = read_table(write(tmp_path, "r.csv", "\n".join(['"x","y"', *rows]) + "\n"))
    assert fmt.row_names and list(frame.columns) == ["x", "y"] and frame["x"].tolist() == [i / 10 for i in range(20)]


# ---- numbers written for people ---------------------------------------------------------------------------
def test_currency_percent_and_thousands_are_read_as_numbers_with_a_note(tmp_path):
    lines = ['pct,price,units,code,y', '95.6%,"$4,791.31","8,412",A1,a', '4.0%,$12.50,77,B2,b',
             '?,"$1,000",-,C3,a', '60%,"-$3.25","1,000,000",D4,b']
    frame, fmt = read_table(write(tmp_path, "shop.csv", "\n".join(lines) + "\n"))
    assert frame["pct"].tolist()[:2] == [95.6, 4.0] and np.isnan(frame["pct"][2]) and frame["pct"][3] == 60
    assert frame["price"].tolist() == [4791.31, 12.5, 1000.0, -3.25]
    assert frame["units"].tolist()[:2] == [8412, 77] and np.isnan(frame["units"][2])
    assert frame["units"][3] == 1_000_000
    assert frame["code"].tolist() == ["A1", "B2", "C3", "D4"]  # text stays text
    assert sorted(fmt.formatted) == ["pct", "price", "units"]
    assert any("'$4,791.31' read as numbers (4791.31)" in n for n in fmt.notes)


def test_a_column_with_one_cell_that_is_not_a_number_stays_as_written(tmp_path):
    lines = ["price,y"] + [f'"${i},000",a' for i in range(1, 20)] + ['"call us",b']
    frame, fmt = read_table(write(tmp_path, "quotes.csv", "\n".join(lines) + "\n"))
    assert frame["price"].iloc[0] == "$1,000" and fmt.formatted == []


def test_groups_that_are_not_thousands_are_not_read_as_numbers(tmp_path):
    # "1,5" is not a thousands group: a decimal comma, in quotes in a comma file (test_number_forms); 12,34,567 is
    # India's grouping (test_currencies), text for a model trained before that rule
    lines = ["a,b,y"] + [f'"1,5","12,34,567",{i}' for i in range(5)]
    frame, fmt = read_table(write(tmp_path, "odd.csv", "\n".join(lines) + "\n"))
    assert fmt.formatted == ["a", "b"] and frame["a"].iloc[0] == 1.5 and frame["b"].iloc[0] == 1234567
    frame, fmt = read_table(tmp_path / "odd.csv", ReadOptions(reading=Reading(currencies=False)))
    assert fmt.formatted == ["a"] and frame["b"].iloc[0] == "12,34,567"


# ---- JSON records with objects and lists ------------------------------------------------------------------
def test_json_objects_become_columns_and_lists_their_text(tmp_path):
    records = [{"x": i / 10, "size": {"w": i, "h": 2 * i}, "tags": ["a"] * (i % 3), "y": "ab"[i % 2]}
               for i in range(30)]
    path = write(tmp_path, "items.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    frame, fmt = read_table(path)
    assert list(frame.columns) == ["x", "size.w", "size.h", "tags", "y"]
    assert frame["size.h"].tolist() == [2 * i for i in range(30)] and frame["tags"][2] == '["a", "a"]'
    assert (fmt.objects, fmt.lists) == (["size"], ["tags"])
    data = prep(path)  # trains on them: the objects' fields are numbers, the lists' text is left out or encoded
    assert {"size.w", "size.h"} <= set(data.pre.feature_names)


def test_a_nested_json_file_is_a_run_not_a_traceback(tmp_path):
    records = [{"x1": i / 10, "x2": {"a": i % 5}, "y": "ab"[i % 2]} for i in range(40)]
    path = write(tmp_path, "nested.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    done = warm_cli.run([sys.executable, "-m", "tui", "run", "--dataset", str(path), "--epochs", "1", "--json",
                         "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    start = next(e for e in map(json.loads, done.stdout.splitlines()) if e["event"] == "start")
    assert start["inputs"] == 2 and any("x2.a" in n for n in start["notices"]), start


# ---- end to end: the plain file and the quirky one are one run --------------------------------------------
def excel_de_wine(tmp_path: Path) -> Path:
    """wine.csv as German Excel saves it: ';' separators, decimal commas, proline with a thousands point
    (1.065), a ';' ending every line, CRLF, and a notes column whose cells span lines."""
    header, rows = wine_rows()
    p = header.index("proline")
    out = [";".join(["notes"] + header) + ";"]
    for i, r in enumerate(rows):
        cells = [thousands(v, ".") if j == p else v.replace(".", ",") for j, v in enumerate(r)]
        out.append(";".join(['"checked twice;\nkept"' if i % 4 == 0 else "kept"] + cells) + ";")
    return write(tmp_path, "wine_de.csv", "\r\n".join(out) + "\r\n")


def test_wine_saved_by_german_excel_trains_predicts_and_exports_as_plain_wine(tmp_path):
    quirky = excel_de_wine(tmp_path)
    a, b = prep(quirky, drop=["notes"]), prep(WINE)
    assert a.pre.feature_names == b.pre.feature_names
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)

    spec = make_spec(tmp_path, data__dataset=str(quirky), data__drop=["notes"], train__epochs=3,
                     train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    predictor = Predictor.load(folder.checkpoint_path("best"))
    mine, plain = predictor.predict_path(quirky).table, predictor.predict_path(WINE).table
    assert mine.drop(columns=["notes"], errors="ignore").equals(plain)  # predict reads it as training did

    export_runs_bit_for_bit(folder.path, quirky, tmp_path)


def test_iris_as_nested_json_trains_as_plain_iris_and_exports(tmp_path):
    frame = pd.read_csv(IRIS)
    records = [{"sepal": {"length": r.sepal_length, "width": r.sepal_width},
                "petal": {"length": r.petal_length, "width": r.petal_width}, "species": r.species}
               for r in frame.itertuples()]
    path = write(tmp_path, "iris.json", json.dumps(records))
    a, b = prep(path, seed=3), prep(IRIS, seed=3)
    assert a.pre.feature_names == ["sepal.length", "sepal.width", "petal.length", "petal.width"]
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    export_runs_bit_for_bit(folder.path, path, tmp_path)


# ---- predict and eval read a file as the run read its data, or as their flags say ---------------------------
def test_predict_and_eval_read_as_the_run_did_and_take_the_format_flags(tmp_path):
    # a header-less semicolon file the run was told how to read: predict and eval read the next one the same
    # way without being told; a refusal that says "pass --no-header" finds the flag on predict and eval too
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).round(3)
    rows = [f"{a};{b};{'ab'[int(a + b > 0)]}" for a, b in x]
    data = write(tmp_path, "plain.txt", "\n".join(rows) + "\n")
    runs = tmp_path / "runs"
    trained = CliRunner().invoke(app, ["run", "--dataset", str(data), "--sep", ";", "--no-header", "--epochs", "2",
                                       "--runs-dir", str(runs), "--name", "r"])
    assert trained.exit_code == 0, trained.output
    new = write(tmp_path, "new.txt", "\n".join(rows[:5]) + "\n")
    predicted = CliRunner().invoke(app, ["predict", str(runs / "r"), str(new)])
    assert predicted.exit_code == 0, predicted.output
    assert len(pd.read_csv(__import__("io").StringIO(predicted.stdout))) == 5  # 5 rows: none taken as a header
    evaluated = CliRunner().invoke(app, ["eval", str(runs / "r"), str(new), "--json"])
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["rows"] == 5, evaluated.output

    # a file sniffed wrong, told how to read it on predict's command line
    one = write(tmp_path, "one.csv", "0.5,0.25\n")  # one line: a header, the sniffer says
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(write(tmp_path, "t.csv", "\n".join(
        f"{a},{b},{'ab'[int(a > b)]}" for a, b in x) + "\n")), data__header="no", train__epochs=1,
        run__name="h"), lambda e: None)
    plain = CliRunner().invoke(app, ["predict", str(folder.path), str(one), "--header"])
    assert plain.exit_code == 2  # told there is a header: no data row
    told = CliRunner().invoke(app, ["predict", str(folder.path), str(one), "--no-header"])
    assert told.exit_code == 0 and len(told.stdout.strip().splitlines()) == 2, told.output
    bad = CliRunner().invoke(app, ["eval", str(folder.path), str(one), "--sep", "ab"])
    assert bad.exit_code == 2 and "data.sep" in bad.output, bad.output
