"""The Results pane's predictions view: the validation rows of the best model in a table, worst
first, to see what the model gets wrong.

The rows come from `tui.core.val_predictions` (the run folder's `val_predictions.csv`, or computed
from best.pt); `cells` turns them into table cells in a worker thread, so the screen only lays
them out. Each cell keeps its value beside its text: a column sorts by values (numbers as
numbers), with DataTable's own sort. The row number, the true and predicted label or value, its
probability and the error come first and stay put while the inputs scroll sideways.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from tui.core.val_predictions import ERROR, P_PREDICTED, PREDICTED, ROW, TRUE

from .visible_text import visible, visible_lines

HEADERS = {ROW: "row", TRUE: "true", PREDICTED: "predicted", P_PREDICTED: "p(pred)", ERROR: "error"}
CHUNK = 500  # rows added to the table per refresh
MAX_FIXED = 5  # result columns kept in view while scrolling sideways; more (several targets) would fill it


class Cell:
    """A table cell: what it shows, and the value a sort compares (numbers before text, empty last).
    A plain class with slots: a full table is some 100,000 of them, made in a worker thread."""

    __slots__ = ("text", "key", "style", "right")

    def __init__(self, text: str, key: tuple, style: str = "", right: bool = False) -> None:
        self.text, self.key, self.style, self.right = text, key, style, right

    def __rich__(self) -> Text:
        return Text(self.text, style=self.style, justify="right" if self.right else "left", no_wrap=True, end="")


@dataclass
class Predictions:
    """The table's content, made in a worker thread (`cells`)."""

    columns: list[tuple[str, str]]  # (column name in the file, header)
    rows: list[list[Cell]]  # worst first, as the file holds them
    wrong: list[bool]  # classification: the row's prediction is wrong
    task: str
    fixed: int  # leading columns that stay in view
    origin: str  # where the rows came from, in words
    total: int | None = None  # validation rows in all, when more than the rows shown
    several: bool = False  # several regression targets: the error is the mean over them

    @property
    def n_wrong(self) -> int:
        return sum(self.wrong)


def cells(table: Any, origin: str, total: int | None = None) -> Predictions:
    """A `val_predictions` table (a pandas DataFrame) as cells: the result columns first."""
    names = [str(c) for c in table.columns]
    task = "classification" if P_PREDICTED in names else "regression"
    results = [c for c in names if c in (TRUE, PREDICTED, P_PREDICTED) or c.startswith((f"{TRUE}_", f"{PREDICTED}_"))]
    several = task == "regression" and len(results) > 2  # true_<t>, predicted_<t> per target: the error first
    order = [ROW, *([ERROR, *results] if several else [*results, ERROR]),
             *(c for c in names if c not in (ROW, ERROR, *results))]
    four = task == "classification"  # probabilities and 1 - p: four decimals; values: six significant digits
    columns = [(c, HEADERS.get(c, visible(c))) for c in order]  # (a column's name and a label as the data has
    # them, control characters as escapes; the sort keys keep the values)
    data = [table[c].tolist() for c in order]
    wrong = ([str(t) != str(p) for t, p in zip(table[TRUE].tolist(), table[PREDICTED].tolist())]
             if task == "classification" else [False] * len(table))
    rows = []
    for i in range(len(table)):
        row = [_cell(column[i], four and name in (P_PREDICTED, ERROR)) for name, column in zip(order, data)]
        if wrong[i]:
            row[order.index(PREDICTED)].style = "bold red"
        rows.append(row)
    fixed = 2 + len(results)
    return Predictions(columns, rows, wrong, task, fixed if fixed <= MAX_FIXED else 2, origin, total, several)


def _cell(value: Any, four_decimals: bool) -> Cell:
    if value is None or (isinstance(value, float) and value != value):
        return Cell("", (2,))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return Cell(visible(str(value)), (1, str(value)))
    if isinstance(value, numbers.Integral):
        return Cell(str(value), (0, int(value)), right=True)
    text = f"{value:.4f}" if four_decimals else f"{value:.6g}"
    if text.lstrip("-").isdigit():  # a float that is a whole number still reads as one: 6.0, not 6
        text += ".0"
    return Cell(text, (0, float(value)), right=True)


class PredictionsTable(Vertical):
    """A caption line and the table; `s` sorts by the cursor's column (again: the other way), `e`
    goes back to worst first, `w` shows only the wrongly predicted rows (classification)."""

    BINDINGS = [Binding("s", "sort_column", "Sort", tooltip="sort by the cursor's column (again: the other way)"),
                Binding("e", "worst_first", "Worst first", tooltip="sort by error, worst first (the default)"),
                Binding("w", "wrong_only", "Wrong only", tooltip="only the wrongly predicted rows, or all again "
                                                                 "(classification)")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data: Predictions | None = None
        self.sorted_by: tuple[str, bool] = (ERROR, True)  # (column, descending)
        self.wrong_only = False
        self._about = ""
        self._fills = 0  # fills started: a chunk of an older one is dropped

    def compose(self) -> ComposeResult:
        yield Static("", id="predictions-caption", markup=False)
        yield DataTable(id="predictions-table", cursor_type="cell", zebra_stripes=True)

    # ---- from the pane ------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        """No table (yet): why, or what is being done."""
        self.data = None
        self._fills += 1
        self.refresh_bindings()  # no rows: no `w`
        self.query_one("#predictions-caption", Static).update(Text(visible_lines(text)))  # (quotes the data)
        self.query_one(DataTable).clear(columns=True)

    def show(self, data: Predictions, about: str) -> None:
        """New rows; `about` names the target and the model. The sort and the filter are kept."""
        self.data, self._about = data, about
        if data.task != "classification":
            self.wrong_only = False
        if self.sorted_by[0] not in {name for name, _ in data.columns}:
            self.sorted_by = (ERROR, True)
        self.refresh_bindings()  # `w` is shown for a classification's rows only
        self._fill()

    # ---- keys ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`w` only where it applies, a classification's rows: a regression has no wrong rows, and a key
        shown in the footer that only says it cannot apply is noise."""
        if action == "wrong_only":
            return self.data is not None and self.data.task == "classification"
        return True

    def action_sort_column(self) -> None:
        table = self.query_one(DataTable)
        if self.data is None or not table.ordered_columns:
            return
        self._sort_toggle(str(table.ordered_columns[table.cursor_coordinate.column].key.value))

    def action_worst_first(self) -> None:
        self.sorted_by = (ERROR, True)
        self._sort()

    def action_wrong_only(self) -> None:
        if self.data is None or self.data.task != "classification":  # (check_action keeps the key from here)
            return
        self.wrong_only = not self.wrong_only
        self._fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self._sort_toggle(str(event.column_key.value))

    # ---- drawing ------------------------------------------------------------------------------
    def _sort_toggle(self, column: str) -> None:
        name, descending = self.sorted_by
        self.sorted_by = (column, not descending) if column == name else (column, column == ERROR)
        self._sort()

    def _fill(self) -> None:
        """The rows in chunks, one per refresh: the table measures every cell it is given (some 10 µs
        each), and 10,000 rows at once would stall the screen for seconds. The cursor keeps its place."""
        data = self.data
        assert data is not None
        table = self.query_one(DataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.fixed_columns = data.fixed
        for name, header in data.columns:
            table.add_column(Text(header), key=name)  # (a column's name: not markup)
        rows = [r for r, wrong in zip(data.rows, data.wrong) if wrong] if self.wrong_only else data.rows
        self._fills += 1
        self._add_rows(self._fills, rows, cursor)

    def _add_rows(self, fill: int, rows: list[list[Cell]], cursor: Coordinate) -> None:
        if fill != self._fills or not self.is_attached:  # a newer fill took over
            return
        table = self.query_one(DataTable)
        table.add_rows(rows[:CHUNK])
        self._sort()
        if len(rows) > CHUNK:
            self.set_timer(0.02, partial(self._add_rows, fill, rows[CHUNK:], cursor))
        elif table.row_count:
            table.cursor_coordinate = table.validate_cursor_coordinate(cursor)

    @property
    def filling(self) -> bool:
        """Rows still being added (tests wait for the whole table)."""
        table = self.query_one(DataTable)
        if self.data is None:
            return False
        return table.row_count < (self.data.n_wrong if self.wrong_only else len(self.data.rows))

    def _sort(self) -> None:
        if self.data is None:
            return
        name, descending = self.sorted_by
        self.query_one(DataTable).sort(name, key=lambda cell: cell.key, reverse=descending)
        self._caption()

    def _caption(self) -> None:
        data = self.data
        assert data is not None
        n = len(data.rows)
        rows = (f"the {n:,} worst of {data.total:,} validation rows" if data.total and data.total > n
                else f"{n:,} validation rows")
        if data.task == "classification":
            what, error = f"{rows}, {data.n_wrong:,} predicted wrong", "error = 1 - p(true class)"
        else:
            what, error = rows, "error = |predicted - true|" + (", the mean over the targets" if data.several else "")
        name, descending = self.sorted_by
        header = dict(data.columns).get(name, name)
        how = f"sorted by {header} {'▼' if descending else '▲'}" + (" · wrong only" if self.wrong_only else "")
        caption = self.query_one("#predictions-caption", Static)
        caption.update(Text(visible_lines(f"{self._about}: {what}\n{error} · {how} · from {data.origin}")))
