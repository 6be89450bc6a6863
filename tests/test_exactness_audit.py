"""What an independent audit of the exactness claims found (each test failed before its fix): the exported script
of a run that stopped early and was resumed with --epochs claimed to be exact, and stopped where the run went on.
(The audit's other findings are tested beside what they fixed: Dropout and the validation DataLoader's draw in
test_exactness, a text column of more than 50 values in test_hostile_inputs.)"""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job

from conftest import make_spec


def test_the_export_of_a_run_resumed_past_its_early_stop_says_it_is_not_exact(tmp_path):
    spec = make_spec(tmp_path, data__dataset="iris", train__patience=1, train__epochs=30, train__optimizer="SGD",
                     train__lr=0.5, train__threads=1, run__name="p")
    outcome, folder = job.run(spec, lambda e: None)
    assert outcome.status == "early_stopped"
    stopped = outcome.progress.epoch
    resumed = CliRunner().invoke(app, ["resume", str(folder.path), "--epochs", str(stopped + 3)])
    assert resumed.exit_code == 0, resumed.output
    assert torch.load(folder.path / "last.pt", weights_only=True)["progress"]["epoch"] > stopped  # it trained on
    made = CliRunner().invoke(app, ["export", str(folder.path), "-o", str(tmp_path / "train.py")])
    assert made.exit_code == 0, made.output
    head = (tmp_path / "train.py").read_text().split("import argparse")[0]
    assert "# NOT EXACT" in head and f"early stopping was reached at epoch {stopped}, and a resume" in head, head


def test_a_run_resumed_from_a_stop_signal_exports_without_that_note(tmp_path):
    """An interrupted run resumed is exact: no patience was reset (the note is for early stopping alone)."""
    from tui.core.export import _patience_counted_afresh

    events = [{"event": "start"}, {"event": "epoch", "epoch": 1, "best": True}, {"event": "epoch", "epoch": 2},
              {"event": "end", "status": "interrupted", "epochs": 2}, {"event": "start", "resumed_from": 2},
              {"event": "epoch", "epoch": 3}, {"event": "epoch", "epoch": 4}, {"event": "end", "status":
              "early_stopped", "epochs": 4}, {"event": "start", "resumed_from": 4}, {"event": "epoch", "epoch": 5,
              "best": True}]
    assert _patience_counted_afresh(events, patience=3) == [4]
    assert _patience_counted_afresh(events, patience=0) == []
    assert _patience_counted_afresh(events[:5], patience=3) == []
