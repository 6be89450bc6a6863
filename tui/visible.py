"""Text from data, as a terminal is given it: control characters written as visible escapes.

A data file is someone else's text. A column named `f1\\x1b]0;pwned\\x07`, a label holding `\\x1b]52;c;...\\x07` or a
file named with `\\x1b[2J`, printed as they are, set the terminal's title, replaced the user's clipboard (OSC 52:
a command to paste, say) or cleared the screen; bidi overrides (U+202E) showed a name reversed. Where torchtui
prints to a terminal, such characters are shown as `repr` writes them (`\\x1b`, `\\u202e`); a file or a pipe gets
the text as it is, and JSON escapes them anyway.

Two places take it: `VisibleStream`, which the `torchtui` command puts over stdout and stderr when they are a
terminal (entry.py), and `visible()`, which the screen applies to what it shows of the data (its own widgets
draw through Textual, not through those streams).
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 controls but tab, newline and carriage return; DEL and C1; the bidi embeddings, overrides and isolates, and the
# invisible direction marks
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_IN_A_LINE = re.compile(f"[{_CONTROLS}\t\n\r]")  # ... and tabs and line breaks: a name, a cell
# ... and a carriage return, in what a terminal is sent: text from data with one wrote over the line before it
_CONTROL_OUT = re.compile(f"[{_CONTROLS}\r]")
# what torchtui writes itself: colours, and "erase to the end of the line" (the console's progress bar, which
# starts its writes with a carriage return)
_OWN_SEQUENCE = re.compile(r"\x1b\[(?:[0-9;]*m|K)")


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def visible(text: str) -> str:
    """`text` with every control character (newlines and tabs too: one line, as a cell or a name is shown)
    written as an escape."""
    return _CONTROL_IN_A_LINE.sub(_escaped, text)


def visible_output(text: str) -> str:
    """What a terminal may be sent of `text`: its lines and tabs, torchtui's own colours, line erasing and a
    carriage return that starts a write (the progress bar's), and every other control character as an escape."""
    out, at = ["\r"] if text.startswith("\r") else [], int(text.startswith("\r"))
    for own in _OWN_SEQUENCE.finditer(text, at):
        out += [_CONTROL_OUT.sub(_escaped, text[at:own.start()]), own.group()]
        at = own.end()
    out.append(_CONTROL_OUT.sub(_escaped, text[at:]))
    return "".join(out)


class VisibleStream:
    """A terminal's text stream that writes `visible_output` of what it is given; everything else is the stream's."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible_output(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, errors, buffer...
        return getattr(self._stream, name)
