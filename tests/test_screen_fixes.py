"""The screen, as an audit in a real terminal found it wrong: each test here failed before its fix.

The run name was checked only as it was typed, so once the screen's own run had written its folder the
Hyperparameters pane still offered to train a new run there, and ctrl+r said two contradicting things; the
Data pane's Validation split took 1.5 without a word, and ctrl+r's refusal then showed the Hyperparameters
pane; a new run's metric chart kept a title that was not its own and its learning-rate chart stayed empty for
seconds; the footer offered `w` on a regression's predictions, and `Pause` for a paused run."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from tui.app import training_pane
from tui.app.app import TorchTUI
from tui.app.key_bar import KeyBar
from tui.app.predictions_table import PredictionsTable

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import FOREVER, Notices, cpu_spec, data_loaded, headless, in_tmp, running, text_of, wait_for  # noqa: F401


def footer(app: TorchTUI) -> dict[str, str]:
    """The footer's keys now: action -> description."""
    return {k.action.split("(")[0].removeprefix("app."): k.description for k in app.query_one(KeyBar).query(FooterKey)}


async def type_into(pilot, widget: Input, text: str) -> None:
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


def record_renders(chart) -> list[str]:
    """What a chart draws on screen, render by render (a chart draws its data afresh at each render, so only
    its renders say what the screen showed)."""
    seen: list[str] = []
    render = chart.render

    def rendered():
        result = render()
        seen.append(result.plain)
        return result

    chart.render = rendered
    return seen


async def test_the_run_name_is_checked_again_once_the_screens_own_run_took_it():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "train.epochs": 2}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f4")
        name, next_line = app.query_one("#hp-name", Input), app.query_one("#hp-next", Static)
        await type_into(pilot, name, "houses1")
        await wait_for(pilot, lambda: text_of(next_line) == "ctrl+r trains a new run in checkpoints/houses1",
                       what="the line on a new run named houses1")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.status == "done"
                       and app.process is None, 120, "the run's end")
        assert not name.has_class("-invalid")  # the same settings: ctrl+r would go on with houses1 itself
        await pilot.press("f4")
        await type_into(pilot, app.query_one("#hp-lr", Input), "0.05")  # now a new run, but its name is taken
        await wait_for(pilot, lambda: name.has_class("-invalid"), 5, "the name marked taken")
        assert "a run named houses1 already exists" in app.field_errors["run.name"]
        assert "houses1 already exists" in text_of(app.query_one("#hp-error", Static))
        assert text_of(next_line).startswith("ctrl+r cannot train: checkpoints/houses1 already exists")

        said = len(notices.calls)
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        assert [m for m, _, _ in notices.calls[said:]] == [app.field_errors["run.name"]]  # one line, and the truth
        assert notices.titled("cannot start training") and app.focused is name
        assert [p.name for p in Path("checkpoints").iterdir() if p.is_dir()] == ["houses1"]  # no run started

        await type_into(pilot, name, "houses2")  # a free name: nothing marked, and the line says where
        await wait_for(pilot, lambda: not name.has_class("-invalid"), 5, "houses2 accepted")
        assert text_of(next_line).startswith("ctrl+r trains a new run in checkpoints/houses2")


async def test_the_validation_split_is_checked_as_typed_and_its_refusal_shows_the_data_pane():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f2")
        split, error = app.query_one("#data-val-split", Input), app.query_one("#data-error", Static)
        await type_into(pilot, split, "1.5")
        await wait_for(pilot, lambda: "Validation split must be a number >= 0 and < 1, got 1.5" in text_of(error), 5,
                       what="1.5 refused as typed")
        assert split.has_class("-invalid") and app.spec.data.val_split == 0.2
        await type_into(pilot, split, "1.50.2")
        await wait_for(pilot, lambda: "'1.50.2'" in text_of(error), 5, what="1.50.2 refused as typed")
        assert "must be a number" in text_of(error)

        await pilot.press("escape", "f4")  # ctrl+r from elsewhere: the refusal shows the field it is about
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: notices.titled("cannot start training"), 5, "the refusal")
        assert "Validation split" in notices.titled("cannot start training")[0] and app.followed is None
        assert app.query_one("#panes").active == "data" and app.focused is split

        await type_into(pilot, split, "0.3")
        await wait_for(pilot, lambda: app.spec.data.val_split == 0.3, 5, what="0.3 taken")
        assert not split.has_class("-invalid") and "Validation split" not in text_of(error)
        await type_into(pilot, split, "2")
        await wait_for(pilot, lambda: split.has_class("-invalid"), 5, what="2 refused")
        await type_into(pilot, split, "0.3")  # back to the value the spec holds: nothing refused any more
        await wait_for(pilot, lambda: not split.has_class("-invalid"), 5, what="0.3 again")
        assert "Validation split" not in text_of(error) and not app.field_errors.get("data.val_split")


async def test_a_new_runs_charts_show_that_run_at_once(monkeypatch):
    # the side charts' own pace, made long: what a new run must show does not wait for it
    monkeypatch.setattr(training_pane, "SIDE_INTERVAL", 1000.0)
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "train.epochs": FOREVER}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        metric, lr = (record_renders(app.query_one(chart)) for chart in ("#metric-plot", "#lr-plot"))
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        assert metric and "R²" not in metric[-1]  # the task is not known before the worker's start event
        run = app.followed
        await wait_for(pilot, lambda: run.start and len(run.lr) > 0, 120, "the run's first steps")
        await wait_for(pilot, lambda: "val accuracy" in metric[-1], 3, "the metric chart titled for iris")
        await wait_for(pilot, lambda: "learning rate 0.01" in lr[-1], 3, "the learning rate drawn")
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not run.running, 60, "the run to stop")


async def test_the_footer_shows_only_keys_that_apply_w_and_resume():
    run_dir = headless("--dataset", "diabetes", "--epochs", "1")  # a regression: no wrong rows
    app = TorchTUI(cpu_spec(), attach=run_dir)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None, 30, "the run loaded")
        await pilot.press("f6", "v")
        view = app.query_one(PredictionsTable)
        await wait_for(pilot, lambda: view.data is not None and not view.filling, 60, "the predictions table")
        assert app.focused is app.query_one("#predictions-table", DataTable)
        await wait_for(pilot, lambda: "sort_column" in footer(app), 5, "the table's keys in the footer")
        assert "wrong_only" not in footer(app)
        said = len(notices.calls)
        await pilot.press("w")
        await pilot.pause(0.2)
        assert notices.calls[said:] == [] and not view.wrong_only

    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "train.epochs": FOREVER}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        # nothing trains: no key of a run in progress (a wide footer offered ^x Stop and ^p Pause)
        assert not {"stop", "pause", "resume", "save"} & set(footer(app)) and "train" in footer(app)
        await pilot.press("ctrl+r")
        run = app.followed
        await wait_for(pilot, lambda: run.status == "running" and run.start, 120, "the run to start")
        await wait_for(pilot, lambda: footer(app).get("pause") == "Pause" and "stop" in footer(app), 5,
                       "Pause and Stop in the footer")
        assert "resume" not in footer(app)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: run.status == "paused", 60, "pause")
        await wait_for(pilot, lambda: footer(app).get("resume") == "Resume", 5, "Resume in the footer")
        assert "pause" not in footer(app)
        await pilot.press("ctrl+p")  # the same key resumes
        await wait_for(pilot, lambda: run.status == "running", 60, "resume")
        await wait_for(pilot, lambda: footer(app).get("pause") == "Pause", 5, "Pause in the footer again")
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not run.running, 60, "the run to stop")
        await wait_for(pilot, lambda: not {"stop", "pause", "save"} & set(footer(app)), 5, "the run's keys gone")


def test_the_confusion_matrix_heads_its_columns_with_whole_class_names_where_they_fit():
    # the heads were cut to 8 characters ("versicol", "virginic") at any width
    import io

    from rich.console import Console

    from tui.app.results_pane import confusion_table

    e = {"classes": ["setosa", "versicolor", "virginica"], "confusion": [[10, 0, 0], [0, 9, 1], [0, 2, 8]],
         "precision": [1.0, 0.8182, 0.8889], "recall": [1.0, 0.9, 0.8], "model": "best"}

    def drawn(width: int) -> str:
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(confusion_table(e))
        return console.export_text()

    wide = drawn(120)
    assert wide.splitlines()[2].split() == ["class", "setosa", "versicolor", "virginica", "precision", "recall"]
    narrow = drawn(60)  # a head cut with a mark where it must be; the numbers whole, never wrapped
    assert "…" in narrow and "0.8182  0.9000" in narrow and "versicolor       0           9" in narrow


async def test_the_layer_box_speaks_of_a_layer_only_while_it_is_edited():
    # after an edit was applied (or cancelled) the box still said "layer 1 - enter to apply, esc to cancel"
    from tui.app.model_pane import IDLE

    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        box = app.query_one("#model-input", Input)
        assert box.placeholder == IDLE
        table = app.query_one("#model-table", DataTable)
        table.focus()
        table.move_cursor(row=1)
        for finish in ("enter", "escape"):
            await pilot.press("e")
            await wait_for(pilot, lambda: box.has_focus, 5, "the layer box")
            assert box.placeholder.startswith("layer 1:")
            await pilot.press(finish)
            await wait_for(pilot, lambda: table.has_focus, 5, "back to the table")
            assert box.placeholder == IDLE, (finish, box.placeholder)
        assert app.spec.model.layers == cpu_spec(**{"data.dataset": "iris"}).model.layers  # applied unchanged


async def test_a_layer_typed_over_the_stack_goes_into_the_box_and_a_removed_layer_can_be_put_back():
    """The box invited a layer ("e.g. Linear(64)") while the stack had the focus, so `Conv2d` typed there was keys:
    its d removed the highlighted layer, without a word and for good, and its 2 switched panes. A letter no key of
    the pane takes now opens the box with it; `d` says what it removed, and `u` puts it back."""
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "model.layers": ["Linear(16)", "ReLU()"]}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        box, table = app.query_one("#model-input", Input), app.query_one("#model-table", DataTable)
        table.focus()
        table.move_cursor(row=1)
        await pilot.pause()
        await pilot.press(*"Dropout", "left_parenthesis", "0", "full_stop", "2", "right_parenthesis")
        assert box.has_focus and box.value == "Dropout(0.2)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(16)", "Dropout(0.2)", "ReLU()"], 5, "added")
        await wait_for(pilot, lambda: table.has_focus, 5, "back to the table")

        said = Notices(app)
        table.move_cursor(row=1)
        await pilot.press("d")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Dropout(0.2)", "ReLU()"], 5, "removed")
        assert said.titled("model") == ["removed layer 1, Linear(16): u puts it back"]
        await pilot.press("u")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(16)", "Dropout(0.2)", "ReLU()"], 5,
                       "put back")
        assert table.cursor_row == 1
        # a change since the remove is not undone with it: u says so and changes nothing
        await pilot.press("d")
        await wait_for(pilot, lambda: app.spec.model.layers == ["Dropout(0.2)", "ReLU()"], 5, "removed again")
        await pilot.press(*"Tanh", "enter")
        await wait_for(pilot, lambda: len(app.spec.model.layers) == 3, 5, "Tanh added")
        await wait_for(pilot, lambda: table.has_focus, 5, "back to the table")
        layers = list(app.spec.model.layers)
        await pilot.press("u")
        await pilot.pause()
        assert app.spec.model.layers == layers and "Tanh" in layers
        assert said.titled("model")[-1] == ("the stack has changed since layer 1, Linear(16), was removed: a adds it "
                                            "again")


async def test_layers_typed_over_the_stack_in_one_burst_all_go_into_the_box():
    """Keys that arrive together (over SSH, from tmux, a paste) came before the box had the focus: each opened it
    afresh with itself alone (`Unflatten(1, (1, 8, 8))` left `n`), and a d among them removed a layer. The box
    also takes several layers as --layers writes them, each a row of its own."""
    from textual import events
    from textual.keys import _character_to_key

    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "model.layers": ["Linear(16)", "ReLU()"]}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        table = app.query_one("#model-table", DataTable)
        table.focus()
        table.move_cursor(row=1)
        await pilot.pause()
        for ch in "Dropout(0.2), Tanh()":  # all posted before any is handled
            app.post_message(events.Key(_character_to_key(ch), ch))
        app.post_message(events.Key("enter", "\r"))
        await wait_for(pilot, lambda: app.spec.model.layers == ["Linear(16)", "Dropout(0.2)", "Tanh()", "ReLU()"], 5,
                       "both added")
        await wait_for(pilot, lambda: table.has_focus, 5, "back to the table")
        assert table.cursor_row == 3  # on the last of them


def test_step_and_epoch_axes_are_ticked_at_whole_numbers():
    # steps and epochs are counts: plotext's own ticks fell between them (1134.2, 1.5)
    import re

    import numpy as np
    import plotext

    from tui.app.charts import whole_ticks

    for lo, hi in [(1, 2), (1, 3), (3, 37), (12, 1134), (1, 100_000)]:
        plt = plotext._figure._figure_class()  # a figure of its own, as each chart widget has
        plt.plotsize(60, 8)
        plt.plot([lo, hi], [1.0, 2.0])
        whole_ticks(plt, [np.array([lo, hi], dtype=float)])
        axis = re.sub(r"\x1b\[[0-9;]*m", "", plt.build().splitlines()[-1]).split()
        assert axis and all(t.isdigit() for t in axis), (lo, hi, axis)
        assert lo <= int(axis[0]) and int(axis[-1]) <= hi, (lo, hi, axis)


async def test_the_first_tab_into_the_hyperparameters_lands_on_a_field_whose_focus_shows():
    """A tmux audit: the first tab landed on the pane itself, where nothing showed focus, and a focused Select
    differed from the others by a 5% tint (colour 235 against 234; nothing at all under TERM=linux)."""
    from textual.widgets import Select
    from textual.widgets._select import SelectCurrent

    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one("#panes").active == "hyper", what="the Hyperparameters pane")
        await pilot.press("tab")
        await pilot.pause()
        focused = app.focused
        assert isinstance(focused, Select) and focused.id == "hp-loss", focused
        other = app.query_one("#hp-optimizer", Select)
        on, off = (s.query_one(SelectCurrent).rich_style.bgcolor for s in (focused, other))
        r, g, b = on.get_truecolor()
        r2, g2, b2 = off.get_truecolor()
        assert abs(r - r2) + abs(g - g2) + abs(b - b2) > 60, (on, off)  # a colour apart, not a tint


async def test_a_toast_shows_a_library_error_as_it_is_and_the_screen_lives_on():
    """A process of a distributed run that dies leaves gloo's words in the error event, a '[file:line]' in them:
    read as markup, its closing-tag look ended the screen with a MarkupError (a DDP audit's kill -9 of rank 1)."""
    import json
    import time

    from textual.widgets._toast import Toast

    run_dir = headless("--dataset", "iris", "--epochs", "2", "--name", "lost")
    said = ("process 1 of the distributed run is gone: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/"
            "pair.cc:537] Connection closed by peer [127.0.0.1]:41234; [b]resume[/b] continues from last.pt")
    app = TorchTUI(attach=run_dir)
    notices = Notices(app)
    async with running(app, notifications=True) as pilot:  # (drawn: the crash was in drawing the toast)
        await wait_for(pilot, lambda: app.followed is not None, what="attach")
        with open(run_dir / "events.jsonl", "a", encoding="utf-8") as log:  # as the dying run's writer appends it
            log.write(json.dumps({"event": "error", "time": time.time(), "kind": "process_lost",
                                  "message": said}) + "\n")
        await wait_for(pilot, lambda: said in notices.messages, what="the toast")
        await wait_for(pilot, lambda: any(said in str(t.render()) for t in app.screen.query(Toast)), what="drawn")
        assert app.is_running and app.return_code is None


def started_only(name: str) -> Path:
    """A real run folder whose log holds only its start event: a run before its first logged step, or one stopped
    inside its first epoch (listed 0/1)."""
    run_dir = headless("--dataset", "iris", "--epochs", "2", "--name", name, own_process=True)
    log = run_dir / "events.jsonl"
    import json

    start = next(line for line in log.read_text().splitlines() if json.loads(line)["event"] == "start")
    log.write_text(start + "\n")
    return run_dir


async def test_the_log_scale_on_charts_with_nothing_to_draw_yet_keeps_the_screen():
    """`l` on the loss chart (it stays on across runs) or the Runs pane's curves before any point: plotext's build
    raised on a log axis with no data, and the screen ended with a traceback at the next run's start."""
    from tui.app.runs_pane import CurvesPlot

    run_dir = started_only("first-epoch")
    app = TorchTUI(attach=run_dir)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.start, what="attach")
        assert not app.followed.steps.x.size
        await pilot.press("f5", "l")
        loss = app.query_one("#loss-plot")
        loss.refresh()
        await wait_for(pilot, lambda: "loss (log)" in text_of(loss), what="the loss chart drawn on a log scale")
        assert app.is_running

        from test_runs_pane import show_runs
        await show_runs(app, pilot, 1)
        await pilot.press("l")
        curves = app.query_one(CurvesPlot)
        curves.refresh()
        await wait_for(pilot, lambda: "loss per epoch (log)" in text_of(curves), what="the curves on a log scale")
        assert app.is_running


async def test_the_screen_opens_with_the_datasets_list_focused_and_keys_pick_at_once():
    """The tabs had the focus at start: down and enter, typed at once, did nothing until a pane key or a click."""
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "data-list", what="the list")
        await data_loaded(app, pilot)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.spec.data.dataset != "iris", what="another dataset picked")


async def test_the_panes_keys_come_back_after_the_terminal_was_too_small():
    """Hidden while the terminal was under 80x24, the panes lost the focus, and the shown pane's keys (l, c) did
    nothing once the terminal was big enough again, until a pane key."""
    run_dir = headless("--dataset", "iris", "--epochs", "2", "--name", "resized")
    app = TorchTUI(attach=run_dir)
    async with running(app, (80, 24)) as pilot:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.status == "done", what="attach")
        pane = app.query_one(training_pane.TrainingPane)
        await wait_for(pilot, lambda: app.focused is not None and pane in app.focused.ancestors, what="its pane")
        await pilot.resize_terminal(60, 20)
        await wait_for(pilot, lambda: app.screen.has_class("-too-small"), what="too small")
        await pilot.pause(0.5)  # (Textual takes the focus from the hidden panes in its own time)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.focused is not None and pane in app.focused.ancestors, what="focus back")
        await pilot.press("l")
        assert pane.log_scale


async def test_a_run_loaded_under_a_dialog_leaves_the_dialog_working_and_no_dialog_opens_over_another():
    """ctrl+o over the Export dialog opened the Load dialog on it; the run it loaded put the Export dialog's
    focus into a pane under it, and the dialog stayed drawn, deaf to escape and enter."""
    from tui.app.screens import ExportScreen

    run_dir = headless("--dataset", "iris", "--epochs", "2", "--name", "under")
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the Export dialog")
        dialog = app.screen
        await pilot.press("ctrl+o", "ctrl+e")  # (priority keys) neither opens a dialog over this one
        await pilot.pause()
        assert app.screen is dialog and len(app.screen_stack) == 2
        app.load_run(run_dir)  # a load that lands while the dialog is open (as ctrl+o's did)
        await wait_for(pilot, lambda: app.followed is not None and app.followed.run_dir == run_dir, what="load")
        await pilot.pause()
        assert app.screen is dialog and app.focused is not None and dialog in app.focused.ancestors
        assert app.screen_stack[0].focused is not None  # the panes' own focus went to the run's pane
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="the dialog closed")


async def test_the_line_on_what_ctrl_r_does_says_it_cannot_while_a_field_is_refused_and_names_the_data():
    """With Epochs holding 'Linear(2048)' the line said ctrl+r would train a new run in
    checkpoints/<dataset>-<date>-<time>, and ctrl+r refused; where it trains, it said <dataset>, not the data."""
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f4")
        next_line = app.query_one("#hp-next", Static)
        await wait_for(pilot, lambda: text_of(next_line) == "ctrl+r trains a new run in checkpoints/iris-<date>-<time>",
                       what="the line naming the data")
        await type_into(pilot, app.query_one("#hp-epochs", Input), "Linear(2048)")
        await wait_for(pilot, lambda: "train.epochs" in app.field_errors and app.field_errors["train.epochs"],
                       what="the field refused")
        await wait_for(pilot, lambda: text_of(next_line) == "ctrl+r cannot train until this is fixed: "
                       + app.field_errors["train.epochs"], what="the line saying so")
        await type_into(pilot, app.query_one("#hp-epochs", Input), "3")
        await wait_for(pilot, lambda: text_of(next_line).startswith("ctrl+r trains a new run"), what="train again")


def test_a_paused_run_shows_no_load_from_its_last_step():
    """While paused the header still said the last step's 'CPU 196%'; memory and the pid stay."""
    from tui.app.training_pane import telemetry_text
    from tui.core.follow import RunState

    state = RunState(Path("."))
    state.apply({"event": "start", "device": "cpu", "pid": 4321})
    from tui.core import record

    state.apply(record.step(epoch=1, step=10, epoch_step=10, loss=0.5, lr=0.01, samples_per_s=100.0,
                            telemetry={"cpu_percent": 196.0, "rss_mb": 512.0}))
    assert "CPU 196%" in telemetry_text(state).plain
    state.apply({"event": "paused", "epoch": 1, "step": 10})
    shown = telemetry_text(state).plain
    assert "CPU" not in shown and "RAM 512 MiB" in shown and "pid 4321" in shown


def test_a_live_rate_change_redraws_the_learning_rate_chart_at_once():
    """The learning-rate chart redraws after a new epoch (at most every few seconds) or when its shape changes;
    a change mid-epoch was no new shape, and its title said '0.01 (constant)' for a hundred steps after."""
    from tui.core import record
    from tui.core.follow import RunState

    state = RunState(Path("."))
    state.apply({"event": "start", "device": "cpu", "lr": 0.01})

    def step(n: int, lr: float) -> None:
        state.apply(record.step(epoch=1, step=n, epoch_step=n, loss=0.5, lr=lr, samples_per_s=1.0, telemetry={}))

    for n in range(1, 4):
        step(n, 0.01)
    constant = training_pane.side_shape(state)
    step(4, 0.01)
    assert training_pane.side_shape(state) == constant  # a new point alone waits for the interval
    state.apply({"event": "change", "step": 4, "epoch": 1, "lr": 0.0001, "lr_from": 0.01, "id": "a"})
    changed = training_pane.side_shape(state)
    assert changed != constant
    step(5, 0.0001)
    assert training_pane.side_shape(state) != changed  # no longer constant: the title must say so now


async def test_edit_on_the_output_layer_says_it_is_added_for_the_data_and_opens_nothing():
    """`e` on the '+ auto output' row opened the box to add a layer, as if edit meant add."""
    from tui.app.model_pane import ModelPane

    app = TorchTUI(cpu_spec(**{"data.dataset": "iris", "model.layers": ["Linear(8)", "ReLU()"]}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        table = app.query_one("#model-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="input, two layers, the output layer")
        table.focus()
        table.move_cursor(row=3)
        await pilot.press("e")
        await pilot.pause()
        assert any("the output layer is added for you" in m for m in notices.messages)
        box = app.query_one(ModelPane).query_one("#model-input", Input)
        assert not box.has_focus and app.spec.model.layers == ["Linear(8)", "ReLU()"]
        table.move_cursor(row=1)
        await pilot.press("e")
        await wait_for(pilot, lambda: box.has_focus and box.value == "Linear(8)", what="the layer in the box")


async def test_the_footer_shows_no_pane_keys_under_a_dialog_and_the_pane_keys_switch_nothing_there():
    """A documentation audit: under the Load dialog the footer listed the Results pane's `v Predictions` (which did
    nothing there), and F5 switched the pane under the LR finder."""
    from tui.app.screens import ExportScreen

    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f6")  # Results: its own key `v` is in the footer
        bar = app.screen_stack[0].query_one(KeyBar)
        await wait_for(pilot, lambda: any(k.key == "v" for k in bar.query(FooterKey)), what="the pane's keys")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the Export dialog")
        await wait_for(pilot, lambda: not bar.query(FooterKey), what="no pane key under the dialog")
        await pilot.press("f5")
        await pilot.pause()
        assert app.query_one("#panes").active == "results"
        await pilot.press("escape")
        await wait_for(pilot, lambda: any(k.key == "v" for k in bar.query(FooterKey)), what="the keys back")


async def test_a_poll_after_the_screens_are_gone_does_nothing():
    """The log's poll runs on a timer; one tick came as the app ended, after its screens were gone, and raised
    IndexError out of the app (seen once in CI, at the end of a Data pane test on a slow machine)."""
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        assert app._screens_seen == 1  # the panes' keys fitted once
    assert not app.screen_stack
    app.poll()  # as the timer's last tick: nothing to show, and no error


def test_a_paused_run_shows_the_step_it_waits_at():
    """The status line took the step from the last logged step (a few a second): paused at step 6/15 it said
    5/15, and the save then asked for said 'at step 6/15'."""
    from tui.app.training_pane import status_text
    from tui.core.follow import RunState, saved_at

    state = RunState(Path("run"))
    state.apply({"event": "start", "epochs": 300, "steps_per_epoch": 15, "batch_size": 16, "time": 0.0})
    for epoch in range(1, 134):
        state.apply({"event": "epoch", "epoch": epoch, "step": epoch * 15, "seconds": 0.1, "time": float(epoch)})
    state.apply({"event": "step", "epoch": 134, "step": 1995 + 5, "epoch_step": 5, "loss": 0.1, "samples_per_s": 9.0})
    assert "epoch 134/300  step 5/15" in status_text(state).plain
    state.apply({"event": "paused", "epoch": 134, "step": 1995 + 6, "why": "asked"})
    assert "● paused  run  epoch 134/300  step 6/15" in status_text(state).plain
    saved = {"event": "checkpoint", "epoch": 133, "step": 1995 + 6, "epoch_step": 6, "which": "last"}
    assert saved_at(saved, 15) == "in epoch 134 at step 6/15"  # the save's toast: the same step
    state.apply({"event": "resumed", "epoch": 134, "step": 1995 + 6, "paused_seconds": 3.0})
    assert "step 5/15" in status_text(state).plain  # running: the logged steps again, until the next one


def test_the_status_line_fits_its_width_leaving_out_whole_parts():
    """At 80 columns the status line wrapped (moving the charts) or ended mid-value ('best val' without its
    number); the epoch log lines lost their end ('1,273 samples', no '* best'). Parts are left out whole, the
    least needed first; the log's lines leave the rate to the status line."""
    from rich.cells import cell_len

    from tui.app.training_pane import status_text
    from tui.core.follow import RunState, epoch_line

    state = RunState(Path("fruit-20261202-110554"))
    state.apply({"event": "start", "epochs": 300, "steps_per_epoch": 15, "batch_size": 16, "time": 0.0})
    for epoch in range(1, 60):
        state.apply({"event": "epoch", "epoch": epoch, "step": epoch * 15, "seconds": 0.1, "time": float(epoch),
                     "train_loss": 0.5, "val_loss": 0.2471 if epoch == 6 else 0.3, "best": epoch == 6, "lr": 0.001,
                     "samples_per_s": 1273.0, "accuracy": 0.9, "best_val_loss": 0.2471 if epoch >= 6 else 0.3})
    state.apply({"event": "step", "epoch": 60, "step": 59 * 15 + 7, "epoch_step": 7, "loss": 0.1,
                 "samples_per_s": 1273.0})
    whole = status_text(state).plain
    assert whole == ("● running  fruit-20261202-110554  epoch 60/300  step 7/15  1,273 samples/s  ETA 4:01  best val "
                     "0.2471 @6")  # (240 epochs left, a second each)
    for width, kept in ((110, whole), (100, "● running  fruit-20261202-110554  epoch 60/300  step 7/15  ETA 4:01  "
                                            "best val 0.2471 @6"),
                        (78, "● running  fruit-20261202-110554  epoch 60/300  ETA 4:01  best val 0.2471 @6"),
                        (60, "● running  fruit-20261202-110554  epoch 60/300"),):
        line = status_text(state, width).plain
        assert line == kept and cell_len(line) <= width, (width, line)
    row = epoch_line(state.epochs[5], 300, rate=False)
    assert row == "epoch   6/300  train 0.5000  val 0.2471  acc 0.9000  lr 0.001  * best" and len(row) < 76


def test_the_model_pane_names_each_added_layer_for_what_it_is():
    """A Flatten added before the output layer (a stack ending in an image) was shown as "auto output" too."""
    from tui.app.stack_view import view
    from tui.core.data import prepare
    from tui.core.spec import DataSpec

    shown = view(["Unflatten(1, (1, 8, 8))", "Conv2d(4, 3)"], prepare(DataSpec(dataset="digits"), 0), "auto")
    assert [(expr, what) for expr, _, _, what in shown.added] == [("Flatten()", "auto flatten"),
                                                                  ("Linear(144, 10)", "auto output")]


def test_the_model_pane_says_the_datas_part_in_a_shape_refusal_in_the_screens_words(tmp_path):
    """An image CSV whose blank border pixels the checks left out: the command line's refusal says so and names
    --keep-constant; the Model pane said only "cannot take input (61,)"."""
    import numpy as np

    from tui.app.stack_view import view
    from tui.core.data import prepare
    from tui.core.spec import DataSpec

    rng = np.random.default_rng(0)
    rows = "".join("0,0,0," + ",".join(f"{v:.2f}" for v in rng.random(61)) + f",{i % 3}\n" for i in range(30))
    (tmp_path / "pixels.csv").write_text(",".join(f"p{i}" for i in range(64)) + ",label\n" + rows)
    shown = view(["Unflatten(1, (1, 8, 8))", "Conv2d(4, 3)"], prepare(DataSpec(dataset=str(tmp_path / "pixels.csv")),
                                                                        0), "auto")
    assert shown.error_layer == 1 and shown.error.endswith(
        "(the data gives 61 inputs: 3 column(s) left out, p0, p1, p2; tick them in Features, or set Constant "
        "columns: keep for the constant ones, to keep them)"), shown.error
