"""Classes written as codes with leading zeros (001, 002, 010; zips 02134): pandas reads them as the numbers 1, 2,
10, and a run's classes, predictions, probability columns and confusion matrix said 1, 2, 10 where the file says
001. A class column of whole numbers some written with leading zeros keeps its labels as written; the model
remembers it, so its resume, predictions, evaluations and export read the column alike; a model trained before the
rule reads its files as it did."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import checkpoint, data, job, preprocess
from tui.core.reader import Reading, ReadOptions, as_written, read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit

CODES = ["001", "002", "010", "011"]


def coded(path: Path, rows: int = 240, seed: int = 0, codes: list[str] = CODES) -> Path:
    """Two features whose signs give one of four classes, the class written as a zero-padded code."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(rows, 2)).round(4)
    label = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "code": np.array(codes)[label]}).to_csv(path, index=False)
    assert "001" in path.read_text()  # (as a spreadsheet writes them: no quotes)
    return path


def events_of(spec):
    events: list[dict] = []
    outcome, folder = job.run(spec, events.append)
    return outcome, folder, events


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_classes_written_with_leading_zeros_keep_their_names_in_every_answer(tmp_path):
    path = coded(tmp_path / "codes.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    _, folder, events = events_of(spec)
    start = next(e for e in events if e["event"] == "start")
    assert start["classes"] == CODES and start["task"] == "classification"
    assert ("target code: whole numbers written with leading zeros (001, 002, 010, 011): its classes are named as "
            "written, not as numbers") in start["notices"]
    assert any(n.startswith("task: classification, because target code holds 4 distinct integer values")
               for n in start["notices"]), start["notices"]
    saved = checkpoint.load(folder.path / "last.pt")["preprocessing"]
    assert saved["classes"] == CODES and saved["codes"] is True

    # a resume reads the column as the run did: the same bits as the run never stopped
    straight = events_of(make_spec(tmp_path, data__dataset=str(path), train__epochs=3, train__patience=0,
                                   run__name="straight"))[1]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    mine, theirs = weights(folder.path / "last.pt"), weights(straight.path / "last.pt")
    assert all(torch.equal(mine[k], v) for k, v in theirs.items())

    out = tmp_path / "predictions.csv"
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["code", *(f"p_{c}" for c in CODES)]
    assert set(written["code"]) == set(CODES)  # the labels as the file writes them, not 1, 2, 10, 11
    done = CliRunner().invoke(app, ["eval", str(folder.path), str(path), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["classes"] == CODES and sum(report["support"]) == 240, report
    assert report["accuracy"] > 0.8

    export_runs_bit_for_bit(folder.path, path, tmp_path)


def test_a_val_file_and_a_headerless_file_read_their_codes_as_the_training_file(tmp_path):
    """The --val file's class column follows the training file's (its own cells may be written either way); a file
    without a header line names its class column colN."""
    train, val = coded(tmp_path / "train.csv"), coded(tmp_path / "val.csv", rows=80, seed=1)
    _, folder, events = events_of(make_spec(tmp_path, data__dataset=str(train), data__val=str(val),
                                            train__epochs=3, train__patience=0))
    start = next(e for e in events if e["event"] == "start")
    assert start["classes"] == CODES and start["val_rows"] == 80
    last = [e for e in events if e["event"] == "epoch"][-1]
    assert last["accuracy"] > 0.8, last  # read as 1, 2, 10, 11 they were classes the model does not have

    bare = tmp_path / "bare.csv"
    bare.write_text("".join(train.read_text().splitlines(keepends=True)[1:]))
    _, folder, events = events_of(make_spec(tmp_path, data__dataset=str(bare), data__header="no", train__epochs=1,
                                            run__name="bare"))
    assert next(e for e in events if e["event"] == "start")["classes"] == CODES
    assert preprocess.reading_of(checkpoint.load(folder.path / "last.pt")["preprocessing"]).text == {"col3"}
    done = CliRunner().invoke(app, ["eval", str(folder.path), str(bare), "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout.strip().splitlines()[-1])["accuracy"] > 0.5, done.output


def test_codes_that_are_quantities_or_written_two_ways_stay_numbers(tmp_path):
    """The rule is for class names: a column of codes decided a regression by its numbers stays one, and so does a
    class column that writes one number two ways (1 and 01: as text, two classes), with a warning."""
    r = np.random.default_rng(3)
    x = r.normal(size=300).round(4)
    many = tmp_path / "many.csv"
    pd.DataFrame({"x": x, "y": [f"{v:04d}" for v in r.integers(1, 999, 300)]}).to_csv(many, index=False)
    notices: list[str] = []
    table = data.split_table(make_spec(tmp_path, data__dataset=str(many)).data, 0, notices)
    assert table.task == "regression" and pd.api.types.is_integer_dtype(table.frame["y"]), notices
    assert not any("leading zeros" in n for n in notices), notices

    two_ways = tmp_path / "two_ways.csv"
    two_ways.write_text("x,y\n" + "".join(f"{v},{['1', '01', '2'][i % 3]}\n" for i, v in enumerate(x[:30])))
    notices = []
    table = data.split_table(make_spec(tmp_path, data__dataset=str(two_ways)).data, 0, notices)
    assert table.classes == [1, 2]
    assert ("warning: target y writes a class two ways (01 and 1): read as numbers, its leading zeros dropped; write "
            "each class one way to keep them") in notices

    forced = coded(tmp_path / "forced.csv")  # codes a user says are a regression's values
    table = data.split_table(make_spec(tmp_path, data__dataset=str(forced), data__task="regression").data, 0, [])
    assert table.task == "regression" and sorted(set(table.frame["code"])) == [1, 2, 10, 11]


def test_a_model_trained_before_the_rule_reads_its_codes_as_numbers(tmp_path, monkeypatch):
    """Trained by an earlier torchtui (no rule, no `codes` in its checkpoint, classes 1, 2, 10, 11): its resume is
    not 'data changed', and its predictions name the classes it was trained with."""
    path = coded(tmp_path / "codes.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    with monkeypatch.context() as old:
        old.setattr(data, "_class_codes", lambda spec, frame, fmt, target, reading, notices: (reading, False))
        real = preprocess.Preprocessor.to_dict
        old.setattr(preprocess.Preprocessor, "to_dict",
                    lambda self: {k: v for k, v in real(self).items() if k != "codes"})
        _, folder = job.run(spec, lambda e: None)
    saved = checkpoint.load(folder.path / "last.pt")["preprocessing"]
    assert "codes" not in saved and saved["classes"] == [1, 2, 10, 11]
    assert not preprocess.reading_of(saved).codes

    kept = tmp_path / "kept"
    shutil.copytree(folder.path, kept)
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)  # not 'data changed'
    assert resumed.progress.epoch == 3
    out = tmp_path / "p.csv"
    done = CliRunner().invoke(app, ["predict", str(kept), str(path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert list(pd.read_csv(out).columns) == ["code", "p_1", "p_2", "p_10", "p_11"]


CELLS = ["001", "010", "", "002"]


@pytest.mark.parametrize("text, place", [
    ("a,b,code\n1,2,001\n3,4,010\n5,6,\n7,8,002\n", 2),
    ("a,b,code\nr1,1,2,001\nr2,3,4,010\nr3,5,6,\nr4,7,8,002\n", 3),  # R's row names: the header a name short
    ("a;b;code\n1;2;001;\n3;4;010;\n5;6;;\n7;8;002;\n", 2),  # a separator ending each row, not the header
    ("a;b;code;\n1;2;001;\n3;4;010;\n5;6;;\n7;8;002;\n", 2),  # ... and the header
    ("title of the export\n\na,b,code\n1,2,001\n3,4,010\n5,6,\n7,8,002\n", 2),  # lines above the table
    ("code,b,code\n1,2,001\n3,4,010\n5,6,\n7,8,002\n", 2),  # a repeated name: the second is code.1
    ("'a'\t'b'\t'code'\n1\t2\t001\n3\t4\t010\n5\t6\t\n7\t8\t002\n", 2),  # names in quotes, tabs
    ("1.5,2,001\n3.5,4,010\n5.5,6,\n7.5,8,002\n", 2),  # no header line: col3
], ids=["plain", "row names", "rows end", "all end", "metadata", "repeat", "quoted names", "no header"])
def test_a_column_is_read_as_written_in_every_format_the_reader_takes(tmp_path, text, place):
    path = tmp_path / "t.csv"
    path.write_text(text)
    frame, fmt = read_table(path)
    column = frame.columns[-1]
    assert frame[column].tolist()[:2] == [1, 10]  # pandas' numbers
    assert as_written(path, fmt, column, list(frame.columns)) == CELLS  # (each distinct cell once)
    again, fmt = read_table(path, ReadOptions(reading=Reading(text=frozenset({column}))))
    assert fmt.text_fields == [place]
    assert again[column].fillna("").tolist() == CELLS
    pd.testing.assert_frame_equal(again.drop(columns=column), frame.drop(columns=column))


def test_the_data_pane_shows_the_codes_as_the_run_reads_them(tmp_path):
    """The Data pane's first rows are read before the run's preparation decides the column is codes: read again
    once it has, they show 001 where they showed 1."""
    from tui.app import data_source

    path = coded(tmp_path / "codes.csv")
    view = data_source.load(make_spec(tmp_path, data__dataset=str(path)).data, 0)
    assert not view.error, view.error
    assert view.rows and {row[-1] for row in view.rows} <= set(CODES), view.rows
    assert view.prepared is not None and view.prepared.pre.classes == CODES


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_codes_quoted_in_a_json_file_keep_their_names_in_every_answer(tmp_path, suffix):
    """A JSON file writes a code as a string ("001"), which pandas' reading of JSON makes the number 1: its classes
    are the strings, in the run, its resume, predict, eval and the exported script; the same classes written as
    JSON numbers (1, 2, 10) are numbers, as they are written."""
    frame = pd.read_csv(coded(tmp_path / "codes.csv"), dtype={"code": str})
    path = tmp_path / f"codes{suffix}"
    frame.to_json(path, orient="records", lines=suffix == ".jsonl")
    assert '"code":"001"' in path.read_text()
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    _, folder, events = events_of(spec)
    start = next(e for e in events if e["event"] == "start")
    assert start["classes"] == CODES, start["notices"]
    assert any("leading zeros (001, 002, 010, 011)" in n for n in start["notices"]), start["notices"]

    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3  # the same classes read again: not 'data changed'
    out = tmp_path / "predictions.csv"
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["code", *(f"p_{c}" for c in CODES)] and set(written["code"]) <= set(CODES)
    done = CliRunner().invoke(app, ["eval", str(folder.path), str(path), "--json"])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["classes"] == CODES and report["accuracy"] > 0.8, report
    export_runs_bit_for_bit(folder.path, path, tmp_path)

    numbers = tmp_path / f"numbers{suffix}"
    frame.assign(code=frame["code"].astype(int)).to_json(numbers, orient="records", lines=suffix == ".jsonl")
    assert '"code":1}' in numbers.read_text()
    table = data.split_table(make_spec(tmp_path, data__dataset=str(numbers)).data, 0, [])
    assert table.classes == [1, 2, 10, 11]


def test_a_json_model_trained_before_the_quoted_codes_rule_reads_its_classes_as_numbers(tmp_path, monkeypatch):
    """Trained on a JSON file after the codes rule but before quoted codes (`quoted` not in its checkpoint, its
    classes 1, 2, 10, 11): its resume is not 'data changed', and its predictions name the classes it has."""
    frame = pd.read_csv(coded(tmp_path / "codes.csv"), dtype={"code": str})
    path = tmp_path / "codes.json"
    frame.to_json(path, orient="records")
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2, train__patience=0)
    real_codes = data._class_codes
    folder, saved = trained_before_the_rule(monkeypatch, spec, "quoted", [(
        data, "_class_codes", lambda spec, frame, fmt, target, reading, notices: real_codes(
            spec, frame, fmt, target, dataclasses.replace(reading, quoted=False), notices))])
    assert saved["classes"] == [1, 2, 10, 11]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
