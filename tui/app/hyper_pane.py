"""Hyperparameters pane: loss, optimizer and its arguments, schedule, batch size, epochs,
early stopping, seed, precision, device, run name, threads and CUDA graphs. Every value is
checked by the spec as it is typed, and a bad one is marked with the spec's own message."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Select, Static

from tui.core.spec import ALL_GPUS, CUDA_GRAPHS, LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULERS, Spec, spec_field

from .field_input import FieldInput
from .visible_text import visible_lines

# The fields shown, in order, and their widget: a Select with these choices (the devices are
# found at start), or (None) an Input of the field's type. Labels and types are declared in the spec.
_SHOWN: list[tuple[str, tuple | None]] = [
    ("train.loss", LOSSES),
    ("train.optimizer", OPTIMIZERS),
    ("train.lr", None),
    ("train.momentum", None),
    ("train.nesterov", ("no", "yes")),
    ("train.weight_decay", None),
    ("train.scheduler", SCHEDULERS),
    ("train.step_size", None),
    ("train.gamma", None),
    ("train.batch_size", None),
    ("train.epochs", None),
    ("train.patience", None),
    ("train.grad_clip", None),
    ("train.seed", None),
    ("train.save_every", None),
    ("train.precision", PRECISIONS),
    ("train.device", ()),  # a row of its own, and so is the run name (.tcss): a GPU's name is long
    ("run.name", None),
    ("train.threads", None),  # empty: a fresh <dataset>-<date>-<time>; a taken name is refused as typed
    ("train.cuda_graphs", CUDA_GRAPHS),
    ("run.processes", None),  # a number, or gpu: DDP through the launcher; the run's spec keeps it for a resume
]


def _field(path: str, choices: tuple | None) -> tuple[str, str, tuple | type]:
    info = spec_field(path)
    return path, info.label, info.type if choices is None else choices


# (spec path, label, choices or a type)
FIELDS: list[tuple[str, str, tuple | type]] = [_field(path, choices) for path, choices in _SHOWN]


def widget_id(path: str) -> str:
    return "hp-" + path.split(".", 1)[1].replace("_", "-")


class HyperPane(VerticalScroll):
    # Not a stop of tab itself: the first tab into the pane landed on the pane, where nothing shows focus (a tmux
    # audit); a focused field scrolls itself into view, and the wheel still scrolls
    can_focus = False

    def __init__(self, spec: Spec, devices: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        # Finding the devices imports torch (a second or more): the screen asks in a thread after its first
        # frame and calls set_devices; until then the picker offers what every machine has.
        self.devices = devices or [("auto", "auto (finding devices...)"), ("cpu", "cpu")]
        self.devices_known = devices is not None
        self.initial = spec.to_dict()  # Selects announce their first value: it must be the spec's
        self._taken = ""  # the name check's message now in the app's field errors ('' when the name is free)
        self._errors_shown = ""

    def compose(self) -> ComposeResult:
        with Grid(id="hp-grid"):
            for path, label, kind in FIELDS:
                yield Label(label, classes="field")
                value = _value(self.initial, path)
                if path == "train.device":
                    if value not in [v for v, _ in self.devices]:
                        self.devices.append((value, _unlisted(value, self.devices, self.devices_known)))
                    yield Select([(lbl, v) for v, lbl in self.devices], value=value, allow_blank=False,
                                 id=widget_id(path), compact=True)
                elif isinstance(kind, tuple):
                    if path == "train.nesterov":
                        value = "yes" if value else "no"
                    yield Select([(c, c) for c in kind], value=value, allow_blank=False, id=widget_id(path),
                                 compact=True)
                else:
                    yield FieldInput(value=f"{value:g}" if isinstance(value, float) else str(value),
                                     id=widget_id(path), compact=True,
                                     placeholder="a fresh name" if path == "run.name" else "")
        yield Static("", id="hp-error", classes="error", markup=False)  # quotes what was typed
        yield Static("", id="hp-next", markup=False)

    def show_spec(self, spec: Spec) -> None:
        self.show_fields(spec, [path for path, _, _ in FIELDS])
        self._taken = self._errors_shown = ""
        self.query_one("#hp-error", Static).update("")

    def show_fields(self, spec: Spec, paths: list[str]) -> None:
        """The fields at `paths` show `spec`'s values (the others keep what they show)."""
        values = spec.to_dict()
        for path in paths:
            widget = self.query_one("#" + widget_id(path))
            value = _value(values, path)
            if isinstance(widget, Select):
                if path == "train.nesterov":
                    value = "yes" if value else "no"
                if path == "train.device" and spec.run.processes == "gpu" and value in ("cuda", "auto") and any(
                        v == ALL_GPUS for v, _ in self.devices):
                    value = ALL_GPUS
                if path == "train.device" and value not in [v for v, _ in self.devices]:
                    self.devices.append((value, _unlisted(value, self.devices, self.devices_known)))
                    _set_choices(widget, [(lbl, v) for v, lbl in self.devices], value)
                with widget.prevent(Select.Changed):
                    widget.value = value
            else:
                with widget.prevent(Input.Changed):
                    widget.value = f"{value:g}" if isinstance(value, float) else str(value)
                widget.remove_class("-invalid")

    def show_next(self, line: str) -> None:
        """What ctrl+r will do now (continue the loaded run, or a new run and where): the data's name, or a refusal
        quoting it, as it is (escapes and brackets too: not markup)."""
        self.query_one("#hp-next", Static).update(Text(visible_lines(line)))

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """The devices found here; the spec's device stays picked (marked when it is not here)."""
        widget = self.query_one("#" + widget_id("train.device"), Select)
        value = self.app.spec.train.device
        self.devices, self.devices_known = list(devices), True
        if value not in [v for v, _ in self.devices]:
            self.devices.append((value, _unlisted(value, self.devices)))
        _set_choices(widget, [(lbl, v) for v, lbl in self.devices], value)

    def on_input_changed(self, event: Input.Changed) -> None:
        for path, _, kind in FIELDS:
            if event.input.id == widget_id(path):
                self.app.edit_field(event.input, path, event.value, kind)
                if path == "run.name":
                    self._taken = ""  # the spec's verdict on the new name is in: checked against the folders next
                    self.app.show_next()  # (which checks the name, then says what ctrl+r will do with it)
                self._show_errors()
                return

    @property
    def taken(self) -> bool:
        """The run name is refused because a run folder of that name exists."""
        return bool(self._taken)

    def check_name(self) -> None:
        """Mark the run name when a run folder of that name exists (the app's name_taken). Checked as it is
        typed, and again whenever the app says what ctrl+r will do: a name also becomes taken when the app's
        own run writes that folder and the settings then change, or a headless run takes it, and free again
        when the folder is deleted. A name the spec refused keeps the spec's message."""
        errors = self.app.field_errors
        if errors.get("run.name") and errors["run.name"] != self._taken:
            return
        widget = self.query_one("#" + widget_id("run.name"), Input)
        self._taken = self.app.name_taken(widget.value.strip())
        widget.set_class(bool(self._taken), "-invalid")
        errors["run.name"] = self._taken
        self._show_errors()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == widget_id("train.device") and (event.value == ALL_GPUS) != self._all_gpus():
            self._pick_all_gpus(event.value == ALL_GPUS, event.value)
            return
        for path, _, _kind in FIELDS:
            if event.select.id == widget_id(path):
                value = (event.value == "yes") if path == "train.nesterov" else event.value
                if getattr(self.app.spec.train, path.split(".", 1)[1]) == value:
                    return  # a Select announcing its own initial value, or nothing new
                error = self.app.edit({path: value})
                event.select.set_class(bool(error), "-invalid")
                self.app.field_errors[path] = error or ""
                self._show_errors()
                return

    def _all_gpus(self) -> bool:
        spec = self.app.spec
        return spec.train.device in ("cuda", "auto") and spec.run.processes == "gpu"

    def _pick_all_gpus(self, on: bool, device: str) -> None:
        """"all N GPUs (DDP)": device cuda and one process per GPU; another device: one process again."""
        edits = {"train.device": "cuda", "run.processes": "gpu"} if on else {"train.device": device,
                                                                            "run.processes": "1"}
        self.app.edit(edits)
        processes = self.query_one("#" + widget_id("run.processes"), Input)
        with processes.prevent(Input.Changed):
            processes.value = self.app.spec.run.processes

    def _show_errors(self) -> None:
        errors = visible_lines("\n".join(e for p, e in self.app.field_errors.items()
                                          if e and p.startswith(("train.", "run."))))
        if errors != self._errors_shown:  # (checked twice a second: a redraw only when the text changes)
            self._errors_shown = errors
            self.query_one("#hp-error", Static).update(errors)


def _value(values: dict, path: str):
    section, key = path.split(".", 1)
    return values[section][key]


def _unlisted(value: str, devices: list[tuple[str, str]], known: bool = True) -> str:
    """A spec's device that is not one of the choices: plain `cuda` is the first GPU; others are not here
    (or not known yet, while the devices are being found)."""
    if not known:
        return f"{value} (finding devices...)"
    if value == "cuda" and any(v == "cuda:0" for v, _ in devices):
        return "cuda (the first GPU, cuda:0)"
    return f"{value} (not found here)"


def _set_choices(select: Select, options: list[tuple[str, str]], value: str) -> None:
    """New choices with `value` picked, and its new label shown: Select.set_options picks the first choice
    and, when that is already the value, keeps the old label on screen."""
    with select.prevent(Select.Changed):
        select.set_options(options)
        other = next((v for _, v in options if v != value), None)
        if other is not None:
            select.value = other  # a real change of value is what redraws the label
        select.value = value
