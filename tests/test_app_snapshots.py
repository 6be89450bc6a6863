"""Each pane at 100x30, compared with its stored SVG (pytest-textual-snapshot).

The Training and Results panes show a fixed, synthetic run folder, so the pictures depend on
nothing that varies between runs (times, rates, pids). After an intended change to a pane,
look at the new pictures and refresh them with `pytest tests/test_app_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tui.app.app import TorchTUI
from tui.core.spec import Spec

SIZE = (100, 30)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fixed_run(root: Path) -> Path:
    """A finished iris run of 20 epochs x 8 steps, with made-up but smooth curves."""
    spec = Spec().with_overrides({"train.device": "cpu", "train.epochs": 20})
    run = root / "checkpoints" / "iris-fixed"
    run.mkdir(parents=True)
    (run / "spec.toml").write_text(spec.to_toml())
    events = [{"event": "start", "time": 0.0, "pid": 0, "run_dir": str(run), "dataset": "iris",
               "task": "classification", "target": "species", "classes": ["setosa", "versicolor", "virginica"],
               "train_rows": 120, "val_rows": 30, "inputs": 4, "outputs": 3, "epochs": 20, "batch_size": 16,
               "steps_per_epoch": 8, "device": "cpu (2 threads)", "optimizer": "Adam", "lr": 0.01}]
    for epoch in range(1, 21):
        for k in (4, 8):
            step = (epoch - 1) * 8 + k
            events.append({"event": "step", "epoch": epoch, "step": step, "epoch_step": k,
                           "loss": 1.1 * math.exp(-step / 40) + 0.05, "lr": 0.01, "samples_per_s": 50000.0,
                           "cpu_percent": 100.0, "rss_mb": 300.0})
        val = 1.0 * math.exp(-epoch / 6) + 0.08
        events.append({"event": "epoch", "epoch": epoch, "step": epoch * 8, "train_loss": 1.1 * math.exp(-epoch / 5),
                       "val_loss": val, "accuracy": min(0.5 + epoch * 0.03, 0.9667), "lr": 0.01, "best": True,
                       "best_val_loss": val, "seconds": 0.01, "samples_per_s": 12000.0})
    confusion = [[10, 0, 0], [0, 9, 1], [0, 0, 10]]
    for model in ("best", "last"):
        events.append({"event": "evaluation", "model": model, "epoch": 20, "split": "validation", "rows": 30,
                       "val_loss": 0.1094, "accuracy": 0.9667, "classes": ["setosa", "versicolor", "virginica"],
                       "confusion": confusion, "precision": [1.0, 1.0, 0.9091], "recall": [1.0, 0.9, 1.0],
                       "support": [10, 10, 10]})
    events.append({"event": "end", "status": "done", "epochs": 20, "best_epoch": 20, "best_val_loss": 0.1094})
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


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
