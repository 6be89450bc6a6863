"""Lines among a CSV's rows that are no rows are refused naming them (tui/core/reader.py, `_refuse_stray_lines`,
`_refuse_comment_lines`): the header line again (two files joined with their headers, `cat a.csv b.csv`), and a
'#' comment. Before, each column of numbers was refused one by one as 'non-numeric cells' (a comment longer than
the rows: 'put a field that holds the separator in quotes'), --missing drop left the row out without a word, and
--missing impute filled its features and trained the header's target as a class. A model trained before the rule
reads its files as it did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job, preprocess
from tui.core.data import prepare
from tui.core.errors import UserError
from tui.core.reader import Reading, ReadOptions, read_table
from tui.core.spec import DataSpec

from conftest import make_spec, trained_before_the_rule

IRIS = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"
FIX = ("(files joined with their headers, e.g. `cat a.csv b.csv`); delete that line, or join the files without them "
       "(`tail -n +2 b.csv >> a.csv`)")


def joined(path: Path, times: int = 2, text: str | None = None) -> Path:
    path.write_text((text or IRIS.read_text()) * times)
    return path


def refused_under_every_policy(tmp_path: Path, data: Path, said: str) -> None:
    """`run` of `data` refused with `said` as its first line whatever --missing says, and no run folder made."""
    for missing in ("error", "drop", "impute"):
        done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--missing", missing, "--epochs", "1",
                                        "--runs-dir", str(tmp_path / "runs")])
        assert done.exit_code == 2 and done.stderr.splitlines()[0] == f"error: {data}: {said}", done.output
    assert not (tmp_path / "runs").exists()


def test_a_file_joined_with_its_header_twice_is_refused_naming_the_row(tmp_path):
    data = joined(tmp_path / "twice.csv")
    refused_under_every_policy(tmp_path, data, f"data row 151 repeats the header line {FIX}")


def test_several_repeats_blanks_after_commas_and_a_text_table_are_named(tmp_path):
    spaced = "name, size, kind\n" + "".join(f"n{i}, s{i % 3}, k{i % 2}\n" for i in range(6))
    with pytest.raises(UserError) as refused:
        read_table(joined(tmp_path / "spaced.csv", 3, spaced))
    assert str(refused.value) == (f"{tmp_path / 'spaced.csv'}: data rows 7, 14 repeat the header line (files joined "
                                  "with their headers, e.g. `cat a.csv b.csv`); delete those lines, or join the files "
                                  "without them (`tail -n +2 b.csv >> a.csv`)")


def test_rows_that_share_some_names_or_number_names_are_rows(tmp_path):
    """A row equal to the header in some columns only, and a header of numbers over numbers (a row of the same
    numbers is data), are read as they were."""
    some = tmp_path / "some.csv"
    some.write_text("colour,size,label\nred,1,a\ncolour,2,label\nsize,3,b\n")
    frame, _ = read_table(some)
    assert frame["colour"].tolist() == ["red", "colour", "size"]
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("1,2,3,name\n" + "4,5,6,a\n" * 3 + "1,2,3,b\n")
    frame, fmt = read_table(numbers, ReadOptions(header="yes"))
    assert fmt.header and len(frame) == 4 and frame.iloc[3].tolist() == [1, 2, 3, "b"]


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data = joined(tmp_path / "twice.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__missing="drop", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(stray_lines=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "stray_lines",
                                            [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).stray_lines is False
    frame, _ = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert len(frame) == 301 and frame["species"][150] == "species"
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    predicted = pd.read_csv(tmp_path / "p.csv")  # a row for each of the file's, the header's left empty, as before
    assert len(predicted) == 301 and predicted["p_setosa"].isna().tolist() == [i == 150 for i in range(301)]
    # a new run of the same file is refused
    with pytest.raises(UserError, match="data row 151 repeats the header line"):
        job.plan(make_spec(tmp_path, data__dataset=str(data), data__missing="drop"))


def commented(path: Path, comment: str, at: int = 60) -> Path:
    lines = IRIS.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:at + 1]) + comment + "\n" + "".join(lines[at + 1:]))
    return path


@pytest.mark.parametrize("comment, said", [
    ("# second batch, measured 2024-05-01", "data row 61 is a comment line ('# second batch'), not a row; delete it"),
    ("#,,,,", "data row 61 is a comment line ('#'), not a row; delete it"),
    ("# second batch, measured 2024-05-01, lab 3, by A, B, C, D",  # more fields than the rows: pandas refused it
     "line 62 is a comment line ('# second batch, measured 2024-05-01, ...'), inside the table; delete it"),
])
def test_a_comment_line_among_the_rows_is_refused_naming_it(tmp_path, comment, said):
    data = commented(tmp_path / "log.csv", comment)
    refused_under_every_policy(tmp_path, data, f"{said}, e.g. `grep -v '^#' log.csv > clean.csv`")


def test_cells_that_start_with_a_hash_are_values(tmp_path):
    """A colour in every row, and a '#1' among names beside numbers that fit their columns: rows."""
    colours = tmp_path / "colours.csv"
    colours.write_text("colour,size,label\n" + "".join(f"#ff00{i:02d},{i},{'ab'[i % 2]}\n" for i in range(20)))
    assert read_table(colours)[0]["colour"][3] == "#ff0003"
    names = tmp_path / "names.csv"
    names.write_text("name,size,label\n" + "".join(f"{'#1 fan' if i == 5 else f'n{i}'},{i},{'ab'[i % 2]}\n"
                                                   for i in range(20)))
    assert read_table(names)[0]["name"][5] == "#1 fan"


def test_a_units_line_under_the_header_left_out_by_missing_drop_leaves_a_target_of_numbers(tmp_path):
    """A data logger's units line ('s,degC,kPa,kW') under the header: --missing drop left it out, then refused
    'regression target power has 0 non-numeric cell(s) ()', a dead end (no flag read the file)."""
    r = np.random.default_rng(2)
    rows = [f"{i * 0.5:.1f},{r.uniform(18, 25):.2f},{r.uniform(99, 102):.2f},{r.uniform(1, 3):.3f}" for i in range(200)]
    path = tmp_path / "logger.csv"
    path.write_text("time,temperature,pressure,power\ns,degC,kPa,kW\n" + "\n".join(rows) + "\n")
    prepared = prepare(DataSpec(dataset=str(path), missing="drop"), 0)
    assert prepared.pre.task == "regression" and len(prepared.x_train) + len(prepared.x_val) == 200
    assert "dropped 1 of 201 rows with empty cells (time 1, temperature 1, pressure 1)" in prepared.notices


@pytest.mark.parametrize("above, said", [
    ("time,temperature,pressure,power\ns,degC,kPa,kW", "'s', 'degC', 'kPa', 'kW'"),  # a logger's units line
    (",Q1,Q1,Q2\nstore,sales,returns,margin", "'store', 'sales', 'returns', 'margin'"),  # names under groups
])
def test_a_second_header_line_is_refused_with_the_fixes(tmp_path, above, said):
    """Refused as 'empty cells' with --missing drop or impute offered: impute filled the line in as a row, and the
    columns were named after the groups (Q1, Q1.1, ...); --skip-rows, the fix, was never said."""
    r = np.random.default_rng(4)
    rows = [f"{i},{r.integers(100, 999)},{r.integers(0, 50)},{r.uniform(1, 3):.3f}" for i in range(60)]
    path = tmp_path / "two.csv"
    path.write_text(above + "\n" + "\n".join(rows) + "\n")
    for missing in ("error", "impute"):
        with pytest.raises(UserError) as refused:
            prepare(DataSpec(dataset=str(path), missing=missing), 0)
        assert str(refused.value) == (
            f"{path}: data row 1 is text where its columns hold numbers ({said}): a second header line (units, or the "
            "column names under a row of groups); if it names the columns, pass --skip-rows with one line more, else "
            "delete it or pass --missing drop to leave it out")
    if above.startswith(","):
        prepared = prepare(DataSpec(dataset=str(path), skip_rows=1), 0)
        assert prepared.pre.targets == ["margin"] and {"sales", "returns"} <= set(prepared.pre.feature_names)
