"""What an audit of hostile places found (a full disk, a shared runs folder, closed streams, a mistyped path),
each test failing before its fix.

`predict -o RUN/last.pt` wrote predictions over a run's checkpoint, and `export -o RUN/spec.toml --force` a
script over its spec: the run was lost. A runs folder given as --runs-dir that was itself a run folder got a new
run inside it. One unreadable event log ended `torchtui runs` for every run with a traceback. A closed stdout
crashed a headless run. A disk that filled during a save, or while the event log was written, ended the run with
a traceback (torch's zip writer raises its failed write as a RuntimeError without an errno), and a run folder
whose spec could not be written was left behind holding a name and no run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from tui.core import checkpoint, files, job, runs
from tui.core.errors import TrainingFailed, UserError
from tui.core.follow import list_runs
from tui.core.runs import RunFolder

from conftest import make_spec
from test_cli import invoke

RUN_FILES = ("spec.toml", "events.jsonl", "last.pt", "best.pt", "val_predictions.csv", "predictions.csv")
IRIS = {"data__dataset": "iris", "train__epochs": 2, "model__layers": "Linear(8), ReLU()"}


@pytest.fixture
def two_runs(tmp_path):
    """Two finished runs, one with --test predictions: every file a run writes is there."""
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    _, a = job.run(make_spec(tmp_path, **IRIS, run__name="a", data__test=str(rows)), lambda e: None)
    _, b = job.run(make_spec(tmp_path, **IRIS, run__name="b"), lambda e: None)
    return a.path, b.path, rows


def test_predict_and_export_never_write_over_a_runs_own_files(two_runs):
    a, b, rows = two_runs
    assert {p.name for p in a.iterdir()} >= set(RUN_FILES)
    for run in (a, b):  # its own folder, and another run's
        for name in RUN_FILES:
            target = a / name
            before = target.read_bytes()
            r = invoke("predict", run, rows, "-o", target)
            said = ("is a file of the run in", "is the checkpoint being predicted from")  # a run's best.pt: the latter
            assert r.exit_code == 2 and any(s in r.output for s in said), (run, name, r.output)
            assert target.read_bytes() == before
    r = invoke("export", b, "-o", a / "spec.toml", "--force")
    assert r.exit_code == 2 and "is a file of the run in" in r.output
    assert checkpoint.load(a / "last.pt")["progress"]["epoch"] == 2 and runs.RunFolder.open(a)
    # a new file of the user's own beside them is theirs to write
    assert invoke("predict", b, rows, "-o", a / "mine.csv").exit_code == 0 and (a / "mine.csv").exists()


def test_a_run_folder_given_as_the_runs_folder_is_refused_and_nothing_written_in_it(two_runs):
    a, _, _ = two_runs
    before = sorted(p.name for p in a.iterdir())
    with pytest.raises(UserError, match=f"is a run folder, not a folder of runs; continue that run with "
                                        f"`torchtui resume {a}`, or give the folder that holds it: --runs-dir"):
        job.run(make_spec(a.parent, **IRIS, run__runs_dir=str(a), run__name="inner"), lambda e: None)
    assert sorted(p.name for p in a.iterdir()) == before


def test_an_unreadable_event_log_is_listed_as_such_and_the_other_runs_still_are(two_runs):
    a, b, _ = two_runs
    (b / "events.jsonl").unlink()
    (b / "events.jsonl").mkdir()  # unreadable even to root (a chmod 000 is not)
    listed = {r.path.name: r.status for r in list_runs(a.parent)}
    assert listed == {"a": "done", "b": "unreadable"}
    r = invoke("runs", "--runs-dir", a.parent)
    assert r.exit_code == 0 and "unreadable" in r.output and "done" in r.output


def test_a_run_started_with_closed_streams_trains(tmp_path):
    cmd = (f"exec {sys.executable} -m tui run --dataset iris --epochs 2 --device cpu --runs-dir runs --name x "
           f"1>&- 2>&-")  # each alone failed: stdout with a traceback, stderr silently, no run made
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert checkpoint.load(tmp_path / "runs" / "x" / "last.pt")["progress"]["epoch"] == 2


@pytest.mark.parametrize("as_json", [False, True], ids=["lines", "json"])
def test_a_console_the_disk_cannot_take_does_not_fail_the_run(tmp_path, as_json):
    """`torchtui run > train.log` with the log's disk full (here /dev/full): the run trained on, and finished;
    before, the console's failed write was taken for the run folder's ("cannot write in runs/x: No space left on
    device; nothing was saved yet") and the run failed at its start."""
    cmd = [sys.executable, "-m", "tui", "run", "--dataset", "iris", "--epochs", "2", "--device", "cpu",
           "--runs-dir", "runs", "--name", "x"] + (["--json"] if as_json else [])
    with open("/dev/full", "w") as full:
        r = subprocess.run(cmd, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot write the console output any more (No space left on device)") == 1, r.stderr
    assert "torchtui attach runs/x" in r.stderr and "Traceback" not in r.stderr
    events = [json.loads(line) for line in (tmp_path / "runs" / "x" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done"
    assert checkpoint.load(tmp_path / "runs" / "x" / "last.pt")["progress"]["epoch"] == 2


@pytest.mark.parametrize("args", [["datasets"], ["runs", "--runs-dir", "."], ["runs", "--runs-dir", ".", "--json"]],
                         ids=["datasets", "runs", "runs-json"])
def test_a_commands_output_the_disk_cannot_take_is_one_line(tmp_path, args):
    """`torchtui runs > list.txt` on a full disk ended in click's traceback."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "tui", *args], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    assert (r.returncode, r.stderr) == (1, "error: cannot write the output: No space left on device\n")


class FillsAfter:
    """A file on a disk with `room` bytes left: a write past it fails as a full disk does."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_disk_that_fills_inside_torch_save_fails_the_save_in_one_line(tmp_path, monkeypatch):
    real = files.atomic_write
    monkeypatch.setattr(checkpoint, "atomic_write", lambda path, write, mode="wb": real(
        path, lambda f: write(FillsAfter(f, 2000)), mode))
    with pytest.raises(OSError) as raised:  # torch raises RuntimeError("... unexpected pos ...")
        checkpoint.save({"model": {"w": torch.randn(10_000)}}, tmp_path / "x.pt")
    assert raised.value.errno in (errno.ENOSPC, errno.EIO)
    assert not list(tmp_path.iterdir())  # no temp file, no half checkpoint

    events: list[dict] = []
    with pytest.raises(TrainingFailed, match="cannot save a checkpoint in .*; nothing was saved yet. Free some space"):
        job.run(make_spec(tmp_path, **IRIS, run__name="full"), events.append)
    assert [e["kind"] for e in events if e["event"] == "error"] == ["save_failed"]
    assert not list((tmp_path / "runs" / "full").glob(".tmp-*"))


def test_an_event_log_the_disk_cannot_take_fails_the_run_in_one_line_and_resume_finishes_it(tmp_path, monkeypatch):
    _, reference = job.run(make_spec(tmp_path, **{**IRIS, "train__epochs": 3}, run__name="ref"), lambda e: None)
    log = RunFolder.log
    written = {"n": 0}

    def filling(self, event, sync=False):
        written["n"] += 1
        if event["event"] == "epoch" and event["epoch"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return log(self, event, sync)

    monkeypatch.setattr(RunFolder, "log", filling)
    with pytest.raises(TrainingFailed, match=r"cannot write in .*/full: No space left on device; last.pt is kept. "
                                             r"Free some space or fix the folder, then `torchtui resume "):
        job.run(make_spec(tmp_path, **{**IRIS, "train__epochs": 3}, run__name="full"), lambda e: None)
    monkeypatch.setattr(RunFolder, "log", log)
    job.resume(tmp_path / "runs" / "full", lambda e: None)
    ours = checkpoint.load(tmp_path / "runs" / "full" / "last.pt")["model"]
    want = checkpoint.load(reference.checkpoint_path("last"))["model"]
    assert all(torch.equal(ours[k], want[k]) for k in want)


def test_a_run_folder_whose_spec_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    def full(self, name, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(RunFolder, "write_text", full)
    with pytest.raises(UserError, match="cannot write run folder .*/x: No space left on device; free some space"):
        job.run(make_spec(tmp_path, **IRIS, run__name="x"), lambda e: None)
    assert not (tmp_path / "runs" / "x").exists()
    monkeypatch.undo()
    job.run(make_spec(tmp_path, **IRIS, run__name="x"), lambda e: None)  # the name is free


def test_only_a_failure_to_write_the_run_folder_is_said_as_one(tmp_path):
    """A full disk, or any error naming a file of the run folder, is the folder's; a user's Dataset class failing to
    read its own file mid-training is not, and stays the crash it is."""
    folder = tmp_path / "run"
    folder.mkdir()
    assert job.writing_failed(OSError(errno.ENOSPC, "No space left on device"), folder)
    assert job.writing_failed(PermissionError(errno.EACCES, "Permission denied", str(folder / ".tmp-last.pt.1")),
                              folder)
    assert not job.writing_failed(FileNotFoundError(errno.ENOENT, "No such file", str(tmp_path / "images" / "7.png")),
                                  folder)
    assert not job.writing_failed(ConnectionResetError(errno.ECONNRESET, "reset"), folder)


def test_a_test_file_whose_predictions_the_disk_cannot_take_fails_the_run_as_a_full_disk_and_resume_ends_it(
        two_runs, tmp_path, monkeypatch):
    """A run that trained, then could not write its --test predictions.csv (a full disk), was told as a refused
    command (exit 2, the error a mistyped flag gets) and left without an end; it is the run folder's failed
    write, with the resume that finishes the reports."""
    _, _, rows = two_runs
    real = files._written_beside

    def full(path, write, mode="wb", *held):
        if path.name == "predictions.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, write, mode, *held)

    monkeypatch.setattr(files, "_written_beside", full)
    events: list[dict] = []
    with pytest.raises(TrainingFailed, match=r"cannot write in .*/t: No space left on device; last.pt is kept\. "
                                             r"Free some space or fix the folder, then `torchtui resume "):
        job.run(make_spec(tmp_path, **IRIS, run__name="t", data__test=str(rows)), events.append)
    assert [e["kind"] for e in events if e["event"] == "error"] == ["save_failed"]
    folder = tmp_path / "runs" / "t"
    assert not (folder / "predictions.csv").exists() and not list(folder.glob(".tmp-*"))
    assert [r.status for r in list_runs(tmp_path / "runs") if r.path.name == "t"] == ["failed"]
    monkeypatch.undo()
    job.resume(folder, events.append)
    assert events[-2]["event"] == "predictions" and events[-2]["rows"] == 2
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done"
    assert (folder / "predictions.csv").read_text().count("\n") == 3


def test_a_console_whose_encoding_lacks_the_datas_characters_still_trains(tmp_path):
    """A column named in Chinese under an ASCII (or latin-1) locale: the first line that named it ended the run
    with a UnicodeEncodeError. It is written escaped; --json lines are ASCII anyway."""
    rows = ["温度,湿度,结果"] + [f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{'是' if i % 3 else '否'}" for i in range(60)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for json_flag in ([], ["--json"]):
        r = subprocess.run([sys.executable, "-m", "tui", "run", "--dataset", "d.csv", "--epochs", "1", "--runs-dir",
                            "r", *json_flag], cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
        assert r.stdout.isascii()
        if not json_flag:  # the console's lines: the name escaped, the run told as ever
            assert "target \\u7ed3\\u679c (classification, 2 classes)" in r.stdout.decode(), r.stdout
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done", events[-1]
    # data is no message: predictions on stdout are UTF-8, the bytes `-o FILE` writes, whatever the console takes
    run = events[-1]["run_dir"]
    piped = subprocess.run([sys.executable, "-m", "tui", "predict", run, "d.csv"], cwd=tmp_path, env=env,
                           capture_output=True, timeout=120)
    written = subprocess.run([sys.executable, "-m", "tui", "predict", run, "d.csv", "-o", "p.csv"], cwd=tmp_path,
                             env=env, capture_output=True, timeout=120)
    assert piped.returncode == 0 and written.returncode == 0, piped.stderr + written.stderr
    assert piped.stdout == (tmp_path / "p.csv").read_bytes()
    assert piped.stdout.decode("utf-8").startswith("结果,p_否,p_是")
