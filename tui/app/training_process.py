"""The training child process: `torchtui run` / `torchtui resume`, started in its own session.

A child process, not a thread, so the screen cannot slow training through the GIL, and in
its own session (`start_new_session`), so closing the terminal or dropping SSH leaves it
training. Its stdout and stderr go to a log file, never to the app's terminal. The screen
follows it through the run folder's event log and reaches it only by signals:

    SIGTERM  stop after saving the exact position (last.pt)
    SIGUSR1  save a checkpoint now
    SIGUSR2  pause / resume

so a run started headless or by an earlier screen is controlled the same way, by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tui.core.errors import UserError
from tui.core.files import open_to_append
from tui.core.follow import EventTail, RunState
from tui.core.runs import new_run_name, refuse_runs_dir_in_a_run
from tui.core.spec import Spec, spec_field
from tui.worker_log import ENV as WORKER_LOG_ENV
from tui.worker_log import NAME as WORKER_LOG

STOP, SAVE, PAUSE = signal.SIGTERM, getattr(signal, "SIGUSR1", None), getattr(signal, "SIGUSR2", None)


@dataclass
class TrainingProcess:
    run_dir: Path
    log_path: Path  # where its output went first: a new run's hidden file beside the folder, a resume's worker.log
    proc: subprocess.Popen | None = None
    started: bool = False  # its `start` event has been read
    log_from: int = 0  # where its own output begins in log_path (a resume's worker.log holds the run's earlier ones)

    def exit_code(self) -> int | None:
        """None while it runs (or when it is not our child)."""
        return self.proc.poll() if self.proc is not None else None

    def failure(self) -> str:
        """Why the process ended badly, from its log: the refusal's `error:` line (the notes printed under it
        come after it), else the last line (a traceback's)."""
        log = self.log_path if self.log_path.exists() else self.run_dir / WORKER_LOG  # filed at its start
        try:
            with open(log, "rb") as f:
                f.seek(self.log_from if log == self.log_path else 0)
                lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        said = [line for line in lines if line.startswith("error: ")]
        last = said[-1] if said else lines[-1] if lines else ""
        return last.removeprefix("error: ") or f"the training process exited with code {self.exit_code()}"

    def settle(self, state: RunState, tail: EventTail) -> str:
        """Once the process has exited: fold in what it left, and when it ended without saying how
        (refused before its start event, or crashed), mark the run failed with the reason from its log; killed
        by a signal, interrupted (ctrl+r resumes it).
        Returns the title of that failure, "" when the run's own events tell its end."""
        code = self.exit_code()
        if not self.started and code != 0:
            state.worker_gone("failed", self.failure())
            return "training did not start"
        if state.running:
            for e in tail.read():
                state.apply(e)
            if state.running and not state.alive():
                if code is not None and code < 0:  # killed by a signal (kill -9, the OOM killer): training did not fail
                    try:
                        name = signal.Signals(-code).name
                    except ValueError:
                        name = f"signal {-code}"
                    state.worker_gone("interrupted", f"the training process was killed ({name}); "
                                                     f"ctrl+r resumes from last.pt")
                    return "training process killed"
                state.worker_gone("failed", self.failure())
                return "training process ended"
        return ""

    def tidy(self) -> None:
        """Once it has exited: a new run's worker that did not file its log at its start (tui/worker_log.py) has
        it added to the run's worker.log here; one refused before its start leaves no trace in any run folder -
        its reason was shown - so a refused run never writes into another run's folder."""
        if self.log_path == self.run_dir / WORKER_LOG or not self.log_path.exists():
            return
        try:
            if self.started and self.run_dir.is_dir():
                with open(self.log_path, "rb") as src, open_to_append(self.run_dir / WORKER_LOG) as dest:
                    shutil.copyfileobj(src, dest)
            self.log_path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder: the log stays where it is


def start_run(spec: Spec, dataset_label: str) -> TrainingProcess:
    """`torchtui run -` with the spec on stdin, in a run folder named here, so the screen knows where to look."""
    root = Path(spec.run.runs_dir)
    refuse_runs_dir_in_a_run(root)  # before a folder is made there
    root.mkdir(parents=True, exist_ok=True)
    if spec.run.name and (root / spec.run.name).exists():
        raise UserError(f"run folder {root / spec.run.name} already exists; clear the run name for a fresh one, "
                        f"or load that run (ctrl+o) to continue it")
    name = spec.run.name or new_run_name(root, dataset_label)
    spec = spec.with_overrides({"run.name": name})
    return _spawn(["run", "-"], root / name, root / f".{name}.log", spec.to_toml())


def resume_run(run_dir: Path, epochs: int | None = None, moved: dict[str, str] | None = None) -> TrainingProcess:
    """`torchtui resume RUN` (`--epochs N` for a new total; `--dataset NEW` and its kin for data files given a new
    place on the Data pane: spec path -> file)."""
    args = ["resume", str(run_dir)] + (["--epochs", str(epochs)] if epochs else [])
    for path, place in (moved or {}).items():
        args += [str(spec_field(path).flag), place]
    # the run's own folder, its worker.log appended to from the start; beside it where the folder takes no file
    try:
        log = open_to_append(run_dir / WORKER_LOG)
    except OSError:
        return _spawn(args, run_dir, run_dir.parent / f".{run_dir.name}.resume.log", None)
    with log:
        return _spawn(args, run_dir, run_dir / WORKER_LOG, None, log)


def _spawn(args: list[str], run_dir: Path, log_path: Path, stdin_text: str | None,
           log: BinaryIO | None = None) -> TrainingProcess:
    """The worker, its output on `log` (appended to) or on a new file at `log_path` that it files in its run folder
    at its start (tui/worker_log.py)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TEXTUAL", None)
    env.pop(WORKER_LOG_ENV, None)
    if log is None:
        env[WORKER_LOG_ENV] = str(log_path)
    with (open(log_path, "wb") if log is None else contextlib.nullcontext(log)) as out:
        log_from = out.tell()
        proc = subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env, close_fds=True)
    if proc.stdin is not None:
        try:
            if stdin_text is not None:
                proc.stdin.write(stdin_text.encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return TrainingProcess(run_dir, log_path, proc, log_from=log_from)


def send(pid: int | None, sig: signal.Signals | None) -> bool:
    """Signal a training process; False when it is gone (or the signal does not exist here)."""
    if pid is None or sig is None:
        return False
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
