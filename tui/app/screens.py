"""Modal screens: help, the checkpoint / run picker, exporting (the experiment as TOML or a PyTorch script),
quitting."""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, RadioButton, RadioSet, Static

from tui.core.files import expand_home, no_such_path, path_problem
from tui.core.follow import RunInfo

from .visible_text import VisibleInput, visible


def when(started: float) -> str:
    """A run's start time as the Load dialog lists it; '-' for none, or one no calendar holds (a log edited to say
    1e300 ended the screen with "timestamp out of range")."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "-"
    except (OverflowError, OSError, ValueError):
        return "-"

class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    @staticmethod
    def keys(bindings: list) -> list[tuple[str, str]]:
        """(keys, what they do) of bindings, as the footer names the keys; the tooltip when there is one
        (the footer's description is kept short)."""
        names = {"question_mark": "?", "delete": "del"}
        return [(" / ".join(names.get(k, k) for k in b.key.split(",")), b.tooltip or b.description)
                for b in bindings]

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for title, keys in self.sections:
            table.add_row(f"[u]{title}[/u]", "")
            for key, what in keys:
                table.add_row(key, what)
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Label("torchtui keys  (esc closes; arrows scroll)", classes="title")
            yield Static(table, id="help-table")


class RunsScreen(ModalScreen[Path | None]):
    """Runs under the runs folder, newest first; enter loads (or attaches to) the highlighted one."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, runs: list[RunInfo], runs_dir: str) -> None:
        super().__init__()
        self.runs = runs
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-box", classes="dialog"):
            yield Label(Text(f"Load a checkpoint from {visible(self.runs_dir)}/  (enter loads, esc cancels)"),
                        classes="title")
            if not self.runs:
                yield Static(Text(f"no runs in {visible(self.runs_dir)}/ yet: ctrl+r trains one"))
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.add_columns("run", "status", "dataset", "epochs", "best loss", "started")
        for r in self.runs:
            best = f"{r.best_val_loss:.4f}" if r.best_val_loss is not None else "-"
            started = when(r.started)
            # Text, not str: names are the user's, not markup (their control characters as escapes)
            table.add_row(Text(visible(r.path.name)), r.shown_status, Text(visible(r.dataset)),
                          f"{r.epochs_done}/{r.epochs}", best, started, key=str(r.path))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(Path(event.row_key.value))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, Path] | None]):
    """What to write - the experiment as TOML, or the run as a plain PyTorch script - and where: (kind, path).
    up / down switch the kind (the typed name follows while it is the default); an existing file needs a second
    enter to be replaced."""

    KINDS = {"toml": ("experiment (TOML)", "experiment.toml"), "script": ("PyTorch script (.py)", "train.py")}
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"),
                Binding("up,down", "switch", "Switch", tooltip="switch between experiment (TOML) and PyTorch script")]

    def __init__(self, default: str = "experiment.toml", script_of: str = "the experiment") -> None:
        super().__init__()
        self.default = default
        self.script_of = script_of  # what the script would retrain: a run's name, or the experiment on screen
        self.kind = "toml"
        self._confirmed: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="dialog"):
            yield Label("Export  (up/down chooses, enter writes, esc cancels)", classes="title")
            with RadioSet(id="export-kind"):
                yield RadioButton("experiment (TOML), for `torchtui run FILE`", value=True, id="export-toml")
                yield RadioButton(Text(f"PyTorch script (.py) of {visible(self.script_of)}"), id="export-script")
            yield VisibleInput(value=self.default, id="export-path")  # (a path: someone else's text)
            yield Static("", id="export-note", markup=False)  # quotes the path typed

    def on_mount(self) -> None:
        self.query_one("#export-kind", RadioSet).can_focus = False  # the name box keeps the keys; up/down switch
        self.query_one("#export-path", Input).focus()

    def action_switch(self) -> None:
        self._choose("script" if self.kind == "toml" else "toml")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:  # a click on the other kind
        self._choose("script" if event.pressed.id == "export-script" else "toml")

    def _choose(self, kind: str) -> None:
        if kind == self.kind:
            return
        box = self.query_one("#export-path", Input)
        if box.value.strip() in (self.default, self.KINDS[self.kind][1]):  # untouched: the new kind's name
            box.value = self.KINDS[kind][1]
        self.kind = kind
        self.query_one(f"#export-{kind}", RadioButton).value = True
        self._confirmed = None
        self.query_one("#export-note", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = expand_home(event.value.strip())
        if not path:
            return
        problem = path_problem(path)
        if problem:
            self.query_one("#export-note", Static).update(problem)
            return
        if Path(path).is_dir():  # said now: "exists: enter again to replace it", then refused on the second enter
            name = self.KINDS[self.kind][1]
            self.query_one("#export-note", Static).update(
                f"{visible(path)} is a folder: name a file in it, e.g. {visible(str(Path(path) / name))}")
            return
        if not no_such_path(path) and self._confirmed != path:
            self._confirmed = path
            self.query_one("#export-note", Static).update(f"{visible(path)} exists: enter again to replace it")
            return
        self.dismiss((self.kind, Path(path)))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str]):
    """Quitting while a training runs: leave it running (the default), stop it, or stay."""

    BINDINGS = [Binding("escape", "choose('cancel')", "Cancel"), Binding("l", "choose('leave')", "Leave running"),
                Binding("s", "choose('stop')", "Stop training")]

    def __init__(self, run_name: str) -> None:
        super().__init__()
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="dialog"):
            yield Label(Text(f"{visible(self.run_name)} is still training."), classes="title")
            yield Static("It keeps training after you quit (its own process); `torchtui attach` or ctrl+o "
                         "in a new torchtui shows it again.")
            with Horizontal(classes="buttons"):
                yield Button("Leave it running (l)", id="leave", variant="primary")
                yield Button("Stop it, then quit (s)", id="stop", variant="error")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
