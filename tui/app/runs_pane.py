"""Runs pane: every run folder in the runs folder, side by side - status, data set, epochs, best
validation loss and metric, training time - sortable by each column; the selected runs' curves
overlaid (one colour each, a legend, a log scale) with the spec fields that differ between
them; and deleting a run folder that is no longer wanted (with a confirm, never a running one).

Reading the runs touches every run's event log, so it happens in a thread (when the pane is
shown, and on `r`); the numbers come from tui.core.compare, which `torchtui runs --compare`
prints too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from tui.core.errors import UserError

from .charts import whole_ticks
from .visible_text import visible

if TYPE_CHECKING:  # tui.core.compare reads event logs with numpy: imported where it is used
    from tui.core.compare import ComparedRun

# One colour per selected run, in the order they were selected: 256-colour numbers, which plotext
# and Rich both draw, so a run's mark in the table has its curve's colour.
PALETTE = (39, 208, 41, 197, 141, 220, 51, 250)
COLUMN_KEYS = ("name", "status", "dataset", "epochs", "best val loss", "best metric", "time")
MARK = "mark"
PLOT_MIN_WIDTH = 28  # the differences table takes the width it needs, up to what leaves the plot this much


class RunsPane(Vertical):
    BINDINGS = [
        Binding("space", "toggle_select", "Select"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse sort", show=False),
        Binding("m", "toggle_metric", "Loss/metric"),
        Binding("l", "toggle_log", "Log scale", show=False),  # in the help: the footer keeps room for the app's keys
        Binding("delete,D", "delete", "Delete"),
        Binding("r", "refresh_runs", "Refresh", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[ComparedRun] = []  # as read, newest first
        self.sort_column: str | None = None  # None: newest first
        self.descending = False
        self.selected: list[str] = []  # run folder paths, in the order selected (their colours)
        self.metric_mode = False
        self.log_scale = False
        self.runs_dir = ""
        self.loaded = False  # the first read has landed

    def compose(self) -> ComposeResult:
        yield Static("reading the runs...", id="runs-status", markup=False)
        yield DataTable(id="runs-list", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="runs-bottom"):
            yield CurvesPlot(id="runs-plot")
            yield DataTable(id="runs-diff", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        self.show_runs()

    def on_show(self) -> None:
        self.action_refresh_runs()

    def on_resize(self) -> None:
        self.show_differences()  # its width is the table's need, up to what the new width leaves the plot

    # ---- reading the runs, in a thread ----------------------------------------------------------
    def action_refresh_runs(self) -> None:
        self.runs_dir = self.app.spec.run.runs_dir  # type: ignore[attr-defined]
        self._read_runs(self.runs_dir)

    @work(thread=True, exclusive=True, group="runs-pane")
    def _read_runs(self, runs_dir: str) -> None:
        from tui.core import compare

        runs = compare.list_compared(runs_dir)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._runs_read, runs, runs_dir)

    def _runs_read(self, runs: list[ComparedRun], runs_dir: str) -> None:
        if runs_dir != self.runs_dir or not self.is_attached:
            return  # an older read, or the app is closing
        self.runs, self.loaded = runs, True
        paths = {str(r.info.path) for r in runs}
        self.selected = [p for p in self.selected if p in paths]
        self.show_runs()

    # ---- drawing --------------------------------------------------------------------------------
    def ordered(self) -> list[ComparedRun]:
        if self.sort_column is None:
            return list(self.runs)
        from tui.core.compare import sort_runs

        return sort_runs(self.runs, self.sort_column, self.descending)

    def show_runs(self) -> None:
        from tui.core.compare import fmt_metric, fmt_number
        from tui.core.follow import fmt_seconds

        table = self.query_one("#runs-list", DataTable)
        highlighted = self.highlighted_path()
        arrow = " ▼" if self.descending else " ▲"
        headers = [key + (arrow if key == self.sort_column else "") for key in COLUMN_KEYS]
        rows: list[tuple[str, list[Text]]] = []
        for r in self.ordered():
            i = r.info
            # Text, not str: a DataTable reads a str as markup, and names and values are the user's (their control
            # characters as escapes); a data file by its name: its absolute path pushed the epochs, losses and time
            # off an 80-column screen
            rows.append((str(i.path), [Text(visible(r.name)), Text(i.shown_status), Text(visible(Path(i.dataset).name)),
                                       Text(f"{i.epochs_done}/{i.epochs}"), Text(fmt_number(i.best_val_loss)),
                                       Text(fmt_metric(r)), Text(fmt_seconds(i.seconds))]))
        table.clear(columns=True)
        table.add_column("", key=MARK, width=2)
        # each column as wide as its widest cell, given here: a column left to size itself is measured when the
        # table is next idle, and a table drawn before that showed every column cut to its header's width
        for n, (key, header) in enumerate(zip(COLUMN_KEYS, headers)):
            table.add_column(header, key=key, width=max([Text(header).cell_len, *(c[n].cell_len for _, c in rows)]))
        for path, cells in rows:
            table.add_row(self.mark(path), *cells, key=path)
        if highlighted is not None and highlighted in table.rows:
            table.move_cursor(row=table.get_row_index(highlighted))
        self.show_status()
        self.show_selection()

    def show_status(self) -> None:
        if not self.runs:
            text = (f"no runs in {visible(self.runs_dir)}/ yet: ctrl+r trains one" if self.loaded
                    else "reading the runs...")
        else:
            order = (f"by {self.sort_column} {'▼' if self.descending else '▲'}" if self.sort_column
                     else "newest first")
            text = (f"{len(self.runs)} runs in {visible(self.runs_dir)}/, {order}; {len(self.selected)} selected to "
                    "compare")
        self.query_one("#runs-status", Static).update(Text(text))

    def mark(self, path: str) -> Text:
        """A selected run's mark in the list: its colour and its number, as the legend and the
        differences table name it."""
        if path not in self.selected:
            return Text("")
        n = self.selected.index(path)
        return Text(f"●{n + 1}" if n < 9 else f"{n + 1}", style=f"bold {colour(n)}")

    def labels(self, runs: list[ComparedRun]) -> list[str]:
        """How the legend and the differences table name the runs compared: the number of the list's
        mark and the part of the name that tells it from the others ("●1 035714"); a run shown
        without a selection goes by its whole name."""
        from tui.core.compare import distinct_parts

        if not self.selected:
            return [visible(r.name) for r in runs]
        parts = distinct_parts([r.name for r in runs])
        return [f"{self.mark(str(r.info.path)).plain} {visible(part)}" for r, part in zip(runs, parts)]

    def highlighted_path(self) -> str | None:
        table = self.query_one("#runs-list", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except CellDoesNotExist:  # no cursor row yet
            return None
        return key.value

    def chosen(self) -> list[ComparedRun]:
        """The selected runs in selection order; with none selected, the highlighted one."""
        by_path = {str(r.info.path): r for r in self.runs}
        paths = self.selected or [p for p in [self.highlighted_path()] if p]
        return [by_path[p] for p in paths if p in by_path]

    def show_selection(self) -> None:
        table = self.query_one("#runs-list", DataTable)
        for r in self.runs:
            path = str(r.info.path)
            if path in table.rows:
                table.update_cell(path, MARK, self.mark(path))
        self.draw_plot()
        self.show_differences()

    def draw_plot(self) -> None:
        plot = self.query_one("#runs-plot", CurvesPlot)
        plot.runs, plot.metric_mode, plot.log_scale = self.chosen(), self.metric_mode, self.log_scale
        plot.labels = self.labels(plot.runs)
        plot.any_selected = bool(self.selected)
        plot.refresh()

    def show_differences(self) -> None:
        from tui.core.compare import differences, fmt_value

        table = self.query_one("#runs-diff", DataTable)
        table.clear(columns=True)
        runs = [r for r in self.chosen() if self.selected]
        if len(runs) < 2:
            rows = [["spec fields that differ"], ["select two or more runs (space)"]]
        else:
            rows = [["differs", *self.labels(runs)]]
            rows += [[d.field, *(visible(fmt_value(v)) for v in d.values)] for d in differences(runs)]
            if len(rows) == 1:
                rows.append(["(none)", *("" for _ in runs)])
            rows += [["spec.toml", *(("unreadable" if x is r else "") for x in runs)] for r in runs if r.spec is None]
        # each column as wide as its widest cell, given, not left to the table's measuring when it is next idle:
        # once in CI that did not happen, and the field name train.lr stayed cut to its header's width (train.l)
        content = [max(cell_len(row[n]) for row in rows) for n in range(len(rows[0]))]
        # Text, not str: names and values are the user's, not markup; a run's header in its curve's colour
        for n, header in enumerate(rows[0]):
            table.add_column(Text(header, style=f"bold {colour(n - 1)}" if n else ""), key=str(n), width=content[n])
        for row in rows[1:]:
            table.add_row(*(Text(cell) for cell in row))
        # the width it needs (each column's widest cell and its padding, and a scrollbar's when the rows overflow),
        # up to what leaves the plot PLOT_MIN_WIDTH; past that it scrolls sideways, the field names kept in view
        widths = [width + 2 * table.cell_padding for width in content]
        bottom = self.query_one("#runs-bottom").size
        scrollbar = table.styles.scrollbar_size_vertical if len(rows) > bottom.height else 0
        table.fixed_columns = 1
        table.styles.width = max(min(sum(widths) + scrollbar, (bottom.width or self.app.size.width) - PLOT_MIN_WIDTH),
                                 widths[0] + scrollbar)

    # ---- keys -----------------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs-list" and not self.selected:
            self.draw_plot()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id != "runs-list" or event.column_key.value not in COLUMN_KEYS:
            return
        event.stop()
        column = event.column_key.value
        self.descending = not self.descending if column == self.sort_column else False
        self.sort_column = column
        self.show_runs()

    def action_sort(self) -> None:
        """The next column; after the last, back to newest first."""
        keys: list[str | None] = [None, *COLUMN_KEYS]
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        self.descending = False
        self.show_runs()

    def action_reverse(self) -> None:
        if self.sort_column is None:
            self.app.notify("s picks a column to sort by first", severity="warning", timeout=3)
            return
        self.descending = not self.descending
        self.show_runs()

    def action_toggle_select(self) -> None:
        path = self.highlighted_path()
        if path is None:
            return
        if path in self.selected:
            self.selected.remove(path)
        else:
            self.selected.append(path)
        self.show_status()
        self.show_selection()

    def action_toggle_metric(self) -> None:
        self.metric_mode = not self.metric_mode
        self.draw_plot()

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        if self.metric_mode:
            self.app.notify("the log scale applies to the loss curves (m shows them)", timeout=3)
        self.draw_plot()

    def action_delete(self) -> None:
        path = self.highlighted_path()
        run = next((r for r in self.runs if str(r.info.path) == path), None)
        if run is None:
            return
        if run.info.running or self.app.starting(run.info.path):  # (a resume still loading has no events yet)
            self.app.notify(f"{run.name} is {run.info.status if run.info.running else 'starting'}; stop it first "
                            f"(ctrl+o it, then ctrl+x; or `kill -TERM {run.info.pid}`), then delete it",
                            severity="warning", title="not deleted")
            return

        def confirmed(yes: bool | None) -> None:
            if yes and not self.app.starting(run.info.path):  # (nor one started while the dialog was open)
                self._delete(run.info.path)

        self.app.push_screen(DeleteRunScreen(run.name, str(run.info.path)), confirmed)

    @work(thread=True, group="runs-delete")
    def _delete(self, path: Path) -> None:
        from tui.core.compare import delete_run

        try:
            delete_run(path)
        except UserError as e:
            self.app.call_from_thread(self.app.notify, str(e), severity="warning", title="not deleted")
            return
        self.app.call_from_thread(self.app.notify, f"deleted {path}", timeout=3)
        self.app.call_from_thread(self.app.run_deleted, path)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.action_refresh_runs)


class CurvesPlot(PlotextPlot):
    """The overlaid curves, plotted afresh at every render: plotext's build takes the log of the data
    it holds in place, so building the same data twice (a resize, a repaint) would take it twice."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[ComparedRun] = []
        self.labels: list[str] = []  # the runs' names as the pane labels them, in the runs' order
        self.metric_mode = self.log_scale = self.any_selected = False

    def render(self):
        """The legend on lines of its own above the plot: plotext's legend is drawn inside the canvas,
        where a narrow plot drops it whole and its lines take the curves' room; this one names each
        run in its curve's colour, the way the differences table heads its column."""
        width, height = max(self.size.width, 20), self.size.height
        labels = self.labels if len(self.labels) == len(self.runs) else [visible(r.name) for r in self.runs]
        notes = draw_curves(self.plt, self.runs, self.metric_mode, self.log_scale, self.any_selected, width)
        lines = legend_lines([label + note for label, note in zip(labels, notes)], self.any_selected, width)
        plot_height = max(height - len(lines), 1)
        # what PlotextPlot.render does, at the height the legend leaves
        self.plt.plotsize(self.size.width, plot_height)
        self.plt._set_size(self.size.width, plot_height)
        self.plt.theme(self._get_plotext_theme_name(self.app.theme))
        return Group(*lines, Text.from_ansi(self.plt.build()))


def colour(n: int) -> str:
    """The n-th selected run's colour (0 first), as Rich writes it."""
    return f"color({PALETTE[n % len(PALETTE)]})"


def legend_lines(labels: list[str], marked: bool, width: int) -> list[Text]:
    """Each run's label in its colour, side by side, a label never split across lines (only one
    wider than the plot is cut); `marked`: the labels carry their mark already (selected runs),
    else each gets one."""
    lines: list[Text] = []
    for n, label in enumerate(labels):
        label = label if marked else f"● {label}"
        if lines and lines[-1].cell_len + 2 + len(label) <= width:
            lines[-1].append("  ")
        else:
            lines.append(Text(no_wrap=True, overflow="ellipsis"))
        lines[-1].append(label, style=f"bold {colour(n)}")
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return lines


def draw_curves(plt, runs: list[ComparedRun], metric: bool, log: bool, selected: bool, width: int) -> list[str]:
    """Each run's validation loss (its training loss when it has no validation rows) or task metric
    per epoch, one colour each. Returns what the legend adds to each run's label: " (train)" where
    its curve is the training loss."""
    from tui.core.compare import METRIC_LABELS

    plt.clear_data()
    log = log and not metric
    plt.yscale("linear")  # log once a curve is on it: plotext's build raised on a log axis with none
    hint = "" if selected else " (space selects runs to overlay)"
    if metric:
        labels = sorted({METRIC_LABELS.get(r.info.metric, r.info.metric) for r in runs if r.info.metric})
        plt.title(f"val {' / '.join(labels) or 'metric'} per epoch{hint}")
    else:
        plt.title(f"loss per epoch{' (log)' if log else ''}{hint}")
    notes, plotted, xs = [], False, []
    for n, r in enumerate(runs):
        c = r.curves
        ys = c.metric if metric else (c.val_loss if any(v is not None for v in c.val_loss) else c.train_loss)
        notes.append("" if metric or ys is c.val_loss else " (train)")
        points = [(x, y) for x, y in zip(c.epochs, ys) if y is not None]
        if log:
            points = [(x, y) for x, y in points if y > 0]
        step = max(1, len(points) // (width * 2))
        points = points[::step]
        if not points:
            continue
        # named in the legend above the plot (CurvesPlot.render), not plotext's
        plt.plot([x for x, _ in points], [y for _, y in points], marker="braille", color=PALETTE[n % len(PALETTE)])
        plotted = True
        xs.append(np.array([x for x, _ in points], dtype=float))
    whole_ticks(plt, xs)  # epochs at whole numbers (plotext's own: 1.0 419.5 838.0)
    if log and plotted:
        plt.yscale("log")
    plt.xlabel("epoch")
    return notes


class DeleteRunScreen(ModalScreen[bool]):
    """Deleting a run folder for good: asks first, and says what goes with it."""

    BINDINGS = [Binding("escape,n", "choose(False)", "Keep it"), Binding("y", "choose(True)", "Delete")]

    def __init__(self, name: str, path: str) -> None:
        super().__init__()
        self.run_name = name
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-box", classes="dialog"):
            yield Label(Text(f"Delete the run {visible(self.run_name)}?"), classes="title")
            yield Static(Text(f"{visible(self.path)}/ and everything in it (spec, event log, checkpoints, "
                              "predictions) is removed for good."))
            with Horizontal(classes="buttons"):
                yield Button("Delete it (y)", id="delete-yes", variant="error")
                yield Button("Keep it (n / esc)", id="delete-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#delete-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "delete-yes")

    def action_choose(self, yes: bool) -> None:
        self.dismiss(yes)
