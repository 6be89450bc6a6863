"""A first line holding a run of 8 or more whole numbers counting up by one ('store,0,1,...,23,busy': a pivot
table's hours over counts that hold the same numbers) is the header (tui/core/reader.py, `_a_long_count`). Before,
the numbers fitting their columns made it a row: the columns were col1..col26, the target's name 'busy' a class of
one row (warned). A model trained before the rule reads its files as it did."""

from __future__ import annotations

import random
from pathlib import Path

from tui.core import job, preprocess
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule


def pivot(path: Path, hours: range = range(24), stores: int = 120) -> Path:
    rng = random.Random(4)
    lines = ["store," + ",".join(map(str, hours)) + ",busy"]
    for s in range(stores):
        counts = [max(0, int(rng.gauss(30 if 8 <= h <= 20 else 5, 8))) for h in hours]
        lines.append(f"S{s:03d}," + ",".join(map(str, counts)) + f",{'yes' if sum(counts) > 20 * len(hours) else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_pivot_tables_hours_are_its_header(tmp_path):
    frame, fmt = read_table(pivot(tmp_path / "pivot.csv"))
    assert fmt.header and list(frame.columns) == ["store", *map(str, range(24)), "busy"] and len(frame) == 120
    days, _ = read_table(pivot(tmp_path / "days.csv", range(1, 32)))
    assert list(days.columns)[1:4] == ["1", "2", "3"] and len(days) == 120


def test_a_shorter_count_or_a_row_of_numbers_is_still_data(tmp_path):
    """Seven numbers counting up decide nothing alone; a first row that is plain data stays data."""
    short = tmp_path / "week.csv"
    short.write_text("".join(f"{','.join(str(d + i % 3) for d in range(1, 8))},{i % 2}\n" for i in range(40)))
    frame, fmt = read_table(short)
    assert not fmt.header and len(frame) == 40


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data = pivot(tmp_path / "pivot.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(counts=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "counts", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).counts is False and saved["targets"] == ["col26"]
    frame, fmt = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert not fmt.header and len(frame) == 121
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    assert job.plan(make_spec(tmp_path, data__dataset=str(data))).data.pre.targets == ["busy"]
