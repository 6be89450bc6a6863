"""A model trained with --missing drop answers for no row with an empty cell, as it trained: `predict` keeps such
a row in its place with empty prediction cells, `eval` leaves it out of the metrics, each with a note. Before,
both refused the file - and the run's own `next:` line, `torchtui predict RUN/best.pt ITS-DATA.csv`, failed on the
data it had just trained on."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tui.cli import app
from tui.core import checkpoint


def gappy(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two numbers, a text column, a class; some cells of each feature empty."""
    r = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": r.normal(0, 1, n).round(4), "b": r.normal(5, 2, n).round(4),
                          "city": r.choice(["north", "south"], n)})
    frame["label"] = np.where(frame.a + (frame.city == "north") > 0.5, "yes", "no")
    frame.loc[frame.index % 9 == 3, "b"] = np.nan
    frame.loc[frame.index % 13 == 5, "city"] = np.nan
    return frame


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def tui(*args: str, cwd: Path) -> Done:
    """`torchtui ARGS` in `cwd`, in this process (typer's runner): a new interpreter each took seconds."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        done = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(here)
    return Done(done.exit_code, done.stdout, done.stderr)


def trained(tmp_path: Path, *extra: str) -> tuple[Path, Path, str]:
    """(run folder, data file, the run's console output) of a --missing drop run on `gappy` rows."""
    data = tmp_path / "gappy.csv"
    gappy().to_csv(data, index=False)
    done = tui("run", "--dataset", str(data), "--target", "label", "--missing", "drop", "--epochs", "2",
               "--name", "dropper", *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "checkpoints" / "dropper", data, done.stdout


def test_the_runs_next_line_predicts_its_own_data_each_row_in_its_place(tmp_path):
    folder, data, out = trained(tmp_path)
    [hint] = [line for line in out.splitlines() if line.startswith("next: ")]
    command = shlex.split(hint[len("next: "):])
    assert command[:2] == ["torchtui", "predict"]
    done = tui(*command[1:], cwd=tmp_path)  # as printed
    assert done.returncode == 0, done.stderr
    frame = gappy()
    empty = frame[["a", "b", "city"]].isna().any(axis=1).to_numpy()
    first = int(np.argmax(empty)) + 1
    assert done.stderr.strip() == (
        f"note: {int(empty.sum())} row(s) with an empty cell or no number where the model takes one (first: data row "
        f"{first}, column b) not predicted (their prediction cells are empty): the model trained with --missing drop, "
        "which leaves such rows out; fill those cells to predict them")
    assert done.stdout.strip() == (f"wrote {len(frame)} rows to predictions.csv: {int((~empty).sum())} predicted, "
                                   f"{int(empty.sum())} with an empty cell not")
    got = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    assert len(got) == len(frame)
    assert (got.loc[empty, ["label", "p_no", "p_yes"]] == "").all().all()

    # the other rows: the very predictions of a file of those rows alone
    frame[~empty].to_csv(tmp_path / "complete.csv", index=False)
    alone = tui("predict", str(folder), str(tmp_path / "complete.csv"), "--json", cwd=tmp_path)
    assert alone.returncode == 0 and json.loads(alone.stdout)["left_out_rows"] == [], alone.stderr
    expected = pd.DataFrame(json.loads(alone.stdout)["predictions"])
    answered = pd.read_csv(tmp_path / "predictions.csv")[~empty].reset_index(drop=True)
    assert answered["label"].tolist() == expected["label"].tolist()
    probabilities = ["p_no", "p_yes"]
    assert np.array_equal(answered[probabilities].to_numpy(np.float32), expected[probabilities].to_numpy(np.float32))


def test_eval_leaves_the_rows_out_of_the_metrics_and_json_says_which(tmp_path):
    folder, data, _ = trained(tmp_path)
    frame = gappy()
    frame.loc[[0, 1], "label"] = np.nan  # a row without its target cannot be scored either
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    empty = frame.isna().any(axis=1).to_numpy()
    frame[~empty].to_csv(tmp_path / "complete.csv", index=False)
    left = json.loads(tui("eval", str(folder), str(tmp_path / "labelled.csv"), "--json", cwd=tmp_path).stdout)
    alone = json.loads(tui("eval", str(folder), str(tmp_path / "complete.csv"), "--json", cwd=tmp_path).stdout)
    assert left["rows"] == alone["rows"] == int((~empty).sum())
    assert left["loss"] == alone["loss"] and left["accuracy"] == alone["accuracy"]
    assert left["confusion"] == alone["confusion"]
    [said] = left["left_out_rows"]
    assert (said["rows"], said["first"], said["column"], said["scored"]) == (int(empty.sum()), 1, "label", True)
    assert alone["left_out_rows"] == []
    shown = tui("eval", str(folder), str(tmp_path / "labelled.csv"), cwd=tmp_path)
    assert shown.returncode == 0 and f"note: {said['message']}" in shown.stderr


def test_a_file_of_nothing_but_such_rows_is_refused_in_one_line(tmp_path):
    folder, _, _ = trained(tmp_path)
    frame = gappy(10)
    frame["b"] = np.nan
    frame.to_csv(tmp_path / "blank.csv", index=False)
    done = tui("predict", str(folder), str(tmp_path / "blank.csv"), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'blank.csv'}: every row has an empty cell (first: data row 1, column b), and the model "
        "trained with --missing drop, which leaves such rows out; fill those cells to predict them")


def test_a_test_file_with_empty_cells_is_predicted_at_the_runs_end(tmp_path):
    test = tmp_path / "test.csv"
    gappy(30, seed=4).drop(columns="label").to_csv(test, index=False)
    folder, _, out = trained(tmp_path, "--test", str(test))
    empty = gappy(30, seed=4)[["a", "b", "city"]].isna().any(axis=1).to_numpy()
    got = pd.read_csv(folder / "predictions.csv", keep_default_na=False)
    assert len(got) == 30 and (got.loc[empty, "label"] == "").all() and (got.loc[~empty, "label"] != "").all()
    [event] = [e for e in map(json.loads, (folder / "events.jsonl").read_text().splitlines())
               if e["event"] == "predictions"]
    assert event["rows"] == 30 and len(event["left_out_rows"]) == 1
    assert f"  note: {event['left_out_rows'][0]}" in out


def test_cells_training_counted_as_empty_are_left_out_and_a_refusal_names_the_files_row(tmp_path):
    """'?' and 'n/a' in a number column were empty to the training (its rows dropped), yet refused by predict as
    'not a finite number'; and with rows left out above it, a refusal named a cell by its place among the rows
    kept, not by its row in the file."""
    folder, _, _ = trained(tmp_path)
    frame = gappy(12).astype(object)
    frame.loc[[0, 2], "b"] = ["?", "n/a"]
    frame.to_csv(tmp_path / "marks.csv", index=False)
    said = json.loads(tui("predict", str(folder), str(tmp_path / "marks.csv"), "--json", cwd=tmp_path).stdout)
    empty = gappy(12)[["a", "b", "city"]].isna().any(axis=1).to_numpy().copy()
    empty[[0, 2]] = True
    assert said["left_out_rows"][0]["rows"] == int(empty.sum()) and said["left_out_rows"][0]["first"] == 1
    assert [p["label"] is None for p in said["predictions"]] == empty.tolist()
    frame.loc[7, "a"] = 1e200  # beyond what its statistics take: refused, by its row in the file
    frame.to_csv(tmp_path / "huge.csv", index=False)
    refused = tui("predict", str(folder), str(tmp_path / "huge.csv"), cwd=tmp_path)
    assert refused.returncode == 2 and "row 8" in refused.stderr.splitlines()[0], refused.stderr


def test_a_model_that_refused_empty_cells_in_training_still_refuses_them(tmp_path):
    data = tmp_path / "whole.csv"
    gappy().dropna().to_csv(data, index=False)
    done = tui("run", "--dataset", str(data), "--target", "label", "--epochs", "1", "--name", "strict", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert checkpoint.load(tmp_path / "checkpoints" / "strict" / "best.pt")["preprocessing"]["missing"] == "error"
    gappy().to_csv(tmp_path / "gappy.csv", index=False)
    refused = tui("predict", "checkpoints/strict", "gappy.csv", cwd=tmp_path)
    assert refused.returncode == 2 and "column b has" in refused.stderr and "empty" in refused.stderr
