"""Columns to doubt, warned about before training and never dropped: features that give the target
away (leakage.py) and integers that look like ids (suspect_columns.py). Every file is made here;
the honest side is checked on every built-in dataset and on strong honest features beside the leaks.
The warnings reach the console, the run's start event and the Data pane."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from textual.widgets import Select, Static
from typer.testing import CliRunner

from tui.app.app import TorchTUI
from tui.cli import app as cli
from tui.core.data import prepare, split_indices
from tui.core.datasets import BUILTINS
from tui.core.event_schema import problems
from tui.core.spec import DataSpec

from test_app import cpu_spec, data_loaded, in_tmp, running, text_of, wait_for  # noqa: F401

N = 600


def warned(path: Path, **data) -> dict[str, dict[str, str]]:
    """The warnings preparing this file gives, by column."""
    prepared = prepare(DataSpec(dataset=str(path), **data), 0)
    by_column = {w["column"]: w for w in prepared.warnings}
    assert len(by_column) == len(prepared.warnings)
    for w in prepared.warnings:  # each also a notice, one line, naming the way out
        assert w["message"] in prepared.notices and "\n" not in w["message"]
        assert f"--drop {w['column']}" in w["message"]
    assert set(by_column) <= set(prepared.pre.feature_names) | {c.name for c in prepared.pre.columns}, \
        "a warned column is still a feature: warn, never drop"
    return by_column


def birth_weights(tmp_path: Path) -> Path:
    """A regression file: birth weight in grams, honest features, and every kind of leak of it."""
    rng = np.random.default_rng(5)
    bwt = rng.normal(3200, 500, N).round()
    bwt[:3] = [2500, 2499, 2501]  # the flag's edge, in the file
    noisy = bwt.copy()
    noisy[rng.choice(N, 2, replace=False)] += 400  # a copy with two typos
    frame = pd.DataFrame({
        "gestation": 280 + (bwt - 3200) / 40 + rng.normal(0, 12, N),  # strong and honest
        "mother_age": rng.integers(16, 45, N),
        "smoker": rng.integers(0, 2, N),
        "parity": rng.choice(["first", "second", "later"], N),
        "scale_reading": bwt + rng.normal(0, 150, N),  # a noisy measurement of it: strong, not determined
        "bwt_copy": noisy,
        "bwt_lb": bwt / 453.592,  # a unit conversion
        "log_bwt": np.log(bwt),
        "low": (bwt < 2500).astype(int),  # the low-birth-weight flag
        "bwt_100": (bwt / 100).round() * 100,  # a rounded copy
        "band": np.where(bwt < 2500, "low", np.where(bwt < 4000, "normal", "high")),  # a text binning
        "bwt": bwt,
    })
    path = tmp_path / "births.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_copy_a_conversion_a_threshold_and_derived_copies_of_a_regression_target_are_flagged(tmp_path):
    found = warned(birth_weights(tmp_path), target="bwt")
    assert set(found) == {"bwt_copy", "bwt_lb", "log_bwt", "low", "bwt_100", "band"}
    assert all(w["kind"] == "leak" for w in found.values())
    assert found["bwt_copy"]["why"].startswith("equal to the target in 99.")
    assert found["bwt_lb"]["why"].startswith("a monotone function of the target: sorted by bwt, it rises in 100%")
    assert "it rises in 100%" in found["log_bwt"]["why"]
    assert found["low"]["why"] == "a threshold of the target: low is 1 exactly where bwt < 2500 (100% of training rows)"
    assert found["band"]["why"].startswith("a binning of the target: each of its 3 values covers one range of bwt")
    assert found["low"]["message"] == (f"warning: column low may leak the target: {found['low']['why']}; "
                                       "--drop low removes it")


def test_class_labels_copied_coded_or_cut_from_a_column_are_flagged(tmp_path):
    rng = np.random.default_rng(7)
    species = rng.choice(["setosa", "versicolor", "virginica"], N)
    length = np.select([species == "setosa", species == "versicolor"], [1.5, 4.3], 5.6) + rng.normal(0, 0.45, N)
    frame = pd.DataFrame({"petal_length": length,  # strong and honest: the classes overlap
                          "width": rng.normal(size=N),
                          "label_text": np.char.add("species: ", species),  # a text copy of the label
                          "species_code": pd.Series(species).map({"setosa": 0, "versicolor": 1, "virginica": 2}),
                          "species": species})
    path = tmp_path / "flowers.csv"
    frame.to_csv(path, index=False)
    found = warned(path, target="species")
    assert set(found) == {"label_text", "species_code"}
    assert found["label_text"]["why"].startswith("its values map one-to-one onto the classes of species (")
    assert "'species: setosa' -> 'setosa'" in found["label_text"]["why"]
    assert found["species_code"]["why"].endswith("100% of training rows)")

    score = rng.normal(60, 15, N)  # a pass / fail target cut from a score kept as a feature
    passed = pd.DataFrame({"hours": score / 10 + rng.normal(0, 1, N), "score": score.round(1),
                           "passed": np.where(score.round(1) >= 50, "yes", "no")})
    passed.to_csv(tmp_path / "exam.csv", index=False)
    found = warned(tmp_path / "exam.csv", target="passed")
    assert list(found) == ["score"]
    assert found["score"]["why"] == ("the target is a threshold of it: passed is 'no' exactly where score < 50 "
                                     "(100% of training rows)")


def test_only_the_training_rows_are_looked_at(tmp_path):
    """A column equal to the target on the validation rows alone is not found (no peeking); equal on the
    training rows alone, it is."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=N)
    train_rows, val_rows = split_indices(N, 0.2, 0)
    in_val, in_train = rng.normal(size=N), rng.normal(size=N)
    in_val[val_rows], in_train[train_rows] = y[val_rows], y[train_rows]
    pd.DataFrame({"x": rng.normal(size=N), "in_val": in_val, "in_train": in_train, "y": y}).to_csv(
        tmp_path / "split.csv", index=False)
    found = warned(tmp_path / "split.csv", target="y", val_split=0.2)
    assert list(found) == ["in_train"] and found["in_train"]["why"].startswith("equal to the target in 100%")


@pytest.mark.parametrize("name", list(BUILTINS))
def test_no_false_alarm_on_a_built_in_dataset(name):
    """Honest strong features (iris petal length, digits pixels, breast_cancer, wine, diabetes) are kept quiet."""
    prepared = prepare(DataSpec(dataset=name), 0)
    assert prepared.warnings == [] and not any(n.startswith("warning: column") for n in prepared.notices)


def test_no_false_alarm_on_any_column_of_the_real_built_ins_as_target():
    for name in ("iris", "wine", "breast_cancer", "diabetes"):
        for column in BUILTINS[name].frame(0).columns:
            assert prepare(DataSpec(dataset=name, target=column), 0).warnings == [], (name, column)


def test_a_small_file_of_all_different_values_proves_nothing(tmp_path):
    """40 rows of an honest integer column, every value different: along the sorted target it changes at
    every row, as it must, which is no sign of a binning."""
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.permutation(40) * 3, "z": rng.normal(size=40).round(2),
                  "y": rng.normal(size=40)}).to_csv(tmp_path / "small.csv", index=False)
    assert warned(tmp_path / "small.csv", target="y") == {}
    # 40 classes of one row each: any column of different values "maps onto" them, which proves nothing
    pd.DataFrame({"x": np.arange(40) * 3, "y": rng.permutation(40)}).to_csv(tmp_path / "ones.csv", index=False)
    assert warned(tmp_path / "ones.csv", target="y", task="classification", val_split=0) == {}


def test_panel_and_id_numbers_are_kept_but_warned_about_and_row_counts_are_not(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"individual": np.repeat(np.arange(1, N // 4 + 1), 4),  # 1,1,1,1,2,2,2,2,...
                          "visit": np.tile([1, 2, 3, 4], N // 4),
                          "step": np.arange(N),  # a time step: data
                          "person": rng.choice(np.arange(100_000, 1_000_000), N, replace=False),
                          "age": rng.integers(18, 90, N),
                          "pixels": rng.integers(0, 17, N),
                          "y": rng.normal(size=N)})
    frame.to_csv(tmp_path / "panel.csv", index=False)
    prepared = prepare(DataSpec(dataset=str(tmp_path / "panel.csv"), target="y"), 0)
    found = {w["column"]: w for w in prepared.warnings}
    assert set(found) == {"individual", "person"} and {w["kind"] for w in found.values()} == {"id"}
    assert found["individual"]["why"] == ("looks like a panel id: its values come in blocks of 4 rows "
                                          "(1, 1, 1, 1, 2, 2, 2, 2, ...)")
    assert found["person"]["why"] == f"looks like an id: {N} different integers of 6 digits in {N} rows"
    assert "--group individual keeps them on one side of the split" in found["individual"]["message"]
    assert {"individual", "person", "step", "visit"} <= set(prepared.pre.feature_names)  # kept: data.py decides


def test_the_warning_is_one_console_line_and_in_the_start_event(tmp_path):
    path = birth_weights(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["run", "--dataset", str(path), "--target", "bwt", "--epochs", "1", "--device", "cpu",
                            "--layers", "Linear(4)", "--runs-dir", "runs", "--name", "births"])
    assert r.exit_code == 0, r.output
    line = ("  warning: column low may leak the target: a threshold of the target: low is 1 exactly where "
            "bwt < 2500 (100% of training rows); --drop low removes it")
    assert line in r.stdout.splitlines()
    assert sum(" may leak the target: " in s for s in r.stdout.splitlines()) == 6
    events = [json.loads(s) for s in (tmp_path / "runs" / "births" / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    assert problems(start) == []
    assert [w["column"] for w in start["warnings"]] == ["bwt_copy", "bwt_lb", "log_bwt", "low", "bwt_100", "band"]
    assert all(w["message"] in start["notices"] for w in start["warnings"])

    # The user decides: dropping them, the warnings go.
    r = runner.invoke(cli, ["run", "--dataset", str(path), "--target", "bwt", "--epochs", "1", "--device", "cpu",
                            "--layers", "Linear(4)", "--runs-dir", "runs", "--name", "dropped",
                            "--drop", "bwt_copy,bwt_lb,log_bwt,low,bwt_100,band"])
    assert r.exit_code == 0, r.output
    assert "warning: column" not in r.stdout


async def test_the_data_pane_shows_the_warnings_without_scrolling_at_80x24(tmp_path):
    path = birth_weights(tmp_path)
    app = TorchTUI(cpu_spec(**{"data.dataset": str(path), "data.target": "bwt"}))
    async with running(app, (80, 24)) as pilot:
        await data_loaded(app, pilot)
        box = app.query_one("#data-warnings", Static)
        lines = text_of(box).splitlines()
        # every column named in the first line, which wraps to 3 lines at this width and shows without scrolling
        assert lines[0] == ("! may leak the target: bwt_copy, bwt_lb, log_bwt, low, bwt_100, band "
                            "(untick in Features to drop)")
        assert box.region.y + 3 <= app.size.height - 1  # above the key bar
        assert "  low: a threshold of the target: low is 1 exactly where bwt < 2500 (100% of training rows)" in lines
        assert str(box.styles.color) != str(app.query_one("#data-notices", Static).styles.color)  # warning colour

        # Another target, which none of them determines (gestation is not a function of the weight): none shown.
        app.query_one("#data-target", Select).value = "gestation"
        await wait_for(pilot, lambda: app.data.spec.target == "gestation" and app.data.prepared is not None,
                       what="target change")
        assert app.data.prepared.warnings == [] and text_of(box) == ""
