"""Columns of numbers whose missing cells are written as marks ('-', '--', a spreadsheet's '#DIV/0!') more often than
one cell in ten (an audit with newcomers' files): a feature was left out as free text or one-hot encoded value by
value, a regression target of 10 rows became a class per value, a quarter of '?' in a target was refused as "0
non-numeric cell(s)", and '#DIV/0!' was refused even under --missing drop. Each test failed on the code before the
rule; a model trained before it reads its files as it did."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tui.cli import app
from tui.core import checkpoint, job, preprocess
from tui.core.data import prepare
from tui.core.reader import Reading, ReadOptions, read_table
from tui.core.spec import DataSpec

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit, predicted_alike


def sheet(path, rows: int = 120, seed: int = 5):
    """y = 2x + z + noise; x has '-' in a quarter of its rows and a '#DIV/0!', z 'n/a' (pandas' own empty) and '--'.
    Returns the path and the true x (NaN where marked)."""
    r = np.random.default_rng(seed)
    x, z = r.normal(size=rows), r.normal(size=rows)
    y = 2 * x + z + r.normal(scale=0.05, size=rows)
    xs = [f"{v:.4f}" for v in x]
    zs = [f"{v:.4f}" for v in z]
    for i in range(0, rows, 4):
        xs[i] = "-"
    xs[1], zs[2], zs[6] = "#DIV/0!", "n/a", "--"
    lines = ["x,z,y"] + [f"{a},{b},{c:.4f}" for a, b, c in zip(xs, zs, y)]
    path.write_text("\n".join(lines) + "\n")
    truth = pd.Series(x).where([not c.startswith(("-", "#")) or c[1:2].isdigit() for c in xs])
    return path, truth


def test_a_column_of_numbers_with_many_marks_is_numbers_with_those_cells_empty(tmp_path):
    path, truth = sheet(tmp_path / "s.csv")
    frame, fmt = read_table(path)
    assert np.allclose(pd.to_numeric(frame["x"]).to_numpy(float), truth.to_numpy(float), atol=1e-4, equal_nan=True)
    assert int(frame["x"].isna().sum()) == 31 and fmt.marked_numbers == ["x"]
    assert "column x: 31 cell(s) '-', '#DIV/0!' read as empty (marks of a missing value among numbers)" in fmt.notes
    data = prepare(DataSpec(dataset=str(path), target="y", missing="impute"), 0)
    assert [(c.name, c.kind) for c in data.pre.columns] == [("x", "numeric"), ("z", "numeric")]
    assert data.pre.task == "regression" and data.pre.marked_numbers is True


def test_words_and_a_few_marks_are_left_as_they_were(tmp_path):
    """'-' beside '+' or words is a label; a column of numbers with one '-' in 20 keeps its own note; every cell a
    mark is no column of numbers."""
    lines = ["sign,size,blank,label"] + [f"{'+-'[i % 2]},{'-' if i == 3 else i * 1.5},-,{'ab'[i % 2]}"
                                         for i in range(20)]
    (tmp_path / "w.csv").write_text("\n".join(lines) + "\n")
    frame, fmt = read_table(tmp_path / "w.csv")
    assert frame["sign"].tolist()[:2] == ["+", "-"] and frame["blank"].eq("-").all()
    assert frame["size"][3] == "-" and fmt.marked_numbers == []  # (left to the 90% rule, as before)


def test_a_small_regression_target_with_marks_is_numbers_and_drop_leaves_its_rows_out(tmp_path):
    """10 rows, 2 of them '-' and '#DIV/0!': 80% numbers was a class per value; '#DIV/0!' among 60 was refused as
    text under --missing drop; a quarter of '?' was '0 non-numeric cell(s) ()'."""
    r = np.random.default_rng(2)
    x = r.normal(size=60)
    cells = [f"{2 * v:.3f}" for v in x]
    small = cells[:10]
    small[2], small[5] = "#DIV/0!", "-"
    big = list(cells)
    big[5], big[17] = "-", "#DIV/0!"
    quarter = [("?" if i % 4 == 0 else c) for i, c in enumerate(cells)]
    for name, ys, dropped in (("small", small, 2), ("big", big, 2), ("quarter", quarter, 15)):
        path = tmp_path / f"{name}.csv"
        path.write_text("x,y\n" + "\n".join(f"{a:.3f},{b}" for a, b in zip(x, ys)) + "\n")
        done = CliRunner().invoke(app, ["run", "--dataset", str(path), "--target", "y", "--epochs", "1",
                                        "--runs-dir", str(tmp_path / "runs"), "--json"])
        assert done.exit_code == 2 and '"error"' in done.output and "--missing drop" in done.output, done.output
        data = prepare(DataSpec(dataset=str(path), target="y", missing="drop", val_split=0.2), 0)
        assert data.pre.task == "regression", name
        assert len(data.y_train) + len(data.y_val) == len(ys) - dropped, name
        assert f"dropped {dropped} of {len(ys)} rows with empty cells (y {dropped})" in data.notices, data.notices


def test_a_model_reads_its_files_marks_as_empty_and_the_export_alike(tmp_path):
    path, _ = sheet(tmp_path / "s.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), data__target="y", data__missing="impute", train__epochs=3)
    _, folder = job.run(spec, lambda e: None)
    assert checkpoint.load(folder.path / "best.pt")["preprocessing"]["marked_numbers"] is True
    marked = tmp_path / "marked.csv"
    marked.write_text("x,z\n-,0.5\n1.25,--\n0.5,0.5\n-,-\n")  # 3 of 4 cells of x marks: numbers all the same
    plain = tmp_path / "plain.csv"
    plain.write_text("x,z\n,0.5\n1.25,\n0.5,0.5\n,\n")
    predicted_alike(folder.path, {"marked": marked, "plain": plain}, tmp_path)
    export_runs_bit_for_bit(folder.path, path, tmp_path)


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    path, _ = sheet(tmp_path / "s.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), data__target="y", data__missing="impute", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(marked_numbers=False))  # a new run's rules: as before
    folder, saved = trained_before_the_rule(monkeypatch, spec, "marked_numbers", [(job.plan, "__defaults__",
                                                                                    rules_then)])
    assert preprocess.reading_of(saved).marked_numbers is False
    assert [c["name"] for c in saved["columns"]] == ["z"]  # x left out as free text, as it was
    frame, _ = read_table(path, ReadOptions(reading=preprocess.reading_of(saved)))
    assert frame["x"][0] == "-"
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


def test_values_written_as_a_limit_are_warned_of(tmp_path):
    """A lab's '<0.005' in 15% of a column of measurements: one-hot encoded as 50 values without a word of why."""
    r = np.random.default_rng(6)
    lead = [("<0.005" if r.random() < 0.15 else f"{r.uniform(0.005, 0.2):.3f}") for _ in range(300)]
    top = [(">90" if v > 85 else str(v)) for v in r.integers(18, 100, 300)]
    frame = pd.DataFrame({"lead": lead, "age": top, "exceeds": r.choice(["yes", "no"], 300)})
    frame.to_csv(tmp_path / "lab.csv", index=False)
    notices = prepare(DataSpec(dataset=str(tmp_path / "lab.csv")), 0).notices
    said = [n for n in notices if "written as a limit" in n]
    assert said == [
        f"warning: column lead is numbers but for {lead.count('<0.005')} cell(s) written as a limit ('<0.005'): it is "
        "one-hot encoded value by value, their order and size lost; write the limit as a number (or leave those "
        "cells empty) to read it as numbers",
        f"warning: column age is numbers but for {top.count('>90')} cell(s) written as a limit ('>90'): it is "
        "one-hot encoded value by value, their order and size lost; write the limit as a number (or leave those "
        "cells empty) to read it as numbers"], notices
