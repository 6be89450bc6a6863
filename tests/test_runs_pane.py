"""The Runs pane, driven by the pilot: it lists the run folders of ./checkpoints (real runs trained
headless), sorts them, overlays the selected runs' curves with a legend, shows the spec fields
that differ, and deletes a run folder after a confirm - never a running one."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widget import Widget
from textual.widgets import DataTable, Input
from textual.widgets._select import SelectOverlay

from tui.app.app import TorchTUI
from tui.app.results_pane import ResultsPane
from tui.app.runs_pane import DeleteRunScreen, RunsPane
from tui.app.training_pane import TrainingPane
from tui.core import compare
from tui.core.follow import list_runs

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import Notices, cpu_spec, headless, in_tmp, running, text_of, wait_for  # noqa: F401
from test_compare import live_run, stop


def pane(app) -> RunsPane:
    return app.query_one(RunsPane)


def names_in_order(app) -> list[str]:
    table = app.query_one("#runs-list", DataTable)
    return [Path(row.key.value).name for row in table.ordered_rows]


def column(app, name: str) -> dict[str, str]:
    """One column of the runs table, by run name."""
    table = app.query_one("#runs-list", DataTable)
    return {Path(row.key.value).name: str(table.get_cell(row.key, name)) for row in table.ordered_rows}


def differences(app) -> list[list[str]]:
    table = app.query_one("#runs-diff", DataTable)
    return [[str(cell) for cell in table.get_row(row.key)] for row in table.ordered_rows]


def shown(widget) -> list[str]:
    """The lines a scrolling widget (a DataTable) draws now, as plain text: what is cut is not in them."""
    return ["".join(segment.text for segment in widget.render_line(y)) for y in range(widget.size.height)]


async def show_runs(app, pilot, count: int) -> None:
    await pilot.press("6")
    await wait_for(pilot, lambda: app.query_one("#panes").active == "runs", what="the Runs pane")
    await wait_for(pilot, lambda: pane(app).loaded and len(names_in_order(app)) == count, what=f"{count} runs listed")
    await wait_for(pilot, lambda: isinstance(app.focused, DataTable) and app.focused.id == "runs-list",
                   what="the runs table focused")


async def highlight(app, pilot, name: str) -> None:
    table = app.query_one("#runs-list", DataTable)
    table.move_cursor(row=names_in_order(app).index(name))
    await pilot.pause()


async def test_the_runs_pane_lists_sorts_overlays_and_shows_what_differs():
    slow = headless("--dataset", "iris", "--epochs", "4", "--patience", "0", "--lr", "0.001", "--name", "slow")
    fast = headless("--dataset", "iris", "--epochs", "4", "--patience", "0", "--lr", "0.05", "--name", "fast")
    best = {run.name: compare.read(run).info for run in (slow, fast)}
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app) as pilot:
        await show_runs(app, pilot, 2)
        assert names_in_order(app) == ["fast", "slow"]  # newest first
        assert column(app, "status") == {"slow": "done", "fast": "done"}
        assert column(app, "epochs") == {"slow": "4/4", "fast": "4/4"}
        assert column(app, "best val loss") == {n: f"{i.best_val_loss:.4f}" for n, i in best.items()}
        assert column(app, "best metric") == {n: f"acc {i.best_metric:.4f}" for n, i in best.items()}

        by_loss = sorted(best, key=lambda n: best[n].best_val_loss)
        while pane(app).sort_column != "best val loss":  # s steps through the columns
            await pilot.press("s")
        assert names_in_order(app) == by_loss
        await pilot.press("S")
        assert names_in_order(app) == by_loss[::-1]
        await pilot.click("#runs-list", offset=(6, 0))  # the "name" header (after the 2-wide mark column)
        await wait_for(pilot, lambda: pane(app).sort_column == "name", what="a click on the header to sort")
        assert names_in_order(app) == ["fast", "slow"] and not pane(app).descending
        await pilot.click("#runs-list", offset=(6, 0))
        await wait_for(pilot, lambda: pane(app).descending, what="a second click to reverse")
        assert names_in_order(app) == ["slow", "fast"]

        assert differences(app) == [["select two or more runs (space)"]]
        await highlight(app, pilot, "slow")
        await pilot.press("space")
        await highlight(app, pilot, "fast")
        await pilot.press("space")
        assert pane(app).selected == [str(slow), str(fast)]
        assert column(app, "mark") == {"slow": "●1", "fast": "●2"}
        assert differences(app) == [["train.lr", "0.001", "0.05"]]
        pane(app).show_differences()  # drawn anew: each column as wide as its widest cell at once, not once idle
        table = app.query_one("#runs-diff", DataTable)
        headers = ["differs", *pane(app).labels(pane(app).chosen())]
        assert [c.get_render_width(table) for c in table.ordered_columns] == \
            [max(len(h), len(v)) + 2 for h, v in zip(headers, ["train.lr", "0.001", "0.05"])]
        plot = text_of(app.query_one("#runs-plot"))
        assert "loss per epoch" in plot and "slow" in plot and "fast" in plot  # the legend names both
        await pilot.press("l")
        assert "loss per epoch (log)" in text_of(app.query_one("#runs-plot"))
        await pilot.press("m")
        plot = text_of(app.query_one("#runs-plot"))
        assert "val acc per epoch" in plot and "slow" in plot and "fast" in plot

        await highlight(app, pilot, "slow")
        await pilot.press("space")  # deselected: one run left, nothing to compare it with
        assert pane(app).selected == [str(fast)]
        assert differences(app) == [["select two or more runs (space)"]]


async def test_a_run_on_a_data_file_is_listed_by_the_files_name():
    # the absolute path filled the column and pushed epochs, losses and time off an 80-column screen
    iris = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"
    headless("--dataset", str(iris), "--epochs", "1", "--name", "from-file")
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app, (80, 24)) as pilot:
        await show_runs(app, pilot, 1)
        assert column(app, "dataset") == {"from-file": "iris.csv"}
        assert any("1/1" in line for line in shown(app.query_one("#runs-list", DataTable)))  # epochs on screen


async def test_the_list_is_drawn_whole_from_the_moment_it_is_filled():
    # a column left to size itself is measured only when the table is next idle: a frame drawn before that (the
    # tmux story caught one) showed each column cut to its header's width, the run names to "name"
    headless("--dataset", "iris", "--epochs", "1", "--name", "a-run-name-far-wider-than-its-header")
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app, (120, 30)) as pilot:
        await show_runs(app, pilot, 1)
        pane(app).show_runs()  # refilled; read back before the table is idle again
        table = app.query_one("#runs-list", DataTable)
        for key, cell in zip(("name", "dataset", "epochs"), ("a-run-name-far-wider-than-its-header", "iris", "1/1")):
            assert table.columns[key].get_render_width(table) >= len(cell) + 2, key
        assert any("a-run-name-far-wider-than-its-header" in line for line in shown(table))


async def test_delete_asks_first_and_never_deletes_a_running_run():
    done = headless("--dataset", "iris", "--epochs", "2", "--name", "finished")
    live, worker = live_run(Path("checkpoints"), "live")
    app = TorchTUI(cpu_spec(), preset=True)
    notices = Notices(app)
    try:
        async with running(app) as pilot:
            await show_runs(app, pilot, 2)
            assert column(app, "status")["live"] == "running"

            await highlight(app, pilot, "live")
            await pilot.press("delete")
            await wait_for(pilot, lambda: notices.titled("not deleted"), what="the refusal")
            assert "live is running; stop it first" in notices.titled("not deleted")[0]
            assert not isinstance(app.screen, DeleteRunScreen) and live.is_dir()

            await highlight(app, pilot, "finished")
            await pilot.press("delete")
            await wait_for(pilot, lambda: isinstance(app.screen, DeleteRunScreen), what="the confirm")
            await pilot.press("n")  # kept
            await wait_for(pilot, lambda: not isinstance(app.screen, DeleteRunScreen), what="the dialog to close")
            await pilot.pause(0.2)
            assert done.is_dir()

            await pilot.press("D")
            await wait_for(pilot, lambda: isinstance(app.screen, DeleteRunScreen), what="the confirm")
            await pilot.press("y")
            await wait_for(pilot, lambda: not done.exists(), what="the folder to go")
            await wait_for(pilot, lambda: names_in_order(app) == ["live"], what="the list without it")
            assert any(f"deleted {done}" in m for m in notices.messages) and live.is_dir()
    finally:
        stop(worker)


async def test_every_kind_of_widget_reaches_the_runs_pane_by_6_or_in_a_text_field_by_f7():
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.data is not None, what="data to load")
        for pane_id in ("data", "model", "hyper", "training", "results"):
            app.action_pane(pane_id)
            await wait_for(pilot, lambda pane_id=pane_id: app.query_one("#panes").active == pane_id, what=pane_id)
            await pilot.pause()
            # one widget of each kind in the pane: what could keep a key from the app is a kind's own bindings
            # (an Input takes digits); two of a kind in one pane take keys alike. The 50 focusable widgets
            # took a minute of CI
            kinds: dict[type, Widget] = {}
            for w in app.query("*"):
                if w.focusable and pane_id in [a.id for a in w.ancestors]:
                    kinds.setdefault(type(w), w)
            focusable = list(kinds.values())
            assert focusable, pane_id
            for n, widget in enumerate(focusable):
                app.action_pane(pane_id)
                await wait_for(pilot, lambda pane_id=pane_id: app.query_one("#panes").active == pane_id, what=pane_id)
                widget.focus()
                await pilot.pause()
                before = widget.value if isinstance(widget, Input) else None
                key = "f7" if isinstance(widget, (Input, SelectOverlay)) else "6"  # typed into: F-keys only
                await pilot.press(key)
                await wait_for(pilot, lambda: app.query_one("#panes").active == "runs",
                               what=f"{key} from {widget!r} to reach the Runs pane")
                if before is not None:
                    assert widget.value == before  # nothing typed into the field
                if key == "f7" or n:  # F-keys are priority bindings, ahead of any widget: f7 from one other is enough
                    continue
                app.action_pane(pane_id)
                await wait_for(pilot, lambda pane_id=pane_id: app.query_one("#panes").active == pane_id, what=pane_id)
                widget.focus()
                await pilot.pause()
                await pilot.press("f7")
                await wait_for(pilot, lambda: app.query_one("#panes").active == "runs",
                               what=f"f7 from {widget!r} to reach the Runs pane")
        for widget_id in ("#runs-list", "#runs-diff"):  # and back out of it, by digit and by F-key
            for key, target in (("4", "training"), ("f3", "model")):
                app.action_pane("runs")
                await wait_for(pilot, lambda: app.query_one("#panes").active == "runs", what="the Runs pane")
                app.query_one(widget_id).focus()
                await pilot.pause()
                await pilot.press(key)
                await wait_for(pilot, lambda target=target: app.query_one("#panes").active == target,
                               what=f"{key} from {widget_id}")


async def test_the_help_lists_the_runs_pane_keys():
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen.query("#help-table"), 10, "the help screen")
        text = re.sub(r"\s+", " ", text_of(app.screen.query_one("#help-table")))
        for key, what in (("f7", "Runs pane"), ("space", "Select"), ("s", "Sort"), ("S", "Reverse sort"),
                          ("m", "Loss/metric"), ("l", "Log scale"), ("del / D", "Delete"), ("r", "Refresh")):
            assert f"{key} {what}" in text, (key, what)


async def compare_long_names(size: tuple[int, int], runs: list[tuple[str, list[str]]]) -> None:
    """Runs named as the screen names them (digits-<date>-<time>), each trained with its own options,
    all selected: the legend and the differences table name each by its mark's number and the part of
    its name that differs; the table shows every field that differs whole, beside the plot."""
    paths = [headless("--dataset", "iris", "--epochs", "2", "--patience", "0", "--name", name, *options)
             for name, options in runs]
    expected = compare.differences([compare.read(p) for p in paths])
    assert len(expected) == len(runs[1][1]) // 2  # the options given are the fields that differ
    app = TorchTUI(cpu_spec(), preset=True)
    async with running(app, size) as pilot:
        await show_runs(app, pilot, len(runs))
        while pane(app).sort_column != "name":
            await pilot.press("s")
        for n in range(len(runs)):
            app.query_one("#runs-list", DataTable).move_cursor(row=n)
            await pilot.press("space")
        await wait_for(pilot, lambda: len(pane(app).selected) == len(runs), what="the runs selected")
        app.clear_notifications()
        await pilot.pause()
        labels = [f"●{n + 1} {name.rsplit('-', 1)[1]}" for n, (name, _) in enumerate(runs)]  # "●1 035714"
        assert pane(app).labels(pane(app).chosen()) == labels
        assert [column(app, "mark")[name] for name, _ in runs] == [label[:2] for label in labels]

        # (drawn at the next refresh, which a busy machine may take a while to get to)
        await wait_for(pilot, lambda: all(label in text_of(app.query_one("#runs-plot")) for label in labels),
                       what="the legend naming every run")
        table = app.query_one("#runs-diff", DataTable)
        await wait_for(pilot, lambda: all(label in shown(table)[0] for label in labels), what="the table's headers")
        lines = shown(table)
        assert all(label in lines[0] for label in labels), lines  # the headers, whole
        for d in expected:  # every field that differs, whole, on its row, with the runs' values
            row = next((line for line in lines if line.split()[:1] == [d.field]), None)
            assert row is not None, (d.field, lines)
            assert all(compare.fmt_value(v) in row for v in d.values), (row, d.values)
        plot_region, table_region = app.query_one("#runs-plot").region, table.region
        assert plot_region.right <= table_region.x and plot_region.width >= 28  # side by side, the plot keeps room


async def test_two_runs_with_long_names_are_told_apart_at_100x30():
    await compare_long_names((100, 30), [("iris-20261130-035620", ["--lr", "0.02", "--batch-size", "16"]),
                                         ("iris-20261130-035714", ["--lr", "0.005", "--batch-size", "32"])])


async def test_three_runs_with_long_names_are_told_apart_at_80x24():
    await compare_long_names((80, 24), [("iris-20261130-035620", ["--lr", "0.02", "--batch-size", "16"]),
                                        ("iris-20261130-035714", ["--lr", "0.005", "--batch-size", "32"]),
                                        ("iris-20261130-035800", ["--lr", "0.01", "--batch-size", "8"])])


async def test_deleting_the_run_on_screen_lets_it_go_and_ctrl_r_trains_a_new_run():
    gone = headless("--dataset", "iris", "--epochs", "2", "--patience", "0", "--name", "to-delete")
    other = headless("--dataset", "iris", "--epochs", "2", "--patience", "0", "--name", "kept")
    app = TorchTUI(cpu_spec(), preset=True)
    notices = Notices(app)
    async with running(app) as pilot:
        app.load_run(gone)
        await wait_for(pilot, lambda: app.followed is not None and app.loaded_spec is not None, what="the run loaded")
        await wait_for(pilot, lambda: "to-delete" in text_of(app.query_one("#train-status")), what="it shown")
        await show_runs(app, pilot, 2)
        await highlight(app, pilot, "to-delete")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteRunScreen), what="the confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: not gone.exists() and app.followed is None, what="the run deleted and let go")
        assert app.tail is None and app.loaded_spec is None
        await wait_for(pilot, lambda: "no training yet" in text_of(app.query_one("#train-status")),
                       what="the Training pane fresh, as at start")
        assert len(app.query(TrainingPane)) == len(app.query(ResultsPane)) == 1
        assert "no results yet" in text_of(app.query_one("#results-summary"))
        assert any(f"deleted {gone}" in m for m in notices.messages)

        await pilot.press("ctrl+r")  # a new run, not a resume of the folder that is gone
        await wait_for(pilot, lambda: app.followed is not None and app.followed.start, what="a new run to start")
        assert app.followed.run_dir not in (gone, other) and not gone.exists()
        assert {r.path.name for r in list_runs("checkpoints")} == {"kept", app.followed.run_dir.name}
        await wait_for(pilot, lambda: not app.followed.running, what="the new run to end")
        assert app.followed.status == "done", app.followed.error


def test_runs_are_named_by_the_part_of_their_names_that_differs():
    parts = compare.distinct_parts
    assert parts(["digits-20261130-035714", "digits-20261130-035620"]) == ["035714", "035620"]
    assert parts(["digits-20261130-035714", "iris-20261130-035620"]) == ["digits-035714", "iris-035620"]
    assert parts(["iris-lr-0.01", "iris-lr-0.1"]) == ["0.01", "0.1"]  # a "." does not cut a name
    assert parts(["run", "run-2"]) == ["run", "run-2"]  # nothing left: the whole name
    assert parts(["digits-20261130-035714", "digits-20261130-035714-2"]) == ["035714", "035714-2"]
    long = parts(["a-" + "x" * 30, "b-" + "y" * 30])
    assert all(len(p) == compare.LABEL_CHARS and "…" in p for p in long) and long[0] != long[1]
