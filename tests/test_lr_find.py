"""The learning-rate finder: the range test on real data (iris, spiral), `torchtui lr-find`, and
ctrl+l on the screen's Hyperparameters pane with a real child process.

The finder must never touch a run: its weights come from a copy, and nothing is written.
"""

from __future__ import annotations

import json
import math
import shlex

import pytest
import torch
from typer.testing import CliRunner

from tui.app.app import TorchTUI
from tui.app.hyper_pane import widget_id
from tui.app.lr_find_screen import LRFindScreen
from tui.cli import app as cli_app
from tui.core import job, lr_find
from tui.core.errors import UserError
from tui.core.runs import read_events
from tui.core.spec import Spec

from test_app import Notices, cpu_spec, data_loaded, in_tmp, running, text_of, wait_for  # noqa: F401  (in_tmp: autouse)


def spec_for(dataset: str, **overrides) -> Spec:
    return Spec().with_overrides({"data.dataset": dataset, "train.device": "cpu", **overrides})


def invoke(*args):
    return CliRunner().invoke(cli_app, [str(a) for a in args])


def val_losses(run_dir) -> list[float]:
    return [e["val_loss"] for e in read_events(run_dir / "events.jsonl") if e["event"] == "epoch"]


def snapshot(folder) -> dict[str, tuple[bytes, int]]:
    """Every file of a folder with its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- the range test --------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["iris", "spiral"])
def test_curve_falls_then_rises_and_the_suggestion_trains(dataset, tmp_path):
    result = lr_find.range_test(spec_for(dataset))
    losses, lrs = result.losses, result.lrs
    lowest = losses.index(min(losses))
    assert 0 < lowest < len(losses) - 1  # a minimum inside the range
    assert losses[lowest] < 0.9 * losses[0]  # it fell...
    assert losses[-1] > 1.5 * losses[lowest]  # ...then rose
    assert result.stopped == "diverged" and result.steps == len(lrs) < result.planned_steps == 100
    assert all(b > a for a, b in zip(lrs, lrs[1:]))  # the rate only grows
    # the stated rule, within the range
    assert result.min_lr == lrs[lowest]
    assert result.suggested_lr == float(f"{lrs[lowest] / 10:.2g}")
    assert result.start_lr <= result.suggested_lr <= result.end_lr
    # and a run at that rate learns: validation loss improves over a few epochs
    spec = spec_for(dataset, **{"train.lr": result.suggested_lr, "train.epochs": 4, "train.patience": 0,
                                "run.runs_dir": str(tmp_path / "runs")})
    outcome, folder = job.run(spec, lambda e: None)
    val = val_losses(folder.path)
    assert outcome.status == "done" and len(val) == 4
    assert val[-1] < 0.8 * val[0], val


def test_same_seed_same_result_exactly_another_seed_another():
    first = lr_find.range_test(spec_for("spiral"), steps=60)
    again = lr_find.range_test(spec_for("spiral"), steps=60)
    assert first == again  # every lr and loss, bit for bit
    assert first.raw_losses and first.suggested_lr is not None
    other = lr_find.range_test(spec_for("spiral", **{"train.seed": 1}), steps=60)
    assert other.raw_losses != first.raw_losses


def test_steps_and_range():
    assert [lr_find.default_steps(n) for n in (8, 150, 1000)] == [100, 150, 300]
    # a range too low to blow up: every step is run, from the first rate to the last
    result = lr_find.range_test(spec_for("iris"), steps=40, start_lr=1e-5, end_lr=1e-2)
    assert result.steps == result.planned_steps == 40 and result.stopped == "end"
    assert result.lrs[0] == 1e-5 and result.lrs[-1] == pytest.approx(1e-2, rel=1e-12)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)  # geometric
    # the loss kept falling to the end: the suggestion follows the rule, and says so
    assert result.suggested_lr == float(f"{result.min_lr / 10:.2g}")
    assert "still falling" in result.note
    # iris has 8 batches an epoch: the test cycles through 12 and a half epochs of them
    assert lr_find.range_test(spec_for("iris"), start_lr=1e-5, end_lr=1e-3).steps == 100
    for steps, start, end in ((2, 1e-7, 10.0), (50, 0.0, 1.0), (50, 1.0, 0.1)):
        with pytest.raises(UserError):
            lr_find.range_test(spec_for("iris"), steps, start, end)


def test_checkpoint_weights_are_copied_and_the_run_is_untouched(tmp_path):
    spec = spec_for("iris", **{"train.epochs": 3, "run.runs_dir": str(tmp_path / "runs")})
    _, folder = job.run(spec, lambda e: None)
    before = snapshot(folder.path)
    path, ckpt = lr_find.read_checkpoint(folder.path)
    assert path == folder.path / "last.pt"
    held = {k: v.clone() for k, v in ckpt["model"].items()}

    trained = lr_find.range_test(Spec.from_dict(ckpt["spec"]), steps=50, weights=ckpt)
    fresh = lr_find.range_test(Spec.from_dict(ckpt["spec"]), steps=50)

    assert all(torch.equal(ckpt["model"][k], v) for k, v in held.items())  # the loaded weights unchanged
    _, reread = lr_find.read_checkpoint(folder.path)
    assert all(torch.equal(reread["model"][k], v) for k, v in held.items())  # and the file's
    assert snapshot(folder.path) == before  # no file in the run folder written, added or touched
    assert trained.raw_losses[0] < 0.8 * fresh.raw_losses[0]  # it did start from the trained weights
    with pytest.raises(UserError, match="layers"):
        lr_find.range_test(spec_for("iris", **{"model.layers": ["Linear(8)"]}), steps=10, weights=ckpt)


# ---- torchtui lr-find ------------------------------------------------------------------------
def test_cli_json_text_and_no_run_folder(tmp_path):
    r = invoke("lr-find", "--dataset", "iris", "--device", "cpu", "--steps", "80", "--json")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert {"lrs", "losses", "suggested_lr", "rule"} <= set(out)
    assert len(out["lrs"]) == len(out["losses"]) == out["steps"] <= 80
    assert out["rule"] == lr_find.RULE and out["start_lr"] == lr_find.START_LR and out["end_lr"] == lr_find.END_LR
    assert out["suggested_lr"] == float(f"{out['min_lr'] / 10:.2g}")

    r = invoke("lr-find", "--dataset", "iris", "--device", "cpu", "--layers", "Linear(32), ReLU()")
    assert r.exit_code == 0, r.stderr
    assert "smoothed loss vs learning rate" in r.stdout and "1e-7" in r.stdout
    assert f"rule: {lr_find.RULE}" in r.stdout
    hint = next(line for line in r.stdout.splitlines() if line.startswith("try it: ")).removeprefix("try it: ")
    suggested = float(shlex.split(hint)[-1])
    assert shlex.split(hint) == ["torchtui", "run", "--dataset", "iris", "--layers", "Linear(32), ReLU()",
                                 "--device", "cpu", "--lr", f"{suggested:g}"]
    assert list(tmp_path.iterdir()) == []  # no run folder, no checkpoints folder, nothing
    # the hint is a command that works, at that rate
    done = invoke(*shlex.split(hint)[1:], "--epochs", "1", "--runs-dir", tmp_path / "runs")
    assert done.exit_code == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert Spec.from_file(run_dir / "spec.toml").train.lr == suggested


@pytest.mark.parametrize("args, says", [
    (["--steps", "2"], "--steps"),
    (["--end-lr", "1e-9"], "--end-lr"),
    (["--start-lr", "0"], "--start-lr"),
    (["--optimizer", "nope"], "--optimizer must be one of"),
    (["--dataset", "no_such.csv"], "no_such.csv"),
    (["--checkpoint", "nowhere"], "nowhere"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, says, tmp_path):
    r = invoke("lr-find", "--device", "cpu", *args)
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1 and says in r.stderr and r.stderr.startswith("error: ")
    assert r.stdout == ""
    j = invoke("lr-find", "--device", "cpu", *args, "--json")
    assert j.exit_code == 2 and says in json.loads(j.stdout)["error"]
    assert list(tmp_path.iterdir()) == []


def test_cli_from_a_run_folder_uses_its_spec_and_weights(tmp_path):
    _, folder = job.run(spec_for("spiral", **{"train.epochs": 2, "run.runs_dir": "runs"}), lambda e: None)
    before = snapshot(folder.path)
    r = invoke("lr-find", "--checkpoint", folder.path, "--steps", "40")
    assert r.exit_code == 0, r.stderr
    assert f"try it: torchtui run {folder.path / 'spec.toml'} --lr " in r.stdout
    j = json.loads(invoke("lr-find", "--checkpoint", folder.path, "--steps", "40", "--json").stdout)
    _, ckpt = lr_find.read_checkpoint(folder.path)
    expected = lr_find.range_test(Spec.from_dict(ckpt["spec"]), steps=40, weights=ckpt)
    assert j["raw_losses"] == expected.raw_losses
    assert snapshot(folder.path) == before
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [folder.path.name]


# ---- the screen ------------------------------------------------------------------------------
async def test_ctrl_l_on_the_hyperparameters_pane_finds_and_uses_a_rate():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app, (80, 24)) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+l")  # the Data pane: the key does nothing here
        await pilot.pause(0.2)
        assert not isinstance(app.screen, LRFindScreen)
        assert "ctrl+l" not in app.active_bindings
        await pilot.press("f4")
        await wait_for(pilot, lambda: "ctrl+l" in app.active_bindings, 10, "ctrl+l on the Hyperparameters pane")
        lr_input = app.query_one("#" + widget_id("train.lr"))
        lr_input.focus()  # in a text field, ctrl+l still opens the finder
        await pilot.pause(0.1)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LRFindScreen), what="the finder dialog")
        dialog = app.screen
        assert dialog.result is None  # the child has not even imported torch yet
        await pilot.press("enter")  # while it runs, enter neither cancels nor uses anything
        await pilot.pause(0.2)
        assert app.screen is dialog
        await wait_for(pilot, lambda: dialog.result is not None, timeout=120, what="the range test")
        suggested = dialog.result["suggested_lr"]
        assert suggested is not None and suggested != app.spec.train.lr
        status = str(dialog.query_one("#lrf-status").content)
        assert f"Suggested learning rate {suggested:g}" in status and lr_find.RULE in status
        assert dialog.query_one("#lrf-plot").display and not dialog.query_one("#lrf-loading").display
        assert dialog.result["lrs"] and len(dialog.result["lrs"]) == len(dialog.result["losses"])
        assert dialog._proc.returncode == 0
        await pilot.press("enter")  # use it
        await wait_for(pilot, lambda: app.spec.train.lr == suggested, what="the rate in the spec")
        assert not isinstance(app.screen, LRFindScreen)
        assert lr_input.value == f"{suggested:g}" and not lr_input.has_class("-invalid")
        assert not app.field_errors.get("train.lr")
        await pilot.press("f1")  # the help lists the key under its pane
        await wait_for(pilot, lambda: app.screen.query("#help-table"), 10, "the help screen")
        help_text = text_of(app.screen.query_one("#help-table"))
        assert "Hyperparameters pane" in help_text and "ctrl+l" in help_text and "learning-rate finder" in help_text


async def test_escape_cancels_and_stops_the_child():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f4", "ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LRFindScreen) and app.screen._proc is not None,
                       what="the finder's child")
        dialog, lr = app.screen, app.spec.train.lr
        proc = dialog._proc
        await pilot.press("escape")
        await wait_for(pilot, lambda: proc.returncode is not None, what="the child to end")
        assert proc.returncode < 0  # killed, not finished
        assert not isinstance(app.screen, LRFindScreen) and app.spec.train.lr == lr


async def test_a_child_error_is_one_notification():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "train.device": "cuda:99"}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f4", "ctrl+l")
        await wait_for(pilot, lambda: notices.titled("learning-rate finder"), timeout=120, what="the error")
        (message,) = notices.titled("learning-rate finder", "error")
        assert "cuda:99" in message and "\n" not in message
        await wait_for(pilot, lambda: not isinstance(app.screen, LRFindScreen), what="the dialog to close")
        assert not math.isnan(app.spec.train.lr)


def test_the_finders_help_lists_only_flags_it_uses():
    # it listed --name, --runs-dir, --test, --nproc-per-node and --save-every, which did nothing there
    shown = invoke("lr-find", "--help").stdout
    for flag in ("--dataset", "--layers", "--lr", "--optimizer", "--batch-size", "--steps", "--checkpoint"):
        assert flag in shown, flag
    for flag in ("--name", "--runs-dir", "--test", "--nproc-per-node", "--save-every", "--epochs", "--scheduler"):
        assert f"{flag} " not in shown, flag
    assert invoke("lr-find", "--name", "x").exit_code == 2
