"""The `torchtui` command end to end: real subprocesses and real training on the shipped data.

Expensive runs are trained once per module (fixtures below) and shared; commands that need no
separate interpreter go through typer's CliRunner in this process. Everything writes under
pytest's temporary folders, never into the repository.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from torch import nn
from typer.testing import CliRunner

from tui.cli import app, guarded
from tui.core import job
from tui.core.errors import Interrupted
from tui.core.layers import build_sequential
from tui.core.progress import epoch_rows
from tui.core.spec import Spec, spec_fields
from tui.signals import StopOnSignal

import warm_cli
from conftest import train

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "datasets" / "iris.csv"
DIABETES = REPO / "datasets" / "diabetes.csv"
SPECIES = ("setosa", "versicolor", "virginica")
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


# ---- helpers --------------------------------------------------------------------------------
def tui(*args, cwd, timeout=180) -> subprocess.CompletedProcess:
    """`torchtui ARGS` as a real subprocess (`python -m tui`)."""
    return warm_cli.run([sys.executable, "-m", "tui", *map(str, args)], cwd=cwd, capture_output=True,
                        text=True, timeout=timeout)


def invoke(*args):
    """`torchtui ARGS` in this process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args])


def events_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def read_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()  # the one error line, then the notes gathered before the refusal, if any
    assert len(lines) >= 1 and all(line.startswith("  note: ") for line in lines[1:]), \
        f"expected one error line (and notes) on stderr, got {stderr!r}"
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def iris_table() -> tuple[np.ndarray, list[str]]:
    rows = read_rows(IRIS.read_text())
    return np.array([[float(r[c]) for c in IRIS_FEATURES] for r in rows]), [r["species"] for r in rows]


def iris_split(n: int = 150, val_split: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The documented split: a seeded permutation, the first round(n * val_split) rows held out."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_split))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# ---- shared runs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def iris_run(work):
    """The issue's acceptance run, as a user types it."""
    proc = tui("run", "--dataset", "iris", "--layers", "Linear(32), ReLU()", "--epochs", "40",
               "--runs-dir", "runs", "--name", "iris", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return proc, work / "runs" / "iris"


@pytest.fixture(scope="module")
def diabetes_run(work):
    """Regression, with --json on stdout and --test predictions in the run folder."""
    table = read_rows(DIABETES.read_text())
    test_csv = work / "diabetes_test.csv"
    features = [c for c in table[0] if c != "progression"]
    with open(test_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(features)
        for r in table[::10]:  # 45 rows, without the target
            w.writerow([r[c] for c in features])
    proc = tui("run", "--dataset", "diabetes", "--epochs", "15", "--patience", "0", "--runs-dir", "runs",
               "--name", "diabetes", "--json", "--test", test_csv, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return proc, work / "runs" / "diabetes", test_csv


# ---- 1. the acceptance run ------------------------------------------------------------------
def test_acceptance_run_reaches_accuracy_and_writes_the_run_folder(iris_run):
    proc, folder = iris_run
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "events.jsonl", "last.pt", "spec.toml",
                                                         "val_predictions.csv"]
    events = events_of(folder)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert set(kinds) == {"start", "step", "epoch", "checkpoint", "evaluation", "end"}
    assert kinds[-3:] == ["evaluation", "evaluation", "end"]  # the best model's report, then the last one's
    assert kinds.count("start") == 1 and kinds.count("end") == 1
    times = [e["time"] for e in events]
    assert all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in times)
    assert times == sorted(times)

    epochs = [e for e in events if e["event"] == "epoch"]
    start, end = events[0], events[-1]
    # early stopping is on by default (patience 10): 40 epochs, or 10 past the best one
    n = 40 if end["status"] == "done" else end["best_epoch"] + 10
    assert end["status"] in ("done", "early_stopped") and end["epochs"] == n <= 40
    assert [e["epoch"] for e in epochs] == list(range(1, n + 1))
    # each epoch: steps of that epoch before it, its `last` checkpoint after it
    current = 0
    for e in events:
        if e["event"] == "step":
            assert e["epoch"] == current + 1
        elif e["event"] == "epoch":
            current = e["epoch"]
        elif e["event"] == "checkpoint":
            assert e["epoch"] == current
    lasts = [e["epoch"] for e in events if e["event"] == "checkpoint" and e["which"] == "last"]
    bests = [e["epoch"] for e in events if e["event"] == "checkpoint" and e["which"] == "best"]
    assert lasts == list(range(1, n + 1))
    assert bests == [e["epoch"] for e in epochs if e["best"]]
    assert start["train_rows"] == 120 and start["val_rows"] == 30 and start["classes"] == list(SPECIES)

    final = epochs[-1]["accuracy"]
    assert final >= 0.9, f"final validation accuracy {final}"

    # the printed epoch lines say what the event log says
    printed = {int(m.group(1)): m for m in re.finditer(
        r"^epoch\s+(\d+)/40\s+train (\S+)\s+val (\S+)\s+acc (\S+)", proc.stdout, re.M)}
    assert sorted(printed) == list(range(1, n + 1))
    for e in epochs:
        m = printed[e["epoch"]]
        assert (m.group(2), m.group(3), m.group(4)) == (
            f"{e['train_loss']:.4f}", f"{e['val_loss']:.4f}", f"{e['accuracy']:.4f}")
    how = "done" if end["status"] == "done" else ("stopped early (no better validation loss in 10 epochs; "
                                  "--patience 0 turns early stopping off)")
    assert f"{how}: {n} epochs; best loss {end['best_val_loss']:.4f} at epoch {end['best_epoch']}" in proc.stdout
    assert proc.stderr == ""  # no progress bar noise when stderr is not a terminal


def test_accuracy_is_an_exact_fraction_of_rows(iris_run):
    """27 of 30 right is 0.9, so `accuracy >= 0.9` holds when read back from events.jsonl."""
    _, folder = iris_run
    for e in events_of(folder):
        if e["event"] == "epoch":
            assert e["accuracy"] == round(e["accuracy"] * 30) / 30, e["accuracy"]


def test_best_checkpoint_loads_into_a_hand_written_model_and_matches_its_record(iris_run):
    _, folder = iris_run
    ckpt = load(folder / "best.pt")
    assert ckpt["layers"] == ["Linear(4, 32)", "ReLU()", "Linear(32, 3)"]
    built = build_sequential(ckpt["layers"])
    built.load_state_dict(ckpt["model"])
    plain = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    plain.load_state_dict(ckpt["model"])

    x, species = iris_table()
    train_idx, val_idx = iris_split()
    mean, std = x[train_idx].mean(0), x[train_idx].std(0)  # training rows only
    stats = ckpt["preprocessing"]["columns"]
    assert np.allclose([c["mean"] for c in stats], mean) and np.allclose([c["std"] for c in stats], std)
    xv = torch.tensor((x[val_idx] - mean) / std, dtype=torch.float32)
    yv = torch.tensor([SPECIES.index(species[i]) for i in val_idx])
    built.eval(), plain.eval()
    with torch.no_grad():
        out = plain(xv)
        assert torch.equal(out, built(xv))
    accuracy = (out.argmax(1) == yv).double().mean().item()
    loss = nn.functional.cross_entropy(out, yv).item()

    progress = ckpt["progress"]
    history = epoch_rows(progress)
    best = next(e for e in history if e["epoch"] == progress["best_epoch"])
    assert progress["epoch"] == progress["best_epoch"]  # best.pt is saved at its best epoch
    assert accuracy == pytest.approx(best["accuracy"], abs=1e-6)
    assert loss == pytest.approx(best["val_loss"], rel=1e-5)
    assert best["val_loss"] == min(e["val_loss"] for e in history)
    assert accuracy >= 0.85

    last = load(folder / "last.pt")
    assert last["progress"]["epoch"] == 40 and len(epoch_rows(last["progress"])) == 40


def test_spec_toml_is_the_spec_the_run_used(iris_run):
    _, folder = iris_run
    ckpt = load(folder / "best.pt")
    spec = Spec.from_file(folder / "spec.toml")
    assert spec == Spec.from_dict(ckpt["spec"])
    assert spec.data.dataset == "iris" and spec.train.epochs == 40
    assert spec.model.layers == ["Linear(32)", "ReLU()"]
    assert spec.run.name == "iris" and spec.run.runs_dir == "runs"


# ---- 2. predict -----------------------------------------------------------------------------
def test_predict_writes_labels_and_probabilities(iris_run, tmp_path, monkeypatch):
    _, folder = iris_run
    table = read_rows(IRIS.read_text())
    species = [r["species"] for r in table]
    new = tmp_path / "new.csv"
    order = list(range(149, -1, -1))  # rows in another order, without the target
    new.write_text(",".join(IRIS_FEATURES) + "\n" + "".join(
        ",".join(table[i][c] for c in IRIS_FEATURES) + "\n" for i in order))

    proc = tui("predict", folder / "best.pt", new, "-o", "out.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "150" in proc.stdout
    text = (tmp_path / "out.csv").read_text()
    rows = read_rows(text)
    assert len(rows) == 150
    assert list(rows[0]) == ["species", "p_setosa", "p_versicolor", "p_virginica"]
    for r in rows:
        assert r["species"] in SPECIES
        probs = [float(r[f"p_{s}"]) for s in SPECIES]
        assert all(0 <= p <= 1 for p in probs) and sum(probs) == pytest.approx(1, abs=1e-5)
        assert r["species"] == SPECIES[int(np.argmax(probs))]
    agree = np.mean([r["species"] == species[i] for r, i in zip(rows, order)])
    assert agree >= 0.85

    # the run folder means its best.pt; without -o the same CSV goes to stdout
    by_folder = invoke("predict", folder, new, "-o", tmp_path / "out2.csv")
    assert by_folder.exit_code == 0, by_folder.stderr
    assert (tmp_path / "out2.csv").read_text() == text
    to_stdout = invoke("predict", folder, new)
    assert to_stdout.exit_code == 0, to_stdout.stderr
    assert read_rows(to_stdout.stdout) == rows
    monkeypatch.chdir(tmp_path)
    dash = invoke("predict", folder, new, "-o", "-")  # as -o - means to other tools: stdout, not a file named "-"
    assert dash.exit_code == 0 and dash.stdout == to_stdout.stdout and not (tmp_path / "-").exists()


def test_predictions_are_never_written_over_the_data_or_the_checkpoint(iris_run, tmp_path):
    # `-o` naming the data file replaced the user's rows with the predictions, exit 0, without a word
    _, folder = iris_run
    data = tmp_path / "rows.csv"
    data.write_text(IRIS.read_text())
    best = folder / "best.pt"
    before = data.read_bytes(), best.read_bytes()
    (tmp_path / "link.csv").symlink_to(data)
    for out, what in ((data, "the data file"), (tmp_path / "link.csv", "the data file"), (best, "the checkpoint")):
        r = invoke("predict", best, data, "-o", out)
        assert r.exit_code == 2 and r.stdout == "", (r.stdout, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"error: {out} is {what} being predicted from: the predictions would replace it; write them to another "
            "file"]
    assert (data.read_bytes(), best.read_bytes()) == before
    from tui.core.errors import UserError
    from tui.core.predict import Predictor

    with pytest.raises(UserError, match="the predictions would replace it"):  # the Results pane's way
        Predictor.load(best).predict_file(data, data)
    assert data.read_bytes() == before[0]


# ---- 3. eval --------------------------------------------------------------------------------
def test_eval_reports_accuracy_confusion_precision_recall(iris_run):
    _, folder = iris_run
    r = invoke("eval", folder / "best.pt", IRIS, "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    cm = np.array(result["confusion"])
    assert cm.shape == (3, 3) and cm.sum() == 150 and result["rows"] == 150
    assert cm.sum(1).tolist() == [50, 50, 50]  # rows are the true classes
    assert result["classes"] == list(SPECIES)
    assert result["accuracy"] == pytest.approx(np.trace(cm) / 150, abs=1e-6)
    assert result["accuracy"] >= 0.85
    assert result["precision"] == pytest.approx((np.diag(cm) / np.maximum(cm.sum(0), 1)).tolist())
    assert result["recall"] == pytest.approx((np.diag(cm) / cm.sum(1)).tolist())
    assert result["loss_name"] == "CrossEntropy" and 0 < result["loss"] < 1

    # eval agrees with predict on the same rows
    pred = read_rows(invoke("predict", folder / "best.pt", IRIS).stdout)
    _, species = iris_table()
    assert np.mean([p["species"] == s for p, s in zip(pred, species)]) == pytest.approx(result["accuracy"], abs=1e-6)

    text = invoke("eval", folder / "best.pt", IRIS)
    assert text.exit_code == 0, text.stderr
    assert "confusion matrix" in text.stdout
    assert f"accuracy {result['accuracy']:.4f}" in text.stdout
    for name, row in zip(SPECIES, result["confusion"]):
        line = next(ln for ln in text.stdout.splitlines()[-3:] if ln.startswith(name))
        assert [int(v) for v in line.split()[1:]] == row


# ---- 4. regression --------------------------------------------------------------------------
def test_regression_eval_and_predict_in_target_units(diabetes_run, tmp_path):
    _, folder, _ = diabetes_run
    truth = np.array([float(r["progression"]) for r in read_rows(DIABETES.read_text())])
    r = invoke("eval", folder / "best.pt", DIABETES, "--json")
    assert r.exit_code == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["rows"] == 442 and m["loss_name"] == "MSE"
    assert m["r2"] > 0.3 and 40 < m["rmse"] < 80 and 0 < m["mae"] <= m["rmse"]
    assert "accuracy" not in m and "confusion" not in m

    text = invoke("eval", folder / "best.pt", DIABETES)
    assert f"rmse {m['rmse']:.4f}  mae {m['mae']:.4f}  r2 {m['r2']:.4f}" in text.stdout

    p = tui("predict", folder / "best.pt", DIABETES, "-o", "pred.csv", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = read_rows((tmp_path / "pred.csv").read_text())
    assert list(rows[0]) == ["progression"] and len(rows) == 442
    pred = np.array([float(r["progression"]) for r in rows])
    assert np.isfinite(pred).all()
    assert abs(pred.mean() - truth.mean()) < 50
    assert truth.min() - 100 < pred.min() and pred.max() < truth.max() + 100 and pred.std() > 20
    # the metrics are those of these very predictions
    err = pred - truth
    assert np.sqrt(np.mean(err**2)) == pytest.approx(m["rmse"], rel=1e-4)
    assert np.mean(np.abs(err)) == pytest.approx(m["mae"], rel=1e-4)
    assert 1 - np.sum(err**2) / np.sum((truth - truth.mean()) ** 2) == pytest.approx(m["r2"], rel=1e-4)


# ---- 5. --json ------------------------------------------------------------------------------
def test_json_stdout_is_only_the_events(diabetes_run):
    proc, folder, _ = diabetes_run
    lines = proc.stdout.splitlines()
    printed = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and "event" in e for e in printed)
    assert printed[0]["event"] == "start" and printed[-1]["event"] == "end"
    assert printed == events_of(folder)  # the same events, in the same order, as the log
    assert [e["epoch"] for e in printed if e["event"] == "epoch"] == list(range(1, 16))
    assert printed[-1]["status"] == "done"


# ---- 6. --test ------------------------------------------------------------------------------
def test_test_file_predictions_land_in_the_run_folder(diabetes_run):
    _, folder, test_csv = diabetes_run
    out = folder / "predictions.csv"
    rows = read_rows(out.read_text())
    n_test = len(read_rows(test_csv.read_text()))
    assert n_test == 45 and len(rows) == n_test
    assert list(rows[0]) == ["progression"]
    assert all(math.isfinite(float(r["progression"])) for r in rows)
    ev = [e for e in events_of(folder) if e["event"] == "predictions"]
    assert len(ev) == 1 and ev[0]["rows"] == n_test and Path(ev[0]["path"]).name == "predictions.csv"
    # they are the best model's predictions
    again = invoke("predict", folder / "best.pt", test_csv)
    assert read_rows(again.stdout) == rows


# ---- 7. resume ------------------------------------------------------------------------------
def test_resume_continues_exactly(work):
    runs = work / "resume-runs"
    common = ["--dataset", "iris", "--seed", "3", "--device", "cpu", "--runs-dir", runs]
    assert tui("run", *common, "--epochs", "3", "--name", "r3", cwd=work).returncode == 0
    first = load(runs / "r3" / "last.pt")
    assert first["progress"]["epoch"] == 3
    resumed = tui("resume", runs / "r3", "--epochs", "6", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 3" in resumed.stdout
    # the run never stopped, trained here by the same job (the CLI's part is the resume's, above)
    straight, _, _ = train(work, data__dataset="iris", train__seed=3, train__epochs=6, run__runs_dir=str(runs),
                           run__name="r6")
    assert straight.status == "done"

    a, b = load(runs / "r3" / "last.pt"), load(runs / "r6" / "last.pt")
    assert a["progress"]["epoch"] == b["progress"]["epoch"] == 6
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert not torch.equal(a["model"]["0.weight"], first["model"]["0.weight"])  # it did train on

    events = events_of(runs / "r3")
    starts = [e for e in events if e["event"] == "start"]
    assert [s["resumed_from"] for s in starts] == [None, 3]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3, 4, 5, 6]
    assert Spec.from_file(runs / "r3" / "spec.toml").train.epochs == 6

    again = invoke("resume", runs / "r3")  # finished: nothing to do
    assert again.exit_code == 2
    assert "already trained 6 of 6" in one_error_line(again.stderr)
    assert [e["event"] for e in events_of(runs / "r3")] == [e["event"] for e in events]


# ---- 8. runs and datasets -------------------------------------------------------------------
def test_runs_lists_the_runs(iris_run, diabetes_run, work):
    r = invoke("runs", "--runs-dir", work / "runs")
    assert r.exit_code == 0, r.stderr
    table = {Path(line.split()[0]).name: line.split() for line in r.stdout.splitlines()[1:]}
    assert set(table) >= {"iris", "diabetes"}
    for name, total in (("iris", 40), ("diabetes", 15)):  # iris as a user types it: early stopping may end it
        events = events_of(work / "runs" / name)
        done, end = sum(e["event"] == "epoch" for e in events), events[-1]
        assert table[name][1:5] == [end["status"], name, f"{done}/{total}", f"{end['best_val_loss']:.4f}"]
    (work / "nothing-here").mkdir()
    empty = invoke("runs", "--runs-dir", work / "nothing-here")
    assert empty.exit_code == 0 and "no runs" in empty.stdout
    missing = invoke("runs", "--runs-dir", work / "not-here")  # a mistyped folder: said as such
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_datasets_lists_builtins_with_row_counts():
    r = invoke("datasets")
    assert r.exit_code == 0, r.stderr
    table = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    expected = {"iris": 150, "wine": 178, "digits": 1797, "diabetes": 442, "spiral": 900, "moons": 1000,
                "circles": 1000, "xor": 1000, "sine": 1000}
    for name, rows in expected.items():
        assert int(table[name][1]) == rows, name
    assert table["iris"][3] == "classification" and table["diabetes"][3] == "regression"


# ---- 9. config ------------------------------------------------------------------------------
def test_config_show_is_the_default_spec():
    r = invoke("config", "show")
    assert r.exit_code == 0
    assert Spec.from_toml(r.stdout) == Spec()
    for info in spec_fields():  # each field under its declared help
        assert f"# {info.help}\n{info.name} = " in r.stdout, info.path


def test_a_list_flag_given_twice_adds_to_it(tmp_path, monkeypatch):
    """`-l "Linear(32)" -l "ReLU()"` trained `ReLU()` alone: a flag given twice kept its last value without a word,
    where --dataset-arg is repeated by design. A comma-separated list's flag repeated now adds to it."""
    monkeypatch.chdir(tmp_path)
    r = invoke("run", "-d", "iris", "-l", "Linear(8)", "-l", "ReLU()", "--features", "sepal_length",
               "--features", "petal_length,petal_width", "--epochs", "1", "--name", "twice")
    assert r.exit_code == 0, r.stderr
    spec = Spec.from_file(tmp_path / "checkpoints" / "twice" / "spec.toml")
    assert spec.model.layers == ["Linear(8)", "ReLU()"]
    assert spec.data.features == ["sepal_length", "petal_length", "petal_width"]


def test_a_specs_relative_data_path_is_found_beside_it_when_not_here(tmp_path, monkeypatch):
    """`dataset = "data/iris.csv"` in a spec kept with its data, run from another folder, was refused as "neither a
    built-in dataset nor an existing file". A file of that name here still comes first."""
    (tmp_path / "proj" / "data").mkdir(parents=True)
    (tmp_path / "proj" / "data" / "iris.csv").write_bytes(IRIS.read_bytes())
    (tmp_path / "proj" / "exp.toml").write_text('[data]\ndataset = "data/iris.csv"\n[train]\nepochs = 1\n')
    monkeypatch.chdir(tmp_path)
    assert Spec.from_file("proj/exp.toml").data.dataset == str(tmp_path / "proj" / "data" / "iris.csv")
    r = invoke("run", "proj/exp.toml", "--name", "beside")
    assert r.exit_code == 0, r.stderr
    assert Spec.from_file("checkpoints/beside/spec.toml").data.dataset == str(tmp_path / "proj/data/iris.csv")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iris.csv").write_bytes(IRIS.read_bytes())
    assert Spec.from_file("proj/exp.toml").data.dataset == "data/iris.csv"  # here: as before


def test_config_write_then_run_with_flag_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("config", "write", "exp.toml")
    assert r.exit_code == 0, r.stderr
    text = Path("exp.toml").read_text()
    assert Spec.from_toml(text) == Spec()
    # the file changes two things; a flag then overrides one of them
    assert "\nlr = 0.01\n" in text and "\nepochs = 20\n" in text
    Path("exp.toml").write_text(text.replace("\nlr = 0.01\n", "\nlr = 0.05\n")
                                .replace("\nepochs = 20\n", "\nepochs = 7\n"))
    run = invoke("run", "exp.toml", "--epochs", "2", "--name", "x")
    assert run.exit_code == 0, run.stderr
    folder = tmp_path / "checkpoints" / "x"
    spec = Spec.from_file(folder / "spec.toml")
    assert spec.train.epochs == 2 and spec.train.lr == 0.05 and spec.run.name == "x"
    assert spec.model == Spec().model and spec.data == Spec().data
    assert [e["epoch"] for e in events_of(folder) if e["event"] == "epoch"] == [1, 2]
    assert events_of(folder)[0]["lr"] == 0.05

    before = Path("exp.toml").read_bytes()
    again = invoke("config", "write", "exp.toml")
    assert again.exit_code == 2
    assert "exp.toml" in one_error_line(again.stderr)
    assert Path("exp.toml").read_bytes() == before


# ---- 10. refusals ---------------------------------------------------------------------------
REFUSED_RUNS = [
    pytest.param(["--lr", "-1"], ["--lr must be a number > 0"], id="lr"),
    pytest.param(["--epochs", "0"], ["--epochs must be an integer >= 1"], id="epochs"),
    pytest.param(["--optimizer", "Adamm"], ["--optimizer must be one of", "Adamm"], id="optimizer"),
    pytest.param(["--loss", "MSE"], ["--loss MSE", "classification"], id="loss-for-task"),
    pytest.param(["--layers", "Conv2d(8)"], ["layer 1", "Conv2d"], id="conv-on-table"),
    pytest.param(["--layers", "Linear(64"], ["Linear(64"], id="unclosed-layer"),
    pytest.param(["--layers", "Linera(3)"], ["Linera", "did you mean Linear"], id="misspelt-layer"),
    pytest.param(["--dataset", "nosuch.csv"], ["nosuch.csv"], id="no-dataset"),
    pytest.param(["--target", "nosuch"], ["--target: 'nosuch' not a column", "nosuch"], id="no-target"),
    pytest.param(["--val-split", "1.5"], ["--val-split must be"], id="val-split"),
    pytest.param(["--device", "cuda"], ["cuda"], id="device-cuda",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")),
    pytest.param("unknown-key", ["train.lrr", "did you mean train.lr"], id="config-unknown-key"),
    pytest.param("not-toml", ["not valid TOML"], id="config-not-toml"),
    pytest.param("empty-cell", ["petal_gap", "empty"], id="csv-empty-cell"),
]


@pytest.mark.parametrize("args,words", REFUSED_RUNS)
def test_run_refusals(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    if args == "unknown-key":
        Path("exp.toml").write_text("[train]\nlrr = 0.1\n")
        args = ["exp.toml"]
    elif args == "not-toml":
        Path("exp.toml").write_text("[train\nlr = 0.1\n")
        args = ["exp.toml"]
    elif args == "empty-cell":
        Path("data.csv").write_text("petal_gap,width,label\n1.0,2.0,a\n,3.0,b\n4.0,5.0,a\n6.0,7.0,b\n")
        args = ["--dataset", "data.csv"]
    extra = [] if "--epochs" in args else ["--epochs", "1"]
    r = invoke("run", *args, *extra, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert isinstance(r.exception, SystemExit)  # not a crash
    line = one_error_line(r.stderr)
    for word in words:
        assert word in line
    assert r.stdout == ""
    assert not (tmp_path / "runs").exists() and not (tmp_path / "checkpoints").exists()


def test_refusal_in_a_real_process(tmp_path):
    r = tui("run", "--lr", "-1", "--runs-dir", "runs", cwd=tmp_path)
    assert r.returncode == 2
    assert "--lr must be a number > 0" in one_error_line(r.stderr)
    assert r.stdout == "" and not (tmp_path / "runs").exists()


def test_run_refuses_a_reused_name(iris_run, work):
    _, folder = iris_run
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())
    runs_before = sorted(p.name for p in folder.parent.iterdir())
    r = invoke("run", "--epochs", "1", "--runs-dir", folder.parent, "--name", "iris")
    assert r.exit_code == 2
    assert "already exists" in one_error_line(r.stderr)
    assert sorted(p.name for p in folder.parent.iterdir()) == runs_before
    assert sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()) == before


@pytest.mark.parametrize("case", ["not-a-checkpoint", "missing-feature", "no-output-folder"])
def test_predict_refusals(iris_run, tmp_path, monkeypatch, case):
    _, folder = iris_run
    monkeypatch.chdir(tmp_path)
    ckpt, data, out, words = folder / "best.pt", IRIS, tmp_path / "out.csv", []
    if case == "not-a-checkpoint":
        ckpt = tmp_path / "fake.pt"
        ckpt.write_bytes(np.random.default_rng(1).bytes(4096))
        words = ["fake.pt", "checkpoint"]
    elif case == "missing-feature":
        data = tmp_path / "partial.csv"
        data.write_text("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n")
        words = ["petal_width"]
    else:
        out = tmp_path / "nonexistent_dir" / "out.csv"
        words = ["nonexistent_dir"]
    r = invoke("predict", ckpt, data, "-o", out)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert isinstance(r.exception, SystemExit)
    line = one_error_line(r.stderr)
    for word in words:
        assert word in line
    assert not out.exists() and not (tmp_path / "nonexistent_dir").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_empty_feature_cell_is_refused_by_predict_and_eval(iris_run, tmp_path, command):
    """Training refuses empty cells; a checkpoint must not turn one into NaN or a made-up label."""
    _, folder = iris_run
    data = tmp_path / "holes.csv"
    data.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n"
                    "5.1,,1.4,0.2,setosa\n6.0,3.0,5.0,1.8,virginica\n")
    r = invoke(command, folder / "best.pt", data, *(["--json"] if command == "eval" else []))
    assert r.exit_code == 2, (r.stdout, r.stderr)
    line = one_error_line(r.stderr)
    assert "sepal_width" in line


def test_test_file_without_a_feature_is_refused_before_training(tmp_path):
    """`--test` is checked in plan(); a bad one must not cost a whole training and leave a half-ended run."""
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n")
    r = invoke("run", "--epochs", "2", "--runs-dir", tmp_path / "runs", "--test", test_csv)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "petal_width" in one_error_line(r.stderr)
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_eval_of_many_classes_leaves_the_confusion_matrix_to_json(tmp_path):
    # 25 classes: a 25 x 25 matrix of 7-character columns is wider than any terminal; --json has it whole
    rows = "".join(f"{i % 25 + (i % 7) / 10},{i % 3},c{i % 25}\n" for i in range(250))
    data = tmp_path / "many.csv"
    data.write_text("x,z,label\n" + rows)
    trained = invoke("run", "--dataset", data, "--epochs", "1", "--runs-dir", tmp_path / "runs", "--name", "m")
    assert trained.exit_code == 0, trained.stderr
    said = invoke("eval", tmp_path / "runs" / "m", data)
    assert said.exit_code == 0, said.stderr
    assert said.stdout.splitlines()[-1] == ("confusion matrix: 25 classes, too many to print here; --json gives it "
                                            "whole")
    whole = json.loads(invoke("eval", tmp_path / "runs" / "m", data, "--json").stdout)
    assert len(whole["confusion"]) == 25 and all(len(row) == 25 for row in whole["confusion"])


def test_a_layer_too_big_for_memory_says_so_in_gib(tmp_path):
    r = invoke("run", "--dataset", "iris", "--layers", "Linear(100000000000)", "--runs-dir", tmp_path)
    assert r.exit_code == 2 and "alloc_cpu" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[0] == ("error: layer 1 Linear(100000000000): it needs 2,980 GiB of memory to train "
                                        "(its weights and their gradients), more than this machine can give; make it "
                                        "smaller")


def test_a_data_file_given_where_the_spec_goes_says_to_give_it_with_dataset(tmp_path):
    r = invoke("run", IRIS)  # `torchtui run iris.csv`: said "iris.csv is not valid TOML: Expected '=' ..."
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {IRIS} is a data file, not a TOML spec: give it as the data, `--dataset {IRIS}`"


# ---- 11. divergence -------------------------------------------------------------------------
@pytest.mark.parametrize("flags,kept", [
    (["--lr", "1e6", "--epochs", "5"], False),  # NaN in the first epoch: no checkpoint at all
    (["--lr", "0.1", "--momentum", "0.9", "--epochs", "8"], True),  # NaN after some good epochs
], ids=["at-once", "after-good-epochs"])
def test_divergence_stops_with_exit_1_and_keeps_only_finite_checkpoints(tmp_path, flags, kept):
    r = tui("run", "--dataset", "diabetes", "--optimizer", "SGD", *flags, "--device", "cpu",
            "--runs-dir", "runs", "--name", "d", cwd=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    said = one_error_line(r.stderr)
    assert "diverged" in said
    assert said.endswith("The last good checkpoint is kept." if kept else "No checkpoint had been saved yet."), said
    folder = tmp_path / "runs" / "d"
    events = events_of(folder)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "diverged"
    assert "end" not in [e["event"] for e in events]
    done = [e["epoch"] for e in events if e["event"] == "epoch"]
    assert all(math.isfinite(e["train_loss"]) and math.isfinite(e["val_loss"])
               for e in events if e["event"] == "epoch")
    checkpoints = sorted(p.name for p in folder.glob("*.pt"))
    assert checkpoints == (["best.pt", "last.pt"] if kept else [])
    for name in checkpoints:
        ckpt = load(folder / name)
        for key, t in ckpt["model"].items():
            assert torch.isfinite(t).all(), (name, key)
    if kept:
        assert done and load(folder / "last.pt")["progress"]["epoch"] == done[-1] < 8
    listed = invoke("runs", "--runs-dir", tmp_path / "runs")
    assert listed.stdout.splitlines()[1].split()[1] == "failed"


# ---- 12. help and import cost ---------------------------------------------------------------
def test_help_and_light_import(tmp_path):
    exe = Path(sys.executable).parent / ("torchtui.exe" if os.name == "nt" else "torchtui")
    assert exe.exists()
    top = subprocess.run([str(exe), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert top.returncode == 0, top.stderr
    for command in ("run", "resume", "predict", "eval", "runs", "datasets", "config"):
        assert re.search(rf"^\s+{command}\b", top.stdout, re.M), command
    run_help = subprocess.run([str(exe), "run", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run_help.returncode == 0
    for flag in ("--dataset", "--layers", "--epochs", "--runs-dir", "--json", "--test"):
        assert flag in run_help.stdout
    module = tui("--help", cwd=tmp_path, timeout=60)
    assert module.returncode == 0 and "run" in module.stdout
    probe = subprocess.run([sys.executable, "-c", "import tui.cli, sys; print('torch' in sys.modules)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "False"
    assert list(tmp_path.iterdir()) == []  # help writes nothing


# ---- 13. flags made from the spec -----------------------------------------------------------
def declared_flags(info) -> set[str]:
    names = {info.flag} | ({info.short} if info.short else set())
    return names | {"--no-" + info.flag[2:]} if info.switch else names


def test_every_spec_field_has_a_run_flag():
    """A field added to the spec gets its flag, and `run` has no spec option the spec does not declare."""
    shown = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", invoke("run", "--help").stdout))
    declared = set()
    for info in spec_fields():
        if info.flag is None:
            assert info.no_flag_reason, info.path
            continue
        assert declared_flags(info) <= shown, info.path
        declared |= declared_flags(info)
    run = typer.main.get_command(app).commands["run"]
    options = {o for p in run.params if p.param_type_name == "option" for o in [*p.opts, *p.secondary_opts]}
    launcher = {"--max-restarts", "--nnodes", "--node-rank", "--rdzv-endpoint", "--rdzv-timeout"}
    assert options == declared | {"--json"} | launcher  # (how many processes run it, where)


@pytest.fixture
def planned(monkeypatch) -> list[Spec]:
    """The specs `torchtui run` would train, without training them (or taking over the signals)."""
    specs: list[Spec] = []
    monkeypatch.setattr(job, "run", lambda spec, *args, **kwargs: specs.append(spec))
    monkeypatch.setattr(StopOnSignal, "install", lambda self: self)
    return specs


def test_flags_set_their_fields_and_only_those(planned):
    assert invoke("run").exit_code == 0 and planned.pop() == Spec()  # no flag: the defaults (or the config's)
    r = invoke("run", "-d", "wine", "--dataset-arg", "a.csv", "--dataset-arg", "b c", "--features", "x, y",
               "--drop", "z", "--no-header", "-l", "Linear(8), ReLU()", "--optimizer", "sgd", "--momentum", "0.9",
               "--nesterov", "--stratify", "--no-standardize-target", "--scheduler", "plateau", "--step-size", "3",
               "--gamma", "0.5", "--plateau-patience", "2", "--log-interval", "1.5", "--on-nan", "skip",
               "--save-every", "7", "--workers", "2", "--name", "n", "--runs-dir", "r", "--test", "t.csv")
    assert r.exit_code == 0, r.stderr
    d, m, t, run = (spec := planned.pop()).data, spec.model, spec.train, spec.run
    assert (d.dataset, d.dataset_args, d.features, d.drop, d.header) == (
        "wine", ["a.csv", "b c"], ["x", "y"], ["z"], "no")
    assert (d.stratify, d.standardize_target, d.workers, d.test) == (True, False, 2, "t.csv")
    assert m.layers == ["Linear(8)", "ReLU()"]
    assert (t.optimizer, t.momentum, t.nesterov, t.scheduler) == ("SGD", 0.9, True, "plateau")
    assert (t.step_size, t.gamma, t.plateau_patience, t.log_interval) == (3, 0.5, 2, 1.5)
    assert (t.on_nan, t.save_every, run.name, run.runs_dir) == ("skip", 7, "n", "r")
    assert invoke("run", "--header").exit_code == 0 and planned.pop().data.header == "yes"


def test_step_schedule_flags_reach_the_run(tmp_path):
    r = invoke("run", "--dataset", "iris", "--epochs", "3", "--device", "cpu", "--scheduler", "step",
               "--step-size", "2", "--gamma", "0.5", "--log-interval", "0.5", "--runs-dir", tmp_path, "--name", "step")
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "step"
    t = Spec.from_file(folder / "spec.toml").train
    assert (t.scheduler, t.step_size, t.gamma, t.log_interval) == ("step", 2, 0.5, 0.5)
    # an epoch's lr is the rate it trained with: halved after every 2 epochs
    assert [e["lr"] for e in events_of(folder) if e["event"] == "epoch"] == pytest.approx([0.01, 0.01, 0.005])


def test_plateau_and_target_flags_reach_the_run(tmp_path):
    r = invoke("run", "--dataset", "diabetes", "--epochs", "2", "--device", "cpu", "--scheduler", "plateau",
               "--plateau-patience", "0", "--no-standardize-target", "--runs-dir", tmp_path, "--name", "plateau")
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "plateau"
    spec = Spec.from_file(folder / "spec.toml")
    assert spec.train.plateau_patience == 0 and spec.data.standardize_target is False
    last = load(folder / "last.pt")
    assert last["scheduler"]["patience"] == 0
    assert last["preprocessing"]["target_mean"] == [0.0] and last["preprocessing"]["target_std"] == [1.0]


@pytest.mark.parametrize("reason,code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 143), ("test", 143)])
def test_a_stopped_command_exits_with_its_signal_code(reason, code):
    @guarded
    def stopped() -> None:
        raise Interrupted(reason)

    with pytest.raises(typer.Exit) as e:
        stopped()
    assert e.value.exit_code == code


def test_every_flag_the_readmes_command_list_names_is_one_its_command_takes():
    # the list is what a newcomer copies from: a flag it names that the command does not take is a lie
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Commands\n\n```text\n", 1)[1].split("```", 1)[0]
    named: dict[str, set[str]] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("torchtui "):
            command = line.split()[1]
        flags = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line)
        named.setdefault(command, set()).update(flags)
    assert {"run", "resume", "predict", "eval", "runs", "export", "lr-find", "change"} <= set(named)
    for command, flags in named.items():
        shown = invoke(command, "--help").stdout
        if "Commands" in shown:  # a group (config show | write): its commands' flags
            subcommands = re.findall(r"^\s+(?:│\s*)?([a-z][a-z-]*)\s{2,}", shown.split("Commands", 1)[1], re.M)
            assert subcommands, shown
            shown += "".join(invoke(command, sub, "--help").stdout for sub in subcommands)
        for flag in flags:
            assert re.search(rf"(?<![\w-]){flag}(?![\w-])", shown), f"README: `torchtui {command}` takes {flag}?"


def test_more_threads_than_cpus_is_kept_and_said(tmp_path):
    from tui.core.devices import usable_cpus

    n = usable_cpus() + 2
    r = invoke("run", "--dataset", "iris", "--epochs", "1", "--threads", n, "--device", "cpu", "--runs-dir", tmp_path)
    assert r.exit_code == 0, r.stderr
    assert (f"  warning: {n} threads on the {usable_cpus()} CPUs this process may use: a step waits on threads "
            f"that share a core, slower than with --threads {usable_cpus()}") in r.stdout.splitlines()
    assert f"({n} threads)" in r.stdout  # kept: the count is part of the run
