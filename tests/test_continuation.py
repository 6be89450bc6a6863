"""ctrl+r after loading a run: the rule (tui/core/continuation.py), on real run folders."""

from __future__ import annotations

import pytest

from tui.core import continuation, job
from tui.core.follow import read_run

from conftest import make_spec


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    spec = make_spec(tmp_path_factory.mktemp("c"), data__dataset="iris", train__epochs=2)
    _, folder = job.run(spec, lambda e: None)
    return folder.spec(), read_run(folder.path)[0]


def test_nothing_loaded_starts_a_new_run(finished):
    spec, _ = finished
    assert continuation.choose(spec, None, None) == continuation.Choice("new")


def test_a_finished_run_continues_only_with_more_epochs(finished):
    spec, state = finished
    assert state.status == "done" and state.epoch_done == 2
    refused = continuation.choose(spec, spec, state)
    assert refused.action == "refuse" and "raise Epochs above 2" in refused.message
    more = continuation.choose(spec.with_overrides({"train.epochs": 5}), spec, state)
    assert (more.action, more.epochs) == ("resume", 5)
    assert f"resuming {state.run_dir.name} after epoch 2" == more.message
    assert "finished; raise Epochs" in continuation.loaded_message(state, spec)


def test_any_other_change_starts_a_new_run(finished):
    spec, state = finished
    for change in ({"train.lr": 0.5}, {"model.layers": "Linear(8), ReLU()"}, {"data.val_split": 0.3},
                   {"train.epochs": 5, "train.seed": 1}):
        choice = continuation.choose(spec.with_overrides(change), spec, state)
        assert choice.action == "new" and state.run_dir.name in choice.message, change


def test_an_interrupted_run_resumes_with_its_own_epochs(finished):
    spec, state = finished
    state.worker_gone("interrupted", "killed")
    try:
        choice = continuation.choose(spec, spec, state)
        assert (choice.action, choice.epochs) == ("resume", None)
        assert "ctrl+r resumes exactly" in continuation.loaded_message(state, spec)
    finally:
        state.status = "done"
