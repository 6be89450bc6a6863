"""Results pane: validation metrics of the best and the last model, the confusion matrix and
per-class precision / recall (classification) or predicted vs actual (regression), and
evaluating or predicting on another file with the best checkpoint (in a thread: reading a
big file must not stall the screen). `v` turns the summary into the predictions view: the
validation rows of the best model, worst first (predictions_table.py), read from the run
folder's val_predictions.csv or computed from best.pt in a thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Static
from textual.worker import get_current_worker

from tui.core.errors import UserError
from tui.core.event_schema import METRICS as TASK_METRICS
from tui.core.files import expand_home
from tui.core.follow import RunState
from tui.core.val_predictions import freshness

from . import charts
from .chart import Chart
from .predictions_table import Predictions, PredictionsTable
from .visible_text import VisibleInput, visible, visible_lines

METRICS = (("val_loss", "val loss"), *((key, label) for key, _, label in TASK_METRICS))
POOLED = ("rmse", "mae")  # over every value: with several targets, of mixed units (each target's: per_target)


def _of_target(result: dict[str, Any], i: int, key: str) -> Any:
    """Metric `key` of the i-th target of a run with several (an evaluation's `per_target`), else None."""
    targets = result.get("per_target") or []
    return targets[i].get(key) if i < len(targets) else None
FIRST_STOP = "first-stop"  # the class of the view's widget that the pane's focus goes to (app.PANE_FOCUS)
# A run in progress: its table is loaded when the view is shown, and again only when the view is shown anew
# or the run has ended. Each load reads the data and runs the model on every validation row, in this process:
# reloaded on every new best.pt (at most every 5 s), watching it took 70% of a core and 37 KB/s of redraws.


class ResultsPane(Vertical):
    BINDINGS = [Binding("v", "toggle_view", "Predictions", tooltip="the validation rows of the best model, worst "
                                                                  "first; again: the summary")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: tuple | None = None
        self._standardised_for: tuple[Path | None, bool] = (None, False)  # (run folder, trained on a scaled target)
        self._run_dir: Path | None = None  # the run followed: its best.pt evaluates and predicts
        self._state: RunState | None = None
        self.view = "summary"  # or "predictions"
        self._predictions_for: tuple | None = None  # (run folder, its files' times) of the table shown or loading
        self._predictions_loading = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="results-top"):
            with VerticalScroll(id="results-left", classes=FIRST_STOP):
                yield Static("no results yet: they appear when a training finishes", id="results-summary",
                             markup=False)
                yield Static("", id="results-detail", markup=False)
            yield Chart(id="results-plot")
        yield PredictionsTable(id="results-predictions")
        with Horizontal(id="results-file-row"):
            yield VisibleInput(placeholder="another CSV to Evaluate or Predict", id="results-file")
            yield Button("Evaluate", id="results-evaluate")
            yield Button("Predict", id="results-predict")
        yield Label("", id="results-file-output", markup=False)

    def show_run(self, state: RunState) -> None:
        self._run_dir, self._state = state.run_dir, state
        self._check_predictions()
        key = (id(state), len(state.epochs), tuple(sorted(state.evaluations)), state.status)
        if key == self._shown:
            return
        self._shown = key
        self.query_one("#results-summary", Static).update(summary_table(state, self._target_standardised(state)))
        best = state.evaluations.get("best") or state.evaluations.get("last")
        detail = self.query_one("#results-detail", Static)
        plot = self.query_one("#results-plot", Chart)
        if best and "confusion" in best:
            detail.update(confusion_table(best))
            plot.display = False
        elif best and best.get("pairs"):
            detail.update("")
            plot.display = True
            plot.show(lambda plt, width: charts.plot_pairs(plt, best))
        else:
            detail.update("")
            plot.display = False

    def _target_standardised(self, state: RunState) -> bool:
        """Whether a regression run trained on the standardised target (its spec.toml, read once per run):
        then its losses are in those units, not the target's, and the summary says so."""
        if state.start.get("task") != "regression":
            return False
        if self._standardised_for[0] != state.run_dir:
            from tui.core.runs import RunFolder

            try:
                scaled = RunFolder(state.run_dir).spec().data.standardize_target
            except (UserError, OSError):
                scaled = False  # no spec to tell: no note rather than a wrong one
            self._standardised_for = (state.run_dir, scaled)
        return self._standardised_for[1]

    # ---- the predictions view --------------------------------------------------------------------
    def action_toggle_view(self) -> None:
        self.view = "predictions" if self.view == "summary" else "summary"
        predictions = self.view == "predictions"
        self.query_one("#results-top").display = not predictions
        self.query_one(PredictionsTable).display = predictions
        table, left = self.query_one("#predictions-table", DataTable), self.query_one("#results-left")
        table.set_class(predictions, FIRST_STOP)
        left.set_class(not predictions, FIRST_STOP)
        (table if predictions else left).focus()
        self._check_predictions(shown=predictions)

    def _check_predictions(self, shown: bool = False) -> None:
        """Load the table when the predictions view is shown and its source changed (a new run, a new
        best.pt, the file written at the run's end); one load at a time, the next once it is done. While
        the run trains, a new best.pt is loaded only when the view is `shown` anew (v, v)."""
        if self.view != "predictions" or self._predictions_loading:
            return
        view = self.query_one(PredictionsTable)
        if self._run_dir is None:
            self._predictions_for = None
            view.show_message("no run yet: train one (ctrl+r) or load one (ctrl+o) to see its validation predictions")
            return
        key = (self._run_dir, freshness(self._run_dir))
        if key == self._predictions_for:
            return
        if self._predictions_for is None or self._predictions_for[0] != self._run_dir:
            view.show_message(f"reading the validation predictions of {visible(self._run_dir.name)}...")
        elif self._state is not None and self._state.running and not shown:
            return  # a new best.pt of a run in progress: loaded when the view is shown again, or at the end
        self._predictions_for, self._predictions_loading = key, True
        total = self._state.start.get("val_rows") if self._state is not None else None
        self._load_predictions(self._run_dir, total)

    @work(thread=True, exclusive=True, group="predictions")
    def _load_predictions(self, run_dir: Path, total: int | None) -> None:
        from tui.core import val_predictions

        from .predictions_table import cells

        result: Predictions | str
        try:
            loaded = val_predictions.for_run(run_dir)
            result = cells(loaded.table, loaded.origin, total)
        except UserError as e:
            result = str(e)
        except Exception as e:  # a file the readers choke on: say so, keep the app
            result = f"cannot show the validation predictions of {run_dir.name}: {type(e).__name__}: {e}"
        if not get_current_worker().is_cancelled:  # the app is closing
            self.app.call_from_thread(self._predictions_loaded, run_dir, result)

    def _predictions_loaded(self, run_dir: Path, result: Predictions | str) -> None:
        self._predictions_loading = False
        if not self.is_attached:
            return
        if run_dir != self._run_dir:  # another run was loaded meanwhile
            self._check_predictions()
            return
        view = self.query_one(PredictionsTable)
        if isinstance(result, str):
            view.show_message(result)
        else:
            view.show(result, self._about())
        self._check_predictions()  # changed while it loaded: once more

    def _about(self) -> str:
        """The target and which model: the epoch of the latest best.pt."""
        state = self._state
        if state is None:
            return "best model"
        best = [c for c in state.checkpoints if c.get("which") == "best"]
        epoch = best[-1].get("epoch") if best else state.evaluations.get("best", {}).get("epoch")
        target = state.start.get("target", "")
        return f"{visible(str(target))}, best model" + (f" (epoch {epoch})" if epoch is not None else "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        path = self.query_one("#results-file", Input).value.strip()
        if event.button.id == "results-evaluate":
            self.use_file(path, "evaluate")
        elif event.button.id == "results-predict":
            self.use_file(path, "predict")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "results-file":
            self.use_file(event.value.strip(), "evaluate")

    def use_file(self, path: str, what: str) -> None:
        """Evaluate the best model on a labelled file, or predict a file without targets."""
        if self._run_dir is None:
            self.app.notify("train or load a run first (ctrl+r / ctrl+o)", severity="warning")
            return
        best = self._run_dir / "best.pt"
        if not best.exists():
            self.app.notify(f"{self._run_dir.name} has no best.pt yet", severity="warning")
        elif path:
            self._use_checkpoint(self._run_dir, expand_home(path), what)
        else:  # (the last file's result stayed, as if it answered this)
            self.query_one("#results-file-output", Label).update(
                Text(f"type a file's path to {what} (a CSV with the run's columns)", style="yellow"))

    @work(thread=True, exclusive=True, group="results")
    def _use_checkpoint(self, run_dir: Path, path: str, what: str) -> None:
        """The run's best model (its best.pt, or last.pt where a kill left best.pt behind: Predictor.load)."""
        from tui.core.predict import Predictor, not_predicted, note_lines

        try:
            predictor = Predictor.load(run_dir)
            options = predictor.read_options({})  # the file read as the run read its data, as `torchtui predict`
            if what == "evaluate":
                text = evaluation_line(path, predictor.evaluate_path(path, options))
            else:
                out = run_dir / f"predictions-{Path(path).name.split('.')[0]}.csv"
                written = predictor.predict_file(path, out, options)
                left, why = not_predicted(written.left_out_rows)
                count = f"{written.rows} predictions" if not left else \
                    f"{written.rows} rows ({written.rows - left} predicted, {why} not)"
                text = Text(visible_lines("\n".join([f"{count} written to {out}",
                                                      *note_lines(written.said())])))
        except UserError as e:  # (the file's name, its columns and values, as they are: escapes, not commands)
            text = Text(visible_lines(str(e)), style="red")
        except Exception as e:  # a file the readers choke on: say so, keep the app
            text = Text(visible_lines(f"cannot {what} with {path}: {type(e).__name__}: {e}"), style="red")
        self.app.call_from_thread(self.query_one("#results-file-output", Label).update, text)


def evaluation_line(path: str, result: dict[str, Any]) -> Text:
    """What `torchtui eval` prints first, in its words: a loss on a standardised target is labelled so, the
    metrics are in the target's units; the reader's notes on the file, text values the model has no category
    for, and empty cells an imputing model filled, are said after it; the file's name, columns and values as the
    screen shows them (control characters as escapes)."""
    from tui.core.predict import loss_label, note_lines

    parts = [f"{path}: {result['rows']} rows", f"{loss_label(result)} {result['loss']:.4f}"]
    per_target = result.get("per_target") or []
    parts += [f"{key} {result[key]:.4f}" for key, _, _ in TASK_METRICS if result.get(key) is not None
              and not (per_target and key in POOLED)]
    lines = ["  ".join(parts)] + [f"{t['target']}: " + "  ".join(f"{k} {t[k]:.4f}" for k in POOLED + ("r2",))
                                  for t in per_target]
    return Text(visible_lines("\n".join([*lines, *note_lines(result)])))


def summary_table(state: RunState, target_standardised: bool = False) -> Group | str:
    """Best and last model side by side: from the final evaluations, else from the epoch log. A regression
    run trained on the standardised target gets a line saying its loss is in those units (as `torchtui
    eval` labels it), the metrics beside it being in the target's."""
    rows: dict[str, dict[str, Any]] = {}
    if state.evaluations:
        rows = {name: state.evaluations[name] for name in ("best", "last") if name in state.evaluations}
    elif state.epochs:
        best_epoch = next((r for r in reversed(state.epochs) if r.get("best")), None)
        if best_epoch is not None:
            rows["best"] = best_epoch
        rows["last"] = state.epochs[-1]
    if not rows:
        return "no results yet: they appear when a training finishes"
    table = Table(box=None, padding=(0, 2))  # one column per model: narrow enough beside a chart
    table.add_column("")
    for name in rows:
        table.add_column(f"{name} model", justify="right")
    table.add_row("epoch", *(str(r.get("epoch", "")) for r in rows.values()))
    several = [t["target"] for t in next((r["per_target"] for r in rows.values() if r.get("per_target")), [])]
    for key, label in METRICS:
        if several and key in POOLED:  # over values in each target's units: one row per target below instead
            continue
        if any(r.get(key) is not None for r in rows.values()):
            table.add_row("R² (mean)" if several and key == "r2" else label, *(_num(r.get(key)) for r in rows.values()))
    for i, name in enumerate(several):
        for key, label in METRICS:
            if key in (*POOLED, "r2"):
                table.add_row(Text(f"{label} {visible(name)}"), *(_num(_of_target(r, i, key)) for r in rows.values()))
    parts: list[Any] = [Text(f"validation: {visible(state.run_dir.name)}", style="bold"), table]
    if target_standardised:
        parts.append(Text(f"loss: {state.start.get('loss', 'the loss')} on the standardised target; "
                          "rmse, mae in the target's units", style="dim"))
    return Group(*parts)


def confusion_table(e: dict[str, Any]) -> Group:
    """The confusion matrix of evaluation `e`, its classes named as the data has them (control characters as
    escapes; Text, not str: a label is not markup)."""
    classes = [visible(str(c)) for c in e.get("classes") or range(len(e["confusion"]))]
    table = Table(box=None, padding=(0, 1))
    table.add_column("class", no_wrap=True, overflow="ellipsis", min_width=min(max(map(len, classes)), 12))
    for c in classes:  # whole where the pane is wide enough (it was cut to 8 characters at any width)
        table.add_column(Text(c), justify="right", overflow="ellipsis", no_wrap=True, min_width=min(len(c), 6))
    table.add_column("precision", justify="right", no_wrap=True, min_width=9)
    table.add_column("recall", justify="right", no_wrap=True, min_width=6)
    for i, (c, row) in enumerate(zip(classes, e["confusion"])):
        cells = [Text(str(v), style="bold green" if j == i else ("red" if v else "dim")) for j, v in enumerate(row)]
        table.add_row(Text(c), *cells, _num(e["precision"][i]), _num(e["recall"][i]))
    title = f"\nconfusion matrix, {e.get('model', '')} model (rows: true class, columns: predicted)"
    return Group(Text(title, style="bold"), table)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) and abs(v) < 100 else (f"{v:,.1f}" if isinstance(v, float) else str(v))
