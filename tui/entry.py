"""The `torchtui` command (and `python -m tui`): Ctrl+C set to end the process cleanly while modules import,
first thing, before the CLI's own imports (typer, then torch and pandas inside the commands), a closed
stdout or stderr made a sink, characters the streams' encoding lacks escaped, and a terminal's control characters
from the data; then the CLI."""

import os
import sys

from tui.signals import interrupt_at_once_while_importing
from tui.visible import VisibleStream

interrupt_at_once_while_importing()
# A stream closed by whoever started us (`torchtui run ... >&-` from cron or a wrapper) is None here: writing to
# it crashed a run before its first step, or it ended without a word. What would go there goes nowhere instead.
for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w"))
    # A terminal or log whose encoding cannot take a character of the user's data (a column named 温度 under a
    # latin-1 or ASCII locale) crashed a run at its first line of output, the worker's too: such a character is
    # written as an escape instead. JSON lines are ASCII already (json.dumps escapes the rest).
    try:
        getattr(sys, _name).reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError, OSError):  # a stream that is not a text file of its own: left as it is
        pass
    # A terminal is not sent the control characters of the user's data (a column named with an escape sequence set
    # its title, or its clipboard): tui/visible.py. A file or a pipe gets the text as it is.
    try:
        if getattr(sys, _name).isatty():
            setattr(sys, _name, VisibleStream(getattr(sys, _name)))
    except (AttributeError, ValueError, OSError):
        pass

from tui.cli import main  # noqa: E402

__all__ = ["main"]
