"""The training loop on small real data: every loss, optimizer and schedule learns; early stopping,
clipping, divergence, throttled events, checkpoints that load with weights_only, exact resume."""

import math

import pytest
import torch

from tui.core import checkpoint, job
from tui.core.errors import TrainingFailed, UserError
from tui.core.layers import build_sequential
from tui.core.progress import epoch_rows

from conftest import make_spec, train, writer_stand_in


def epochs_of(events):
    return [e for e in events if e["event"] == "epoch"]


@pytest.mark.parametrize("loss,dataset,layers", [
    ("CrossEntropy", "iris", "Linear(16), ReLU()"),
    ("BCEWithLogits", "breast_cancer", "Linear(16), ReLU()"),  # binary: one logit
    ("BCEWithLogits", "wine", "Linear(16), ReLU()"),  # multi-class: one-hot targets
    ("MSE", "sine", "Linear(32), Tanh()"),
    ("L1", "sine", "Linear(32), Tanh()"),
    ("Huber", "sine", "Linear(32), Tanh()"),
])
def test_each_loss_learns(tmp_path, loss, dataset, layers):
    _, folder, events = train(tmp_path, data__dataset=dataset, train__loss=loss, model__layers=layers,
                              train__epochs=15, train__lr=0.01)
    rows = epochs_of(events)
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    ckpt = torch.load(folder.checkpoint_path("best"), weights_only=True)
    assert ckpt["loss"] == loss
    if dataset == "breast_cancer":
        assert ckpt["layers"][-1] == "Linear(16, 1)"
    if loss in ("CrossEntropy", "BCEWithLogits"):
        assert max(r["accuracy"] for r in rows) >= 0.9
    else:
        assert max(r["r2"] for r in rows) > 0.8


@pytest.mark.parametrize("optimizer,extra", [
    ("SGD", {"train.momentum": 0.9, "train.nesterov": True, "train.weight_decay": 1e-4}),
    ("SGD", {}),
    ("Adam", {"train.weight_decay": 1e-4}),
    ("AdamW", {"train.weight_decay": 0.01}),
    ("RMSprop", {"train.momentum": 0.5}),
])
def test_each_optimizer_learns(tmp_path, optimizer, extra):
    lr = 0.1 if optimizer == "SGD" else 0.01
    _, folder, events = train(tmp_path, data__dataset="wine", train__optimizer=optimizer, train__lr=lr,
                              train__epochs=6, **{k.replace(".", "__"): v for k, v in extra.items()})
    rows = epochs_of(events)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] * 0.5
    assert rows[-1]["accuracy"] >= 0.85
    opt_state = torch.load(folder.checkpoint_path("last"), weights_only=True)["optimizer"]
    assert opt_state["param_groups"][0]["lr"] == lr
    if "train.weight_decay" in extra:
        assert opt_state["param_groups"][0]["weight_decay"] == extra["train.weight_decay"]


@pytest.mark.parametrize("scheduler,check", [
    ("none", lambda lrs: all(lr == 0.01 for lr in lrs)),
    ("step", lambda lrs: (lrs[1] == pytest.approx(0.01) and lrs[2] == pytest.approx(0.001)
                          and lrs[4] == pytest.approx(1e-4))),
    ("cosine", lambda lrs: lrs[0] == 0.01 and all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 0.001),
    ("onecycle", lambda lrs: max(lrs) > lrs[-1] and lrs[-1] < 1e-4),
    ("plateau", lambda lrs: lrs[-1] <= 0.01),
])
def test_each_schedule_sets_the_learning_rate(tmp_path, scheduler, check):
    _, folder, events = train(tmp_path, data__dataset="iris", train__scheduler=scheduler, train__lr=0.01,
                              train__step_size=2, train__gamma=0.1, train__epochs=6, train__plateau_patience=0)
    lrs = [e["lr"] for e in epochs_of(events)]
    assert len(lrs) == 6 and check(lrs), lrs
    # every scheduler's state survives weights_only loading
    ckpt = checkpoint.load(folder.checkpoint_path("last"))
    assert (ckpt["scheduler"] is None) == (scheduler == "none")


def test_plateau_lowers_the_rate_when_validation_stalls(tmp_path):
    _, _, events = train(tmp_path, data__dataset="iris", train__scheduler="plateau", train__lr=0.5,
                         train__optimizer="SGD", train__gamma=0.5, train__plateau_patience=0, train__epochs=12)
    lrs = [e["lr"] for e in epochs_of(events)]
    assert min(lrs) < 0.5


def test_early_stopping_stops_after_patience(tmp_path):
    outcome, folder, events = train(tmp_path, data__dataset="iris", train__lr=0.05, train__patience=2,
                                    train__epochs=200)
    rows = epochs_of(events)
    assert outcome.status == "early_stopped"
    assert len(rows) < 200
    best = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    assert len(rows) == best + 1 + 2  # stopped exactly `patience` epochs after the best
    assert outcome.progress.best_epoch == best + 1
    assert torch.load(folder.checkpoint_path("best"), weights_only=True)["progress"]["epoch"] == best + 1
    assert events[-1]["event"] == "end" and events[-1]["status"] == "early_stopped"


def test_patience_running_out_on_the_last_epoch_is_a_run_done_not_stopped_early(tmp_path):
    """The run had no epoch left to skip: it is done (the README's first command ends so: best epoch 30 of 40)."""
    first, _, events = train(tmp_path / "a", data__dataset="iris", train__lr=0.05, train__patience=2,
                             train__epochs=200)
    stopped_at = len(epochs_of(events))
    assert first.status == "early_stopped" and stopped_at < 200
    outcome, _, events = train(tmp_path / "b", data__dataset="iris", train__lr=0.05, train__patience=2,
                               train__epochs=stopped_at)
    assert outcome.status == "done" and events[-1]["status"] == "done" and len(epochs_of(events)) == stopped_at
    assert outcome.progress.bad_epochs == 2  # patience did run out, on the last epoch


def test_gradient_clipping_bounds_the_update(tmp_path):
    # SGD without momentum: one step moves the weights by lr * clipped gradient, whose norm is <= clip.
    _, folder, _ = train(tmp_path, data__dataset="diabetes", train__optimizer="SGD", train__lr=1.0,
                         train__grad_clip=0.01, train__epochs=1, train__batch_size=1000, train__seed=5)
    after = torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]
    torch.manual_seed(5)
    before = build_sequential(torch.load(folder.checkpoint_path("last"), weights_only=True)["layers"]).state_dict()
    moved = math.sqrt(sum(float((after[k] - before[k]).pow(2).sum()) for k in after))
    assert 0 < moved <= 0.01 + 1e-6


def test_divergence_stops_and_keeps_the_good_checkpoint(tmp_path):
    spec = make_spec(tmp_path, data__dataset="diabetes", train__optimizer="SGD", train__lr=1e-3, train__epochs=1,
                     run__name="d")
    events = []
    job.run(spec, events.append)
    good = torch.load(tmp_path / "runs" / "d" / "last.pt", weights_only=True)["model"]
    # continue the same run with an absurd learning rate: it must stop, and last.pt stay the good one
    from tui.core.runs import RunFolder
    folder = RunFolder.open(tmp_path / "runs" / "d")
    ck = checkpoint.load(folder.checkpoint_path("last"))
    ck["spec"]["train"]["lr"] = 1e12
    ck["optimizer"]["param_groups"][0]["lr"] = 1e12
    checkpoint.save(ck, folder.checkpoint_path("last"))
    from tui.core.spec import Spec
    folder.write_text("spec.toml", Spec.from_dict(ck["spec"]).to_toml())
    with pytest.raises(TrainingFailed, match="training diverged: .*loss became (nan|inf).*lower the learning rate"):
        job.resume(folder.path, events.append, epochs=5)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "diverged"
    # the step named is where the loss was read, and the message says so: not claimed as the step it went bad
    assert f"(noticed at step {events[-1]['step']}: the loss is checked" in events[-1]["message"]
    kept = torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]
    assert all(torch.equal(good[k], kept[k]) for k in good)
    assert checkpoint.all_finite(kept)


def test_step_events_are_throttled(tmp_path):
    _, _, events = train(tmp_path, data__dataset="digits", train__batch_size=8, train__epochs=2,
                         train__log_interval=0.5)
    steps = [e for e in events if e["event"] == "step"]
    per = math.ceil(1438 / 8)
    total_steps = events[-1]["epochs"] * per
    times = [e["time"] for e in steps]
    assert 1 <= len(steps) < total_steps
    # at most one per interval, however fast the steps - but for an epoch's end, which has one if the epoch had none
    assert all(b["time"] - a["time"] >= 0.45 for a, b in zip(steps, steps[1:]) if b["epoch_step"] != per)
    assert {e["epoch"] for e in steps} == {1, 2}
    assert len(steps) <= (times[-1] - times[0]) / 0.5 + 2 + 2
    assert all(math.isfinite(e["loss"]) and e["samples_per_s"] > 0 for e in steps)


def test_an_epoch_shorter_than_the_log_interval_still_draws_its_loss(tmp_path):
    """A run of short epochs (iris, 40 epochs in about a second) logged a step every 0.25 s: the loss chart had
    three points beside forty validation points. An epoch with no step event gets one at its end, whose loss is
    the epoch's training loss (the rows since the last event: the epoch's)."""
    _, _, events = train(tmp_path, data__dataset="iris", train__epochs=12, train__log_interval=60.0)
    per = events[0]["steps_per_epoch"]
    steps = [e for e in events if e["event"] == "step" and e["epoch"] > 1]  # (epoch 1 may hold the early point too)
    assert [(e["epoch"], e["epoch_step"], e["step"]) for e in steps] == [(n, per, n * per) for n in range(2, 13)]
    for step, row in zip(steps, epochs_of(events)[1:]):
        assert step["loss"] == pytest.approx(row["train_loss"], rel=1e-6)


def test_checkpoint_holds_everything_and_loads_safely(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="wine", train__epochs=3, model__layers="Linear(8), ReLU()")
    ckpt = checkpoint.load(folder.checkpoint_path("best"))
    for key in ("format", "spec", "layers", "input_shape", "loss", "preprocessing", "model", "optimizer",
                "scheduler", "progress", "rng", "torch", "torchtui"):
        assert key in ckpt
    assert ckpt["preprocessing"]["classes"] == ["class_0", "class_1", "class_2"]
    rows = epoch_rows(ckpt["progress"])
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["train_loss"] == epochs_of(events)[-1]["train_loss"]
    assert ckpt["progress"]["history"]["steps"].shape[1] == 2
    model = torch.nn.Sequential(torch.nn.Linear(13, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model.load_state_dict(ckpt["model"])
    kinds = [(e["event"], e.get("which")) for e in events if e["event"] == "checkpoint"]
    assert kinds.count(("checkpoint", "last")) == 3
    assert not list(folder.path.glob(".tmp-*"))


def test_resume_continues_exactly(tmp_path):
    straight = train(tmp_path / "a", data__dataset="wine", model__layers="Linear(16), ReLU(), Dropout(0.3)",
                     train__epochs=5, train__scheduler="step", train__step_size=2, run__name="r")[1]
    part = train(tmp_path / "b", data__dataset="wine", model__layers="Linear(16), ReLU(), Dropout(0.3)",
                 train__epochs=2, train__scheduler="step", train__step_size=2, run__name="r")[1]
    events = []
    job.resume(part.path, events.append, epochs=5)
    a = torch.load(straight.checkpoint_path("last"), weights_only=True)
    b = torch.load(part.checkpoint_path("last"), weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    untimed = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in rows]  # noqa: E731
    assert untimed(epoch_rows(a["progress"])) == untimed(epoch_rows(b["progress"]))  # the whole curve, resumed or not
    assert events[0]["event"] == "start" and events[0]["resumed_from"] == 2
    from tui.core.follow import summarize
    info = summarize(part.path)
    assert (info.status, info.epochs_done, info.epochs) == ("done", 5, 5)
    assert [e["epoch"] for e in epochs_of(events)] == [3, 4, 5]


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_fixed_length_schedules_cannot_be_extended(tmp_path, scheduler):
    _, folder, _ = train(tmp_path, data__dataset="iris", train__scheduler=scheduler, train__epochs=2)
    with pytest.raises(UserError, match=f"a {scheduler} schedule is fixed to its 2 epochs"):
        job.resume(folder.path, lambda e: None, epochs=4)


def test_resume_refuses_an_edited_spec_and_leaves_it(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=2)
    text = (folder.path / "spec.toml").read_text().replace("lr = 0.01", "lr = 0.5")
    (folder.path / "spec.toml").write_text(text)
    with pytest.raises(UserError, match=r"spec.toml was edited since the run saved it \(train.lr 0.5 vs 0.01\)"):
        job.resume(folder.path, lambda e: None, epochs=4)
    assert (folder.path / "spec.toml").read_text() == text


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(tmp_path):
    spec = make_spec(tmp_path, data__dataset="iris", train__epochs=2, run__name="early")
    from tui.core.runs import RunFolder
    folder = RunFolder.create(spec, "iris")  # as left by a Ctrl+C in epoch 1: spec.toml, no last.pt
    events = []
    outcome, _ = job.resume(folder.path, events.append)
    assert outcome.progress.epoch == 2 and folder.checkpoint_path("last").exists()
    straight = train(tmp_path / "b", data__dataset="iris", train__epochs=2)[1]
    a = torch.load(straight.checkpoint_path("last"), weights_only=True)["model"]
    b = torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_run_that_is_still_training(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=1)
    writer = writer_stand_in(folder.path / "events.jsonl")  # another live process, as a run training elsewhere
    try:
        folder.log({"event": "start", "time": 0.0, "pid": writer.pid, "epochs": 3})
        with pytest.raises(UserError, match=f"is being written by another torchtui process \\(process {writer.pid}\\)"):
            job.resume(folder.path, lambda e: None, epochs=3)
    finally:
        writer.kill()
        folder.close()


def test_batch_norm_with_a_last_batch_of_one_row_is_refused(tmp_path):
    with pytest.raises(UserError, match="layer 2 BatchNorm1d needs batches of 2 rows or more, but 120 training rows "
                                        "in batches of 17 leave a last batch of 1; use --batch-size 16"):
        train(tmp_path, data__dataset="iris", model__layers="Linear(16), BatchNorm1d(), ReLU()", train__batch_size=17)
    # every batch of one row: said so (not "a last batch of 1"), and a larger size named, there being no smaller
    with pytest.raises(UserError, match=r"layer 2 BatchNorm1d needs batches of 2 rows or more, but batches of 1 row; "
                                        r"use --batch-size 2$"):
        train(tmp_path, data__dataset="iris", model__layers="Linear(16), BatchNorm1d(), ReLU()", train__batch_size=1)


def test_a_batch_norm_2d_over_a_1x1_image_with_a_last_batch_of_one_row_is_refused(tmp_path):
    """BatchNorm2d sees a row's every pixel of a channel: over a 1x1 image a last batch of one row failed in
    training with a traceback ("Expected more than 1 value per channel"); over 6x6 it trains."""
    conv = "Unflatten(1, (1, 8, 8)), Conv2d(4, 8), BatchNorm2d(), Flatten()"
    with pytest.raises(UserError, match=r"layer 3 BatchNorm2d needs batches of 2 rows or more, but 1438 training "
                                        r"rows in batches of 1437 leave a last batch of 1; use --batch-size 1436$"):
        train(tmp_path, data__dataset="digits", model__layers=conv, train__batch_size=1437, train__epochs=1)
    outcome, _, _ = train(tmp_path, data__dataset="digits", model__layers=conv.replace("Conv2d(4, 8)", "Conv2d(4, 3)"),
                          train__batch_size=1437, train__epochs=1)
    assert outcome.progress.epoch == 1


def test_a_relative_csv_path_is_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    monkeypatch.chdir(tmp_path)
    _, folder, _ = train(tmp_path, data__dataset="d.csv", train__epochs=1)
    monkeypatch.chdir("/")
    assert folder.spec().data.dataset == str(tmp_path / "d.csv")
    job.resume(folder.path, lambda e: None, epochs=2)


def test_no_validation_split_monitors_training_loss(tmp_path):
    outcome, folder, events = train(tmp_path, data__dataset="iris", data__val_split=0.0, train__epochs=3)
    rows = epochs_of(events)
    assert all("val_loss" not in r for r in rows)
    assert outcome.progress.best_loss == min(r["train_loss"] for r in rows)
    assert folder.checkpoint_path("best").exists()


def test_refused_plans_leave_no_run_folder(tmp_path):
    for bad in (dict(train__loss="MSE"), dict(model__layers="Conv2d(3)"), dict(data__target="nope")):
        with pytest.raises(UserError):
            train(tmp_path, data__dataset="iris", **bad)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resume_of_a_run_killed_after_its_last_epoch_just_finishes_it(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=2)
    lines = (folder.path / "events.jsonl").read_text().splitlines(keepends=True)
    (folder.path / "events.jsonl").write_text("".join(lines[:-1]))  # killed before the end event was written
    events = []
    outcome, _ = job.resume(folder.path, events.append)
    kinds = [e["event"] for e in events]  # no training: its start, its reports, its end
    assert outcome.status == "done" and kinds == ["start", "evaluation", "evaluation", "end"], kinds
    assert events[0]["resumed_from"] == 2 and {e["model"]: e["epoch"] for e in events[1:3]} == {"best": 2, "last": 2}
    from tui.core.follow import summarize
    assert summarize(folder.path).status == "done"
    with pytest.raises(UserError, match="already trained 2 of 2 epochs"):
        job.resume(folder.path, lambda e: None)


def test_an_epochs_samples_per_s_is_its_steps_pace_as_the_step_events_say_it_validation_left_out(tmp_path,
                                                                                                  monkeypatch):
    """The screen shows the step events' rate beside the epoch log's: both are the steps' pace. The epoch's
    `seconds` (its ETA's measure) includes the validation; its samples/s did too, and read as a slower run."""
    import time as clock

    from tui.core import train as trainer_module

    slow, evaluate = 0.3, trainer_module.evaluate

    def slow_validation(*args, **kwargs):
        clock.sleep(slow)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "evaluate", slow_validation)
    _, _, events = train(tmp_path, data__dataset="iris", train__epochs=2, train__patience=0)
    start, epochs = events[0], epochs_of(events)
    assert len(epochs) == 2
    for e in epochs:
        assert e["seconds"] >= slow  # the validation is in the epoch's time
        assert start["train_rows"] / e["samples_per_s"] <= e["seconds"] - slow + 0.01  # and not in its pace
