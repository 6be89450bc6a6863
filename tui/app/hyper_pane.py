"""Hyperparameters pane: loss, optimizer and its arguments, schedule, batch size, epochs,
early stopping, seed and device. Every value is checked by the spec as it is typed, and a bad
one is marked with the spec's own message."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Select, Static

from tui.core.spec import LOSSES, OPTIMIZERS, SCHEDULERS, Spec, spec_field

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
    ("train.device", ()),
]


def _field(path: str, choices: tuple | None) -> tuple[str, str, tuple | type]:
    info = spec_field(path)
    return path, info.label, info.type if choices is None else choices


# (spec path, label, choices or a type)
FIELDS: list[tuple[str, str, tuple | type]] = [_field(path, choices) for path, choices in _SHOWN]


def widget_id(path: str) -> str:
    return "hp-" + path.split(".", 1)[1].replace("_", "-")


class HyperPane(VerticalScroll):
    def __init__(self, devices: list[tuple[str, str]], spec: Spec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.devices = devices
        self.initial = spec.to_dict()["train"]  # Selects announce their first value: it must be the spec's

    def compose(self) -> ComposeResult:
        with Grid(id="hp-grid"):
            for path, label, kind in FIELDS:
                yield Label(label, classes="field")
                value = self.initial[path.split(".", 1)[1]]
                if path == "train.device":
                    if value not in [v for v, _ in self.devices]:
                        self.devices.append((value, _unlisted(value, self.devices)))
                    yield Select([(lbl, v) for v, lbl in self.devices], value=value, allow_blank=False,
                                 id=widget_id(path), compact=True)
                elif isinstance(kind, tuple):
                    if path == "train.nesterov":
                        value = "yes" if value else "no"
                    yield Select([(c, c) for c in kind], value=value, allow_blank=False, id=widget_id(path),
                                 compact=True)
                else:
                    yield Input(value=f"{value:g}" if isinstance(value, float) else str(value), id=widget_id(path),
                                compact=True)
        yield Static("", id="hp-error", classes="error")

    def show_spec(self, spec: Spec) -> None:
        values = spec.to_dict()["train"]
        for path, _, _kind in FIELDS:
            key = path.split(".", 1)[1]
            widget = self.query_one("#" + widget_id(path))
            value = values[key]
            if isinstance(widget, Select):
                if path == "train.nesterov":
                    value = "yes" if value else "no"
                if path == "train.device" and value not in [v for v, _ in self.devices]:
                    self.devices.append((value, _unlisted(value, self.devices)))
                    widget.set_options([(lbl, v) for v, lbl in self.devices])
                with widget.prevent(Select.Changed):
                    widget.value = value
            else:
                with widget.prevent(Input.Changed):
                    widget.value = f"{value:g}" if isinstance(value, float) else str(value)
                widget.remove_class("-invalid")
        self.query_one("#hp-error", Static).update("")

    def on_input_changed(self, event: Input.Changed) -> None:
        for path, _, kind in FIELDS:
            if event.input.id == widget_id(path):
                self.app.edit_field(event.input, path, event.value, kind)
                self._show_errors()
                return

    def on_select_changed(self, event: Select.Changed) -> None:
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

    def _show_errors(self) -> None:
        errors = [e for p, e in self.app.field_errors.items() if e and p.startswith("train.")]
        self.query_one("#hp-error", Static).update("\n".join(errors))


def _unlisted(value: str, devices: list[tuple[str, str]]) -> str:
    """A spec's device that is not one of the choices: plain `cuda` is the first GPU; others are not here."""
    if value == "cuda" and any(v == "cuda:0" for v, _ in devices):
        return "cuda (the first GPU, cuda:0)"
    return f"{value} (not found here)"
