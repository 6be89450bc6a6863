"""In a file R's write.csv wrote (every text in quotes), "NA" in quotes is the text NA - Namibia's country code,
North America - and only a bare NA is a missing value (tui/core/reader.py, `_quoted_na_cells`). pandas reads both
as empty: Namibia's rows were filled as missing under --missing impute and dropped under drop. A file whose
fields a quote-blind reading splits otherwise keeps both empty, as before. The exported script tells them apart
too; a model trained before the rule reads its files as it did."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job, preprocess
from tui.core.reader import Reading, ReadOptions, read_table

from conftest import make_spec, trained_before_the_rule
from test_export import export_runs_bit_for_bit

CODES = ["NA", "ZA", "KE", "BW", "ZM"]


def r_written(path: Path, rows: int = 240, seed: int = 5, name_of=None) -> tuple[Path, list[str | None]]:
    """Countries as R's write.csv writes them: row names first under "", text in quotes, a missing code bare NA.
    The income group follows the country (Namibia and South Africa upper) and the GDP."""
    rng = random.Random(seed)
    lines, codes = ['"","country","gdp","pop","group"'], []
    for i in range(1, rows + 1):
        code = rng.choice(CODES)
        gdp = round(rng.uniform(1, 20), 2)
        missing = rng.random() < 0.05
        upper = code in ("NA", "ZA") or gdp > 15
        who = f'"{name_of(code) if name_of else code}"'
        lines.append(f'"{i}",{"NA" if missing else who},{gdp},{rng.randint(1, 60)},"{"upper" if upper else "lower"}"')
        codes.append(None if missing else code)
    path.write_text("\n".join(lines) + "\n")
    return path, codes


def test_a_quoted_na_is_the_text_and_a_bare_one_is_missing(tmp_path):
    data, codes = r_written(tmp_path / "countries.csv")
    frame, fmt = read_table(data)
    assert [None if pd.isna(v) else v for v in frame["country"]] == codes
    n_text, n_bare = codes.count("NA"), codes.count(None)
    assert n_text > 20 and n_bare > 5
    assert f"{n_bare} bare NA cell(s) among text in quotes read as empty: R's mark of a missing value (its " \
           "write.csv quotes every text)" in fmt.notes
    assert f'{n_text} cell(s) "NA" in quotes (column country) read as the text NA, not as a missing value: ' \
           "R's write.csv quotes the text NA and leaves its missing NA bare" in fmt.notes


def test_a_file_whose_quotes_hold_separators_keeps_both_empty(tmp_path):
    """'Namibia, Republic of' split by a quote-blind reading: nothing can be told apart, and nothing is made up."""
    data, codes = r_written(tmp_path / "named.csv", name_of=lambda c: "Namibia, Republic of" if c == "NA" else c)
    frame, fmt = read_table(data)
    assert frame["country"].isna().sum() == codes.count(None)
    assert frame["country"].eq("Namibia, Republic of").sum() == codes.count("NA")
    mixed = tmp_path / "mixed.csv"
    codes_written = ["NA" if i % 7 == 0 else '"NA"' if i % 3 == 0 else '"KE"' for i in range(40)]
    mixed.write_text('"city","code","y"\n' + "".join(f'"Town, {i}",{c},{i % 2}\n' for i, c in enumerate(codes_written)))
    frame, fmt = read_table(mixed)
    assert frame["code"].isna().sum() == sum(i % 7 == 0 or i % 3 == 0 for i in range(40))  # as before: all empty
    assert not any('in quotes (column' in n for n in fmt.notes)


def test_namibia_trains_as_a_country_of_its_own_and_the_script_reads_it_so(tmp_path):
    data, codes = r_written(tmp_path / "countries.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__missing="impute", train__epochs=2, train__threads=1)
    outcome, folder = job.run(spec, lambda e: None)
    assert outcome.status == "done"
    pre = preprocess.Preprocessor.from_dict(
        __import__("torch").load(folder.path / "last.pt", weights_only=True)["preprocessing"])
    country = next(c for c in pre.columns if c.name == "country")
    assert "NA" in country.categories and preprocess.MISSING in country.categories
    export_runs_bit_for_bit(folder.path, data, tmp_path)
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    filled = [line for line in done.stderr.splitlines() if "column country" in line and "filled" in line]
    assert filled and f"{codes.count(None)} empty cell" in filled[0], done.stderr


def test_a_model_trained_before_the_rule_reads_its_files_as_it_did(tmp_path, monkeypatch):
    data, codes = r_written(tmp_path / "countries.csv")
    spec = make_spec(tmp_path, data__dataset=str(data), data__missing="impute", train__epochs=2)
    rules_then = (*job.plan.__defaults__[:-1], Reading(quoted_na=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "quoted_na", [(job.plan, "__defaults__", rules_then)])
    assert preprocess.reading_of(saved).quoted_na is False
    assert "NA" not in next(c for c in saved["columns"] if c["name"] == "country")["categories"]
    frame, _ = read_table(data, ReadOptions(reading=preprocess.reading_of(saved)))
    assert frame["country"].isna().sum() == codes.count(None) + codes.count("NA")
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=3)
    assert resumed.progress.epoch == 3
    done = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 0, done.output
    assert "unseen" not in done.stderr and len(pd.read_csv(tmp_path / "p.csv")) == 240
