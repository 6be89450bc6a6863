"""Each pane at 100x30 and 80x24, compared with its stored SVG (pytest-textual-snapshot).

The Training and Results panes show a fixed, synthetic run folder, so the pictures depend on
nothing that varies between runs (times, rates, pids). After an intended change to a pane,
look at the new pictures and refresh them with `pytest tests/test_app_snapshots.py -n 0 --snapshot-update`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tui.app.app import TorchTUI
from tui.app.hyper_pane import HyperPane
from tui.core import record
from tui.core.progress import Progress
from tui.core.record import Recorder
from tui.core.runs import RunFolder
from tui.core.spec import Spec

SIZE = (100, 30)
SMALL = (80, 24)  # the smallest terminal the screen is laid out for


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fixed_run(root: Path) -> Path:
    """A finished iris run of 20 epochs x 8 steps, with made-up but smooth curves, written as a
    worker writes it: through the recorder, so it holds exactly the events a real run has."""
    spec = Spec().with_overrides({"train.device": "cpu", "train.epochs": 20, "run.runs_dir": str(root / "checkpoints"),
                                  "run.name": "iris-fixed"})
    folder = RunFolder.create(spec, "iris")
    recorder = Recorder(folder=folder)
    classes = ["setosa", "versicolor", "virginica"]
    recorder.write(record.start(
        pid=0, run_dir=str(folder.path), dataset="iris", task="classification", target="species", classes=classes,
        train_rows=120, val_rows=30, input_shape=[4], outputs=3, loss="CrossEntropy", notices=[], preview=[],
        table=True, layers=[{"layer": "Linear(4, 64)", "shape": [64], "params": 320, "added": False}],
        summary="Linear(4, 64)", params=320, device="cpu (2 threads)", epochs=20, batch_size=16, steps_per_epoch=8,
        optimizer="Adam", lr=0.01, scheduler="none", seed=0, resumed_from=None))
    progress = Progress()
    for epoch in range(1, 21):
        for k in (4, 8):
            step = (epoch - 1) * 8 + k
            recorder.write(record.step(epoch=epoch, step=step, epoch_step=k, loss=1.1 * math.exp(-step / 40) + 0.05,
                                       lr=0.01, samples_per_s=50000.0,
                                       telemetry={"cpu_percent": 100.0, "rss_mb": 300.0}))
        val = 1.0 * math.exp(-epoch / 6) + 0.08
        row = record.epoch(epoch=epoch, step=epoch * 8, train_loss=1.1 * math.exp(-epoch / 5), skipped_steps=None,
                           val_loss=val, metrics={"accuracy": min(0.5 + epoch * 0.03, 0.9667)}, lr=0.01, best=True,
                           best_val_loss=val, seconds=0.01, samples_per_s=12000.0)
        progress.epochs.append(dict(row))
        recorder.write(row)
    confusion = [[10, 0, 0], [0, 9, 1], [0, 0, 10]]
    for model in ("best", "last"):
        recorder.write(record.evaluation(model=model, epoch=20, rows=30, val_loss=0.1094, results={
            "accuracy": 0.9667, "classes": classes, "confusion": confusion, "precision": [1.0, 1.0, 0.9091],
            "recall": [1.0, 0.9, 1.0], "support": [10, 10, 10]}))
    progress.epoch, progress.step, progress.best_epoch, progress.best_loss = 20, 160, 20, 0.1094
    recorder.write(record.end("done", progress, folder.path))
    recorder.close()
    return folder.path


def fresh_app() -> TorchTUI:
    return TorchTUI(Spec().with_overrides({"train.device": "cpu"}))


async def settle(pilot, keys: str = "") -> None:
    app = pilot.app
    for _ in range(200):
        if (app.data is not None and app.data.spec == app.spec.data and (app.attach_to is None or app.followed)
                and app.query_one(HyperPane).devices_known):
            break
        await pilot.pause(0.05)
    else:
        raise AssertionError("the screen did not settle in 10 s: data, run or devices still loading")
    if keys:
        await pilot.press(*keys)
    await pilot.pause(0.3)
    app.clear_notifications()
    await pilot.pause()


# Each pane, at the size the issue tried (100x30) and the smallest the screen is laid out for (80x24);
# the Training and Results panes on the fixed run, the others on a fresh screen (iris).
PANE_KEYS = {"data": "", "model": "2", "hyperparameters": "3", "training": "4", "results": "5"}


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["100x30", "80x24"])
@pytest.mark.parametrize("pane", list(PANE_KEYS))
def test_pane(here, snap_compare, pane, size):
    app = TorchTUI(attach=fixed_run(here)) if pane in ("training", "results") else fresh_app()

    async def before(pilot):
        await settle(pilot, PANE_KEYS[pane])
    assert snap_compare(app, terminal_size=size, run_before=before)


# ---- the Results pane's predictions view (v) --------------------------------------------------------
def fixed_predictions(run: Path) -> None:
    """The fixed run's val_predictions.csv: the real iris rows of its validation split (seed 0), with
    made-up but fixed probabilities, one row wrong as in its confusion matrix; written as the worker
    writes it (val_predictions.to_csv), worst first."""
    import numpy as np
    import pandas as pd

    from tui.core import val_predictions as vp
    from tui.core.data import split_indices
    from tui.core.datasets import data_dir

    iris = pd.read_csv(data_dir() / "iris.csv")
    rows = split_indices(len(iris), 0.2, 0)[1]
    table = iris.iloc[rows].reset_index(drop=True)
    table.insert(0, vp.ROW, rows + 1)
    table = table.rename(columns={"species": vp.TRUE})
    p_true = 0.97 - 0.015 * np.arange(len(table))
    table[vp.PREDICTED] = table[vp.TRUE]
    wrong = int(np.flatnonzero(table[vp.TRUE] == "versicolor")[0])
    table.loc[wrong, vp.PREDICTED] = "virginica"
    p_true[wrong] = 0.31
    table[vp.P_PREDICTED] = np.where(table[vp.TRUE] == table[vp.PREDICTED], p_true, 0.66)
    table[vp.ERROR] = 1.0 - p_true
    table = table.sort_values(vp.ERROR, ascending=False, kind="stable").reset_index(drop=True)
    (run / vp.FILE).write_text(vp.to_csv(table))


def predictions_view():
    async def before(pilot):
        from tui.app.predictions_table import PredictionsTable

        await settle(pilot, "5")
        await pilot.press("v")
        view = pilot.app.query_one(PredictionsTable)
        for _ in range(200):
            if view.data is not None and not view.filling:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
    return before


def test_results_predictions(here, snap_compare):
    run = fixed_run(here)
    fixed_predictions(run)
    assert snap_compare(TorchTUI(attach=run), terminal_size=SIZE, run_before=predictions_view())


def test_results_predictions_80x24(here, snap_compare):
    run = fixed_run(here)
    fixed_predictions(run)
    assert snap_compare(TorchTUI(attach=run), terminal_size=SMALL, run_before=predictions_view())


# ---- the Runs pane (6) --------------------------------------------------------------------------------
def compared_run(root: Path, name: str, lr: float, pace: float) -> Path:
    """A finished iris run of 30 epochs with made-up but fixed curves (`pace` sets how fast its loss
    falls), written through the recorder as a worker writes it."""
    spec = Spec().with_overrides({"train.device": "cpu", "train.epochs": 30, "train.lr": lr,
                                  "run.runs_dir": str(root / "checkpoints"), "run.name": name})
    folder = RunFolder.create(spec, "iris")
    recorder = Recorder(folder=folder)
    recorder.write(record.start(
        pid=0, run_dir=str(folder.path), dataset="iris", task="classification", target="species",
        classes=["setosa", "versicolor", "virginica"], train_rows=120, val_rows=30, input_shape=[4], outputs=3,
        loss="CrossEntropy", notices=[], preview=[], table=True, layers=[], summary="Linear(4, 64)", params=320,
        device="cpu", epochs=30, batch_size=16, steps_per_epoch=8, optimizer="Adam", lr=lr, scheduler="none",
        seed=0, resumed_from=None))
    progress, best = Progress(), math.inf
    for epoch in range(1, 31):
        val = math.exp(-epoch * pace / 6) + 0.05 + 0.002 * max(0, epoch - 20)  # overfits after epoch 20
        best_now = val < best
        best = min(best, val)
        row = record.epoch(epoch=epoch, step=epoch * 8, train_loss=1.1 * math.exp(-epoch * pace / 5),
                           skipped_steps=None, val_loss=val, metrics={"accuracy": min(0.4 + epoch * 0.03 * pace, 0.97)},
                           lr=lr, best=best_now, best_val_loss=best, seconds=0.25, samples_per_s=12000.0)
        if best_now:
            progress.best_epoch, progress.best_loss = epoch, val
        progress.epochs.append(dict(row))
        recorder.write(row)
    progress.epoch, progress.step = 30, 240
    recorder.write(record.end("done", progress, folder.path))
    recorder.close()
    return folder.path


def runs_view():
    async def before(pilot):
        from tui.app.runs_pane import RunsPane

        await settle(pilot, "6")
        pane = pilot.app.query_one(RunsPane)
        for _ in range(200):
            if pane.loaded and len(pane.runs) == 2:
                break
            await pilot.pause(0.05)
        await pilot.press("s")  # sorted by name
        pilot.app.query_one("#runs-list").move_cursor(row=0)
        await pilot.press("space", "down", "space")  # both selected
        await pilot.pause(0.3)
        pilot.app.clear_notifications()
        await pilot.pause()
    return before


def test_runs_pane(here, snap_compare):
    compared_run(here, "iris-lr-0.01", 0.01, 1.0)
    compared_run(here, "iris-lr-0.1", 0.1, 1.6)
    assert snap_compare(TorchTUI(Spec().with_overrides({"train.device": "cpu"}), preset=True), terminal_size=SIZE,
                        run_before=runs_view())


def test_runs_pane_80x24(here, snap_compare):
    compared_run(here, "iris-lr-0.01", 0.01, 1.0)
    compared_run(here, "iris-lr-0.1", 0.1, 1.6)
    assert snap_compare(TorchTUI(Spec().with_overrides({"train.device": "cpu"}), preset=True), terminal_size=SMALL,
                        run_before=runs_view())
