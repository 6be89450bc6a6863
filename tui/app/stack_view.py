"""The layer stack as the Model pane shows it, resolved against the loaded data by the core."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.core.errors import UserError
from tui.core.layer_catalog import parse


@dataclass
class StackView:
    input_shape: str = "?"
    rows: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # layer number -> (call, shape, params)
    # the layers the target adds, (call, shape, params, what it is): the output layer, and a Flatten before it
    added: list[tuple[str, str, int, str]] = field(default_factory=list)
    total: int | None = None
    error: str = ""
    error_layer: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.total is not None


def view(exprs: list[str], prepared, loss: str) -> StackView:
    """Shapes and parameter counts when the data is known; otherwise only the syntax is checked
    (without torch: the data, loaded in a thread, is what first imports it)."""
    if prepared is None:
        v = StackView(note="load a dataset to see shapes and parameter counts")
        for i, expr in enumerate(exprs, 1):
            try:
                parse(expr)
            except UserError as e:
                v.error, v.error_layer = str(e), i
                break
        return v
    from tui.core import layers
    from tui.core.objective import Objective

    v = StackView(input_shape=_shape(prepared.input_shape))
    try:
        n_outputs = Objective.for_data(loss, prepared.pre).n_outputs
        stack = layers.resolve(exprs, prepared.input_shape, n_outputs)
    except UserError as e:
        # the data's part in it, as the command line says it (columns left out, one-hot widening), in the screen's
        # words: the pane said "cannot take input (36,)" and not that Constant columns: keep gives the 64
        from tui.core.data import explain_inputs

        from .screen_words import on_screen

        explained = explain_inputs(e, prepared)
        v.error, v.error_layer = on_screen(str(explained)), e.layer
        return v
    for i, lay in enumerate(stack.layers, 1):
        item = (lay.expr, _shape(lay.out_shape), lay.params)
        if lay.added:  # (the output layer was said "auto output", and so was a Flatten added before it)
            v.added.append((*item, "auto output" if lay.name == "Linear" else f"auto {lay.name.lower()}"))
        else:
            v.rows[i] = item
    v.total = stack.params
    return v


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
