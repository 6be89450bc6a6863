"""Reading the table a user has, not the one we wish they had.

A CSV's format is guessed from a sample of its first lines - delimiter (`,` `;` tab `|` or
whitespace), metadata lines above the table, whether the first line is a header, decimal
comma, encoding (UTF-8 with or without BOM, else Windows-1252) and gzip (by its magic bytes,
whatever the file's name) - and every guess can be overridden. The guess is reported
(`TableFormat.describe`) so a wrong one is seen before training, not after, and a refusal
that may follow from it says how to override it (`TableFormat.hint`). A file that is not
text (a checkpoint, an image, an archive) is refused as such, not as a CSV with bad lines.
The parsing itself is pandas' C reader: the sniffing only decides its arguments.

The header is found by comparing the first line with the columns below it: a cell that is
text over a column of numbers, a number over a column of text, or a whole number far outside
a column of decimals (years over prices), or a run of 3+ evenly spaced whole numbers outside
their columns' ranges (2008, 2009, 2010 over counts) makes it a header, even when every
name is a number. tests/bench/sniffers.py measures this against CleverCSV.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import re
import shlex
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import UserError

SAMPLE_BYTES = 1 << 18
SAMPLE_LINES = 200
DELIMITERS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_COMMA_DECIMAL = re.compile(r"^[+-]?\d*,\d+$")
_DOT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+([eE][+-]?\d+)?$")
_EITHER_MARK = re.compile(r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$")  # '2.096', '1,500': a decimal, or a thousand
# dots that can only group thousands: two or more groups (3.981.987), or groups before a decimal comma (1.234,5)
_DOT_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(\.\d{3}){2,}(,\d+)?$|^[+-]?\d{1,3}(\.\d{3})+,\d+$")
_INTEGER = re.compile(r"^[+-]?\d+$")
COLUMN_N = re.compile(r"col[1-9]\d*")  # the names a file without a header line gives its columns (fullmatch)
MISSING_MARKS = {"", "?", "na", "n/a", "nan", "null", "none", "-", "--", ".", "#n/a"}  # a cell said empty
# a spreadsheet's error values, written into a CSV where a formula failed: no number was there to write
SHEET_ERRORS = {"#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#n/a", "#na", "#error!", "#n/a n/a"}
# cells pandas reads as empty in every column that are words in a column of words: a region NA (North America), a
# severity None (`_words_kept`). Its other marks (NaN, NULL, n/a, #N/A, ...) say "no value" in any column.
PANDAS_EMPTY_WORDS = ("NA", "None")
_QUOTES = ("'", '"')
_FIELD_STARTS = ",;\t| "  # what may come before a field's opening quote: a separator (any we sniff) or a blank
# the first bytes of files that are not text tables: (magic, what it looks like)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a NumPy array (.npy)"), (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"SQLite format 3\x00", "an SQLite database"), (b"\x7fELF", "a program (ELF)"), (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
_GZIP = b"\x1f\x8b"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_CHECKPOINT_NAMES = (".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class Reading:
    """Rules for cells and columns that came in after models had been trained by the rules before them. A model's
    files are read by the rules it was trained under (preprocess.reading_of): its resume, predictions, evaluations,
    export and validation table read them as it did, or a run that was fine became 'data changed' and its model's
    answers changed without a word."""

    question_marks: bool = True  # a lone '?' in a column of words is empty (`_question_marks`)
    words: bool = True  # 'NA' and 'None' in a column of words are values (`_words_kept`), not pandas' empty cells
    # (column, word): a model's category or class 'NA' or 'None', a value in its files whatever the column's other
    # cells (a file for predict whose region column is NA alone was read as empty)
    known: frozenset[tuple[str, str]] = frozenset()
    # a class column of whole numbers some written with leading zeros (001, 02134) keeps its labels as written
    # (data._class_codes); False in a model trained before, whose classes are the numbers (1, 2134)
    codes: bool = True
    text: frozenset[str] = frozenset()  # columns read as written, as text: a model's classes that are such codes
    # a JSON file's codes in quotes ("001", which pandas makes 1) are codes too; False in a model trained before,
    # whose classes are the numbers
    quoted: bool = True
    # the model's file had no header line (its columns are col1, col2, ...): a file of one line for it is a row of
    # data, where a line alone is otherwise taken for a header (one person of UCI's adult data: 'no data rows')
    headerless: bool = False
    # a column is an identifier by its name only where the name is one's and its numbers whole: a header cell left
    # empty (pandas' 'Unnamed: 2') names none but the first column's (to_csv's index); False in a model trained
    # before, which left such columns out (data._named_like_an_id)
    ids: bool = True
    # a line above the rows with some names left empty ("x,,,label") is their header (`_gapped_header`), not a
    # title padded with separators; False in a model trained before, whose files were read without a header line
    gaps: bool = True
    # a name in camel case ending in Id or ID (PassengerId) says identifier too (data._named_like_an_id); False in a
    # model trained before, which took such a column as a feature
    camel: bool = True
    # a text column of dates is left out however often each date repeats (hourly rows: 24 a day); False in a model
    # trained before, which left out only one whose dates were mostly distinct, and encoded the others
    dates: bool = True
    # the decimal mark is told by the cells only one mark can write ('0,61': a comma; '1234.5': a dot) before those
    # either could ('2.096' is a decimal or a thousand, `_choose_decimal`); False in a model trained before
    marks: bool = True
    # the decimal mark of the model's training file: a file whose cells could be written with either (a few rows
    # of '2.096') is read with it, as the model was trained; '' where no model says
    decimal: str = ""
    # numbers in the forms spreadsheets write beyond the file's own marks (`_formatted_numbers`): a column of decimal
    # commas in a file of decimal dots ('"0,420"', '"1,92"': no group of thousands starts with 0 or has two digits),
    # or the reverse, accounting negatives '(1,067.49)', the minus sign U+2212; False in a model trained before,
    # which read '0,420' as 420 and left the others out as text
    forms: bool = True
    # (column, decimal mark): the mark each of a model's columns of numbers written for people was read with - its
    # files' cells of that column are read with that mark only, or '6,476' alone would be 6476 for a model that read
    # the column's '0,420' as 0.42
    number_marks: frozenset[tuple[str, str]] = frozenset()
    # a column whose cells are numbers but those that mark a missing value ('-', 'n/a', a spreadsheet's '#DIV/0!')
    # is numbers with those cells empty however many there are (`_marked_numbers`); False in a model trained before,
    # for which it took 90% numbers (a '-' in a quarter of its cells left a column of numbers out as free text)
    marked_numbers: bool = True
    # a line among a CSV's rows that is none: its header line again (two files joined with theirs, `cat a.csv
    # b.csv`), a '#' comment; refused naming its row (`_refuse_stray_lines`); False in a model trained before, whose
    # files were read with it as a row (--missing drop left it out; impute trained the header's target as a class)
    stray_lines: bool = True
    # what may follow a number written for people (`_formatted_numbers`): one unit on every cell of its column
    # ('190 cm', '87.9 kg', '4 yrs', '1 year' and '5 years'), and the minus sign SAP writes after a negative
    # ('2.583,07-'); False in a model trained before, which one-hot encoded such a column or left it out
    suffixes: bool = True
    # a text target with most rows a label of its own (names, ids) is refused (data._refuse_labels_that_name_rows);
    # False in a model trained before, which trained on it (its resume must not be refused)
    named_rows: bool = True
    # a header line over rows that each end in a separator ('a;b;y' over '1;2;3;': Excel's, SAS's) is the header,
    # whatever its first column holds (`_header_of_rows_ending_empty`); False in a model trained before, which
    # skipped it as a line above the table in a tab or ';' file and named the columns col1, col2, ...
    row_ends: bool = True
    # a column of durations or clock times ('2:41:07', '4:32.5', '1h 5m', '0 days 01:23:45') is numbers
    # (`_durations`, tui/core/durations.py); False in a model trained before, which left it out as dates or took
    # each value for a class
    durations: bool = True
    # (column, form) of each column a model read as durations: its other files are read in those forms only (None:
    # no model yet, each column's form found from its cells)
    duration_forms: frozenset[tuple[str, str]] | None = None
    # numbers written with a currency sign beyond $ € £ ¥ (₹ ₩ ₽ ₺ ₫ ₱ ₦ ₪ ฿, 'Rs.' before), and India's grouping
    # of digits ('12,34,567', '₹ 4,50,000') are numbers (`_people_number`); False in a model trained before, which
    # left such a column out as free text or encoded it value by value
    currencies: bool = True
    # in a file whose text is all in quotes (R's write.csv), a quoted "NA" is the text NA (Namibia's code, North
    # America) and only a bare NA a missing value (`_quoted_na_cells`); False in a model trained before, which read
    # both as empty
    quoted_na: bool = True
    # a first line with a run of 8 or more whole numbers counting up by one ('store,0,1,...,23,busy': a pivot
    # table's hours, days 1..31) is a header even where the numbers fit their columns (`_a_long_count`); False in
    # a model trained before, which read it as a row (and warned)
    counts: bool = True
    # a row with no value in any cell (a spreadsheet's ',,,,' line) is left out before the columns are chosen
    # (data.without_blank_rows); False in a model trained before, whose columns were chosen with it
    blank_rows: bool = True


# The rules above that a model keeps as they were when it trained, one flag each: True in `Reading` (today's reading),
# a field of the same name in preprocess.Preprocessor, False there in a model trained before the rule (and left out
# of its checkpoint then, as such a model wrote it). This one list makes the model's flags from the reading it
# trained under, drops the rules it was trained before from its checkpoint, and reads its flags back
# (preprocess.reading_of); a new rule is a field of each dataclass and a name here. The rules a model keeps with
# more than a flag (decimal, number_marks, duration_forms) are done beside it.
VERSIONED_RULES = ("words", "codes", "ids", "gaps", "camel", "dates", "quoted", "forms", "marked_numbers",
                   "stray_lines", "suffixes", "named_rows", "row_ends", "durations", "currencies", "quoted_na",
                   "counts", "blank_rows")


@dataclass
class ReadOptions:
    """The user's overrides; "auto" (or -1 for skip_rows) leaves the choice to the sniffer."""

    sep: str = "auto"
    header: str = "auto"  # auto | yes | no
    skip_rows: int = -1
    decimal: str = "auto"
    encoding: str = "auto"
    reading: Reading = field(default_factory=Reading)  # a model's files by the rules it was trained under


@dataclass
class TableFormat:
    kind: str = "csv"  # csv | json | parquet
    sep: str = ","
    header: bool = True
    skip_rows: int = 0  # the lines above the table, blank ones among them counted (as pandas' skiprows counts)
    skip_records: int = 0  # the lines of text among them (the sniffer's rows hold no blank line)
    decimal: str = "."
    encoding: str = "utf-8"
    compression: str | None = None
    spaces: bool = False  # blanks after separators ("a, b"): skipped, at twice the parse time, so only when seen
    notes: list[str] = field(default_factory=list)
    header_detected: bool = False  # `header` was the sniffer's decision, not the user's
    skip_detected: bool = False  # `skip_rows` was the sniffer's decision, not the user's
    row_names: bool = False  # the header has no name for the first column (R's write.table): row names, dropped
    quoted_names: bool = False  # a header name in quotes pandas keeps ('vote' with tabs): `column_name` drops them
    names: list[str] = field(default_factory=list)  # the header line's cells as sniffed (pandas renames repeats)
    row_end: str = ""  # a separator ends each line: "rows" (the data rows only), "all" (the header too), or ""
    decimal_unseen: bool = False  # `decimal` was the sniffer's '.' with no decimal mark in the sample to tell
    # known once the table is read: the columns of numbers written for people (`_formatted_numbers`), and the
    # JSON columns of objects (expanded into columns) and of lists (kept as JSON text), as `_flat` did them
    formatted: list[str] = field(default_factory=list)
    column_marks: dict[str, str] = field(default_factory=dict)  # a formatted column's decimal mark where not `decimal`
    signed: list[str] = field(default_factory=list)  # formatted columns with '(12.5)' negatives or the minus U+2212
    zeros: list[str] = field(default_factory=list)  # formatted columns with accounting's zero '$ -' (`_as_sheet_shows`)
    units: dict[str, str] = field(default_factory=dict)  # a formatted column's unit after each number ('190 cm')
    durations: dict[str, str] = field(default_factory=dict)  # a column of durations or clock times: its form
    quoted_na: list[int] = field(default_factory=list)  # places of columns whose "NA" in quotes is the text NA
    empty_tail: int = 0  # columns at the right end without a name or a value, left out
    marked: list[str] = field(default_factory=list)  # text columns whose '?' cells read as empty (`_question_marks`)
    marked_numbers: list[str] = field(default_factory=list)  # columns of numbers whose marks read as empty (idem)
    # read with 'NA' and 'None' as text (`_words_kept`: some cells held them), its columns of numbers then taken
    # from pandas' own reading (their places in pandas' table as read): the exported script reads alike
    words_read: bool = False
    pandas_columns: list[int] = field(default_factory=list)
    worded: list[str] = field(default_factory=list)  # the columns whose 'NA' and 'None' are values
    quoted_text: bool = False  # every text cell in quotes, a missing value a bare NA: R's write.csv (`_r_quoting`)
    objects: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    text_fields: list[int] = field(default_factory=list)  # the fields read as text (Reading.text), by place in a line
    text_columns: list[str] = field(default_factory=list)  # a JSON file's columns read as text (Reading.text)
    orient: str = ""  # a JSON object's shape as pandas' to_json writes it, where the default reading is not it
    keyed: bool = False  # a JSON file that is one object of objects ({"k": {"x": ...}}): rows by key, or columns

    def describe(self) -> str:
        if self.kind != "csv":
            shape = (", one object with a row per key" if self.orient == "index"  # (a dict by id, or to_json's)
                     else f", one object in pandas' {self.orient!r} layout" if self.orient else "")
            return f"{self.kind}{' (' + self.compression + ')' if self.compression else ''}{shape}"
        sep = {"\t": "tab", WHITESPACE: "whitespace"}.get(self.sep, repr(self.sep))
        parts = [f"separator {sep}", f"decimal {self.decimal!r}", "header line" if self.header else "no header line",
                 f"encoding {self.encoding}"]
        if self.skip_rows:
            parts.append(f"{self.skip_rows} line(s) above the table skipped")
        if self.compression:
            parts.append(self.compression)
        return ", ".join(parts)

    def hint(self, found_header: bool = True) -> str:
        """What the sniffer decided about the header and the lines above it, and the flag that overrides
        it, for refusals that may follow from a wrong guess ("" when the user set both). `found_header`
        False leaves out a header that was found (a column name not among its names is rarely its fault)."""
        if self.kind != "csv":
            return ""
        parts = []
        if self.header_detected and self.header:
            if found_header:
                parts.append("read with a header line: the first line looked like column names; "
                             "pass --no-header if it is data")
        elif self.header_detected:
            parts.append("read without a header line: the first line looked like data; "
                         "pass --header if it names the columns")
        return "; ".join([*parts, *filter(None, [self.skipped_said()])])

    def skipped_said(self) -> str:
        """The lines above the table the sniffer skipped, and how to keep them ("" where none, or the user's)."""
        if not (self.kind == "csv" and self.skip_detected and self.skip_rows):
            return ""
        return f"{self.skip_rows} line(s) above the table skipped as metadata; pass --skip-rows 0 to keep them"

    def said(self) -> list[str]:
        """What a command reading this file for a model (predict, eval) says of how it read it: the notes, and
        the lines above the table it skipped, which a training run says in its 'read' line."""
        return [*self.notes, *filter(None, [self.skipped_said()])]

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
    refuse_pipe(p)
    if not p.exists():
        from .files import broken_link

        raise UserError(broken_link(p) or f"{path} not found; check the path")
    if p.is_dir():
        raise UserError(f"{path} is a folder; give a data file inside it")
    fmt = sniff(p, opts)
    if fmt.kind == "csv" and opts.reading.text:
        fmt.text_fields = _fields_named(fmt, opts.reading.text)
    elif fmt.kind == "json":
        fmt.text_columns = sorted(opts.reading.text)
    try:
        frame = _read(p, fmt, nrows, opts.reading)
        late = _late_decimal_commas(frame) if fmt.decimal_unseen else ""
        if late:
            fmt.decimal = ","
            fmt.notes.append(f"column {late} has numbers with a decimal comma below the lines read to tell the format "
                             "(none above): read with decimal ','; pass --decimal . if the comma means another thing")
            fmt.worded.clear()
            fmt.pandas_columns.clear()
            fmt.notes[:] = [n for n in fmt.notes if not n.endswith((_WORDS_NOTE_END, _R_NOTE_END))]
            frame = _read(p, fmt, nrows, opts.reading)
    except UnicodeDecodeError as e:
        mixed = _late_mixed_encodings(p, fmt.compression) if fmt.encoding in ("utf-8", "utf-8-sig") else ""
        if mixed:
            raise UserError(f"{path}: {mixed}") from None
        raise UserError(f"{path} holds bytes that are not {fmt.encoding} text ({e.reason}); pass --encoding, "
                        f"e.g. --encoding latin-1") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty; it needs a header line and rows") from None
    except pd.errors.ParserError as e:
        msg = _tokenizing(str(e).strip().splitlines()[-1])
        comment = _comment_in_line(p, fmt, msg)
        if comment:
            raise UserError(f"{path}: line {comment[0]} is a comment line ({comment[1]!r}), inside the table; delete "
                            f"it, e.g. `grep -v '^#' {shlex.quote(p.name)} > clean.csv`") from None
        raise UserError(f"{path}: {msg} (read with {fmt.describe()}); put a field that holds the separator in "
                        f"quotes, or fix that line, or set the format with {fmt.flags()}") from None
    except (ValueError, OSError, ImportError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if fmt.kind == "parquet" and ("engine" in text or isinstance(e, ImportError)):
            raise UserError(f"reading Parquet ({path}) needs pyarrow: pip install pyarrow; or save it as CSV") from None
        raise UserError(f"cannot read {path} as {fmt.kind}: {text}") from None
    if fmt.kind == "csv" and not fmt.header:
        frame.columns = [f"col{i + 1}" for i in range(frame.shape[1])]
    if fmt.row_names:
        frame = frame.reset_index(drop=True)
    names = [column_name(c) for c in frame.columns]
    frame.columns = _unique(names)
    said = fmt.names if len(fmt.names) == len(names) else names  # pandas has renamed a csv header's repeats
    if fmt.kind == "csv" and fmt.header and nrows is None:
        frame, said = _without_empty_columns_at_the_end(frame, fmt, said)
    for name in dict.fromkeys(n for n in said if said.count(n) > 1):  # renamed without a word, before
        fmt.notes.append(f"{said.count(name)} columns are named {name or 'unnamed'!r}: read as "
                         + ", ".join(c for c, n in zip(frame.columns, said) if n == name))
    if opts.reading.stray_lines and fmt.kind == "csv":
        _refuse_comment_lines(path, frame)
        if fmt.header:
            _refuse_stray_lines(path, frame, said)
    _formatted_numbers(frame, fmt, opts.reading, told=opts.decimal != "auto")
    if opts.reading.durations:
        _durations(frame, fmt, opts.reading.duration_forms)
    if fmt.formatted:  # numbers written for people ('12%'), their 'NA' read as empty there: no column of words
        said = [f"column {c}: " for c in fmt.worded if c in fmt.formatted]
        fmt.notes[:] = [n for n in fmt.notes if not (n.endswith(_WORDS_NOTE_END) and n.startswith(tuple(said)))]
        fmt.worded[:] = [c for c in fmt.worded if c not in fmt.formatted]
    if opts.reading.question_marks:
        _question_marks(frame, fmt)
    if opts.reading.marked_numbers:
        _marked_numbers(frame, fmt)
    if frame.empty and nrows != 0:
        hint = fmt.hint()
        raise UserError(f"{path} has no data rows (read with {fmt.describe()}{'; ' + hint if hint else ''})")
    return frame, fmt


def _refuse_stray_lines(path: str | Path, frame: pd.DataFrame, names: list[str]) -> None:
    """Rows whose every cell is its column's name: the header line again, of a second file joined on with its own
    (`cat a.csv b.csv`). Read as a row, its text made each column of numbers text (refused as 'non-numeric cells'
    one column at a time), --missing drop left it out without a word and impute trained the target's name as a
    class. Refused, naming the rows and the fix. A column of numbers cannot hold a name that is no number: most
    files are passed over without looking at a cell."""
    if len(frame) < 2 or len(names) != frame.shape[1] or not any(n.strip() and not _a_number(n) for n in names):
        return
    hit = np.ones(len(frame), dtype=bool)
    for i, written in enumerate(names):
        col, name = frame.iloc[:, i], written.strip()
        if pd.api.types.is_bool_dtype(col):
            return
        if pd.api.types.is_numeric_dtype(col):
            if not _a_number(name):
                return
            hit &= col.to_numpy(dtype=np.float64, na_value=np.nan) == float(name)
        elif name:  # (the line again, as written; or its cells stripped of the blanks its writer put after ',')
            hit &= _cells_are(col, hit, written) | (_cells_are(col, hit, name) if name != written else False)
        else:
            hit &= col.isna().to_numpy()
        if not hit.any():
            return
    rows = np.flatnonzero(hit) + 1
    raise UserError(f"{path}: data row{'s' * (len(rows) > 1)} {rows_said(rows)} repeat{'s' * (len(rows) == 1)} "
                    "the header line (files joined with their headers, e.g. `cat a.csv b.csv`); delete "
                    f"{'those lines' if len(rows) > 1 else 'that line'}, or join the files without them "
                    "(`tail -n +2 b.csv >> a.csv`)")


def _refuse_comment_lines(path: str | Path, frame: pd.DataFrame) -> None:
    """Rows that are '#' comments among the rows ('# second batch, measured 2024-05-01' in a sensor log): read as a
    row, the comment's pieces made its columns of numbers text (refused one by one as 'non-numeric cells'), and
    --missing drop or impute kept or dropped it without a word. A row is a comment where its first cell starts with
    '#' and the row fits no row: its other cells empty, or text where a column holds numbers. Rare in a column
    ('#ff0000' colours in every row are values)."""
    if not frame.shape[1] or pd.api.types.is_numeric_dtype(frame.iloc[:, 0]):
        return
    first = frame.iloc[:, 0]
    try:
        hashed = first.str.startswith("#", na=False).to_numpy(dtype=bool)
    except AttributeError:  # (no text in it: no comment)
        return
    if not hashed.any() or hashed.sum() > max(3, 0.05 * len(frame)):
        return
    rest = frame.iloc[:, 1:]
    comment = hashed & (rest.isna().all(axis=1).to_numpy() if rest.shape[1] else True)
    for i in range(frame.shape[1]):
        cells = frame.iloc[:, i]
        if pd.api.types.is_numeric_dtype(cells):
            continue  # (a comment's cell there is empty or a number)
        numbers = pd.to_numeric(cells, errors="coerce")
        others = numbers[~hashed]
        if len(others) and others.notna().mean() >= 0.9:  # a column of numbers: text there is no row's
            comment |= hashed & numbers.isna().to_numpy() & cells.notna().to_numpy()
    rows = np.flatnonzero(comment) + 1
    if not len(rows):
        return
    text = str(first.iloc[rows[0] - 1]).strip()
    text = text if len(text) <= 40 else text[:37] + "..."
    many = len(rows) > 1
    raise UserError(f"{path}: data row{'s' * many} {rows_said(rows)} "
                    f"{'are comment lines' if many else 'is a comment line'} ({text!r}), not "
                    f"{'rows' if many else 'a row'}; delete {'them' if many else 'it'}, e.g. "
                    f"`grep -v '^#' {shlex.quote(Path(path).name)} > clean.csv`")


def rows_said(rows: Any) -> str:
    """Row numbers as a refusal or warning names them: the first five, and how many more."""
    return ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _cells_are(col: pd.Series, where: np.ndarray, name: str) -> np.ndarray:
    """Whether each cell at `where` is the text `name`; False elsewhere."""
    out = np.zeros(len(col), dtype=bool)
    rows = np.flatnonzero(where)
    out[rows] = col.to_numpy(dtype=object)[rows] == name
    return out


def _a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def refuse_pipe(path: Path, what: str = "") -> None:
    """A pipe (`--dataset <(zcat f.gz)`: /dev/fd/63, or what it resolves to, /proc/PID/fd/pipe:[N]) is read here
    more than once - sniffed, then read whole, and again by a resume - and a named pipe nobody writes to hung
    the read for good; the shell's was called 'neither a built-in dataset nor an existing file'."""
    try:
        pipe = "pipe:[" in str(path) or stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        pipe = False
    if pipe:
        raise UserError(f"{what}{path} is a pipe (a `<(...)` of the shell, or a named pipe), which can be read once, "
                        "and torchtui reads a data file more than once: save it to a file")


def thousands_marks(decimal: str) -> str:
    """The characters that group thousands where `decimal` is the decimal mark, as a regex class."""
    return r"[.\s\u00a0\u202f]" if decimal == "," else r"[,'\u00a0\u202f]"


def _formatted_numbers(frame: pd.DataFrame, fmt: TableFormat, reading: Reading = Reading(), told: bool = False) -> None:
    """Columns of numbers written for people - thousands separators ("4,791.31"; "4.031,82" where the decimal
    mark is a comma), a currency sign ("$12", "12 €") or a percent sign ("95.6%") - read as the numbers they are,
    in place, with a note. Every cell of such a column must read so (a missing mark, '?' or "n/a", is empty);
    one that does not leaves the column as it was. Done as the file is read, so a file given to predict
    reads as the training file did.
    With `reading.forms` (`Reading.forms`), also a column that reads whole only with the other decimal mark than
    the file's (a comma-separated file's quoted "0,420", "1,92", "€3,50", as a spreadsheet in a decimal-comma
    locale writes them; never in parentheses there: "(3,4)" is a pair), accounting negatives "(1,067.49)" beside
    cells without parentheses, and the minus sign U+2212; and a group of thousands never starts with 0 ("0,420"
    was read as 420). A model's column is read with the mark it was read with in training (`reading.number_marks`);
    `told`: the user named the decimal mark (--decimal), which every column is read with."""
    marks = dict(reading.number_marks) if reading.forms else {}
    for name in frame.columns:
        col = frame[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        present = col[col.notna()]
        head = [v.strip() for v in present.head(200) if isinstance(v, str)]
        if not head or len(head) < min(len(present), 200):
            continue
        other = "," if fmt.decimal == "." else "."
        tried = [marks[str(name)]] if str(name) in marks else [fmt.decimal] + ([other] if reading.forms and not told
                                                                               else [])
        if reading.forms:
            head = [_as_sheet_shows(v) for v in head]
        for mark in tried:
            pattern = _people_number(mark, reading.forms, parentheses=mark == fmt.decimal, suffixes=reading.suffixes,
                                     currencies=reading.currencies)
            if not all(v.lower() in MISSING_MARKS or pattern.match(v) for v in head):
                continue  # a column of text shows it in its first cells: the whole column is not tried
            if _read_formatted(frame, name, fmt, pattern, mark, reading.forms):
                if mark != fmt.decimal:
                    fmt.column_marks[str(name)] = mark
                break


def _people_number(mark: str, forms: bool, parentheses: bool, suffixes: bool = False,
                   currencies: bool = False) -> re.Pattern:
    """A cell of a number written for people with decimal mark `mark` (`_formatted_numbers`); `suffixes`: a minus
    sign may follow a number without one before it ('2.583,07-'), and a unit may follow, a word of letters and the
    marks units are written with ('cm', 'km/h', '°C', 'µg', 'm²', 'yrs.'); `currencies` (Reading.currencies): the
    signs of `CURRENCIES` and 'Rs.' before, and where a comma groups digits India's grouping, two digits a group
    above the thousands ('12,34,567')."""
    thousands = thousands_marks(mark)
    first = r"[1-9]\d{0,2}" if forms else r"\d{1,3}"  # (forms: '0,420' is no thousand)
    sign = r"[+\-\u2212]?" if forms else r"[+-]?"
    lakhs = r"|[1-9]\d?(?:,\d{2})+,\d{3}" if currencies and mark == "." else ""
    number = rf"{sign}(?:{first}(?:{thousands}\d{{3}})+{lakhs}|\d+)(?:{re.escape(mark)}\d+)?"
    opened = r"(?P<open>\()?" if forms and parentheses else ""
    closed = r"(?(open)\))" if forms and parentheses else ""
    unit = rf"(?:\s*(?P<unit>{_UNIT}))?" if suffixes else ""
    trail = r"(?P<trail>-)?" if suffixes else ""
    signs = CURRENCIES if currencies else "$€£¥"
    pre = rf"(?:[{signs}]|Rs\.?)?" if currencies else f"[{signs}]?"
    return re.compile(rf"^{opened}(?P<sign>{sign})(?P<pre>{pre})\s*(?P<n>{number}){trail}\s*(?P<post>[%{signs}]?)"
                      rf"{unit}{closed}$")


CURRENCIES = "$€£¥₹₩₽₺₫₱₦₪฿¢"  # the signs a number may be written with (Reading.currencies: before it, $€£¥ only)


_UNIT = r"°[^\W\d_]?|[^\W\d_]{1,10}(?:/[^\W\d_]{1,6})?[²³]?\.?"  # a letter is [^\W\d_]: cm, kg/m², °C, µg, yrs.


_SHEET_ZERO = re.compile(rf"^([{CURRENCIES}])\s*-+$|^-+\s*([{CURRENCIES}])$")  # '$ -', '- €': accounting's zero
_SIGN_OUTSIDE = re.compile(rf"^([{CURRENCIES}])\s*\((.*)\)$")  # '$ (1,234.00)': its negative, the sign outside


def _as_sheet_shows(cell: str) -> str:
    """A cell in a spreadsheet's accounting format (Excel's currency format, saved as shown) as `_people_number`
    reads it: its zero '$ -' as '$0', its negative '$ (1,234.00)' as '($1,234.00)'. A dash alone is no zero: the
    mark of a missing value, as in any column."""
    zero = _SHEET_ZERO.match(cell)
    if zero:
        return f"{zero.group(1)}0" if zero.group(1) else f"0{zero.group(2)}"
    outside = _SIGN_OUTSIDE.match(cell)
    return f"({outside.group(1)}{outside.group(2)})" if outside else cell


def _read_formatted(frame: pd.DataFrame, name: Any, fmt: TableFormat, pattern: re.Pattern, mark: str,
                    forms: bool = False) -> bool:
    """Column `name` read as numbers by `pattern` with decimal `mark`, in place, with a note, where every cell that
    is not a missing mark reads so and some cell is written for people. Whether it was. `forms`: cells in the
    accounting format read too (`_as_sheet_shows`)."""
    col = frame[name]
    thousands = thousands_marks(mark)
    shown = col[col.notna()].astype(str).str.strip()
    text = shown.map(_as_sheet_shows) if forms else shown
    marked = text.str.lower().isin(MISSING_MARKS)
    parts = text[~marked].str.extract(pattern)
    if parts["n"].isna().any() or not len(parts):
        return False
    opened = parts["open"].notna() if "open" in parts else pd.Series(False, index=parts.index)
    if opened.all():
        return False  # every cell in parentheses: pairs or notes, not a ledger's negatives among its positives
    trailed = parts["trail"].notna() if "trail" in parts else pd.Series(False, index=parts.index)
    if (trailed & ((parts["sign"] != "") | opened)).any():
        return False  # '-5-', '(5-)': no number
    unit = _one_unit(parts["unit"]) if "unit" in parts else ""
    if unit is None:
        # '1.9 m' beside '190 cm', '1st' beside '2nd', '3a' beside '3b': not one quantity's numbers; a unit on some
        # cells only ('5more' beside 2, 3, 4: UCI's car doors) is a word of those, no unit
        return False
    signed = opened | trailed | (parts["sign"] == "\u2212") | parts["n"].str.startswith("\u2212")
    formatted = ((parts["pre"] != "") | (parts["post"] != "") | parts["n"].str.contains(thousands, regex=True)
                 | (parts["unit"].notna() if unit else False)
                 | signed | (parts["n"].str.contains(mark, regex=False) if mark != fmt.decimal else False))
    if not formatted.any():
        return False  # plain numbers with stray cells: the columns' own checks say which cells count as empty
    digits = (parts["n"].str.replace(thousands, "", regex=True).str.replace(mark, ".", regex=False)
              .str.replace("\u2212", "-", regex=False))
    values = pd.to_numeric(parts["sign"].str.replace("\u2212", "-", regex=False) + digits, errors="coerce")
    if opened.any() or trailed.any():
        values = values.where(~(opened | trailed), -values)  # (1,067.49): a ledger's negative; 2.583,07-: SAP's
    frame[name] = values.reindex(col.index)
    fmt.formatted.append(str(name))
    if signed.any():
        fmt.signed.append(str(name))
    if forms and shown.str.match(_SHEET_ZERO.pattern).any():
        fmt.zeros.append(str(name))
    if unit:
        fmt.units[str(name)] = unit
    shown_as = values[formatted]
    nonzero = shown_as.ne(0).to_numpy()
    first = int(nonzero.argmax()) if nonzero.any() else 0  # (an example of '$ 12.00' over one of '$ -')
    how = f" (decimal mark {mark!r})" if mark != fmt.decimal else ""
    what = f"in {unit} " if unit else ""
    fmt.notes.append(f"column {name}: numbers {what}written as {shown[~marked][formatted].iloc[first]!r}{how} read as "
                     f"numbers ({float(shown_as.iloc[first]):.15g})")
    return True


def _durations(frame: pd.DataFrame, fmt: TableFormat, forms: frozenset[tuple[str, str]] | None = None) -> None:
    """Columns of durations or clock times, every cell but the missing marks (and a race's DNF, DNS, DQ) written one
    way (durations.py), read as numbers in place, with a note naming the form, the unit and an example. A column of
    anything else is passed over at its first 200 cells. `forms` (Reading.duration_forms): a model's columns and
    the form each was read in; then those columns only, each in its form, and a cell written otherwise is left as
    it is, for the model's check of its cells to name (read anew it was seconds where the model knew minutes)."""
    from .durations import NOT_TIMED, as_duration, duration_form, unit_of

    def written(cells: pd.Series) -> pd.Series:
        shown = cells[cells.notna()].astype(str).str.strip()
        return shown[~shown.str.lower().isin(MISSING_MARKS | NOT_TIMED)]

    known = dict(forms) if forms is not None else None
    for name in frame.columns:
        col = frame[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        if known is not None:
            if str(name) not in known:
                continue
            form = known[str(name)]
            values = as_duration(col, form).to_numpy()
            untimed = (col.isna() | col.astype(str).str.strip().str.lower().isin(MISSING_MARKS | NOT_TIMED)).to_numpy()
            fits = ~np.isnan(values) | untimed
            frame[name] = values if fits.all() else np.where(fits, values, col.to_numpy(dtype=object))
            fmt.durations[str(name)] = form
            continue
        head = written(col.head(1000))
        likely = duration_form(head.head(200))[0] if len(head) else ""
        if not likely:
            continue  # (a column of anything else costs a look at its first cells only)
        shown = written(col)
        form, values = duration_form(shown, likely)
        if not form or values is None:
            continue
        frame[name] = values.reindex(col.index).to_numpy()  # (a missing mark, a DNF: NaN)
        fmt.durations[str(name)] = form
        untimed = col.astype(str).str.strip().str.lower().isin(NOT_TIMED)
        fmt.notes.append(f"column {name}: durations or clock times written as {shown.iloc[0]!r} read as numbers in "
                         f"{unit_of(form)} ({float(values.iloc[0]):.15g})"
                         + (f"; {int(untimed.sum())} cell(s) {', '.join(sorted(set(col[untimed].str.strip())))} "
                            "(no time) read as empty" if untimed.any() else ""))


def _one_unit(units: pd.Series) -> str | None:
    """The unit every cell writes after its number ('' where none does), one word in the singular and plural
    ('1 year', '5 years': 'year(s)'); None where the cells do not share one."""
    if units.isna().all():
        return ""
    if units.isna().any():
        return None
    forms = sorted(units.unique(), key=len)
    if len(forms) == 1:
        return str(forms[0])
    one, more = forms if len(forms) == 2 else ("", "")
    return f"{one}(s)" if len(one) >= 2 and more == one + "s" else None  # ('m' beside 'ms' is no plural)


def unit_pattern(unit: str) -> str:
    """A regular expression of a column's unit as `_one_unit` names it, at the end of a cell."""
    forms = re.escape(unit[:-3]) + "s?" if unit.endswith("(s)") else re.escape(unit)
    return rf"\s*{forms}\s*$"


def _question_marks(frame: pd.DataFrame, fmt: TableFormat) -> None:
    """In a column of text, a cell that is only '?' reads as empty, with a note: it is the common mark of a missing
    value (UCI's adult and credit files), and taken as a value it became a class of the target and a category
    of a feature, under --missing drop and impute too. Then the missing-value policy decides, as for any empty
    cell. Only '?': '-' is a label in files of '+' and '-'. A column of numbers is left as it is - its stray
    cells, '?' among them, are its own checks' (data._coerce_mostly_numeric, by the same `mostly_numeric`). Done
    as the file is read, so a file given to predict reads as the training file did, and an exported script
    does the same."""
    for name in frame.columns:
        col = frame[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        text = col[col.notna()].astype(str).str.strip()
        marked = text.eq("?")
        if not marked.any():
            continue
        from .preprocess import mostly_numeric  # (here: torch comes with it, for a file that has a '?' alone)

        if mostly_numeric(col, decimal=fmt.decimal):
            continue  # numbers with stray cells
        frame[name] = col.mask(col.index.isin(text.index[marked]))
        fmt.marked.append(str(name))
        fmt.notes.append(f"column {name}: {int(marked.sum())} cell(s) '?' read as empty (the mark of a missing value)")


def _marked_numbers(frame: pd.DataFrame, fmt: TableFormat) -> None:
    """A column of text whose cells are all numbers but those that mark a missing value ('-', '--', '.', 'none', a
    spreadsheet's '#DIV/0!'): those cells read as empty, with a note, however many they are. A column of numbers
    with few such cells was numbers already (`mostly_numeric`, which it is left to: its note is its own), but one
    with more - a '-' in a quarter of the cells of a hand-kept sheet, two in a file of 10 rows - was left out as
    free text, or one-hot encoded value by value, and a regression target of 10 rows became a class per value.
    Done as the file is read, so a file given to predict reads as the training file did; the exported script reads
    such a column as numbers, its marks empty, as any column of numbers with stray cells."""
    from .preprocess import as_numbers, mostly_numeric  # (torch comes with them: only for a file that needs it)

    marks = (MISSING_MARKS | SHEET_ERRORS) - {""}
    for name in frame.columns:
        col = frame[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        text = col[col.notna()].astype(str).str.strip()
        marked = text.str.lower().isin(marks)
        if not marked.any() or marked.all() or mostly_numeric(col, decimal=fmt.decimal):
            continue
        if as_numbers(text[~marked], fmt.decimal).isna().any():
            continue  # words among them: a column of text, whose '-' may be a label ('+' and '-')
        frame[name] = col.mask(col.index.isin(text.index[marked]))
        fmt.marked_numbers.append(str(name))
        shown = ", ".join(map(repr, list(dict.fromkeys(text[marked]))[:3]))
        fmt.notes.append(f"column {name}: {int(marked.sum())} cell(s) {shown} read as empty (marks of a missing "
                         "value among numbers)")


def column_name(name: object) -> str:
    """A header cell as a column name: blanks and one pair of matching quotes around it dropped
    ('vote' in a tab-separated file, where the quotes are not the CSV quoting pandas removes)."""
    text = str(name).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        text = text[1:-1].strip()
    return text


def sniff(path: Path, opts: ReadOptions) -> TableFormat:
    name = path.name.lower()
    head = _head(path)
    compression = "gzip" if head.startswith(_GZIP) else None  # by its bytes: a name can be wrong either way
    stem = name[:-3] if name.endswith(".gz") else name
    _refuse_web_page(path, head)
    if head.startswith(b"PAR1"):
        return TableFormat(kind="parquet")
    renamed = stem.endswith(".parquet")  # named so, yet not Parquet (every Parquet file starts with PAR1)
    if stem.endswith((".json", ".jsonl", ".ndjson")):
        fmt = TableFormat(kind="json", compression=compression)
        if not json_lines(path):
            sample = _sample(path, compression)
            fmt.orient, fmt.keyed = _json_orient(sample), bool(_KEYED_JSON.match(_json_text(sample)))
        return fmt

    if not head.startswith(_GZIP):
        _refuse_binary(path, head, wide=_wide(opts.encoding))
    raw = _sample(path, compression)
    fmt = TableFormat(compression=compression)
    if renamed:  # it was sent to pyarrow, and the user told to install it
        fmt.notes.append(f"{path.name} is named .parquet but is not Parquet (it does not start with PAR1): "
                         "read as a text table")
    if compression and not name.endswith(".gz"):
        fmt.notes.append(f"{path.name} is gzip-compressed: read as gzip")
    if name.endswith(".gz") and not compression:
        fmt.notes.append(f"{path.name} is named .gz but is not gzip-compressed: read as it is")
    if compression:
        _refuse_binary(path, raw[:4096], inside="gzip-compressed", wide=_wide(opts.encoding))
        _refuse_web_page(path, raw[:4096])
    try:
        text, fmt.encoding = _decode(raw, opts.encoding, fmt.notes)
    except _MixedEncodings as e:
        raise MixedEncodings(f"{path}: {e}") from None
    records = _records(text)
    starts = list(itertools.accumulate((r.count("\n") + 1 for r in records), initial=0))  # each one's first line
    kept = [i for i, record in enumerate(records) if record.strip()]  # blank lines tell nothing: not sniffed
    lines = [records[i] for i in kept]
    if len(raw) >= SAMPLE_BYTES and lines:
        lines = lines[:-1]  # the sample may end mid-line
    lines = lines[:SAMPLE_LINES]
    if not lines:
        raise UserError(f"{path} is empty; it needs a header line and rows")

    fmt.sep = _choose_sep(lines, opts.sep, tabs_first=opts.reading.suffixes)
    fmt.spaces = fmt.sep != WHITESPACE and any(f"{fmt.sep} " in line for line in lines)
    rows = [_split(line, fmt.sep) for line in lines]
    fmt.skip_detected = opts.skip_rows < 0
    if fmt.skip_detected:  # pandas counts the blank lines among those skipped: through the last one's lines
        fmt.skip_records = _metadata_lines(rows, opts.reading.gaps, opts.reading.row_ends)
        fmt.skip_rows = starts[kept[fmt.skip_records - 1] + 1] if fmt.skip_records else 0
    else:
        fmt.skip_rows = opts.skip_rows
        fmt.skip_records = sum(starts[i] < opts.skip_rows for i in kept)
    body = rows[fmt.skip_records:]
    if not body:
        raise UserError(f"{path} has no lines left after skipping {fmt.skip_rows}; lower --skip-rows")
    decimal, seen = _choose_decimal(body, fmt.sep, opts.reading)
    fmt.decimal = opts.decimal if opts.decimal != "auto" else decimal
    fmt.decimal_unseen = opts.decimal == "auto" and not seen
    fmt.header_detected = opts.header == "auto"
    if opts.header == "auto":
        fmt.header = _looks_like_header(body, opts.reading.stray_lines, opts.reading.counts)
        if len(body) == 1 and opts.reading.headerless and not all(COLUMN_N.fullmatch(f.strip()) for f in body[0]):
            fmt.header = False
    else:
        fmt.header = opts.header == "yes"
    fmt.quoted_names = fmt.header and any(column_name(f) != f.strip() for f in body[0])
    fmt.quoted_text = _r_quoting(lines[fmt.skip_records + (1 if fmt.header else 0):], fmt.sep)
    fmt.names = [column_name(f) for f in body[0]] if fmt.header else []
    if opts.decimal == "auto" and fmt.decimal == "." and fmt.sep != "," and not opts.reading.decimal:
        _warn_of_dots_like_thousands(fmt, body[1:] if fmt.header else body)
    widths = [len(r) for r in body[1:]]
    mode = max(set(widths), key=widths.count) if widths else 0
    ending = [r for r in body[1:] if len(r) == mode]
    ends_empty = mode > 1 and bool(ending) and all(not r[-1].strip() for r in ending)  # "1;2;yes;" (Excel, SAS)
    if fmt.header and widths:
        _refuse_a_row_longer_than_the_header(path, fmt, body, mode)
    if fmt.header and widths and len(body[0]) == mode - 1:
        if ends_empty:  # a separator at the end of every row, not of the header: nothing after it, no column
            fmt.row_end = "rows"
            fmt.notes.append("every row ends with a separator the header line does not: the empty field after "
                             "it is ignored")
        else:
            fmt.row_names = True  # pandas reads the unnamed first column as the index
            fmt.notes.append("the header line names one column fewer than the rows below it: the first column "
                             "is read as row names and left out")
    elif ends_empty and len(body[0]) == mode and not body[0][-1].strip():
        fmt.row_end = "all"  # "a;b;y;" over "1;2;yes;": an empty last column with no name
        fmt.notes.append("every line ends with a separator: the empty last column after it is left out")
    return fmt


def _refuse_a_row_longer_than_the_header(path: Path, fmt: TableFormat, body: list[list[str]], mode: int) -> None:
    """A data row with more fields than the header names, where pandas would not say so: the first data row (its
    extra field taken for row names, every column shifted by one: 'Smith, John,34,x' under name,age,label), or
    rows of the header's width beside longer ones (a blank inside a whitespace-separated cell: 'New York').
    pandas refuses such a row further down itself (`read_table` words it); rows of one width one longer than the
    header are R's row names, read as such."""
    header = len(body[0])
    longer = [r for r in body[1:] if len(r) > header]
    if not longer:
        return
    if mode == header:  # the rows agree with the header line, a few are longer
        if len(body[1]) <= header:
            return  # the first data row fits: pandas names the longer row's line
    elif not (mode == header + 1 and any(len(r) == header for r in body[1:])):
        return  # R's row names (every row one longer), or a header line that is none (metadata): pandas says
    row = longer[0]
    sep = {"\t": "tab", WHITESPACE: "a blank"}.get(fmt.sep, repr(fmt.sep))
    shown = (fmt.sep if fmt.sep != WHITESPACE else " ").join(row)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    fix = ("separate the fields with a character no cell holds (a tab, a comma) and pass --sep" if fmt.sep == WHITESPACE
           else "put a field that holds the separator in quotes, or fix that row, or set the separator with --sep")
    raise UserError(f"{path}: the data row {shown!r} has {len(row)} fields where the header line names {header} "
                    f"(separator {sep}); {fix}")


def _comment_in_line(p: Path, fmt: TableFormat, said: str) -> tuple[int, str] | None:
    """(line number, text) where the line a tokenizing error names (`_tokenizing`'s words) is a '#' comment: its
    commas made it longer than the rows, and the user was told to quote a field."""
    found = re.match(r"line (\d+) has", said)
    if not found:
        return None
    number = int(found.group(1))
    opener = gzip.open if fmt.compression == "gzip" else open
    try:
        with opener(p, "rt", encoding=fmt.encoding, errors="replace", newline="") as f:
            line = next(itertools.islice(f, number - 1, None), "")
    except OSError:
        return None
    text = line.strip().lstrip("\ufeff")
    return (number, text if len(text) <= 40 else text[:37] + "...") if text.startswith("#") else None


def _tokenizing(message: str) -> str:
    """pandas' "Error tokenizing data. C error: Expected 3 fields in line 4, saw 4" in the words of the rest."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if not found:
        return message
    names, line, saw = found.groups()
    return f"line {line} has {saw} fields where the lines above it have {names}"


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def _wide(encoding: str) -> bool:
    """An encoding whose text holds zero bytes (UTF-16, UTF-32): the user's --encoding, so no sign of binary data."""
    try:
        return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False


def _utf16_without_bom(raw: bytes) -> str:
    """'utf-16-le' or 'utf-16-be' for text written so without a byte-order mark (Western text: every other byte
    zero, on one side), else ''. A sample's first 4 KiB decide."""
    head = raw[:4096]
    if len(head) < 8:
        return ""
    even, odd = head[0::2], head[1::2]
    if even.count(0) == 0 and odd.count(0) >= 0.9 * len(odd):
        return "utf-16-le"
    if odd.count(0) == 0 and even.count(0) >= 0.9 * len(even):
        return "utf-16-be"
    return ""


def _refuse_binary(path: Path, head: bytes, inside: str = "", wide: bool = False) -> None:
    """One line for a file that is not text, saying what it looks like; a checkpoint gets the command for it.
    `wide`: the user said it is UTF-16 or UTF-32 text, whose zero bytes are no sign of binary data."""
    what = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "")
    if head.startswith(_ZIP):
        what = _zip_kind(path) if not inside else "a zip archive"
    elif len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # a pickle: torch.save's format before zip
        torch_magic = head[2:14] == b"\x8a\x0a" + bytes.fromhex("6cfc9c46f9206aa85019")
        named = path.name.lower().endswith(_CHECKPOINT_NAMES)
        what = "a PyTorch checkpoint" if torch_magic or (named and not inside) else "a Python pickle"
    elif len(head) > 262 and head[257:262] == b"ustar":
        what = "a tar archive"
    elif (not what and b"\x00" in head and not wide and not _utf16_without_bom(head)
          and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))):
        what = "binary data"
    if what == "a PyTorch checkpoint" and not inside:
        raise UserError(f"{path} is not text: it looks like a PyTorch checkpoint; use torchtui eval or "
                        "torchtui predict with it")
    if what:
        fix = {"a zip archive": "unzip it and give the table inside",
               "an Excel workbook": "save it as CSV"}.get(what, "give a CSV, JSON or Parquet file")
        raise UserError(f"{path} is not a text table (it looks like {what}{', ' + inside if inside else ''}); {fix}")


_WEB_PAGE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])",
                       re.IGNORECASE | re.DOTALL)


def _refuse_web_page(path: Path, head: bytes) -> None:
    """A web page saved under the data's name (a link to GitHub's or Kaggle's page for the file, downloaded with
    curl or 'Save as'): read as a table, its tags were refused as 'line 5 has 2 fields where the lines above it
    have 1', and the user told to quote fields."""
    if _WEB_PAGE.match(head):
        raise UserError(f"{path} is a web page (HTML), not a table: the page that shows the file was downloaded, not "
                        "the file; download the file itself (GitHub: the Raw button's address; Kaggle: Download)")


def _zip_kind(path: Path) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "a zip archive"
    if any(n.endswith("data.pkl") for n in names):
        return "a PyTorch checkpoint"
    if any(n.startswith("xl/") for n in names):
        return "an Excel workbook"
    return "a zip archive"


def looks_like_table(path: Path, lines: int = 20) -> bool:
    """Whether a text file's first lines are a table: two or more of them, each with the same number
    (two or more) of fields. Notes and logs saved as .txt are not; what the screen lists as data is."""
    try:
        fmt = sniff(path, ReadOptions())
        raw = _sample(path, fmt.compression)
        text, _ = _decode(raw, "auto", [])
    except MixedEncodings:
        return True  # a table with a line to fix: listed, and refused with the line once picked
    except UserError:
        return False
    rows = [line for line in _records(text) if line.strip()]
    if len(raw) >= SAMPLE_BYTES:
        rows = rows[:-1]  # the sample may end mid-line
    rows = rows[fmt.skip_records:fmt.skip_records + lines]
    counts = {len(_split(line, fmt.sep)) for line in rows}
    return len(rows) >= 2 and len(counts) == 1 and counts.pop() >= 2


def _read(p: Path, fmt: TableFormat, nrows: int | None, reading: Reading) -> pd.DataFrame:
    if fmt.kind == "parquet":
        frame = pd.read_parquet(p)
        return frame.head(nrows) if nrows is not None else frame
    if fmt.kind == "json":
        try:
            frame = _json_laid_out(p, fmt)
        except ValueError as e:
            if "Mixing dicts with non-Series" not in str(e) and "If using all scalar values" not in str(e):
                raise
            # one object, not rows: pandas said "Mixing dicts with non-Series may lead to ambiguous ordering"
            raise UserError(f"{p} holds one JSON object, not rows: write its rows as a list of objects "
                            "([{...}, {...}]), or one object per line in a .jsonl file") from None
        return _flat(frame.head(nrows) if nrows is not None else frame, fmt)
    options = {**csv_options(p, fmt), "nrows": nrows}
    with warnings.catch_warnings():  # pandas' "Columns (0) have mixed types": read as they are, said by the checks
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        if not reading.words:
            return _no_last_column(pd.read_csv(p, **options), fmt)
        frame = pd.read_csv(p, **options, keep_default_na=False, na_values=empty_but_words())
        frame = _words_kept(p, frame, fmt, options, reading)
    return _no_last_column(frame, fmt)


def _without_empty_columns_at_the_end(frame: pd.DataFrame, fmt: TableFormat,
                                      said: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The table without the columns at its right end that have no name and no value (a spreadsheet's columns once
    used, saved as 'x,y,,' and ',,' on every row): the last of them, pandas' 'Unnamed: 5', was the target a run
    took by default, refused as 'empty in every row'. They held nothing, so no model used them."""
    tail = 0
    def unnamed(i: int) -> bool:  # (pandas' name for an empty header cell, where its names are all there is)
        return not str(said[i]).strip() or bool(re.fullmatch(r"Unnamed: \d+", str(frame.columns[i])))

    while tail < frame.shape[1] - 1 and unnamed(-1 - tail) and frame.iloc[:, -1 - tail].isna().all():
        tail += 1
    if not tail:
        return frame, said
    fmt.empty_tail = tail
    fmt.notes.append(f"{tail} column{'s' * (tail > 1)} at the right end without a name or a value (a spreadsheet's "
                     "empty columns) left out")
    return frame.iloc[:, :-tail], said[:-tail]


def _no_last_column(frame: pd.DataFrame, fmt: TableFormat) -> pd.DataFrame:
    if fmt.row_end == "all" and frame.shape[1] > 1 and frame.iloc[:, -1].isna().all():
        frame = frame.iloc[:, :-1]
    return frame


def csv_options(p: Path, fmt: TableFormat) -> dict[str, Any]:
    """pandas.read_csv's arguments for a CSV of this format (the exported script writes them out)."""
    options: dict[str, Any] = {"sep": r"\s+" if fmt.sep == WHITESPACE else fmt.sep,
                               "header": 0 if fmt.header else None, "skiprows": fmt.skip_rows, "decimal": fmt.decimal,
                               "encoding": fmt.encoding}
    if fmt.compression or re.search(r"\.(gz|bz2|zip|xz|zst|tar)$", p.name.lower()):
        options["compression"] = fmt.compression  # None, not pandas' guess by the name: gzip by its bytes only
    if fmt.spaces:  # blanks after separators: skipped, at twice the parse time, so only when seen
        options["skipinitialspace"] = True
    if fmt.row_end == "rows":  # a field more than the header names is not row names (pandas' default) but dropped
        options["index_col"] = False
    if fmt.text_fields:  # a model's classes written with leading zeros: their cells as written (Reading.text)
        options["dtype"] = {i: str for i in fmt.text_fields}
    return options


def _fields_named(fmt: TableFormat, names: frozenset[str]) -> list[int]:
    """The places in a line of the columns named: by the header line's names, or a file without one by its
    `colN` names; row names (a header one name short) are the line's first field."""
    if fmt.header:
        places = [i for i, name in enumerate(_unique(fmt.names)) if name in names]  # (repeats renamed as read)
    else:
        places = [int(name[3:]) - 1 for name in names if COLUMN_N.fullmatch(name)]
    return sorted(i + fmt.row_names for i in places)


def as_written(p: Path, fmt: TableFormat, column: str, columns: list[str]) -> list[str]:
    """The distinct cells of one column of a CSV as its lines write them, blanks around them dropped, an empty cell
    ''. One column is parsed, the others only split: about 0.6x the whole table's read (1M rows, 11 columns).
    `columns`: the table's column names, as read. Of a JSON file: its values, a quoted one as written (pandas makes
    "001" the number 1), a number as digits, a null left out."""
    if fmt.kind == "json":
        frame = pd.read_json(p, lines=json_lines(p), compression=fmt.compression, dtype=False,
                             **({"orient": fmt.orient} if fmt.orient else {}))
        if column not in frame.columns:  # (a field of a column of objects: read as numbers)
            return []
        return list(dict.fromkeys(str(v).strip() for v in frame[column] if v is not None and v == v))
    options = csv_options(p, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        named = list(pd.read_csv(p, **options, nrows=0).columns)  # pandas' own names: usecols is in its terms
        cells = pd.read_csv(p, **options, usecols=[named[columns.index(column)]], dtype=str,
                            na_filter=False).iloc[:, -1]
    return list(dict.fromkeys(c.strip() for c in cells.unique()))


_PADDED = re.compile(r"^[+-]?0\d+$")


def padded(cell: str) -> bool:
    """A whole number written with a leading zero: a code (007, a zip 02134), not a quantity."""
    return bool(_PADDED.match(cell.strip()))


def whole(cell: str) -> bool:
    """A whole number as digits (007, 12), not 1.0 or 1e3."""
    return bool(_INTEGER.match(cell.strip()))


def are_codes(cells: list[str]) -> bool:
    """Whether the cells of a column (or a model's classes) are codes: all whole numbers as digits, some written
    with a leading zero (001, 002, 010) - a run's class column of such, and the one its model reads as text."""
    return all(map(whole, cells)) and any(map(padded, cells))


_WORDS_NOTE_END = "(pandas reads them as empty); where one means a missing value, leave its cell empty"


def empty_but_words() -> list[str]:
    """The cells pandas reads as empty, but 'NA' and 'None' (its own list, as the installed pandas has it)."""
    try:
        from pandas._libs.parsers import STR_NA_VALUES
    except ImportError:  # (a pandas that moved it: its list as of pandas 2)
        STR_NA_VALUES = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                         "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
    return sorted(set(STR_NA_VALUES) - set(PANDAS_EMPTY_WORDS))


def _words_kept(p: Path, frame: pd.DataFrame, fmt: TableFormat, options: dict[str, Any],
                reading: Reading) -> pd.DataFrame:
    """In a column of words, the cells 'NA' and 'None' are words, kept as values, with a note: pandas reads them as
    empty in every column, and a region NA (North America) or a severity None lost its rows under --missing drop,
    its class or category too, and was refused as 'empty' where the file showed a word. In a column of numbers
    (by the same `mostly_numeric` as its own checks) or of true/false, they are empty, as R writes a missing
    value; so is a bare NA in a file whose text is all in quotes (R's write.csv, `_r_quoting`), where an "NA" in
    quotes is the text (`_quoted_na_cells`). A model's own category or class 'NA' is a value in its files whatever
    else the column holds (`Reading.known`), but for a bare NA in such a file.

    `frame` was read with those two words as text: a column of words needs nothing more. The others are taken from
    pandas' own reading of the file, read again only then."""
    import numpy as np

    types = pd.api.types
    found: dict[int, np.ndarray] = {}
    for i, dtype in enumerate(frame.dtypes):
        if types.is_object_dtype(dtype) or types.is_string_dtype(dtype):
            words = np.isin(frame.iloc[:, i].to_numpy(dtype=object), PANDAS_EMPTY_WORDS)
            if words.any():
                found[i] = words
    if not found:
        return frame  # as pandas' own reading: no cell tells them apart
    from .preprocess import mostly_numeric  # (here: torch comes with it)

    fmt.words_read = True
    r_missing = 0
    r_columns: list[int] = []
    for i, words in found.items():
        name = column_name(frame.columns[i]) if fmt.header else f"col{i + 1}"
        col = frame.iloc[:, i]
        known = any((name, w) in reading.known for w in PANDAS_EMPTY_WORDS if col[words].eq(w).any())
        told_apart = reading.quoted_na and fmt.quoted_text and col[words].eq("NA").any()  # (its text NA in quotes)
        if known and not told_apart:
            pass  # the model's own value
        elif not (rest := col.mask(words)).notna().any() or mostly_numeric(rest, decimal=fmt.decimal) or \
                rest.dropna().astype(str).str.strip().str.lower().isin(_TRUE_FALSE).all():
            fmt.pandas_columns.append(i)  # nothing but these marks, numbers, or true/false: empty, as pandas reads
            continue
        elif fmt.quoted_text and col[words].eq("NA").any():
            fmt.pandas_columns.append(i)  # R's missing value among its quoted words
            r_columns.append(i)
            r_missing += int(col[words].eq("NA").sum())
            continue
        fmt.worded.append(name)
        cells = col[words]
        said = ", ".join(f"{int(cells.eq(w).sum())} cell(s) {w!r}" for w in PANDAS_EMPTY_WORDS if cells.eq(w).any())
        why = "a category of the model's" if known else "its other cells are words"
        fmt.notes.append(f"column {name}: {said} read as values, as {why} {_WORDS_NOTE_END}")
    quoted = _quoted_na_cells(p, options, frame, r_columns) if reading.quoted_na and r_columns else {}
    r_missing -= sum(int(cells.sum()) for cells in quoted.values())
    if r_missing:
        fmt.notes.append(f"{r_missing} bare NA cell(s) among text in quotes {_R_NOTE_END}")
    if quoted:
        fmt.quoted_na = sorted(quoted)
        fmt.notes.append(f"{sum(int(c.sum()) for c in quoted.values())} cell(s) \"NA\" in quotes (column "
                         f"{', '.join(column_name(frame.columns[i]) for i in quoted)}) read as the text NA, not as "
                         "a missing value: R's write.csv quotes the text NA and leaves its missing NA bare")
    if fmt.pandas_columns:
        pandas_own = pd.read_csv(p, **options)
        for i in fmt.pandas_columns:
            frame[frame.columns[i]] = pandas_own.iloc[:, i].to_numpy()
        for i, cells in quoted.items():
            frame[frame.columns[i]] = frame.iloc[:, i].mask(cells, "NA")
    return frame


def _quoted_na_cells(p: Path, options: dict[str, Any], frame: pd.DataFrame, columns: list[int]) -> dict[int, Any]:
    """{column: where its cell is "NA" in quotes} for `columns` of an R-quoted file (R's write.csv: the text NA in
    quotes, a missing value bare), from the file read again with its quotes kept (csv.QUOTE_NONE); only columns
    holding such a cell. pandas reads both as empty, and the raw cells are not kept. Where that reading does not
    line up with the table row for row and cell for cell (a separator or a line break inside quotes splits a
    field), nothing is told apart and both stay empty, as before."""
    import csv

    try:
        raw = pd.read_csv(p, **{**options, "dtype": str}, quoting=csv.QUOTE_NONE, keep_default_na=False,
                          na_values=[], usecols=columns)
    except (pd.errors.ParserError, ValueError):
        return {}
    if len(raw) != len(frame) or raw.shape[1] != len(columns):
        return {}
    found = {}
    for k, i in enumerate(columns):
        cells = raw.iloc[:, k].astype(str).str.strip().to_numpy(dtype=object)
        text = frame.iloc[:, i].astype(object)
        plain = (text.notna() & ~text.astype(str).str.contains('"', regex=False)).to_numpy()
        if not (pd.Series(cells[plain]).str.strip('"').to_numpy(dtype=object)
                == text.astype(str).str.strip().to_numpy(dtype=object)[plain]).all():
            return {}  # not the same cells: the fields split otherwise than the table's
        hit = cells == '"NA"'
        if hit.any():
            found[i] = hit
    return found


_TRUE_FALSE = {"true", "false", "t", "f"}  # R's logical columns (TRUE, FALSE, NA)
_R_NOTE_END = "read as empty: R's mark of a missing value (its write.csv quotes every text)"


def _r_quoting(rows: list[str], sep: str) -> bool:
    """Whether a file's text cells (in the sample) are all in quotes: R's write.csv, whose bare NA is a missing value
    even in a column of words, wherever in the file it is. pandas' own files quote only the cells that need it;
    Python's csv module writes a missing value as an empty cell, never as a bare NA."""
    quoted = False
    for line in rows:
        for cell in _raw_cells(line, sep):
            cell = cell.strip()
            if len(cell) > 1 and cell[0] == cell[-1] == '"':
                quoted = True
            elif cell and cell != "NA" and not _NUMBER.match(cell) and cell.lower() not in _R_BARE:
                return False  # a word without quotes
    return quoted


_R_BARE = {"true", "false", "t", "f", "nan", "inf", "-inf"}  # what R writes without quotes besides numbers


def _raw_cells(line: str, sep: str) -> list[str]:
    """A line's cells as written, quotes kept (a separator inside quotes is no separator)."""
    if sep == WHITESPACE:
        return re.findall(r'"(?:[^"]|"")*"|\S+', line)
    cells: list[str] = []
    cell: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            cells.append("".join(cell))
            cell = []
            continue
        cell.append(ch)
    return [*cells, "".join(cell)]


def _json_laid_out(p: Path, fmt: TableFormat) -> pd.DataFrame:
    """The JSON file read in the layout its first key says (`fmt.orient`, `_json_orient`); where that reading fails
    it was not that layout (a dict of lists whose first key is 'data', a column named 'schema'): read as pandas
    reads it by default, as before, and `fmt.orient` cleared (so the exported script reads it alike)."""
    if fmt.orient:
        try:
            return _json_without_dates(p, json_lines(p), fmt.compression, fmt.text_columns, fmt.orient)
        except (ValueError, KeyError, TypeError, AttributeError):
            fmt.orient = ""
    frame = _json_without_dates(p, json_lines(p), fmt.compression, fmt.text_columns)
    if fmt.keyed and not fmt.orient and _keyed_by_row(frame):
        fmt.orient = "index"  # (the exported script reads it alike)
        return _json_without_dates(p, False, fmt.compression, fmt.text_columns, fmt.orient)
    return frame


def _keyed_by_row(frame: pd.DataFrame) -> bool:
    """Whether a JSON object of objects, read as pandas reads it by default (its keys as columns, the inner
    objects' keys as rows), has its rows as keys instead: {"alice": {"age": 30, ...}, "bob": {...}} - a file
    hand-made as a dict by id - was read sideways, 3 rows of 60 columns, and trained on. Numbered keys are rows
    (pandas' own row numbers: `_json_orient` reads {"0": {"x": ...}} by rows already, and {"x": {"0": ...}} is the
    default); where both or neither are numbered, a table has more rows than columns."""
    outer = [str(c) for c in frame.columns]
    inner = [str(i) for i in frame.index]
    numbered_outer = bool(outer) and all(_INTEGER.match(k) for k in outer)
    numbered_inner = bool(inner) and all(_INTEGER.match(k) for k in inner)
    if numbered_outer != numbered_inner:
        return numbered_outer
    return len(outer) > len(inner)


def json_lines(p: Path) -> bool:
    """Whether a JSON file is JSON Lines (one object per line), by its name."""
    return p.name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))


def _json_without_dates(p: Path, lines: bool, compression: str | None, text: list[str] | None = None,
                        orient: str = "") -> pd.DataFrame:
    """A JSON file's rows with its dates as the text they are, as a CSV file's: pandas made datetimes of columns
    named like dates, which the model then took as numbers in the file's own time unit (nanoseconds in a file for
    predict, microseconds in the training one: inputs a thousand times off). pandas 3 deprecates convert_dates
    (its words: dtype=False instead); the keyword is tried first, as dtype=False also keeps quoted numbers text.
    `text`: the columns read as the file writes them (a model's classes "001", "010", which pandas makes 1, 10);
    `orient`: the file's shape where it is not the default's (`_json_orient`)."""
    import warnings

    own: dict[str, Any] = {"dtype": {c: str for c in text}} if text else {}
    if orient:
        own["orient"] = orient
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*convert_dates.*")
            return pd.read_json(p, lines=lines, compression=compression, convert_dates=False, **own)
    except TypeError:  # a pandas without the keyword
        return pd.read_json(p, lines=lines, compression=compression, dtype=False,
                            **({"orient": orient} if orient else {}))


_TABLE_JSON = re.compile(r'^\s*\{\s*"schema"\s*:\s*\{')
_SPLIT_JSON = re.compile(r'^\s*\{\s*"(columns|index|data)"\s*:\s*\[')
_INDEX_JSON = re.compile(r'^\s*\{\s*"[+-]?\d+"\s*:\s*\{\s*"([^"\\]*)"\s*:')
_KEYED_JSON = re.compile(r'^\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{')  # one object whose first value is an object


def _json_text(head: bytes) -> str:
    return head[:4096].decode("utf-8", errors="ignore").lstrip("\ufeff")


def _json_orient(head: bytes) -> str:
    """The shape of a JSON file that is one object, as pandas' to_json writes them, where its default reading is
    not that shape: 'split' ({"columns": [...], "index": [...], "data": [[...]]}: refused, 'All arrays must be of
    the same length'), 'table' ({"schema": ..., "data": [...]}: refused as one object) and 'index' ({"0": {"x":
    ...}}: read sideways, its rows as columns - a run trained on 3 rows of 300 columns). '' for the rest: rows
    ([{...}]) and columns ({"x": {"0": ...}}) are what the default reads."""
    text = _json_text(head)
    if _TABLE_JSON.match(text):
        return "table"
    if _SPLIT_JSON.match(text):
        return "split"
    inner = _INDEX_JSON.match(text)
    return "index" if inner and not _INTEGER.match(inner.group(1)) else ""


def _flat(frame: pd.DataFrame, fmt: TableFormat) -> pd.DataFrame:
    """JSON records whose values are objects or lists, as a table: an object's fields become columns of their
    own ("size": {"w": 2} is the column size.w), as pandas' json_normalize names them; a list is kept as its
    JSON text, which the columns' checks then treat as text. Each with a note."""
    import json

    for name in list(frame.columns):
        col = frame[name]
        if col.dtype != object:
            continue
        kinds = {type(v) for v in col if isinstance(v, (dict, list))}
        if dict in kinds and list not in kinds:
            fields = pd.json_normalize([v if isinstance(v, dict) else {} for v in col]).add_prefix(f"{name}.")
            fields.index = frame.index
            at = list(frame.columns).index(name)
            frame = pd.concat([frame.iloc[:, :at], fields, frame.iloc[:, at + 1:]], axis=1)
            fmt.objects.append(str(name))
            fmt.notes.append(f"column {name} holds objects: their fields are the columns "
                             f"{', '.join(map(str, fields.columns[:4]))}{' ...' if fields.shape[1] > 4 else ''}")
        elif kinds:
            frame[name] = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in col]
            fmt.lists.append(str(name))
            fmt.notes.append(f"column {name} holds lists: each is read as its JSON text")
    return frame


def _sample(path: Path, compression: str | None) -> bytes:
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as f:
                return f.read(SAMPLE_BYTES)
        with open(path, "rb") as f:
            return f.read(SAMPLE_BYTES)
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


class _MixedEncodings(ValueError):
    """A file of UTF-8 text with a line in another encoding (`mixed_encodings`)."""


class MixedEncodings(UserError):
    """The refusal of such a file, naming it."""


def mixed_encodings(raw: bytes, bad: int, first_line: int = 1) -> str:
    """Why text whose byte `bad` is no UTF-8 is not read as cp1252 either, where other characters of it are UTF-8
    ('Zürich'): rows appended from another program, in another encoding. Read whole as cp1252 - as before - the
    UTF-8 names came out as 'GenÃ¨ve', categories the model learnt, and a clean file for predict then had values
    'not seen in training'. '' where no character of the text is UTF-8 beyond ASCII (a cp1252 or latin-1 file)."""
    utf8 = next((ch for ch in raw.decode("utf-8", errors="replace") if ord(ch) > 127 and ch != "\ufffd"), "")
    if not utf8:
        return ""
    line = raw.count(b"\n", 0, bad) + first_line
    start = raw.rfind(b"\n", 0, bad) + 1
    end = raw.find(b"\n", bad)
    shown = raw[start:end if end >= 0 else len(raw)][:60].decode("utf-8", errors="backslashreplace").rstrip("\r")
    return (f"line {line} is not UTF-8 ('{shown}': byte 0x{raw[bad]:02x}) while the file's other text is (its "
            f"'{utf8}'): it mixes two encodings; save it as UTF-8, or fix that line (--encoding cp1252 reads every "
            "line as cp1252, the UTF-8 ones garbled)")


def _late_mixed_encodings(path: Path, compression: str | None) -> str:
    """`mixed_encodings` for a file whose sample was UTF-8 and a line below it is not (pandas' own error names
    no line), by its lines; '' where it is no such file."""
    opener = gzip.open if compression == "gzip" else open
    seen = b""
    try:
        with opener(path, "rb") as f:
            for number, line in enumerate(f, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    return mixed_encodings(seen + line, len(seen) + e.start, number - seen.count(b"\n"))
                if not seen and any(b > 127 for b in line):
                    seen = line.rstrip(b"\r\n").replace(b"\n", b" ") + b"\n"  # (one line of UTF-8 beyond ASCII)
    except (OSError, EOFError):
        return ""
    return ""


def _decode(raw: bytes, wanted: str, notes: list[str]) -> tuple[str, str]:
    if wanted != "auto":
        try:
            text_encoding = codecs.lookup(wanted)._is_text_encoding  # rot13, base64, zlib_codec: no text encodings
        except LookupError:
            raise UserError(f"data.encoding {wanted!r} is not an encoding Python knows; "
                            "try utf-8, latin-1 or cp1252") from None
        if not text_encoding:
            raise UserError(f"data.encoding {wanted!r} is not a text encoding (it turns bytes into bytes); "
                            "try utf-8, latin-1 or cp1252")
        return raw.decode(wanted, errors="replace"), wanted
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw[: len(raw) // 2 * 2].decode("utf-16", errors="replace"), "utf-16"
    bare = _utf16_without_bom(raw)
    if bare:
        notes.append(f"UTF-16 text without a byte-order mark: read as {bare}; pass --encoding to choose another")
        return raw[: len(raw) // 2 * 2].decode(bare, errors="replace"), bare
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(raw) - 3:  # a character cut by the sample's end
            return raw[: e.start].decode("utf-8"), "utf-8"
        mixed = mixed_encodings(raw, e.start)
        if mixed:
            raise _MixedEncodings(mixed) from None
    try:
        text = raw.decode("cp1252")
        notes.append("not UTF-8: read as cp1252 (Windows Western European); pass --encoding to choose another")
        return text, "cp1252"
    except UnicodeDecodeError:
        notes.append("not UTF-8: read as latin-1; pass --encoding to choose another")
        return raw.decode("latin-1"), "latin-1"


def _records(text: str) -> list[str]:
    """The text's records: its lines, except that a line break inside a quoted field ("two\nlines") goes on
    with the next line, as CSV quoting means it and pandas reads it. A quote opens a field only at its start
    (the line's, or after a separator or a blank), so an inch mark inside a cell (5'10") opens nothing."""
    records: list[str] = []
    pending: list[str] = []
    quoted = False
    for line in text.splitlines():
        if not quoted and '"' not in line:
            records.append(line)
            continue
        pending.append(line)
        quoted = _inside_quotes(line, quoted)
        if not quoted:
            records.append("\n".join(pending))
            pending = []
    if pending:  # the text ended inside a quoted field: the sample's end, or a quote never closed
        records.append("\n".join(pending))
    return records


def _inside_quotes(line: str, quoted: bool) -> bool:
    """Whether a quoted field is still open at the end of `line`, given whether one was open at its start."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if quoted:
            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':  # "" inside quotes: a quote character
                    i += 1
                else:
                    quoted = False
        elif ch == '"' and (i == 0 or line[i - 1] in _FIELD_STARTS):
            quoted = True
        i += 1
    return quoted


_WHITESPACE_CELL = re.compile(r'"(?:[^"]|"")*"(?=\s|$)|\S+')


def _split(line: str, sep: str) -> list[str]:
    if sep == WHITESPACE:  # a quoted cell is one, blanks and all, as pandas reads it (UCI auto-mpg's "ford torino")
        return [c[1:-1].replace('""', '"') if len(c) >= 2 and c[0] == c[-1] == '"' else c
                for c in _WHITESPACE_CELL.findall(line)]
    # a record's lines, of which the reader takes one row (a quoted field's line breaks are within it)
    return next(csv.reader(line.split("\n"), delimiter=sep, skipinitialspace=True), [])


def _choose_sep(lines: list[str], wanted: str, tabs_first: bool = True) -> str:
    """The separator that splits the lines into the same number of fields most often; between those alike, the
    one whose fields least hold another separator outside a number, then the one with more numbers. A ';' file
    with decimal commas (Excel's export where the decimal mark is a comma) splits as consistently on its commas
    when each row has one decimal cell, and text columns made the comma's halves look the more numeric: the
    table was read as two columns, '85;rot;B' a class. Split on the wrong one, a field holds the right one.
    `tabs_first` (Reading.suffixes): lines that a tab splits as consistently as blanks do, no field of them holding
    two numbers, are tab-separated - blanks split '174 cm' into more numbers, and a TSV of numbers with units lost
    its header and columns."""
    if wanted != "auto":
        return {"tab": "\t", "\\t": "\t", "space": WHITESPACE, "whitespace": WHITESPACE}.get(wanted, wanted)
    body = lines[1:] if len(lines) > 2 else lines  # the first line may be metadata
    best, best_score = ",", (-1.0, -1.0, 0.0, 0)
    consistent: dict[str, float] = {}
    for sep in (*DELIMITERS, WHITESPACE):
        counts = [len(_split(line, sep)) for line in body]
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        consistency = counts.count(mode) / len(counts)
        consistent[sep] = consistency
        fields = [f.strip() for line in body[:50] for f in _split(line, sep)]
        numbers = [bool(_NUMBER.match(f)) for f in fields]
        others = [d for d in DELIMITERS if d != sep]
        holding = sum(not number and any(d in f for d in others) for f, number in zip(fields, numbers))
        score = (consistency, -holding / max(len(fields), 1), sum(numbers) / max(len(fields), 1),
                 -DELIMITERS.index(sep) if sep in DELIMITERS else -9)
        if score > best_score:
            best, best_score = sep, score
    if tabs_first and best == WHITESPACE and consistent.get("\t", 0.0) >= consistent[WHITESPACE]:
        fields = [f for line in body[:50] for f in _split(line, "\t")]
        if not any(sum(bool(_NUMBER.match(t)) for t in f.split()) > 1 for f in fields):  # (auto-mpg: a tab before
            return "\t"  # the quoted name, the numbers aligned with blanks, several to a field: not tab-separated)
    return best


def _metadata_lines(rows: list[list[str]], gaps: bool = True, row_ends: bool = True) -> int:
    """Lines above the table: a field count unlike the rows below, a line mostly empty (a title padded
    with separators, but a header with names left empty: `gaps`, `_gapped_header`), or scikit-learn's count line
    (rows, features, class names). A line of the table's width that is neither is the header or the first row:
    `_looks_like_header` decides which; so is one a field short of rows that each end in a separator (`row_ends`,
    `_header_of_rows_ending_empty`)."""
    if len(rows) < 3:
        return 0
    counts = [len(r) for r in rows]
    mode = max(set(counts[1:]), key=counts[1:].count)
    skip = 0
    while skip < min(5, len(rows) - 2):
        row, below = rows[skip], rows[skip + 1:]
        if _short_header(row, below, mode) or _trailing_separator(row, below, mode):
            break
        if gaps and _gapped_header(row, below, mode, rows[skip - 1] if skip else None):
            break
        if row_ends and _header_of_rows_ending_empty(row, below, mode):
            break
        if len(row) != mode or _mostly_empty(row, below) or _sklearn_counts(row, below):
            skip += 1
            continue
        break
    return skip


def _short_header(row: list[str], below: list[list[str]], mode: int) -> bool:
    """R's write.table: the header names every column but the first, which holds distinct row names."""
    data = [r for r in below if len(r) == mode]
    if len(row) != mode - 1 or len(below[0]) != mode or len({r[0].strip() for r in data}) != len(data):
        return False
    cells = [[f.strip() for f in r[1:]] for r in data]
    return _names_columns([f.strip() for f in row], cells) is True and _names_columns(cells[0], cells[1:]) is False


def _trailing_separator(row: list[str], below: list[list[str]], mode: int) -> bool:
    """A header ending in a separator ("a,b,c,"): one empty name more than the rows have fields."""
    data = [r for r in below if len(r) == mode]
    if len(row) != mode + 1 or row[-1].strip() or not data:
        return False
    cells = [[f.strip() for f in r] for r in data]
    return _names_columns([f.strip() for f in row[:-1]], cells) is True and _names_columns(cells[0], cells[1:]) is False


def _header_of_rows_ending_empty(row: list[str], below: list[list[str]], mode: int) -> bool:
    """A header line one field short of the rows below, each of which ends in a separator ('a;b;y' over
    '1;2;3;', as Excel and SAS write them): the empty field after that separator is no column, and the line names
    the others. Told from R's header, which lacks the row names' column (`_short_header`), by that empty last field;
    in a ',' file that check took it for R's where the first column's cells were distinct, but in a tab or ';' file
    the line was skipped as metadata and the columns named col1, col2, ... A line whose cells fit their columns of
    numbers is the first row, not a header."""
    data = [r for r in below if len(r) == mode]
    if len(row) != mode - 1 or not row[-1].strip() or len(below[0]) != mode or any(r[-1].strip() for r in data):
        return False
    cells = [[f.strip() for f in r[:-1]] for r in data]
    if _names_columns(cells[0], cells[1:]) is True:
        return False  # the line below is the header (ending in a separator too): this one is a title above it
    return _names_columns([f.strip() for f in row], cells) is not False


_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def _gapped_header(row: list[str], below: list[list[str]], mode: int, above: list[str] | None = None) -> bool:
    """A header with some names left empty ("x,,,label" over rows of numbers), not a title padded with
    separators ("Report 2024,,,"): two or more names, the last column's among them, none a number or a date, one
    at least unlike its column below (text over numbers), and the line below it a row of the table, not its
    header, and the line above it (`above`, skipped) not one filled alike. (A title rarely fills the last cell;
    pandas names the empty ones 'Unnamed: N'.)"""
    cells = [f.strip() for f in row]
    filled = [i for i, c in enumerate(cells) if c]
    if len(row) != mode or len(filled) < 2 or not cells[-1]:
        return False
    if above is not None and [i for i, c in enumerate(above) if c.strip()] == filled:
        return False  # one of lines alike above the table ('Station,,,Berlin' over 'Unit,,,Celsius'): metadata
    if any(_NUMBER.match(cells[i]) or _DATE.search(cells[i]) for i in filled):
        return False
    data = [[f.strip() for f in r] for r in below if len(r) == mode]
    if len(data) < 2 or _names_columns(data[0], data[1:]) is not False:
        return False  # the line below is a header (or nothing tells): this one is above the table
    columns = _columns(data, mode)
    return any(_unlike(cells[i], columns[i]) for i in filled)


def _mostly_empty(row: list[str], below: list[list[str]]) -> bool:
    filled = sum(bool(f.strip()) for f in row)
    usual = sorted(sum(bool(f.strip()) for f in r) for r in below)[len(below) // 2]
    return filled <= len(row) / 2 < usual


def _sklearn_counts(row: list[str], below: list[list[str]]) -> bool:
    """scikit-learn's CSVs start with "n_samples,n_features,class names...": not names of the columns."""
    cells = [f.strip() for f in row]
    return (len(cells) >= 3 and all(_INTEGER.match(c) for c in cells[:2]) and int(cells[0]) >= len(below)
            and int(cells[1]) == len(cells) - 1 and not any(_NUMBER.match(c) for c in cells[2:]))


@dataclass
class _Column:
    """What the cells of a column below the first line are: numbers (and if so decimals, in what range) or text."""

    numbers: int = 0
    texts: int = 0
    decimals: int = 0
    low: float = float("inf")
    high: float = float("-inf")

    @property
    def numeric(self) -> bool:
        return self.numbers > 0 and self.numbers >= 0.9 * (self.numbers + self.texts)

    @property
    def textual(self) -> bool:
        return self.texts > 0 and self.texts >= 0.9 * (self.numbers + self.texts)

    def near(self, value: float) -> bool:
        """Of the column's range and magnitude: a first row just outside its range is still data. Positive
        columns are widened tenfold each way (2008 is far from counts in millions), others by their span."""
        if self.low > 0 and value > 0:
            return self.low / 10 <= value <= self.high * 10
        span = self.high - self.low
        return self.low - span <= value <= self.high + span


def _columns(rows: list[list[str]], width: int, most: int = 100) -> list[_Column]:
    """The columns of `rows` (their first `most`: enough to tell numbers from text, cheap on wide files)."""
    cols = [_Column() for _ in range(width)]
    for r in rows[:most]:
        if len(r) != width:
            continue
        for col, cell in zip(cols, r):
            cell = cell.strip()
            if cell.lower() in MISSING_MARKS:
                continue
            if not _NUMBER.match(cell):
                col.texts += 1
                continue
            col.numbers += 1
            col.decimals += not _INTEGER.match(cell)
            value = _number(cell)
            col.low, col.high = min(col.low, value), max(col.high, value)
    return cols


def _number(cell: str) -> float:
    try:
        return float(cell.replace(",", "."))
    except ValueError:
        return float("nan")


def _looks_like_header(rows: list[list[str]], repeats: bool = True, counts: bool = True) -> bool:
    """Whether the first line names the columns: any of its cells unlike the column below it - text over
    numbers, a number over text, a whole number far outside a column of decimals, or a run of 3+ evenly
    spaced whole numbers (2008, 2009, 2010) outside their columns' ranges. A first line whose numbers fit
    their columns is data; over columns that are all text, a header is by far the likelier. `repeats`
    (Reading.stray_lines): the line's own repeats below (files joined with their headers) are no values of
    its columns. `counts` (Reading.counts): a run of 8+ whole numbers counting up by one is names whatever the
    columns hold (`_a_long_count`)."""
    if len(rows) < 2:
        return True
    first = [f.strip() for f in rows[0]]
    if counts and _a_long_count(first):
        return True
    width = max(len(r) for r in rows[1:])
    if len(first) == width - 1:  # a header without the row names' column (R): compare with the columns it names
        rows = [rows[0], *[r[1:] for r in rows[1:] if len(r) == width]]
    elif len(first) == width + 1 and not first[-1]:  # "a,b,c," over "1,2,3"
        first = first[:-1]
    verdict = _names_columns(first, rows[1:])
    if verdict is None:  # text over text: a header, unless each of its cells is a value of its column below
        below = [r for r in rows[1:] if [c.strip() for c in r] != first] if repeats else rows[1:]
        return not _values_of_their_columns(first, below)
    return verdict


def _a_long_count(first: list[str], length: int = 8) -> bool:
    """Whether `first` holds `length` or more whole numbers side by side counting up by one: a pivot table's or a
    wide table's header (hours 0..23, days 1..31, weeks 1..52) over counts that hold the same numbers, which the
    ranges cannot tell from a row. A row of data that counts up so, cell after cell, is all but unheard of."""
    run, last = 0, None
    for cell in first:
        value = int(cell) if _INTEGER.match(cell) else None
        run = run + 1 if value is not None and last is not None and value == last + 1 else (1 if value is not None
                                                                                              else 0)
        if run >= length:
            return True
        last = value
    return False


def _values_of_their_columns(first: list[str], rows: list[list[str]]) -> bool:
    """Whether every cell of the first line (two or more) is also a value of its column below it: a file of text
    without a header line (UCI's car data: 'vhigh,vhigh,2,2,small,low,unacc'), whose first row was taken for the
    column names and lost. Names rarely are values of their own columns ('buying' among vhigh, high, low)."""
    cells = [c for c in first if c]
    if len(cells) < 2 or len(cells) < len(first):
        return False
    below = [{r[i].strip() for r in rows if i < len(r)} for i in range(len(first))]
    return all(cell in values for cell, values in zip(first, below))


def _names_columns(first: list[str], rows: list[list[str]]) -> bool | None:
    """True: a cell of `first` is unlike its column; False: its cells fit their columns of numbers;
    None: no column holds numbers, so nothing tells."""
    cols = _columns(rows, len(first))
    if any(_unlike(cell, col) for cell, col in zip(first, cols)) or _numbered_names(first, cols):
        return True
    return False if any(col.numeric for col in cols) else None


def _unlike(cell: str, col: _Column) -> bool:
    if cell.lower() in MISSING_MARKS:
        return False
    if not _NUMBER.match(cell):
        return col.numeric
    if col.textual:
        return True
    whole_over_decimals = bool(_INTEGER.match(cell)) and col.numeric and col.decimals >= 0.9 * col.numbers
    return whole_over_decimals and not col.near(_number(cell))


def _numbered_names(first: list[str], cols: list[_Column]) -> bool:
    """A run of 3+ whole numbers, evenly spaced and rising, most of them outside their columns' ranges."""
    run: list[tuple[int, _Column]] = []
    for cell, col in [*zip(first, cols), ("", _Column())]:
        value = int(cell) if _INTEGER.match(cell) and col.numeric else None
        steps = {b[0] - a[0] for a, b in zip(run, run[1:])}
        if value is not None and (not run or value > run[-1][0]) and (len(run) < 2 or steps == {value - run[-1][0]}):
            run.append((value, col))
            continue
        if len(run) >= 3 and sum(not c.near(v) for v, c in run) > len(run) / 2:
            return True
        run = [] if value is None else [run[-1], (value, col)] if run and value > run[-1][0] else [(value, col)]
    return False


def _choose_decimal(rows: list[list[str]], sep: str, reading: Reading = Reading()) -> tuple[str, bool]:
    """(the decimal mark, whether a cell below the first line told it: a decimal mark of either kind, or dots that
    group thousands). A ',' file's mark is '.', told by its separator. A cell one to three digits, a mark, three
    digits ('2.096', '1,500') could be either mark's decimal or the other's thousand: the cells that cannot (0,61;
    1234.5) decide, then the model's own mark (`reading.decimal`), then every cell - a few rows of '2.096;0,61' were
    read with a decimal dot, the 0,61 column as text, and a model trained on 2096 was given 2.096."""
    if sep == ",":
        return ".", True
    fields = [f.strip() for r in rows[1:] for f in r]
    if any(_DOT_THOUSANDS.match(f) for f in fields):
        return ",", True
    comma = [f for f in fields if _COMMA_DECIMAL.match(f)]
    dot = [f for f in fields if _DOT_DECIMAL.match(f)]
    if reading.marks:
        # (the cells of columns of numbers only: a '1,5' in a column of notes says nothing of 1.234;12.345 beside it)
        numbers = [f for f in _cells_of_number_columns(rows[1:]) if not _EITHER_MARK.match(f)]
        sure_comma = sum(bool(_COMMA_DECIMAL.match(f)) for f in numbers)
        sure_dot = sum(bool(_DOT_DECIMAL.match(f)) for f in numbers)
        if sure_comma != sure_dot:
            return ("," if sure_comma > sure_dot else "."), True
        if (comma or dot) and reading.decimal in (",", "."):
            return reading.decimal, True
    return ("," if len(comma) > len(dot) else "."), bool(comma or dot)


def _warn_of_dots_like_thousands(fmt: TableFormat, rows: list[list[str]]) -> None:
    """Columns of numbers whose every dot has three digits after it and a digit other than 0 before ('77.962'), in
    a file not separated by commas: read with a decimal dot, as the file says nothing else, but a German or Austrian
    export groups thousands so (68.097 inhabitants became 68.097, below a town of 850). Said, with the flag; the
    reading stands (a '1.250' may be a price to the tenth of a cent)."""
    width = max((len(r) for r in rows), default=0)
    named, example = [], ""
    for i in range(width):
        cells = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
        dotted = [c for c in cells if "." in c]
        if (len(dotted) >= 3 and all(_EITHER_MARK.match(c) for c in dotted)
                and all(_NUMBER.match(c) and "," not in c for c in cells)):
            named.append(fmt.names[i] if i < len(fmt.names) else f"col{i + 1}")
            example = example or dotted[0]
    if named:
        many = len(named) > 1
        fmt.notes.append(f"warning: column{'s' * many} {', '.join(named[:3])}{' ...' if len(named) > 3 else ''}: "
                         f"every number with a dot has three digits after it ({example!r}), read as a decimal; if "
                         f"the dots group thousands ({example.replace('.', '')}), pass --decimal ','")


def _cells_of_number_columns(rows: list[list[str]]) -> list[str]:
    """The cells, blanks around them dropped, of the columns whose cells (those not empty) are numbers, 9 in 10."""
    width = max((len(r) for r in rows), default=0)
    out: list[str] = []
    for i in range(width):
        cells = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
        if cells and sum(bool(_NUMBER.match(c)) for c in cells) >= 0.9 * len(cells):
            out += cells
    return out


def _late_decimal_commas(frame: pd.DataFrame) -> str:
    """A text column whose cells are all whole numbers or numbers with a decimal comma, some of the latter: in a
    file whose sample (its first lines) had no decimal mark to tell, the comma's first number came later
    ('285,5' at line 286), and the column was left out as text or its cells refused. The column's name, or ''."""
    for name in frame.columns:
        col = frame[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        text = col[col.notna()].astype(str).str.strip()
        text = text[~text.str.lower().isin(MISSING_MARKS)]
        comma = text.str.match(_COMMA_DECIMAL.pattern)
        if comma.any() and (comma | text.str.match(_INTEGER.pattern)).all():
            return str(name)
    return ""


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


def preview(frame: pd.DataFrame, rows: int = 5, width: int = 12, columns: int = 12, last: int = 1) -> list[str]:
    """The first rows as aligned text, the way a user checks that a file was read right. A wide table shows its
    first columns, how many it leaves out there, and its `last` ones (the targets): an image's 785 columns made
    lines of 7,700 characters, hundreds of terminal lines before the layer table."""
    cols = [str(c) for c in frame.columns]
    body = [["" if pd.isna(v) else str(v) for v in row] for row in frame.head(rows).itertuples(index=False)]
    cells = [[c[:width] for c in cols]] + [[v[:width] for v in row] for row in body]
    last = min(max(last, 0), columns - 1)
    if len(cols) > columns:
        head = columns - last
        cells = [r[:head] + [f"... {len(cols) - columns} more" if i == 0 else "..."] + r[len(r) - last:]
                 for i, r in enumerate(cells)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
