"""Paths as users type them, and files that belong together, each test failing before its fix.

`~/runs` in a TOML spec, after `--runs-dir=`, quoted, or in the screen's path box reached torchtui unexpanded
(only a shell expands a tilde, and only in a word of its own): a run made a folder named `~` beside the user's
files. `torchtui runs --runs-dir` with a mistyped folder said "no runs" and exited 0. `export --weights` wrote
the safetensors file and then its JSON card one after the other: a card that could not be written left new
weights beside the previous export's card. A write killed before its rename left its hidden temp file in the
user's folder for good. A run whose data file was moved could not be resumed: the error said the dataset
did not exist, and no flag could say where it went."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from textual.widgets import Input

from tui.app.app import TorchTUI
from tui.cli import PATH_FLAGS
from tui.core import checkpoint, files, job, val_predictions
from tui.core import data as data_module
from tui.core.data import fingerprint, fingerprint_differs
from tui.core.files import expand_home, expand_home_in_args
from tui.core.spec import Spec

from conftest import make_spec
from test_app import cpu_spec, data_loaded, running, wait_for
from test_cli import invoke

ROOT = Path(__file__).resolve().parents[1]
IRIS_CSV = ROOT / "datasets" / "iris.csv"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder of the test's own, and a working folder that is not it."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def test_a_tilde_means_the_home_folder_wherever_a_path_is_typed(home):
    assert expand_home("~/runs") == f"{home}/runs" and expand_home("~") == str(home)
    for kept in ("iris", "runs/~x", "~other/runs", "data:Class", ""):  # not a home path: as typed
        assert expand_home(kept) == kept
    args = ["run", "--runs-dir=~/r", "--dataset=~/a.csv", "~/quoted", "--sep", "~", "--sep=~", "--name=~/n", "-o=~/x"]
    assert expand_home_in_args(args, PATH_FLAGS) == [  # a path flag's `=~/`: the rest as given (a separator `~`)
        "run", f"--runs-dir={home}/r", f"--dataset={home}/a.csv", "~/quoted", "--sep", "~", "--sep=~", "--name=~/n",
        "-o=~/x"]

    spec = Spec.from_toml('[data]\ndataset = "~/iris.csv"\nval = "~/v.csv"\ntest = "~/t.csv"\n'
                          '[run]\nruns_dir = "~/runs"\n')
    assert (spec.data.dataset, spec.data.val, spec.data.test, spec.run.runs_dir) == (
        f"{home}/iris.csv", f"{home}/v.csv", f"{home}/t.csv", f"{home}/runs")
    assert Spec().with_overrides({"run.runs_dir": "~/elsewhere"}).run.runs_dir == f"{home}/elsewhere"


def test_a_run_given_home_paths_trains_from_and_into_the_home_folder(home):
    (home / "iris.csv").write_bytes(IRIS_CSV.read_bytes())
    (Path.cwd() / "exp.toml").write_text('[data]\ndataset = "~/iris.csv"\n[train]\nepochs = 1\n'
                                         '[run]\nruns_dir = "~/runs"\nname = "a"\n')
    env = {**os.environ, "HOME": str(home)}
    torchtui = [sys.executable, "-m", "tui"]
    r = subprocess.run([*torchtui, "run", "exp.toml", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*torchtui, "run", "--dataset", "~/iris.csv", "--epochs", "1", "--runs-dir=~/runs",
                        "--name", "b", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (Path.cwd() / "~").exists() and sorted(os.listdir(Path.cwd())) == ["exp.toml"]
    for name in ("a", "b"):
        spec = Spec.from_file(home / "runs" / name / "spec.toml")
        assert spec.data.dataset == str(home / "iris.csv") and spec.run.runs_dir == str(home / "runs")
    r = subprocess.run([*torchtui, "runs", "--runs-dir=~/runs", "--json"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert sorted(Path(x["run"]).name for x in json.loads(r.stdout)["runs"]) == ["a", "b"], r.stdout + r.stderr


async def test_the_path_box_reads_a_file_in_the_home_folder(home):
    (home / "wine.csv").write_bytes((ROOT / "datasets" / "wine.csv").read_bytes())
    app = TorchTUI(cpu_spec())
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        box = app.query_one("#data-path", Input)
        box.value = "~/wine.csv"
        box.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.spec.data.dataset == str(home / "wine.csv") and app.data.prepared
                       is not None and app.data.spec.dataset == str(home / "wine.csv"), what="the home file to load")
        assert not box.has_class("-invalid") and app.data.error == ""


def test_runs_in_a_folder_that_is_not_there_is_a_mistake_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("runs")  # no runs yet in ./checkpoints: not a mistake
    assert r.exit_code == 0 and "no runs in checkpoints" in r.output
    r = invoke("runs", "--runs-dir", tmp_path / "chekpoints")
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert r.stderr.strip() == (f"error: --runs-dir {tmp_path / 'chekpoints'} does not exist; give the folder the runs "
                                "were written to (`torchtui run --runs-dir`, checkpoints by default)")
    (tmp_path / "notes.txt").write_text("x")
    r = invoke("runs", "--runs-dir", tmp_path / "notes.txt", "--json")
    assert r.exit_code == 2 and "is a file, not a folder" in json.loads(r.stdout)["error"], r.output
    r = invoke("runs", "--runs-dir", tmp_path / "nope", "--compare", "a", "b")
    assert r.exit_code == 2 and "does not exist" in r.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    _, folder = job.run(make_spec(root, data__dataset="iris", train__epochs=2, run__name="r",
                                  model__layers="Linear(8), ReLU()"), lambda e: None)
    return folder.path


def test_weights_and_their_card_are_written_together_or_not_at_all(finished_run, tmp_path, monkeypatch):
    """A failure injected at each write and each rename of `export --weights --force` over an earlier export: a
    failed write leaves the earlier pair whole; a failed rename (after every file was written whole) names what
    was and was not written. No temp file is left either way."""
    out, card = tmp_path / "model.safetensors", tmp_path / "model.json"
    out.write_bytes(b"earlier weights")
    card.write_text("earlier card")
    real_open, real_replace = open, os.replace
    points = [("write", out.name), ("write", card.name), ("rename", out.name), ("rename", card.name)]
    for kind, name in points:
        def failing_open(path, *a, _name=name, _kind=kind, **k):
            if _kind == "write" and Path(path).name.startswith(files.TMP_PREFIX + _name):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_open(path, *a, **k)

        def failing_replace(src, dst, _name=name, _kind=kind):
            if _kind == "rename" and Path(dst).name == _name:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return real_replace(src, dst)

        monkeypatch.setattr("builtins.open", failing_open)
        monkeypatch.setattr(files.os, "replace", failing_replace)
        r = invoke("export", finished_run, "--weights", out, "--force")
        monkeypatch.undo()
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, (kind, name, r.output)
        assert sorted(os.listdir(tmp_path)) == ["model.json", "model.safetensors"], (kind, name)
        if (kind, name) != ("rename", card.name):  # nothing was replaced
            assert out.read_bytes() == b"earlier weights" and card.read_text() == "earlier card", (kind, name)
            assert "not written either" in r.stderr, r.stderr
        else:  # the weights had been renamed into place when the card's rename failed: said so
            assert out.read_bytes() != b"earlier weights" and card.read_text() == "earlier card"
            assert f"cannot write {card}: " in r.stderr and f"({out} written)" in r.stderr, r.stderr
    r = invoke("export", finished_run, "--weights", out, "--force")
    assert r.exit_code == 0, r.output
    assert json.loads(card.read_text())["made_by"] == "torchtui export --weights" and out.stat().st_size > 100


def test_a_temp_file_a_killed_write_left_is_removed_by_the_next_write_of_that_file(finished_run, tmp_path):
    """`.tmp-NAME.PID` of a process gone (a predict killed mid-write), untouched for ten minutes, goes with the next
    write of NAME; one of a process still running, or touched lately (a write in progress), stays, as do other
    files."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    running_ = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale, live = tmp_path / f".tmp-out.csv.{gone.pid}", tmp_path / f".tmp-out.csv.{running_.pid}"
        other, fresh = tmp_path / f".tmp-other.csv.{gone.pid}", tmp_path / f".tmp-out.csv.{gone.pid + 10**7}"
        hour_ago = time.time() - 3600
        for f in (stale, live, other, fresh):
            f.write_text("half a file")
            if f != fresh:  # (fresh: another machine's write in progress, on a shared folder, for all a pid says)
                os.utime(f, (hour_ago, hour_ago))
        rows = tmp_path / "rows.csv"
        rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
        r = invoke("predict", finished_run, rows, "-o", tmp_path / "out.csv")
        assert r.exit_code == 0, r.output
        assert not stale.exists() and live.exists() and other.exists() and fresh.exists()
        assert (tmp_path / "out.csv").read_text().count("\n") == 2
    finally:
        running_.kill()
        running_.wait()


def test_a_run_whose_data_file_moved_resumes_from_its_new_place_exactly(tmp_path):
    data = tmp_path / "flowers.csv"
    data.write_bytes(IRIS_CSV.read_bytes())
    new = tmp_path / "elsewhere" / "flowers.csv"
    base = dict(data__dataset=str(data), train__patience=0, model__layers="Linear(8), ReLU()", train__seed=3)
    _, straight = job.run(make_spec(tmp_path, **base, train__epochs=3, run__name="straight"), lambda e: None)
    _, folder = job.run(make_spec(tmp_path, **base, train__epochs=2, run__name="moved"), lambda e: None)
    run = folder.path
    new.parent.mkdir()
    data.rename(new)

    r = invoke("resume", run, "--epochs", "3")
    assert r.exit_code == 2 and r.stderr.strip() == (
        f"error: {data}, the run's data file, is not there any more; if it moved, `torchtui resume {run} --epochs 3 "
        "--dataset NEW_PATH` goes on with it (the same data: it is checked)"), r.output
    changed = tmp_path / "changed.csv"  # one value of one row: the training rows' statistics, or else the check
    changed.write_text(IRIS_CSV.read_text().replace("5.1,3.5,1.4,0.2", "5.9,3.5,1.4,0.2", 1))
    r = invoke("resume", run, "--epochs", "3", "--dataset", changed)
    assert r.exit_code == 2 and f"{changed}, given with --dataset, is not the data {run} trained on (its column " \
                                "statistics differ from its checkpoint's)" in r.stderr, r.output
    for flag, said in (("--val", "this run has no validation file"), ("--test", "this run has no test file")):
        r = invoke("resume", run, "--epochs", "3", flag, new)
        assert r.exit_code == 2 and said in r.stderr, r.output
    r = invoke("resume", run, "--epochs", "3", "--dataset", tmp_path / "nowhere.csv")
    assert r.exit_code == 2 and "no such file; give the place the run's data file (flowers.csv) moved to" in r.stderr
    assert Spec.from_file(run / "spec.toml").data.dataset == str(data)  # nothing refused wrote the spec

    r = invoke("resume", run, "--epochs", "3", "--dataset", new)
    assert r.exit_code == 0, r.output
    assert f"note: data file now {new} (it was {data})" in r.stdout
    ours, want = checkpoint.load(run / "last.pt"), checkpoint.load(straight.checkpoint_path("last"))
    assert ours["progress"]["epoch"] == 3
    assert all(torch.equal(ours["model"][k], want["model"][k]) for k in want["model"])
    assert Spec.from_file(run / "spec.toml").data.dataset == str(new)
    assert invoke("resume", run, "--epochs", "4").exit_code == 0  # the new place is the run's from now on
    spec_toml = run / "spec.toml"  # a file's place may change; a built-in set put in its place is an edit
    spec_toml.write_text(spec_toml.read_text().replace(f'"{new}"', '"iris"'))
    r = invoke("resume", run, "--epochs", "5")
    assert r.exit_code == 2 and "spec.toml was edited since the run saved it (data.dataset 'iris' vs" in r.stderr
    r = invoke("resume", straight.path, "--epochs", "4", "--dataset", "iris")
    assert r.exit_code == 2 and "--dataset iris: no such file" in r.stderr  # a built-in name is no file's place


def test_a_moved_file_s_new_place_in_spec_toml_holds_only_where_the_old_one_is_empty_and_the_rows_are_checked(
        tmp_path):
    """spec.toml holding a data file's new place while last.pt holds the old one: what a resume given --dataset
    leaves when it is killed before its first save. The next resume goes on from the new place when the old
    one holds no file (it moved); where the old one still does, the new place is an edit, unless given again.
    And a validation file that moved is checked by its rows: the column statistics are the training rows'."""
    data, val = tmp_path / "train.csv", tmp_path / "val.csv"
    lines = IRIS_CSV.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:1] + lines[1::2]))
    val.write_text("".join(lines[:1] + lines[2::2]))
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(data), data__val=str(val), train__epochs=1,
                                  run__name="v", model__layers="Linear(8), ReLU()"), lambda e: None)
    run, spec_toml = folder.path, folder.path / "spec.toml"
    copy = tmp_path / "copy" / "val.csv"
    copy.parent.mkdir()
    copy.write_bytes(val.read_bytes())
    text = spec_toml.read_text()
    spec_toml.write_text(text.replace(f'val = "{val}"', f'val = "{copy}"'))
    r = invoke("resume", run, "--epochs", "2")  # the old place still holds the file: the new one is an edit
    assert r.exit_code == 2 and "spec.toml was edited since the run saved it (data.val" in r.stderr, r.output
    val.unlink()  # now it moved
    best = run / "best.pt"  # saved with the old place: its validation rows are found at the new one
    table = val_predictions.compute(checkpoint.load(best), str(best))
    assert len(table) == 75
    r = invoke("resume", run, "--epochs", "2")
    assert r.exit_code == 0, r.output

    other = tmp_path / "other_val.csv"  # a validation row changed: the training rows' statistics are the same
    other.write_text(copy.read_text().replace("4.9,3.0,1.4,0.2", "4.9,3.0,1.4,0.9", 1))
    assert other.read_text() != copy.read_text()
    r = invoke("resume", run, "--epochs", "3", "--val", other)
    # the file given, by its flag, not "the data of RUN (its training file) changed"
    assert r.exit_code == 2 and f"{other}, given with --val, is not the data {run} trained on (validation inputs " \
                                "differ from its checkpoint's)" in r.stderr, r.output
    moved_data, moved_val = tmp_path / "copy" / "train.csv", tmp_path / "again.csv"  # both moved, one given:
    data.rename(moved_data)  # the other is asked for, by the command that repeats this one's flags
    copy.rename(moved_val)
    r = invoke("resume", run, "--epochs", "3", "--dataset", moved_data)
    assert r.exit_code == 2 and (f"`torchtui resume {run} --epochs 3 --dataset {moved_data} --val NEW_PATH`"
                                 in r.stderr), r.output
    r = invoke("resume", run, "--epochs", "3", "--val", moved_val, "--dataset", moved_data)
    assert r.exit_code == 0, r.output


def test_the_fingerprint_adds_in_chunks_as_in_one_and_a_dataset_class_that_draws_anew_resumes(tmp_path,
                                                                                                monkeypatch):
    """The sums are the same whatever the chunks (a float64 copy of images at once could run out of memory), a
    NaN differs from everything; a Dataset class is not fingerprinted: its items may be drawn anew at each read
    (augmentation), and a resume of such a run was refused as data that changed."""
    t = torch.randn(1000, 3, 5, 5)
    chunked, whole = data_module._sums(t, elements=77), data_module._sums(t, elements=10**9)  # 1 row; all rows
    assert chunked[0] == whole[0] == 1000 and chunked == pytest.approx(whole, rel=1e-12)
    prints = fingerprint(t, t[:, :1, 0, 0], t[:0], t[:0, :1, 0, 0])
    assert fingerprint_differs(prints, list(prints)) == ""
    assert fingerprint_differs(prints, [float("nan")] + prints[1:]) == "training inputs"
    assert fingerprint_differs(prints, prints[:5] + [prints[5] + 1e-3] + prints[6:]) == "training targets"

    (tmp_path / "jitter.py").write_text(
        "import random\nimport torch\nfrom torch.utils.data import Dataset\n\n"
        "class Jitter(Dataset):\n"
        "    def __init__(self):\n"
        "        g = torch.Generator().manual_seed(0)\n"
        "        self.x, self.y = torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g)\n"
        "    def __len__(self):\n        return 64\n"
        "    def __getitem__(self, i):\n"
        "        return self.x[i] + random.random() * 0.01, self.y[i]  # drawn anew at each read\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _, folder = job.run(make_spec(tmp_path, data__dataset="jitter:Jitter", train__epochs=1, run__name="j",
                                  model__layers="Linear(8), ReLU()"), lambda e: None)
    assert checkpoint.load(folder.checkpoint_path("last"))["data_check"] == []
    job.resume(folder.path, lambda e: None, epochs=2)
    assert checkpoint.load(folder.checkpoint_path("last"))["progress"]["epoch"] == 2


def test_a_val_file_edited_in_place_is_named_in_the_refusal(tmp_path):
    # "the data of RUN (train.csv) changed" of an edit to the --val file
    data, val = tmp_path / "train.csv", tmp_path / "val.csv"
    lines = (Path(__file__).resolve().parents[1] / "datasets" / "iris.csv").read_text().splitlines()
    data.write_text("\n".join([lines[0], *lines[1::2]]) + "\n")
    val.write_text("\n".join([lines[0], *lines[2::2]]) + "\n")
    _, folder = job.run(make_spec(tmp_path, data__dataset=str(data), data__val=str(val), train__epochs=1,
                                  run__name="v"), lambda e: None)
    val.write_text(val.read_text().replace("6.3,", "6.4,", 1))
    r = invoke("resume", folder.path, "--epochs", "2")
    assert r.exit_code == 2 and f"the data of {folder.path} ({val}) changed since the checkpoint was saved " \
                                "(validation inputs differ)" in r.stderr, r.output
