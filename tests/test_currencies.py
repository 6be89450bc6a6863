"""Numbers written with a currency sign beyond $ € £ ¥ (₹ ₩ ₽ ₺ ...), 'Rs.' before them, and India's grouping of
digits ('12,34,567': two digits a group above the thousands) are numbers (tui/core/reader.py, `_people_number`).
Before, an Indian car listing's '₹ 4,50,000' prices (and a distance past a lakh, '1,02,345') were text: a target
of them was taken for one class per price, a feature left out as free text. The exported script reads them to the
bit; a model trained before the rule reads its files as it did."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job, preprocess
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit, predicted_alike


def lakhs(n: int) -> str:
    """`n` grouped as India writes it: 4,50,000; 1,23,45,678."""
    head, tail = str(n)[:-3], str(n)[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *groups, tail] if head else [*groups, tail])


def listing(path: Path, price=lambda p: f'"₹ {lakhs(p)}"', km=lambda k: f'"{lakhs(k)}"', rows: int = 200) -> Path:
    """Used cars: year, distance driven, price falling with age and distance."""
    rng = random.Random(2)
    lines = ["year,km_driven,selling_price"]
    for _ in range(rows):
        k, y = rng.randint(5000, 250000), rng.randint(2008, 2022)
        p = max(int(900000 - (2023 - y) * 45000 - k * 1.5 + rng.gauss(0, 20000)), 40000)
        lines.append(f"{y},{km(k)},{price(p)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("cells, values", [
    (["₹ 4,50,000", "₹12,34,567.50", "₹ 999"], [450000, 1234567.5, 999]),
    (["Rs. 1,00,000", "Rs 2,500", "Rs.75"], [100000, 2500, 75]),
    (["1,23,45,678", "12,345", "5"], [12345678, 12345, 5]),
    (["₩12,000", "₩1,500,000"], [12000, 1500000]),
    (["₺1,250.50", "₱ 30", "₦2,000", "₪45", "฿100", "99¢"], [1250.5, 30, 2000, 45, 100, 99]),
])
def test_each_writes_its_number(tmp_path, cells, values):
    data = tmp_path / "prices.csv"
    data.write_text("item,price\n" + "".join(f'i{i},"{c}"\n' for i, c in enumerate(cells)))
    frame, fmt = read_table(data)
    assert frame["price"].tolist() == values and "price" in fmt.formatted


@pytest.mark.parametrize("cells", [["1,2,3", "4"], ["12,345,67", "1"], ["Rs", "12"]])
def test_groupings_no_one_writes_stay_text(tmp_path, cells):
    data = tmp_path / "odd.csv"
    data.write_text("item,price\n" + "".join(f'i{i},"{c}"\n' for i, c in enumerate(cells)))
    frame, fmt = read_table(data)
    assert "price" not in fmt.formatted and not pd.api.types.is_numeric_dtype(frame["price"])


def test_a_rupee_price_trains_as_a_regression_target(tmp_path):
    data = listing(tmp_path / "cars.csv")
    done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--epochs", "5", "--runs-dir",
                                    str(tmp_path / "runs"), "--json"])
    assert done.exit_code == 0, done.output
    events = [json.loads(line) for line in done.stdout.splitlines()]
    notices = next(e["notices"] for e in events if e["event"] == "start")
    assert any(n.startswith("column selling_price: numbers written as '₹ ") for n in notices), notices
    assert any(n.startswith("column km_driven: numbers written as") for n in notices), notices
    end = events[-1]
    assert end["event"] == "end" and end["best_metrics"]["r2"] > 0.9, end


def test_prices_written_two_ways_predict_alike_and_the_script_reads_them_to_the_bit(tmp_path):
    rupees = listing(tmp_path / "cars.csv")
    rs = listing(tmp_path / "cars_rs.csv", price=lambda p: f'"Rs. {lakhs(p)}"', km=str)
    spec = make_spec(tmp_path, data__dataset=str(rupees), data__target="year", train__epochs=2, train__threads=1)
    _, folder = job.run(spec, lambda e: None)
    predicted_alike(folder.path, {"rupees": rupees, "rs": rs}, tmp_path)
    export_runs_bit_for_bit(folder.path, rupees, tmp_path)
    (tmp_path / "rs").mkdir()
    export_runs_bit_for_bit(folder.path, rs, tmp_path / "rs")


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data = listing(tmp_path / "cars.csv", km=str)
    spec = make_spec(tmp_path, data__dataset=str(data), data__target="year", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(currencies=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "currencies", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).currencies is False
    frame, fmt = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert fmt.formatted == [] and not pd.api.types.is_numeric_dtype(frame["selling_price"])
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    fresh = job.plan(make_spec(tmp_path, data__dataset=str(data), data__target="year"))
    assert [c.kind for c in fresh.data.pre.columns] == ["numeric", "numeric"]
