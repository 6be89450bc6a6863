"""Comparing runs (tui.core.compare) and `torchtui runs --compare`: real short iris runs that differ
in the learning rate, their best numbers checked against their own event logs, and deleting run
folders - refused for a running run and for anything that is not a run folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core import compare, record
from tui.core.errors import UserError
from tui.core.record import Recorder
from tui.core.runs import RunFolder, read_events
from tui.core.spec import Spec

import warm_cli
from conftest import train, writer_stand_in

LRS = {"slow": 0.001, "fast": 0.05}


def torchtui(*args, cwd) -> subprocess.CompletedProcess:
    return warm_cli.run([sys.executable, "-m", "tui", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                        timeout=180)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Two real iris runs, trained by the job `torchtui run` runs, alike but for the learning rate."""
    work = tmp_path_factory.mktemp("compare")
    for name, lr in LRS.items():
        outcome, _, _ = train(work, data__dataset="iris", train__epochs=4, train__patience=0, train__lr=lr,
                              run__name=name)
        assert outcome.status == "done"
    return work / "runs"


def epochs_of(run: Path) -> list[dict]:
    return [e for e in read_events(run / "events.jsonl") if e["event"] == "epoch"]


def live_run(root: Path, name: str) -> tuple[Path, subprocess.Popen]:
    """A run folder whose worker is alive: a start event naming a live process holding the folder's lock
    (never this test's own pid), written through the recorder as a worker writes it."""
    spec = Spec().with_overrides({"train.device": "cpu", "run.runs_dir": str(root), "run.name": name})
    folder = RunFolder.create(spec, "iris")
    folder.release()  # the stand-in holds the folder's lock, as a worker does
    worker = writer_stand_in(folder.path / "events.jsonl")
    recorder = Recorder(folder=folder)
    recorder.write(record.start(
        pid=worker.pid, run_dir=str(folder.path), dataset="iris", task="classification", target="species",
        classes=["a", "b", "c"], train_rows=120, val_rows=30, input_shape=[4], outputs=3, loss="CrossEntropy",
        notices=[], preview=[], table=True, layers=[], summary="", params=0, device="cpu", epochs=100,
        batch_size=16, steps_per_epoch=8, optimizer="Adam", lr=0.01, scheduler="none", seed=0, resumed_from=None))
    recorder.close()
    return folder.path, worker


def stop(worker: subprocess.Popen) -> None:
    worker.kill()
    worker.wait()  # reaped: not a zombie that still looks alive


# ---- the comparison ----------------------------------------------------------------------------
def test_the_differences_are_the_learning_rate_and_nothing_else(runs_dir):
    runs = [compare.read(runs_dir / name) for name in LRS]
    diffs = compare.differences(runs)
    assert [(d.field, d.values) for d in diffs] == [("train.lr", [0.001, 0.05])]
    assert compare.differences(runs[:1]) == []  # one run: nothing to compare it with


def test_best_numbers_and_curves_are_the_runs_own(runs_dir):
    for name in LRS:
        run = compare.read(runs_dir / name)
        epochs = epochs_of(runs_dir / name)
        best = min(epochs, key=lambda e: e["val_loss"])
        end = next(e for e in read_events(runs_dir / name / "events.jsonl") if e["event"] == "end")
        assert run.info.status == "done" and run.info.epochs_done == 4 == run.info.epochs
        assert run.info.best_val_loss == best["val_loss"] == end["best_val_loss"]
        assert run.info.metric == "accuracy" and run.info.best_metric == best["accuracy"]
        assert run.info.best_metric == end["best_metrics"]["accuracy"]
        assert run.info.seconds == pytest.approx(sum(e["seconds"] for e in epochs))
        assert run.curves.epochs == [1, 2, 3, 4]
        assert run.curves.val_loss == [e["val_loss"] for e in epochs]
        assert run.curves.train_loss == [e["train_loss"] for e in epochs]
        assert run.curves.metric == [e["accuracy"] for e in epochs]
    slow, fast = (compare.read(runs_dir / name) for name in LRS)
    assert slow.info.best_val_loss != fast.info.best_val_loss  # the lr made a difference the table can show


def test_sorting_by_a_column_puts_runs_without_that_number_last(runs_dir, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_dir, root)
    RunFolder.create(Spec().with_overrides({"run.runs_dir": str(root), "run.name": "empty"}), "iris")
    runs = compare.list_compared(root)
    assert sorted(r.name for r in runs) == ["empty", "fast", "slow"]
    by_loss = [r.name for r in compare.sort_runs(runs, "best val loss")]
    losses = {r.name: r.info.best_val_loss for r in runs}
    low, high = sorted(LRS, key=lambda n: losses[n])
    assert by_loss == [low, high, "empty"]
    assert [r.name for r in compare.sort_runs(runs, "best val loss", descending=True)] == [high, low, "empty"]
    assert [r.name for r in compare.sort_runs(runs, "name")] == ["empty", "fast", "slow"]


def test_resolve_takes_folders_and_names_and_refuses_what_is_not_a_run(runs_dir, tmp_path):
    assert compare.resolve(["slow", str(runs_dir / "fast")], runs_dir) == [runs_dir / "slow", runs_dir / "fast"]
    with pytest.raises(UserError, match="no run 'nope'"):
        compare.resolve(["slow", "nope"], runs_dir)


# ---- deleting ----------------------------------------------------------------------------------
def test_delete_removes_a_finished_run_and_nothing_else(runs_dir, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_dir, root)
    compare.delete_run(root / "slow")
    assert sorted(p.name for p in root.iterdir()) == ["fast"]  # no half-deleted leftovers either
    assert [e["val_loss"] for e in epochs_of(root / "fast")] == [e["val_loss"] for e in epochs_of(runs_dir / "fast")]


def test_delete_refuses_a_running_run_until_its_worker_is_gone(tmp_path):
    run, worker = live_run(tmp_path / "runs", "live")
    try:
        with pytest.raises(UserError, match=f"live is still training \\(pid {worker.pid}\\)"):
            compare.delete_run(run)
        assert (run / "events.jsonl").exists()
    finally:
        stop(worker)
    compare.delete_run(run)  # killed: an interrupted run, which may go
    assert not run.exists()


def test_delete_refuses_what_is_not_a_run_folder(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a run\n")
    with pytest.raises(UserError, match="not a run folder \\(no spec.toml\\)"):
        compare.delete_run(plain)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "spec.toml").write_text(Spec().to_toml())
    with pytest.raises(UserError, match="holds folders \\(src\\)"):
        compare.delete_run(project)
    real = RunFolder.create(Spec().with_overrides({"run.runs_dir": str(tmp_path / "runs"), "run.name": "r"}), "iris")
    old = time.time() - 3600
    os.utime(real.path / "spec.toml", (old, old))
    link = tmp_path / "link"
    link.symlink_to(real.path)
    with pytest.raises(UserError, match="not a run folder"):
        compare.delete_run(link)
    with pytest.raises(UserError, match="not a run folder"):
        compare.delete_run(tmp_path / "missing")
    assert (plain / "notes.txt").exists() and (project / "src").is_dir() and (real.path / "spec.toml").exists()
    compare.delete_run(real.path)  # a run folder that never started, and is not starting: deleted
    assert not real.path.exists()


def test_delete_refuses_a_folder_created_moments_ago_without_a_start(tmp_path):
    fresh = RunFolder.create(Spec().with_overrides({"run.runs_dir": str(tmp_path), "run.name": "fresh"}), "iris")
    with pytest.raises(UserError, match="has not started yet"):
        compare.delete_run(fresh.path)
    assert (fresh.path / "spec.toml").exists()


# ---- the console ---------------------------------------------------------------------------------
def test_runs_compare_prints_the_best_numbers_and_the_differences(runs_dir):
    done = torchtui("runs", "--runs-dir", runs_dir, "--compare", "slow", "fast", cwd=runs_dir.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "status", "dataset", "epochs", "best", "val", "loss", "best", "metric", "time"]
    for name, line in zip(LRS, lines[1:3]):
        run = compare.read(runs_dir / name)
        cells = line.split()
        assert cells[:5] == [name, "done", "iris", "4/4", f"{run.info.best_val_loss:.4f}"]
        assert cells[5:7] == ["acc", f"{run.info.best_metric:.4f}"]
    table = [line.split() for line in lines[lines.index("") + 1:]]
    assert table == [["differs", "slow", "fast"], ["train.lr", "0.001", "0.05"]]


def test_runs_compare_json(runs_dir):
    done = torchtui("runs", "--runs-dir", runs_dir, "--compare", runs_dir / "fast", "slow", "--json",
                    cwd=runs_dir.parent)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [r["name"] for r in out["runs"]] == ["fast", "slow"]
    assert out["differences"] == [{"field": "train.lr", "values": [0.05, 0.001]}]
    for r in out["runs"]:
        best = min(epochs_of(runs_dir / r["name"]), key=lambda e: e["val_loss"])
        assert (r["best_val_loss"], r["best_metric"], r["metric"]) == (best["val_loss"], best["accuracy"], "accuracy")


def test_runs_compare_refuses_an_unknown_run_in_one_line(runs_dir):
    done = torchtui("runs", "--runs-dir", runs_dir, "--compare", "slow", "nope", cwd=runs_dir.parent)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: no run 'nope': not a run folder, and not a run in {runs_dir}/; "
                                        f"`torchtui runs --runs-dir {runs_dir}` lists the runs there"]
    as_json = torchtui("runs", "--runs-dir", runs_dir, "--compare", "slow", "nope", "--json", cwd=runs_dir.parent)
    assert as_json.returncode == 2 and "no run 'nope'" in json.loads(as_json.stdout)["error"]
    assert as_json.stderr.splitlines() == done.stderr.splitlines()  # and the same one line on stderr
    one = torchtui("runs", "--runs-dir", runs_dir, "--compare", "slow", cwd=runs_dir.parent)
    assert one.returncode == 2 and "needs two or more runs" in one.stderr and "Traceback" not in one.stderr
    bare = torchtui("runs", "--runs-dir", runs_dir, "slow", "fast", cwd=runs_dir.parent)
    assert bare.returncode == 2 and "--compare" in bare.stderr


def test_runs_without_compare_lists_as_before(runs_dir):
    done = torchtui("runs", "--runs-dir", runs_dir, cwd=runs_dir.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["run", "status", "dataset", "epochs", "best", "loss", "pid"]
    assert {line.split()[0] for line in done.stdout.splitlines()[1:]} == {str(runs_dir / n) for n in LRS}


def test_runs_of_different_losses_are_told_apart_by_their_loss_function(runs_dir, tmp_path):
    """A classifier's CrossEntropy beside a regression's MSE share the best val loss column: the comparison says
    they are not one measure, and names each run's loss among the differences (both runs' train.loss is auto)."""
    done = torchtui("run", "--dataset", "diabetes", "--epochs", "1", "--device", "cpu", "--runs-dir", tmp_path,
                    "--name", "values", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = torchtui("runs", "--compare", runs_dir / "slow", tmp_path / "values", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[3] == ("note: these runs' val losses are of different loss functions (CrossEntropy, MSE): not one "
                        "measure, so that column does not rank them")
    table = [line.split() for line in lines[lines.index("") + 1:]]
    assert table[:3] == [["differs", "slow", "values"], ["loss", "function", "CrossEntropy", "MSE"],
                         ["data.dataset", "iris", "diabetes"]]
    as_json = json.loads(torchtui("runs", "--compare", runs_dir / "slow", tmp_path / "values", "--json",
                                  cwd=tmp_path).stdout)
    assert as_json["differences"][0] == {"field": "loss function", "values": ["CrossEntropy", "MSE"]}
    same = torchtui("runs", "--runs-dir", runs_dir, "--compare", "slow", "fast", cwd=runs_dir.parent)
    assert "loss function" not in same.stdout and "note:" not in same.stdout  # one loss: nothing said


def test_a_finished_run_whose_checkpoints_were_deleted_is_listed_so(runs_dir, tmp_path):
    """It was listed `done` while predict, export and resume each refused it for want of its weights."""
    copy = tmp_path / "runs" / "fast"
    shutil.copytree(runs_dir / "fast", copy)
    (copy / "last.pt").unlink()
    assert compare.read(copy).info.shown_status == "done"  # best.pt is still there: a model to use
    (copy / "best.pt").unlink()
    listed = torchtui("runs", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:4] == [str(copy), "done,", "weights", "deleted"]
    as_json = json.loads(torchtui("runs", "--runs-dir", tmp_path / "runs", "--json", cwd=tmp_path).stdout)
    assert [(r["status"], r["weights_deleted"]) for r in as_json["runs"]] == [("done", True)]
    compared = torchtui("runs", "--compare", copy, runs_dir / "slow", cwd=tmp_path)
    assert compared.stdout.splitlines()[1].split()[:4] == ["fast", "done,", "weights", "deleted"]
    assert compare.read(runs_dir / "fast").info.shown_status == "done"  # the run it was copied from: untouched
