"""Numbers in the forms spreadsheets write beyond a file's own marks (an audit with newcomers' files): a comma-
separated file's quoted decimal commas ("0,420" was read as 420, with a note that said so, and "1,92" left out as
'looks like dates'), accounting negatives "(1,067.49)" and the minus sign U+2212 (left out as text). Each test failed
on the code before the rule; a model trained before it reads its files as it did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tui.core import checkpoint, job, preprocess
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit, predicted_alike


def write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ledger(rows: int = 80, seed: int = 3) -> tuple[list[str], pd.DataFrame]:
    """A sheet saved as CSV in a decimal-comma locale, its amounts in accounting style: the lines, and the numbers
    they write. `share` (0..9, three decimals: '6,476' could be a thousand) decides the label."""
    r = np.random.default_rng(seed)
    share = r.uniform(0, 9, rows).round(3)
    share[:3] = [0.42, 0.314, 0.125]  # (a '0,' first: no thousand starts so)
    rate = r.uniform(0, 1, rows).round(2)
    amount = r.uniform(-2000, 3000, rows).round(2)
    delta = r.uniform(-5, 5, rows).round(2)
    label = np.where(share + rate > 5, "high", "low")
    lines = ["share,rate,amount,delta,label"]
    for s, t, a, d, y in zip(share, rate, amount, delta, label):
        cells = ['"' + f"{s:.3f}".replace(".", ",") + '"', ('"€' if t > 0.5 else '"') + f"{t:.2f}".replace(".", ",")
                 + '"', f'"({-a:,.2f})"' if a < 0 else f'"{a:,.2f}"', ("−" if d < 0 else "") + f"{abs(d):.2f}", y]
        lines.append(",".join(cells))
    return lines, pd.DataFrame({"share": share, "rate": rate, "amount": amount, "delta": delta, "label": label})


def test_a_sheets_decimal_commas_ledger_negatives_and_minus_signs_are_read_as_numbers(tmp_path):
    lines, truth = ledger()
    assert lines[1].startswith('"0,420","') and "(" in "".join(lines) and "−" in "".join(lines)
    frame, fmt = read_table(write(tmp_path / "sheet.csv", lines))
    for c in ("share", "rate", "amount", "delta"):
        assert np.allclose(frame[c].to_numpy(dtype=float), truth[c]), c
    assert frame["share"][0] == 0.42  # (it was 420, said in a note as "read as numbers (420)")
    assert fmt.column_marks == {"share": ",", "rate": ","} and sorted(fmt.signed) == ["amount", "delta"]
    assert any("'0,420' (decimal mark ',') read as numbers (0.42)" in n for n in fmt.notes), fmt.notes


def test_thousands_pairs_and_text_stay_as_they_were_read(tmp_path):
    lines = ["units,pair,code,note,y"] + [f'"{i + 1},{i:03d}","({i},{i + 1})",A{i},"{i},5 or so",{i % 2}'
                                          for i in range(30)]
    frame, fmt = read_table(write(tmp_path / "t.csv", lines))
    assert frame["units"].tolist()[:2] == [1000, 2001]  # a thousands comma, the file's own mark, as before
    assert frame["pair"][0] == "(0,1)" and frame["code"][0] == "A0" and frame["note"][0] == "0,5 or so"
    assert fmt.formatted == ["units"] and not fmt.column_marks


def test_a_model_reads_a_columns_cells_with_the_mark_it_was_trained_with(tmp_path):
    """A file for predict whose share column holds only cells either mark could write ('6,476'): the model read the
    column with a decimal comma, so 6.476 - not the 6476 the file's own mark would say - and its predictions are
    those of the same rows written with decimal dots."""
    lines, truth = ledger()
    sheet = write(tmp_path / "sheet.csv", lines)
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(sheet), data__target="label", train__epochs=3),
                        lambda e: None)
    pre = checkpoint.load(folder.path / "best.pt")["preprocessing"]
    assert pre["forms"] is True and pre["number_marks"] == {"amount": ".", "delta": ".", "rate": ",", "share": ","}
    ambiguous = ["share,rate,amount,delta"] + ['"6,476","0,50","1,250.00",1.25', '"1,500",0.25,"(20.00)",−3.00']
    dotted = ["share,rate,amount,delta", "6.476,0.5,1250,1.25", "1.5,0.25,-20,-3"]
    predicted_alike(folder.path, {name: write(tmp_path / f"{name}.csv", rows)
                                  for name, rows in (("ambiguous", ambiguous), ("dotted", dotted))}, tmp_path)
    export_runs_bit_for_bit(folder.path, sheet, tmp_path)


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    """Its '0,420' was 420 in training: its resume is not 'data changed', and its files read so still."""
    _, truth = ledger(40)
    sheet = write(tmp_path / "old.csv", ["share,label"] + ['"' + f"{s:.3f}".replace(".", ",") + f'",{y}'
                                                          for s, y in zip(truth["share"], truth["label"])])
    assert sheet.read_text().splitlines()[1] == '"0,420",low'
    spec = make_spec(tmp_path, data__dataset=str(sheet), data__target="label", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(forms=False))  # a new run's rules: as before this one
    folder, saved = trained_before_the_rule(monkeypatch, spec, "forms", [(job.plan, "__defaults__", rules_then)])
    assert "number_marks" not in saved and preprocess.reading_of(saved).forms is False
    frame, _ = read_table(sheet, ReadOptions(reading=preprocess.reading_of(saved)))
    assert frame["share"][0] == 420  # as it was trained
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3


@pytest.mark.parametrize("cells", [['"(1,067.49)"', '"(20.00)"'], ['"1,5"', '"(3,4)"']])
def test_parentheses_alone_are_not_negatives(tmp_path, cells):
    """Every cell in parentheses is no ledger (pairs, notes): left as text. Nor a pair with the other mark."""
    frame, fmt = read_table(write(tmp_path / "p.csv", ["v,y"] + [f"{c},{i % 2}" for i, c in enumerate(cells * 10)]))
    assert not pd.api.types.is_numeric_dtype(frame["v"]) and fmt.formatted == []


def test_a_sheets_accounting_format_reads_its_zeros_and_negatives(tmp_path):
    """Excel's accounting format saved as shown: '$ 1,234.50', its zero '$ -' and its negative '$ (1,234.50)', the
    sign outside the parentheses. The column was one-hot encoded, value by value; a dash alone is still empty."""
    r = np.random.default_rng(8)
    amount = np.where(r.uniform(size=60) < 0.3, 0.0, r.uniform(-3000, 3000, 60).round(2))
    amount[:3] = [0.0, -1234.5, 12.0]
    label = np.where(amount > 100, "big", "small")
    cells = ['" $ -   "' if a == 0 else f'" $ ({-a:,.2f})"' if a < 0 else f'" $ {a:,.2f} "' for a in amount]
    cells[5] = "-"
    sheet = write(tmp_path / "sheet.csv", ["amount,label"] + [f"{c},{y}" for c, y in zip(cells, label)])
    frame, fmt = read_table(sheet)
    truth = pd.Series(amount).where(pd.Series(range(60)) != 5)
    assert np.allclose(frame["amount"].to_numpy(float), truth.to_numpy(float), equal_nan=True)
    assert fmt.formatted == ["amount"] and fmt.zeros == ["amount"] and fmt.signed == ["amount"]
    assert "column amount: numbers written as '$ (1,234.50)' read as numbers (-1234.5)" in fmt.notes
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(sheet), data__target="label", data__missing="impute",
                                  train__epochs=2), lambda e: None)
    shown = ['amount', '" $ -   "', '" $ (20.00)"', '" $ 1,250.00 "']
    predicted_alike(folder.path, {name: write(tmp_path / f"{name}.csv", rows) for name, rows in (
        ("shown", shown), ("plain", ["amount", "0", "-20", "1250"]))}, tmp_path)
    export_runs_bit_for_bit(folder.path, sheet, tmp_path)
