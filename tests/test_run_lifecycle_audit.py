"""Findings of an audit of a run folder's life after training, each failing before its fix.

A run killed with kill -9 whose process number another program took later showed as training for good and could
not be resumed. A run that stopped early, resumed, trained one epoch and stopped again, every time. A byte that
is no UTF-8 in events.jsonl ended `export` with a traceback. And four refusals that sent a user the wrong way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tui.core import job
from tui.core.errors import TrainingFailed, UserError
from tui.core.follow import read_run, summarize
from tui.core.runs import EVENTS, lock_held, writer_alive

from conftest import train
from test_cli import invoke, one_error_line

WINE = Path(__file__).resolve().parents[1] / "datasets" / "wine.csv"


def test_a_killed_runs_process_number_taken_by_another_program_is_no_run_in_progress(tmp_path):
    args = [sys.executable, "-m", "tui", "run", "--dataset", "iris", "--epochs", "3000", "--patience", "0",
            "--batch-size", "8", "--runs-dir", str(tmp_path), "--name", "k", "--json"]
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert run.stdout is not None
    for line in run.stdout:
        if json.loads(line)["event"] == "checkpoint":  # the first epoch saved
            break
    folder = tmp_path / "k"
    state, _ = read_run(folder)
    assert state.running and state.pid == run.pid and lock_held(folder / EVENTS, run.pid) is True  # its writer
    run.kill()
    run.wait()
    # the program that got the killed run's number, an hour on: a Python one (torchtui's writers are), else it is
    # no writer whatever its age (test_cli_audit.py)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lines = []
        for line in (folder / EVENTS).read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "start":
                assert event["pid"] == run.pid
                event["pid"], event["time"] = other.pid, event["time"] - 3600
            lines.append(json.dumps(event) + "\n")
        (folder / EVENTS).write_text("".join(lines))
        assert read_run(folder)[0].pid == other.pid
        assert lock_held(folder / EVENTS, other.pid) is False
        # the writer's lock may not show (a network file system): a process started before its start event is
        # taken for the writer, one started after it is another program
        assert writer_alive(folder / EVENTS, other.pid, time.time() + 1)
        assert not writer_alive(folder / EVENTS, other.pid, time.time() - 60)
        assert summarize(folder).status == "interrupted"  # it said "running", with the other program's number
        done = torch.load(folder / "last.pt", weights_only=True)["progress"]["epoch"]
        outcome, _ = job.resume(folder, lambda e: None, epochs=done + 1)  # it said "still training (process N)"
        assert outcome.progress.epoch == done + 1
    finally:
        other.kill()
        other.wait()


def test_a_run_that_stopped_early_says_it_has_ended_and_trains_on_with_its_patience_afresh(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=60, train__patience=2, run__name="e")
    end = next(e for e in events if e["event"] == "end")
    assert end["status"] == "early_stopped"
    done = end["epochs"]
    assert done < 60
    with pytest.raises(UserError) as refused:
        job.resume(folder.path, lambda e: None)
    assert str(refused.value) == (
        f"{folder.path} stopped early after epoch {done} (no better validation loss in 2 epochs): it has ended; "
        f"`torchtui resume {folder.path} --epochs N` trains on to epoch N, with 2 more epochs to improve")
    assert torch.load(folder.path / "last.pt", weights_only=True)["progress"]["epoch"] == done  # nothing trained

    more: list[dict] = []
    job.resume(folder.path, more.append, epochs=done + 10)
    trained = [e["epoch"] for e in more if e["event"] == "epoch"]
    assert len(trained) >= 2, trained  # 2 epochs without a better loss at least: it stopped after 1 before


def test_export_reads_an_event_log_holding_bytes_that_are_no_utf8(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=1, run__name="g")
    with open(folder.path / EVENTS, "ab") as f:
        f.write(b'{"event": "note", "text": "\xb8\xff"}\n')
    said = invoke("export", folder.path, "-o", tmp_path / "train.py")
    assert said.exit_code == 0, said.stderr
    assert (tmp_path / "train.py").read_text().startswith('"""Train iris in plain PyTorch')
    assert summarize(folder.path).status == "done"


def test_resume_of_a_path_that_does_not_exist_says_so(tmp_path):
    said = invoke("resume", tmp_path / "nope")
    assert said.exit_code == 2
    assert one_error_line(said.stderr) == f"error: {tmp_path / 'nope'} does not exist; `torchtui runs` lists the run " \
                                          "folders"


def test_resume_given_a_training_flag_points_to_change_and_to_a_new_run(tmp_path):
    said = invoke("resume", tmp_path, "--lr", "0.1")
    assert said.exit_code == 2
    line = one_error_line(said.stderr)
    assert line.startswith("error: resume continues a run as it was, and takes no --lr")
    assert "`torchtui change RUN --lr ...`" in line and "`torchtui run RUN/spec.toml --lr ...`" in line
    line = one_error_line(invoke("resume", tmp_path, "--batch-size", "8").stderr)  # a flag change does not take
    assert "takes no --batch-size" in line and "change" not in line and "run RUN/spec.toml --batch-size" in line
    said = invoke("resume", tmp_path, "--bogus", "1")  # a flag nothing takes: click's words, as before
    assert one_error_line(said.stderr) == "error: no such option: --bogus; `torchtui resume --help` lists what it takes"


def test_predict_on_a_run_that_failed_before_its_first_save_says_so(tmp_path):
    with pytest.raises(TrainingFailed):
        train(tmp_path, data__dataset="diabetes", train__optimizer="SGD", train__lr=1e6, train__epochs=2,
              run__name="div")
    folder = tmp_path / "runs" / "div"
    assert not (folder / "last.pt").exists() and summarize(folder).status == "failed"
    said = invoke("predict", folder, WINE)
    assert said.exit_code == 2
    line = one_error_line(said.stderr)
    assert line.startswith(f"error: {folder} has no model yet: it failed before its first save (training "
                           "diverged"), line


def test_resume_of_data_whose_columns_were_reordered_names_the_order(tmp_path):
    _, folder, _ = train(tmp_path, data__dataset=str(WINE), train__epochs=1, run__name="w")
    lines = WINE.read_text().splitlines()
    swapped = [",".join([c[1], c[0], *c[2:]]) for c in (line.split(",") for line in lines)]
    moved = tmp_path / "wine-swapped.csv"
    moved.write_text("\n".join(swapped) + "\n")
    with pytest.raises(UserError) as refused:
        job.resume(folder.path, lambda e: None, epochs=2, moved={"data.dataset": str(moved)})
    first, second = lines[0].split(",")[:2]
    assert str(refused.value).startswith(f"the data of {folder.path} ({moved}) has its columns in another order "
                                         f"than when the run trained ({first}, {second}, ")
    assert str(refused.value).endswith("); put them back in that order to resume")
    assert f"now {second}, {first}, " in str(refused.value)
    assert torch.load(folder.path / "last.pt", weights_only=True)["progress"]["epoch"] == 1


@pytest.mark.parametrize("log", ["garbage", "missing"])
def test_a_run_whose_event_log_was_lost_is_listed_by_what_its_checkpoint_holds(tmp_path, log):
    """Listed "not started ? 0/0", a run of 3 trained epochs looked empty enough to delete."""
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=3, train__patience=0, run__name="lost")
    best = min(e["val_loss"] for e in events if e["event"] == "epoch")
    if log == "garbage":
        (folder.path / EVENTS).write_bytes(b"\x00\xb8 not json\n" * 3)
    else:
        (folder.path / EVENTS).unlink()
    info = summarize(folder.path)
    assert (info.status, info.dataset, info.epochs_done, info.epochs) == ("interrupted", "iris", 3, 3)
    assert info.best_val_loss == best  # the checkpoint's best, where the list showed "-"
    said = invoke("runs", "--runs-dir", tmp_path / "runs")
    assert said.exit_code == 0 and f"lost  interrupted  iris     3/3     {best:.4f}" in said.stdout, said.stdout


def test_signals_never_go_to_a_program_that_took_a_killed_launchers_number(tmp_path):
    """The screen's stop, save and pause go to a distributed run's launcher while it lives: a killed launcher's
    number, taken by another program since, got them."""
    from tui.core.follow import RunState

    other = subprocess.Popen(["sleep", "60"])
    try:
        for written, control in ((time.time() + 1, other.pid), (time.time() - 3600, os.getpid())):
            state = RunState(tmp_path)
            state.apply({"event": "start", "time": written, "pid": os.getpid(), "launcher_pid": other.pid})
            assert state.control_pid == control
    finally:
        other.kill()
        other.wait()


def test_a_last_pt_of_another_run_is_named_so_and_the_runs_own_best_pt_goes_on(tmp_path):
    """A last.pt copied over from another run was refused as 'spec.toml was edited ... undo the edit' (nobody had
    edited it), and the run's own best.pt was left unused (an audit). Resumed from best.pt, with a note, it ends
    as the run never stopped would."""
    common = {"data__dataset": "wine", "train__epochs": 3, "train__patience": 0, "train__seed": 5}
    _, mine, _ = train(tmp_path, run__name="dk", **common)
    _, other, _ = train(tmp_path, run__name="dref", **common)
    (mine.path / "copied.pt").write_bytes((other.path / "best.pt").read_bytes())
    os.replace(mine.path / "copied.pt", mine.path / "last.pt")  # (a new file: best.pt may be last.pt's hard link)
    best_epoch = torch.load(mine.path / "best.pt", weights_only=True)["progress"]["epoch"]
    notices: list[str] = []
    resumed, _ = job.resume(mine.path, lambda e: notices.extend(e.get("notices", [])), epochs=5)
    assert resumed.progress.epoch == 5
    said = [n for n in notices if "last.pt is not this run's" in n]
    assert said and "run.name" in said[0] and f"resumed from best.pt (epoch {best_epoch})" in said[0], notices
    _, straight, _ = train(tmp_path, run__name="straight", **{**common, "train__epochs": 5})
    a = torch.load(mine.path / "last.pt", weights_only=True)["model"]
    b = torch.load(straight.path / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
