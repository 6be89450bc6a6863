"""A spreadsheet's total line saved under its rows ('Total,,,5678.90') is warned of, naming its row: under
--missing impute its sums trained as a record and 'Total' as a category, without a word (tui/core/data.py,
`_warn_of_total_rows`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tui.core.data import prepare
from tui.core.spec import DataSpec


def sales(path, total: str = "Total", filled: bool = False, rows: int = 40):
    r = np.random.default_rng(3)
    frame = pd.DataFrame({"region": r.choice(["north", "south", "east"], rows), "units": r.integers(1, 50, rows),
                          "price": r.uniform(5, 20, rows).round(2)})
    frame["revenue"] = (frame.units * frame.price).round(2)
    sums = [total, frame.units.sum() if filled else "", frame.price.sum() if filled else "", frame.revenue.sum()]
    frame.astype(object).to_csv(path, index=False)
    with open(path, "a") as f:
        f.write(",".join(map(str, sums)) + "\n")
    return str(path)


def totals_said(notices):
    return [n for n in notices if "like a total line" in n or "like total lines" in n]


def test_a_total_line_is_warned_of_filled_or_not(tmp_path):
    for i, (total, filled, missing) in enumerate([("Total", False, "impute"), ("Grand total:", True, "error"),
                                                  ("SUM", True, "error")]):
        notices = prepare(DataSpec(dataset=sales(tmp_path / f"s{i}.csv", total, filled), missing=missing), 0).notices
        assert totals_said(notices) == [
            f"warning: data row 41 looks like a total line ({total!r} in column region), not a record: its numbers "
            "would train as one; delete it from the file"], notices


def test_a_class_named_total_is_no_total_line(tmp_path):
    r = np.random.default_rng(4)
    frame = pd.DataFrame({"speed": r.uniform(10, 90, 60).round(1)})
    frame["damage"] = np.where(frame.speed > 50, "total", "partial")
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert totals_said(prepare(DataSpec(dataset=str(tmp_path / "d.csv")), 0).notices) == []
    assert totals_said(prepare(DataSpec(dataset="iris"), 0).notices) == []


def test_subtotal_lines_between_groups_are_warned_of_by_their_rows(tmp_path):
    """A report's 'North Subtotal' under each group, the sums 30 times a record's: trained as records under
    --missing impute without a word (only the last three rows were looked at)."""
    r = np.random.default_rng(5)
    lines = ["Region,Rep,Units,Revenue"]
    for region in ("North", "South", "East", "West"):
        lines += [f"{region},Rep{r.integers(1, 9)},{r.integers(1, 50)},{r.uniform(100, 9999):.2f}" for _ in range(50)]
        lines.append(f"{region} Subtotal,,{r.integers(1000, 2000)},{r.uniform(1e5, 3e5):.2f}")
    (tmp_path / "report.csv").write_text("\n".join(lines) + "\n")
    notices = prepare(DataSpec(dataset=str(tmp_path / "report.csv"), missing="impute"), 0).notices
    assert totals_said(notices) == [
        "warning: data rows 51, 102, 153, 204 look like total lines ('North Subtotal' in column Region), not records: "
        "their numbers would train as one; delete them from the file"], notices
