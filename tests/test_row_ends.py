"""Rows that each end in a separator under a header that does not ('a;b;y' over '1;2;3;', as Excel and SAS write
them) are read with their header (tui/core/reader.py, `_header_of_rows_ending_empty`) whatever the separator. In a
tab or ';' file the header line was skipped as a line above the table: the columns were named col1, col2, ...,
--target y was 'not a column', and the header's names were lost. A model trained before the rule reads its files
as it did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job, preprocess
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule

IRIS = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"
NOTE = "every row ends with a separator the header line does not: the empty field after it is ignored"


def ending_in(path: Path, sep: str, source: Path = IRIS, decimal: str = ".") -> Path:
    """`source` written with `sep` between fields and after the last field of each row (not of the header)."""
    header, *rows = source.read_text().splitlines()
    cells = [[cell.replace(".", decimal) for cell in row.split(",")] for row in rows]
    path.write_text(sep.join(header.split(",")) + "\n" + "".join(sep.join(c) + sep + "\n" for c in cells))
    return path


@pytest.mark.parametrize("sep, decimal", [(",", "."), (";", ","), ("\t", "."), ("|", ".")])
def test_the_header_names_the_columns_whatever_the_separator(tmp_path, sep, decimal):
    """Iris's first column repeats its values (5.1 nine times): R's header, which the ',' file was taken for,
    needs distinct row names there; each file reads as iris itself."""
    data = ending_in(tmp_path / "iris.txt", sep, decimal=decimal)
    frame, fmt = read_table(data)
    assert fmt.header and fmt.skip_rows == 0 and NOTE in fmt.notes
    pd.testing.assert_frame_equal(frame, read_table(IRIS)[0])


def test_a_table_of_words_reads_its_header_too(tmp_path):
    data = tmp_path / "words.tsv"
    data.write_text("colour\tshape\tlabel\n" + "".join(f"c{i % 4}\ts{i % 3}\tl{i % 2}\t\n" for i in range(30)))
    frame, fmt = read_table(data)
    assert fmt.header and list(frame.columns) == ["colour", "shape", "label"] and len(frame) == 30
    assert frame.iloc[0].tolist() == ["c0", "s0", "l0"]


def test_a_run_names_its_target_in_such_a_file(tmp_path):
    data = ending_in(tmp_path / "iris.csv", ";", decimal=",")
    done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--target", "species", "--epochs", "1",
                                    "--runs-dir", str(tmp_path / "runs"), "--name", "semi"])
    assert done.exit_code == 0, done.output
    assert "data: " + str(data) + ", target species (classification, 3 classes)" in done.output, done.output


def test_a_title_line_above_such_rows_is_still_skipped(tmp_path):
    """A line of one field over rows of three (a title) is above the table; the header below it is read."""
    data = tmp_path / "titled.tsv"
    data.write_text("Measurements 2024\n" + ending_in(tmp_path / "body.tsv", "\t").read_text())
    frame, fmt = read_table(data)
    assert fmt.skip_rows == 1 and list(frame.columns) == list(read_table(IRIS)[0].columns)


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data = ending_in(tmp_path / "iris.tsv", "\t")
    spec = make_spec(tmp_path, data__dataset=str(data), train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(row_ends=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "row_ends", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).row_ends is False and saved["targets"] == ["col5"]
    frame, fmt = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert fmt.skip_rows == 1 and list(frame.columns)[:2] == ["col1", "col2"]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 150
    assert job.plan(make_spec(tmp_path, data__dataset=str(data))).data.pre.targets == ["species"]


def test_a_title_of_the_tables_width_above_a_header_ending_in_a_separator_is_skipped(tmp_path):
    """'Exported;by;LabSys;v2.1;2024' above 'sepal_length;...;species;' above rows ending in ';': the title is
    above the table, the line below it the header (the rule took the title for the header once)."""
    header, *rows = IRIS.read_text().splitlines()
    data = tmp_path / "titled.csv"
    data.write_text("Exported;by;LabSys;v2.1;2024\n" + header.replace(",", ";") + ";\n"
                    + "".join(r.replace(",", ";") + ";\n" for r in rows))
    frame, fmt = read_table(data)
    assert fmt.skip_rows == 1 and fmt.header
    pd.testing.assert_frame_equal(frame, read_table(IRIS)[0])
