"""Reading a file torchtui has never seen: headers found by comparing the first line with its
columns (even a header of numbers), quoted header names, a 1-row file, files that are not text,
and refusals that say what the reader decided, how to override it, and the notes gathered
before them. Every file is written by the test; refusals are checked as the exact lines a user
sees from `torchtui run` (exit code 2).

READING_CASES is also what tests/bench/sniffers.py measures our sniffer and CleverCSV on.
"""

from __future__ import annotations

import gzip
import io
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job
from tui.core.data import prepare
from tui.core.errors import UserError
from tui.core.preprocess import Preprocessor
from tui.core.reader import WHITESPACE, ReadOptions, read_table
from tui.core.spec import DataSpec

from conftest import make_spec
from test_export import export_runs_bit_for_bit
from test_messy_data import write


def _rows(n: int, cells, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(",".join(cell(rng, i) for cell in cells) + "\n" for i in range(n))


def _decimal(rng, i) -> str:
    return f"{rng.normal(1.5, 0.3):.3f}"


def _population(rng, i) -> str:
    return str(int(rng.integers(1_000_000, 9_000_000)))


def _word(rng, i) -> str:
    return ["red", "green", "blue", "teal"][i % 4]


# (file name, content, the format it must be read with, the columns it must give)
READING_CASES = [
    pytest.param("years.csv", "country,2008,2009,2010,2011\n" + _rows(8, [lambda r, i: f"c{i}", *[_decimal] * 4]),
                 dict(sep=",", header=True, skip_rows=0), ["country", "2008", "2009", "2010", "2011"],
                 id="years-over-decimals"),
    pytest.param("only_years.csv", "2008,2009,2010,2011\n" + _rows(8, [_decimal] * 4),
                 dict(sep=",", header=True, skip_rows=0), ["2008", "2009", "2010", "2011"], id="only-years"),
    pytest.param("pop.csv", "2008,2009,2010,2011\n" + _rows(8, [_population] * 4),
                 dict(sep=",", header=True, skip_rows=0), ["2008", "2009", "2010", "2011"],
                 id="years-over-other-magnitudes"),
    pytest.param("numbered.csv", "1,2,3\n" + _rows(6, [_word, lambda r, i: f"w{i}", _word]),
                 dict(sep=",", header=True, skip_rows=0), ["1", "2", "3"], id="numbers-over-text"),
    pytest.param("short.csv", "x1,x2,2\n1.5,2.5,0\n2.5,3.5,1\n3.5,4.5,0\n4.5,5.5,1\n5.5,1.5,0\n",
                 dict(sep=",", header=True, skip_rows=0), ["x1", "x2", "2"], id="short-header-not-metadata"),
    pytest.param("short2.csv", "id,score,1,2,label\n1,0.5,3,4,5\n2,0.7,1,2,3\n3,0.1,2,2,5\n4,0.9,3,1,4\n",
                 dict(sep=",", header=True, skip_rows=0), ["id", "score", "1", "2", "label"],
                 id="short-header-with-number-names"),
    pytest.param("r.txt", "a b c\n1 5.1 3.2 x\n2 4.9 3.0 y\n3 6.1 2.2 x\n4 5.5 3.3 y\n5 5.0 3.1 x\n",
                 dict(sep=WHITESPACE, header=True, skip_rows=0, row_names=True), ["a", "b", "c"],
                 id="r-row-names"),
    pytest.param("trailing.csv", "a,b,c,\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n",
                 dict(sep=",", header=True, skip_rows=0), ["a", "b", "c"], id="header-trailing-sep"),
    pytest.param("votes.tsv", "'a'\t'b'\t'vote'\n1\t2\ty\n3\t4\tn\n5\t6\ty\n",
                 dict(sep="\t", header=True, skip_rows=0), ["a", "b", "vote"], id="quoted-names-tab"),
    pytest.param("fits.csv", "2005,2011,1999\n2010,2003,2001\n2007,2009,2015\n2001,2012,2004\n",
                 dict(sep=",", header=False, skip_rows=0), ["col1", "col2", "col3"], id="numbers-that-fit-are-data"),
    pytest.param("stray.csv", "5.1,?,1.4\n4.9,3.0,1.4\n6.3,3.3,6.0\n5.8,2.7,5.1\n",
                 dict(sep=",", header=False, skip_rows=0), ["col1", "col2", "col3"], id="missing-mark-is-data"),
    pytest.param("title.csv", "Sales report 2020,,\nregion,units,price\nnorth,3,1.5\nsouth,4,2.5\neast,5,3.5\n",
                 dict(sep=",", header=True, skip_rows=1), ["region", "units", "price"], id="padded-title-line"),
]


@pytest.mark.parametrize("content, skipped", [
    ("Laborexport 2026\n\nStation Basel, sensor 4\nregion;units;price\n", 3),  # a blank line between two titles
    ("\n\nSales report\n\n\nregion;units;price\n", 3),  # blank lines before the title and after it
    ("Sales report\n\nregion;units;price\n", 1),  # after it only: as before
], ids=["between-titles", "around-the-title", "after-the-title"])
def test_blank_lines_among_the_lines_above_the_table_are_counted_as_pandas_skips_them(tmp_path, content, skipped):
    """The sniffer's rows hold no blank line, pandas' skiprows counts them: a blank line between two title lines
    (or above the first) left the last title for pandas to read as the header, and the table came out one column
    named after it."""
    rows = "north;3;1,5\nsouth;4;2,5\neast;5;3,5\nwest;6;4,5\n"
    path = write(tmp_path, "report.csv", content + rows)
    frame, fmt = read_table(path)
    assert list(frame.columns) == ["region", "units", "price"] and len(frame) == 4
    assert frame["price"].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert fmt.skip_rows == skipped and f"{skipped} line(s) above the table skipped" in fmt.describe()
    pinned, _ = read_table(path, ReadOptions(skip_rows=fmt.skip_rows))  # the flag the notes name pins the same
    assert pinned.equals(frame)


def run(*args) -> tuple[int, list[str]]:
    """`torchtui run ARGS` in this process: (exit code, the lines on stderr)."""
    r = CliRunner().invoke(app, ["run", *map(str, args)])
    assert "Traceback" not in r.stderr
    return r.exit_code, r.stderr.splitlines()


@pytest.mark.parametrize("name,content,fmt_fields,columns", READING_CASES)
def test_the_header_is_found_by_comparing_the_first_line_with_its_columns(tmp_path, name, content, fmt_fields,
                                                                          columns):
    frame, fmt = read_table(write(tmp_path, name, content))
    for key, expected in fmt_fields.items():
        assert getattr(fmt, key) == expected, (key, fmt)
    assert list(frame.columns) == columns
    assert fmt.header_detected and fmt.skip_detected


def test_a_header_skipped_as_metadata_no_longer_turns_a_data_row_into_the_header(tmp_path):
    """The short file that said "no usable feature columns besides the target 5": it now trains on x1 and x2."""
    path = write(tmp_path, "short.csv", "x1,x2,5\n1.5,2.5,0\n2.5,3.5,1\n3.5,4.5,0\n4.5,5.5,1\n5.5,1.5,0\n6.5,0.5,1\n")
    data = prepare(DataSpec(dataset=str(path)), 0)
    assert data.pre.feature_names == ["x1", "x2"] and data.pre.targets == ["5"]
    assert data.n_train + len(data.x_val) == 6


def test_a_target_missing_from_a_file_read_without_a_header_says_so_and_how_to_override(tmp_path):
    path = write(tmp_path, "counts.csv", "2008,2009,2010,2011\n" + _rows(6, [lambda r, i: str(2000 + i)] * 4))
    code, lines = run("--dataset", path, "--target", "2011", "--epochs", "1", "--runs-dir", tmp_path / "runs")
    assert code == 2
    assert lines[0] == (f"error: --target: '2011' not a column of {path}; columns: col1..col4 (read without a "
                        "header line: the first line looked like data; pass --header if it names the columns)")
    assert lines[1:] == [f"  note: read {path}: 7 rows, 4 columns; separator ',', decimal '.', no header line, "
                         "encoding utf-8"]
    data = prepare(DataSpec(dataset=str(path), header="yes", target="2011"), 0)  # what --header does
    assert data.pre.targets == ["2011"] and data.pre.feature_names == ["2008", "2009", "2010"]


def test_no_usable_features_after_skipped_lines_says_how_to_keep_them(tmp_path):
    path = write(tmp_path, "meta.csv", "exported by LabTool\nversion 3\na,y\n1,x\n1,y\n1,x\n")
    code, lines = run("--dataset", path, "--epochs", "1")
    assert code == 2
    assert lines[0] == (f"error: {path} has no usable feature columns besides the target y; name the ones to use "
                        "with --features (read with a header line: the first line looked like column names; pass "
                        "--no-header if it is data; 2 line(s) above the table skipped as metadata; pass --skip-rows 0 "
                        "to keep them)")
    assert ("  note: column a left out: constant (every row is 1); name it in --features, or pass --keep-constant, "
            "to use it") in lines[1:]


def test_quoted_header_names_lose_their_quotes_and_either_spelling_names_them(tmp_path):
    rows = "".join(f"{i % 7}\t{(i * 3) % 5}\t{'y' if i % 2 else 'n'}\n" for i in range(20))
    path = write(tmp_path, "votes.tsv", "'age'\t\"score\"\t'vote'\n" + rows)
    for target, drop in [("vote", ["score"]), ("'vote'", ["\"score\""]), ('"vote"', ["'score'"])]:
        data = prepare(DataSpec(dataset=str(path), target=target, drop=drop), 0)
        assert data.pre.feature_names == ["age"] and data.pre.targets == ["vote"]
        assert data.pre.classes == ["n", "y"]


def test_a_file_of_one_data_row_says_so_before_anything_else(tmp_path):
    path = write(tmp_path, "one.csv", "a,b,label\n1.5,2.5,x\n")
    code, lines = run("--dataset", path, "--epochs", "1", "--features", "a")
    assert code == 2
    assert lines[0] == (f"error: {path} has 1 data row; training needs at least 2, one to train on and one to "
                        "validate (read with a header line: the first line looked like column names; pass "
                        "--no-header if it is data)")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "pickle"])
def test_a_checkpoint_given_as_data_is_named_as_one(tmp_path, legacy):
    path = tmp_path / "model.pt"
    torch.save({"model": {"w": torch.zeros(3)}}, path, _use_new_zipfile_serialization=not legacy)
    code, lines = run("--dataset", path, "--epochs", "1")
    assert code == 2
    assert lines == [f"error: {path} is not text: it looks like a PyTorch checkpoint; use torchtui eval or "
                     "torchtui predict with it"]


def test_gzip_content_named_csv_is_read_as_gzip(tmp_path):
    table = "a,b,label\n" + "".join(f"{i},{i * 2 % 7},{'x' if i % 2 else 'y'}\n" for i in range(30))
    path = write(tmp_path, "packed.csv", gzip.compress(table.encode()))
    frame, fmt = read_table(path)
    assert fmt.compression == "gzip" and list(frame.columns) == ["a", "b", "label"] and len(frame) == 30
    assert fmt.notes == ["packed.csv is gzip-compressed: read as gzip"]
    assert prepare(DataSpec(dataset=str(path)), 0).n_train == 24


def test_gzip_of_binary_data_is_refused_as_not_text(tmp_path):
    buffer = io.BytesIO()
    pickle.dump({"weights": list(range(100))}, buffer, protocol=4)
    path = write(tmp_path, "packed.csv", gzip.compress(buffer.getvalue()))
    code, lines = run("--dataset", path, "--epochs", "1")
    assert code == 2
    assert lines == [f"error: {path} is not a text table (it looks like a Python pickle, gzip-compressed); "
                     "give a CSV, JSON or Parquet file"]


@pytest.mark.parametrize("name,content,what", [
    ("image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "a PNG image"),
    ("blob.csv", b"abc\x00\x01\x02" * 100, "binary data"),
    ("archive.csv", None, "a zip archive"),
], ids=["png", "nul-bytes", "zip"])
def test_other_binary_files_are_one_line_saying_what_they_look_like(tmp_path, name, content, what):
    if content is None:
        import zipfile

        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.writestr("inner.csv", "a,b\n1,2\n")
    else:
        write(tmp_path, name, content)
    path = tmp_path / name
    fix = "unzip it and give the table inside" if what == "a zip archive" else "give a CSV, JSON or Parquet file"
    code, lines = run("--dataset", path, "--epochs", "1")
    assert code == 2 and lines == [f"error: {path} is not a text table (it looks like {what}); {fix}"]
    with pytest.raises(UserError):
        read_table(path)


def _pixels(tmp_path):
    """64 pixel columns, the first 3 blank in every row: the checks leave them out, so 61 inputs remain."""
    rng = np.random.default_rng(0)
    header = ",".join(f"p{i}" for i in range(64)) + ",digit\n"
    rows = "".join("0,0,0," + ",".join(f"{v:.2f}" for v in rng.random(61)) + f",{i % 3}\n" for i in range(30))
    return write(tmp_path, "pixels.csv", "exported by scanner v2\n" + header + rows)


def test_a_refusal_shows_the_notes_gathered_before_it(tmp_path):
    path = _pixels(tmp_path)
    code, lines = run("--dataset", path, "--epochs", "1", "--loss", "MSELoss")
    assert code == 2
    assert lines[0].startswith("error: --loss MSE does not fit a classification target")
    notes = lines[1:]
    assert notes[0] == (f"  note: read {path}: 30 rows, 65 columns; separator ',', decimal '.', header line, "
                        "encoding utf-8, 1 line(s) above the table skipped")
    for c in ("p0", "p1", "p2"):
        assert (f"  note: column {c} left out: constant (every row is 0); name it in --features, or pass "
                "--keep-constant, to use it") in notes
    assert all(line.startswith("  note: ") for line in notes)


def test_a_shape_error_names_the_columns_left_out(tmp_path):
    path = _pixels(tmp_path)
    code, lines = run("--dataset", path, "--epochs", "1", "--layers", "Unflatten(1, (1, 8, 8)), Conv2d(4, 3)")
    assert code == 2
    assert lines[0] == ("error: layer 1 Unflatten(1, (1, 8, 8)): cannot take input (61,): unflatten: Provided sizes "
                        "[1, 8, 8] don't multiply up to the size of dim 1 (61) in the input tensor (the data gives "
                        "61 inputs: 3 column(s) left out, p0, p1, p2; name them in --features, or pass "
                        "--keep-constant for the constant ones, to keep them)")
    assert ("  note: column p0 left out: constant (every row is 0); name it in --features, or pass --keep-constant, "
            "to use it") in lines


def test_a_shape_error_says_which_columns_one_hot_encoding_widened(tmp_path):
    """An image of True/False pixels: each pixel one-hot encoded into two inputs, 784 lines of notes saying so, and
    a Conv2d's shape refusal that named no cause. One note, and the refusal names the widening and its fix."""
    rng = np.random.default_rng(0)
    header = ",".join(f"p{i}" for i in range(16)) + ",label\n"
    rows = "".join(",".join(str(v) for v in rng.random(16) > 0.5) + f",{i % 2}\n" for i in range(40))
    path = write(tmp_path, "bools.csv", header + rows)
    code, lines = run("--dataset", path, "--epochs", "1", "--layers", "Unflatten(1, (1, 4, 4)), Conv2d(2, 2)")
    assert code == 2
    assert lines[0].endswith("(the data gives 32 inputs: 16 true/false column(s) one-hot encoded into 32 inputs, "
                             "p0, p1, p2 and 13 more; write them as 0 and 1 in the file to make each one input)"), \
        lines[0]
    assert "  note: columns p0, p1, p2 ... (16 in all) are one-hot encoded: 32 inputs" in lines
    assert not any(" is one-hot encoded" in line for line in lines), lines


def test_keep_constant_gives_a_conv_net_the_whole_grid(tmp_path):
    """An image as CSV loses its blank border pixels as constant, and a Conv2d needs the whole grid: naming 184 of
    MNIST's columns in --features was the only way. --keep-constant keeps them as inputs, in their places, and the
    spec written beside the run (so its resume and export) keeps them too."""
    path = _pixels(tmp_path)
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "--dataset", path, "--epochs", "1", "--layers",
                                 "Unflatten(1, (1, 8, 8)), Conv2d(4, 3)", "--keep-constant", "--runs-dir", str(runs)])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert not any("left out" in line for line in lines), lines
    assert "  note: 24 training rows, 6 validation rows, 64 inputs from 64 columns" in lines
    (folder,) = runs.iterdir()
    assert "keep_constant = true" in (folder / "spec.toml").read_text().splitlines()
    state = torch.load(folder / "best.pt", weights_only=True)
    assert state["model"]["1.weight"].shape == (4, 1, 3, 3)
    assert Preprocessor.from_dict(state["preprocessing"]).feature_names == [f"p{i}" for i in range(64)]


def test_an_exported_script_reads_quoted_names_and_row_names_as_the_run_did(tmp_path):
    """R's write.table with quote=TRUE and sep="\\t" writes both: names in quotes, and no name for the row names."""
    rng = np.random.default_rng(1)
    rows = "".join(f'"r{i}"\t{rng.normal():.3f}\t{rng.normal():.3f}\t"{"yes" if i % 3 else "no"}"\n' for i in range(40))
    path = write(tmp_path, "votes.tsv", "'age'\t'score'\t'vote'\n" + rows)
    spec = make_spec(tmp_path, data__dataset=str(path), data__target="'vote'", train__epochs=2, train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    export_runs_bit_for_bit(folder.path, path, tmp_path)
    start = next(e for e in folder.events() if e["event"] == "start")
    assert start["target"] == "vote"
