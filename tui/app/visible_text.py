"""Text from data, as the screen draws it: its control characters visible, never sent to the terminal.

The screen's widgets draw through Textual, not through the streams entry.py makes visible, and Rich keeps an ESC
(it drops only BEL, backspace, vertical tab, form feed and CR): a column named `f1\\x1b]0;pwned\\x07`, a label
holding an OSC 52 (write the clipboard) or a file named with `\\x1b[2J`, drawn as they were, set the terminal's
title, wrote its clipboard or garbled the panes; a bidi override (U+202E) turned a name around. Whatever the
screen shows of a data file (its name, columns, labels, cells, and the messages that quote them) goes through
`visible` (one line: a name, a cell) or `visible_lines` (a message, its line breaks kept), which write each
control character as repr does (`\\x1b`, `\\u202e`); ordinary text is left exactly as it is. The path boxes,
whose text is edited, draw each control character as one visible character instead (`VisibleInput`).
"""

from __future__ import annotations

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual.widgets import Input

from tui.visible import visible

from .field_input import FieldInput

__all__ = ["VisibleInput", "pictured", "visible", "visible_lines"]


def visible_lines(text: str) -> str:
    """`text` with each line `visible`: every control character but the line breaks written as an escape."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _picture(ch: str) -> str:
    """One character standing for control character `ch`: its Unicode control picture (␛ for ESC, ␇ for BEL,
    ␉ for tab, ␡ for DEL), or the replacement character for the others (C1, the bidi controls)."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def pictured(text: str) -> str:
    """`text` with each control character (those `visible` escapes) as one visible character: as long as `text`,
    so a position in one is the same position in the other."""
    if visible(text) == text:
        return text
    return "".join(ch if visible(ch) == ch else _picture(ch) for ch in text)


# Input's private hooks VisibleInput draws through (Textual 8.2); a Textual without them draws as a plain Input
_HOOKS = all(hasattr(Input, name) for name in ("_value", "_position_to_cell", "_cell_offset_to_index"))


class VisibleInput(FieldInput):
    """An Input whose value may be a data file's path (the path boxes: a file's name is someone else's text):
    each control character in it is drawn as one visible character (`pictured`), its value kept as it is.

    One character for one, so the cursor, the selection and a click land where they did; Input's own drawing
    and cell arithmetic read the value, and are given the pictured text here (Textual's private hooks, pinned
    to Textual 8 in pyproject.toml)."""

    @property
    def _plain(self) -> bool:
        """No control character in the value (or a Textual without the hooks below): Input's own drawing."""
        return not _HOOKS or self.password or visible(self.value) == self.value

    @property
    def _value(self) -> Text:
        if self._plain:
            return super()._value
        text = Text(pictured(self.value), no_wrap=True, overflow="ignore", end="")
        return self.highlighter(text) if self.highlighter is not None else text

    def _position_to_cell(self, position: int) -> int:
        if self._plain:
            return super()._position_to_cell(position)
        return cell_len(pictured(self.value[:position]))  # (a tab is a control character: pictured too)

    def _cell_offset_to_index(self, offset: int) -> int:
        if self._plain:
            return super()._cell_offset_to_index(offset)
        value = pictured(self.value)
        offset += self.scroll_offset.x
        cell = 0
        for index, ch in enumerate(value):
            width = get_character_cell_size(ch)
            if cell <= offset < cell + width:
                return index
            cell += width
        return max(0, min(offset, len(value)))
