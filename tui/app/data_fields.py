"""The Data pane's fields: the choices each offers and how a spec's value shows in it. Their names are the
spec's labels, the words the screen's messages use (screen_words.py)."""

from __future__ import annotations

from rich.text import Text

from tui.core.spec import FORMAT_FIELDS, DataSpec, spec_field

from .visible_text import visible

SEPARATORS = [("detect", "auto"), (", comma", ","), ("; semicolon", ";"), ("tab", "tab"), ("spaces", "whitespace"),
              ("| bar", "|"), (": colon", ":")]
HEADERS = [("detect", "auto"), ("yes: column names", "yes"), ("no: data", "no")]
DECIMALS = [("detect", "auto"), (". point", "."), (", comma", ",")]


def label(path: str) -> str:
    """A field's name on the screen: the spec's label for it (the same words the screen's messages use)."""
    return spec_field(path).label or path


def with_value(options: list[tuple[str, str]], value: str) -> list[tuple[str, str]]:
    """The options, and the spec's own value when it is none of them (a separator the list does not name)."""
    return options if value in [v for _, v in options] else [*options, (repr(value), value)]


def skip_rows(typed: str) -> int:
    """Lines to skip as typed: a count, or auto (-1: metadata lines above the table are detected)."""
    return -1 if typed.lower() in ("", "auto") else int(typed)


def skip_text(n: int) -> str:
    return "auto" if n < 0 else str(n)


def format_title(data: DataSpec) -> str:
    """The collapsed format section's one line: what is set, or that it is detected."""
    shown = {"sep": repr, "decimal": repr, "skip_rows": skip_text}  # a mark quoted: "Separator ','"
    chosen = [f"{label('data.' + key)} {shown.get(key, str)(v)}"
              for key in FORMAT_FIELDS if (v := getattr(data, key)) not in ("auto", -1)]
    return "File format: " + (", ".join(chosen) if chosen else "detected")


STRATIFY, GROUP = "stratify", "group:"  # the Split select's values; "" is a random split


def split_options(columns: list[str], target: str, group: str) -> list[tuple[str | Text, str]]:
    """(label, value) of each way to split: random, keeping class shares, or keeping one column's rows together
    (the column's name as it is, its control characters as escapes: not markup)."""
    names = [c for c in columns if c not in target.split(",")]
    if group and group not in names:
        names.append(group)  # the spec's own, before the table is read (or a column it does not have: said there)
    return [("random", ""), ("keep class shares", STRATIFY)] + [(Text(f"rows of {visible(c)} together"), GROUP + c)
                                                                for c in names]


def split_value(data: DataSpec) -> str:
    return GROUP + data.group if data.group else STRATIFY if data.stratify else ""


KEEP = "keep"  # the Constant columns select's value for data.keep_constant; "leave" is the default
CONSTANT_COLUMNS = [("leave out", "leave"), ("keep as inputs", KEEP)]


def constant_value(data: DataSpec) -> str:
    return KEEP if data.keep_constant else "leave"
