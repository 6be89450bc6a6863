"""Each pane at 100x30, compared with its stored SVG (pytest-textual-snapshot).

The Training and Results panes show a fixed, synthetic run folder, so the pictures depend on
nothing that varies between runs (times, rates, pids). After an intended change to a pane,
look at the new pictures and refresh them with `pytest tests/test_app_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tui.app.app import TorchTUI
from tui.core import record
from tui.core.progress import Progress
from tui.core.record import Recorder
from tui.core.runs import RunFolder
from tui.core.spec import Spec

SIZE = (100, 30)


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
        if app.data is not None and app.data.spec == app.spec.data and (app.attach_to is None or app.followed):
            break
        await pilot.pause(0.05)
    if keys:
        await pilot.press(*keys)
    await pilot.pause(0.3)
    app.clear_notifications()
    await pilot.pause()


def test_data_pane(here, snap_compare):
    assert snap_compare(fresh_app(), terminal_size=SIZE, run_before=settle)


def test_model_pane(here, snap_compare):
    async def before(pilot):
        await settle(pilot, "2")
    assert snap_compare(fresh_app(), terminal_size=SIZE, run_before=before)


def test_hyperparameters_pane(here, snap_compare):
    async def before(pilot):
        await settle(pilot, "3")
    assert snap_compare(fresh_app(), terminal_size=SIZE, run_before=before)


def test_training_pane(here, snap_compare):
    run = fixed_run(here)

    async def before(pilot):
        await settle(pilot, "4")
    assert snap_compare(TorchTUI(attach=run), terminal_size=SIZE, run_before=before)


def test_results_pane(here, snap_compare):
    run = fixed_run(here)

    async def before(pilot):
        await settle(pilot, "5")
    assert snap_compare(TorchTUI(attach=run), terminal_size=SIZE, run_before=before)
