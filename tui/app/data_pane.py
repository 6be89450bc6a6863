"""Data pane: pick a dataset, see its columns and first rows, choose target, features, task
and validation split, and read what preparation noticed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import Option

from tui.core.spec import TASKS, Spec

from .data_source import DataView, candidates

AUTO_TARGET = "(last column)"


class DataPane(Horizontal):
    def __init__(self, spec: Spec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = spec.data  # Selects announce their first value: it must be the spec's
        self._data_error = ""  # the data's own error (it cannot be read or prepared), below the fields' refusals

    def compose(self) -> ComposeResult:
        with Vertical(id="data-left"):
            yield Label("Datasets", classes="title")
            yield OptionList(*[Option(label, id=value) for value, label in candidates()], id="data-list")
            yield Label("Path (enter to load)", classes="title")
            yield Input(placeholder="path/to/file.csv", id="data-path", compact=True)
        with VerticalScroll(id="data-right"):
            with Grid(id="data-choices"):
                yield Label("Target", classes="field")
                yield Select([(AUTO_TARGET, "")], value="", allow_blank=False, id="data-target", compact=True)
                yield Label("Task", classes="field")
                yield Select([(t, t) for t in TASKS], value=self.initial.task, allow_blank=False, id="data-task",
                             compact=True)
                yield Label("Validation split", classes="field")
                yield Input(value=f"{self.initial.val_split:g}", id="data-val-split", compact=True)
                yield Label("Empty cells", classes="field")
                yield Select([("refuse the file", "error"), ("drop those rows", "drop"), ("impute", "impute")],
                             value=self.initial.missing,
                             allow_blank=False, id="data-missing", compact=True)
            yield Static("", id="data-error", classes="error")
            yield Static("", id="data-warnings", markup=False)  # columns to doubt: above the fold, in warning colour
            yield Label("Features (space: use / drop)", classes="title")
            yield SelectionList[str](id="data-features")
            yield Label("First rows", classes="title")
            yield DataTable(id="data-preview", show_cursor=False, zebra_stripes=True)
            yield Label("Notices", classes="title")
            yield Static("", id="data-notices")

    # ---- filling from the app's state -----------------------------------------------------
    def show_spec(self, spec: Spec) -> None:
        d = self.query_one("#data-path", Input)
        with d.prevent(Input.Changed):
            d.value = spec.data.dataset
        for key in ("task", "missing"):
            select = self.query_one(f"#data-{key}", Select)
            with select.prevent(Select.Changed):
                select.value = getattr(spec.data, key)
        split = self.query_one("#data-val-split", Input)
        with split.prevent(Input.Changed):
            split.value = f"{spec.data.val_split:g}"
        split.remove_class("-invalid")  # the spec's own value: the app has cleared the fields' refusals
        self.show_errors()
        options = self.query_one("#data-list", OptionList)
        for i in range(options.option_count):
            if options.get_option_at_index(i).id == spec.data.dataset:
                options.highlighted = i

    def show_data(self, view: DataView) -> None:
        path = self.query_one("#data-path", Input)
        if not path.has_focus:  # the box names the data shown (unless the user is typing a new one)
            with path.prevent(Input.Changed):
                path.value = view.spec.dataset
        self._data_error = view.error
        self.show_errors()
        warnings = self.query_one("#data-warnings", Static)
        warnings.update(warning_lines(view))
        warnings.display = bool(view.prepared and view.prepared.warnings)  # no blank line when there are none
        target = self.query_one("#data-target", Select)
        names = [c for c, _ in view.columns]
        with target.prevent(Select.Changed):
            target.set_options([(AUTO_TARGET, "")] + [(c, c) for c in names])
            target.value = view.spec.target if view.spec.target in names else ""
        chosen_target = view.spec.target or (view.prepared.pre.target if view.prepared else "")
        features = self.query_one("#data-features", SelectionList)
        with features.prevent(SelectionList.SelectedChanged):
            features.clear_options()
            for name, kind in view.columns:
                if name in chosen_target.split(","):
                    continue
                features.add_option((f"{name}  [dim]{kind}[/]", name, name not in view.spec.drop))
        table = self.query_one("#data-preview", DataTable)
        table.clear(columns=True)
        if view.columns:
            table.add_columns(*names)
            table.add_rows(view.rows)
        notices = view.prepared.notices if view.prepared else view.notes  # a refusal's notes: it may follow from one
        if view.prepared is not None:
            pre = view.prepared.pre
            what = (f"{len(pre.classes)} classes: {', '.join(map(str, pre.classes[:12]))}"
                    if pre.task == "classification" else "regression")
            shape = view.prepared.input_shape
            inputs = f"{shape[0]} inputs" if len(shape) == 1 else f"inputs of shape {tuple(shape)}"
            notices = [f"target {', '.join(pre.targets)} -> {what}; {inputs}"] + notices
        self.query_one("#data-notices", Static).update("\n".join(f"- {n}" for n in notices))

    # ---- edits -> the app -------------------------------------------------------------------
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.app.edit({"data.dataset": event.option.id, "data.target": "", "data.drop": []}, reload=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "data-path" and event.value.strip():
            typed = event.value.strip()
            missing = missing_path(typed)
            if missing:  # the data shown stays (it was replaced by an error, the Model pane by "input ?")
                event.input.add_class("-invalid")
                self.app.notify(missing, severity="error", title="data")
                return
            event.input.remove_class("-invalid")
            self.app.edit({"data.dataset": typed, "data.target": "", "data.drop": []}, reload=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "data-val-split":
            return
        if event.value.strip() != f"{self.app.spec.data.val_split:g}":
            self.app.edit_field(event.input, "data.val_split", event.value, float, reload=True)
        else:  # back to the value the spec holds: nothing to refuse
            event.input.remove_class("-invalid")
            self.app.field_errors["data.val_split"] = ""
        self.show_errors()

    def show_errors(self) -> None:
        """A refused typed value is said under the fields, as typed (as the Hyperparameters pane does): the
        data shown below stays that of the last accepted value, and ctrl+r refuses until it is fixed."""
        errors = [e for p, e in self.app.field_errors.items() if e and p.startswith("data.")]
        if self._data_error:
            errors.append(self._data_error)
        self.query_one("#data-error", Static).update("\n".join(errors))

    def on_select_changed(self, event: Select.Changed) -> None:
        d = self.app.spec.data
        if event.select.id == "data-target" and (event.value or "") != d.target:
            self.app.edit({"data.target": event.value or "", "data.drop": []}, reload=True)
        elif event.select.id == "data-task" and event.value != d.task:
            self.app.edit({"data.task": event.value}, reload=True)
        elif event.select.id == "data-missing" and event.value != d.missing:
            self.app.edit({"data.missing": event.value}, reload=True)

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        chosen = set(event.selection_list.selected)
        all_names = [event.selection_list.get_option_at_index(i).value
                     for i in range(event.selection_list.option_count)]
        drop = [n for n in all_names if n not in chosen]
        if drop != self.app.spec.data.drop:
            self.app.edit({"data.drop": drop}, reload=True)


def warning_lines(view: DataView) -> str:
    """The columns to doubt: first all their names on one line (what must show without scrolling, however
    many), then a line each saying why. The notices further down hold the long form, with the flags."""
    warnings = view.prepared.warnings if view.prepared is not None else []
    leaks = [w["column"] for w in warnings if w["kind"] == "leak"]
    ids = [w["column"] for w in warnings if w["kind"] != "leak"]
    lines = []
    if leaks:
        lines.append(f"! may leak the target: {', '.join(leaks)} (untick in Features to drop)")
    if ids:
        lines.append(f"! look like ids: {', '.join(ids)} (--group COL keeps their rows together)")
    return "\n".join(lines + [f"  {w['column']}: {w['why']}" for w in warnings])


def missing_path(typed: str) -> str:
    """Why a dataset typed in the path box cannot be loaded before anything is tried ('' when it may be): a file
    path that does not exist. A built-in name and a Dataset class (module:Class) are left to the loader."""
    from pathlib import Path

    from tui.core import user_dataset  # (torch: imported already, by the data load the screen started with)
    from tui.core.datasets import BUILTINS

    if typed in BUILTINS or user_dataset.is_class_path(typed) or Path(typed).exists():
        return ""
    return f"{typed} not found; check the path (the data shown is kept)"
