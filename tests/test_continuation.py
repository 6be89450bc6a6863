"""ctrl+r after loading a run: the rule (tui/core/continuation.py), on real run folders."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

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


def test_a_run_whose_data_file_moved_resumes_with_its_new_place_given_on_screen(tmp_path, monkeypatch):
    """A loaded run's data file gone from its place: ctrl+r is refused on the Data pane with what to type; the new
    place typed there is the same run (resumed with --dataset NEW), another file where the old one still is is a
    new run, and a new place that is no file changes nothing."""
    old = tmp_path / "old" / "flowers.csv"
    old.parent.mkdir()
    shutil.copy(Path(__file__).parents[1] / "datasets" / "iris.csv", old)
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(old), train__epochs=1), lambda e: None)
    loaded, state = folder.spec(), read_run(folder.path)[0]
    name = folder.path.name
    assert "ctrl+r to train on" in continuation.loaded_message(state, loaded)
    assert "is gone" not in continuation.loaded_message(state, loaded)
    more = loaded.with_overrides({"train.epochs": 2})
    assert continuation.choose(more, loaded, state) == continuation.Choice("resume", 2,
                                                                           f"resuming {name} after epoch 1")

    new = tmp_path / "new" / "flowers.csv"
    new.parent.mkdir()
    shutil.move(old, new)
    told = f"its data file {old} is gone: type where it is now in Path on the Data pane"
    assert continuation.loaded_message(state, loaded).endswith(f"; but {told}")
    assert continuation.choose(more, loaded, state) == continuation.Choice(
        "refuse", message=f"{name}: {told}, then ctrl+r resumes it (or give a Run name for a new run)", pane="data")
    assert "raise Epochs above 1" in continuation.choose(loaded, loaded, state).message  # (that first: it is done)

    stat = os.stat

    def stale(path, *args, **kwargs):  # a network mount gone stale: no answer either way, and no crash
        if str(path) == str(old):
            raise OSError(errno.ESTALE, "Stale file handle")
        return stat(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "stat", stale)
        assert continuation.gone(more, loaded) == [] and "is gone" not in continuation.loaded_message(state, loaded)
        assert continuation.choose(more, loaded, state).action == "resume"  # the worker says what it finds

    given = more.with_overrides({"data.dataset": str(new.relative_to(tmp_path))})  # typed relative to the screen's
    monkeypatch.chdir(tmp_path)
    choice = continuation.choose(given, loaded, state)
    assert choice == continuation.Choice("resume", 2, f"resuming {name} after epoch 1, its data file now {new}",
                                         {"data.dataset": str(new)})
    assert continuation.next_train(given, loaded, state) == (
        f"ctrl+r continues {name} exactly, from epoch 1 to 2, its data file now {new}")
    assert continuation.choose(given.with_overrides({"train.lr": 0.5}), loaded, state).action == "new"
    nowhere = more.with_overrides({"data.dataset": str(tmp_path / "nowhere.csv")})
    assert continuation.choose(nowhere, loaded, state).action == "new"  # (the Data pane refuses it before this)

    shutil.copy(new, old)  # the old place holds a file again: a new place is another run's data
    assert continuation.choose(given, loaded, state).action == "new"


def test_a_run_that_stopped_early_trains_on_to_its_epochs_with_ctrl_r(tmp_path):
    # its Epochs (500) were never reached, so ctrl+r offered to continue "exactly"; the resume it ran had no
    # --epochs, and a resume without one says an early-stopped run has ended: "training did not start"
    spec = make_spec(tmp_path, data__dataset="iris", train__epochs=60, train__patience=1, train__lr=0.5,
                     train__optimizer="SGD", train__momentum=0.9)
    _, folder = job.run(spec, lambda e: None)
    saved, (state, _) = folder.spec(), read_run(folder.path)
    assert state.status == "early_stopped" and state.epoch_done < 60
    choice = continuation.choose(saved, saved, state)
    assert (choice.action, choice.epochs) == ("resume", 60)
    assert choice.message == (f"training {folder.path.name} on from epoch {state.epoch_done} to 60, its patience "
                              "counted afresh")
    assert continuation.next_train(saved, saved, state) == (
        f"ctrl+r continues {folder.path.name} on, its patience counted afresh, from epoch {state.epoch_done} to 60")
    outcome, _ = job.resume(folder.path, lambda e: None, epochs=choice.epochs)  # what ctrl+r then runs
    assert outcome.progress.epoch > state.epoch_done
