"""Findings of an audit of the command line, each checked as the user meets it: `predict -o` over a file already
there or over the data the run trained on, a reader that closes the output early, a flag missing its value under
--json, a two-target regression's start line, `resume --epochs` below what is trained, an absurd layer size, and a
folder of runs given where one run goes (and the other way round).

Two small iris runs are trained once for the module; everything is written under pytest's temporary folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tui.core import datasets
from tui.core.errors import UserError
from tui.core.layers import resolve

from conftest import train
from test_cli import IRIS, invoke, one_error_line

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A run on a CSV of the user's with --val and --test files (2 epochs), and a run on the built-in iris set."""
    root = tmp_path_factory.mktemp("audit")
    lines = IRIS.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]  # (sorted by species: every fifth row goes to each file)
    (root / "train.csv").write_text(header + "".join(r for i, r in enumerate(rows) if i % 5 < 3))
    (root / "val.csv").write_text(header + "".join(rows[3::5]))
    features = [",".join(line.split(",")[:4]) + "\n" for line in [header, *rows[4::5]]]
    (root / "test.csv").write_text("".join(features))  # the features alone, as a --test file holds them
    (root / "new.csv").write_text(header + "".join(rows[4::5]))  # rows to predict, of the user's own
    spec = {"data__val": str(root / "val.csv"), "data__test": str(root / "test.csv"), "train__epochs": 2}
    train(root, data__dataset=str(root / "train.csv"), run__name="own", **spec)
    train(root, data__dataset="iris", run__name="builtin", train__epochs=1)
    return root


def _refused(result, *parts: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    line = one_error_line(result.stderr)
    for part in parts:
        assert part in line, line
    return line


# ---- 1. predict -o: an existing file needs --force; the run's data files never ------------------------------
def test_predict_refuses_to_overwrite_an_existing_file_without_force(place):
    out = place / "mine.csv"
    out.write_text("my own notes\n")
    said = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", out)
    _refused(said, f"{out} exists; pass --force to overwrite it")
    assert out.read_text() == "my own notes\n"

    as_json = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", out, "--json")
    assert as_json.exit_code == 2
    event = json.loads(as_json.stdout.strip())
    assert event["event"] == "error" and event["kind"] == "refused" and "pass --force" in event["message"]
    assert out.read_text() == "my own notes\n"

    forced = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", out, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert out.read_text().splitlines()[0] == "species,p_setosa,p_versicolor,p_virginica"
    assert len(out.read_text().splitlines()) == 31


def test_predict_does_not_replace_a_symlink_without_force_and_writes_through_it_with_force(place):
    target, link = place / "target.csv", place / "link.csv"
    target.write_text("kept\n")
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    said = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", link)
    _refused(said, "exists; pass --force")
    assert link.is_symlink() and target.read_text() == "kept\n"

    forced = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", link, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert link.is_symlink() and target.read_text().startswith("species,")


@pytest.mark.parametrize("name, what", [("train.csv", "the data file"), ("val.csv", "the validation file"),
                                        ("test.csv", "the test file")])
def test_predict_never_writes_over_the_files_the_run_trained_on_even_with_force(place, name, what):
    data = place / name
    before = data.read_bytes()
    said = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", data, "--force")
    _refused(said, f"{data} is {what} the model trained on", "write them to another file")
    assert data.read_bytes() == before
    as_json = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", data, "--force", "--json")
    assert json.loads(as_json.stdout.strip())["kind"] == "refused" and as_json.exit_code == 2


def test_predict_never_writes_over_a_builtin_sets_file_the_run_trained_on(place, monkeypatch):
    shelf = place / "shelf"  # the built-in sets' folder, copied: a failing check writes here, not into the repo
    shelf.mkdir(exist_ok=True)
    shutil.copy(IRIS, shelf / "iris.csv")
    monkeypatch.setattr(datasets, "data_dir", lambda: shelf)
    said = invoke("predict", place / "runs" / "builtin", place / "new.csv", "-o", shelf / "iris.csv", "--force")
    _refused(said, "is the built-in iris set the model trained on")
    assert (shelf / "iris.csv").read_bytes() == IRIS.read_bytes()


def test_predict_to_stdout_and_to_a_new_file_are_as_before(place):
    to_stdout = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", "-")
    assert to_stdout.exit_code == 0 and to_stdout.stdout.startswith("species,p_setosa")
    fresh = place / "fresh.csv"
    written = invoke("predict", place / "runs" / "own", place / "new.csv", "-o", fresh)
    assert written.exit_code == 0 and written.stdout.strip() == f"wrote 30 predictions to {fresh}"


def test_predict_help_says_an_existing_file_needs_force():
    said = invoke("predict", "--help")
    assert "--force" in said.stdout and "needs --force" in " ".join(said.stdout.split())


# ---- 2. a reader that closes the output early: exit 0, quietly --------------------------------------------------
def _with_stdout_closed(*args, cwd: Path) -> subprocess.CompletedProcess:
    """`torchtui ARGS` whose stdout is a pipe nobody reads any more (as `| head -0` leaves it)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], cwd=cwd, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["runs", "--runs-dir", "runs"], ["runs", "--runs-dir", "runs", "--json"],
                                  ["datasets"], ["config", "show"], ["--help"],
                                  ["predict", "runs/own", "new.csv"]])
def test_a_reader_that_closes_the_output_early_is_no_failure(place, args):
    done = _with_stdout_closed(*args, cwd=place)
    assert (done.returncode, done.stderr) == (0, ""), done


def test_a_refusal_still_exits_2_when_its_json_line_finds_no_reader(place):
    done = _with_stdout_closed("runs", "--runs-dir", "nowhere", "--json", cwd=place)
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: --runs-dir nowhere does not exist") and "Traceback" not in done.stderr


# ---- 3. a flag missing its value, under --json ------------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_flag_missing_its_value_under_json_is_a_json_error_line_too(place, command):
    args = ["run", "--json", "--dataset", "d/base.csv", "--epochs"] if command == "run" else \
        ["resume", place / "runs" / "own", "--json", "--epochs"]
    said = invoke(*args)
    line = _refused(said, "'--epochs' requires an argument", f"`torchtui {command} --help`")
    event = json.loads(said.stdout.strip())
    assert (event["event"], event["kind"], event["message"]) == ("error", "refused", line[len("error: "):])


# ---- 4. a regression of two targets says two values -------------------------------------------------------------
def test_a_regression_of_two_targets_says_it_predicts_two_values(tmp_path):
    data = tmp_path / "prices.csv"
    data.write_text("a,b,price,price2\n" + "".join(f"{i % 7},{i % 5},{i % 7 + i % 5},{i % 7 - i % 5}\n"
                                                   for i in range(40)))
    said = invoke("run", "--dataset", data, "--target", "price,price2", "--epochs", "1", "--device", "cpu",
                  "--runs-dir", tmp_path / "runs")
    assert said.exit_code == 0, said.stderr
    assert f"data: {data}, target price, price2 (regression, 2 values)" in said.stdout.splitlines()


# ---- 5. resume --epochs below what is trained ---------------------------------------------------------------------
def test_resume_with_fewer_epochs_than_trained_says_epochs_is_the_new_total(place):
    run = place / "runs" / "own"
    events = (run / "events.jsonl").read_bytes()
    said = invoke("resume", run, "--epochs", "1")
    line = _refused(said)
    assert line == (f"error: {run} has trained 2 epochs already; --epochs is the new total, not more epochs to add: "
                    f"give more than 2, e.g. --epochs 3")
    assert (run / "events.jsonl").read_bytes() == events


# ---- 6. an absurd layer size --------------------------------------------------------------------------------------
def test_a_layer_size_beyond_torchs_integers_is_one_line_in_gib(tmp_path):
    said = invoke("run", "--dataset", "iris", "--layers", "Linear(99999999999999999999)", "--runs-dir",
                  tmp_path / "runs")
    _refused(said, "layer 1 Linear(99999999999999999999): it needs ", " GiB of memory", "make it smaller")
    assert "Overflow" not in said.stderr and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("layers, said", [
    ("Linear(4611686018427387904)", "gradients), more than any machine can give"),  # torch: storage overflowed
    ("Conv2d(4, 3, padding=99999999999999999999)", "GiB of memory, more than any machine can give"),
    ("Conv2d(4, 3, stride=99999999999999999999)", "stride 99999999999999999999 is too large for torch"),
    ("Flatten(0, 99999999999999999999)", "end_dim 99999999999999999999 is too large for torch"),
    ("Unflatten(1, (1, 2, 99999999999999999999))", "unflattened_size (1, 2, 99999999999999999999) is too large"),
])
def test_absurd_sizes_of_any_layer_are_refused_in_words(layers, said):
    with pytest.raises(UserError) as refused:
        resolve(layers, (1, 8, 8), 3)
    assert said in str(refused.value) and "make it smaller" in str(refused.value)
    assert "\n" not in str(refused.value) and "long long" not in str(refused.value)


def test_sizes_that_fit_still_resolve():
    stack = resolve("Conv2d(4, 3, stride=2, padding=1), MaxPool2d(2), Flatten(), Linear(16)", (1, 8, 8), 3)
    assert stack.layers[0].out_shape == (4, 4, 4) and stack.layers[-1].out_shape == (3,)


# ---- 7. a folder of runs where one run goes, and a run where the folder of runs goes ----------------------------
@pytest.mark.parametrize("command", ["predict", "eval"])
def test_a_folder_of_runs_given_as_the_run_names_runs_in_it(place, command):
    runs = place / "runs"
    said = invoke(command, runs, place / "new.csv")
    line = _refused(said, f"{runs} is a folder of runs, not a run; name one run in it, e.g. ")
    assert str(runs / "own") in line and str(runs / "builtin") in line and "last.pt" not in line


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_a_folder_with_no_run_given_as_the_run_is_named_not_a_run_folder(place, command):
    """An empty folder, or one of data files, where a run goes: the words resume, export and change say of it
    ("checkpoint FOLDER/last.pt not found" sent a user looking for a file)."""
    (place / "empty").mkdir(exist_ok=True)
    for folder in (place / "empty", place):  # `place` holds new.csv, and runs/ below it: no run of its own
        said = invoke(command, folder, place / "new.csv")
        line = _refused(said, f"{folder} is not a run folder (no spec.toml); `torchtui runs` lists the run folders")
        assert "last.pt" not in line
    assert sorted(p.name for p in (place / "empty").iterdir()) == []


def test_a_run_folder_given_as_the_folder_of_runs_is_refused_with_its_parent(place):
    run = place / "runs" / "own"
    said = invoke("runs", "--runs-dir", run)
    _refused(said, f"--runs-dir {run} is a run folder, not a folder of runs", f"--runs-dir {run.parent}")
    as_json = invoke("runs", "--runs-dir", run, "--json")
    assert as_json.exit_code == 2 and "is a run folder" in json.loads(as_json.stdout)["error"]
    listed = invoke("runs", "--runs-dir", place / "runs")
    assert listed.exit_code == 0 and str(run) in listed.stdout


def test_a_layer_whose_weights_and_gradients_outgrow_the_memory_is_refused_before_it_is_made(monkeypatch):
    """Its weight alone fitted: `Linear(1000000000)` on a 23 GiB box passed, and the process was killed for memory
    while the layer was made and checked. Here the machine is said to have 1 GiB, the weight is 0.6 GiB."""
    from tui.core import layers

    monkeypatch.setattr(layers, "_memory_bytes", lambda: 2**30)
    with pytest.raises(UserError) as refused:
        resolve("Linear(40000000)", (4,), 3)
    assert str(refused.value) == ("layer 1 Linear(40000000): it needs 1.2 GiB of memory to train (its weights and "
                                  "their gradients), more than this machine can give; make it smaller")
    assert resolve("Linear(10000000)", (4,), 3).layers[0].params == 4 * 10000000 + 10000000  # with the output
    # layer Linear(3): 0.6 GiB with the gradients (Linear(20000000)'s 1.2 GiB, the two together, is refused too)


def test_a_broken_pipe_inside_training_is_not_taken_for_a_reader_gone():
    """A `run | head` whose training then breaks on a pipe of its own (a DataLoader worker's, a user's Dataset)
    failed, and must end with its failure's code, not the quiet 0 of a reader that took what it wanted."""
    from tui.refusals import _writing_output

    def a_dataset_item():
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError) as inside:
        a_dataset_item()
    assert not _writing_output(inside.value)
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as closed, pytest.raises(BrokenPipeError) as written:
        import typer

        typer.echo("x" * 100_000, file=closed)
    assert _writing_output(written.value)


def test_export_and_config_write_with_force_write_through_a_symlink_as_predict_does(place):
    """`export --force` and `config write --force` replaced a symlink with a plain file (its target kept the old
    bytes) where `predict --force` wrote through it: every file a user names is written as the shell's `>` would."""
    for i, command in enumerate((["export", place / "runs" / "own", "-o"], ["config", "write"])):
        target, link = place / f"target{i}.txt", place / f"link{i}.txt"
        target.write_text("old\n")
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        done = invoke(*command, link, "--force")
        assert done.exit_code == 0, done.stderr
        assert link.is_symlink() and target.read_text() != "old\n"


def test_a_process_of_a_distributed_run_whose_reader_closed_the_output_ends_with_0(monkeypatch):
    """A rank leaves through `_main_of_a_rank`, not `main`'s try: a reader gone there ended it with a traceback
    and exit 1, which the launcher counts a failure of the whole group."""
    from tui import cli
    from tui.refusals import OutputClosed

    def closed():
        raise OutputClosed()

    exits: list[int] = []
    monkeypatch.setattr(cli, "app", closed)
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    cli._main_of_a_rank()
    assert exits == [0]
