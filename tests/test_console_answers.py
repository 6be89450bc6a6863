"""What the console answers where it used to stay silent or say too little (issue 15, items 7, 9, 10).

- `predict` / `eval` on rows whose text value the model has no category for: counted, named, and
  what was done with them said - and that is what was done (the outputs are checked with torch.equal).
- A refused command under `--json` prints exactly one JSON error line, an `error` event of kind
  `refused` that fits the event schema (after the `loading` events of a run that had begun reading),
  whether refused by the command line itself (`--lr abc`), the spec, a missing file or the data; and
  one line on stderr (with the notes of what was read before it), exit code 2, never click's usage block.
  A failure before training (out of memory placing the model) is its one `error` event too.
- `eval` on a regression model labels a loss on the standardised target as such; the Results pane
  says what `eval` and `predict` say.
- A SIGINT that lands while a finished run's process exits does not kill it: exit code 0.

Commands run in this process through typer's CliRunner; the signal test needs a real process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from tui.cli import app, guarded
from tui.core.errors import UserError
from tui.core.event_schema import problems
from tui.core.predict import Predictor
from tui.core.preprocess import ALL_ZERO, MAX_LEVELS, OTHER
from tui.core.spec import spec_fields

from conftest import train

REPO = Path(__file__).resolve().parents[1]


def invoke(*args):
    """`torchtui ARGS` in this process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args])


def error_and_notes(stderr: str) -> tuple[str, list[str]]:
    """A refusal on stderr: one error line, then the notes of what was decided before it, if any."""
    lines = stderr.splitlines()
    assert lines and lines[0].startswith("error: ") and "Usage" not in stderr and "Traceback" not in stderr, stderr
    assert all(line.startswith("  note: ") for line in lines[1:]), stderr
    return lines[0][len("error: "):], [line[len("  note: "):] for line in lines[1:]]


def one_error_line(stderr: str) -> str:
    message, notes = error_and_notes(stderr)
    assert notes == [], f"expected one line on stderr, got {stderr!r}"
    return message


def refusal(result, json_form: str = "event") -> dict:
    """The checks every refusal passes: exit 2, one error line on stderr (and its notes); under --json one
    JSON line on stdout, which is returned (an `error` event of kind `refused` that fits the schema and
    holds the same message and notes, or `{"error": ...}`)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    message, notes = error_and_notes(result.stderr)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    errors = [e for e in lines if e.get("event") == "error" or "error" in e]
    assert len(errors) == 1 and errors[0] is lines[-1], f"expected one error line, last, got {result.stdout!r}"
    said = lines[-1]
    if json_form == "event":  # a run's events may come before it (`loading`: reading the file)
        assert all(problems(e) == [] for e in lines) and said["kind"] == "refused", said
        assert said["message"] == message and said["notes"] == notes
    else:
        assert lines == [{"error": message}]
    return said


# ---- text values the model has no category for ------------------------------------------------------
def city_table(rows: int, cities: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = np.array(cities)[np.arange(rows) % len(cities)]
    x = rng.normal(size=rows)
    return pd.DataFrame({"x": x, "city": city, "y": np.where(x + (city == cities[0]) > 0.3, "yes", "no")})


@pytest.fixture(scope="module")
def city_runs(tmp_path_factory):
    """Two small real runs: 3 cities (unseen values become all zeros), 60 cities (they become `(other)`)."""
    tmp = tmp_path_factory.mktemp("cities")
    folders = {}
    for name, cities in (("few", ["Zurich", "Basel", "Geneva"]), ("many", [f"town{i:02d}" for i in range(60)])):
        path = tmp / f"{name}.csv"
        city_table(240, cities).to_csv(path, index=False)
        _, run, _ = train(tmp, **{"data.dataset": str(path), "data.target": "y", "train.epochs": 2, "run.name": name})
        folders[name] = run.path
    return tmp, folders


def test_predict_says_which_rows_of_which_column_had_values_never_seen_and_they_became_zeros(city_runs):
    tmp, folders = city_runs
    new = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4, 0.5], "city": ["Bern", "Zurich", "Bern", "Lugano", "Basel"]})
    new.to_csv(tmp / "new.csv", index=False)
    plain = invoke("predict", folders["few"], tmp / "new.csv")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stderr.splitlines() == ["note: column city: 3 rows with values not seen in training ('Bern', "
                                         "'Lugano'): encoded as all-zero one-hot (no category of its own)"]
    assert len(pd.read_csv(tmp / "new.csv")) == 5 and plain.stdout.splitlines()[0] == "y,p_no,p_yes"
    answer = json.loads(invoke("predict", folders["few"], tmp / "new.csv", "--json").stdout)
    assert answer["rows"] == 5 and answer["output"] is None and len(answer["predictions"]) == 5
    [unseen] = answer["unseen"]
    assert (unseen["column"], unseen["rows"], unseen["values"], unseen["encoded_as"]) == \
        ("city", 3, ["Bern", "Lugano"], ALL_ZERO)
    # what it says is what was done: the city inputs of those rows are all zeros
    predictor = Predictor.load(folders["few"] / "best.pt")
    x = predictor.pre.transform_x(new)
    city = [i for i, c in enumerate(predictor.pre.columns) if c.name == "city"][0]
    one_hot = x[:, city:city + predictor.pre.columns[city].width]
    assert one_hot[[0, 2, 3]].sum() == 0 and (one_hot[[1, 4]].sum(axis=1) == 1).all()
    with torch.no_grad():
        assert torch.equal(predictor.outputs(new, "new"), predictor.model(torch.from_numpy(x)))


def test_a_value_outside_the_kept_categories_is_said_as_encoded_other(city_runs):
    tmp, folders = city_runs
    predictor = Predictor.load(folders["many"] / "best.pt")
    column = next(c for c in predictor.pre.columns if c.name == "city")
    assert OTHER in column.categories and len(column.categories) == MAX_LEVELS  # the rarest folded in training
    kept = column.categories[0]
    new = pd.DataFrame({"x": [0.1, 0.2], "city": ["Bern", kept], "y": ["no", "yes"]})
    new.to_csv(tmp / "other.csv", index=False)
    out = tmp / "predicted.csv"
    answer = json.loads(invoke("predict", folders["many"], tmp / "other.csv", "-o", out, "--json").stdout)
    assert answer["output"] == str(out) and "predictions" not in answer and len(pd.read_csv(out)) == 2
    [unseen] = answer["unseen"]
    assert (unseen["rows"], unseen["values"], unseen["encoded_as"]) == (1, ["Bern"], OTHER)
    assert unseen["message"] == ("column city: 1 row with values not among the 49 it kept from training ('Bern'): "
                                 "encoded as '(other)'")
    # encoded as (other) indeed: the same outputs as the row written with (other) itself
    as_other = new.assign(city=[OTHER, kept])
    assert torch.equal(predictor.outputs(new, "new"), predictor.outputs(as_other, "other"))
    evaluated = invoke("eval", folders["many"], tmp / "other.csv")
    assert evaluated.exit_code == 0 and evaluated.stderr.splitlines() == [f"note: {unseen['message']}"]
    assert json.loads(invoke("eval", folders["many"], tmp / "other.csv", "--json").stdout)["unseen"] == [unseen]
    seen = invoke("predict", folders["many"], tmp / "other.csv", "--json", "-o", out, "--force")  # out: written above
    assert json.loads(seen.stdout)["unseen"] and seen.stderr == ""  # under --json, stdout alone says it
    (tmp / "known.csv").write_text(f"x,city\n0.5,{kept}\n")
    assert invoke("predict", folders["many"], tmp / "known.csv").stderr == ""  # nothing unseen: no word


def test_a_run_with_test_rows_says_their_unseen_values_too(city_runs):
    """`--test`: the predictions a run writes at its end say what `torchtui predict` would (event and console)."""
    tmp, _ = city_runs
    pd.DataFrame({"x": [0.1, 0.2, 0.3], "city": ["Bern", "Zurich", "Bern"]}).to_csv(tmp / "test.csv", index=False)
    r = invoke("run", "--dataset", tmp / "few.csv", "--target", "y", "--epochs", "1", "--test", tmp / "test.csv",
               "--runs-dir", tmp / "runs", "--name", "with-test", "--json")
    assert r.exit_code == 0, r.stderr
    [written] = [e for e in map(json.loads, r.stdout.splitlines()) if e["event"] == "predictions"]
    assert problems(written) == [] and written["rows"] == 3
    note = ("column city: 2 rows with values not seen in training ('Bern'): encoded as all-zero one-hot "
            "(no category of its own)")
    assert written["unseen"] == [note]
    told = invoke("run", "--dataset", tmp / "few.csv", "--target", "y", "--epochs", "1", "--test", tmp / "test.csv",
                  "--runs-dir", tmp / "runs", "--name", "told")
    assert told.exit_code == 0 and f"  note: {note}" in told.stdout.splitlines()


def test_validation_rows_with_values_the_training_rows_lack_are_said_and_encoded_as_zeros(tmp_path):
    from tui.core.data import prepare
    from tui.core.spec import DataSpec

    cities = ["A"] * 40 + ["B"] * 40 + [f"R{i}" for i in range(20)]  # 20 cities seen once: some only in validation
    x = np.random.default_rng(0).normal(size=100)
    pd.DataFrame({"x": x, "city": cities, "y": (x > 0).astype(int)}).to_csv(tmp_path / "t.csv", index=False)
    data = prepare(DataSpec(dataset=str(tmp_path / "t.csv"), target="y"), 0)
    column = next(c for c in data.pre.columns if c.name == "city")
    only_in_val = sorted(set(cities) - set(column.categories))
    assert len(only_in_val) == 6
    [said] = [n for n in data.notices if n.startswith("validation rows: ")]
    head, named, tail = said.partition("(")[0], said.partition("(")[2].split(", ...)")[0], said.split(", ...)")[1]
    assert head == "validation rows: column city: 6 rows with values not seen in training "
    assert tail == ": encoded as all-zero one-hot (no category of its own)"
    shown = [v.strip("'") for v in named.split(", ")]
    assert len(shown) == 3 and set(shown) <= set(only_in_val)  # three of the six named
    one_hot = data.x_val[:, 1:1 + column.width]  # x first, then the city's one-hot inputs
    assert int((one_hot.sum(dim=1) == 0).sum()) == 6


# ---- refusals under --json --------------------------------------------------------------------------
NUMBER_FLAGS = [info for info in spec_fields() if info.flag and not info.switch and info.type in (int, float)]


def test_a_number_flag_that_does_not_parse_is_one_line_naming_flag_value_and_what_it_takes():
    assert len(NUMBER_FLAGS) > 10 and "--lr" in [i.flag for i in NUMBER_FLAGS]
    for info in NUMBER_FLAGS:
        r = invoke("run", info.flag, "abc")
        assert r.exit_code == 2 and r.stdout == "", (info.flag, r.stdout)
        wanted = "a whole number" if info.type is int else "a number"
        assert one_error_line(r.stderr) == f"{info.flag} 'abc' is not {wanted} (e.g. {info.flag} {info.default})"
    said = refusal(invoke("run", "--lr", "abc", "--json"))
    assert said["message"] == "--lr 'abc' is not a number (e.g. --lr 0.01)" and said["notes"] == []
    assert refusal(invoke("run", "--json", "--epochs=2.5"))["message"].startswith("--epochs '2.5' is not a whole")
    assert refusal(invoke("resume", "x", "--epochs", "many", "--json"))["message"].startswith("--epochs 'many'")
    # the command's own options too, and an unknown flag or command: one line, not a usage block
    assert one_error_line(invoke("lr-find", "--start-lr", "tiny").stderr) == "--start-lr 'tiny' is not a number " \
                                                                               "(e.g. --start-lr 1e-07)"
    assert refusal(invoke("lr-find", "--steps", "x", "--json"), "error")["error"].startswith("--steps 'x'")
    assert "--lr" in refusal(invoke("run", "--lrr", "0.1", "--json"))["message"]
    assert "did you mean 'run'" in one_error_line(invoke("rnu").stderr).lower()
    assert "missing argument" in refusal(invoke("eval", "best.pt", "--json"))["message"]
    assert invoke("datasets", "--json").stdout == ""  # a command without --json answers no JSON line
    assert invoke("run", "--help").exit_code == 0 and "Usage" in invoke("run", "--help").stdout


def test_every_json_command_refused_says_it_in_one_json_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("[train]\nlr = 'fast'\n")
    spec = refusal(invoke("run", "bad.toml", "--json"))
    assert "lr" in spec["message"]
    assert "optimizer" in refusal(invoke("run", "--optimizer", "Adamm", "--json"))["message"]
    assert "nowhere.csv" in refusal(invoke("run", "--dataset", "nowhere.csv", "--json"))["message"]
    (tmp_path / "flat.csv").write_text("a,b\n1,2\n1,3\n1,4\n1,5\n")  # refused in data preparation
    assert refusal(invoke("run", "--dataset", "flat.csv", "--target", "zz", "--json"))["notes"]  # how it was read
    assert "nowhere" in refusal(invoke("resume", "nowhere", "--json"))["message"]
    refusal(invoke("eval", "nowhere.pt", "flat.csv", "--json"))
    refusal(invoke("predict", "nowhere.pt", "flat.csv", "--json"))
    assert not list(tmp_path.glob("checkpoints/*"))  # and nothing was written
    assert "--compare" in refusal(invoke("runs", "a", "b", "--json"), "error")["error"]  # runs named, no --compare
    refusal(invoke("change", "nowhere", "--lr", "0.1", "--json"), "error")


def test_a_failure_before_training_is_one_error_event_too(tmp_path, monkeypatch):
    """Out of memory placing the model (a failure, exit 1, not a refusal): its `error` event, once, under --json."""
    from tui.core import job

    def no_room(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(job, "Trainer", no_room)
    r = invoke("run", "--dataset", "iris", "--device", "cpu", "--runs-dir", tmp_path, "--json")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    errors = [e for e in events if e["event"] == "error"]
    assert r.exit_code == 1 and len(errors) == 1 and errors[0] is events[-1] and problems(errors[0]) == []
    assert errors[0]["kind"] == "out_of_memory" and one_error_line(r.stderr) == errors[0]["message"]
    assert not list(tmp_path.iterdir())  # no run folder


def test_a_refusals_notes_go_into_its_json_line(capsys):
    @guarded
    def run(as_json: bool = False) -> None:  # the name says which command's form of the JSON line
        e = UserError("no usable feature columns besides the target")
        e.notes = ["2 lines above the table skipped", "col1 left out: constant"]
        raise e

    with pytest.raises(typer.Exit) as stopped:
        run(as_json=True)
    out, err = capsys.readouterr()
    said = json.loads(out)
    assert stopped.value.exit_code == 2 and problems(said) == []
    assert said["notes"] == ["2 lines above the table skipped", "col1 left out: constant"]
    assert error_and_notes(err) == ("no usable feature columns besides the target", said["notes"])
    with pytest.raises(typer.Exit):
        run()
    assert capsys.readouterr().out == ""


# ---- eval on regression: the loss's units ----------------------------------------------------------
@pytest.fixture(scope="module")
def diabetes_runs(tmp_path_factory):
    """Two small real regression runs: trained on the standardised target (the default), and not."""
    tmp = tmp_path_factory.mktemp("diabetes")
    return {standardised: train(tmp, **{"data.dataset": "diabetes", "train.epochs": 2, "run.name": f"d{standardised}",
                                        "data.standardize_target": standardised})[1].path
            for standardised in (True, False)}


def test_eval_labels_a_loss_on_the_standardised_target_and_it_is_one(diabetes_runs):
    from tui.app.results_pane import evaluation_line

    data = REPO / "datasets" / "diabetes.csv"
    for standardised, folder in diabetes_runs.items():
        r = invoke("eval", folder, data)
        first = r.stdout.splitlines()[0]
        result = json.loads(invoke("eval", folder, data, "--json").stdout)
        label = "loss (MSE, standardised target)" if standardised else "loss (MSE)"
        assert f"442 rows  {label} {result['loss']:.4f}" in first, first
        assert result["loss_units"] == ("standardised target" if standardised else "target")
        assert evaluation_line(str(data), result).plain.startswith(f"{data}: 442 rows  {label} ")  # the pane's
        # each is what its label says: RMSE is in the target's units, the loss in the training's
        pre = Predictor.load(folder / "best.pt").pre
        scale = pre.target_std[0] if standardised else 1.0
        assert math.isclose(result["loss"], (result["rmse"] / scale) ** 2, rel_tol=1e-4)
        assert (pre.target_std[0] != 1.0) == standardised


# ---- a SIGINT while a finished run's process exits ----------------------------------------------------
CHILD = textwrap.dedent("""
    import os, sys, time

    class Teardown:
        '''Held by __main__ until the interpreter's teardown frees it, after it reset its signal handlers:
        it marks that moment and holds the process there until the test says go, as freeing torch does
        for a second or so.'''
        def __init__(self, mark, go):
            self.mark, self.go, self.os, self.time = mark, go, os, time
        def __del__(self):
            self.os.close(self.os.open(self.mark, self.os.O_CREAT | self.os.O_WRONLY))
            deadline = self.time.monotonic() + 120
            while not self.os.path.exists(self.go) and self.time.monotonic() < deadline:
                self.time.sleep(0.01)

    holder = Teardown(sys.argv[1], sys.argv[2])
    sys.argv = ["torchtui", "run", *sys.argv[3:]]
    from tui.cli import main
    main()
""")


def test_a_sigint_while_a_finished_run_exits_does_not_kill_it(tmp_path):
    mark, go = tmp_path / "tearing-down", tmp_path / "go"
    args = ["--dataset", "iris", "--epochs", "1", "--device", "cpu", "--runs-dir", tmp_path, "--name", "late"]
    child = subprocess.Popen([sys.executable, "-c", CHILD, mark, go, *map(str, args)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():  # the run is over, its files written; the interpreter is exiting
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        go.touch()
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, (child.returncode, err)  # not -2: killed by the signal
    events = [json.loads(line) for line in (tmp_path / "late" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done" and "saved:" in out


async def test_the_results_pane_says_what_predict_and_eval_say(city_runs, monkeypatch):
    from textual.widgets import Input

    from tui.app.app import TorchTUI

    from test_app import running, text_of, wait_for

    tmp, folders = city_runs
    monkeypatch.chdir(tmp)
    pd.DataFrame({"x": [0.1, 0.2, 0.3], "city": ["Bern", "Zurich", "Bern"], "y": ["no", "yes", "no"]}).to_csv(
        tmp / "pane.csv", index=False)
    said = json.loads(invoke("eval", folders["few"], tmp / "pane.csv", "--json").stdout)["unseen"][0]["message"]
    app = TorchTUI(attach=folders["few"])
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.followed is not None, what="attach")
        await pilot.press("5")
        app.query_one("#results-file", Input).value = "pane.csv"
        output = app.query_one("#results-file-output")
        await pilot.click("#results-predict")
        await wait_for(pilot, lambda: "predictions written" in text_of(output), what="predictions")
        assert text_of(output).splitlines()[1:] == [f"note: {said}"]
        await pilot.click("#results-evaluate")
        await wait_for(pilot, lambda: "accuracy" in text_of(output), what="evaluation")
        assert "loss (CrossEntropy) " in text_of(output) and text_of(output).splitlines()[1:] == [f"note: {said}"]


@pytest.mark.parametrize("standardised", [True, False])
async def test_the_results_summary_says_a_regression_loss_is_on_the_standardised_target(diabetes_runs, standardised):
    from tui.app.app import TorchTUI

    from test_app import running, text_of, wait_for

    app = TorchTUI(attach=diabetes_runs[standardised])
    async with running(app, (80, 24)) as pilot:
        await wait_for(pilot, lambda: app.followed is not None, what="attach")
        await pilot.press("5")
        summary = app.query_one("#results-summary")
        await wait_for(pilot, lambda: "rmse" in text_of(summary).lower(), what="the summary")
        said = "loss: MSE on the standardised target; rmse, mae in the target's units" in text_of(summary)
        assert said == standardised, text_of(summary)
