"""Durations and clock times as people write them ('2:41:07', '4:32.5', '1h 5m', pandas' '0 days 01:23:45', a time
of day '08:15') are numbers (tui/core/durations.py, reader `_durations`). Before, a feature of them was left out
as 'looks like dates' and a target of race times was taken for one class per time, refused as naming its rows.
The exported script reads them to the bit as the run did; a model trained before the rule reads its files as it
did."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job, preprocess
from tui.core.durations import as_duration, duration_form
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit, predicted_alike


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def race(path: Path, write=hms, rows: int = 240, seed: int = 3) -> tuple[Path, list[int]]:
    """Finishing times of a race over three distances, by the runner's age and weekly training: the time is the
    target, written by `write` from its seconds."""
    rng = random.Random(seed)
    lines, seconds = ["age,km_per_week,distance,time"], []
    for _ in range(rows):
        age, week, distance = rng.randint(18, 70), rng.randint(10, 90), rng.choice([5, 10, 21])
        s = int(distance * 300 * (1 + (age - 18) / 120) * (1.3 - week / 300) + rng.gauss(0, 40))
        lines.append(f"{age},{week},{distance},{write(s)}")
        seconds.append(s)
    path.write_text("\n".join(lines) + "\n")
    return path, seconds


@pytest.mark.parametrize("cells, form, values", [
    (["2:41:07", "27:05:00", "0:00:59.5", "-0:10:00"], "h:mm:ss", [9667, 97500, 59.5, -600]),
    (["0 days 01:23:45", "1 days 00:00:01", "2 day 10:00:00"], "h:mm:ss", [5025, 86401, 208800]),
    (["-1 days +22:47:12", "0 days 00:00:05"], "h:mm:ss", [-4368, 5]),
    (["58:12", "1:02:03", "59:59.5"], "h:mm:ss", [3492, 3723, 3599.5]),  # under the hour: m:ss
    (["4:32", "10:05.25", "0:59"], "a:bb", [272, 605.25, 59]),
    (["1h 5m", "45 min", "2 hours 30 minutes", "1d 4h", "90s", "1.5h", "0"], "words",
     [3900, 2700, 9000, 100800, 90, 5400, 0]),
])
def test_each_form_reads_as_its_number(cells, form, values):
    col = pd.Series(cells, dtype=object)
    found, read = duration_form(col)
    assert found == form and read.tolist() == values
    assert as_duration(col, form).tolist() == values


@pytest.mark.parametrize("cells", [
    ["2:41:07", "1h 5m"],  # two forms in one column
    ["12:61", "1:30"],  # no minute has 61 seconds
    ["1h 5m", "12"],  # a bare number beside a duration
    ["3:16 am", "4:00"], ["2024-01-05", "10:00"], ["red", "blue"], ["1:2:3", "4:5:6"],
    ["1:50", "1:25", "1:10"],  # a map's scale: a ratio
])
def test_anything_else_is_not_a_duration(cells):
    assert duration_form(pd.Series(cells, dtype=object)) == ("", None)


def test_a_file_reads_them_with_a_note_and_missing_marks_empty(tmp_path):
    data = tmp_path / "laps.csv"
    data.write_text("lap,time,start\n1,4:32.5,08:15\n2,n/a,08:20\n3,4:40.0,08:25\n4,,08:30\n")
    frame, fmt = read_table(data)
    assert frame["time"].tolist()[::2] == [272.5, 280.0] and frame["time"].isna().tolist() == [False, True, False, True]
    assert frame["start"].tolist() == [495.0, 500.0, 505.0, 510.0]
    assert ("column time: durations or clock times written as '4:32.5' read as numbers in minutes (h:mm) or "
            "seconds (m:ss) (272.5)") in fmt.notes


def test_race_times_train_as_a_regression_target(tmp_path):
    data, seconds = race(tmp_path / "race.csv")
    done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--epochs", "30", "--lr", "0.01", "--seed", "1",
                                    "--runs-dir", str(tmp_path / "runs"), "--name", "race", "--json"])
    assert done.exit_code == 0, done.output
    end = json.loads(done.stdout.splitlines()[-1])
    assert "regression" in done.stdout and "durations or clock times written as" in done.stdout
    assert end["event"] == "end" and end["best_metrics"]["r2"] > 0.9, end
    predicted = pd.read_csv(tmp_path / "runs" / "race" / "val_predictions.csv")
    assert np.isclose(predicted["true"].to_numpy(), [seconds[r - 1] for r in predicted["row"]]).all()


def test_the_same_times_written_another_way_predict_alike_and_the_script_reads_them_to_the_bit(tmp_path):
    data, _ = race(tmp_path / "race.csv")
    pandas_way, _ = race(tmp_path / "race_td.csv", write=lambda s: f"0 days {hms(s)}")
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="age", train__epochs=2, train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    predicted_alike(folder.path, {"hms": data, "pandas": pandas_way}, tmp_path)
    export_runs_bit_for_bit(folder.path, data, tmp_path)


def test_words_in_a_validation_file_read_to_the_bit_in_the_script(tmp_path):
    def words(s: int) -> str:
        return f"{s // 3600}h {s % 3600 // 60}m {s % 60}s"

    data, _ = race(tmp_path / "race.csv", write=words)
    val, _ = race(tmp_path / "val.csv", write=words, rows=60, seed=4)
    spec = make_spec(tmp_path, data__dataset=str(data), data__val=str(val), train__epochs=2, train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    export_runs_bit_for_bit(folder.path, data, tmp_path)


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data, _ = race(tmp_path / "race.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="age", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(durations=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "durations", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).durations is False
    assert [c["name"] for c in saved["columns"]] == ["km_per_week", "distance"]  # time: left out as dates
    frame, _ = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert not pd.api.types.is_numeric_dtype(frame["time"])
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    fresh = job.plan(make_spec(tmp_path, data__dataset=str(data), data__target="age"))
    assert [c.name for c in fresh.data.pre.columns] == ["km_per_week", "distance", "time"]


def test_a_race_with_runners_who_did_not_finish(tmp_path):
    data, seconds = race(tmp_path / "race.csv", write=lambda s: hms(s) if s % 9 else "DNF")
    frame, fmt = read_table(data)
    assert frame["time"].isna().tolist() == [s % 9 == 0 for s in seconds]
    dnf = sum(s % 9 == 0 for s in seconds)
    assert any(n.endswith(f"; {dnf} cell(s) DNF (no time) read as empty") for n in fmt.notes), fmt.notes


def test_a_models_files_are_read_in_its_forms_or_their_cells_named(tmp_path):
    """A model of splits written m:ss reads a file whose one split is '1:01:10' by refusing that cell, not by
    reading the column anew (in another unit) or blaming a valid cell; a --val file of another form alike."""
    def split(s: int) -> str:
        return f"{s // 60 // 4}:{s // 4 % 60:02d}"

    data, _ = race(tmp_path / "race.csv", write=split)
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="age", train__epochs=1)
    _, folder = job.run(spec, lambda e: None)
    saved = preprocess.reading_of(__import__("torch").load(folder.path / "last.pt", weights_only=True)["preprocessing"])
    assert saved.duration_forms == frozenset({("time", "a:bb")})
    lines = data.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",1:01:10"
    other = tmp_path / "other.csv"
    other.write_text("\n".join(lines) + "\n")
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(other), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 2 and "1:01:10" in done.stderr.splitlines()[0], done.output
    spec = make_spec(tmp_path, data__dataset=str(data), data__val=str(other), data__target="age", train__epochs=1,
                     run__name="val")
    with pytest.raises(Exception) as refused:
        job.run(spec, lambda e: None)
    assert "1:01:10" in str(refused.value)
