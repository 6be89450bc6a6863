"""Changing a run in progress (tui/core/live_change.py): `torchtui change`, the change.json file, the
worker's `change` event, checkpoints that hold the changes, resumes that replay them, and the screen's
dialog (`c` on the Training pane) with its marker on the curves.

The headless runs are children that log every step to a one-page pipe (as in test_signals.py): a child
blocks once it is a few dozen steps ahead of what the test has read, so a request or a kill sent after
reading an event lands within a few dozen steps of it, however slow this machine is - never by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from textual.widgets import Input, Static

from tui.app.app import TorchTUI
from tui.app.change_screen import ChangeScreen
from tui.app.training_pane import TrainingPane
from tui.core import checkpoint, job, live_change
from tui.core.errors import UserError
from tui.core.event_schema import problems
from tui.core.live_change import Change
from tui.core.runs import read_events
from tui.core.spec import Spec

import warm_cli
from conftest import make_spec
from test_app import FOREVER, Notices, cpu_spec, data_loaded, in_tmp, run_events, running, text_of, wait_for  # noqa: F401

PER_EPOCH = 180  # digits: 1437 training rows in batches of 8
ARGS = ["--dataset", "digits", "--epochs", "6", "--batch-size", "8", "--device", "cpu", "--seed", "3",
        "--layers", "Linear(32), ReLU(), Dropout(0.2)", "--scheduler", "step", "--step-size", "1", "--gamma", "0.7",
        "--patience", "0", "--json"]
# At step 400 (in epoch 3, after the save at the end of epoch 2): the rate to 0.001, patience 3, 5 epochs in all
CHANGE = ["--lr", "0.001", "--patience", "3", "--epochs", "5", "--at-step", "400"]
AT = 400
PIPE_BYTES = 4096  # the child's stdout pipe: one page, about 20 step events
LIMIT = 180.0  # a child still running after this is killed: a hang fails the test instead of stalling the suite
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


class Child:
    """`torchtui run --json` logging every step, in a child the test reads one event at a time."""

    def __init__(self, tmp_path: Path, name: str):
        config = tmp_path / "every-step.toml"
        config.write_text(Spec().with_overrides({"train.log_interval": 1e-6}).to_toml())
        self.run_dir = tmp_path / name
        self.err_path = tmp_path / f"{name}.stderr"
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tui", "run", str(config), *ARGS,
                                          "--runs-dir", str(tmp_path), "--name", name],
                                         stdout=subprocess.PIPE, stderr=err, text=True, pipesize=PIPE_BYTES, env=ENV)
        self.watchdog = threading.Timer(LIMIT, self.proc.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.events: list[dict] = []
        self.next("start")

    def next(self, kind: str, **fields) -> dict:
        """The next event of this kind (with these field values)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            self.events.append(event)
            if event["event"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event
        raise AssertionError(f"the run ended before a {kind} event {fields or ''}: "
                             f"{self.err_path.read_text(errors='replace')[-2000:]}")

    def finish(self) -> list[dict]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))
        assert self.proc.wait() == 0, self.err_path.read_text(errors="replace")[-2000:]
        self.watchdog.cancel()
        return self.events

    def kill(self) -> None:
        self.watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def launch(tmp_path):
    made: list[Child] = []

    def make(name: str) -> Child:
        made.append(Child(tmp_path, name))
        return made[-1]

    yield make
    for child in made:
        child.kill()


def torchtui(*args: str) -> subprocess.CompletedProcess:
    return warm_cli.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True, text=True, env=ENV,
                        timeout=LIMIT)


def asked(run_dir: Path, *args: str) -> None:
    done = torchtui("change", run_dir, *args)
    assert done.returncode == 0, done.stderr
    assert "asked" in done.stdout and (run_dir / live_change.REQUEST).exists()


def weights(run_dir: Path) -> dict:
    return checkpoint.load(run_dir / "last.pt")["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def valid(events: list[dict]) -> None:
    for e in events:
        assert problems(e) == [], e


# ---- headless: the change, a kill, a resume, the same weights ------------------------------------------
def test_a_change_survives_a_kill_and_the_resume_equals_the_run_never_stopped(tmp_path, launch):
    # The uninterrupted run, asked for the change at step 400 while it trains epoch 2.
    straight = launch("straight")
    straight.next("step", epoch=2)
    asked(straight.run_dir, *CHANGE)
    events = straight.finish()
    [applied] = [e for e in events if e["event"] == "change"]
    assert applied["step"] == AT and applied["epoch"] == 3 and applied["lr"] == 0.001 and applied["epochs"] == 5
    assert applied["lr_from"] == pytest.approx(0.01 * 0.7 ** 2) and applied["patience"] == 3
    assert not (straight.run_dir / live_change.REQUEST).exists()  # consumed
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs][-1] <= 5 and events[-1]["event"] == "end"
    # the schedule goes on from the new rate: epoch 3 ends at 0.001, epoch 4 at 0.001 * 0.7
    assert epochs[2]["lr"] == 0.001 and epochs[3]["lr"] == pytest.approx(0.001 * 0.7)
    steps = [e for e in events if e["event"] == "step"]
    assert {e["lr"] for e in steps if AT < e["step"] <= 3 * PER_EPOCH} == {0.001}
    valid(events)
    stored = checkpoint.load(straight.run_dir / "last.pt")
    assert [c["step"] for c in stored["changes"]] == [AT] and stored["changes"][0]["lr"] == 0.001
    assert stored["spec"]["train"]["epochs"] == 6  # the spec as it started: spec.toml still matches it

    # Killed after the change was applied, before the next save (the end of epoch 3): its checkpoint is from
    # before the change, which the resume replays from the log at the same step.
    before = launch("before")
    before.next("step", epoch=2)
    asked(before.run_dir, *CHANGE)
    before.next("change")
    before.kill()
    saved = checkpoint.load(before.run_dir / "last.pt")
    assert saved["progress"]["step"] == 2 * PER_EPOCH and saved["changes"] == []
    resumed = torchtui("resume", before.run_dir, "--json")
    assert resumed.returncode == 0, resumed.stderr
    replays = [json.loads(line) for line in resumed.stdout.splitlines() if '"change"' in line]
    assert [(e["step"], e.get("replayed")) for e in replays] == [(AT, True)]
    assert same(weights(before.run_dir), weights(straight.run_dir))

    # Killed after a save that holds the change: the resume carries on with it, nothing to replay.
    after = launch("after")
    after.next("step", epoch=2)
    asked(after.run_dir, *CHANGE)
    after.next("checkpoint", which="last", step=3 * PER_EPOCH)
    after.kill()
    assert [c["step"] for c in checkpoint.load(after.run_dir / "last.pt")["changes"]] == [AT]
    resumed = torchtui("resume", after.run_dir, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert '"change"' not in resumed.stdout
    started = [json.loads(line) for line in resumed.stdout.splitlines() if '"start"' in line]
    assert started[0]["epochs"] == 5  # the resumed run trains to the changed length
    assert same(weights(after.run_dir), weights(straight.run_dir))
    for run in (before, after):
        valid(list(read_events(run.run_dir / "events.jsonl")))


# ---- refusals: the command's, and the worker's --------------------------------------------------------
def test_refused_changes_say_why_in_one_line_and_change_nothing(tmp_path, launch):
    def refused(*args: str) -> str:
        done = torchtui("change", *args)
        assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr
        return lines[0]

    child = launch("r")
    child.next("step", epoch=2)  # it waits there (its pipe is full) until the test reads on
    run = child.run_dir
    assert "nowhere does not exist" in refused(tmp_path / "nowhere", "--lr", "0.1")
    assert "nothing to change" in refused(run)
    assert "--lr must be a number > 0" in refused(run, "--lr", "0")
    assert "--patience must be an integer >= 0" in refused(run, "--patience", "-1")
    assert "below the epoch in progress (2)" in refused(run, "--epochs", "1")
    # a step the run never reaches: its request waited for good, and every later change was "already waiting"
    last = refused(run, "--lr", "0.1", "--at-step", str(10**20))
    assert "step 100000000000000000000 is past the run's end (at most step " in last and "6 epochs of 180" in last
    assert "past the run's end" in refused(run, "--epochs", "3", "--at-step", str(4 * PER_EPOCH))  # its new end
    as_json = torchtui("change", run, "--epochs", "1", "--json")
    assert as_json.returncode == 2 and "epoch in progress" in json.loads(as_json.stdout)["error"]
    assert not (run / live_change.REQUEST).exists()
    # its name taken by a new run: not told to resume it, which is refused while it trains
    again = torchtui("run", "--dataset", "iris", "--runs-dir", tmp_path, "--name", "r")
    assert again.returncode == 2 and again.stderr == (
        f"error: run folder {run} already exists and is still training (process {child.proc.pid}); choose another "
        f"--name, or watch it with `torchtui attach {run}`\n"), again.stderr

    # Written by hand, a file the worker cannot use is refused in the log, removed, and changes nothing.
    (run / live_change.REQUEST).write_text('{"lr": "fast"}')
    bad = child.next("change")
    assert "lr must be a number" in bad["refused"] and "lr" not in bad
    (run / live_change.REQUEST).write_text('{"epochs": 1, "id": "too-short"}')
    late = child.next("change")
    assert late["id"] == "too-short" and "below the epoch in progress" in late["refused"]
    child.next("step")  # the file goes once its event is written
    assert not (run / live_change.REQUEST).exists()

    # One request at a time: a second waits for the first to be applied.
    asked(run, "--lr", "0.002", "--at-step", str(4 * PER_EPOCH))
    assert "already waiting" in refused(run, "--lr", "0.003")
    events = child.finish()
    [applied] = [e for e in events if e["event"] == "change" and not e.get("refused")]
    assert applied["step"] == 4 * PER_EPOCH and applied["lr"] == 0.002
    valid(events)

    assert "is not training (done)" in refused(run, "--lr", "0.1")


def test_the_rules_of_a_change():
    spec = Spec().with_overrides({"train.scheduler": "cosine", "train.epochs": 10})
    with pytest.raises(UserError, match="cosine schedule is fixed to its 10 epochs"):
        live_change.check(spec, Change(epochs=12), 2)
    assert live_change.check(spec, Change(lr=0.5, patience=2), 2).train.lr == 0.5  # the rate can change
    plain = Spec()
    with pytest.raises(UserError, match="give 4 or more"):
        live_change.check(plain, Change(epochs=3), 3)
    assert live_change.check(plain, Change(epochs=4), 3).train.epochs == 4  # the epoch in progress may be the last
    with pytest.raises(UserError, match="unknown key 'learning_rate'"):
        Change.from_file({"learning_rate": 0.1}, "change.json")


def test_a_new_rate_scales_the_schedule_it_lands_in():
    """set_lr on each schedule: the rate is the new one at once, and the later rates are the schedule's own
    times new / old - one-cycle's peak and floor too, which it computes every rate from."""
    for name, make in {
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20),
        "onecycle": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=40),
    }.items():
        rates = {}
        for factor in (1.0, 0.25):
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
            sched = make(opt)
            for _ in range(5):
                opt.step()
                sched.step()
            if factor != 1.0:
                live_change.set_lr(opt, sched, opt.param_groups[0]["lr"] * factor)
            seen = []
            for _ in range(10):
                opt.step()
                sched.step()
                seen.append(opt.param_groups[0]["lr"])
            rates[factor] = seen
        assert rates[0.25] == pytest.approx([r * 0.25 for r in rates[1.0]], rel=1e-9), name


def test_a_change_at_a_checkpoints_own_step_after_its_save_is_replayed_at_once(tmp_path):
    """Paused: a save-now, then a change at the same step; killed there. The checkpoint does not hold the
    change, so the resume applies it before its first step, as the run never stopped did."""
    def run(name: str, at: int | None = None, paused_change: bool = False):
        trainers = []

        def on_event(e):
            t = trainers[0]
            if paused_change and e["event"] == "step" and e["step"] >= 250 and not t.requests.pause and \
                    not t.changes.applied:
                t.requests.pause = True
            elif e["event"] == "paused":
                t.requests.save = True
            elif e["event"] == "checkpoint" and e.get("requested"):
                (t.recorder.folder.path / live_change.REQUEST).write_text('{"lr": 0.002, "epochs": 4}')
            elif e["event"] == "change" and paused_change:
                raise KeyboardInterrupt  # as a kill would leave it: no save after the change

        spec = make_spec(tmp_path / name, data__dataset="digits", train__epochs=6, train__batch_size=8,
                         train__seed=3, train__patience=0, train__log_interval=1e-6)
        on_trainer = trainers.append
        if at is not None:
            on_trainer = lambda t: (trainers.append(t), t.changes.schedule(  # noqa: E731
                Change(lr=0.002, epochs=4, id="same", step=at), 0))
        try:
            _, folder = job.run(spec, on_event, on_trainer=on_trainer)
        except KeyboardInterrupt:
            pass
        return trainers[0]

    killed = run("killed", paused_change=True)
    [change] = killed.changes.applied
    run_dir = killed.recorder.folder.path if killed.recorder.folder else Path()
    assert checkpoint.load(run_dir / "last.pt")["progress"]["step"] == change["step"]  # saved there, without it
    assert checkpoint.load(run_dir / "last.pt")["changes"] == []
    job.resume(run_dir, lambda e: None)
    replayed = [e for e in run_events(run_dir, "change") if e.get("replayed")]
    assert [e["step"] for e in replayed] == [change["step"]]
    straight = run("straight", at=change["step"])
    assert straight.progress.epoch == 4 and straight.recorder.folder is not None
    assert same(weights(run_dir), weights(straight.recorder.folder.path))


def test_a_lower_patience_logged_after_the_last_save_is_replayed_not_judged_at_the_save(tmp_path):
    """A change of patience to 1, logged in an epoch after 2 epochs without a better loss, then a kill before the
    next save: the resume judged its checkpoint by the patience it would only get at the change's step, said the
    run had ended there, and trained nothing - an epoch short of the run never stopped, whose epoch in progress
    always finishes (other weights). The checkpoint's own patience judges it; the change is replayed at its step."""
    def run(name: str, at: int | None = None):
        trainers, asked_at = [], []

        def on_event(e):
            t = trainers[0]
            if at is None and e["event"] == "epoch" and t.progress.bad_epochs >= 2 and not asked_at:
                asked_at.append(t.progress.step + PER_EPOCH // 2)
                t.changes.schedule(Change(patience=1, id="lower", step=asked_at[0]), t.progress.step)
            elif at is None and e["event"] == "change":
                raise KeyboardInterrupt  # as a kill would leave it: no save after the change

        spec = make_spec(tmp_path / name, data__dataset="digits", train__epochs=30, train__batch_size=8,
                         train__seed=3, train__lr=0.05, train__patience=0, model__layers=["Linear(32)", "ReLU()"])
        on_trainer = trainers.append
        if at is not None:
            on_trainer = lambda t: (trainers.append(t), t.changes.schedule(  # noqa: E731
                Change(patience=1, id="lower", step=at), 0))
        try:
            job.run(spec, on_event, on_trainer=on_trainer)
        except KeyboardInterrupt:
            pass
        return trainers[0], asked_at

    killed, (at,) = run("killed")
    run_dir = killed.recorder.folder.path if killed.recorder.folder else Path()
    saved = checkpoint.load(run_dir / "last.pt")
    assert saved["changes"] == [] and saved["progress"]["bad_epochs"] >= 2 and saved["progress"]["step"] < at
    outcome, _ = job.resume(run_dir, lambda e: None)
    replayed = [e for e in run_events(run_dir, "change") if e.get("replayed")]
    assert [e["step"] for e in replayed] == [at]
    straight, _ = run("straight", at=at)
    epochs = saved["progress"]["epoch"] + 1  # the epoch the change came in finished, then early stopping
    assert straight.progress.epoch == epochs and checkpoint.load(run_dir / "last.pt")["progress"]["epoch"] == epochs
    assert straight.recorder.folder is not None
    assert same(weights(run_dir), weights(straight.recorder.folder.path))
    assert outcome.status == "early_stopped"


# ---- the screen: c on the Training pane --------------------------------------------------------------
async def test_change_the_rate_from_the_training_pane_and_see_the_marker():
    app = TorchTUI(cpu_spec(**{"data.dataset": "digits", "train.epochs": FOREVER, "train.batch_size": 8}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("c")  # nothing trains yet: said, no dialog
        assert not isinstance(app.screen, ChangeScreen)
        await pilot.press("ctrl+r")
        run = app.followed
        await wait_for(pilot, lambda: run.running and run.last_step, what="training steps")
        await pilot.click("#train-log")  # into the Training pane, as a user would
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the change dialog")
        dialog = app.screen
        lr, epochs = dialog.query_one("#change-lr", Input), dialog.query_one("#change-epochs", Input)
        assert lr.value == "0.01" and epochs.value == str(FOREVER)
        assert dialog.query_one("#change-patience", Input).value == "0"
        epochs.value = "0"  # checked as typed, by the worker's own rule
        await pilot.pause()
        assert epochs.has_class("-invalid") and "epoch in progress" in text_of(dialog.query_one("#change-note", Static))
        await pilot.press("enter")
        assert isinstance(app.screen, ChangeScreen) and not (run.run_dir / live_change.REQUEST).exists()
        epochs.value = str(FOREVER)
        lr.value = "0.001"
        await pilot.pause()
        assert not lr.has_class("-invalid") and not epochs.has_class("-invalid")
        lr.focus()
        await pilot.press("enter")
        assert not isinstance(app.screen, ChangeScreen)
        await wait_for(pilot, lambda: run.changes, what="the change event")
        [change] = run_events(run.run_dir, "change")
        assert change["lr"] == 0.001 and change["lr_from"] == 0.01 and "epochs" not in change
        assert problems(change) == []
        await wait_for(pilot, lambda: any("changed: lr 0.01 -> 0.001" in m for m in notices.messages),
                       what="the notice")
        await wait_for(pilot, lambda: run.last_step.get("step", 0) > change["step"], what="a step after it")
        app.query_one(TrainingPane).draw_charts()
        assert "lr 0.001" in text_of(app.query_one("#loss-plot"))  # the marker's label
        assert run.last_step["lr"] == 0.001
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: run.status == "interrupted" and app.process is None, what="stop")
        stored = checkpoint.load(run.run_dir / "last.pt")
        assert [c["id"] for c in stored["changes"]] == [change["id"]]


def test_a_change_still_waiting_when_the_run_ends_is_refused_not_kept(tmp_path):
    """A change asked for a step the run never reaches is refused when the run ends (an event saying so), so
    a later `resume --epochs` does not apply it unasked."""
    events: list[dict] = []

    def late(trainer) -> None:
        trainer.changes.schedule(Change(lr=0.5, step=10**9, id="late"), 0)

    outcome, _ = job.run(make_spec(tmp_path, data__dataset="iris", train__epochs=2, train__patience=0),
                         events.append, on_trainer=late)
    assert outcome.status == "done"
    [refused] = [e for e in events if e["event"] == "change"]
    assert refused["id"] == "late" and "the run ended" in refused["refused"] and "lr" not in refused
    assert events[-1]["event"] == "end" and not outcome.progress.epochs[-1]["lr"] == 0.5
    valid(events)


def test_the_runs_comparison_shows_the_values_a_run_trains_with_after_a_live_change(tmp_path):
    """The Runs pane's differences (and `runs --compare`) read spec.toml alone: a run whose rate was changed live
    to 0.002 and its epochs to 3 showed its first rate and epochs beside a run that trained at 0.002 from the
    start, while ctrl+o on it showed the changed ones."""
    from tui.core import compare

    def run(name: str, change: bool):
        spec = make_spec(tmp_path / name, data__dataset="iris", train__epochs=5 if change else 3, train__lr=0.01
                         if change else 0.002, train__patience=0, train__log_interval=1e-6, run__name=name)
        on_trainer = (lambda t: t.changes.schedule(Change(lr=0.002, epochs=3, id="x", step=5), 0)) if change \
            else None
        _, folder = job.run(spec, lambda e: None, on_trainer=on_trainer)
        return folder.path

    changed, plain = run("changed", True), run("plain", False)
    assert [e["lr"] for e in read_events(changed / "events.jsonl") if e["event"] == "change"] == [0.002]
    runs = [compare.read(changed), compare.read(plain)]
    assert runs[0].spec["train.lr"] == 0.002 and runs[0].spec["train.epochs"] == 3
    differing = {d.field for d in compare.differences(runs)}
    assert "train.lr" not in differing and "train.epochs" not in differing


async def test_the_change_dialog_checks_against_the_epochs_the_run_has_reached_by_now():
    """The dialog took the finished epochs once, at opening: left open while the run went on, it let through
    epochs the worker then refused ('below the epoch in progress'); a bad rate was named 'lr', not its field."""
    from textual.app import App

    done = [1]
    spec = Spec().with_overrides({"train.epochs": 20})

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ChangeScreen("r", spec, 0.01, lambda: done[0]))

    app = Host()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the dialog")
        dialog = app.screen
        note, epochs = dialog.query_one("#change-note", Static), dialog.query_one("#change-epochs", Input)
        assert "epochs: at least 2" in text_of(note)
        epochs.value = "5"
        await pilot.pause()
        assert not epochs.has_class("-invalid")
        done[0] = 7  # the run finished more epochs meanwhile
        await wait_for(pilot, lambda: epochs.has_class("-invalid"), 5, "5 refused now")
        assert "epoch in progress" in text_of(note)
        epochs.value = "20"
        dialog.query_one("#change-lr", Input).value = "abc"
        await pilot.pause()
        assert text_of(note) == "Learning rate must be a number, got 'abc'"
        dialog.query_one("#change-lr", Input).value = "0"  # the spec's own check, named as the field is labelled
        await pilot.pause()
        assert text_of(note).startswith("Learning rate must be a number > 0, got 0"), text_of(note)
        dialog.query_one("#change-lr", Input).value = "0.01"
        dialog.query_one("#change-patience", Input).value = "-1"
        await pilot.pause()
        assert text_of(note).startswith("Patience must be an integer >= 0"), text_of(note)


async def test_after_a_live_change_of_epochs_the_screen_offers_what_the_worker_does():
    """A run started from the screen with Epochs 300, changed live to 170 and ended there: the Hyperparameters pane
    still said 300, and ctrl+r offered 'continues ... from epoch 170 to 300' - the worker, resumed without --epochs,
    read its own 170 and failed ('already trained 170 of 170 epochs'; a tmux audit). The screen takes the run's
    change as loading it would: the field says 170, ctrl+r asks for more, and a raised Epochs trains on to it. A
    field the user had typed a value of their own into keeps it."""
    app = TorchTUI(cpu_spec(**{"data.dataset": "digits", "train.epochs": FOREVER, "train.batch_size": 16}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        run = app.followed
        await wait_for(pilot, lambda: run.running and run.last_step, what="training steps")
        epochs, lr = app.query_one("#hp-epochs", Input), app.query_one("#hp-lr", Input)
        lr.value = "0.05"  # the user's own value for a next run, typed while this one trains
        await pilot.pause()
        await pilot.press("ctrl+p")  # paused, so the new total is known to be ahead of it (the worker runs ahead of
        await wait_for(pilot, lambda: run.status == "paused", 60, "the pause")  # what the screen has read)
        change = live_change.request(run.run_dir, Change(epochs=run.epoch_done + 2, lr=0.003), run)
        await wait_for(pilot, lambda: run_events(run.run_dir, "change"), 60, "the change event")  # (while paused)
        assert [(c["id"], c.get("refused")) for c in run_events(run.run_dir, "change")] == [(change.id, None)]
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: run.status == "done" and app.process is None, 120, "the run's end")
        total = run.epoch_done
        assert run.start["epochs"] == total and epochs.value == str(total) and app.spec.train.epochs == total
        assert lr.value == "0.05" and app.spec.train.lr == 0.05  # typed: kept
        lr.value = "0.003"  # the run's own rate again: ctrl+r is its continuation
        await pilot.pause()
        said = text_of(app.query_one("#hp-next", Static))
        assert said == f"{run.run_dir.name} already trained {total} epochs: raise Epochs above {total} to train on"
        epochs.value = str(total + 1)
        await pilot.pause()
        said = text_of(app.query_one("#hp-next", Static))
        assert said == f"ctrl+r continues {run.run_dir.name} exactly, from epoch {total} to {total + 1}", said
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed.status == "done" and app.process is None, 120, "the resume's end")
        assert app.followed.run_dir == run.run_dir and app.followed.epoch_done == total + 1, app.followed.error


async def test_the_stop_toast_says_how_to_resume_as_ctrl_r_would_act():
    """Settings changed on screen while a run trained (another learning rate for a next run): ctrl+r trains a new
    run, as the Hyperparameters line says, but the stop toast said 'ctrl+r resumes'. It says what resumes it."""
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "train.epochs": FOREVER}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        run = app.followed
        await wait_for(pilot, lambda: run.running and run.last_step, what="training steps")
        app.query_one("#hp-lr", Input).value = "0.05"
        await pilot.pause()
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: run.status == "interrupted" and app.process is None, what="stop")
        await wait_for(pilot, lambda: any(m.startswith("stopped;") for m in notices.messages), what="the toast")
        hint = "ctrl+o loads it to resume (with the settings on screen, ctrl+r trains a new run)"
        assert f"stopping: the worker saves the exact position to last.pt, then exits; {hint}" in notices.messages
        assert f"stopped; last.pt holds the exact position: {hint}" in notices.messages
        assert text_of(app.query_one("#hp-next", Static)).startswith("ctrl+r trains a new run")
        app.query_one("#hp-lr", Input).value = "0.01"  # its own settings again: ctrl+r resumes it
        await pilot.pause()
        assert app.resume_hint() == "ctrl+r resumes"
        assert text_of(app.query_one("#hp-next", Static)).startswith(f"ctrl+r continues {run.run_dir.name} exactly")
