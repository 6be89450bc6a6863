"""An epoch's save written behind: on a GPU, the checkpoint of an epoch is written by a thread while the next epoch
trains (Recorder.save, train.saves_behind), since a wide model's 26 MB took 40 ms an epoch on an H200 box, a third
of its bf16 epoch. CI has no GPU: these runs turn it on for the CPU (`behind`), where it is otherwise off.

What must hold: the same files and events as saves written in line; training really goes on meanwhile; a save that
fails in the thread fails the run as an in-line one does, saying what is on disk, and a resume finishes it exactly;
a stop asked while a save is being written saves its own position after it, never under it. (The kill -9 at every
write of such a run: test_kill_at_every_write.py.)
"""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest
import torch

from tui.core import checkpoint, job, train
from tui.core.errors import Interrupted, TrainingFailed

from conftest import make_spec

IRIS = dict(data__dataset="iris", train__epochs=5, train__seed=3, train__batch_size=16, train__threads=1,
            model__layers="Linear(16), ReLU()")
EPOCHS = 5


@pytest.fixture
def behind(monkeypatch):
    monkeypatch.setattr(train, "saves_behind", lambda device_type, world_size: True)


def saves(events: list[dict]) -> list[tuple[str, int, int]]:
    return [(e["which"], e["epoch"], e["step"]) for e in events if e["event"] == "checkpoint"]


def same_state(a_path, b_path) -> bool:
    a, b = checkpoint.load(a_path), checkpoint.load(b_path)
    model = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    moments = all(torch.equal(x, y) for i in a["optimizer"]["state"] for k, x in a["optimizer"]["state"][i].items()
                  for y in [b["optimizer"]["state"][i][k]])
    position = ("epoch", "step", "epoch_step", "best_epoch", "best_loss", "bad_epochs")  # (the step log's times vary)
    return model and moments and all(a["progress"][k] == b["progress"][k] for k in position)


def test_saves_written_behind_give_the_files_and_events_of_saves_in_line(tmp_path, monkeypatch):
    inline: list[dict] = []
    _, reference = job.run(make_spec(tmp_path, **IRIS, run__name="inline"), inline.append)
    monkeypatch.setattr(train, "saves_behind", lambda device_type, world_size: True)
    writers: list[str] = []
    save = checkpoint.save

    def noted(payload, path):
        writers.append(threading.current_thread().name)
        return save(payload, path)

    monkeypatch.setattr(checkpoint, "save", noted)
    events: list[dict] = []
    outcome, folder = job.run(make_spec(tmp_path, **IRIS, run__name="behind"), events.append)
    assert outcome.status == "done" and writers == ["torchtui-save"] * EPOCHS
    assert sorted(saves(events)) == sorted(saves(inline)) and len(saves(events)) > EPOCHS  # best.pt's too
    kinds = [e["event"] for e in events]
    assert kinds.index("end") > max(i for i, k in enumerate(kinds) if k == "checkpoint")  # said before the end
    for name in ("last", "best"):
        assert same_state(folder.checkpoint_path(name), reference.checkpoint_path(name)), name
    assert [e["epoch"] for e in events if e["event"] == "evaluation"] == [
        e["epoch"] for e in inline if e["event"] == "evaluation"]  # the reports read the files the saves made


def test_training_goes_on_while_an_epochs_save_is_written(tmp_path, behind, monkeypatch):
    """The save of epoch 1 is held until epoch 2 has logged a step: done in line, that wait would never end."""
    second_epoch = threading.Event()
    save = checkpoint.save
    held: list[bool] = []

    def slow(payload, path):
        if payload["progress"]["epoch"] == 1 and not held:
            held.append(second_epoch.wait(timeout=20))
        return save(payload, path)

    def emit(e):
        if e["event"] == "step" and e["epoch"] == 2:
            second_epoch.set()

    monkeypatch.setattr(checkpoint, "save", slow)
    events: list[dict] = []
    job.run(make_spec(tmp_path, **IRIS, train__log_interval=0.001, run__name="x"),
            lambda e: (emit(e), events.append(e)))
    assert held == [True]
    kinds = [(e["event"], e.get("epoch"), e.get("which")) for e in events]
    first_save = kinds.index(("checkpoint", 1, "last"))
    assert ("step", 2, None) in kinds[:first_save]  # said once written, after training had gone on


def fails_at(n: int, write):
    """`write` (checkpoint.save or checkpoint.copy) on a disk that is full at its n-th call (from 1)."""
    calls = {"n": 0}

    def full(*args):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(*args)

    return full


@pytest.mark.parametrize("what", ["last", "best"])
def test_a_save_written_behind_that_fails_fails_the_run_saying_what_is_kept_and_resume_finishes_it(
        tmp_path, behind, monkeypatch, what):
    """A full disk at each save in turn - each epoch's last.pt, or each improving epoch's best.pt - in the thread
    that writes it: the run fails in one line saying what is on disk, and a resume ends it as the run never failed."""
    reference_events: list[dict] = []
    _, reference = job.run(make_spec(tmp_path, **IRIS, run__name="ref"), reference_events.append)
    improving = [e["epoch"] for e in reference_events if e["event"] == "epoch" and e["best"]]
    assert 1 < len(improving) < EPOCHS  # epochs that write best.pt, and some that do not
    real = {"last": checkpoint.save, "best": checkpoint.copy}[what]
    at_epochs = range(1, EPOCHS + 1) if what == "last" else improving
    for n, epoch in enumerate(at_epochs, 1):
        monkeypatch.setattr(checkpoint, "save" if what == "last" else "copy", fails_at(n, real))
        events: list[dict] = []
        name = f"full-{what}-{epoch}"
        with pytest.raises(TrainingFailed) as failed:
            job.run(make_spec(tmp_path, **IRIS, run__name=name), events.append)
        kept = {"last": "the previous last.pt is kept" if epoch > 1 else "nothing was saved yet",
                "best": "last.pt is saved, " + ("best.pt is still the previous best" if n > 1
                                                else "best.pt could not be written")}[what]
        assert f"No space left on device; {kept}. Free some space" in str(failed.value), name
        assert [e["kind"] for e in events if e["event"] == "error"] == ["save_failed"], name
        folder = tmp_path / "runs" / name
        assert not list(folder.glob(".tmp-*")), name
        on_disk = (checkpoint.progress_of(folder / "last.pt") or {}).get("epoch", 0)
        assert on_disk == (epoch if what == "best" else epoch - 1), name
        said = [e["epoch"] for e in events if e["event"] == "checkpoint" and e["which"] == "last"]
        assert max(said, default=0) == on_disk, name  # each save on disk said, none that is not
        monkeypatch.setattr(checkpoint, "save" if what == "last" else "copy", real)
        if not on_disk:  # nothing saved: the run starts again
            continue
        job.resume(folder, lambda e: None)
        for which in ("last", "best"):
            assert same_state(folder / f"{which}.pt", reference.checkpoint_path(which)), (name, which)


def test_a_stop_asked_while_a_save_is_written_behind_saves_its_position_after_it(tmp_path, behind, monkeypatch):
    """The stop's save (mid-epoch 2) waits for epoch 1's, still being written: last.pt is the stop's position,
    never overwritten by the older save finishing later; resumed, the run ends as one never stopped."""
    _, reference = job.run(make_spec(tmp_path, **IRIS, run__name="ref"), lambda e: None)
    trainers: list[train.Trainer] = []
    save = checkpoint.save

    def stop_meanwhile(payload, path):
        if payload["progress"]["epoch"] == 1 and payload["progress"]["epoch_step"] == 0:
            trainers[0].requests.stop = "SIGTERM"
            time.sleep(0.3)  # the training thread reaches the stop's save, and waits there for this one
        return save(payload, path)

    monkeypatch.setattr(checkpoint, "save", stop_meanwhile)
    events: list[dict] = []
    with pytest.raises(Interrupted):
        job.run(make_spec(tmp_path, **IRIS, run__name="x"), events.append, on_trainer=trainers.append)
    folder = tmp_path / "runs" / "x"
    progress = checkpoint.progress_of(folder / "last.pt")
    # the stop's position, mid-epoch: epoch 2's, or, where epoch 2 trained before the writer thread ran, epoch 3's
    assert progress is not None and progress["epoch"] in (1, 2) and progress["epoch_step"] > 0
    said = [(e["event"], e.get("epoch_step")) for e in events if e["event"] in ("checkpoint", "end")]
    assert said[-1][0] == "end" and said[-2] == ("checkpoint", progress["epoch_step"])
    assert ("checkpoint", 0) in said[:-2]  # epoch 1's, said before the stop's
    monkeypatch.setattr(checkpoint, "save", save)
    job.resume(folder, lambda e: None)
    for name in ("last", "best"):
        assert same_state(folder / f"{name}.pt", reference.checkpoint_path(name)), name
