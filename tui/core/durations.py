"""Durations and clock times as people write them - a race's '2:41:07' (and '58:12' for those under an hour), a
lap's '4:32.5', a call's '1h 5m', a pandas timedelta saved to CSV ('0 days 01:23:45', '-1 days +22:47:12'), a time
of day '08:15' - read as the numbers they are.

Read as text, such a column was left out as dates (a feature: 'looks like dates') or taken for one class per
value (a target: 195 labels in 200 rows, refused as naming its rows), where the user meant a quantity. Every cell
of the column that is not a missing mark must be written one way (`form`):
- 'h:mm:ss': three parts (hours past 24 too, a fraction of a second, 'N days ' before them as pandas writes a
  timedelta), and two parts beside them read as m:ss - in seconds;
- 'a:bb': two parts only, in the unit of the second (m:ss in seconds, h:mm in minutes: the cells cannot say which,
  and a model needs only the order and the spacing); a column whose first part never changes ('1:50', '1:25': a
  map's scale) is a ratio, not this;
- 'words' ('1h 5m', '45 min', '2 hours 30 minutes', '1d 4h', and '0'): in seconds.
A model keeps each column's form (reader.Reading.duration_forms), so its other files are read the same way or
their cells refused, never read in another unit.

`as_duration` is the one reading of a cell: the reader calls it, and `torchtui export` copies its source into the
script it writes (inspect.getsource), so that the script's numbers are the run's to the bit."""

from __future__ import annotations

import pandas as pd

COLON3, COLON2, WORDS = "h:mm:ss", "a:bb", "words"
NOT_TIMED = {"dnf", "dns", "dq", "dsq"}  # a race's did not finish/start, disqualified: no time, an empty cell


def as_duration(col: pd.Series, form: str) -> pd.Series:
    """Each cell of `col` written in `form` as a float64 number (seconds; 'a:bb' in the unit of bb); NaN where a
    cell is not written so (empty, a missing mark, another form)."""
    text = col.astype("string").str.strip().str.lower()
    if form == "words":
        number = r"(\d+(?:\.\d+)?)"
        parts = text.str.extract(rf"^(?=\d)(?:{number}\s*d(?:ays?)?\s*)?(?:{number}\s*h(?:rs?|ours?)?\s*)?"
                                 rf"(?:{number}\s*m(?:ins?|inutes?)?\s*)?(?:{number}\s*s(?:ecs?|econds?)?)?$")
        values = parts.astype("float64")
        matched = values.notna().any(axis=1) | text.eq("0")
        seconds = (values[0].fillna(0) * 86400 + values[1].fillna(0) * 3600 + values[2].fillna(0) * 60
                   + values[3].fillna(0))
        return seconds.where(matched).astype("float64")
    parts = text.str.extract(r"^(?:([+-]?\d+) days? \+?)?(-)?(\d+):([0-5]\d)(?::([0-5]\d))?(\.\d+)?$")
    days, a, b, c = (parts[i].astype("float64") for i in (0, 2, 3, 4))
    fraction = parts[5].astype("float64").fillna(0)
    sign = parts[1].isna().map({True: 1.0, False: -1.0}).astype("float64")  # ('-0:10:00'; pandas: '-1 days +..')
    if form == "h:mm:ss":  # (two parts beside three: minutes and seconds, a runner under the hour)
        value = days.fillna(0) * 86400 + sign * ((a * 3600 + b * 60 + c).fillna(a * 60 + b) + fraction)
    else:
        value = (days.fillna(0) * 1440 + sign * (a * 60 + b + fraction)).where(c.isna())
    return value.astype("float64")


def duration_form(cells: pd.Series, likely: str = "") -> tuple[str, pd.Series | None]:
    """(the one form every cell of `cells` - text, stripped, no missing marks - is written in, their values), or
    ('', None) where they do not share one (see the module's note). `likely`: the form of the column's first cells,
    tried first (each form tried is a parse of every cell)."""
    if not len(cells):
        return "", None
    for form in sorted((COLON2, COLON3, WORDS), key=lambda f: f != likely):
        values = as_duration(cells, form)
        if not values.notna().all():
            continue
        if form == COLON2 and _a_scale(cells):
            return "", None
        if form == WORDS and not (cells.str.contains(r"[a-zA-Z]") | cells.eq("0")).all():
            return "", None  # ('12' beside '1h': a number without a unit is no duration this can read)
        return form, values
    return "", None


def _a_scale(cells: pd.Series) -> bool:
    """'1:50', '1:25', '1:10': a map's scale or a mixing ratio, not minutes and seconds - the first part 1 in every
    cell, the second a round number (a lap's '1:07' is no scale)."""
    first, second = cells.str.split(":").str[0].str.strip(), cells.str.split(":").str[1].str.strip()
    return bool(first.eq("1").all() and second.str.fullmatch(r"\d*[05]").all())


def unit_of(form: str) -> str:
    """The unit a column read in `form` is in, as its note says it."""
    return "minutes (h:mm) or seconds (m:ss)" if form == COLON2 else "seconds"
