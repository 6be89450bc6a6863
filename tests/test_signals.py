"""Signals on a headless run. Ctrl+C / SIGTERM / SIGHUP: save the exact position, exit 130 / 143, resume exactly;
SIGUSR1: save now; SIGUSR2: pause / resume. None of them changes the final weights."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from tui.core import job
from tui.core.runs import RunFolder
from tui.core.spec import Spec

from conftest import make_spec

ARGS = ["--dataset", "digits", "--epochs", "3", "--batch-size", "8", "--device", "cpu", "--seed", "3",
        "--layers", "Linear(32), ReLU(), Dropout(0.2)", "--scheduler", "onecycle", "--json"]


def start(tmp_path, name, ignore_hup=False):
    def child():
        if ignore_hup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    config = tmp_path / "often.toml"  # a step event every millisecond, so the test can aim inside an epoch
    config.write_text(Spec().with_overrides({"train.log_interval": 0.001}).to_toml())
    return subprocess.Popen([sys.executable, "-m", "tui", "run", str(config), *ARGS, "--runs-dir", str(tmp_path),
                             "--name", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=child)


def wait_for_step_in_epoch(proc, epoch):
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step" and event["epoch"] == epoch:
            return event
    raise AssertionError(f"the run ended before epoch {epoch}: {proc.stderr.read()}")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The same run, uninterrupted, in-process."""
    spec = make_spec(tmp_path_factory.mktemp("straight"), data__dataset="digits", train__epochs=3,
                     train__batch_size=8, train__seed=3, model__layers="Linear(32), ReLU(), Dropout(0.2)",
                     train__scheduler="onecycle", train__log_interval=0.01)
    _, folder = job.run(spec, lambda e: None)
    return torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 143)])
def test_a_signal_saves_mid_epoch_and_resume_is_exact(tmp_path, straight, sig, code):
    proc = start(tmp_path, "r")
    wait_for_step_in_epoch(proc, 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    end = [json.loads(line) for line in out.splitlines()][-1]
    assert end["event"] == "end" and end["status"] == "interrupted" and end["reason"] == signal.Signals(sig).name
    assert end["epochs"] == 1 and 0 < end["epoch_step"] < 180  # inside epoch 2
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["progress"]
    assert (saved["epoch"], saved["epoch_step"]) == (1, end["epoch_step"])

    resumed = subprocess.run([sys.executable, "-m", "tui", "resume", str(tmp_path / "r")], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(straight[k], final[k]) for k in straight)


def test_sighup_stays_ignored_under_nohup(tmp_path, straight):
    proc = start(tmp_path, "n", ignore_hup=True)
    wait_for_step_in_epoch(proc, 2)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["status"] == "done"
    final = torch.load(tmp_path / "n" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(straight[k], final[k]) for k in straight)


def test_a_second_signal_exits_at_once(tmp_path):
    proc = start(tmp_path, "twice")
    wait_for_step_in_epoch(proc, 1)
    os.kill(proc.pid, signal.SIGSTOP)  # hold it, so both signals arrive before it runs on
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    os.kill(proc.pid, signal.SIGCONT)
    proc.communicate(timeout=60)
    assert proc.returncode in (130, 143)


def next_event(proc, kind):
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == kind:
            return event
    raise AssertionError(f"the run ended before a {kind} event: {proc.stderr.read()}")


def test_save_now_and_pause_by_signal_leave_the_weights_exact(tmp_path, straight):
    """SIGUSR1 saves the exact mid-epoch position, SIGUSR2 pauses and resumes; neither moves the weights."""
    proc = start(tmp_path, "ctl")
    wait_for_step_in_epoch(proc, 2)
    proc.send_signal(signal.SIGUSR1)
    saved = next_event(proc, "checkpoint")
    assert saved["which"] == "last" and saved["requested"] is True
    assert saved["epoch"] == 1 and 180 < saved["step"] < 360  # inside epoch 2: not an epoch-end save

    proc.send_signal(signal.SIGUSR2)
    paused = next_event(proc, "paused")
    assert set(paused) == {"event", "epoch", "step", "time"} and paused["step"] >= saved["step"]
    position = (paused["epoch"], paused["step"])
    proc.send_signal(signal.SIGUSR1)  # a save while paused is served at once, at the paused position
    while_paused = next_event(proc, "checkpoint")
    assert while_paused["requested"] is True and while_paused["step"] == paused["step"]
    ckpt = torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["progress"]
    assert ckpt["step"] == paused["step"] and ckpt["epoch_step"] == paused["step"] - 180 * ckpt["epoch"] > 0
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "ctl", copy)  # the run as the paused save left it
    time.sleep(0.4)
    assert torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["progress"]["step"] == paused["step"]
    proc.send_signal(signal.SIGUSR2)
    resumed = next_event(proc, "resumed")
    assert (resumed["epoch"], resumed["step"]) == position and resumed["paused_seconds"] >= 0.4

    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    events = RunFolder(tmp_path / "ctl").events()
    assert events[-1]["status"] == "done"
    kinds = [e["event"] for e in events]
    assert kinds.count("paused") == kinds.count("resumed") == 1
    epochs = {e["epoch"]: e for e in events if e["event"] == "epoch"}
    epoch_times = [e["time"] for e in events if e["event"] == "epoch"]
    before = epoch_times[position[0] - 2] if position[0] > 1 else paused["time"] - 60
    # the paused epoch's time leaves the pause out
    assert epochs[position[0]]["seconds"] < epochs[position[0]]["time"] - before - resumed["paused_seconds"] + 0.01
    final = torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(straight[k], final[k]) for k in straight)

    for e in events:  # what a shared box's user watches rides on every step event
        if e["event"] == "step":
            assert e["cpu_percent"] >= 0 and e["rss_mb"] > 50 and "gpu_mem_mb" not in e

    resumed_copy = subprocess.run([sys.executable, "-m", "tui", "resume", str(copy)], capture_output=True, text=True)
    assert resumed_copy.returncode == 0, resumed_copy.stderr
    final = torch.load(copy / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(straight[k], final[k]) for k in straight)


def test_a_stop_while_paused_saves_and_exits(tmp_path, straight):
    proc = start(tmp_path, "ps")
    wait_for_step_in_epoch(proc, 1)
    proc.send_signal(signal.SIGUSR2)
    paused = next_event(proc, "paused")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    end = json.loads(out.splitlines()[-1])
    assert end["status"] == "interrupted" and end["step"] == paused["step"]
    assert "resumed" not in out
    assert torch.load(tmp_path / "ps" / "last.pt", weights_only=True)["progress"]["step"] == paused["step"]


def test_a_save_asked_on_an_epochs_last_step_is_the_epoch_end_save(tmp_path):
    trainers = []
    per_epoch = 10  # iris: 120 training rows in batches of 12

    def ask(event):
        if event["event"] == "step" and event["epoch"] == 2 and event["epoch_step"] == per_epoch - 1:
            trainers[0].save_requested = True  # seen at the boundary after the last step

    spec = make_spec(tmp_path, data__dataset="iris", train__epochs=3, train__batch_size=12, train__log_interval=1e-6)
    events = []
    job.run(spec, lambda e: (events.append(e), ask(e)), on_trainer=trainers.append)
    saves = [e for e in events if e["event"] == "checkpoint"]
    requested = [e for e in saves if e.get("requested")]
    assert len(requested) == 1 and requested[0]["which"] == "last"
    assert (requested[0]["epoch"], requested[0]["step"]) == (2, 2 * per_epoch)  # the epoch-end save, nothing extra
    assert len([e for e in saves if e["which"] == "last"]) == 3
    assert not trainers[0].save_requested and not trainers[0].attention
