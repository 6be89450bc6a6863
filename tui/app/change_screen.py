"""The dialog that changes a run in progress: its learning rate, patience and epochs.

Opened by `c` on the Training pane, prefilled with what the run trains with now. Each value is
checked as it is typed, by the same rule the worker applies (tui/core/live_change.py); enter
asks for the values that were edited, escape leaves the run as it is. The request itself is
written by the pane (live_change.request), and the worker's `change` event confirms it.
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.core.errors import UserError
from tui.core.live_change import Change, check
from tui.core.spec import Spec

from .field_input import FieldInput
from .visible_text import visible

# (the Change field, its label, its type)
FIELDS = (("lr", "Learning rate", float), ("patience", "Patience (0: off)", int), ("epochs", "Epochs", int))


class ChangeScreen(ModalScreen[Change | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, run_name: str, spec: Spec, lr: float, epochs_done: Callable[[], int]) -> None:
        """`spec`: the run's spec as it trains now (live changes applied); `lr`: its learning rate now;
        `epochs_done`: the run's finished epochs now, read at each check: the run goes on while the dialog is
        open, and a number taken at opening let through epochs the worker then refused."""
        super().__init__()
        self.run_name, self.spec, self.epochs_done = run_name, spec, epochs_done
        self.shown = {"lr": f"{lr:g}", "patience": str(spec.train.patience), "epochs": str(spec.train.epochs)}

    def compose(self) -> ComposeResult:
        with Vertical(id="change-box", classes="dialog"):
            yield Label(Text(f"Change {visible(self.run_name)} while it trains"), classes="title")
            yield Static("enter: apply the edited values at the next step; esc: cancel")
            with Grid(id="change-grid"):
                for key, label, _ in FIELDS:
                    yield Label(label)
                    yield FieldInput(self.shown[key], id=f"change-{key}", compact=True)
            yield Static(self._about(), id="change-note", markup=False)  # quotes what was typed

    def on_mount(self) -> None:
        self.query_one("#change-lr", Input).focus()
        self.set_interval(1.0, self._refresh_note)  # the epochs the run has reached, as it goes on

    def _refresh_note(self) -> None:
        self.query_one("#change-note", Static).update(self._read()[1])

    def _about(self) -> str:
        t = self.spec.train
        schedule = (f"the {t.scheduler} schedule's later rates scale with a new rate; " if t.scheduler != "none"
                    else "")
        return (f"{schedule}epochs: at least {self.epochs_done() + 1} (the epoch in progress finishes). "
                "Stored in the checkpoints; a resume replays it.")

    def _read(self) -> tuple[Change | None, str]:
        """The change the edited fields ask for (None when none is edited or one is refused), and what to say:
        the first refusal (its field marked), or what enter will ask."""
        values: dict[str, float | int] = {}
        problem = ""
        done = self.epochs_done()
        for key, label, kind in FIELDS:
            box = self.query_one(f"#change-{key}", Input)
            raw = box.value.strip()
            error = ""
            if raw != self.shown[key]:
                try:
                    value = kind(raw)
                    check(self.spec, Change(**{key: value}), done)
                    values[key] = value
                except ValueError:  # (named as the field is labelled: 'lr' is the flag's name)
                    what = "a number" if kind is float else "an integer"
                    error = f"{label.split(' (')[0]} must be {what}, got {raw!r}"
                except UserError as e:  # the spec's check names train.lr: here the field is "Learning rate"
                    error = str(e).replace(f"train.{key}", label.split(" (")[0], 1)
            box.set_class(bool(error), "-invalid")
            problem = problem or error
        if problem:
            return None, problem
        if not values:
            return None, self._about()
        change = Change(**values)  # type: ignore[arg-type]
        return change, f"enter asks for {', '.join(f'{k} {v:g}' for k, v in values.items())} at the next step"

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refresh_note()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        change, message = self._read()
        if change is None:
            self.notify(message if any(b.has_class("-invalid") for b in self.query(Input))
                        else "nothing changed: edit a value, or esc", severity="warning")
            return
        self.dismiss(change)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
