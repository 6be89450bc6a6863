"""Crash-safe file writes: temp file in the same folder, flush, fsync, rename.

A reader (or a crash) sees either the old file or the new one, never half of one. Kept free
of torch so that writing a config or a CSV does not pay for importing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

TMP_PREFIX = ".tmp-"


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write through `write(file)` to a temp file beside `path`, fsync, then rename over it."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_user_file(path: str | Path, data: bytes, own_run: bool = False) -> Path:
    """Atomic write to a path the user named; a missing folder or a refused write is one clear line, and so is
    a path that is a run's own file (`own_run`: the run itself writing it)."""
    from .errors import UserError
    from .runs import refuse_run_file  # (runs imports this module)

    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist")
    if not own_run:
        refuse_run_file(path)
    try:
        return atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
