"""What an audit of predict, eval and the checkpoints found, each checked on a real run: a target column whose
name is a probability column's lost its predicted labels; a checkpoint whose parts disagree ended in a traceback
or answered NaN; the metrics of a run with several targets pooled values of different units.

(An exported AdamW script with the run's weight decay: tests/test_export.py; best.pt named as a file after a kill
between the saves: tests/test_kill_at_every_write.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.app.results_pane import summary_table
from tui.cli import app
from tui.core.follow import read_run

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "datasets" / "iris.csv"
DIABETES = REPO / "datasets" / "diabetes.csv"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def trained(tmp_path: Path, name: str, *args) -> Path:
    done = invoke("run", *args, "--runs-dir", tmp_path / "runs", "--name", name, "--device", "cpu", "--threads", "1")
    assert done.exit_code == 0, done.output
    return tmp_path / "runs" / name


def test_a_target_named_like_a_probability_column_keeps_its_predicted_labels(tmp_path):
    frame = pd.read_csv(IRIS)
    frame["species"] = frame["species"].map({"setosa": "a", "versicolor": "b", "virginica": "c"})
    frame = frame.rename(columns={"species": "p_a"})
    path = tmp_path / "clash.csv"
    frame.to_csv(path, index=False)
    run = trained(tmp_path, "clash", "--dataset", path, "--target", "p_a", "--epochs", "3")
    said = invoke("predict", run, path)
    assert said.exit_code == 0, said.output
    table = pd.read_csv(pd.io.common.StringIO(said.stdout))
    assert list(table.columns) == ["p_a", "p_a (probability)", "p_b", "p_c"]
    assert set(table["p_a"]) <= {"a", "b", "c"}  # labels, not p(a)
    probs = table[["p_a (probability)", "p_b", "p_c"]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (table["p_a"] == np.array(["a", "b", "c"])[probs.argmax(1)]).all()


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory.mktemp("iris"), "iris", "--dataset", "iris", "--epochs", "2")


def damaged(ckpt: dict, what: str) -> dict:
    c = {**ckpt, "preprocessing": {**ckpt["preprocessing"],
                                   "columns": [dict(col) for col in ckpt["preprocessing"]["columns"]]}}
    pre = c["preprocessing"]
    if what == "fewer classes":
        pre["classes"] = pre["classes"][:1]
    elif what == "a class twice":
        pre["classes"] = [pre["classes"][0], pre["classes"][0], pre["classes"][2]]
    elif what == "no columns entry":
        del pre["columns"]
    elif what == "a NaN spread":
        pre["columns"][0]["std"] = float("nan")
    elif what == "a kind no run writes":
        pre["columns"][0]["kind"] = "weird"
    elif what == "a regression's preprocessing":
        pre["task"], pre["classes"] = "regression", []
    return c


@pytest.mark.parametrize("what, said", [
    ("fewer classes", "its model gives 3 outputs where its preprocessing wants 1"),
    ("a class twice", "a class is named twice"),
    ("no columns entry", "(KeyError: 'columns')"),
    ("a NaN spread", "column sepal_length's statistics are not finite numbers"),
    ("a kind no run writes", "column sepal_length is of kind 'weird'"),
    ("a regression's preprocessing", "its model gives 3 outputs where its preprocessing wants 1"),
])
def test_a_checkpoint_whose_parts_disagree_is_refused_in_one_line(iris_run, tmp_path, what, said):
    # each was a traceback (IndexError, KeyError, a broadcast error) or predictions of NaN, or a probability lost
    ckpt = torch.load(iris_run / "best.pt", weights_only=True)
    path = tmp_path / "edited.pt"
    torch.save(damaged(ckpt, what), path)
    for command in ("predict", "eval"):
        done = invoke(command, path, IRIS)
        assert done.exit_code == 2, (what, command, done.output)
        assert done.stderr == f"error: {path} is a damaged torchtui checkpoint" + (
            ": " if not said.startswith("(") else " ") + said + \
            "; use another checkpoint of the run, or train it again\n", done.stderr


def test_the_metrics_of_several_targets_are_each_in_its_own_units(tmp_path):
    # rmse 47 for a run predicting a disease score (rmse ~56) and a body-mass index (rmse ~3.5): pooled, in no unit
    run = trained(tmp_path, "two", "--dataset", "diabetes", "--target", "progression,bmi", "--epochs", "3")
    said = invoke("eval", run, DIABETES, "--json")
    assert said.exit_code == 0, said.output
    result = json.loads(said.stdout)
    predicted = pd.read_csv(pd.io.common.StringIO(invoke("predict", run, DIABETES).stdout))
    actual = pd.read_csv(DIABETES)
    per_target = {t["target"]: t for t in result["per_target"]}
    assert list(per_target) == ["progression", "bmi"]
    for name, t in per_target.items():
        err = predicted[name].to_numpy() - actual[name].to_numpy()
        assert t["rmse"] == pytest.approx(float(np.sqrt((err ** 2).mean())), rel=1e-5)
        assert t["mae"] == pytest.approx(float(np.abs(err).mean()), rel=1e-5)
        ss = float(((actual[name] - actual[name].mean()) ** 2).sum())
        assert t["r2"] == pytest.approx(1 - float((err ** 2).sum()) / ss, rel=1e-4)
    assert result["r2"] == pytest.approx((per_target["progression"]["r2"] + per_target["bmi"]["r2"]) / 2)
    assert per_target["progression"]["rmse"] > 10 * per_target["bmi"]["rmse"]

    lines = invoke("eval", run, DIABETES).stdout.splitlines()
    assert lines[1].startswith("progression  rmse ") and lines[2].startswith("bmi          rmse ")
    assert lines[3].startswith("r2 mean")

    # the run's own report, as the Results pane shows it: a row per target and metric, no pooled rmse
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    best = next(e for e in events if e["event"] == "evaluation" and e["model"] == "best")
    assert [t["target"] for t in best["per_target"]] == ["progression", "bmi"]
    state, _ = read_run(run)
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(summary_table(state))
    drawn = console.export_text()
    assert "RMSE progression" in drawn and "R² bmi" in drawn and "R² (mean)" in drawn
    assert not any(line.strip().startswith("RMSE ") and "progression" not in line and "bmi" not in line
                   for line in drawn.splitlines())


def test_one_target_keeps_its_metrics_as_before(iris_run, tmp_path):
    run = trained(tmp_path, "one", "--dataset", "diabetes", "--epochs", "1")
    result = json.loads(invoke("eval", run, DIABETES, "--json").stdout)
    assert "per_target" not in result and {"rmse", "mae", "r2"} <= set(result)


def test_an_imputing_model_says_a_cell_it_filled_was_text_not_empty(tmp_path):
    # 'abc' and 'inf' in a number column were filled as training filled them, and called "empty cells"
    frame = pd.read_csv(IRIS)
    frame.loc[[3, 9], "sepal_width"] = np.nan
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    folder = trained(tmp_path, "imputes", "--dataset", tmp_path / "gaps.csv", "--missing", "impute", "--epochs", "1")
    rows = pd.read_csv(IRIS).drop(columns="species").head(5).astype(object)
    rows.loc[0, "sepal_width"], rows.loc[1, "sepal_width"], rows.loc[2, "sepal_width"] = "abc", None, "inf"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    done = invoke("predict", folder, tmp_path / "rows.csv", "--json")
    assert done.exit_code == 0, done.output
    [filled] = json.loads(done.stdout)["filled"]
    assert (filled["rows"], filled["not_numbers"], filled["examples"]) == (3, 2, ["abc", "inf"])
    assert filled["message"].startswith("column sepal_width: 1 empty cell and 2 cell(s) that are not finite numbers "
                                        "('abc', 'inf') filled with the training median ")


def test_a_file_read_by_the_runs_separator_that_lacks_the_columns_says_how_it_was_read(tmp_path):
    # a ',' file given to a model trained with --sep ';' was one column: "lacks the feature columns", nothing more
    (tmp_path / "semi.csv").write_text(IRIS.read_text().replace(",", ";"))
    folder = trained(tmp_path, "semi", "--dataset", tmp_path / "semi.csv", "--sep", ";", "--epochs", "1")
    done = invoke("predict", folder, IRIS)
    assert done.exit_code == 2 and done.stderr.splitlines()[-1] == (
        "  note: read with separator ';', decimal '.', header line, encoding utf-8: the run's format flags (--sep "
        "';'), which predict and eval keep; a file written otherwise needs flags of its own (--sep auto finds its "
        "separator)"), done.stderr
    assert invoke("predict", folder, IRIS, "--sep", "auto").exit_code == 0
    assert "format flags" not in invoke("predict", trained(tmp_path, "plain", "--dataset", IRIS, "--epochs", "1"),
                                        tmp_path / "semi.csv").stderr  # (none given: no such note)
