"""What the Data pane shows about a dataset before training: its columns, types and first rows,
and what preparation would make of it (notices, inputs, classes) - computed by the core."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.datasets import BUILTINS
from tui.core.errors import UserError
from tui.core.spec import DataSpec, is_data_name

from .screen_words import on_screen
from .visible_text import visible

if TYPE_CHECKING:
    from tui.core.data import Prepared

LOOSE_SUFFIXES = (".tsv", ".txt", ".tsv.gz", ".txt.gz")  # listed only when their content reads as a table


@dataclass
class DataView:
    spec: DataSpec
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    rows: list[list[str]] = field(default_factory=list)  # the first rows, as text
    prepared: Prepared | None = None
    error: str = ""  # in the screen's words (screen_words.py): the pane, its toast and ctrl+r's refusal say it alike
    notes: list[str] = field(default_factory=list)  # a refusal's: what was read and decided before it


def load(spec: DataSpec, seed: int) -> DataView:
    """Columns and first rows of the table, then the full preparation; a user's mistake in
    either ends up in `error`, never as an exception, so the pane can show it.
    Runs in a worker thread: pandas and torch are first imported here, after the first frame."""
    from tui.core import user_dataset
    from tui.core.data import prepare, read_options
    from tui.core.preprocess import reading_of
    from tui.core.reader import read_table

    view = DataView(spec)
    try:
        if spec.dataset in BUILTINS:
            head = BUILTINS[spec.dataset].frame(seed).head(200)
        elif user_dataset.is_class_path(spec.dataset):
            head = None
        else:
            if not Path(spec.dataset).exists():
                raise UserError(f"{spec.dataset} does not exist; pick a dataset from the list or type a path")
            head = read_table(spec.dataset, read_options(spec), nrows=200)[0]
        if head is not None:
            _show_head(view, head)
        view.prepared = prepare(spec, seed)
        reading = reading_of(view.prepared.pre)
        if head is not None and reading.text:  # classes written with leading zeros: shown as the run reads them
            _show_head(view, read_table(spec.dataset, read_options(spec, reading), nrows=200)[0])
        view.columns = used_kinds(view.columns, view.prepared)
    except UserError as e:
        view.error, view.notes = on_screen(str(e)), list(e.notes)
    except Exception as e:  # a file the readers choke on is still the user's file, not our crash
        view.error = f"cannot read {spec.dataset}: {type(e).__name__}: {e}"
    return view


def _show_head(view: DataView, head) -> None:
    view.columns = [(str(c), _kind(head[c])) for c in head.columns]
    view.rows = [[_cell(v) for v in row] for row in head.head(8).itertuples(index=False)]


# The characters an entry of the Data pane's list has before it wraps: #data-left is 34 wide in app.tcss, less the
# list's border (2), padding (2) and a scrollbar (2) once the list is longer than the pane.
LABEL_WIDTH = 28


DATA_FOLDERS = (Path("datasets"), Path("."))


def folders_stamp(folders: tuple[Path, ...] = DATA_FOLDERS) -> tuple:
    """What the list shows of the data folders, as cheaply as it can be read: each data-named file's name, size
    and mtime (a copy still being written is listed at its final size once it ends; a .txt that became a table is
    sniffed again). None for a folder that is not there."""
    stamps: list[tuple | None] = []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                stamps.append(tuple(sorted((e.name, st.st_size, st.st_mtime_ns) for e in entries
                                           if not e.name.startswith(".") and is_data_name(e.name) and e.is_file()
                                           for st in (e.stat(),))))
        except OSError:  # not there, not readable, or a file gone between the listing and its stat
            stamps.append(None)
    return tuple(stamps)


def candidates(folders: tuple[Path, ...] = DATA_FOLDERS) -> list[tuple[str, str]]:
    """(value, label) for each built-in dataset and each data file in ./datasets and here. Hidden files are left
    out: a `._iris.csv` a Mac's copy leaves beside each file is no dataset (the path box still takes any path).
    Each label is one line of the list: a wrapped one put a file's size, or a built-in set's task, on a line
    of its own and doubled the list's height."""
    out = [(b.name, f"{b.name:<{LABEL_WIDTH - 15}} {b.task}") for b in BUILTINS.values()]
    seen: set[Path] = set()
    files: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if (not p.name.startswith(".") and p.is_file() and is_data_name(p.name)
                    and p.resolve() not in seen and _table(p)):
                seen.add(p.resolve())
                files.append(p)
    names = [p.name for p in files]
    for p in files:  # by its name, which the list has room for; by its path where two share a name (either as
        # the screen shows a file's name: its control characters as escapes)
        shown = visible(p.name if names.count(p.name) == 1 else str(p))
        out.append((str(p), _file_label(shown, _size(p.stat().st_size))))
    return out


def _file_label(name: str, size: str) -> str:
    room = LABEL_WIDTH - len(size) - 1
    if len(name) > room:  # cut in the middle: results_2024_01.csv and results_2024_02.csv stay two labels
        keep = room - 1
        name = name[:keep - keep // 2] + "…" + name[len(name) - keep // 2:]
    return f"{name:<{room}} {size}"


def _table(p: Path) -> bool:
    """Files named for tables are listed as they are; a .txt or .tsv only when it reads as a table."""
    from tui.core.reader import looks_like_table

    return not p.name.lower().endswith(LOOSE_SUFFIXES) or looks_like_table(p)


def _kind(col) -> str:
    kind = col.dtype.kind
    if kind in "iu":
        return "int"
    if kind == "f":
        return "float"
    if kind == "b":
        return "bool"
    return "text"


def used_kinds(columns: list[tuple[str, str]], prepared: Prepared) -> list[tuple[str, str]]:
    """Each column's type as training uses it, where the reader's differs: a number column with one stray cell
    ('abc', counted as empty) reads as text, and the Features list called it text while it is used as numbers."""
    used = {c.name: c.kind for c in prepared.pre.columns}
    out = []
    for name, kind in columns:
        if used.get(name) == "numeric" and kind == "text":
            kind = "float"
        elif used.get(name) == "categorical" and kind != "text":
            kind = f"{kind} as categories"
        out.append((name, kind))
    return out


def _cell(v) -> str:
    """A preview cell as the file has it: an empty cell blank, not pandas' 'nan' or '<NA>'."""
    import pandas as pd  # (loaded by then: the rows come from it)

    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
