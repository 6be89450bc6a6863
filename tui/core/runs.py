"""The run folder: the one place a run's state lives, and the meeting point of its readers.

`checkpoints/<run-name>/` holds `spec.toml`, the append-only `events.jsonl`, `last.pt`,
`best.pt`, `worker.log` (a screen-started worker's output) and predictions. The recorder
(record.py) is its one writer, through `RunFolder`; `follow.RunState` is the one reader of its
events, for the screen and `torchtui runs`. So a run started headless can be watched later,
and a run outlives whatever started it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator, TextIO

from .errors import UserError
from .event_schema import readable
from .files import TMP_PREFIX, atomic_write, open_own_log
from .spec import Spec, moved_data_files

EVENTS = "events.jsonl"
SPEC = "spec.toml"
# What a run writes into its folder: a file a user names (predict -o, export -o) is never written over one of
# these in a run folder (val_predictions.py names its own file the same)
RUN_FILES = (SPEC, EVENTS, "last.pt", "best.pt", "val_predictions.csv", "predictions.csv", "worker.log")
_HELD: dict[Path, int] = {}  # the run folders this process writes: their lock file's descriptor


def _forget_held_in_child() -> None:
    """A forked child (a Dataset's DataLoader workers) holds no run folder: its copies of the locked descriptors are
    closed. A flock belongs to the open file, which every fork shares: the workers of a run killed with kill -9
    lived on for seconds, and its resume was refused meanwhile as "being written by another torchtui process". The
    parent's own descriptor keeps the lock for as long as it lives."""
    for fd in _HELD.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_held_in_child)


def is_run_folder(path: Path) -> bool:
    return (path / SPEC).is_file() and (path / EVENTS).exists()


def _name_taken(path: Path) -> str:
    """Why --name cannot make `path`, and what to do with the folder there: 'continue it with `torchtui resume`'
    was said of a run still training, whose resume is refused, and of a folder that is no run."""
    said = f"run folder {path} already exists"
    if not is_run_folder(path):
        return f"{said} and is no run (no {SPEC}); choose another --name"
    from .follow import read_run

    try:
        state, _ = read_run(path)
    except OSError:
        return f"{said}; choose another --name"
    if state.running and state.alive():
        return (f"{said} and is still training (process {state.pid}); choose another --name, or watch it with "
                f"`torchtui attach {path}`")
    if state.status in ("done", "early_stopped"):
        return (f"{said} and has finished; choose another --name, or train it on with `torchtui resume {path} "
                "--epochs N`")
    return f"{said}; choose another --name, or continue it with `torchtui resume {path}`"


def refuse_runs_dir_in_a_run(root: Path) -> None:
    """A runs folder that is a run folder, or lies inside one: a run made there would be deleted with that run,
    and no listing of runs would show it."""
    whole = Path(os.path.abspath(root))  # `run1/../other` is not inside run1, and `..` names a folder's parent
    for folder in (whole, *whole.parents):
        if not is_run_folder(folder):
            continue
        if folder == whole:
            raise UserError(f"--runs-dir {root} is a run folder, not a folder of runs; continue that run with "
                            f"`torchtui resume {root}`, or give the folder that holds it: --runs-dir {whole.parent}")
        raise UserError(f"--runs-dir {root} is inside the run folder {folder}, where a new run would be deleted with "
                        f"that run; give a folder outside it, e.g. --runs-dir {folder.parent}")


def refuse_run_file(path: Path) -> None:
    """A file a user names is never written over a run's own (its spec, events, checkpoints, predictions):
    `predict -o RUN/last.pt` replaced a run's checkpoint, and the run was lost."""
    if path.name in RUN_FILES and is_run_folder(path.parent):
        raise UserError(f"{path} is a file of the run in {path.parent}, which writing it would ruin; "
                        f"name another file")


class FolderGone(OSError):
    """The run folder a worker writes is no longer where it was, and not found where it went (deleted, or moved on a
    system that cannot tell where): nothing more is written, above all not into a new folder given its name."""


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._log: TextIO | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the folder this process holds
        self._key: Path | None = None  # its key in _HELD

    # ---- creating -----------------------------------------------------------------------
    @classmethod
    def create(cls, spec: Spec, dataset_label: str) -> "RunFolder":
        root = Path(spec.run.runs_dir)
        refuse_runs_dir_in_a_run(root)  # a run inside a run: deleting the outer one would take it along, unlisted
        text = spec.to_toml()  # before the folder: a spec that cannot be written (spec._toml_value) leaves none
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create runs folder {root}: {e.strerror}; choose another with --runs-dir") from None
        if spec.run.name:
            path = root / spec.run.name
            try:
                path.mkdir()
            except FileExistsError:
                raise UserError(_name_taken(path)) from None
            except OSError as e:
                raise UserError(f"cannot create run folder {path}: {e.strerror}") from None
        else:
            for _ in range(1000):  # another process may take the name between the check and the mkdir
                path = root / new_run_name(root, dataset_label)
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
                except OSError as e:
                    raise UserError(f"cannot create run folder {path}: {e.strerror}") from None
        run = cls(path)
        run.hold()  # before its first file: a resume of it, started meanwhile, is refused
        try:
            run.write_text(SPEC, text)
        except OSError as e:  # a full disk: no folder is left behind that holds a name yet is no run
            run.release()
            try:
                (path / EVENTS).unlink(missing_ok=True)
                path.rmdir()
            except OSError:
                pass  # (something else was put there meanwhile: left as it is)
            raise UserError(f"cannot write run folder {path}: {e.strerror or e}; free some space, or choose "
                            f"another --runs-dir") from None
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        p = Path(path)
        if not p.exists():
            raise UserError(f"{p} does not exist; `torchtui runs` lists the run folders")
        if not (p / SPEC).exists():
            raise UserError(f"{p} is not a run folder (no {SPEC}); `torchtui runs` lists the run folders")
        return cls(p)

    # ---- writing ------------------------------------------------------------------------
    def hold(self) -> None:
        """Make this process the folder's one writer until `release_held` (or its exit: the kernel drops the
        lock with the process, kill -9 included, so no stale lock is ever left to clear by hand). A folder
        another process writes is refused: the check of its events for a live process alone left a window
        (a resume writes its start event only once the data is loaded), and two resumes started together
        both trained into one folder, their epochs interleaved and each overwriting the other's checkpoints."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): the events' check of a live process alone
            return
        key = self.path.resolve()
        if self._identity is None:  # (the folder this process writes: `follow` finds it wherever it is moved)
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
        if key in _HELD:
            return
        # The lock is on the event log: append-only, never replaced, so never a second file beside it. Opened for
        # writing: NFS emulates flock with a byte-range lock, and an exclusive one needs a file open for writing
        # (read-only, every run in an NFS home directory was refused as "being written by another process")
        fd = self._open_log()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as refused:
            os.close(fd)
            if refused.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return  # a file system that keeps no locks (ENOLCK: an NFS mount without its lock service): as on
                # Windows, the events' check of a live process alone; the run is not refused for it
            starts = [e.get("pid") for e in read_events(self.path / EVENTS) if e["event"] == "start"]
            holder = f" (process {starts[-1]})" if starts and process_alive(starts[-1]) else ""
            raise UserError(f"{self.path} is being written by another torchtui process{holder}; "
                            f"wait for it to end, or stop it (`torchtui attach {self.path}` shows it)") from None
        _HELD[key] = fd
        self._key = key

    def follow(self) -> Path:
        """The folder's path now, for a write or a read of this process's own folder: a folder renamed while its
        run was paused (or trained) is followed to its new place - through the descriptor of its event log, which
        this process holds - and another folder made since at its old path is never written (a paused run's
        folder renamed, a new run given its name: the old run's last.pt replaced the new run's, and its final
        evaluation read the new run's best.pt). A folder deleted raises FolderGone."""
        if self._identity is None:
            return self.path
        try:
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                return self.path
        except OSError:
            pass
        fds = [fd for fd in (_HELD.get(self._key) if self._key else None,
                             self._log.fileno() if self._log is not None else None) if fd is not None]
        for fd in fds:
            now = _path_of(fd)
            if now is None:
                continue
            try:
                st = os.stat(now.parent)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == self._identity:
                self.path = now.parent
                return self.path
        raise FolderGone(errno.ENOENT, f"the run folder {self.path} was moved or deleted while the run trained, and "
                         "is not where it went", str(self.path))

    def saved(self, which: str = "last") -> bool:
        """Whether the folder holds that checkpoint (not, for a folder gone)."""
        try:
            return self.checkpoint_path(which).exists()
        except FolderGone:
            return False

    def _open_log(self) -> int:
        """The event log opened for appending, as a file of the run folder's own (files.open_own_log), where the
        folder is now (a folder renamed as its spec.toml was written is followed to its new name)."""
        log = self.follow() / EVENTS
        try:
            return open_own_log(log)
        except OSError as e:
            if os.path.islink(log) or e.errno in (errno.ENXIO, errno.EINVAL):
                raise UserError(f"{log} is not a file of the run folder's own (a link, a pipe or a device): the "
                                "run's events are not written through it; copy the folder without it to resume "
                                "it") from None
            raise UserError(f"cannot write run folder {self.path}: {e.strerror}") from None

    def release(self) -> None:
        """This process writes the folder no more (`hold` undone): its lock goes, for the next writer."""
        fd = _HELD.pop(self._key or self.path.resolve(), None)
        if fd is not None:
            os.close(fd)

    def check_writable(self) -> None:
        """A read-only run folder is refused before anything starts, not at the first save."""
        log = self.path / EVENTS
        if not os.access(self.path, os.W_OK | os.X_OK) or (log.exists() and not os.access(log, os.W_OK)):
            raise UserError(f"run folder {self.path} is read-only; make it writable, or copy it elsewhere and "
                            f"resume the copy")

    def log(self, event: dict[str, Any], sync: bool = False) -> None:
        """Append one event as a JSON line; sync=True makes it durable (epochs, ends)."""
        if self._log is None:
            self._log = os.fdopen(self._open_log(), "a", encoding="utf-8")
            if self._log.tell() and not _ends_a_line(self.path / EVENTS):
                self._log.write("\n")  # a writer killed mid-line left a torn line: it stays one, and is skipped
        self._log.write(to_json(event) + "\n")
        self._log.flush()
        if sync:
            os.fsync(self._log.fileno())

    def close(self) -> None:
        if self._log is not None:
            log, self._log = self._log, None
            try:
                log.close()
            except OSError:  # a full disk: what the last write left unflushed is a torn line, which readers skip
                pass

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write(self.follow() / name, lambda f: f.write(text.encode("utf-8")))

    def clean_temp_files(self) -> None:
        """Remove temp files left by a save that died before its rename."""
        for tmp in self.follow().glob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)

    # ---- reading ------------------------------------------------------------------------
    def spec(self) -> Spec:
        return Spec.from_file(self.path / SPEC)

    def saved_run(self) -> tuple[Spec, dict[str, Any] | None]:
        """The spec this run trains and its last checkpoint (None before the first save), checked to
        belong together: a spec.toml edited (or a last.pt replaced) since the save is refused, since
        continuing it would not continue the same run."""
        spec, ckpt, _ = self.resume_point(fall_back=False)
        return spec, ckpt

    def resume_point(self, fall_back: bool = True, moved: tuple[str, ...] = ()) -> tuple[Spec, dict[str, Any] | None,
                                                                                      str]:
        """`saved_run`, and where last.pt does not load (truncated by a full disk or a partial copy) and
        `fall_back`: best.pt, the newest checkpoint that does; the third value is the notice saying so. `moved`:
        the data files (spec paths) this resume is given a new place for."""
        from . import checkpoint  # torch: not for `torchtui runs`

        on_disk = self.spec()
        last, best = self.checkpoint_path("last"), self.checkpoint_path("best")
        if not last.exists() and not (fall_back and best.exists()):
            saves = [e for e in self.events() if e.get("event") == "checkpoint"]
            if saves:  # a run that saved is never trained again from nothing in its own folder without a word
                raise UserError(f"the checkpoints of {self.path} are gone (its log records a save of epoch "
                                f"{saves[-1].get('epoch', '?')}): nothing is left to go on from; put last.pt back, "
                                f"or start the run again under a new name, `torchtui run {self.path / SPEC} "
                                f"--name {self.path.name}-again`")
            return on_disk, None, ""
        try:
            if not last.exists():
                raise checkpoint.Unreadable(f"{last} is missing", "is missing")
            ckpt, notice, source = checkpoint.load(last), "", last
        except checkpoint.Unreadable as e:
            if not fall_back or not best.exists():
                raise
            try:
                ckpt, source = checkpoint.load(best), best
            except checkpoint.Unreadable:
                raise UserError(f"neither last.pt nor best.pt of {self.path} loads ({e.why}); nothing is left to go on "
                                f"from: start the run again under a new name, `torchtui run {self.path / SPEC} "
                                f"--name {self.path.name}-again`") from None
            notice = (f"last.pt {e.why}: resumed from best.pt, the newest checkpoint that loads (epoch "
                      f"{ckpt['progress']['epoch']}); the epochs after it train again")
        saved, kept, edited = _against(on_disk, ckpt, source, moved)
        if edited and source == last and fall_back and best.exists():
            # last.pt is not this run's where best.pt agrees with spec.toml: copied over from another run (it was
            # said to be an edit of spec.toml, which nobody had touched, and the run's own best.pt was left unused)
            try:
                other = checkpoint.load(best)
            except checkpoint.Unreadable:
                other = None
            if other is not None and not _against(on_disk, other, best, moved)[2]:
                notice = (f"last.pt is not this run's ({edited}: another run's checkpoint?): resumed from best.pt "
                          f"(epoch {other['progress']['epoch']}); the epochs after it train again")
                ckpt, source = other, best
                saved, kept, edited = _against(on_disk, ckpt, source, moved)
        if edited:
            raise UserError(f"{self.path}/spec.toml was edited since the run saved it ({edited}); resume continues the "
                            "saved run exactly - undo the edit, or start a new run with it under a new name, "
                            f"`torchtui run {self.path}/spec.toml --name {self.path.name}-edited`")
        return saved.with_overrides({key: value for key, value in kept.items() if key != "train.epochs"}), ckpt, notice

    def events(self) -> list[dict[str, Any]]:
        return list(read_events(self.path / EVENTS))

    def checkpoint_path(self, which: str = "last") -> Path:
        return self.follow() / f"{which}.pt"


def _against(on_disk: Spec, ckpt: dict[str, Any], source: Path, moved: tuple[str, ...]
             ) -> tuple[Spec, dict[str, Any], str]:
    """(the checkpoint's spec, the fields spec.toml may hold otherwise, how else the two differ: '' where alike)."""
    saved = Spec.from_dict(ckpt["spec"], source=str(source))
    if saved.train.threads == 0 and on_disk.train.threads:
        # saved before the thread count was stored: a resume wrote the count it resolved, before its first save
        saved = saved.with_overrides({"train.threads": on_disk.train.threads})
    # the number of epochs is no edit: a resume with --epochs writes it to spec.toml as it starts, and one
    # stopped before its first save leaves it so; the next resume trains to it (job.resume). Nor is the new
    # place of a data file that moved: given to this resume (--dataset, --val, --test), or written to spec.toml
    # by one before its first save, where the old place holds no file any more; the data itself is checked
    # against the checkpoint's fingerprint of it (job._resume). A file's place only (a run stores its files'
    # absolute paths): a built-in set or a Dataset class put in a file's place is an edit
    kept: dict[str, Any] = {"train.epochs": on_disk.train.epochs, **moved_data_files(saved, on_disk, moved)}
    return saved, kept, spec_differences(on_disk, saved.with_overrides(kept))


def _path_of(fd: int) -> Path | None:
    """Where an open file is now (Linux: /proc; macOS: F_GETPATH); None where the system cannot say, or the file
    was deleted."""
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        try:
            import fcntl

            get_path = getattr(fcntl, "F_GETPATH", None)  # (macOS and the BSDs only)
            if get_path is None:
                return None
            raw = fcntl.fcntl(fd, get_path, bytes(1024))
            link = os.fsdecode(raw.split(b"\0", 1)[0])
        except (ImportError, OSError):
            return None
    return None if link.endswith(" (deleted)") or not link.startswith("/") else Path(link)


def release_held() -> None:
    """This process writes no run folder any more (its job ended): their locks go, for the next writer."""
    while _HELD:
        os.close(_HELD.popitem()[1])


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


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events in order; a torn last line (a writer killed mid-write), and a line that is no event a reader can
    take (event_schema.readable), are skipped."""
    try:
        f = open(path, "rb")
    except (FileNotFoundError, IsADirectoryError):
        return
    with f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:  # bytes that are no UTF-8 (a damaged disk, another program's write) spoil their line only, as
                event = json.loads(raw.decode("utf-8"))  # follow.EventTail skips it
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if readable(event):
                yield event


def run_stem(dataset_label: str) -> str:
    """The <dataset> of a new run's folder name: the data's name, without folders, suffixes or odd characters."""
    return re.sub(r"[^\w.-]+", "-", Path(dataset_label).name.split(".")[0]).strip("-.") or "run"


def new_run_name(root: Path, dataset_label: str) -> str:
    """<dataset>-<date>-<time>, with -2, -3 ... when taken: the one naming rule for a new run's folder."""
    base = f"{run_stem(dataset_label)}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def spec_differences(a: Spec, b: Spec) -> str:
    """'section.key a vs b' for each field that differs; empty when the specs are equal."""
    da, db = a.to_dict(), b.to_dict()
    return ", ".join(f"{section}.{key} {da[section][key]!r} vs {db[section][key]!r}"
                     for section in da for key in da[section] if da[section][key] != db[section][key])


def process_suspended(pid: Any) -> bool:
    """True while process `pid` is stopped by a signal (Ctrl+Z in its terminal, SIGSTOP): alive, training nothing,
    until SIGCONT (`fg`, `kill -CONT PID`). Told on Linux (/proc); elsewhere False."""
    return _proc_state(pid) == "T"  # (t: a debugger's stop)


def _proc_state(pid: Any) -> str | None:
    """Process `pid`'s state letter from /proc (R, S, T, Z, ...); '' where it has no entry there (gone), None
    where /proc cannot tell (not Linux, or not a pid)."""
    if not isinstance(pid, int) or pid <= 0 or not Path("/proc/self/stat").exists():
        return None
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


SAME_PROCESS_SLACK = 5.0  # seconds a writer's start may seem to follow its start event (a 1 s boot time, clock slew)


def writer_alive(events: Path, pid: Any, written: Any) -> bool:
    """Whether the run whose start event names process `pid` (the event written at `written`, seconds since the
    epoch) still has that writer. A live process number alone was taken for it: after a kill -9 (and a reboot, or
    a long while) the number belongs to another program, and the run showed as training for good and could not
    be resumed ("still training (process N); stop it"). The writer holding the folder's lock on `events` is sure;
    else a process that started after the event is another program with the number. Where neither can be told
    (not Linux), the live number is taken for the writer, as before."""
    if not process_alive(pid):
        return False
    locks = _locks_of(pid)  # (the kernel's table read once: None where there is none)
    held = _held(events, locks)
    if held:
        return True
    if held is False and not maybe_python(pid):  # no lock, and a program that is no Python (pid 1, a shell)
        return False
    if held is False and locks:  # it writes another run folder: this one is a copy of that one's, taken while it
        return False  # trained (listed "running", and resume said to stop the other run)
    return began_by(pid, written)  # (a network file system's lock may not show)


def maybe_python(pid: Any) -> bool:
    """Whether process `pid` may be a torchtui writer: a Python interpreter (`torchtui` and torchrun's workers are)
    by its program's name, read from /proc; True where that cannot be read. A folder copied from another box names
    a process number that here is another program - pid 1 was listed as training, and `resume` refused."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    words = [Path(w).name for w in raw.decode("utf-8", "replace").split("\0")[:2] if w]
    return not words or any("python" in w or "torchtui" in w or "torchrun" in w for w in words)


def began_by(pid: Any, written: Any) -> bool:
    """Whether process `pid` started by `written` (seconds since the epoch: the time of an event it wrote, or its
    children did): one that started after is another program, given the number once it was free. True where
    that cannot be told."""
    began = process_started(pid)
    return began is None or not isinstance(written, (int, float)) or began <= written + SAME_PROCESS_SLACK


def lock_held(path: Path, pid: int) -> bool | None:
    """Whether process `pid` holds a lock on `path` (`RunFolder.hold`'s, on a run's event log), read from the
    kernel's table of locks, /proc/locks, without taking it: a probe that took it, however briefly, could refuse a
    writer starting in that instant. None where there is no such table (not Linux). The inode is matched by its
    number alone: an overlay file system gives stat() another device number than the table's."""
    return _held(path, _locks_of(pid))


def _held(path: Path, locks: set[str] | None) -> bool | None:
    """Whether `path` is among the files `locks` (`_locks_of`) names; None where there is no table or no file."""
    if locks is None:
        return None
    try:
        return str(os.stat(path).st_ino) in locks
    except OSError:
        return None


def _locks_of(pid: Any) -> set[str] | None:
    """The inodes of the files process `pid` holds a lock on, from /proc/locks; None where there is no such table."""
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    inodes = set()
    for line in table.splitlines():  # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5308523 0 EOF"; a waiter: "1: -> ..."
        fields = line.split()
        if "->" in fields:
            continue
        at = next((i for i, f in enumerate(fields) if f.count(":") == 2), None)  # MAJOR:MINOR:INODE, the pid before
        if at is not None and at > 0 and fields[at - 1] == str(pid):
            inodes.add(fields[at].rsplit(":", 1)[1])
    return inodes


def process_started(pid: Any) -> float | None:
    """When process `pid` started, in seconds since the epoch (to the clock tick), from /proc; None where /proc
    cannot tell (not Linux, gone)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_alive(pid: Any) -> bool:
    """True while process `pid` runs; a zombie (exited, not yet reaped by whoever adopted it) is gone."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    state = _proc_state(pid)
    if state is not None:
        return state not in ("", "Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
