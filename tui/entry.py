"""The `torchtui` command (and `python -m tui`): Ctrl+C set to end the process cleanly while modules import,
first thing, before the CLI's own imports (typer, then torch and pandas inside the commands), then the CLI."""

from tui.signals import interrupt_at_once_while_importing

interrupt_at_once_while_importing()

from tui.cli import main  # noqa: E402

__all__ = ["main"]
