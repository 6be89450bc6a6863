"""Data files a newcomer brought that the reader got wrong without a word, or refused with the wrong fix (an audit
with unseen files): a ';' export with decimal commas split on its commas, an infinite regression target trained
into 'diverged', a row one field longer than the header shifting every column, a code column read as floats in
a file for predict, UTF-16 without a byte-order mark, a name's .gz that is not gzip, decimal commas first seen
below the lines sniffed, dots grouping thousands, JSON dates made numbers in the file's own time unit.

Each test writes the real file, reads or trains on it (in this process), and checks the columns, the numbers, or
the one line of the refusal.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core.data import prepare
from tui.core.errors import UserError
from tui.core.predict import Predictor
from tui.core.reader import read_table
from tui.core.spec import DataSpec

ROWS = 40


def rows(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """A small table: a price with two decimals, a colour, a class that depends on both."""
    rng = np.random.default_rng(seed)
    price = np.round(rng.uniform(1, 99, n), 2)
    colour = rng.choice(["rot", "blau", "grün"], n)
    label = np.where((price > 50) ^ (colour == "rot"), "A", "B")
    return pd.DataFrame({"Preis": price, "Farbe": colour, "Klasse": label})


def refusal(path: Path, **kw) -> str:
    with pytest.raises(UserError) as e:
        prepare(DataSpec(dataset=str(path), **kw), 0)
    said = str(e.value)
    assert "\n" not in said and said, said
    return said


def invoke(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


# ---- the separator and the decimal mark --------------------------------------------------------
def european(frame: pd.DataFrame, sep: str = ";") -> str:
    """As Excel writes a table where the decimal mark is a comma."""
    lines = [sep.join(frame.columns)]
    lines += [sep.join(f"{v:.2f}".replace(".", ",") if isinstance(v, float) else str(v) for v in r)
              for r in frame.itertuples(index=False)]
    return "\r\n".join(lines) + "\r\n"


def test_a_semicolon_export_with_decimal_commas_is_read_on_its_semicolons(tmp_path):
    # one decimal cell per row beside two text ones: a split on the commas was as consistent (2 fields a row) and
    # its halves looked the more numeric; the table was read as 'Preis;Farbe;Klasse' over '31' and '85;rot;B'
    frame = rows()
    path = tmp_path / "preise.csv"
    path.write_text(european(frame), encoding="utf-8")
    read, fmt = read_table(path)
    assert (fmt.sep, fmt.decimal) == (";", ",")
    assert list(read.columns) == ["Preis", "Farbe", "Klasse"]
    assert np.array_equal(read["Preis"].to_numpy(), frame["Preis"].to_numpy())
    assert read["Klasse"].tolist() == frame["Klasse"].tolist()


def test_excels_unicode_text_export_is_read_on_its_tabs(tmp_path):
    # "Unicode Text" in Excel: UTF-16 with a byte-order mark, tab-separated, CRLF; decimal commas
    frame = rows(seed=1)
    path = tmp_path / "export.txt"
    path.write_bytes(european(frame, "\t").encode("utf-16"))
    read, fmt = read_table(path)
    assert (fmt.sep, fmt.decimal) == ("\t", ",")
    assert np.array_equal(read["Preis"].to_numpy(), frame["Preis"].to_numpy())


def test_a_comma_file_whose_text_holds_semicolons_stays_a_comma_file(tmp_path):
    # the other way round: a semicolon in every cell of a text column is no separator where commas split evenly
    path = tmp_path / "tags.csv"
    path.write_text("x,tags,y\n" + "".join(f"{i / 4},a;b,{'p' if i % 2 else 'q'}\n" for i in range(30)))
    read, fmt = read_table(path)
    assert fmt.sep == "," and list(read.columns) == ["x", "tags", "y"] and read["tags"].eq("a;b").all()


def test_decimal_commas_first_seen_below_the_sniffed_lines_are_read_as_numbers(tmp_path):
    # 250 whole numbers, then '285,5': the sample had no decimal mark to tell, '.' was taken, and the column was
    # left out as free text (or, with a few such cells, refused with a --missing fix that would drop good numbers)
    values = [str(i) for i in range(250)] + [f"{i},5" for i in range(250, 300)]
    path = tmp_path / "late.csv"
    path.write_text("a;b;y\n" + "".join(f"{v};{i % 4};{'pq'[i % 2]}\n" for i, v in enumerate(values)))
    read, fmt = read_table(path)
    assert fmt.decimal == ","
    assert read["a"].dtype.kind == "f" and read["a"].iloc[260] == 260.5 and read["a"].iloc[10] == 10
    assert any("decimal comma below the lines read" in n for n in fmt.notes)
    data = prepare(DataSpec(dataset=str(path)), 0)
    assert "a" in [c.name for c in data.pre.columns]


def test_dots_grouping_thousands_in_a_semicolon_file_are_read_as_numbers(tmp_path):
    people = [3981987, 1197218, 3144668, 3861590, 512000, 2000000] * 5
    path = tmp_path / "einwohner.csv"
    path.write_text("Einwohner;Fläche;Klasse\n" + "".join(
        f"{f'{n:,}'.replace(',', '.')};{i * 7 % 500};{'AB'[i % 2]}\n" for i, n in enumerate(people)))
    read, fmt = read_table(path)
    assert fmt.decimal == ","
    assert read["Einwohner"].tolist() == [float(n) for n in people]


# ---- rows longer than the header ----------------------------------------------------------------
def test_a_first_data_row_with_a_field_more_than_the_header_is_refused_not_shifted(tmp_path):
    # pandas took the extra field for row names: every column shifted by one, and the refusal blamed empty cells
    path = tmp_path / "people.csv"
    path.write_text("name,age,label\nSmith, John,34,x\n" + "".join(f"P{i},{20 + i},{'xy'[i % 2]}\n"
                                                                   for i in range(20)))
    said = refusal(path)
    assert "the data row 'Smith,John,34,x' has 4 fields where the header line names 3" in said
    assert "in quotes" in said


def test_a_blank_inside_a_whitespace_separated_cell_is_refused_with_the_row(tmp_path):
    path = tmp_path / "cities.txt"
    path.write_text("city temp label\n" + "".join(
        f"{'New York' if i % 3 == 0 else 'Paris'} {10 + i / 10} {'xy'[i % 2]}\n" for i in range(24)))
    said = refusal(path)
    assert "'New York 10.0 x' has 4 fields where the header line names 3 (separator a blank)" in said
    assert "--sep" in said


def test_a_longer_row_further_down_is_named_by_its_line_in_plain_words(tmp_path):
    path = tmp_path / "mid.csv"
    path.write_text("name,age,label\nCy,22,y\nBob,56,x\nSmith, John,34,x\n" + "".join(
        f"P{i},{20 + i},{'xy'[i % 2]}\n" for i in range(20)))
    said = refusal(path)
    assert "line 4 has 4 fields where the lines above it have 3" in said and "tokenizing" not in said


def test_r_row_names_are_still_read_as_row_names(tmp_path):
    # every row one field longer than the header: R's write.table, whose first column is the rows' names
    path = tmp_path / "r.csv"
    path.write_text('"a","b","y"\n' + "".join(f'"{i}",{i / 2},{i % 3},"{"pq"[i % 2]}"\n' for i in range(1, 21)))
    read, fmt = read_table(path)
    assert fmt.row_names and list(read.columns) == ["a", "b", "y"] and read["a"].iloc[0] == 0.5


# ---- an infinite target -------------------------------------------------------------------------
def infinite_target(tmp_path: Path, cell: str = "1e309") -> Path:
    lines = ["a,b,y"] + [f"{i / 2},{i % 5},{i * 1.3:.2f}" for i in range(40)]
    lines[8] = f"3.5,2,{cell}"
    path = tmp_path / "y_inf.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("cell", ["1e309", "inf", "-inf"])
def test_an_infinite_regression_target_is_refused_by_its_row(tmp_path, cell):
    # trained before: 'training diverged ... lower the learning rate', a run folder left with no checkpoint
    said = refusal(infinite_target(tmp_path, cell))
    assert "empty, non-numeric or infinite cells: y 1 (first in data row 8)" in said and "--missing drop" in said


def test_an_infinite_target_row_is_dropped_under_missing_drop(tmp_path):
    data = prepare(DataSpec(dataset=str(infinite_target(tmp_path)), missing="drop"), 0)
    assert data.n_train + len(data.y_val) == 39
    assert bool(np.isfinite(data.y_train.numpy()).all()) and bool(np.isfinite(data.y_val.numpy()).all())


def test_eval_refuses_an_infinite_target_instead_of_a_loss_of_inf(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n" + "".join(f"{i / 2},{i % 5},{i * 1.3:.2f}\n" for i in range(40)))
    done = invoke("run", "--dataset", good, "--epochs", "1", "--runs-dir", tmp_path / "runs", "--name", "r",
                  "--device", "cpu")
    assert done.exit_code == 0, done.output
    said = invoke("eval", tmp_path / "runs" / "r", infinite_target(tmp_path))
    assert said.exit_code == 2
    assert "column y has 1 cell(s) that are empty or not numbers (first in data row 8: not a finite number (inf))" \
        in said.stderr and "Traceback" not in said.output


# ---- a code column read as numbers in another file -----------------------------------------------
def test_a_code_column_read_as_floats_in_a_file_for_predict_keeps_its_categories(tmp_path):
    # grades 1, 2, 3 and A in training (text); the file to predict has no A and one blank cell, so pandas reads
    # floats: '2.0' was no category, every row was encoded as unseen and predicted from all-zero one-hots
    rng = np.random.default_rng(0)
    grade = rng.choice(["1", "2", "3", "A"], 80)
    a = np.round(rng.uniform(0, 1, 80), 2)
    label = np.where((grade == "1") | (a > 0.7), "x", "y")
    train = tmp_path / "grades.csv"
    pd.DataFrame({"a": a, "grade": grade, "label": label}).to_csv(train, index=False)
    done = invoke("run", "--dataset", train, "--epochs", "3", "--missing", "impute", "--runs-dir",
                  tmp_path / "runs", "--name", "g", "--device", "cpu")
    assert done.exit_code == 0, done.output
    numbers = ["2", "1", "", "3", "1", "2"]
    (tmp_path / "blank.csv").write_text("a,grade\n" + "".join(f"0.{i}5,{g}\n" for i, g in enumerate(numbers)))
    (tmp_path / "text.csv").write_text("a,grade\n" + "".join(f"0.{i}5,{g or 'A'}\n" for i, g in enumerate(numbers)))
    predictor = Predictor.load(tmp_path / "runs" / "g" / "best.pt")
    blank, _ = read_table(tmp_path / "blank.csv")
    assert blank["grade"].dtype.kind == "f"  # what pandas makes of it
    text, _ = read_table(tmp_path / "text.csv")
    assert text["grade"].dtype == object or pd.api.types.is_string_dtype(text["grade"])
    unseen = predictor.pre.unseen(blank)
    assert [(u.rows, u.values) for u in unseen] == [(1, ["(missing)"])]  # the blank alone
    on_floats = predictor.pre.transform_x(blank, "blank.csv")
    on_text = predictor.pre.transform_x(text, "text.csv")
    kept = [i for i, g in enumerate(numbers) if g]
    assert np.array_equal(on_floats[kept], on_text[kept])


# ---- encodings and compression by the bytes -----------------------------------------------------
def test_utf16_without_a_byte_order_mark_is_read_with_or_without_the_flag(tmp_path):
    frame = rows(seed=2)
    path = tmp_path / "u16.csv"
    path.write_bytes(frame.to_csv(index=False).encode("utf-16-le"))
    for encoding in ("auto", "utf-16-le"):  # the flag was refused too: "it looks like binary data"
        read, fmt = read_table(path, options=None) if encoding == "auto" else read_table(
            path, _options(encoding=encoding))
        assert fmt.encoding == "utf-16-le" and read["Farbe"].tolist() == frame["Farbe"].tolist()
    big = tmp_path / "u16be.csv"
    big.write_bytes(frame.to_csv(index=False).encode("utf-16-be"))
    assert read_table(big)[1].encoding == "utf-16-be"


def _options(**kw):
    from tui.core.reader import ReadOptions

    return ReadOptions(**kw)


def test_a_stray_zero_byte_still_reads_as_binary_data(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b,y\n1,2,x\n3,\x004,y\n" * 5)
    assert "looks like binary data" in refusal(path)


def test_a_file_named_gz_that_is_not_gzip_is_read_as_it_is(tmp_path):
    frame = rows(seed=3)
    plain = tmp_path / "data.csv.gz"
    plain.write_text(frame.to_csv(index=False))
    read, fmt = read_table(plain)
    assert fmt.compression is None and read["Klasse"].tolist() == frame["Klasse"].tolist()
    assert any("named .gz but is not gzip-compressed" in n for n in fmt.notes)
    records = tmp_path / "records.json.gz"
    records.write_text(frame.to_json(orient="records"))
    assert read_table(records)[0]["Farbe"].tolist() == frame["Farbe"].tolist()
    packed = tmp_path / "packed.json"  # gzip by its bytes, whatever its name
    packed.write_bytes(gzip.compress(frame.to_json(orient="records").encode()))
    assert read_table(packed)[0]["Farbe"].tolist() == frame["Farbe"].tolist()


# ---- JSON dates -------------------------------------------------------------------------------------
def test_json_dates_are_text_as_in_a_csv_and_left_out_alike(tmp_path):
    # pandas made datetimes of a column named 'date', and the model a number of its time unit: a file for predict
    # written with nanoseconds gave inputs 1000 times the training ones, every row the same class
    days = pd.date_range("2024-01-01", periods=40).strftime("%Y-%m-%d")
    records = [{"a": round(i * 0.37 % 10, 2), "date": d, "y": "pq"[i % 2]} for i, d in enumerate(days)]
    path = tmp_path / "dated.json"
    path.write_text(json.dumps(records))
    read, _ = read_table(path)
    assert read["date"].tolist() == list(days)
    data = prepare(DataSpec(dataset=str(path)), 0)
    assert [c.name for c in data.pre.columns] == ["a"]
    assert any("column date left out: looks like dates" in n for n in data.notices)


# ---- a file of text without a header line -----------------------------------------------------------
def cars(n: int = 60) -> list[str]:
    rng = np.random.default_rng(4)
    levels, doors, persons = ["vhigh", "high", "med", "low"], ["2", "3", "4", "5more"], ["2", "4", "more"]
    return [",".join([rng.choice(levels), rng.choice(levels), rng.choice(doors), rng.choice(persons),
                      rng.choice(["small", "med", "big"]), rng.choice(["low", "med", "high"]),
                      rng.choice(["unacc", "acc", "good"])]) for _ in range(n)]


def test_a_text_file_whose_first_row_is_values_of_its_columns_has_no_header_line(tmp_path):
    # UCI's car data: all text, no header line; its first row was taken for the names and lost
    lines = cars()
    path = tmp_path / "car.data.csv"
    path.write_text("\n".join(lines) + "\n")
    read, fmt = read_table(path)
    assert not fmt.header and len(read) == 60 and read.iloc[0].tolist() == lines[0].split(",")
    named = tmp_path / "car_named.csv"
    named.write_text("buying,maint,doors,persons,lug_boot,safety,class\n" + "\n".join(lines) + "\n")
    read, fmt = read_table(named)
    assert fmt.header and len(read) == 60 and list(read.columns)[-1] == "class"
