"""A data file's text reaches the terminal only as visible escapes (tui/visible.py), on every pane.

A CSV whose column names, labels and file name hold terminal commands (OSC 0: set the window title, OSC 52:
write the clipboard, CSI 2J: clear the screen) or a bidi override was drawn as it is: the commands took effect
and the Runs pane came out garbled. Here such a file is trained on for a few epochs in the real app (its pilot),
each pane is visited, and the whole screen as Textual composes it for the terminal (every segment of every line,
toasts included) must hold none of those characters raw, and show them escaped instead."""

from __future__ import annotations

from textual.widgets import Input

from tui.app.app import TorchTUI
from tui.app.predictions_table import PredictionsTable
from tui.app.runs_pane import RunsPane

from test_app import cpu_spec, data_loaded, in_tmp, running, wait_for  # noqa: F401  (in_tmp: autouse)

TITLE, CLIPBOARD, CLEAR, RTL = "\x1b]0;pwned\x07", "\x1b]52;c;cHduZWQ=\x07", "\x1b[2J", "\u202e"
RAW = ("\x1b", "\x07", RTL)
FILE = f"data{CLEAR}{RTL}vsc.csv"
COLUMNS = [f"f1{TITLE}", f"f2{CLEAR}", f"f3{RTL}", "label"]
LABELS = ("cat", f"dog{CLIPBOARD}")


def write_csv(folder) -> str:
    rows = [",".join(COLUMNS)]
    for i in range(30):
        rows.append(f"{i % 7 * 0.5},{(i * 3) % 11 - 5},{i / 10:.1f},{LABELS[i % 2]}")
    (folder / FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return FILE


def screen_text(app) -> str:
    """The text of every segment the screen is made of now (the panes, a dialog, the toasts), line by line: what
    the app writes to the terminal, less the cursor moves and colours Textual adds around it."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def raw_in(text: str) -> list[str]:
    """The lines of `text` holding a raw ESC, BEL or bidi override, as repr writes them."""
    return [repr(line.strip()) for line in text.split("\n") if any(ch in line for ch in RAW)]


async def test_no_pane_draws_a_data_files_control_characters(tmp_path):
    name = write_csv(tmp_path)  # (the working folder: in_tmp)
    app = TorchTUI(cpu_spec(**{"data.dataset": name, "train.epochs": 2, "train.batch_size": 8}))
    async with running(app, size=(160, 40), notifications=True) as pilot:
        await data_loaded(app, pilot)
        assert app.data.error == "" and app.data.prepared is not None, app.data.error
        assert [c for c, _ in app.data.columns] == COLUMNS  # the file is read with its names as they are
        await pilot.press("ctrl+r")

        def finished() -> bool:
            run = app.followed
            return run is not None and run.status == "done" and app.process is None and "best" in run.evaluations

        await wait_for(pilot, lambda: finished() or app.return_code is not None, 90, "the run to finish")
        assert app.return_code is None, "the app ended (a name read as markup?)"
        run = app.followed

        shown: dict[str, str] = {}
        for key, pane in zip(("f2", "f3", "f4", "f5", "f6", "f7"),
                             ("data", "model", "hyper", "training", "results", "runs")):
            await pilot.press(key)
            await pilot.pause(0.2)
            if pane == "runs":
                runs = app.query_one(RunsPane)
                await wait_for(pilot, lambda runs=runs: runs.loaded and runs.runs, 20, "the runs to be read")
                await pilot.press("space")  # selected: the legend and the differences name it too
                await pilot.pause(0.3)
            shown[pane] = screen_text(app)
            if pane == "results":  # and the predictions view: the rows' labels and the columns' names
                await pilot.press("v")
                table = app.query_one(PredictionsTable)
                await wait_for(pilot, lambda table=table: table.data is not None and not table.filling, 30,
                               "the predictions table")
                await pilot.pause(0.2)
                shown["predictions"] = screen_text(app)
                await pilot.press("v")

        # a toast naming a file typed on the Data pane (every toast goes through the app's notify)
        await pilot.press("f2")
        box = app.query_one("#data-path", Input)
        box.value = f"missing{TITLE}.csv"
        box.focus()
        await pilot.press("enter")
        await pilot.pause(0.5)
        shown["toast"] = screen_text(app)

        leaks = {pane: lines for pane, text in shown.items() if (lines := raw_in(text))}
        assert not leaks, f"raw control characters drawn: {leaks}"
        everything = "\n".join(shown.values())
        for escaped in (r"f1\x1b]0;pwned\x07", r"f2\x1b[2J", r"f3\u202e", r"dog\x1b]52;c;cHduZWQ=\x07",
                        r"data\x1b[2J\u202evsc.csv"):
            assert escaped in everything, f"{escaped} is not on the screen"
        assert r"dog\x1b]52" in shown["results"]  # the confusion matrix's labels
        assert r"dog\x1b]52" in shown["predictions"] and r"f1\x1b]0;pwned" in shown["predictions"]
        assert r"data\x1b[2J\u202evsc.csv" in shown["runs"] and run.run_dir.name in shown["runs"]
        assert r"missing\x1b]0;pwned\x07.csv not found" in shown["toast"]
        # the path box, whose text is edited: one visible character for each control character
        assert "data\u241b[2J\ufffdvsc.csv" in shown["data"] and "missing\u241b]0;pwned\u2407.csv" in shown["toast"]
        # ordinary text is shown as it was
        assert "label" in shown["data"] and "cat" in shown["results"]


def test_visible_lines_and_pictured_keep_ordinary_text_and_line_breaks():
    from tui.app.visible_text import pictured, visible_lines

    assert visible_lines("a\x1b]0;t\x07\nb\u202ec") == "a\\x1b]0;t\\x07\nb\\u202ec"  # a message keeps its lines
    assert visible_lines("温度 (°C)\n[bold]x[/]") == "温度 (°C)\n[bold]x[/]"
    assert pictured("a\x1b[2J\u202e\tb\x7f") == "a\u241b[2J\ufffd\u2409b\u2421"  # one for one: the cursor stays
    assert pictured("data.csv") == "data.csv"
