"""The core's messages in the screen's words: a flag a message suggests becomes the field that does the same.

The core speaks to both faces, and its messages name flags (`--drop id removes it`, `pass --encoding latin-1`),
which a user of the screen has no way to type. The screen shows them with its own field names instead (the spec
fields' labels: `untick id in Features removes it`, `set Encoding: latin-1`), and so does a refusal that names
a field by its spec path. A flag with no field on the screen (--val, --test) is left as it is: it still names
what to change, in the spec a user can load with --config."""

from __future__ import annotations

import re

from tui.core.spec import spec_fields

# Words that follow a flag in a sentence rather than being its value ("name it in --features to use it").
_NOT_A_VALUE = {"to", "if", "or", "and", "with", "for", "in", "removes", "leaves", "keeps", "e.g.", "is"}
_FLAG = re.compile(r"(?P<verb>\b(?:pass|use) )?--(?P<flag>[a-z][a-z-]*)(?P<value> (?:'[^']*'|\"[^\"]*\"|[^\s,;)]+))?")
# Phrases said better whole than flag by flag.
_PHRASES = [(re.compile(r"name (it|them|the ones to use) (?:in|with) --features"), r"tick \1 in Features"),
            (re.compile(r"remove it from --drop"), "tick it in Features"),
            (re.compile(r"pass --keep-constant"), "set Constant columns: keep"),
            (re.compile(r"leave columns out with --drop"), "untick columns in Features"),
            (re.compile(r"(--[a-z-]+(?: '[^']*'| [^\s,;)-][^\s,;)]*)?) (?=--)"), r"\1, ")]  # flags in a row: a list
_PATH = re.compile(r"\b(?:data|model|train|run)\.[a-z_]+\b")  # a spec field's path: train.lr


def _labels() -> dict[str, tuple[str, str]]:
    """flag -> (the field's label, its value for a switch flag: --no-header is Header line: no)."""
    out: dict[str, tuple[str, str]] = {}
    for f in spec_fields():
        if f.label and f.flag and f.section == "data":
            out[f.flag.removeprefix("--")] = (f.label, "")
            if f.switch and isinstance(f.switch[0], str):
                yes, no = f.switch
                out[f.name.replace("_", "-")] = (f.label, yes)
                out["no-" + f.name.replace("_", "-")] = (f.label, no)
    return out


LABELS = _labels()
PATHS = {f.path: f.label.split(" (")[0] for f in spec_fields() if f.label}  # "Patience (0: off)": Patience


def on_screen(message: str) -> str:
    """`message` with each flag and spec path the screen has a field for said as that field ('Learning rate must
    be a number > 0', not 'train.lr must be ...')."""
    for phrase, said in _PHRASES:
        message = phrase.sub(said, message)
    message = _PATH.sub(lambda m: PATHS.get(m.group(0), m.group(0)), message)  # data.group: Split, train.lr: ...

    def field(m: re.Match[str]) -> str:
        flag, value, verb = m.group("flag"), m.group("value") or "", m.group("verb") or ""
        if flag not in LABELS:
            return m.group(0)
        rest = ""
        if value.strip().lower() in _NOT_A_VALUE:  # a word of the sentence, not the flag's value
            value, rest = "", value
        value = value.strip()
        label, switched = LABELS[flag]
        if flag == "drop":
            said = f"{verb}unticking {value} in Features" if value else f"{verb}unticking in Features"
        elif flag == "features":
            said = f"{verb}Features"
        elif flag == "group":
            said = f"{verb}Split: rows of {value} together" if value else f"{verb}Split"
        else:  # a field set to a value: "pass --encoding latin-1" is "set Encoding: latin-1"
            shown = switched or value
            said = ("set " if verb else "") + (f"{label}: {shown}" if shown else label)
        return said + rest

    return _FLAG.sub(field, message)
