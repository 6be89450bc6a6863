"""A spreadsheet's empty lines - saved as ',,,,' below the rows (Excel keeps rows that were once used) or between
groups of them - are no rows (tui/core/data.py, `without_blank_rows`): training leaves them out under every
--missing policy, saying which; `predict` and `eval` leave them without a prediction, in their places. Before,
--missing error refused the file as empty cells (the fix offered, --missing drop, then dropped rows the user
wanted refused), and an imputing model predicted the training medians' answer for each."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job

from conftest import make_spec
from test_export import export_runs_bit_for_bit

IRIS = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"
BLANK = ",,,,\n"


def with_blank_lines(path: Path, source: Path = IRIS, after: tuple[int, ...] = (40, 150), times: int = 2) -> Path:
    """`source` with `times` lines of bare separators after each data row numbered in `after` (150: the end)."""
    header, *rows = source.read_text().splitlines(keepends=True)
    out = [header]
    for i, row in enumerate(rows, 1):
        out.append(row)
        if i in after:
            out.append(BLANK * times)
    path.write_text("".join(out))
    return path


def trained(tmp_path: Path, data: Path, name: str, **overrides) -> tuple[list[str], Path]:
    notes: list[str] = []
    spec = make_spec(tmp_path, data__dataset=str(data), train__epochs=2, train__threads=1, run__name=name,
                     **overrides)
    outcome, folder = job.run(spec, lambda e: notes.extend(e.get("notices", [])))
    assert outcome.status == "done"
    return notes, folder.path


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "last.pt", weights_only=True)["model"]


@pytest.mark.parametrize("missing", ["error", "drop", "impute"])
def test_empty_lines_are_left_out_and_the_model_is_the_one_the_rows_alone_train(tmp_path, missing):
    data = with_blank_lines(tmp_path / "iris_blank.csv")
    notes, blank_run = trained(tmp_path, data, "blank", data__missing=missing)
    assert (f"{data}: left out 4 rows with no value in any cell (a spreadsheet's empty lines; data rows 41, 42, "
            "153, 154)") in notes
    assert not any("dropped" in n or "filled" in n for n in notes), notes
    _, plain_run = trained(tmp_path, IRIS, "plain", data__missing=missing)
    mine, theirs = weights(blank_run), weights(plain_run)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_validation_rows_keep_their_numbers_in_the_file(tmp_path):
    """A validation row is named by its data row in the file: the empty lines above it are counted, as a person
    reading the file counts them (row 43 is iris's 41st flower)."""
    data = with_blank_lines(tmp_path / "iris_blank.csv", after=(40,))
    _, run = trained(tmp_path, data, "blank")
    table = pd.read_csv(run / "val_predictions.csv")
    file = pd.read_csv(data)
    assert len(table) == 30 and (table["row"] > 42).any()
    for _, row in table.iterrows():
        in_file = file.iloc[int(row["row"]) - 1]
        assert in_file["petal_length"] == row["petal_length"] and in_file["species"] == row["true"]


def test_a_validation_file_with_empty_lines_reads_as_without(tmp_path):
    train, val = tmp_path / "train.csv", tmp_path / "val.csv"
    header, *rows = IRIS.read_text().splitlines(keepends=True)
    train.write_text(header + "".join(rows[0::2]))
    val.write_text(header + "".join(rows[1::2]))
    val_blank = with_blank_lines(tmp_path / "val_blank.csv", val, after=(10, 75), times=1)
    notes, blank_run = trained(tmp_path, train, "blank", data__val=str(val_blank))
    assert f"{val_blank}: left out 2 rows with no value in any cell (a spreadsheet's empty lines; data rows 11, 77)" \
        in notes
    _, plain_run = trained(tmp_path, train, "plain", data__val=str(val))
    assert [json.loads(line).get("val_loss") for line in (blank_run / "events.jsonl").read_text().splitlines()
            if '"epoch_end"' in line] == [json.loads(line).get("val_loss") for line in
                                          (plain_run / "events.jsonl").read_text().splitlines()
                                          if '"epoch_end"' in line]
    export_runs_bit_for_bit(blank_run, train, tmp_path)


def test_the_exported_script_leaves_them_out_as_the_run_did(tmp_path):
    data = with_blank_lines(tmp_path / "iris_blank.csv")
    _, run = trained(tmp_path, data, "blank")
    export_runs_bit_for_bit(run, data, tmp_path)


@pytest.mark.parametrize("missing", ["error", "impute"])
def test_predict_and_eval_leave_them_without_a_prediction_in_their_places(tmp_path, missing):
    data = with_blank_lines(tmp_path / "iris_blank.csv")
    _, run = trained(tmp_path, IRIS, "plain", data__missing=missing)
    out, plain_out = tmp_path / "p.csv", tmp_path / "plain_p.csv"
    done = CliRunner().invoke(app, ["predict", str(run), str(data), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert ("note: 4 row(s) with no value in any cell (a spreadsheet's empty lines; first: data row 41) not "
            "predicted (their prediction cells are empty)") in done.stderr.splitlines()
    assert done.stdout.strip() == f"wrote 154 rows to {out}: 150 predicted, 4 with no value at all not"  # (was:
    assert CliRunner().invoke(app, ["predict", str(run), str(IRIS), "-o", str(plain_out)]).exit_code == 0  # 'empty
    # cell', a model that takes none)
    predicted, plain = pd.read_csv(out), pd.read_csv(plain_out)
    blank = [40, 41, 152, 153]
    assert len(predicted) == 154 and predicted.iloc[blank].isna().all(axis=None)
    pd.testing.assert_frame_equal(predicted.drop(index=blank).reset_index(drop=True), plain)

    scored = CliRunner().invoke(app, ["eval", str(run), str(data), "--json"])
    plain_scored = CliRunner().invoke(app, ["eval", str(run), str(IRIS), "--json"])
    assert scored.exit_code == 0, scored.output
    result, plain_result = json.loads(scored.stdout.splitlines()[-1]), json.loads(plain_scored.stdout.splitlines()[-1])
    assert result["rows"] == 150 and result["loss"] == plain_result["loss"]
    assert [r["rows"] for r in result["left_out_rows"]] == [4] and result["left_out_rows"][0]["blank"] is True


def test_a_file_of_nothing_but_empty_lines_is_refused(tmp_path):
    data = tmp_path / "empty.csv"
    data.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n" + BLANK * 5)
    done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--epochs", "1", "--runs-dir",
                                    str(tmp_path / "runs")])
    assert done.exit_code == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) >= 1
    assert "Traceback" not in done.output and not (tmp_path / "runs").exists()


def with_id_and_constant(path: Path, blank_lines: int) -> Path:
    """50 rows: an id, two measurements, a city, a constant column, a label; then `blank_lines` lines ',,,,,'."""
    rows = [f"{i + 1},{i % 7 * 0.5},{i % 5},{'ab'[i % 2]},7,{'yn'[(i % 7 + i % 5) % 2]}" for i in range(50)]
    path.write_text("id,x1,x2,city,const,y\n" + "\n".join(rows) + "\n" + ",,,,,\n" * blank_lines)
    return path


@pytest.mark.parametrize("blank_lines", [1, 60])
def test_empty_lines_change_no_choice_of_columns(tmp_path, blank_lines):
    """Left out before the columns are chosen: one empty line made the constant column vary (an input), sixty
    made the id repeat (an input too)."""
    from tui.core.data import prepare
    from tui.core.spec import DataSpec

    plain = prepare(DataSpec(dataset=str(with_id_and_constant(tmp_path / "plain.csv", 0))), 0)
    blank = prepare(DataSpec(dataset=str(with_id_and_constant(tmp_path / "blank.csv", blank_lines))), 0)
    assert [c.name for c in blank.pre.columns] == [c.name for c in plain.pre.columns] == ["x1", "x2", "city"]
    assert torch.equal(blank.x_train, plain.x_train) and torch.equal(blank.y_val, plain.y_val)


def test_a_model_trained_before_the_rule_chooses_its_columns_as_it_did(tmp_path, monkeypatch):
    from tui.core import preprocess
    from tui.core.reader import Reading

    from conftest import trained_before_the_rule

    data = with_id_and_constant(tmp_path / "blank.csv", 1)
    spec = make_spec(tmp_path, data__dataset=str(data), data__missing="drop", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(blank_rows=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "blank_rows", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).blank_rows is False
    assert [c["name"] for c in saved["columns"]] == ["x1", "x2", "city", "const"]
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


def test_a_file_of_only_empty_lines_is_refused_by_predict_whatever_the_model(tmp_path):
    _, run = trained(tmp_path, IRIS, "impute", data__missing="impute")
    data = tmp_path / "empty.csv"
    data.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n" + BLANK * 2)
    done = CliRunner().invoke(app, ["predict", str(run), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 2 and done.stderr.splitlines()[0] == (
        f"error: {data}: no row holds a value (only empty lines, ',,,'): there is nothing to predict; give the file "
        "with its rows"), done.output
    assert not (tmp_path / "p.csv").exists()


def test_a_spreadsheets_empty_columns_at_the_end_are_left_out_and_the_target_is_the_last_named(tmp_path):
    """'sepal_length,...,species,,' with ',,' on every row: the last, unnamed, empty column was the default target
    ('target Unnamed: 6 ... is empty in every row'). Left out, the run is iris's own, and so is the script's."""
    header, *rows = IRIS.read_text().splitlines()
    data = tmp_path / "wide.csv"
    data.write_text(header + ",,\n" + "".join(r + ",,\n" for r in rows) + ",,,,,,\n" * 3)
    notes, run = trained(tmp_path, data, "wide")
    assert "1 column at the right end without a name or a value (a spreadsheet's empty columns) left out" in notes
    _, plain = trained(tmp_path, IRIS, "plain")
    mine, theirs = weights(run), weights(plain)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    export_runs_bit_for_bit(run, data, tmp_path)


def test_the_exported_script_refuses_empty_cells_as_the_run_did(tmp_path):
    from test_export import bare_python

    _, run = trained(tmp_path, IRIS, "plain")
    holed = tmp_path / "holed.csv"
    lines = IRIS.read_text().splitlines()
    lines[8] = "," + lines[8].split(",", 1)[1]
    holed.write_text("\n".join(lines) + "\n")
    script = tmp_path / "train.py"
    assert CliRunner().invoke(app, ["export", str(run), "-o", str(script)]).exit_code == 0
    done = bare_python([str(script), "--data", str(holed)], tmp_path)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        f"{holed}: 1 row(s) with an empty cell or no number where one belongs (first: data row 8); the run refused "
        "such cells"), done.stderr[-2000:]


def test_a_drop_model_says_its_empty_lines_apart_from_its_rows_with_an_empty_cell(tmp_path):
    """A --missing drop model leaves both out, but a line with no value is no row with a cell to fill: it was
    counted among them ('5 row(s) with an empty cell ... fill those cells') in the note and the summary line."""
    rows = IRIS.read_text().splitlines()
    cells = rows[6].split(",")
    gappy = rows[:6] + [",,,,", ",".join([cells[0], "", *cells[2:]])] + rows[7:] + [",,,,", ",,,,"]
    data = tmp_path / "gappy.csv"
    data.write_text("\n".join(gappy) + "\n")
    _, run = trained(tmp_path, IRIS, "drop", data__missing="drop")
    out = tmp_path / "p.csv"
    done = CliRunner().invoke(app, ["predict", str(run), str(data), "-o", str(out)])
    assert done.exit_code == 0, done.output
    notes = [line for line in done.stderr.splitlines() if "not predicted" in line]
    assert notes == [
        "note: 3 row(s) with no value in any cell (a spreadsheet's empty lines; first: data row 6) not predicted "
        "(their prediction cells are empty)",
        "note: 1 row(s) with an empty cell or no number where the model takes one (first: data row 7, column "
        f"{rows[0].split(',')[1]}) not predicted (their prediction cells are empty): the model trained with --missing "
        "drop, which leaves such rows out; fill those cells to predict them"]
    assert done.stdout.strip() == (f"wrote 153 rows to {out}: 149 predicted, 1 with an empty cell and 3 with no "
                                   "value at all not")
    predicted = pd.read_csv(out)
    assert len(predicted) == 153 and predicted.iloc[[5, 6, 151, 152]].isna().all(axis=None)
    scored = CliRunner().invoke(app, ["eval", str(run), str(data), "--json"])
    result = json.loads(scored.stdout.splitlines()[-1])
    assert result["rows"] == 149 and [(r["rows"], r["blank"]) for r in result["left_out_rows"]] == [(3, True),
                                                                                                   (1, False)]
