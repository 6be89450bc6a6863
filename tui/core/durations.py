"""Durations and clock times as people write them - a race's '2:41:07', a lap's '4:32.5', a call's '1h 5m', a
pandas timedelta saved to CSV ('0 days 01:23:45'), a time of day '08:15' - read as the numbers they are.

Read as text, such a column was left out as dates (a feature: 'looks like dates') or taken for one class per
value (a target: 195 labels in 200 rows, refused as naming its rows), where the user meant a quantity. Every cell
of the column that is not a missing mark must be written one way (`form`): 'h:mm:ss' (hours past 24 too, an
optional fraction of a second and 'N days ' before it, as pandas writes a timedelta) is read in seconds; two parts
'a:bb' in the unit of the second (m:ss in seconds, h:mm in minutes: the cells cannot say which, and a model
needs only the order and the spacing); words ('1h 5m', '45 min', '2 hours 30 minutes', '1d 4h') in seconds.

`as_duration` is the one reading of a cell: the reader calls it, and `torchtui export` copies its source into the
script it writes (inspect.getsource), so that the script's numbers are the run's to the bit."""

from __future__ import annotations

import pandas as pd

COLON3, COLON2, WORDS = "h:mm:ss", "a:bb", "words"


def as_duration(col: pd.Series, form: str) -> pd.Series:
    """Each cell of `col` written in `form` as a float64 number (seconds; 'a:bb' in the unit of bb); NaN where a
    cell is not written so (empty, a missing mark)."""
    text = col.astype("string").str.strip().str.lower()
    if form == "words":
        number = r"(\d+(?:\.\d+)?)"
        parts = text.str.extract(rf"^(?=\d)(?:{number}\s*d(?:ays?)?\s*)?(?:{number}\s*h(?:rs?|ours?)?\s*)?"
                                 rf"(?:{number}\s*m(?:ins?|inutes?)?\s*)?(?:{number}\s*s(?:ecs?|econds?)?)?$")
        values = parts.astype("float64")
        matched = values.notna().any(axis=1)
        seconds = (values[0].fillna(0) * 86400 + values[1].fillna(0) * 3600 + values[2].fillna(0) * 60
                   + values[3].fillna(0))
        return seconds.where(matched).astype("float64")
    parts = text.str.extract(r"^(-)?(?:(\d+) days? )?(\d+):([0-5]\d)(?::([0-5]\d))?(\.\d+)?$")
    days, a, b, c = (parts[i].astype("float64") for i in (1, 2, 3, 4))
    fraction = parts[5].astype("float64").fillna(0)
    if form == "h:mm:ss":
        value = days.fillna(0) * 86400 + a * 3600 + b * 60 + c + fraction
    else:
        value = (days.fillna(0) * 1440 + a * 60 + b + fraction).where(c.isna())
    return value.where(parts[0].isna(), -value).astype("float64")


def duration_form(cells: pd.Series) -> str:
    """The one form every cell of `cells` (text, stripped, no missing marks) is written in, or '' where they do not
    share one: 'h:mm:ss', 'a:bb' or 'words' (see the module's note). Words need a letter in some cell: a column of
    bare numbers is numbers already."""
    if not len(cells):
        return ""
    for form in (COLON3, COLON2, WORDS):
        if as_duration(cells, form).notna().all():
            if form == WORDS and not cells.str.contains(r"[a-zA-Z]").all():
                return ""  # ('12' beside '1h': a number without a unit is no duration this can read)
            return form
    return ""


def unit_of(form: str) -> str:
    """The unit a column read in `form` is in, as its note says it."""
    return "minutes (h:mm) or seconds (m:ss)" if form == COLON2 else "seconds"
