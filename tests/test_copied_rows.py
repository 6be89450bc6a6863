"""Validation rows that are copies of training rows are warned about before training (tui/core/copied_rows.py).

A file whose rows were repeated (oversampled, pasted twice) validated the model on rows it trained on, and
its validation loss flattered it without a word. Tables of few-valued columns, whose records share every
value by nature, are not warned about.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tui.core import data
from tui.core.spec import DataSpec

from conftest import train

DATASETS = Path(__file__).resolve().parents[1] / "datasets"


def copies_said(notices: list[str]) -> list[str]:
    return [n for n in notices if "are copies of training rows" in n]


def written(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_a_file_with_repeated_rows_is_warned_of_and_the_count_is_the_validation_rows_with_a_twin(tmp_path):
    wine = pd.read_csv(DATASETS / "wine.csv")
    doubled = written(pd.concat([wine, wine.sample(frac=0.3, random_state=4)]), tmp_path / "doubled.csv")
    _, _, events = train(tmp_path, data__dataset=doubled, train__epochs=1)
    start = next(e for e in events if e["event"] == "start")
    [said] = copies_said(start["notices"])

    table = data.split_table(DataSpec(dataset=doubled), 0, [])  # the run's split, counted another way
    frame = table.frame
    trained = {tuple(r) for r in frame.iloc[table.train_rows].itertuples(index=False)}
    twins = sum(tuple(r) in trained for r in frame.iloc[table.val_rows].itertuples(index=False))
    assert twins >= 5
    assert said.startswith(f"warning: {twins} of {len(table.val_rows)} validation rows (")
    assert "rarely repeats a value" in said and "drop_duplicates" in said


def test_tables_whose_records_share_values_by_nature_are_not_warned_of(tmp_path):
    r = np.random.default_rng(0)
    n = 600  # 3 x 2 x 4 x 2 = 48 possible rows: most rows have twins on both sides of the split
    kinds = pd.DataFrame({"size": r.choice(["s", "m", "l"], n), "colour": r.choice(["red", "green"], n),
                          "age": r.integers(1, 5, n), "bought": r.choice(["yes", "no"], n)})
    sizes = pd.DataFrame({"size": r.choice(["S", "M", "L"], n), "y": r.choice([0, 1], n)})  # 6 distinct rows
    ages = pd.DataFrame({"age": r.integers(18, 90, n), "y": r.choice([0, 1], n)})  # 72 ages, each with both classes
    halves = kinds.assign(note=np.where(np.arange(n) % 2, np.nan, 0.0))[["note", *kinds.columns]]  # empty or 0.0
    for dataset in (written(kinds, tmp_path / "kinds.csv"), written(sizes, tmp_path / "sizes.csv"),
                    written(ages, tmp_path / "ages.csv"), written(halves, tmp_path / "halves.csv"),
                    "iris", "wine", "digits", "diabetes"):
        assert copies_said(data.prepare(DataSpec(dataset=dataset, missing="impute"), 0).notices) == [], dataset
    table = data.split_table(DataSpec(dataset=str(tmp_path / "kinds.csv")), 0, [])
    trained = {tuple(r) for r in table.frame.iloc[table.train_rows].itertuples(index=False)}
    assert sum(tuple(r) in trained for r in table.frame.iloc[table.val_rows].itertuples(index=False)) > 100


def test_one_column_of_few_values_beside_its_label_is_not_warned_of(tmp_path):
    """A survey of 1-5 stars and a yes/no it decides: 5 distinct rows, each star its own, so each looked like a
    value no other row holds, and every validation row was called a copy ("column stars rarely repeats a value").
    Ages in years, a length to the tenth of a centimetre: their values fill the range they lie in."""
    r = np.random.default_rng(2)
    stars = r.integers(1, 6, 40)
    tables = {"stars": pd.DataFrame({"stars": stars, "recommend": np.where(stars >= 4, "yes", "no")}),
              "ages": pd.DataFrame({"age": r.integers(20, 61, 300)}).assign(old=lambda f: (f.age > 40).astype(int)),
              "lengths": pd.DataFrame({"cm": r.normal(170, 8, 500).round(1)}).assign(tall=lambda f: f.cm > 175),
              "cities": pd.DataFrame({"city": [f"city {i}" for i in r.integers(0, 30, 200)]}).assign(
                  coast=lambda f: f.city.str[-1].isin(list("13579")))}
    for name, frame in tables.items():
        notices = data.prepare(DataSpec(dataset=written(frame, tmp_path / f"{name}.csv")), 0).notices
        assert copies_said(notices) == [], (name, notices)
    # the same length column at a measurement's precision, its rows repeated: warned of still
    cm = pd.DataFrame({"cm": r.normal(170, 8, 300).round(3)}).assign(tall=lambda f: f.cm > 175)
    doubled = written(pd.concat([cm, cm]), tmp_path / "doubled.csv")
    [said] = copies_said(data.prepare(DataSpec(dataset=doubled), 0).notices)
    assert "column cm rarely repeats a value" in said


def test_a_validation_file_holding_training_rows_is_warned_of_by_name_whatever_its_number_format(tmp_path):
    r = np.random.default_rng(1)
    frame = pd.DataFrame({"age": r.integers(18, 80, 400), "income": r.normal(50_000, 8_000, 400).round(2)})
    frame["price"] = 3 * frame.age + frame.income / 1000 + r.normal(0, 1, 400).round(3)
    train_file = written(frame.iloc[:300], tmp_path / "train.csv")
    val = pd.concat([frame.iloc[300:], frame.iloc[:40]])  # 40 training rows pasted in
    val["age"] = val["age"].astype(float)  # written 18.0 where the training file says 18: the same row
    val_file = written(val, tmp_path / "val.csv")
    prepared = data.prepare(DataSpec(dataset=train_file, target="price", val=val_file), 0)
    [said] = copies_said(prepared.notices)
    assert said.startswith(f"warning: 40 of 140 rows of the validation file {val_file} (29%)")

    prepared = data.prepare(DataSpec(dataset=train_file, target="price", val=train_file), 0)
    assert copies_said(prepared.notices) == []  # said once, as the training file itself
    assert any(n.startswith(f"warning: the validation file {train_file} is the training file")
               for n in prepared.notices)

    honest = written(frame.iloc[300:], tmp_path / "honest.csv")
    prepared = data.prepare(DataSpec(dataset=train_file, target="price", val=honest), 0)
    assert copies_said(prepared.notices) == []


async def test_the_data_pane_shows_the_copies_warning_above_the_fold_once(tmp_path):
    """The column warnings had their line at the top of the Data pane; this one stood among the notices below
    the preview, out of sight at 80x24. It shows at the top, in warning colour, and not again below."""
    from textual.widgets import Static

    from tui.app.app import TorchTUI

    from test_app import cpu_spec, data_loaded, running, text_of

    wine = pd.read_csv(DATASETS / "wine.csv")
    doubled = written(pd.concat([wine, wine.sample(frac=0.3, random_state=4)]), tmp_path / "doubled.csv")
    [said] = copies_said(data.prepare(DataSpec(dataset=doubled), 0).notices)
    app = TorchTUI(cpu_spec(**{"data.dataset": doubled}))
    async with running(app, (80, 24)) as pilot:
        await data_loaded(app, pilot)
        box = app.query_one("#data-warnings", Static)
        top = text_of(box)
        assert top.startswith("! " + said.removeprefix("warning: ")[:40])
        assert box.display and box.region.y + 2 <= app.size.height - 1  # its first lines above the key bar
        assert "copies of training rows" not in text_of(app.query_one("#data-notices", Static))
        assert str(box.styles.color) != str(app.query_one("#data-notices", Static).styles.color)
