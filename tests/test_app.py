"""The real screen, driven by Textual's pilot: panes, keys, a real training child process, and
the run folder it writes. Each test works in its own folder (runs go to ./checkpoints)."""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import signal
import sys
import time
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest
import torch
from rich.console import Console
from textual.widgets import DataTable, Input, OptionList, Select, Static
from textual.worker import WorkerCancelled

from tui.app.app import TorchTUI
from tui.app.hyper_pane import HyperPane
from tui.app.model_pane import ModelPane
from tui.app.screens import QuitScreen, RunsScreen
from tui.app.training_pane import TrainingPane
from tui.core import checkpoint, job
from tui.core.runs import read_events
from tui.core.spec import Spec

import warm_cli

SIZE = (100, 30)
# More epochs than any test waits for, so a run can never end before a key or a signal lands; each is stopped
# early (a run that must end resumes with a lower total: nothing but the number of epochs changes)
FOREVER = 100_000


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # One torch thread in the training processes (the app's workers and headless runs inherit it): with two
    # on a box whose other core is busy, a step waits on a descheduled thread, and training crawls (a
    # hundred times slower was seen), past any deadline
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield tmp_path
    for run in (tmp_path / "checkpoints").glob("*/events.jsonl"):  # never leave a worker behind
        starts = [e for e in read_events(run) if e["event"] == "start"]
        for e in starts:
            if e["pid"] == os.getpid():  # a run trained in this process (headless)
                continue
            try:
                os.kill(e["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@asynccontextmanager
async def running(app: TorchTUI, size: tuple[int, int] = SIZE, notifications: bool = False):
    """`app.run_test`, left only once the app's workers are done. A test leaves without `app.exit()`, so
    a data load still in its thread (one starts at mount, and on every load of a run) would land in the
    middle of the app's teardown, into panes already taken down. `notifications`: toasts drawn (run_test leaves
    them out unless asked; drawn, they cover what a click aims at in the bottom right)."""
    async with app.run_test(size=size, notifications=notifications) as pilot:
        yield pilot
        while unfinished := [worker for worker in app.workers if not worker.is_finished]:
            for worker in unfinished:
                with suppress(WorkerCancelled):  # replaced by a newer load: it never calls back
                    await worker.wait()


def cpu_spec(**overrides) -> Spec:
    """A spec on the CPU. Early stopping off unless a test turns it on: a run these tests drive must go on
    until a key or a signal stops it (the default patience could end it first on a quick data set)."""
    return Spec().with_overrides({"train.device": "cpu", "train.patience": 0, **overrides})


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def data_loaded(app, pilot):
    await wait_for(pilot, lambda: app.data is not None and app.data.spec == app.spec.data, what="data to load")
    await pilot.pause(0.1)  # and the panes filled from the spec


class Notices:
    """Every `app.notify(...)` call of one app, as (message, title, severity), kept from the call on.

    A toast expires after a few seconds, and is posted to the app's queue before it shows: a test that
    looked for it on screen (or in Textual's private list of toasts) could find it gone, or not there yet.
    This wraps the app instance's public `notify`, which every pane and worker thread calls."""

    def __init__(self, app: TorchTUI) -> None:
        self.calls: list[tuple[str, str, str]] = []
        show = app.notify

        def notify(message, *, title: str = "", severity: str = "information", **kwargs):
            self.calls.append((str(message), str(title), str(severity)))
            return show(message, title=title, severity=severity, **kwargs)

        app.notify = notify

    @property
    def messages(self) -> list[str]:
        return [message for message, _, _ in self.calls]

    def titled(self, text: str, severity: str | None = None) -> list[str]:
        """The messages whose title holds `text` (and of this severity)."""
        return [m for m, title, sev in self.calls if text in title and severity in (None, sev)]


def run_events(run_dir: Path, kind: str) -> list[dict]:
    """A run's events of one kind, from its folder: what the worker did, whatever the screen showed."""
    return [e for e in read_events(run_dir / "events.jsonl") if e["event"] == kind]


def text_of(widget) -> str:
    """What a widget shows, as plain text (Rich tables included)."""
    content = widget.content if isinstance(widget, Static) else widget.render()
    if isinstance(content, str):
        return content
    if hasattr(content, "plain"):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


# ---- Data ------------------------------------------------------------------------------------
async def test_pick_a_dataset_shows_columns_preview_and_notices():
    app = TorchTUI(cpu_spec(**{"data.dataset": "spiral"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        options = app.query_one("#data-list", OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert {"iris", "wine", "digits", "diabetes", "spiral"} <= set(ids)
        options.focus()
        options.highlighted = ids.index("iris")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.data.spec.dataset == "iris" and app.data.prepared is not None,
                       what="iris to load")
        assert app.data.columns[0] == ("sepal_length", "float") and app.data.columns[-1] == ("species", "text")
        assert app.stack.input_shape == "(4,)" and app.stack.added[-1][1] == "(3,)"
        assert "species -> 3 classes: setosa, versicolor, virginica" in text_of(app.query_one("#data-notices", Static))
        options.highlighted = ids.index("wine")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.data.spec.dataset == "wine" and app.data.prepared is not None,
                       what="wine to load")
        assert app.spec.data.dataset == "wine"
        assert len(app.data.columns) == 14 and app.data.prepared.pre.n_inputs == 13
        table = app.query_one("#data-preview", DataTable)
        assert table.row_count == 8 and len(table.columns) == 14
        assert "3 classes" in text_of(app.query_one("#data-notices", Static))
        # The Model pane follows the data: 13 inputs, 3 outputs.
        assert app.stack.ok and app.stack.input_shape == "(13,)" and app.stack.added[-1][1] == "(3,)"

        # A target and a dropped feature change what preparation makes of it.
        app.query_one("#data-target", Select).value = "alcohol"
        await wait_for(pilot, lambda: app.data.spec.target == "alcohol" and app.data.prepared is not None,
                       what="target change")
        assert app.data.prepared.pre.task == "regression" and app.stack.added[-1][1] == "(1,)"

        # A file that does not exist: one line on screen, and the data shown stays (it was replaced by the error,
        # and the Model pane by "input ?")
        box = app.query_one("#data-path", Input)
        box.value = "nope.csv"
        box.focus()
        notices = Notices(app)
        shown = (app.spec.data.dataset, app.stack.input_shape)
        await pilot.press("enter")
        await wait_for(pilot, lambda: notices.calls, 5, "the refusal")
        assert [m for m, _, _ in notices.calls] == ["nope.csv not found; check the path (the data shown is kept)"]
        assert box.has_class("-invalid") and app.data.error == "" and app.stack.ok
        assert (app.spec.data.dataset, app.stack.input_shape) == shown


async def test_a_file_with_empty_cells_is_fixed_from_the_data_pane(in_tmp):
    (in_tmp / "messy.csv").write_text("a,b,c,label\n1,2,3,x\n4,,6,y\n7,8,9,x\n1,2,,y\n"
                                      "3,4,5,x\n5,6,7,y\n2,3,4,x\n8,9,1,y\n")
    app = TorchTUI(cpu_spec(**{"data.dataset": "messy.csv"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        assert "empty, non-numeric or infinite cells: b 1, c 1" in app.data.error
        assert not app.stack.ok or app.data.prepared is None
        # the refusal comes with what was read before it, as on the console
        assert "- read messy.csv: 8 rows, 4 columns; separator ','" in text_of(app.query_one("#data-notices", Static))
        app.query_one("#data-missing", Select).value = "impute"
        await wait_for(pilot, lambda: app.data.spec.missing == "impute", what="reload")
        assert app.data.error == "" and app.data.prepared.pre.n_inputs == 3
        assert "filled empty cells" in text_of(app.query_one("#data-notices", Static))


# ---- Model -----------------------------------------------------------------------------------
async def test_edit_the_stack_add_move_remove_and_refuse():
    app = TorchTUI(cpu_spec())
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("2")
        pane = app.query_one(ModelPane)
        table = app.query_one("#model-table", DataTable)
        table.focus()
        table.move_cursor(row=2)  # ReLU()
        await pilot.press("a")
        await pilot.press(*"Dropout(0.1)", "enter")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(64)", "ReLU()", "Dropout(0.1)"], what="the add")
        assert app.stack.ok and app.stack.rows[3] == ("Dropout(p=0.1)", "(64,)", 0)
        assert app.stack.total == 4 * 64 + 64 + 64 * 3 + 3

        table.move_cursor(row=3)
        await pilot.press("shift+up")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(64)", "Dropout(0.1)", "ReLU()"],
                       what="the move")
        table.move_cursor(row=1)
        await pilot.press("e")
        box = app.query_one("#model-input", Input)
        await wait_for(pilot, lambda: box.value == "Linear(64)", what="the layer to edit")
        box.value = "Linear(32)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.spec.model.layers[0] == "Linear(32)", what="the edit")
        assert app.stack.total == 4 * 32 + 32 + 32 * 3 + 3

        table.move_cursor(row=2)
        await pilot.press("d")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(32)", "ReLU()"], what="the removal")

        # Refused: an unknown layer, a bad argument, a layer that cannot go where it was put.
        for bad, reason in [("Linaer(8)", "unknown layer Linaer"), ("Dropout(1.5)", "Dropout"),
                            ("Conv2d(4, 3)", "needs an image input")]:
            table.focus()
            told = len(notices.calls)
            await pilot.press("a")
            await pilot.press(*bad, "enter")
            await wait_for(pilot, lambda reason=reason, told=told: any(reason in n for n in notices.messages[told:]),
                           what=f"{bad} refused")
            assert app.spec.model.layers == ["Linear(32)", "ReLU()"], bad
            await pilot.press("escape")

        # A stack an edit breaks is kept, marked at the breaking layer, and training will not start.
        app.edit_layers(["Unflatten(1, (1, 2, 2))", "Conv2d(2, 1)", "Flatten()"])
        await pilot.pause()
        assert app.stack.ok and app.stack.rows[2][1] == "(2, 2, 2)"
        app.edit_layers(["Conv2d(2, 1)", "Flatten()"])
        await pilot.pause()
        assert not app.stack.ok and app.stack.error_layer == 1 and "needs an image input" in app.stack.error
        assert "cannot run" in text_of(pane.query_one("#model-status", Static))
        await pilot.press("1", "ctrl+r")
        await wait_for(pilot, lambda: any("layer stack cannot run" in n for n in notices.messages), what="the refusal")
        assert app.followed is None
        assert app.query_one("#panes").active == "model"


# ---- Hyperparameters ---------------------------------------------------------------------------
async def test_hyperparameters_are_checked_as_typed():
    app = TorchTUI(cpu_spec())
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        lr = app.query_one("#hp-lr", Input)
        lr.focus()
        lr.value = ""
        await pilot.press(*"-1")
        error = app.query_one("#hp-error", Static)
        # in the screen's words: the field's label, not the spec's path (train.lr)
        await wait_for(pilot, lambda: "Learning rate must be a number > 0, got -1" in text_of(error), what="refused")
        assert lr.has_class("-invalid")
        assert app.spec.train.lr == 0.01  # the spec never holds a refused value
        lr.value = ""
        await pilot.press(*"abc")
        await wait_for(pilot, lambda: "'abc'" in app.field_errors.get("train.lr", ""), what="abc refused")
        assert "must be a number" in app.field_errors["train.lr"]
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("Learning rate must be" in n for n in notices.messages), what="refused")
        assert app.followed is None

        lr.value = ""
        await pilot.press(*"0.05")
        await wait_for(pilot, lambda: app.spec.train.lr == 0.05, what="lr 0.05")
        assert not lr.has_class("-invalid")
        app.query_one("#hp-optimizer", Select).value = "SGD"
        await wait_for(pilot, lambda: app.spec.train.optimizer == "SGD", what="SGD")
        momentum = app.query_one("#hp-momentum", Input)
        momentum.value = "0.9"
        await wait_for(pilot, lambda: app.spec.train.momentum == 0.9, what="momentum 0.9")
        app.query_one("#hp-optimizer", Select).value = "Adam"  # momentum does not apply to Adam: refused
        await wait_for(pilot, lambda: "momentum applies to SGD" in app.field_errors.get("train.optimizer", ""),
                       what="Adam refused")
        assert app.spec.train.optimizer == "SGD"
        epochs = app.query_one("#hp-epochs", Input)
        epochs.value = "2.5"
        await wait_for(pilot, lambda: "must be an integer" in app.field_errors.get("train.epochs", ""),
                       what="2.5 refused")


async def test_the_device_picker_offers_all_gpus_as_ddp_and_sets_the_processes():
    """On a box with several GPUs (their list given here: CI has none) "all N GPUs (DDP)" is a device choice:
    device cuda with one process per GPU; picking one device again goes back to one process."""
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        pane = app.query_one(HyperPane)
        await wait_for(pilot, lambda: pane.devices_known, what="the devices found")
        pane.set_devices([("auto", "auto (cuda:0 H200)"), ("cuda:0", "cuda:0  H200"), ("cuda:1", "cuda:1  H200"),
                          ("all-gpus", "all 2 GPUs (DDP)"), ("cpu", "cpu")])
        device, processes = app.query_one("#hp-device", Select), app.query_one("#hp-processes", Input)
        device.value = "all-gpus"
        await wait_for(pilot, lambda: app.spec.run.processes == "gpu", what="one process per GPU")
        assert app.spec.train.device == "cuda" and processes.value == "gpu"
        assert "with one process per GPU (DDP)" in text_of(app.query_one("#hp-next", Static))
        device.value = "cpu"
        await wait_for(pilot, lambda: app.spec.train.device == "cpu", what="back to the CPU")
        assert app.spec.run.processes == "1" and processes.value == "1"
        processes.value = "0"
        await wait_for(pilot, lambda: "Processes must be" in app.field_errors.get("run.processes", ""),
                       what="0 processes refused")


# ---- Training, save, stop, load, resume ----------------------------------------------------------
async def test_train_pause_save_stop_then_load_in_a_fresh_app_and_resume_exactly(in_tmp):
    # FOREVER epochs: the pause lands before the end whatever the training speed (the status redraws once a
    # second); the fresh app resumes it to a total of two more epochs than it completed.
    spec = cpu_spec(**{"data.dataset": "digits", "train.epochs": FOREVER, "train.batch_size": 8, "train.seed": 3})
    app = TorchTUI(spec)
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        assert app.query_one("#panes").active == "training"
        run = app.followed
        await wait_for(pilot, lambda: len(run.epochs) >= 1, what="the first epoch")
        first, seen = text_of(app.query_one("#train-status", Static)), len(run.epochs)
        assert "running" in first and "epoch" in first
        await wait_for(pilot, lambda: len(run.epochs) > seen, what="another epoch")
        status = app.query_one("#train-status", Static)
        await wait_for(pilot, lambda: text_of(status) != first, what="the status to advance")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: run.status == "paused", what="pause")
        per_epoch = run.start["steps_per_epoch"]
        while run.paused["step"] % per_epoch == 0:  # on an epoch's last step a save waits for the epoch's end:
            landed = run.paused  # resume, and pause again at a later step
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: run.status == "running", what="resume")
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda landed=landed: run.status == "paused" and run.paused is not landed,
                           what="pause")
        paused_at, logged = run.paused["step"], run.last_step["step"]
        # The chart has points and the status shows where training is.
        pane = app.query_one(TrainingPane)
        pane.draw_charts()
        chart = text_of(app.query_one("#loss-plot"))
        assert "train" in chart and any("\u2800" <= ch <= "\u28ff" for ch in chart)
        status = text_of(app.query_one("#train-status", Static))
        assert "paused" in status and run.run_dir.name in status and "epoch" in status
        for size in ((80, 24), (200, 60), (50, 12), SIZE):  # resizing mid-training is harmless
            await pilot.resize_terminal(*size)
            await pilot.pause(0.15)
        assert app.query_one("#loss-plot").size.width > 40
        assert run.last_step["step"] == logged and run.status == "paused"  # paused means paused

        await pilot.press("ctrl+s")  # paused mid-epoch: served at once, at the paused position
        await wait_for(pilot, lambda: any(c.get("requested") for c in run.checkpoints), what="save now")
        [requested] = [c for c in run_events(run.run_dir, "checkpoint") if c.get("requested")]
        assert requested["step"] == paused_at
        # said as the status line says where training is: the epoch in progress and its step (the epoch it said
        # was one lower, the step the run's)
        within = paused_at - requested["epoch"] * per_epoch
        assert requested["epoch_step"] == within and 0 < within < per_epoch
        assert f"saved last.pt in epoch {requested['epoch'] + 1} at step {within}/{per_epoch}" in notices.messages
        assert f"epoch {requested['epoch'] + 1}/" in status
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: run.status == "interrupted" and app.process is None, what="stop")
        [end] = run_events(run.run_dir, "end")
        assert end["status"] == "interrupted" and end["step"] == paused_at
        saved = checkpoint.load(run.run_dir / "last.pt")
        assert saved["progress"]["step"] == paused_at
        epochs_before, steps_before = len(run.epochs), len(run.steps)
        run_dir = run.run_dir

    # A fresh app: ctrl+o, the newest run first, enter loads it.
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.run_dir == run_dir, what="load")
        saved = Spec.from_file(run_dir / "spec.toml")  # the run's settings; its folder name stays the run's own
        assert app.loaded_spec == saved and app.spec == saved.with_overrides({"run.name": ""})
        assert app.query_one("#hp-epochs", Input).value == str(FOREVER)
        assert len(app.followed.epochs) == epochs_before and len(app.followed.steps) == steps_before
        await data_loaded(app, pilot)
        total = app.followed.epoch_done + 2  # the epoch it stopped in, and one more
        app.query_one("#hp-epochs", Input).value = str(total)
        await wait_for(pilot, lambda: app.spec.train.epochs == total, what="the new number of epochs")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed.status == "done" and app.process is None, timeout=120,
                       what="the resumed run to finish")
        ends = run_events(run_dir, "end")
        assert [e["status"] for e in ends] == ["interrupted", "done"] and ends[-1]["epochs"] == total
        resumed = checkpoint.load(run_dir / "last.pt")["model"]
        # Results: both models, a confusion matrix summing to the validation rows.
        await wait_for(pilot, lambda: "best" in app.followed.evaluations, what="evaluation")
        await pilot.press("5")
        await pilot.pause()
        best = app.followed.evaluations["best"]
        assert sum(map(sum, best["confusion"])) == best["rows"] == app.followed.start["val_rows"] == 359
        shown = text_of(app.query_one("#results-detail", Static))
        assert "confusion matrix, best model" in shown and "precision" in shown
        assert "best" in text_of(app.query_one("#results-summary", Static))

    # The same run, uninterrupted and headless, ends with the same weights.
    warm_cli.run([sys.executable, "-m", "tui", "run", "--dataset", "digits", "--epochs", str(total), "--batch-size",
                  "8", "--seed", "3", "--device", "cpu", "--patience", "0", "--name", "straight"],
                 check=True, capture_output=True)
    straight = checkpoint.load(Path("checkpoints/straight/last.pt"))["model"]
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


async def test_a_refused_worker_shows_its_error_and_the_app_stays_usable():
    app = TorchTUI(cpu_spec(**{"train.device": "cuda:3"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        # the pane's own choices (Select keeps its options private)
        assert ("cuda:3", "cuda:3 (not found here)") in app.query_one(HyperPane).devices
        assert app.query_one("#hp-device", Select).value == "cuda:3"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed.status == "failed", what="the refusal")
        assert "cuda:3" in app.followed.error and "not available" in app.followed.error
        assert "cuda:3" in text_of(app.query_one("#train-status", Static))
        await pilot.press("3")
        assert app.query_one("#panes").active == "hyper"


async def test_a_killed_worker_is_reported():
    app = TorchTUI(cpu_spec(**{"data.dataset": "digits", "train.epochs": FOREVER}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed.pid is not None and app.followed.running, what="start")
        os.kill(app.followed.pid, signal.SIGKILL)
        await wait_for(pilot, lambda: app.followed.status == "interrupted", what="the kill to be seen")
        assert "killed (SIGKILL)" in app.followed.error and "ctrl+r resumes" in app.followed.error
        assert notices.titled("training process killed", severity="error") == [app.followed.error]
        assert run_events(app.followed.run_dir, "end") == []  # killed: it never wrote how it ended


async def test_quit_while_training_asks_and_can_stop_it():
    app = TorchTUI(cpu_spec(**{"data.dataset": "digits", "train.epochs": FOREVER}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(app.followed.epochs) >= 1, what="an epoch")
        run_dir = app.followed.run_dir
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen)
        await pilot.press("ctrl+q", "s")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ends = [e for e in read_events(run_dir / "events.jsonl") if e["event"] == "end"]
        if ends:
            break
        time.sleep(0.1)
    assert ends and ends[-1]["status"] == "interrupted"


# ---- Checkpoints, export, attach ---------------------------------------------------------------------
def headless(*args: str, own_process: bool = False) -> Path:
    """`torchtui run ARGS` to its end, in this process (typer's CliRunner: the screen tests need its run folder,
    not a separate interpreter, which cost each ~2 s of importing torch); the stop-signal handlers a run installs
    are put back after it, so a signal to this test process acts as before. `own_process`: in a process of its
    own, gone after it, for a test that makes the folder look unfinished (a run whose process still lives is
    taken for one still training)."""
    from typer.testing import CliRunner

    from tui.cli import app as cli

    if own_process:
        warm_cli.run([sys.executable, "-m", "tui", "run", "--device", "cpu", *args], check=True, capture_output=True)
        return max(Path("checkpoints").iterdir(), key=lambda p: p.stat().st_mtime)
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                                              signal.SIGUSR2)}
    try:
        done = CliRunner().invoke(cli, ["run", "--device", "cpu", *args])
    finally:
        for s, handler in kept.items():
            signal.signal(s, handler)
    assert done.exit_code == 0, (done.exit_code, done.output, done.exception)
    return max(Path("checkpoints").iterdir(), key=lambda p: p.stat().st_mtime)


async def test_attach_to_a_headless_run_shows_its_history_and_results():
    run_dir = headless("--dataset", "iris", "--epochs", "4", "--name", "h")
    app = TorchTUI(attach=run_dir)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None, what="attach")
        state = app.followed
        assert state.status == "done" and [e["epoch"] for e in state.epochs] == [1, 2, 3, 4]
        assert app.spec.train.epochs == 4
        assert "done" in text_of(app.query_one("#train-status", Static))
        assert state.evaluations["last"]["val_loss"] == state.epochs[-1]["val_loss"]


async def test_the_loss_chart_on_a_log_scale_survives_resizes_and_repaints():
    # plotext takes the log of the data it holds in place at each build: a chart built twice from one plot (a
    # resize, a repaint) took it twice and ended the app with "math domain error"; each render plots afresh
    run_dir = headless("--dataset", "iris", "--epochs", "3", "--name", "logged")
    app = TorchTUI(attach=run_dir)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None and len(app.followed.epochs) == 3, what="attach")
        await pilot.press("f5", "l")
        for size in [(120, 30), (100, 34), (100, 30)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        loss = app.query_one("#loss-plot")
        loss.refresh()
        await pilot.pause()
        assert app.is_running and app.return_code is None
        drawn = text_of(loss)
        assert "loss (log)" in drawn and "step" in drawn


async def test_evaluate_and_predict_another_file_with_the_best_model(in_tmp):
    import pandas as pd

    from tui.core.datasets import data_dir

    run_dir = headless("--dataset", "iris", "--epochs", "5", "--name", "e")
    frame = pd.read_csv(data_dir() / "iris.csv")
    frame.to_csv(in_tmp / "labelled.csv", index=False)
    frame.drop(columns=["species"]).head(7).to_csv(in_tmp / "unlabelled.csv", index=False)
    app = TorchTUI(attach=run_dir)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None, what="attach")
        await pilot.press("5")
        box = app.query_one("#results-file", Input)
        box.value = "labelled.csv"
        await pilot.click("#results-evaluate")
        output = app.query_one("#results-file-output")
        await wait_for(pilot, lambda: "accuracy" in text_of(output), what="evaluation")
        shown = text_of(output)
        assert "labelled.csv: 150 rows" in shown
        expected = app.followed.evaluations["best"]  # the same weights on all rows instead of the 30 held out
        assert 0.5 < float(shown.split("accuracy ")[1].split()[0]) <= 1.0 and expected["rows"] == 30
        box.value = "unlabelled.csv"
        await pilot.click("#results-predict")
        await wait_for(pilot, lambda: "predictions written" in text_of(output), what="predictions")
        out = run_dir / "predictions-unlabelled.csv"
        predicted = pd.read_csv(out)
        assert len(predicted) == 7 and set(predicted["species"]) <= {"setosa", "versicolor", "virginica"}
        box.value = "missing.csv"
        await pilot.click("#results-evaluate")
        await wait_for(pilot, lambda: "missing.csv" in text_of(output), what="the refusal")
        box.value = ""  # nothing typed: said, not the last file's answer left standing
        box.focus()
        await pilot.press("enter")
        prompt = "type a file's path to evaluate (a CSV with the run's columns)"
        await wait_for(pilot, lambda: text_of(output) == prompt, what="the prompt")


async def test_a_loaded_run_whose_data_moved_is_given_its_new_place_on_the_data_pane_and_resumed(in_tmp):
    """The run's data file moved: loading it says so; ctrl+r goes to the Data pane and says what to type; the new
    place typed under Path keeps the run's column choices (the same table) and ctrl+r resumes the run with it,
    exactly: the weights of a run never interrupted on the file where it is now."""
    old, new = in_tmp / "old" / "flowers.csv", in_tmp / "new" / "flowers.csv"
    old.parent.mkdir()
    new.parent.mkdir()
    old.write_text(Path(__file__).parents[1].joinpath("datasets", "iris.csv").read_text())
    settings = {"data.target": "species", "data.drop": ["sepal_width"], "train.seed": 5, "run.runs_dir": "made-here"}
    run_dir = job.run(cpu_spec(**settings, **{"data.dataset": str(old), "train.epochs": 1, "run.name": "moved"}),
                      lambda e: None)[1].path  # (in this process, whose pid in_tmp must not kill: not ./checkpoints)
    old.rename(new)
    app = TorchTUI(cpu_spec())
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        app.load_run(run_dir)
        await wait_for(pilot, lambda: app.followed is not None, what="load")
        told = f"its data file {old} is gone: type where it is now in Path on the Data pane"
        await wait_for(pilot, lambda: any(told in n for n in notices.messages), what="the load's notice")
        app.query_one("#hp-epochs", Input).value = "2"
        await wait_for(pilot, lambda: app.spec.train.epochs == 2, what="the new number of epochs")
        await pilot.press("ctrl+r")
        assert notices.messages[-1] == f"moved: {told}, then ctrl+r resumes it (or give a Run name for a new run)"
        assert app.query_one("#panes").active == "data" and app.process is None

        box = app.query_one("#data-path", Input)
        wrong = in_tmp / "wine.csv"  # a slip first: another table, then the right place typed again
        wrong.write_text(Path(__file__).parents[1].joinpath("datasets", "wine.csv").read_text())
        for place in ("wine.csv", "new/flowers.csv"):
            box.value = place
            box.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda place=place: app.spec.data.dataset == place, what=place)
        await data_loaded(app, pilot)
        assert app.data is not None and not app.data.error
        assert (app.spec.data.target, app.spec.data.drop) == ("species", ["sepal_width"])  # the run's choices kept
        assert f"from epoch 1 to 2, its data file now {new}" in text_of(app.query_one("#hp-next", Static))
        app.query_one("#hp-name", Input).value = "moved"  # the run's own name: it goes on in its own folder
        await wait_for(pilot, lambda: app.spec.run.name == "moved", what="the run name")
        assert not app.field_errors.get("run.name")
        assert f"from epoch 1 to 2, its data file now {new}" in text_of(app.query_one("#hp-next", Static))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed.status == "done" and app.process is None, timeout=120,
                       what="the resumed run to finish")
    assert app.loaded_spec is not None and app.loaded_spec.data.dataset == "new/flowers.csv"  # moved once, not again
    assert Spec.from_file(run_dir / "spec.toml").data.dataset == str(new)
    assert [e["status"] for e in run_events(run_dir, "end")] == ["done", "done"]
    straight = job.run(cpu_spec(**settings, **{"data.dataset": str(new), "train.epochs": 2, "run.name": "straight"}),
                       lambda e: None)[1].path
    ours, theirs = (checkpoint.load(d / "last.pt")["model"] for d in (run_dir, straight))
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


async def test_bad_checkpoints_are_refused_and_leave_the_app_untouched():
    run_dir = headless("--dataset", "iris", "--epochs", "2", "--name", "bad")
    edited = headless("--dataset", "iris", "--epochs", "2", "--name", "edited")
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "last.pt").unlink()  # a new, half file (best.pt may be a second name of the old one: kept whole)
    (run_dir / "last.pt").write_bytes(data[: len(data) // 2])
    text = (edited / "spec.toml").read_text().replace("lr = 0.01", "lr = 0.5")
    (edited / "spec.toml").write_text(text)
    app = TorchTUI(cpu_spec(**{"data.dataset": "wine"}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        before = app.spec
        app.load_run(run_dir)
        await wait_for(pilot, lambda: notices.titled("refused"), what="refusal")
        assert any("last.pt" in n for n in notices.titled("refused", severity="error"))
        app.load_run(edited)
        await wait_for(pilot, lambda: any("train.lr 0.5 vs 0.01" in n for n in notices.messages), what="mismatch")
        assert app.spec == before and app.followed is None


async def test_export_writes_a_toml_that_torchtui_run_accepts(in_tmp):
    app = TorchTUI(cpu_spec(**{"train.lr": 0.03, "model.layers": ["Linear(8)", "Tanh()"]}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+e")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (in_tmp / "experiment.toml").exists(), what="the file")
        assert Spec.from_file(in_tmp / "experiment.toml") == app.spec
        await pilot.press("ctrl+e", "enter")  # exists: a second enter replaces it
        assert any("exists" in text_of(w) for w in app.screen.query(Static))
        await pilot.press("enter")
    out = warm_cli.run([sys.executable, "-m", "tui", "run", "experiment.toml", "--epochs", "1"],
                       capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


async def test_a_tiny_terminal_says_so_and_recovers():
    app = TorchTUI(cpu_spec())
    async with running(app, (50, 12)) as pilot:
        await pilot.pause()
        assert "too small" in text_of(app.query_one("#too-small", Static))
        assert app.screen.has_class("-too-small")
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not app.screen.has_class("-too-small")


async def test_help_lists_every_binding():
    app = TorchTUI(cpu_spec())
    async with running(app, (100, 40)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        shown = " ".join(text_of(w) for w in app.screen.query(Static))
        for key in ("ctrl+r", "ctrl+x", "ctrl+s", "ctrl+p", "ctrl+o", "ctrl+e", "ctrl+q", "shift+up"):
            assert key in shown, key
        # every key bound anywhere in the screen's code - panes, tables, dialogs - is on the help screen
        import inspect
        import pkgutil

        import tui.app
        names = {"question_mark": "?", "delete": "del"}
        for info in pkgutil.iter_modules(tui.app.__path__):
            module = importlib.import_module(f"tui.app.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not cls.__module__.startswith("tui.app"):
                    continue  # textual's own classes, imported there
                for binding in cls.__dict__.get("BINDINGS", []):
                    for key in binding.key.split(","):
                        assert names.get(key, key) in shown, f"{cls.__name__}: {key} is not in the help"
        await pilot.press("escape")
        assert not app.screen.query("#help-box")


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(test_help_lists_every_binding())
