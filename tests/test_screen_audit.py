"""What an audit of the screen found ending it with a traceback, each driven through the real app: a bracket typed
into the change dialog and sent with enter (its toast went through a widget's notify, which turned markup on);
a path or a run name longer than a file system keeps, or a pasted zero byte (Path.exists raised); ctrl+o on a run
whose log cannot be read, one whose log holds values no spec does, one whose start time no calendar holds; a chart
of a log edited to hold a NaN or 1e300 validation loss (plotext raised). And ctrl+c's own hint showed its markup.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Static
from textual.widgets._toast import Toast

from tui.app.app import TorchTUI
from tui.app.change_screen import ChangeScreen
from tui.app.screens import ExportScreen, RunsScreen

from test_app import Notices, cpu_spec, data_loaded, headless, in_tmp, running, text_of, wait_for  # noqa: F401
from test_screen_markup import alive, shows

LONG = "x" * 300


def toasts(app) -> str:
    return "\n".join(str(t.render()) for t in app.screen.query(Toast))


async def test_a_bracket_sent_from_the_change_dialog_and_ctrl_c_are_toasts_of_plain_text():
    app = TorchTUI(cpu_spec())
    async with running(app, notifications=True) as pilot:
        await data_loaded(app, pilot)
        app.push_screen(ChangeScreen("r", app.spec, 0.01, lambda: 0))
        await shows(pilot, app, lambda: isinstance(app.screen, ChangeScreen) and app.screen.query("#change-lr"),
                    "the dialog")
        app.screen.query_one("#change-lr", Input).value = "[/]"
        await pilot.press("enter")
        await shows(pilot, app, lambda: "Learning rate must be a number, got '[/]'" in toasts(app), "the toast")
        await pilot.press("escape")
        await pilot.press("ctrl+c")
        await shows(pilot, app, lambda: "Press ctrl+q to quit the app" in toasts(app), "ctrl+c's hint")
        assert "[b]" not in toasts(app)


async def test_names_longer_than_a_file_system_keeps_are_refused_in_their_fields():
    app = TorchTUI(cpu_spec())
    notices = Notices(app)
    async with running(app, size=(120, 40)) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f2")
        for field, path in (("#data-val", "data.val"), ("#data-test", "data.test")):
            app.query_one(field, Input).value = LONG + ".csv"
            await shows(pilot, app, lambda p=path: "a name in the path is too long (304 bytes; at most 255)"
                        in app.field_errors.get(p, ""), field)
            app.query_one(field, Input).value = ""
        box = app.query_one("#data-path", Input)
        box.value = LONG + ".csv"
        box.focus()
        await pilot.press("enter")
        await shows(pilot, app, lambda: any("a name in the path is too long (304 bytes; at most 255); check the path"
                                            in m for m in notices.titled("data", "error")), "the path box's answer")
        assert app.spec.data.dataset == "iris"
        await pilot.press("escape", "f4")
        Path("checkpoints").mkdir(exist_ok=True)  # (a name is looked up in the runs folder once it exists)
        app.query_one("#hp-name", Input).value = LONG
        await shows(pilot, app, lambda: "must be at most 200 bytes (it names a folder, and a file system keeps 255 "
                    "at most), got '300 bytes'" in app.field_errors.get("run.name", ""), "the run name's error")
        Path("exports").mkdir()  # a folder: said at the first enter (it asked "enter again to replace it" first)
        for typed, said in ((LONG + ".toml", "a name in the path is too long"),
                            ("ex\0port.toml", "a path cannot hold a zero byte"),
                            ("exports", "exports is a folder: name a file in it, e.g. exports/experiment.toml")):
            await pilot.press("escape", "ctrl+e")
            await shows(pilot, app, lambda: isinstance(app.screen, ExportScreen) and app.screen.query("#export-path"),
                        "the export dialog")
            box = app.screen.query_one("#export-path", Input)
            box.value = typed
            box.focus()
            await pilot.press("enter")
            await shows(pilot, app, lambda s=said: s in text_of(app.screen.query_one("#export-note", Static)),
                        "the export note")
            await pilot.press("escape")


def a_run(name: str) -> Path:
    return headless("--dataset", "iris", "--epochs", "2", "--name", name)


def edit_events(run: Path, change) -> None:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    (run / "events.jsonl").write_text("".join(json.dumps(change(e)) + "\n" for e in events))


async def test_loading_a_run_whose_log_cannot_be_read_or_says_what_no_spec_holds_is_refused():
    unreadable, odd = a_run("unreadable"), a_run("odd")
    (unreadable / "events.jsonl").unlink()
    (unreadable / "events.jsonl").mkdir()  # (another user's mode-600 log reads as this does: an OSError)
    edit_events(odd, lambda e: {**e, "epochs": -5} if e["event"] == "start" else e)
    late = a_run("late")
    edit_events(late, lambda e: {**e, "time": 1e300} if e["event"] == "start" else e)
    app = TorchTUI(cpu_spec())
    notices = Notices(app)
    async with running(app, size=(120, 40)) as pilot:
        await data_loaded(app, pilot)
        for run in (unreadable, odd):
            await pilot.press("ctrl+o")
            await shows(pilot, app, lambda: isinstance(app.screen, RunsScreen) and app.screen.query("#runs-table"),
                        "the load dialog")
            app.screen.dismiss(run)
            await wait_for(pilot, lambda: notices.titled("checkpoint refused"), what="the refusal")
            assert alive(app) and app.followed is None
            notices.calls.clear()
        await pilot.press("ctrl+o")  # the run whose start time no calendar holds is listed, started "-"
        await shows(pilot, app, lambda: isinstance(app.screen, RunsScreen) and app.screen.query("#runs-table"),
                    "the load dialog")
        rows = {str(k.value): row for k, row in zip(app.screen.query_one("#runs-table").rows,
                                                    [app.screen.query_one("#runs-table").get_row_at(i) for i in
                                                     range(app.screen.query_one("#runs-table").row_count)])}
        assert rows[str(late)][-1] == "-"


async def test_a_chart_of_values_it_cannot_draw_says_so_and_the_screen_lives():
    run = a_run("edited")
    for value in (float("nan"), 1e300):
        edit_events(run, lambda e, v=value: {**e, "val_loss": v} if "val_loss" in e and e["event"] != "start" else e)
        app = TorchTUI(attach=run)
        async with running(app) as pilot:
            await wait_for(pilot, lambda a=app: a.followed is not None and len(a.followed.epochs) == 2, what="attach")
            await pilot.press("f5", "l")
            await pilot.pause(0.3)
            assert alive(app), value
            app.query_one("#loss-plot").refresh()
            await pilot.pause(0.3)
            assert alive(app), value


async def test_stop_and_quit_pressed_while_the_worker_starts_reach_it():
    # before the worker's start event (a second or two of importing torch and reading the data) ctrl+x said
    # "nothing is training" and the run went on; ctrl+q quit without asking, leaving it training
    from tui.app.screens import QuitScreen

    from test_app import FOREVER

    app = TorchTUI(cpu_spec(**{"train.epochs": FOREVER}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.process is not None and app.process.proc is not None, what="the worker")
        worker = app.process  # (the app lets go of it once it has ended and is tidied)
        assert not app.followed.running  # no start event yet
        await pilot.press("ctrl+q")
        await shows(pilot, app, lambda: isinstance(app.screen, QuitScreen), "the leave-or-stop question")
        await pilot.press("escape")
        await pilot.press("ctrl+s")
        assert any("is starting (loading torch and its data): ctrl+s saves once it trains" in m
                   for m, _, _ in notices.calls)
        await pilot.press("ctrl+x")
        assert any(m.startswith("stopping:") for m, _, _ in notices.calls), notices.calls
        await wait_for(pilot, lambda: worker.exit_code() is not None, 60, "the worker to end")
        assert worker.exit_code() != 0 and not app.followed.running
