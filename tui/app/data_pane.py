"""Data pane: pick a dataset, see its columns and first rows, choose target, features, task,
validation split (or a validation file) and a test file to predict, and read what preparation noticed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Collapsible, DataTable, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import Option

from tui.core.datasets import BUILTINS, is_data_file
from tui.core.files import expand_home, is_file_here, no_such_path, path_problem
from tui.core.spec import TASKS, DataSpec, Spec

from .data_fields import (
    CONSTANT_COLUMNS,
    DECIMALS,
    GROUP,
    HEADERS,
    KEEP,
    SEPARATORS,
    STRATIFY,
    constant_value,
    format_title,
    label,
    skip_rows,
    skip_text,
    split_options,
    split_value,
    with_value,
)
from .data_source import DataView, candidates, folders_stamp
from .field_input import FieldInput
from .screen_words import on_screen
from .visible_text import VisibleInput, visible, visible_lines

AUTO_TARGET = "(last column)"
LIST_INTERVAL = 2.0  # seconds between looks at the data folders for new or removed files
# Another table: the choices made of the old one's columns go (a class split may stay: it names no column), and
# so do the validation and test files, which were the old one's
NEW_TABLE = {"data.target": "", "data.drop": [], "data.features": [], "data.group": "", "data.val": "", "data.test": ""}


class DataPane(Horizontal):
    def __init__(self, spec: Spec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = spec.data  # Selects announce their first value: it must be the spec's
        self._data_error = ""  # the data's own error (it cannot be read or prepared), below the fields' refusals
        self._listed = folders_stamp()  # the folders as the list shows them

    def on_mount(self) -> None:
        self.set_interval(LIST_INTERVAL, self._look_for_files)

    def _look_for_files(self) -> None:
        """A file copied into ./datasets or here while the screen is open (scp from another window) is listed
        within seconds: the list was read once, at start, and a newcomer saw no sign of the file they had just
        copied. Two stats each time; the folders are read again (in a thread: a .txt is sniffed) only when one
        changed."""
        stamp = folders_stamp()
        if stamp != self._listed:
            self._listed = stamp
            self.run_worker(self._read_list, thread=True, exclusive=True, group="data-list")

    def _read_list(self) -> None:
        listed = candidates()
        self.app.call_from_thread(self._show_list, listed)

    def _show_list(self, listed: list[tuple[str, str]]) -> None:
        """The list read again, the highlighted entry kept (by what it names) where it is still there."""
        options = self.query_one("#data-list", OptionList)
        shown = [(o.id, str(o.prompt)) for o in (options.get_option_at_index(i) for i in range(options.option_count))]
        if shown == listed:
            return
        at = options.highlighted
        current = options.get_option_at_index(at).id if at is not None else None
        options.clear_options()
        options.add_options([Option(label, id=value) for value, label in listed])
        ids = [value for value, _ in listed]
        if current in ids:
            options.highlighted = ids.index(current)

    def compose(self) -> ComposeResult:
        with Vertical(id="data-left"):
            yield Label("Datasets", classes="title")
            # (the labels name files as they are here, escapes and brackets too: not markup)
            yield OptionList(*[Option(label, id=value) for value, label in candidates()], id="data-list", markup=False)
            yield Label("Path (enter to load)", classes="title")
            yield VisibleInput(placeholder="path/to/file.csv", id="data-path", compact=True)
        with VerticalScroll(id="data-right"):
            with Grid(id="data-choices"):
                yield Label(label("data.target"), classes="field")
                yield Select([(AUTO_TARGET, "")], value="", allow_blank=False, id="data-target", compact=True)
                yield Label(label("data.task"), classes="field")
                yield Select([(t, t) for t in TASKS], value=self.initial.task, allow_blank=False, id="data-task",
                             compact=True)
                yield Label(label("data.val_split"), classes="field")
                yield FieldInput(value=f"{self.initial.val_split:g}", id="data-val-split", compact=True)
                yield Label(label("data.val"), classes="field")
                yield VisibleInput(value=self.initial.val, placeholder="(none: the split)", id="data-val",
                                   compact=True)
                yield Label(label("data.test"), classes="field")
                yield VisibleInput(value=self.initial.test, placeholder="(none) CSV to predict", id="data-test",
                                   compact=True)
                yield Label(label("data.group"), classes="field")
                yield Select(split_options([], "", self.initial.group), value=split_value(self.initial),
                             allow_blank=False, id="data-split", compact=True)
                yield Label(label("data.missing"), classes="field")
                yield Select([("refuse the file", "error"), ("drop those rows", "drop"), ("impute", "impute")],
                             value=self.initial.missing,
                             allow_blank=False, id="data-missing", compact=True)
                yield Label(label("data.keep_constant"), classes="field")
                yield Select(CONSTANT_COLUMNS, value=constant_value(self.initial), allow_blank=False,
                             id="data-constant", compact=True)
            with Collapsible(title=shown_title(self.initial), collapsed=True, id="data-format"):
                with Grid(id="data-format-fields"):
                    yield Label(label("data.sep"), classes="field")
                    yield Select(with_value(SEPARATORS, self.initial.sep), value=self.initial.sep,
                                 allow_blank=False, id="data-sep", compact=True)
                    yield Label(label("data.header"), classes="field")
                    yield Select(HEADERS, value=self.initial.header, allow_blank=False, id="data-header", compact=True)
                    yield Label(label("data.skip_rows"), classes="field")
                    yield FieldInput(value=skip_text(self.initial.skip_rows), id="data-skip-rows", compact=True)
                    yield Label(label("data.decimal"), classes="field")
                    yield Select(DECIMALS, value=self.initial.decimal, allow_blank=False, id="data-decimal",
                                 compact=True)
                    yield Label(label("data.encoding"), classes="field")
                    yield FieldInput(value=self.initial.encoding, id="data-encoding", compact=True)
            yield Static("", id="data-error", classes="error", markup=False)
            yield Static("", id="data-warnings", markup=False)  # columns to doubt: above the fold, in warning colour
            yield Label("Features (space: use / drop)", classes="title")
            yield SelectionList[str](id="data-features")
            yield Label("First rows", classes="title")
            yield DataTable(id="data-preview", show_cursor=False, zebra_stripes=True)
            yield Label("Notices", classes="title")
            yield Static("", id="data-notices", markup=False)

    # ---- filling from the app's state -----------------------------------------------------
    def show_spec(self, spec: Spec) -> None:
        d = self.query_one("#data-path", Input)
        with d.prevent(Input.Changed):
            d.value = spec.data.dataset
        for key in ("task", "missing"):
            select = self.query_one(f"#data-{key}", Select)
            with select.prevent(Select.Changed):
                select.value = getattr(spec.data, key)
        constant = self.query_one("#data-constant", Select)
        with constant.prevent(Select.Changed):
            constant.value = constant_value(spec.data)
        split = self.query_one("#data-val-split", Input)
        with split.prevent(Input.Changed):
            split.value = f"{spec.data.val_split:g}"
        split.remove_class("-invalid")  # the spec's own value: the app has cleared the fields' refusals
        self._show_files(spec.data, typed_too=True)
        self._show_split(spec.data, [])
        self._show_format(spec.data)
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
        self._show_files(view.spec, typed_too=False)  # (another table clears them: NEW_TABLE)
        constant = self.query_one("#data-constant", Select)
        builtin = BUILTINS.get(view.spec.dataset)
        fixed = builtin is not None and builtin.keep_constant  # digits keeps its blank pixels whatever is chosen
        with constant.prevent(Select.Changed):
            constant.value = KEEP if fixed else constant_value(view.spec)
        constant.disabled = fixed
        self._data_error = view.error
        self.show_errors()
        self.query_one("#data-format").display = is_data_file(view.spec.dataset)  # (even one that cannot be read yet)
        warnings = self.query_one("#data-warnings", Static)
        shown_above = warning_lines(view)
        warnings.update(visible_lines(shown_above))
        warnings.display = bool(shown_above)  # no blank line when there are none
        target = self.query_one("#data-target", Select)
        names = [c for c, _ in view.columns]
        with target.prevent(Select.Changed):
            target.set_options([(AUTO_TARGET, "")] + [(Text(visible(c)), c) for c in names])
            target.value = view.spec.target if view.spec.target in names else ""
        chosen_target = view.spec.target or (view.prepared.pre.target if view.prepared else "")
        targets = [t.strip() for t in chosen_target.split(",")]
        self._show_split(view.spec, [n for n in names if n not in targets])
        left_out = view.prepared.left_out if view.prepared else []
        features = self.query_one("#data-features", SelectionList)
        with features.prevent(SelectionList.SelectedChanged):
            features.clear_options()
            for name, kind in view.columns:
                if name in targets or (name == view.spec.group and name not in view.spec.features):
                    continue  # not inputs: the target, and the column the split keeps together
                used = name in view.spec.features if view.spec.features else (
                    name not in view.spec.drop and name not in left_out)
                why = " · left out" if name in left_out and not view.spec.features else ""
                features.add_option((Text.assemble(visible(name), "  ", (f"{kind}{why}", "dim")), name, used))
        table = self.query_one("#data-preview", DataTable)
        table.clear(columns=True)
        if view.columns:  # the file's names and cells as they are, escapes and brackets too (a str is markup)
            table.add_columns(*(Text(visible(n)) for n in names))
            table.add_rows([[Text(visible(cell)) for cell in row] for row in view.rows])
        notices = view.prepared.notices if view.prepared else view.notes  # a refusal's notes: it may follow from one
        notices = [n for n in notices if n not in table_warnings(view)]  # (shown above, in warning colour)
        if view.prepared is not None:
            pre = view.prepared.pre
            what = (f"{len(pre.classes)} classes: {', '.join(map(str, pre.classes[:12]))}"
                    if pre.task == "classification" else "regression")
            shape = view.prepared.input_shape
            inputs = f"{shape[0]} inputs" if len(shape) == 1 else f"inputs of shape {tuple(shape)}"
            notices = [f"target {', '.join(pre.targets)} -> {what}; {inputs}"] + notices
        self.query_one("#data-notices", Static).update("\n".join(f"- {visible_lines(on_screen(n))}" for n in notices))

    # ---- edits -> the app -------------------------------------------------------------------
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        picked = event.option.id or ""
        self.app.edit({"data.dataset": picked, **({} if self._moved_table(picked) else NEW_TABLE)}, reload=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "data-path" and event.value.strip():
            typed = expand_home(event.value.strip())
            missing = missing_path(typed)
            if missing:  # the data shown stays (it was replaced by an error, the Model pane by "input ?")
                event.input.add_class("-invalid")
                self.app.notify(missing, severity="error", title="data")
                return
            event.input.remove_class("-invalid")
            self.app.edit({"data.dataset": typed, **({} if self._moved_table(typed) else NEW_TABLE)}, reload=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("data-val", "data-test"):
            self._edit_file(event.input, "data." + event.input.id.removeprefix("data-"), event.value)
            return
        typed = {"data-val-split": ("data.val_split", float, lambda d: f"{d.val_split:g}"),
                 "data-skip-rows": ("data.skip_rows", skip_rows, lambda d: skip_text(d.skip_rows)),
                 "data-encoding": ("data.encoding", str, lambda d: d.encoding)}.get(event.input.id or "")
        if typed is None:
            return
        path, kind, shown = typed
        if event.value.strip() != shown(self.app.spec.data):
            self.app.edit_field(event.input, path, event.value, kind, reload=True)
        else:  # back to the value the spec holds: nothing to refuse
            event.input.remove_class("-invalid")
            self.app.field_errors[path] = ""
        self.show_errors()
        self._show_format(self.app.spec.data)

    def _moved_table(self, new: str) -> bool:
        """Whether the data file `new` is the loaded run's table in a new place: the run's own file is gone from
        where it was, and the screen still holds the run's column choices (a place typed again, after a typo,
        keeps them too). They, and the validation and test files, are then kept, as for a run resumed with
        --dataset NEW (continuation.moved); another table clears them."""
        loaded, shown = self.app.loaded_spec, self.app.spec.data
        return (loaded is not None and is_data_file(new) and is_data_file(loaded.data.dataset)
                and no_such_path(loaded.data.dataset)
                and all(getattr(shown, key.split(".")[1]) == getattr(loaded.data, key.split(".")[1])
                        for key in NEW_TABLE))

    def _show_files(self, data: DataSpec, typed_too: bool) -> None:
        """The Validation file and Test file boxes as `data` holds them. `typed_too`: the spec itself is shown (a
        loaded or reset one), so a box being typed in, or holding a refused path, is set too and its refusal goes;
        else such a box keeps what is typed."""
        for key in ("val", "test"):
            box = self.query_one(f"#data-{key}", Input)
            if typed_too or not (box.has_focus or box.has_class("-invalid")):
                if box.value != getattr(data, key):
                    with box.prevent(Input.Changed):
                        box.value = getattr(data, key)
                box.remove_class("-invalid")

    def _edit_file(self, box: Input, path: str, typed: str) -> None:
        """A validation or test file typed: taken once it names a file (or is emptied: none), refused under the
        fields until then, as a number that does not parse is; a validation file reloads the data, since the
        split gives way to it."""
        text = expand_home(typed.strip())
        if text == getattr(self.app.spec.data, path.split(".")[1]):
            error = ""
        elif text and (problem := path_problem(text)):
            error = f"{label(path)}: {problem}"
        elif text and not is_file_here(text):
            error = f"{label(path)}: {text} is not a file"
        else:
            error = self.app.edit({path: text}, reload=path == "data.val")
        box.set_class(bool(error), "-invalid")
        self.app.field_errors[path] = on_screen(error or "")
        self.show_errors()

    def show_errors(self) -> None:
        """A refused typed value is said under the fields, as typed (as the Hyperparameters pane does): the
        data shown below stays that of the last accepted value, and ctrl+r refuses until it is fixed."""
        errors = [e for p, e in self.app.field_errors.items() if e and p.startswith("data.")]
        if self._data_error:
            errors.append(self._data_error)
        box = self.query_one("#data-error", Static)
        box.update(visible_lines("\n".join(errors)))
        box.display = bool(errors)  # no blank line when there are none

    def _show_format(self, data: DataSpec) -> None:
        """The file format fields as the spec holds them (a typed field keeps what is typed), and their title."""
        self.query_one("#data-format", Collapsible).title = shown_title(data)
        for key in ("sep", "header", "decimal"):
            select = self.query_one(f"#data-{key}", Select)
            if select.value != getattr(data, key):
                with select.prevent(Select.Changed):
                    if key == "sep":
                        select.set_options(with_value(SEPARATORS, data.sep))
                    select.value = getattr(data, key)
        for key, text in (("skip-rows", skip_text(data.skip_rows)), ("encoding", data.encoding)):
            box = self.query_one(f"#data-{key}", Input)
            if not box.has_focus and not box.has_class("-invalid") and box.value.strip() != text:
                with box.prevent(Input.Changed):
                    box.value = text

    def _show_split(self, data: DataSpec, columns: list[str]) -> None:
        """The Split select: random, class shares, or one option per column whose rows may be kept together
        (`columns`: the table's, less the target; before the table is read, only the spec's own group)."""
        select = self.query_one("#data-split", Select)
        with select.prevent(Select.Changed):
            select.set_options(split_options(columns, data.target, data.group))
            select.value = split_value(data)

    def on_select_changed(self, event: Select.Changed) -> None:
        d = self.app.spec.data
        if event.select.id == "data-target" and (event.value or "") != d.target:
            target = event.value or ""  # the old choices of columns were made around the old target
            edits = {"data.target": target, "data.drop": [], "data.features": []}
            self.app.edit({**edits, **({"data.group": ""} if d.group in target.split(",") else {})}, reload=True)
        elif event.select.id == "data-split" and event.value != split_value(d):
            value = str(event.value)
            refused = self.app.edit({"data.stratify": value == STRATIFY,
                                     "data.group": value[len(GROUP):] if value.startswith(GROUP) else ""},
                                    reload=True)
            if refused:  # e.g. a spec with a separate validation file: no split to choose
                self.app.notify(refused, severity="error", title="data")
                with event.select.prevent(Select.Changed):
                    event.select.value = split_value(d)
        elif event.select.id == "data-task" and event.value != d.task:
            self.app.edit({"data.task": event.value}, reload=True)
        elif event.select.id == "data-missing" and event.value != d.missing:
            self.app.edit({"data.missing": event.value}, reload=True)
        elif event.select.id == "data-constant" and event.value != constant_value(d):
            self.app.edit({"data.keep_constant": event.value == KEEP}, reload=True)
        elif event.select.id in ("data-sep", "data-header", "data-decimal"):
            path = "data." + event.select.id.removeprefix("data-")
            if event.value != getattr(d, path.split(".")[1]):
                self.app.edit({path: event.value}, reload=True)
                self._show_format(self.app.spec.data)

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        """Unticking drops a column. Ticking one the checks left out (an id, a constant) names the inputs
        outright, as --features does: the checks leave out only what nobody chose."""
        d = self.app.spec.data
        chosen = set(event.selection_list.selected)
        all_names = [event.selection_list.get_option_at_index(i).value
                     for i in range(event.selection_list.option_count)]
        left_out = self.app.data.prepared.left_out if self.app.data and self.app.data.prepared else []
        if d.features or chosen & set(left_out):
            features = [n for n in all_names if n in chosen]
            if features and features != d.features:
                self.app.edit({"data.features": features, "data.drop": []}, reload=True)
            elif not features:  # none at all: said by the data's own refusal (no usable feature columns)
                self.app.edit({"data.features": [], "data.drop": all_names}, reload=True)
            return
        drop = [n for n in all_names if n not in chosen and n not in left_out]
        if drop != d.drop:
            self.app.edit({"data.drop": drop}, reload=True)


def warning_lines(view: DataView) -> str:
    """What must show without scrolling: the columns to doubt, first all their names on one line (however many),
    then a line each saying why (their notices further down hold the long form); then each warning about the
    table as a whole (validation rows that copy training rows, a validation file that is the training file, ...),
    whole, as it is shown here rather than among the notices (`table_warnings`)."""
    warnings = view.prepared.warnings if view.prepared is not None else []
    leaks = [w["column"] for w in warnings if w["kind"] == "leak"]
    ids = [w["column"] for w in warnings if w["kind"] != "leak"]
    lines = []
    if leaks:
        lines.append(f"! may leak the target: {', '.join(leaks)} (untick in Features to drop)")
    if ids:
        lines.append(f"! look like ids: {', '.join(ids)} (Split: rows of one together, or untick in Features)")
    lines += [f"  {w['column']}: {on_screen(w['why'])}" for w in warnings]
    return "\n".join(lines + [f"! {on_screen(n.removeprefix(WARNING))}" for n in table_warnings(view)])


WARNING = "warning: "


def table_warnings(view: DataView) -> list[str]:
    """The notices that warn of something other than a column (those are `Prepared.warnings`)."""
    if view.prepared is None:
        return []
    of_columns = {w.get("message") for w in view.prepared.warnings}
    return [n for n in view.prepared.notices if n.startswith(WARNING) and n not in of_columns]


def missing_path(typed: str) -> str:
    """Why a dataset typed in the path box cannot be loaded before anything is tried ('' when it may be): a file
    path that does not exist. A built-in name and a Dataset class (module:Class) are left to the loader."""
    problem = path_problem(typed)
    if problem:
        return f"{problem}; check the path (the data shown is kept)"
    if not is_data_file(typed) or not no_such_path(typed):
        return ""
    return f"{typed} not found; check the path (the data shown is kept)"


def shown_title(data: DataSpec) -> Content:
    """The format section's title as text: a Collapsible reads a str as markup, and the title quotes what was
    typed (a separator, an encoding); control characters as escapes."""
    return Content(visible(format_title(data)))
