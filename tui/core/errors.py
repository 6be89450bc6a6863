"""Errors a user can cause, kept apart from bugs.

A `UserError` carries one line that names the problem and the fix. The console prints it
and exits 2; the screen shows it as a notification. Anything else is a bug and may show a
traceback.
"""


class UserError(Exception):
    """Bad input: a file, a column, a layer, a number, a device. The message is for the user.

    `notes` are what was decided before the refusal (the format read, lines skipped, columns left
    out): shown under the one error line, since the refusal may follow from one of them."""

    layer: int | None = None  # for a layer stack that cannot run: which layer (1-based) breaks it

    def __init__(self, message: str = "", notes: list[str] | None = None):
        super().__init__(message)
        self.notes: list[str] = list(notes or [])

    def with_notes(self, notes: list[str]) -> "UserError":
        """This refusal with `notes` before any it has already; returns itself, to be raised again."""
        self.notes = [*notes, *(n for n in self.notes if n not in notes)]
        return self


class Interrupted(Exception):
    """A stop was asked for (Ctrl+C, SIGTERM, SIGHUP): last.pt holds the exact position. Exit 128 + signal."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TrainingFailed(Exception):
    """Training started but could not go on (diverged, out of memory). Exit code 1."""
