"""The screen, second pass (keys that always work, load-change-retrain, smaller things): the real app by its pilot.

Each test here failed before its fix: F-keys did not exist and 1-5 went into a focused field;
ctrl+r from a field left the screen on that field's pane; loading a run, changing a setting and
training again reused the old run's name, so nothing trained and the old run's worker.log was
overwritten; an exported experiment carried that name too."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

from textual.widgets import DataTable, Input, OptionList, RichLog
from textual.widgets._footer import FooterKey

from tui.app import data_source, training_pane
from tui.app.app import TorchTUI
from tui.app.key_bar import KeyBar
from tui.core import record
from tui.core.progress import Progress
from tui.core.record import Recorder
from tui.core.runs import RunFolder

import warm_cli
from conftest import writer_stand_in

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import FOREVER, Notices, cpu_spec, data_loaded, headless, in_tmp, running, text_of, wait_for  # noqa: F401


def active(app) -> str:
    return app.query_one("#panes").active


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


async def test_f_keys_switch_panes_from_a_field_and_digits_stay_in_it():
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        assert active(app) == "hyper"
        field = app.query_one("#hp-epochs", Input)
        field.focus()
        await pilot.pause()
        await pilot.press("f5")  # from inside a text field
        await wait_for(pilot, lambda: active(app) == "training", what="the Training pane")
        await pilot.pause(0.2)
        assert active(app) == "training" and app.spec.train.epochs == 20 and field.value == "20"
        for key, pane in (("f2", "data"), ("f3", "model"), ("f6", "results"), ("f4", "hyper")):
            await pilot.press(key)
            await wait_for(pilot, lambda pane=pane: active(app) == pane, what=f"{key} -> {pane}")
        field.focus()
        await pilot.press("end", "5")  # a digit in a field is typing, seen where it is typed
        assert field.value == "205" and app.spec.train.epochs == 205 and active(app) == "hyper"
        await pilot.press("escape", "4")  # escape leaves the field; then 4 is the Training pane again
        await wait_for(pilot, lambda: active(app) == "training", what="4 after escape")
        assert field.value == "205"


async def test_ctrl_r_from_a_field_shows_the_training_pane():
    app = TorchTUI(cpu_spec(**{"train.epochs": FOREVER}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        app.query_one("#hp-lr", Input).focus()
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and bool(app.followed.start), what="the run to start")
        await pilot.pause(0.3)
        assert active(app) == "training"
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: app.followed.status == "interrupted", what="stop")


async def test_load_change_and_train_makes_a_new_run_and_leaves_the_old_one_untouched():
    old = headless("--dataset", "iris", "--epochs", "3", "--name", "old")
    (old / "worker.log").write_text("the old run's worker log\n")  # as a screen-started run has
    before = folder_digest(old)
    app = TorchTUI(cpu_spec(), attach=old)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None and app.loaded_spec is not None, what="the load")
        await data_loaded(app, pilot)
        assert app.spec.run.name == "" and app.loaded_spec.run.name == "old"
        await pilot.press("3")
        lr = app.query_one("#hp-lr", Input)
        lr.value = "0.02"
        await pilot.pause(0.2)
        assert app.spec.train.lr == 0.02
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.run_dir != old, what="a new run")
        new = app.followed
        await wait_for(pilot, lambda: new.status == "done", timeout=120, what="the new run to finish")
        assert any("the settings differ from old: starting a new run" in m for m in notices.messages)
        assert not notices.titled("did not start")
        assert new.run_dir.parent == old.parent and new.epoch_done == 3 and new.start["lr"] == 0.02
        # the old run's toasts were not replayed as the new run's, and its folder is byte for byte as it was
        assert sum("training done: 3 epochs" in m for m in notices.messages) == 1
        await pilot.pause(0.6)  # the next poll tidies the finished worker's log
    assert folder_digest(old) == before


async def test_a_name_that_is_taken_is_refused_on_screen_and_writes_nothing():
    old = headless("--dataset", "iris", "--epochs", "1", "--name", "taken")
    before = folder_digest(old)
    app = TorchTUI(cpu_spec(**{"run.name": "taken"}), preset=True)
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("already exists" in m for m in notices.messages), what="the refusal")
    assert folder_digest(old) == before
    assert sorted(p.name for p in old.parent.iterdir() if not p.name.startswith(".")) == ["taken"]


async def test_export_after_loading_runs_as_the_toast_suggests():
    old = headless("--dataset", "iris", "--epochs", "1", "--name", "exported-from")
    app = TorchTUI(cpu_spec(), attach=old)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.loaded_spec is not None, what="the load")
        await pilot.press("ctrl+e")
        await pilot.pause(0.2)
        app.screen.query_one(Input).value = "again.toml"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("wrote again.toml" in m for m in notices.messages), what="the export")
    command = next(m for m in notices.messages if "wrote again.toml" in m).split("`")[1].split()
    assert command == ["torchtui", "run", "again.toml"]
    done = warm_cli.run([sys.executable, "-m", "tui", *command[1:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len([p for p in old.parent.iterdir() if p.is_dir()]) == 2


# ---- smaller things a user tripped on ----------------------------------------------------------
async def test_the_path_box_names_the_dataset_picked_from_the_list():
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        options = app.query_one("#data-list", OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        options.focus()
        options.highlighted = ids.index("digits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.data.spec.dataset == "digits", what="digits to load")
        assert app.query_one("#data-path", Input).value == "digits"


def test_only_text_files_that_read_as_tables_are_listed(tmp_path):
    (tmp_path / "notes.txt").write_text("Remember to try a lower learning rate.\nAnd more epochs, maybe 40.\n")
    (tmp_path / "table.txt").write_text("a b label\n1 2 x\n3 4 y\n5 6 x\n")
    (tmp_path / "table.tsv").write_text("a\tb\tlabel\n1\t2\tx\n3\t4\ty\n")
    (tmp_path / "one_column.txt").write_text("value\n1\n2\n3\n")
    (tmp_path / "data.csv").write_text("a,label\n1,x\n")
    (tmp_path / "._data.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")  # a Mac's AppleDouble file
    (tmp_path / "rows.ndjson").write_text('{"a": 1, "label": "x"}\n{"a": 2, "label": "y"}\n')  # what the reader reads
    with gzip.open(tmp_path / "rows.json.gz", "wt") as f:
        f.write('[{"a": 1, "label": "x"}, {"a": 2, "label": "y"}]')
    listed = {value for value, _ in data_source.candidates((tmp_path,))}
    assert {str(tmp_path / n) for n in ("table.txt", "table.tsv", "data.csv", "rows.ndjson", "rows.json.gz")} <= listed
    assert not {str(tmp_path / n) for n in ("notes.txt", "one_column.txt", "._data.csv")} & listed


async def test_each_entry_of_the_datasets_list_is_one_line_at_80x24(tmp_path):
    """A file's size, or a built-in set's task, wrapped onto a line of its own once the list had a scrollbar
    (a tmux audit): the list was twice its height at 80x24. A long name is cut, a name two folders share is
    shown by its path."""
    (tmp_path / "datasets").mkdir()  # (tmp_path is the working folder: in_tmp)
    for name in ("breast_cancer.csv", "digits.csv", "iris.csv", "wine.csv", "diabetes.csv"):
        (tmp_path / "datasets" / name).write_bytes((Path(__file__).parent.parent / "datasets" / name).read_bytes())
    (tmp_path / "measurements_of_the_second_greenhouse_2024.csv").write_text("a,label\n1,x\n2,y\n")
    (tmp_path / "iris.csv").write_text("a,label\n1,x\n2,y\n")
    (tmp_path / "measurements_of_the_second_greenhouse_2025.csv").write_text("a,label\n1,x\n2,y\n")
    labels = dict(data_source.candidates())
    assert all(len(label) <= data_source.LABEL_WIDTH for label in labels.values()), labels
    assert labels["datasets/iris.csv"].startswith("datasets/iris.csv ") and labels["iris.csv"].startswith("iris.csv ")
    assert labels["datasets/wine.csv"].startswith("wine.csv ")
    assert labels["measurements_of_the_second_greenhouse_2024.csv"].startswith("measurement…se_2024.csv ")
    assert labels["measurements_of_the_second_greenhouse_2025.csv"].startswith("measurement…se_2025.csv ")
    app = TorchTUI(cpu_spec())
    async with running(app, (80, 24)) as pilot:
        await data_loaded(app, pilot)
        options = app.query_one("#data-list", OptionList)
        await pilot.pause()
        assert options.option_count == 10 + 8 and options.max_scroll_y > 0  # with its scrollbar
        assert options.virtual_size.height == options.option_count  # one line each


async def test_a_file_copied_in_while_the_screen_is_open_is_listed_and_one_removed_goes(tmp_path, monkeypatch):
    """The list was read once, at start: a file scp'd into ./datasets from another window never showed (a tmux
    audit). It is listed within the list's interval, the highlighted entry staying where it was; a copy still
    growing is listed at its size once written; a removed file leaves the list."""
    from tui.app import data_pane

    monkeypatch.setattr(data_pane, "LIST_INTERVAL", 0.2)
    (tmp_path / "datasets").mkdir()  # (tmp_path is the working folder: in_tmp)
    app = TorchTUI(cpu_spec())
    async with running(app, (100, 30)) as pilot:
        await data_loaded(app, pilot)
        options = app.query_one("#data-list", OptionList)
        ids = lambda: [options.get_option_at_index(i).id for i in range(options.option_count)]  # noqa: E731
        labels = lambda: {o.id: str(o.prompt) for o in map(options.get_option_at_index, range(options.option_count))}  # noqa: E731
        options.highlighted = ids().index("wine")
        before = ids()
        new = tmp_path / "datasets" / "greenhouse.csv"
        new.write_text("a,label\n1,x\n")
        await wait_for(pilot, lambda: "datasets/greenhouse.csv" in ids(), timeout=10, what="the new file listed")
        assert ids() == before + ["datasets/greenhouse.csv"]
        assert options.get_option_at_index(options.highlighted).id == "wine"
        assert labels()["datasets/greenhouse.csv"].endswith(" 12 B")
        new.write_text("a,label\n" + "1,x\n" * 300)  # the rest of the copy: the size shown follows
        await wait_for(pilot, lambda: labels()["datasets/greenhouse.csv"].endswith(" 1.2 KB"), timeout=10,
                       what="the grown size")
        (tmp_path / "notes.txt").write_text("Not a table.\nJust words, a line or two.\n")  # sniffed, not listed
        new.unlink()
        await wait_for(pilot, lambda: "datasets/greenhouse.csv" not in ids(), timeout=10, what="the file gone")
        assert ids() == before and options.get_option_at_index(options.highlighted).id == "wine"


async def test_add_with_the_input_row_highlighted_inserts_at_the_top():
    app = TorchTUI(cpu_spec(**{"model.layers": "Linear(16), ReLU()"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("2")
        table = app.query_one("#model-table", DataTable)
        table.focus()
        table.move_cursor(row=0)  # the input row
        await pilot.press("a", *"Linear(8)", "enter")
        await wait_for(pilot, lambda: len(app.spec.model.layers) == 3, what="the new layer")
        assert app.spec.model.layers == ["Linear(8)", "Linear(16)", "ReLU()"]


def write_epochs(recorder: Recorder, progress: Progress, upto: int) -> None:
    for epoch in range(progress.epoch + 1, upto + 1):
        row = record.epoch(epoch=epoch, step=epoch * 8, train_loss=1 / epoch, skipped_steps=None, val_loss=None,
                           metrics={}, lr=0.01, best=True, best_val_loss=1 / epoch, seconds=0.01,
                           samples_per_s=100.0)
        progress.epoch = epoch
        recorder.write(row)


@contextlib.contextmanager
def live_run(epochs: int):
    """A run folder written as a worker writes it, `epochs` epochs in, its worker alive: (folder, recorder,
    progress)."""
    spec = cpu_spec(**{"train.epochs": 100, "run.name": "live"})
    folder = RunFolder.create(spec, "iris")
    folder.release()  # the stand-in holds the folder's lock, as a worker does
    recorder, progress = Recorder(folder=folder), Progress()
    # a live stand-in for the worker (never this process: the fixture kills every run's worker afterwards)
    worker = writer_stand_in(folder.path / "events.jsonl")
    try:
        recorder.write(record.start(
            pid=worker.pid, run_dir=str(folder.path), dataset="iris", task="classification", target="species",
            classes=["a", "b", "c"], train_rows=120, val_rows=0, input_shape=[4], outputs=3, loss="CrossEntropy",
            notices=[], preview=[], table=True, layers=[], summary="", params=0, device="cpu", epochs=100,
            batch_size=16, steps_per_epoch=8, optimizer="Adam", lr=0.01, scheduler="none", seed=0,
            resumed_from=None))
        write_epochs(recorder, progress, epochs)  # this test writes as the worker would: the run is alive
        yield folder, recorder, progress
    finally:
        recorder.close()
        worker.kill()
        worker.wait()


async def test_the_epoch_log_holds_where_the_reader_scrolled():
    """New epochs scroll the log only when it is at its end: older ones can be read while training."""
    with live_run(30) as (folder, recorder, progress):
        app = TorchTUI(cpu_spec(), attach=folder.path)
        async with running(app) as pilot:
            await wait_for(pilot, lambda: app.followed is not None and len(app.followed.epochs) == 30,
                           what="the history")
            await pilot.press("4")
            log = app.query_one("#train-log", RichLog)
            await wait_for(pilot, lambda: len(log.lines) == 30 and log.max_scroll_y > 0, what="the log")
            await wait_for(pilot, lambda: log.is_vertical_scroll_end, what="the log at its end")
            log.scroll_home(animate=False)
            await pilot.pause(0.1)
            write_epochs(recorder, progress, 35)
            await wait_for(pilot, lambda: len(log.lines) == 35, what="new epochs in the log")
            await pilot.pause(0.3)
            assert log.scroll_y == 0  # held where the reader is
            log.scroll_end(animate=False)
            await pilot.pause(0.1)
            write_epochs(recorder, progress, 40)
            await wait_for(pilot, lambda: len(log.lines) == 40, what="more epochs")
            await wait_for(pilot, lambda: log.is_vertical_scroll_end, what="the log to follow its end again")


async def test_the_epoch_log_keeps_up_with_the_status_line(monkeypatch):
    """The log is written with the status line, once a second, from the same state. It was written with the loss
    chart, every 2 s, and a fast run's log trailed the status line by dozens of epochs (a tmux audit: the status at
    epoch 70, the log at 21). The pane's clock is the test's here, so no redraw happens by chance."""
    clock = [1000.0]
    monkeypatch.setattr(training_pane, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    with live_run(30) as (folder, recorder, progress):
        app = TorchTUI(cpu_spec(), attach=folder.path)
        async with running(app) as pilot:
            await pilot.press("4")
            log, status = app.query_one("#train-log", RichLog), app.query_one("#train-status")
            await wait_for(pilot, lambda: len(log.lines) == 30, what="the history in the log")
            write_epochs(recorder, progress, 35)
            await wait_for(pilot, lambda: len(app.followed.epochs) == 35, what="five more epochs read")
            await pilot.pause(0.6)  # a poll at the same moment of the pane's clock: nothing is redrawn
            assert len(log.lines) == 30
            clock[0] += training_pane.STATUS_INTERVAL  # a status line's interval on, still short of a chart's
            assert training_pane.STATUS_INTERVAL < training_pane.CHART_INTERVAL
            await wait_for(pilot, lambda: "epoch 36/100" in str(status.render()), what="the status line's update")
            await wait_for(pilot, lambda: len(log.lines) == 35, what="the log with it")
            assert "epoch  35/100" in log.lines[-1].text


async def test_the_footer_remounts_its_keys_only_when_they_change():
    """Textual's Footer remounts every key on each bindings update (five per pane switch); the KeyBar only when
    the row it shows changes: focus moving between fields of one pane leaves the very same key widgets."""
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        app.action_pane("hyper")
        await wait_for(pilot, lambda: app.query_one("#panes").active == "hyper", what="the Hyperparameters pane")
        fields = list(app.query_one("#hyper").query(Input))
        fields[0].focus()
        await pilot.pause(0.2)
        bar = app.query_one(KeyBar)
        keys = list(bar.query(FooterKey))
        assert any(k.description == "LR find" for k in keys), [k.description for k in keys]
        for field in fields[1:4]:
            field.focus()
            await pilot.pause(0.2)
            assert app.focused is field
            assert all(a is b for a, b in zip(bar.query(FooterKey), keys, strict=True))
        app.action_pane("model")  # the Model pane's own keys: a new row
        await wait_for(pilot, lambda: any(k.description == "Add" for k in bar.query(FooterKey)),
                       what="the Model pane's keys in the footer")
        assert not any(k.description == "LR find" for k in bar.query(FooterKey))


async def test_keys_that_arrive_in_a_burst_are_applied_in_the_order_typed():
    """Over SSH or tmux keys arrive in bursts. Input ran its bound keys (backspace, end) only once the key had
    bubbled up to the app, so the characters typed after them were inserted first: End, six backspaces and
    "0.02" into a Learning rate of 0.01 left "0." (the backspaces ate what was typed after them), refused. Every
    text box of the screen applies them in order (`FieldInput`)."""
    from textual import events

    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        boxes = ["#hp-lr", "#hp-epochs", "#data-val-split", "#data-path", "#model-input"]
        for box, typed in zip(boxes, ["0.02", "35", "0.3", "x.csv", "ReLU()"]):
            field = app.query_one(box, Input)
            field.focus()
            await pilot.pause()
            burst = ["end", *["backspace"] * 12, *typed]
            for key in burst:  # as a terminal's burst reaches the app: queued at once, none waited for
                character = key if len(key) == 1 else ("\x7f" if key == "backspace" else None)
                app.post_message(events.Key({".": "full_stop", "(": "left_parenthesis",
                                             ")": "right_parenthesis"}.get(key, key), character))
            await wait_for(pilot, lambda f=field, t=typed: f.value == t, 5, f"{typed} in {box}")
            await pilot.pause(0.3)
            assert field.value == typed, (box, field.value)  # (and nothing after it)
        assert app.spec.train.lr == 0.02 and app.spec.train.epochs == 35 and app.spec.data.val_split == 0.3


async def test_attach_shows_the_run_at_once_while_its_checkpoint_is_checked(monkeypatch):
    """`torchtui attach RUN` checks the run's checkpoint first (importing torch: 3 s), and the screen showed the
    Data pane and a footer for no run until then. Its history is on the Training pane as soon as its log is read;
    ctrl+r (and stop, pause, save) wait for the check. A run refused by the check leaves the panes fresh."""
    import threading

    from tui.core.runs import RunFolder

    run_dir = headless("--dataset", "iris", "--epochs", "3", "--name", "h")
    real, checked = RunFolder.saved_run, threading.Event()

    def held(self):
        checked.wait(30)  # (in the load's thread) until the test has seen the screen meanwhile
        return real(self)

    monkeypatch.setattr(RunFolder, "saved_run", held)
    app = TorchTUI(attach=run_dir)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: active(app) == "training", 20, "the Training pane, before the check")
        assert app.followed is None
        await wait_for(pilot, lambda: "epoch 3/3" in text_of(app.query_one("#train-status")), 20, "its history")
        for key in ("ctrl+r", "ctrl+x"):
            await pilot.press(key)
        assert notices.messages.count("loading h: a moment") == 2 and len(list(run_dir.parent.iterdir())) == 1
        checked.set()
        await wait_for(pilot, lambda: app.followed is not None and app.loaded_spec is not None, 30, "the load")
        assert app.followed.status == "done" and app.spec.train.epochs == 3 and active(app) == "training"

    (run_dir / "last.pt").write_bytes(b"not a checkpoint")  # refused by the check, after its history is shown
    checked.clear()
    app = TorchTUI(attach=run_dir)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: "epoch 3/3" in text_of(app.query_one("#train-status")), 20, "its history")
        checked.set()
        await wait_for(pilot, lambda: notices.titled("checkpoint refused"), 30, "the refusal")
        await wait_for(pilot, lambda: active(app) == "data", 10, "the panes let it go")
        assert app.followed is None and app._attaching is None
        assert "no training yet" in text_of(app.query_one("#train-status"))
