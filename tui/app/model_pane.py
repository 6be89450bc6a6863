"""Model pane: the layer stack as a list, edited in place, with each layer's output shape and
parameter count beside it, and the layer that breaks the stack marked with the reason."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from tui.core.layer_catalog import LAYERS
from tui.core.spec import split_top_level

from .field_input import FieldInput
from .stack_view import StackView

# the layer box's words while nothing is edited (40 characters show at 80 columns): the box is not focused then,
# and a layer's name typed over the stack opens it (`on_key`): its keys (d: remove) never take the letters
IDLE = "type a layer, e.g. Linear(64), to add it"


class ModelPane(Horizontal):
    BINDINGS = [
        Binding("a", "add", "Add", tooltip="add a layer after the highlighted one (on the input row: at the top)"),
        Binding("e", "edit", "Edit", tooltip="edit the highlighted layer (also enter)"),
        Binding("d,delete", "remove", "Remove", tooltip="remove the highlighted layer"),
        Binding("shift+up,K", "move(-1)", "Move", key_display="shift+↑↓", tooltip="move the layer up"),
        Binding("shift+down,J", "move(1)", "Move down", show=False, tooltip="move the layer down"),
        Binding("u", "undo", "Undo", show=False, tooltip="put back the layer last removed"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.exprs: list[str] = []
        self._editing: int | None = None  # index being edited, None when adding
        self._typing = False  # a letter typed over the stack opened the box, which has not the focus yet
        # `u`: (the stack before the last remove, the stack it left, the layer's row, the layer)
        self._removed: tuple[list[str], list[str], int, str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="model-left"):
            yield Label("Layer stack", classes="title")  # its keys are in the footer
            yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
            yield FieldInput(placeholder=IDLE, id="model-input")
            yield Static("", id="model-status", markup=False)  # quotes what was typed
        with Vertical(id="model-right"):
            yield Label("Layers  (tab: scroll)", classes="title")
            # scrolls, and takes the focus: on a small terminal every layer is still reachable by keyboard
            with VerticalScroll(id="model-help-box"):
                yield Static("\n".join(d.help for d in LAYERS.values()), id="model-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#model-table", DataTable).add_columns("#", "layer", "output", "params", "")

    # ---- from the app -----------------------------------------------------------------------
    def show_stack(self, layers: list[str], view: StackView) -> None:
        self.exprs = list(layers)
        table = self.query_one("#model-table", DataTable)
        row = table.cursor_row
        table.clear()
        table.add_row("", "input", view.input_shape, "", "")
        for i, expr in enumerate(self.exprs, 1):
            info = view.rows.get(i)
            if view.error_layer == i:
                table.add_row(str(i), Text(expr, style="bold red"), "", "", Text("x " + view.error, style="red"))
            elif info is not None:
                table.add_row(str(i), Text(info[0]), info[1], f"{info[2]:,}", "")
            else:  # (Text, not str: a DataTable reads a str as markup, and a layer is what was typed)
                table.add_row(str(i), Text(expr), "", "", "")
        for expr, shape, params, what in view.added:
            table.add_row("+", Text(expr, style="dim"), shape, f"{params:,}", Text(what, style="dim"))
        table.move_cursor(row=min(max(row, 1), table.row_count - 1))
        status = self.query_one("#model-status", Static)
        if view.error:
            status.update(Text(f"cannot run: {view.error}", style="red"))
        elif view.total is not None:
            status.update(f"{view.total:,} parameters")
        else:
            status.update(view.note)

    # ---- keys -------------------------------------------------------------------------------
    def _selected(self) -> int | None:
        """Index into self.exprs of the highlighted row (row 0 is the input; added rows are not editable)."""
        row = self.query_one("#model-table", DataTable).cursor_row - 1
        return row if 0 <= row < len(self.exprs) else None

    def action_add(self) -> None:
        self._editing = None
        box = self.query_one("#model-input", Input)
        box.value = ""
        box.placeholder = "e.g. Linear(64): enter adds it below"
        box.focus()

    def action_edit(self) -> None:
        i = self._selected()
        if i is None and self.query_one("#model-table", DataTable).cursor_row <= 0:
            self.action_add()  # the input row: a layer at the top, as `a` there
            return
        if i is None:  # the output layer, added for the data: not the user's to edit
            self.app.notify("the output layer is added for you, to fit the data: it is not edited; highlight a "
                            "layer of yours to edit it, or a adds one", severity="warning")
            return
        self._editing = i
        box = self.query_one("#model-input", Input)
        box.value = self.exprs[i]
        box.placeholder = f"layer {i + 1}: enter applies, esc cancels"
        box.focus()

    def action_remove(self) -> None:
        i = self._selected()
        if i is None:
            self.app.notify("highlight a layer of the stack to remove it (the output layer is added for you)",
                            severity="warning")
            return
        removed, before, after = self.exprs[i], list(self.exprs), self.exprs[:i] + self.exprs[i + 1:]
        self.app.edit_layers(after)
        self._removed = (before, after, i + 1, removed)
        self._cursor(i)
        self.app.notify(f"removed layer {i + 1}, {removed}: u puts it back", title="model")

    def action_undo(self) -> None:
        """The stack as it was before the last remove (a `d` typed by mistake: no confirm asked, and so undone)."""
        if self._removed is None:
            self.app.notify("no layer removed to put back", severity="warning", title="model")
            return
        before, after, row, removed = self._removed
        self._removed = None
        if self.exprs != after:  # an add, edit, move or load since: putting the old stack back would undo those
            self.app.notify(f"the stack has changed since layer {row}, {removed}, was removed: a adds it again",
                            severity="warning", title="model")
            return
        self.app.edit_layers(before)
        self._cursor(row)

    def action_move(self, delta: int) -> None:
        i = self._selected()
        if i is None or not 0 <= i + delta < len(self.exprs):
            return
        layers = list(self.exprs)
        layers[i], layers[i + delta] = layers[i + delta], layers[i]
        self.app.edit_layers(layers)
        self._cursor(i + delta + 1)

    def _cursor(self, row: int) -> None:
        table = self.query_one("#model-table", DataTable)
        table.move_cursor(row=min(max(row, 1), max(table.row_count - 1, 0)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "model-input":
            return
        expr = event.value.strip()
        if not expr:
            return
        layers = list(self.exprs)
        at = self._editing
        typed = split_top_level(expr) or [expr]  # several layers as --layers writes them: each a row of its own
        if at is None:  # after the highlighted layer; at the top when the input row is highlighted
            sel, row = self._selected(), self.query_one("#model-table", DataTable).cursor_row
            at = 0 if row == 0 else (sel + 1) if sel is not None else len(layers)
            layers[at:at] = typed
        else:
            layers[at:at + 1] = typed
        at += len(typed) - 1  # the cursor goes to the last of them
        if self.app.edit_layers(layers, check_syntax=True):
            event.input.value, event.input.placeholder = "", IDLE  # done: the box no longer speaks of that layer
            self._editing = None
            table = self.query_one("#model-table", DataTable)
            table.focus()
            self._cursor(at + 1)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit()

    def on_descendant_focus(self, event) -> None:
        self._typing = False  # the box has the keys from here (or the focus went elsewhere: nothing to hand on)

    def on_key(self, event) -> None:
        box = self.query_one("#model-input", FieldInput)
        table = self.query_one("#model-table", DataTable)
        if self._typing and table.has_focus:
            # keys typed in the same burst as the letter that opened the box, come before the focus moved: the
            # box's (each had opened it afresh with itself alone, and a d among them removed a layer)
            if event.is_printable and event.character:
                box.insert_text_at_cursor(event.character)
            elif event.key == "backspace":
                box.action_delete_left()
            elif event.key == "enter":
                box.call_later(box.action_submit)
            else:
                return
            event.prevent_default()
            event.stop()
            return
        if event.key == "escape" and box.has_focus:
            box.value, box.placeholder = "", IDLE
            self._editing = None
            self.query_one("#model-table", DataTable).focus()
            event.stop()
        elif (event.character and event.character.isalpha() and event.key not in self.screen.active_bindings
              and self.query_one("#model-table", DataTable).has_focus):
            # a layer's name typed over the stack (`Conv2d`, as the box invites): it goes into the box, as after `a`;
            # its letters were keys here (the d of Conv2d removed a layer, its 2 switched panes)
            self.action_add()
            box.focus_typed(event.character)
            self._typing = True
            event.prevent_default()
            event.stop()
