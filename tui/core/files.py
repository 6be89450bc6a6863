"""Crash-safe file writes: temp file in the same folder, flush, fsync, rename.

A reader (or a crash) sees either the old file or the new one, never half of one. Kept free
of torch so that writing a config or a CSV does not pay for importing it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterator

TMP_PREFIX = ".tmp-"


def expand_home(text: str) -> str:
    """A path typed as `~/...` (or `~`) with the home folder in place of the tilde, as a shell does for a word of its
    own: in a TOML spec, after `--flag=`, or in a path box of the screen nobody expanded it, and the run made a
    folder named `~` beside the user's. Anything else is kept as typed (`~user` forms included)."""
    if text == "~" or text.startswith("~/"):
        return os.path.expanduser(text)
    return text


def expand_home_in_args(args: list[str], path_flags: tuple[str, ...]) -> list[str]:
    """Command-line words with `~/` expanded where a shell leaves it unexpanded by no choice of the user's:
    `--flag=~/...` for a flag that takes a path. Other words are left alone (`--sep '~'` is a separator, and a
    quoted `~` was quoted to keep it)."""
    out = []
    for arg in args:
        flag, eq, value = arg.partition("=")
        out.append(f"{flag}={expand_home(value)}" if eq and flag in path_flags else arg)
    return out


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write through `write(file)` to a temp file beside `path`, fsync, then rename over it. The folder is held open
    from the temp file's making to the rename, and both are done in it (`_held`)."""
    path = Path(path)
    with _held(path.parent) as folder:
        _renamed_into_place(_written_beside(path, write, mode, folder), path, folder)
    return path


# (a POSIX system: os.replace takes folders as os.rename does, which os.supports_dir_fd lists)
_AT_FOLDER = os.name == "posix" and {os.open, os.rename, os.link, os.unlink} <= os.supports_dir_fd


@contextlib.contextmanager
def _held(folder: Path) -> Iterator[int | None]:
    """A descriptor of `folder` that a write makes its temp file and its rename in: a folder renamed mid-write (a
    run's, moved by its user while it saved) gets its file whole where it went, where the rename by path failed
    with 'no such file' - the run stopped over a save that could be finished - and left the temp file in the
    folder under a name nothing cleaned. None where the system has no such calls, or the folder cannot be opened
    (the write by path then says why)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if _AT_FOLDER else None
    except OSError:
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _at(path: Path, folder: int | None) -> Path | str:
    """`path` as the calls on `folder` take it: its name there, or the path itself where no folder is held."""
    return path if folder is None else path.name


def _unlink(path: Path, folder: int | None) -> None:
    try:
        os.unlink(_at(path, folder), dir_fd=folder)
    except FileNotFoundError:
        pass


def no_such_path(path: str | Path) -> bool:
    """Whether `path` names nothing: only the system's "no such file" says so. A stat that fails otherwise (a
    network mount gone stale, a folder this user may not read, a name with a NUL) says nothing of the file, and a
    screen that asks twice a second must not crash on it: the file is taken as there (its reader says the rest)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except (OSError, ValueError):
        return False
    return False


NAME_MAX, PATH_MAX = 255, 4096  # bytes: a name's and a whole path's most, on Linux and most file systems


def path_problem(text: str) -> str:
    """Why `text` can name no file here ('' when it may): a zero byte (pasted), a name longer than a file system
    keeps, or a path longer than the system takes. A screen field checks it as typed: Path.exists raised
    "File name too long" (or "embedded null byte") out of the field's handler, and the screen ended."""
    if "\0" in text:
        return "a path cannot hold a zero byte"
    raw = os.fsencode(text)
    if len(raw) >= PATH_MAX:
        return f"the path is too long ({len(raw)} bytes; at most {PATH_MAX - 1})"
    longest = max((len(os.fsencode(part)) for part in Path(text).parts), default=0)
    if longest > NAME_MAX:
        return f"a name in the path is too long ({longest} bytes; at most {NAME_MAX})"
    return ""


def broken_link(path: str | Path) -> str:
    """Why `path`, a symbolic link, leads to no file ('' where it is no link, or leads somewhere): a data file
    linked from elsewhere and moved since was "not found", as if the name itself were wrong."""
    p = Path(path)
    try:
        if not p.is_symlink():
            return ""
        target = os.readlink(p)
        p.resolve(strict=True)
    except RuntimeError:  # (Python < 3.13: a loop)
        return f"{path} is a symbolic link in a loop of links; point it at the file"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{path} is a symbolic link in a loop of links; point it at the file"
        return f"{path} is a symbolic link to {target}, which does not exist; point it at the file, or put it back"
    return ""


def is_file_here(path: str | Path) -> bool:
    """Whether `path` is a file this process can see; False for anything else and for a stat that fails."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def atomic_link(source: Path, dest: Path) -> Path | None:
    """`dest` made a second name of `source`'s file, atomically (a temp link renamed over it), so that a file
    already written whole is not written again; None, with nothing left behind, where the file system has no
    hard links (some network and FAT mounts). A full or read-only disk, or no `source`, is raised: writing a
    copy would fail the same way."""
    if dest.exists() and os.path.samefile(source, dest):
        return dest  # (a rename of a second name over the first is no rename: the temp link would stay)
    tmp = _temp_beside(dest)
    with _held(dest.parent) as folder:
        beside = folder is not None and source.parent == dest.parent  # (best.pt of last.pt: both in the folder held)
        _unlink(tmp, folder)
        try:
            os.link(source.name if beside else source, _at(tmp, folder), src_dir_fd=folder if beside else None,
                    dst_dir_fd=folder)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise
            return None  # EPERM, EMLINK, ENOTSUP, EXDEV...
        return _renamed_into_place(tmp, dest, folder)


def _renamed_into_place(tmp: Path, path: Path, folder: int | None = None) -> Path:
    """The whole temp file `tmp` renamed over `path` (the one moment a reader sees the new file), the rename made
    durable; the temp file removed if the rename fails. `folder`: both are names in that folder (`_held`)."""
    try:
        if folder is None:
            os.replace(tmp, path)
        else:
            os.replace(tmp.name, path.name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        _unlink(tmp, folder)
        raise
    if folder is None:
        _fsync_dir(path.parent)
    else:
        with contextlib.suppress(OSError):
            os.fsync(folder)
    return path


def _temp_beside(path: Path) -> Path:
    """The temp file a write of `path` by this process goes through (remove_stale_temps knows its name)."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")


def _written_beside(path: Path, write: Callable[[Any], None], mode: str = "wb", folder: int | None = None) -> Path:
    """A temp file beside `path`, written whole through `write(file)` and fsynced; removed if the write fails.
    `folder`: made in that folder (`_held`)."""
    tmp = _temp_beside(path)
    _unlink(tmp, folder)  # a killed write's temp may be a hard link of the file itself: never write into it
    opener = None if folder is None else (lambda name, flags: os.open(name, flags, 0o666, dir_fd=folder))
    try:
        with open(_at(tmp, folder), mode, opener=opener) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(tmp, folder)
        raise
    return tmp


def refuse_existing(path: str | Path, force: bool, other: str = "") -> None:
    """A file the user names that is already there is replaced only with --force (`other`: the flag that names
    another file, said with the refusal). A symlink counts as there even when what it names is not."""
    from .errors import UserError

    _refuse_unless_a_file(Path(path))  # (before "pass --force": forced, it would still be refused)
    if not force and os.path.lexists(path):
        raise UserError(f"{path} exists; pass --force to overwrite it" + (f", or name another file with {other}"
                                                                          if other else ""))


def open_own_log(path: Path) -> int:
    """A run folder's own log (events.jsonl, worker.log) opened to append to, as a descriptor: never written through
    a symbolic link (ELOOP), nor into a pipe (ENXIO) or a device (EINVAL). A folder from elsewhere may hold such a
    link: one whose events.jsonl named ~/.bashrc had a resume append to that."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_NONBLOCK", 0), 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is not a file")
    return fd


def open_to_append(path: Path) -> Any:
    """`open_own_log`, as a binary file."""
    return os.fdopen(open_own_log(path), "ab")


def _refuse_unless_a_file(path: Path) -> None:
    """A path a file is written to names a file, or nothing yet. The write is a rename over it: `-o /dev/null
    --force` (or a link to it) made the system's /dev/null a plain file, and a named pipe's reader lost it."""
    from .errors import UserError

    problem = path_problem(str(path))
    if problem:
        raise UserError(f"cannot write {str(path)[:80]!r}: {problem}; name a file")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError:  # (one that cannot be looked at is for the write to say)
        return
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
    raise UserError(f"cannot write {path}: it is {kind}, which a written file would replace; name a file")


def write_user_file(path: str | Path, data: bytes, own_run: bool = False) -> Path:
    """Atomic write to a path the user named; a missing folder or a refused write is one clear line, and so is
    a path that is a run's own file. `own_run`: the run itself writing it, whose failed write (a full disk) is
    raised as the OSError it is, for the run to say as its folder's (record.Recorder.cannot_write)."""
    return write_user_files([(Path(path), data)], own_run)[0]


def write_user_files(files: list[tuple[Path, bytes]], own_run: bool = False) -> list[Path]:
    """Files that belong together (a model's weights and the card that describes them), each as `write_user_file`
    writes one: every one is written whole beside its path first, and only then are they renamed into place. A
    write that fails (a full disk) leaves all of them as they were, never new weights beside an old card."""
    from .errors import UserError
    from .runs import refuse_run_file  # (runs imports this module)

    # a symlink the user named is written through, as the shell's `>` does: its target gets the bytes, the link
    # stays (an atomic rename over the link made it a plain file, and its target kept the old bytes)
    files = [(Path(os.path.realpath(path)) if not own_run and path.is_symlink() else path, data)
             for path, data in files]
    for path, _ in files:
        if not own_run:
            _refuse_unless_a_file(path)
        if not path.parent.is_dir():
            raise UserError(f"cannot write {path}: folder {path.parent} does not exist")
        if not own_run:
            refuse_run_file(path)
        remove_stale_temps(path)
    temps: list[Path] = []
    renamed: list[Path] = []
    path = files[0][0]
    try:
        for path, data in files:
            temps.append(_written_beside(path, functools.partial(_write_bytes, data=data)))
        for (path, _), tmp in zip(files, temps):
            os.replace(tmp, path)
            renamed.append(path)
    except OSError as e:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if own_run:  # the run writing its own folder: its failure to write it (job.writing_failed), not a refusal
            raise
        unwritten = [str(p) for p, _ in files if p != path and p not in renamed]
        raise UserError(f"cannot write {path}: {e.strerror or e}"
                        + (f"; {', '.join(unwritten)} not written either" if unwritten else "")
                        + (f" ({', '.join(map(str, renamed))} written)" if renamed else "")) from None
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(p.parent for p, _ in files):
        _fsync_dir(folder)
    return [p for p, _ in files]


STALE_SECONDS = 600  # a temp file untouched this long, of a process gone, is a killed write's


def remove_stale_temps(path: Path) -> None:
    """The temp files an earlier write of `path` left when its process was killed before the rename (kill -9,
    a lost machine): hidden files that would stay in the user's folder for good. Only those of a process that is
    not running here, untouched for STALE_SECONDS: on a folder other machines share, a pid says nothing of
    theirs, and a write in progress keeps touching its file."""
    import time

    from .runs import process_alive  # (runs imports this module)

    prefix = f"{TMP_PREFIX}{path.name}."
    try:
        found = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for tmp in found:
        pid = tmp.name[len(prefix):]
        try:
            if pid.isdigit() and not process_alive(int(pid)) and time.time() - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except OSError:  # another user's, or gone already: not ours to insist on
            pass


def _write_bytes(f: Any, data: bytes) -> None:
    f.write(data)


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
