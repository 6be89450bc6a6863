"""The run folder: the one place a run's state lives, and the meeting point of its readers.

`checkpoints/<run-name>/` holds `spec.toml`, the append-only `events.jsonl`, `last.pt`,
`best.pt` and predictions. The trainer writes it; the console, the screen and
`torchtui runs` only read it, so a run started headless can be watched later, and a run
outlives whatever started it.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .files import TMP_PREFIX, atomic_write
from .errors import UserError
from .spec import Spec

EVENTS = "events.jsonl"
SPEC = "spec.toml"


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._log = None

    # ---- creating -----------------------------------------------------------------------
    @classmethod
    def create(cls, spec: Spec, dataset_label: str) -> "RunFolder":
        root = Path(spec.run.runs_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create runs folder {root}: {e.strerror}; choose another with --runs-dir") from None
        if spec.run.name:
            path = root / spec.run.name
            try:
                path.mkdir()
            except FileExistsError:
                raise UserError(f"run folder {path} already exists; choose another --name, "
                                f"or continue it with `torchtui resume {path}`") from None
            except OSError as e:
                raise UserError(f"cannot create run folder {path}: {e.strerror}") from None
        else:
            stem = re.sub(r"[^\w.-]+", "-", Path(dataset_label).name.split(".")[0]).strip("-") or "run"
            base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
            for n in range(1, 1000):
                path = root / (base if n == 1 else f"{base}-{n}")
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
                except OSError as e:
                    raise UserError(f"cannot create run folder {path}: {e.strerror}") from None
        run = cls(path)
        run.write_text(SPEC, spec.to_toml())
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        p = Path(path)
        if not (p / SPEC).exists():
            raise UserError(f"{p} is not a run folder (no {SPEC}); `torchtui runs` lists the run folders")
        return cls(p)

    # ---- writing ------------------------------------------------------------------------
    def check_writable(self) -> None:
        """A read-only run folder is refused before anything starts, not at the first save."""
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise UserError(f"run folder {self.path} is read-only; make it writable, or copy it elsewhere and "
                            f"resume the copy")

    def log(self, event: dict[str, Any], sync: bool = False) -> None:
        """Append one event as a JSON line; sync=True makes it durable (epochs, ends)."""
        if self._log is None:
            self._log = open(self.path / EVENTS, "a", encoding="utf-8")
        self._log.write(to_json(event) + "\n")
        self._log.flush()
        if sync:
            os.fsync(self._log.fileno())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write(self.path / name, lambda f: f.write(text.encode("utf-8")))

    def clean_temp_files(self) -> None:
        """Remove temp files left by a save that died before its rename."""
        for tmp in self.path.glob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)

    # ---- reading ------------------------------------------------------------------------
    def spec(self) -> Spec:
        return Spec.from_file(self.path / SPEC)

    def events(self) -> list[dict[str, Any]]:
        return list(read_events(self.path / EVENTS))

    def checkpoint_path(self, which: str = "last") -> Path:
        return self.path / f"{which}.pt"


def to_json(obj: Any) -> str:
    """Strict JSON: a NaN or infinite number (an R² on one row, say) is written as null."""
    return json.dumps(_finite_or_none(obj), separators=(",", ":"), allow_nan=False)


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events in order; a torn last line (a writer killed mid-write) is skipped."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


@dataclass
class RunInfo:
    path: Path
    status: str
    dataset: str
    epochs_done: int
    epochs: int
    best_val_loss: float | None
    started: float
    pid: int | None = None


def list_runs(runs_dir: str | Path) -> list[RunInfo]:
    """Every run folder under `runs_dir`, newest first, with what its event log says."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for p in root.iterdir():
        if p.is_dir() and (p / SPEC).exists():
            runs.append(summarize(p))
    return sorted(runs, key=lambda r: r.started, reverse=True)


def summarize(path: Path) -> RunInfo:
    events = list(read_events(path / EVENTS))
    starts = [e for e in events if e["event"] == "start"]
    start = starts[-1] if starts else {}  # a resumed run has one start per resume
    epochs = [e for e in events if e["event"] == "epoch"]
    last = events[-1] if events else {}
    if last.get("event") == "end":
        status = last.get("status", "done")
    elif last.get("event") == "error":
        status = "failed"
    elif start and process_alive(start.get("pid")):
        status = "running"
    else:
        status = "interrupted" if start else "not started"
    best = [e["best_val_loss"] for e in epochs if e.get("best_val_loss") is not None]
    return RunInfo(path=path, status=status, dataset=start.get("dataset", "?"),
                   epochs_done=epochs[-1]["epoch"] if epochs else 0, epochs=start.get("epochs", 0),
                   best_val_loss=best[-1] if best else None,
                   started=starts[0].get("time", 0.0) if starts else path.stat().st_mtime, pid=start.get("pid"))


def process_alive(pid: Any) -> bool:
    """True while process `pid` runs; a zombie (exited, not yet reaped by whoever adopted it) is gone."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if Path("/proc/self/stat").exists():
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
