"""A column is an identifier by its name only where the name is one's and its numbers whole. pandas names a header
cell left empty 'Unnamed: N', and the identifier rule took every such column for pandas' own index: a header
`x,,y,label` lost its second column (a measurement) as "looks like an identifier". Now only the first column's
'Unnamed: 0' (what to_csv writes) is one by its name, and a column of fractions named `index` (a price index) is
a feature. A model trained before the rule reads its files as it did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tui.cli import app
from tui.core import checkpoint, data, job, preprocess
from tui.core import reader as reader_module

from conftest import make_spec, trained_before_the_rule


def measured(path: Path, header: str, rows: int = 200) -> Path:
    """Three measurements and a label that the second decides."""
    r = np.random.default_rng(5)
    x = r.normal(size=(rows, 3)).round(3)
    lines = [header, *(f"{a},{b},{c},{int(b + 0.3 * c > 0)}" for a, b, c in x)]
    path.write_text("\n".join(lines) + "\n")
    return path


def chosen(path: Path, tmp_path: Path, notices: list[str] | None = None) -> data.TableSplit:
    return data.split_table(make_spec(tmp_path, data__dataset=str(path)).data, 0, [] if notices is None else notices)


def test_a_column_whose_header_cell_is_empty_is_a_feature_and_trains(tmp_path):
    path = measured(tmp_path / "gap.csv", "x,,y,label")
    notices: list[str] = []
    table = chosen(path, tmp_path, notices)
    assert table.features == ["x", "Unnamed: 1", "y"], notices
    assert ("column Unnamed: 1: its header cell is empty, and pandas names it so; used as a feature (write a name in "
            "the header line to call it otherwise)") in notices
    events: list[dict] = []
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(path), train__epochs=6, train__patience=0),
                        events.append)
    evaluation = [e for e in events if e["event"] == "evaluation"][-1]
    assert evaluation["accuracy"] >= 0.9, evaluation  # without the column the label is a coin toss (0.55 before)
    assert checkpoint.load(folder.path / "last.pt")["preprocessing"]["ids"] is True


def test_the_index_to_csv_writes_is_still_an_identifier_and_fractions_never_are(tmp_path):
    r = np.random.default_rng(6)
    frame = pd.DataFrame({"index": (100 + r.normal(size=150)).round(2), "row_id": np.arange(150) * 7,
                          "dose": r.normal(size=150).round(3), "y": r.integers(0, 2, 150)})
    frame.to_csv(tmp_path / "indexed.csv")  # with pandas' index: an empty first header cell, 'Unnamed: 0'
    notices: list[str] = []
    table = chosen(tmp_path / "indexed.csv", tmp_path, notices)
    assert table.features == ["index", "dose"], notices  # a price index of 100.47, 99.13, ... is a measurement
    assert table.id_column == "Unnamed: 0"
    assert any(n.startswith("column Unnamed: 0 left out: looks like an identifier") for n in notices), notices
    assert any(n.startswith("column row_id left out: looks like an identifier") for n in notices), notices


def test_a_model_trained_before_the_rule_leaves_the_column_out_on_its_resume(tmp_path, monkeypatch):
    """Trained by an earlier torchtui (no `ids` in its checkpoint): its resume is not 'data changed'."""
    path = measured(tmp_path / "gap.csv", "x,,y,label")
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    with monkeypatch.context() as old:
        old.setattr(data, "_named_like_an_id", lambda name, values, rules=None: bool(data._ID_NAME.match(name)))
        real = preprocess.Preprocessor.to_dict
        old.setattr(preprocess.Preprocessor, "to_dict",
                    lambda self: {k: v for k, v in real(self).items() if k != "ids"})
        _, folder = job.run(spec, lambda e: None)
    saved = checkpoint.load(folder.path / "last.pt")["preprocessing"]
    assert "ids" not in saved and [c["name"] for c in saved["columns"]] == ["x", "y"]
    assert not preprocess.reading_of(saved).ids
    events: list[dict] = []
    resumed, _ = job.resume(folder.path, events.append, epochs=3)
    assert resumed.progress.epoch == 3
    start = next(e for e in events if e["event"] == "start")
    assert any(n.startswith("column Unnamed: 1 left out: looks like an identifier") for n in start["notices"])


def test_a_header_with_more_gaps_than_names_is_the_header_and_a_padded_title_is_not(tmp_path):
    """`x,,,label` names fewer cells than it leaves empty, and was taken for a title padded with separators: the
    file read without a header line, its columns col1..col4. It is the header (its last cell names a column, its
    names are text over numbers, the line below is a row); a title so padded is still a title."""
    path = measured(tmp_path / "gaps.csv", "x,,,label")
    notices: list[str] = []
    table = chosen(path, tmp_path, notices)
    assert table.targets == ["label"] and table.features == ["x", "Unnamed: 1", "Unnamed: 2"], notices
    assert len(table.frame) == 200  # no row lost as a header, no header read as a row
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text(measured(tmp_path / "m.csv", ";;y;label").read_text().replace(",", ";"))
    assert chosen(semicolons, tmp_path).features == ["Unnamed: 0", "Unnamed: 1", "y"]

    for title in ["Report 2024,,,", "Station 4,,,2024-11-01", "Totals,,,17"]:  # titles: not a header
        over = tmp_path / "titled.csv"
        over.write_text(f"{title}\n" + measured(tmp_path / "m.csv", "a,b,c,label").read_text())
        table = chosen(over, tmp_path)
        assert table.targets == ["label"] and table.features == ["a", "b", "c"], title
    bare = tmp_path / "bare.csv"
    bare.write_text("Report,,,\n" + "".join(measured(tmp_path / "m.csv", "a,b,c,label").read_text()
                                             .splitlines(keepends=True)[1:]))
    table = chosen(bare, tmp_path)  # a title over rows with no header line
    assert table.targets == ["col4"] and len(table.frame) == 200
    rows = "".join(measured(tmp_path / "m.csv", "a,b,c,label").read_text().splitlines(keepends=True)[1:])
    for above in ("Station,,,Berlin\nUnit,,,Celsius\n", "Report 2024,,,\nx,,,label\n"):
        bare.write_text(above + rows)  # lines filled alike are metadata; a header under a title is the header
        table = chosen(bare, tmp_path)
        assert table.targets == (["col4"] if "Unit" in above else ["label"]) and len(table.frame) == 200, above


def test_a_model_trained_before_the_gapped_header_rule_reads_its_file_without_a_header(tmp_path, monkeypatch):
    """Trained by an earlier torchtui (no `gaps` in its checkpoint, the file read as col1..col4): its resume reads
    the file as it did, not 'data changed', and its predictions name the columns it was trained with."""
    path = measured(tmp_path / "gaps.csv", "x,,,label")
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    folder, saved = trained_before_the_rule(monkeypatch, spec, "gaps", [
        (reader_module, "_gapped_header", lambda row, below, mode, above=None: False)])
    assert saved["targets"] == ["col4"] and not preprocess.reading_of(saved).gaps
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    out = tmp_path / "predictions.csv"
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert list(pd.read_csv(out).columns)[0] == "col4" and len(pd.read_csv(out)) == 200
