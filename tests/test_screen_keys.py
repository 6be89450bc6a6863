"""The screen, second pass (issue: keys that always work, load-change-retrain): the real app by its pilot.

Each test here failed before its fix: F-keys did not exist and 1-5 went into a focused field;
ctrl+r from a field left the screen on that field's pane; loading a run, changing a setting and
training again reused the old run's name, so nothing trained and the old run's worker.log was
overwritten; an exported experiment carried that name too."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from textual.widgets import Input

from tui.app.app import TorchTUI

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import FOREVER, Notices, cpu_spec, data_loaded, headless, in_tmp, running, wait_for  # noqa: F401


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
    done = subprocess.run([sys.executable, "-m", "tui", *command[1:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len([p for p in old.parent.iterdir() if p.is_dir()]) == 2
