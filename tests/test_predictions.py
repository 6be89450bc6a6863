"""Look at predictions: the validation rows of the best model, in their file's own units, worst first.

Real short runs on built-in data (iris: classification, diabetes: regression) and on files made from
them; the table is checked against the original file (same values, not standardised), against
`torchtui predict` on the same rows, and against the run's own validation split. Then the Results
pane's predictions view, driven by the pilot after a real run from the screen."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from textual.widgets import DataTable, Static

from tui.app.app import TorchTUI
from tui.app.predictions_table import PredictionsTable
from tui.app.results_pane import ResultsPane
from tui.core import checkpoint, val_predictions
from tui.core.data import split_indices
from tui.core.datasets import data_dir
from tui.core.errors import UserError
from tui.core.val_predictions import ERROR, FILE, P_PREDICTED, PREDICTED, ROW, TRUE

import warm_cli
from conftest import train

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import Notices, cpu_spec, data_loaded, in_tmp, run_events, running, text_of, wait_for  # noqa: F401

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def exact(a, b) -> bool:
    return torch.equal(torch.tensor(np.asarray(a, dtype=np.float64)), torch.tensor(np.asarray(b, dtype=np.float64)))


def cli_predict(best: Path, rows: pd.DataFrame, tmp: Path) -> pd.DataFrame:
    """`torchtui predict` on these rows, as a user would run it."""
    rows.to_csv(tmp / "rows.csv", index=False)
    warm_cli.run([sys.executable, "-m", "tui", "predict", str(best), str(tmp / "rows.csv"), "-o", str(tmp / "p.csv")],
                 check=True, capture_output=True, timeout=120)
    return pd.read_csv(tmp / "p.csv")


def test_iris_rows_are_the_validation_split_in_the_files_units_and_predict_agrees(tmp_path):
    _, folder, events = train(tmp_path, train__epochs=3, train__patience=0, train__seed=3)
    table = val_predictions.read(folder.path / FILE)  # written by the worker at the run's end
    start = next(e for e in events if e["event"] == "start")
    assert len(table) == start["val_rows"] == 30
    assert list(table.columns) == [ROW, *FEATURES, TRUE, PREDICTED, P_PREDICTED, ERROR]
    _, val_rows = split_indices(150, 0.2, 3)  # the run's seeded split
    assert sorted(table[ROW]) == [int(i) + 1 for i in val_rows]
    iris = pd.read_csv(data_dir() / "iris.csv")
    original = iris.iloc[table[ROW] - 1].reset_index(drop=True)
    for c in FEATURES:  # the file's values, not standardised ones
        assert exact(table[c], original[c]), c
    assert list(table[TRUE]) == list(original["species"])
    errors = table[ERROR].to_numpy()
    assert (np.diff(errors) <= 0).all() and errors[0] == errors.max() > errors.min()  # worst first
    predicted = cli_predict(folder.path / "best.pt", original[FEATURES], tmp_path)
    assert list(table[PREDICTED]) == list(predicted["species"])
    p_columns = predicted[[f"p_{c}" for c in ("setosa", "versicolor", "virginica")]].to_numpy()
    index = {"setosa": 0, "versicolor": 1, "virginica": 2}
    every = np.arange(len(table))
    p_true = p_columns[every, [index[t] for t in table[TRUE]]].astype(np.float32)
    p_predicted = p_columns[every, [index[p] for p in table[PREDICTED]]].astype(np.float32)
    assert exact(table[P_PREDICTED].to_numpy(np.float32), p_predicted)
    assert exact(table[ERROR], 1.0 - p_true.astype(np.float64))
    # the same table from best.pt, as the screen computes it for a run without the file
    assert val_predictions.compute(checkpoint.load(folder.path / "best.pt")).equals(table)


def test_diabetes_regression_rows_true_values_and_predictions(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="diabetes", train__epochs=3, train__patience=0)
    table = val_predictions.read(folder.path / FILE)
    start = next(e for e in events if e["event"] == "start")
    assert len(table) == start["val_rows"] > 50
    diabetes = pd.read_csv(data_dir() / "diabetes.csv")
    features = [c for c in diabetes.columns if c != "progression"]
    assert list(table.columns) == [ROW, *features, TRUE, PREDICTED, ERROR]
    original = diabetes.iloc[table[ROW] - 1].reset_index(drop=True)
    for c in features:
        assert exact(table[c], original[c]), c
    assert exact(table[TRUE], original["progression"])  # in the target's own units
    predicted = cli_predict(folder.path / "best.pt", original[features], tmp_path)
    assert exact(table[PREDICTED], predicted["progression"])
    assert exact(table[ERROR], (predicted["progression"] - original["progression"]).abs())
    assert (np.diff(table[ERROR].to_numpy()) <= 0).all()
    assert table[ERROR].max() > 1.0  # units of the target (tens), not of its standardised scale
    mae = next(e for e in events if e["event"] == "evaluation" and e["model"] == "best")["mae"]
    assert table[ERROR].mean() == pytest.approx(mae, rel=1e-5)


def test_several_targets_each_get_their_true_and_predicted_values(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset="diabetes", data__target="progression,bmi", train__epochs=2,
                         train__patience=0)
    table = val_predictions.read(folder.path / FILE)
    assert list(table.columns[-5:]) == ["true_progression", "predicted_progression", "true_bmi", "predicted_bmi",
                                        ERROR]
    diabetes = pd.read_csv(data_dir() / "diabetes.csv")
    original = diabetes.iloc[table[ROW] - 1].reset_index(drop=True)
    assert exact(table["true_bmi"], original["bmi"]) and "bmi" not in table.columns[:-5]
    both = (table["predicted_progression"] - table["true_progression"]).abs() + \
        (table["predicted_bmi"] - table["true_bmi"]).abs()
    assert np.allclose(table[ERROR], both / 2, rtol=1e-12) and (np.diff(table[ERROR].to_numpy()) <= 0).all()


def test_row_numbers_survive_dropped_rows_and_a_separate_validation_file(tmp_path):
    iris = pd.read_csv(data_dir() / "iris.csv")
    holed = iris.copy()
    holed.insert(0, "id", np.arange(1000, 1150))  # an identifier: left out of the features, kept beside the rows
    holed.loc[[0, 5, 40, 77], "sepal_width"] = np.nan  # dropped: the rows after them move up in the prepared data
    holed.to_csv(tmp_path / "holed.csv", index=False)
    _, folder, _ = train(tmp_path, data__dataset=str(tmp_path / "holed.csv"), data__missing="drop",
                         train__epochs=2, train__patience=0)
    table = val_predictions.read(folder.path / FILE)
    assert len(table) == round(146 * 0.2) and not set(table[ROW]) & {1, 6, 41, 78}
    assert list(table.columns[:2]) == [ROW, "id"] and list(table["id"]) == list(table[ROW] + 999)
    original = iris.iloc[table[ROW] - 1].reset_index(drop=True)
    for c in FEATURES:
        assert exact(table[c], original[c]), c
    assert list(table[TRUE]) == list(original["species"])

    iris.iloc[:120].to_csv(tmp_path / "train.csv", index=False)
    iris.iloc[120:].to_csv(tmp_path / "val.csv", index=False)
    _, folder, _ = train(tmp_path, data__dataset=str(tmp_path / "train.csv"), data__val=str(tmp_path / "val.csv"),
                         train__epochs=2, train__patience=0)
    table = val_predictions.read(folder.path / FILE)
    assert sorted(table[ROW]) == list(range(1, 31))  # rows of the validation file
    original = iris.iloc[120:].reset_index(drop=True).iloc[table[ROW] - 1]
    assert exact(table["petal_length"], original["petal_length"])


def test_a_run_without_the_file_is_computed_from_best_pt_and_a_changed_file_is_refused(tmp_path):
    iris = pd.read_csv(data_dir() / "iris.csv")
    iris.to_csv(tmp_path / "flowers.csv", index=False)
    _, folder, _ = train(tmp_path, data__dataset=str(tmp_path / "flowers.csv"), train__epochs=2, train__patience=0)
    written = val_predictions.for_run(folder.path)
    assert written.origin == FILE
    (folder.path / FILE).unlink()  # an older run, or one stopped before its end
    computed = val_predictions.for_run(folder.path)
    assert computed.origin == "best.pt" and computed.table.equals(written.table)
    assert val_predictions.compute(checkpoint.load(folder.path / "best.pt"), max_rows=5).equals(written.table.head(5))

    os.utime(folder.path / "best.pt")
    iris.loc[3, "sepal_length"] = 9.9  # the data changed since the run: its rows cannot be found again
    iris.to_csv(tmp_path / "flowers.csv", index=False)
    with pytest.raises(UserError, match="changed since"):
        val_predictions.for_run(folder.path)


def test_a_dataset_class_run_has_no_table(tmp_path):
    (tmp_path / "points.py").write_text(
        "import torch\n"
        "class Points(torch.utils.data.Dataset):\n"
        "    def __init__(self):\n"
        "        g = torch.Generator().manual_seed(0)\n"
        "        self.x = torch.randn(60, 3, generator=g)\n"
        "        self.y = (self.x.sum(1) > 0).long()\n"
        "    def __len__(self):\n"
        "        return len(self.x)\n"
        "    def __getitem__(self, i):\n"
        "        return self.x[i], self.y[i]\n")
    sys.path.insert(0, str(tmp_path))
    try:
        _, folder, _ = train(tmp_path, data__dataset="points:Points", train__epochs=1, train__patience=0)
    finally:
        sys.path.remove(str(tmp_path))
    assert not (folder.path / FILE).exists()
    with pytest.raises(UserError, match="Dataset class"):
        val_predictions.for_run(folder.path)


# ---- the Results pane ---------------------------------------------------------------------------
def table_rows(app) -> list[list]:
    table = app.query_one("#predictions-table", DataTable)
    return [table.get_row_at(i) for i in range(table.row_count)]


def column(app, name: str) -> list:
    table = app.query_one("#predictions-table", DataTable)
    index = [str(c.key.value) for c in table.ordered_columns].index(name)
    return [row[index].key[-1] for row in table_rows(app)]


async def test_results_pane_shows_the_validation_rows_worst_first_after_a_real_run():
    app = TorchTUI(cpu_spec(**{"train.epochs": 4}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.status == "done", what="the run's end")
        run_dir = app.followed.run_dir
        assert (run_dir / FILE).exists()
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.focused is app.query_one("#results-left"), what="the summary's focus")
        await pilot.press("v")
        view = app.query_one(PredictionsTable)
        await wait_for(pilot, lambda: view.data is not None and not view.filling, what="the predictions table")
        assert app.focused is app.query_one("#predictions-table", DataTable)
        assert not app.query_one("#results-top").display
        errors = column(app, ERROR)
        assert len(errors) == app.followed.start["val_rows"] == 30
        assert errors[0] == max(errors) and errors == sorted(errors, reverse=True)
        written = val_predictions.read(run_dir / FILE)
        assert column(app, ROW) == list(written[ROW])
        caption = text_of(app.query_one("#predictions-caption", Static))
        assert "30 validation rows" in caption and "sorted by error ▼" in caption and FILE in caption

        wrong = int((written[TRUE] != written[PREDICTED]).sum())
        await pilot.press("w")  # the wrongly predicted rows only
        await wait_for(pilot, lambda: not view.filling, what="the wrong rows")
        assert len(table_rows(app)) == wrong and "wrong only" in text_of(app.query_one("#predictions-caption"))
        await pilot.press("w")
        await wait_for(pilot, lambda: len(table_rows(app)) == 30, what="all rows again")

        await pilot.click("#predictions-table", offset=(3, 0))  # the "row" header: by row number, up
        assert column(app, ROW) == sorted(written[ROW])
        await pilot.click("#predictions-table", offset=(3, 0))  # again: down
        assert column(app, ROW) == sorted(written[ROW], reverse=True)
        table = app.query_one("#predictions-table", DataTable)
        table.cursor_coordinate = table.cursor_coordinate._replace(column=5)  # sepal_length
        await pilot.press("s")
        lengths = column(app, "sepal_length")
        assert lengths == sorted(lengths) and lengths != list(written["sepal_length"])
        await pilot.press("e")
        assert column(app, ERROR) == errors

        (run_dir / FILE).unlink()  # a run without the file: computed from best.pt, the same rows
        await wait_for(pilot, lambda: "from best.pt" in text_of(app.query_one("#predictions-caption")),
                       what="the table from best.pt")
        await wait_for(pilot, lambda: not view.filling, what="the rows from best.pt")
        assert column(app, ROW) == list(written[ROW])
        await pilot.press("v")
        assert app.query_one("#results-top").display and not view.display
        assert app.focused is app.query_one("#results-left")


async def test_the_help_screen_lists_the_results_keys():
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen.query("#help-table"), 10, "the help screen")
        text = text_of(app.screen.query_one("#help-table", Static))
        assert "Results pane" in text
        results = text[text.index("Results pane"):]
        for binding in ResultsPane.BINDINGS + PredictionsTable.BINDINGS:
            assert re.search(rf"^\s*{binding.key}( \(predictions\))?\s+{re.escape(binding.tooltip)}", results, re.M), \
                binding.key


def test_a_file_without_header_or_label_is_read_by_the_training_files_places(tmp_path):
    """A model trained on a file without a header line whose label is its first column (MNIST as CSV, UCI's
    files): a file of the features alone read as col1..col4 where the model knows col2..col5, and was refused as
    lacking col5, with "pass --header" as the fix. It is read by the training file's places, and said so."""
    from tui.core.predict import Predictor

    iris = pd.read_csv(data_dir() / "iris.csv")
    rows = iris[["species", *iris.columns[:4]]]
    rows.to_csv(tmp_path / "train.csv", header=False, index=False)
    rows.iloc[:, 1:].to_csv(tmp_path / "features.csv", header=False, index=False)
    _, folder, _ = train(tmp_path, data__dataset=str(tmp_path / "train.csv"), data__header="no",
                         data__target="col1", train__epochs=3)
    model = Predictor.load(folder.path / "best.pt")
    full = model.predict_path(tmp_path / "train.csv")
    alone = model.predict_path(tmp_path / "features.csv")
    assert alone.notes[-1] == ("4 columns, no header line and no col1: read as the training file's columns "
                               "without it (col2..col5)")
    pd.testing.assert_frame_equal(alone.table, full.table)
    assert (alone.table["col1"] == iris["species"]).mean() > 0.8
    # a file that has lost a feature as well is still refused as lacking it
    rows.iloc[:, 1:4].to_csv(tmp_path / "short.csv", header=False, index=False)
    with pytest.raises(UserError, match="lacks the feature column"):
        model.predict_path(tmp_path / "short.csv")
