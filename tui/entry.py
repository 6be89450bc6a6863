"""The `torchtui` command (and `python -m tui`): Ctrl+C set to end the process cleanly while modules import,
first thing, before the CLI's own imports (typer, then torch and pandas inside the commands), and a closed
stdout or stderr made a sink; then the CLI."""

import os
import sys

from tui.signals import interrupt_at_once_while_importing

interrupt_at_once_while_importing()
# A stream closed by whoever started us (`torchtui run ... >&-` from cron or a wrapper) is None here: writing to
# it crashed a run before its first step, or it ended without a word. What would go there goes nowhere instead.
for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w"))

from tui.cli import main  # noqa: E402

__all__ = ["main"]
