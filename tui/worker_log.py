"""A screen-started worker's output, filed in its run folder as worker.log the moment the folder exists.

The screen starts `torchtui run -` with stdout and stderr on a hidden file beside the run folder it names - the
worker makes that folder only once nothing the user asked for can fail, so a refused run leaves no folder and
never writes into another run's - and names the file in TORCHTUI_WORKER_LOG. At the run's start event the worker
renames the file into its folder. Every process writing it (a launcher's ranks too) goes on writing the same file,
now the run's, so the log stays with the run whatever the screen does next: a closed terminal, `ctrl+q` leaving
it training, another screen attaching. Before, the screen that started the worker filed the log once it saw the
worker exit, and a screen gone before that left it beside the folder for good.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

ENV = "TORCHTUI_WORKER_LOG"
NAME = "worker.log"

Emit = Callable[[dict[str, Any]], None]


def filing(emit: Emit) -> Emit:
    """`emit`, filing this worker's log into the run folder at the start event (as is, where no log is named)."""
    hidden = os.environ.get(ENV)
    if not hidden:
        return emit

    def emit_and_file(event: dict[str, Any]) -> None:
        if event.get("event") == "start" and event.get("run_dir"):
            file_into(Path(hidden), Path(event["run_dir"]))
        emit(event)

    return emit_and_file


def file_into(hidden: Path, run_dir: Path) -> None:
    """Rename the hidden log to RUN/worker.log, which a new run's folder does not have; a rank of a restarted group
    finds it filed already. Where the rename fails the screen files it when it sees the worker gone."""
    dest = run_dir / NAME
    try:
        if hidden.is_file() and not dest.exists():
            os.rename(hidden, dest)
    except OSError:
        pass
