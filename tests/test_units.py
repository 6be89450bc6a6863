"""Columns of numbers written with a unit after each ('190 cm', '87.9 kg', '37.2°C'): an audit with a newcomer's
file found height one-hot encoded as 44 values ('150 cm', '151 cm', ...), weight left out as free text and age
folded into '(other)'. Read as numbers with a note naming the unit (tui/core/reader.py, `_formatted_numbers`), by
predict and the exported script alike; a model trained before the rule reads its files as it did."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tui.core import job, preprocess
from tui.core.data import prepare
from tui.core.reader import Reading, ReadOptions, read_table
from tui.core.spec import DataSpec

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit, predicted_alike


def people(path, rows: int = 120, seed: int = 1):
    """height in cm, weight in kg (one cell '-'), a temperature in °C, age in yrs., tenure in year(s); tall is the
    label."""
    r = np.random.default_rng(seed)
    height, weight = r.integers(150, 201, rows), r.uniform(45, 110, rows).round(1)
    temp, age, tenure = r.normal(36.8, 0.4, rows).round(1), r.integers(18, 81, rows), r.integers(1, 4, rows)
    cells = [[f"{h} cm", f"{w} kg", f"{t}°C", f"{a} yrs.", f"{n} year{'s' if n != 1 else ''}",
              "yes" if h > 175 else "no"] for h, w, t, a, n in zip(height, weight, temp, age, tenure)]
    cells[3][1] = "-"
    path.write_text("height,weight,temp,age,tenure,tall\n" + "".join(",".join(c) + "\n" for c in cells),
                    encoding="utf-8")
    truth = pd.DataFrame({"height": height.astype(float), "weight": weight, "temp": temp, "age": age.astype(float),
                          "tenure": tenure.astype(float)})
    truth.loc[3, "weight"] = np.nan
    return path, truth


def test_numbers_with_a_unit_are_numbers_and_the_note_names_it(tmp_path):
    path, truth = people(tmp_path / "p.csv")
    frame, fmt = read_table(path)
    for c in truth.columns:
        assert np.array_equal(frame[c].to_numpy(float), truth[c].to_numpy(float), equal_nan=True), c
    assert fmt.units == {"height": "cm", "weight": "kg", "temp": "°C", "age": "yrs.", "tenure": "year(s)"}
    assert f"column height: numbers in cm written as '{int(truth.height[0])} cm' read as numbers " \
           f"({int(truth.height[0])})" in fmt.notes
    data = prepare(DataSpec(dataset=str(path), missing="impute"), 0)
    assert [(c.name, c.kind) for c in data.pre.columns] == [(c, "numeric") for c in truth.columns]
    assert data.pre.suffixes is True


def test_mixed_units_and_ordinals_stay_text(tmp_path):
    """'1.9 m' beside '190 cm' is not one quantity's numbers, nor '1st' beside '2nd', nor '5more' beside 2, 3, 4; an
    address is no number."""
    rows = [f"{'190 cm' if i % 2 else '1.9 m'},{i + 1}{['st', 'nd', 'rd', 'th'][min(i, 3)]},{i} Main St,"
            f"{[2, 3, 4, '5more'][i % 4]},{i} {'m' if i % 2 else 'ms'},{'ab'[i % 2]}" for i in range(12)]
    (tmp_path / "m.csv").write_text("size,place,address,doors,time,label\n" + "\n".join(rows) + "\n")
    frame, fmt = read_table(tmp_path / "m.csv")
    assert frame["size"][0] == "1.9 m" and frame["place"][0] == "1st" and frame["address"][0] == "0 Main St"
    assert frame["doors"][3] == "5more"  # a word on some cells only (UCI's car data): no unit
    assert frame["time"][0] == "0 ms"  # metres beside milliseconds: 'ms' is no plural of 'm'
    assert fmt.units == {} and fmt.formatted == []


def test_predict_and_the_exported_script_read_the_units_alike(tmp_path):
    path, truth = people(tmp_path / "p.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), data__missing="impute", train__epochs=2)
    _, folder = job.run(spec, lambda e: None)
    plain = tmp_path / "plain.csv"  # the same rows written as bare numbers: the same predictions
    truth.assign(tall=pd.read_csv(path)["tall"]).to_csv(plain, index=False)
    predicted_alike(folder.path, {"units": path, "plain": plain}, tmp_path, columns="p_")
    export_runs_bit_for_bit(folder.path, path, tmp_path)


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    path, _ = people(tmp_path / "p.csv")
    spec = make_spec(tmp_path, data__dataset=str(path), data__missing="impute", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(suffixes=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "suffixes", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).suffixes is False
    assert all(c["kind"] != "numeric" for c in saved["columns"] if c["name"] == "height")
    frame, _ = read_table(path, ReadOptions(reading=preprocess.reading_of(saved)))
    assert frame["height"][0].endswith(" cm")
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


def test_sap_negatives_with_the_minus_after_are_numbers(tmp_path):
    """SAP writes a negative amount with its minus after it ('2.583,07-'): the column was left out as free text.
    The exported script reads it alike."""
    r = np.random.default_rng(7)
    amount = (r.normal(0, 2000, 150)).round(2)
    amount[0] = -1234567.89
    written = [f"{abs(a):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") + ("-" if a < 0 else "")
               for a in amount]
    quantity = r.integers(1, 20, 150)
    lines = ["Belegnr;Betrag;Menge;Storno"] + [f"{i};{w};{q};{'ja' if a < -1000 else 'nein'}"
                                                for i, (w, q, a) in enumerate(zip(written, quantity, amount))]
    path = tmp_path / "sap.csv"
    path.write_text("\n".join(lines) + "\n")
    frame, fmt = read_table(path)
    assert np.array_equal(frame["Betrag"].to_numpy(float), amount) and fmt.decimal == ","
    assert "Betrag" in fmt.signed and any(w.endswith("-") for w in written)
    # the note says its example whole (it said 1.23457e+06)
    assert "column Betrag: numbers written as '1.234.567,89-' read as numbers (-1234567.89)" in fmt.notes
    for bad in ("-5-", "(5-)"):  # a minus on both sides is no number
        (tmp_path / "bad.csv").write_text("x;y\n" + "".join(f"{v};a\n" for v in ["1.234,50-", bad, "7,00"]))
        assert read_table(tmp_path / "bad.csv")[0]["x"][1] == bad
    spec = make_spec(tmp_path, data__dataset=str(path), train__epochs=2)
    _, folder = job.run(spec, lambda e: None)
    export_runs_bit_for_bit(folder.path, path, tmp_path)


def test_a_tab_separated_file_of_numbers_with_units_is_split_on_its_tabs(tmp_path):
    """Blanks split '174 cm' into more numbers than tabs do: the file was read as separated by blanks, its header
    line skipped as metadata and 'cm' a constant column of its own (a model trained before reads it so still)."""
    r = np.random.default_rng(8)
    rows = [f"{h} cm\t{w:.1f}\tStore {s}\t{'M' if h > 175 else 'F'}" for h, w, s in
            zip(r.integers(150, 201, 100), r.uniform(50, 110, 100), r.integers(1, 9, 100))]
    path = tmp_path / "people.tsv"
    path.write_text("height\tweight\tstore\tsex\n" + "\n".join(rows) + "\n")
    frame, fmt = read_table(path)
    assert fmt.sep == "\t" and fmt.header and list(frame.columns) == ["height", "weight", "store", "sex"]
    assert fmt.units == {"height": "cm"} and frame["store"][0].startswith("Store ")
    _, before = read_table(path, ReadOptions(reading=Reading(suffixes=False)))
    assert before.sep != "\t"
