"""Reading the table a user has, not the one we wish they had.

A CSV's format is guessed from a sample of its first lines - delimiter (`,` `;` tab `|` or
whitespace), metadata lines above the table, whether the first line is a header, decimal
comma, encoding (UTF-8 with or without BOM, else Windows-1252) and gzip - and every guess
can be overridden. The guess is reported (`TableFormat.describe`) so a wrong one is seen
before training, not after. The parsing itself is pandas' C reader: the sniffing only
decides its arguments.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import UserError

SAMPLE_BYTES = 1 << 18
SAMPLE_LINES = 200
DELIMITERS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_COMMA_DECIMAL = re.compile(r"^[+-]?\d*,\d+$")
_DOT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+([eE][+-]?\d+)?$")


@dataclass
class ReadOptions:
    """The user's overrides; "auto" (or -1 for skip_rows) leaves the choice to the sniffer."""

    sep: str = "auto"
    header: str = "auto"  # auto | yes | no
    skip_rows: int = -1
    decimal: str = "auto"
    encoding: str = "auto"


@dataclass
class TableFormat:
    kind: str = "csv"  # csv | json | parquet
    sep: str = ","
    header: bool = True
    skip_rows: int = 0
    decimal: str = "."
    encoding: str = "utf-8"
    compression: str | None = None
    spaces: bool = False  # blanks after separators ("a, b"): skipped, at twice the parse time, so only when seen
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind != "csv":
            return f"{self.kind}{' (' + self.compression + ')' if self.compression else ''}"
        sep = {"\t": "tab", WHITESPACE: "whitespace"}.get(self.sep, repr(self.sep))
        parts = [f"separator {sep}", f"decimal {self.decimal!r}", "header line" if self.header else "no header line",
                 f"encoding {self.encoding}"]
        if self.skip_rows:
            parts.append(f"{self.skip_rows} line(s) above the table skipped")
        if self.compression:
            parts.append(self.compression)
        return ", ".join(parts)

    def flags(self) -> str:
        """The flags that pin this guess down, for messages that suggest overriding it."""
        sep = "'\\t'" if self.sep == "\t" else repr(self.sep)
        out = [f"--sep {sep}", f"--decimal '{self.decimal}'", f"--skip-rows {self.skip_rows}"]
        if not self.header:
            out.append("--no-header")
        return " ".join(out)


def read_table(path: str | Path, options: ReadOptions | None = None,
               nrows: int | None = None) -> tuple[pd.DataFrame, TableFormat]:
    """(table with string column names, the format used). Every failure is one line naming the file."""
    opts = options or ReadOptions()
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path} not found; check the path")
    if p.is_dir():
        raise UserError(f"{path} is a folder; give a data file inside it")
    fmt = sniff(p, opts)
    try:
        frame = _read(p, fmt, nrows)
    except UnicodeDecodeError as e:
        raise UserError(f"{path} holds bytes that are not {fmt.encoding} text ({e.reason}); pass --encoding, "
                        f"e.g. --encoding latin-1") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty; it needs a header line and rows") from None
    except pd.errors.ParserError as e:
        msg = str(e).strip().splitlines()[-1]
        raise UserError(f"{path}: {msg} (read with {fmt.describe()}); "
                        f"fix that line, or set the format with {fmt.flags()}") from None
    except (ValueError, OSError, ImportError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if fmt.kind == "parquet" and ("engine" in text or isinstance(e, ImportError)):
            raise UserError(f"reading Parquet ({path}) needs pyarrow: pip install pyarrow; or save it as CSV") from None
        raise UserError(f"cannot read {path} as {fmt.kind}: {text}") from None
    if fmt.kind == "csv" and not fmt.header:
        frame.columns = [f"col{i + 1}" for i in range(frame.shape[1])]
    frame.columns = _unique([str(c).strip() for c in frame.columns])
    if frame.empty and nrows != 0:
        raise UserError(f"{path} has no data rows (read with {fmt.describe()})")
    return frame, fmt


def sniff(path: Path, opts: ReadOptions) -> TableFormat:
    name = path.name.lower()
    compression = "gzip" if name.endswith(".gz") else None
    stem = name[:-3] if compression else name
    if stem.endswith(".parquet"):
        return TableFormat(kind="parquet")
    if stem.endswith((".json", ".jsonl", ".ndjson")):
        return TableFormat(kind="json", compression=compression)

    raw = _sample(path, compression)
    fmt = TableFormat(compression=compression)
    text, fmt.encoding = _decode(raw, opts.encoding, fmt.notes)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(raw) >= SAMPLE_BYTES and lines:
        lines = lines[:-1]  # the sample may end mid-line
    lines = lines[:SAMPLE_LINES]
    if not lines:
        raise UserError(f"{path} is empty; it needs a header line and rows")

    fmt.sep = _choose_sep(lines, opts.sep)
    fmt.spaces = fmt.sep != WHITESPACE and any(f"{fmt.sep} " in line for line in lines)
    rows = [_split(line, fmt.sep) for line in lines]
    fmt.skip_rows = opts.skip_rows if opts.skip_rows >= 0 else _metadata_lines(rows)
    body = rows[fmt.skip_rows:]
    if not body:
        raise UserError(f"{path} has no lines left after skipping {fmt.skip_rows}; lower --skip-rows")
    fmt.decimal = opts.decimal if opts.decimal != "auto" else _choose_decimal(body, fmt.sep)
    if opts.header == "auto":
        fmt.header = _looks_like_header(body)
    else:
        fmt.header = opts.header == "yes"
    return fmt


def looks_like_table(path: Path, lines: int = 20) -> bool:
    """Whether a text file's first lines are a table: two or more of them, each with the same number
    (two or more) of fields. Notes and logs saved as .txt are not; what the screen lists as data is."""
    try:
        fmt = sniff(path, ReadOptions())
        raw = _sample(path, fmt.compression)
        text, _ = _decode(raw, "auto", [])
    except UserError:
        return False
    rows = [line for line in text.splitlines() if line.strip()]
    if len(raw) >= SAMPLE_BYTES:
        rows = rows[:-1]  # the sample may end mid-line
    rows = rows[fmt.skip_rows:fmt.skip_rows + lines]
    counts = {len(_split(line, fmt.sep)) for line in rows}
    return len(rows) >= 2 and len(counts) == 1 and counts.pop() >= 2


def _read(p: Path, fmt: TableFormat, nrows: int | None) -> pd.DataFrame:
    if fmt.kind == "parquet":
        frame = pd.read_parquet(p)
        return frame.head(nrows) if nrows is not None else frame
    if fmt.kind == "json":
        lines = p.name.lower().rstrip(".gz").endswith((".jsonl", ".ndjson"))
        frame = pd.read_json(p, lines=lines, compression=fmt.compression or "infer")
        return frame.head(nrows) if nrows is not None else frame
    sep = r"\s+" if fmt.sep == WHITESPACE else fmt.sep
    return pd.read_csv(p, sep=sep, header=0 if fmt.header else None, skiprows=fmt.skip_rows, decimal=fmt.decimal,
                       encoding=fmt.encoding, compression=fmt.compression, skipinitialspace=fmt.spaces, nrows=nrows)


def _sample(path: Path, compression: str | None) -> bytes:
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as f:
                return f.read(SAMPLE_BYTES)
        with open(path, "rb") as f:
            return f.read(SAMPLE_BYTES)
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _decode(raw: bytes, wanted: str, notes: list[str]) -> tuple[str, str]:
    if wanted != "auto":
        try:
            codecs.lookup(wanted)
        except LookupError:
            raise UserError(f"data.encoding {wanted!r} is not an encoding Python knows; "
                            "try utf-8, latin-1 or cp1252") from None
        return raw.decode(wanted, errors="replace"), wanted
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(raw) - 3:  # a character cut by the sample's end
            return raw[: e.start].decode("utf-8"), "utf-8"
    try:
        text = raw.decode("cp1252")
        notes.append("not UTF-8: read as cp1252 (Windows Western European); pass --encoding to choose another")
        return text, "cp1252"
    except UnicodeDecodeError:
        notes.append("not UTF-8: read as latin-1; pass --encoding to choose another")
        return raw.decode("latin-1"), "latin-1"


def _split(line: str, sep: str) -> list[str]:
    if sep == WHITESPACE:
        return line.split()
    return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])


def _choose_sep(lines: list[str], wanted: str) -> str:
    if wanted != "auto":
        return {"tab": "\t", "\\t": "\t", "space": WHITESPACE, "whitespace": WHITESPACE}.get(wanted, wanted)
    body = lines[1:] if len(lines) > 2 else lines  # the first line may be metadata
    best, best_score = ",", (-1.0, 0.0, 0)
    for sep in (*DELIMITERS, WHITESPACE):
        counts = [len(_split(line, sep)) for line in body]
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        consistency = counts.count(mode) / len(counts)
        fields = [f for line in body[:50] for f in _split(line, sep)]
        numeric = sum(bool(_NUMBER.match(f.strip())) for f in fields) / max(len(fields), 1)
        score = (consistency, numeric, -DELIMITERS.index(sep) if sep in DELIMITERS else -9)
        if score > best_score:
            best, best_score = sep, score
    return best


def _metadata_lines(rows: list[list[str]]) -> int:
    """Lines above the table: a field count unlike the rows below, or neither names nor values."""
    if len(rows) < 3:
        return 0
    counts = [len(r) for r in rows]
    mode = max(set(counts[1:]), key=counts[1:].count)
    numeric_cols = _numeric_columns(rows[min(len(rows) - 1, 5):], mode)
    skip = 0
    while skip < min(5, len(rows) - 2):
        row = rows[skip]
        if len(row) != mode:
            skip += 1
            continue
        numeric_here = [bool(_NUMBER.match(f.strip())) for f in row]
        data_like = all(numeric_here[i] or not f.strip() for i, f in enumerate(row) if numeric_cols[i])
        header_like = not any(numeric_here[i] for i in range(len(row)) if numeric_cols[i])
        if data_like or header_like:
            break
        skip += 1
    return skip


def _numeric_columns(rows: list[list[str]], width: int) -> list[bool]:
    cols = []
    for i in range(width):
        values = [r[i].strip() for r in rows if len(r) == width and r[i].strip()]
        cols.append(bool(values) and sum(bool(_NUMBER.match(v)) for v in values) >= 0.9 * len(values))
    return cols


def _choose_decimal(rows: list[list[str]], sep: str) -> str:
    if sep == ",":
        return "."
    fields = [f.strip() for r in rows[1:] for f in r]
    comma = sum(bool(_COMMA_DECIMAL.match(f)) for f in fields)
    dot = sum(bool(_DOT_DECIMAL.match(f)) for f in fields)
    return "," if comma > dot else "."


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first line of numbers is data; a first line with a name over a numeric column is a header."""
    width = len(rows[0])
    if len(rows) < 2:
        return True
    numeric_cols = _numeric_columns(rows[1:], width)
    first = [f.strip() for f in rows[0]]
    if any(numeric_cols):
        return any(numeric_cols[i] and f and not _NUMBER.match(f) for i, f in enumerate(first) if i < len(numeric_cols))
    return True  # all-text columns: a header is by far the likelier


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name or "unnamed"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def preview(frame: pd.DataFrame, rows: int = 5, width: int = 12) -> list[str]:
    """The first rows as aligned text, the way a user checks that a file was read right."""
    cols = list(frame.columns)
    body = [["" if pd.isna(v) else str(v) for v in row] for row in frame.head(rows).itertuples(index=False)]
    cells = [[c[:width] for c in cols]] + [[v[:width] for v in row] for row in body]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
