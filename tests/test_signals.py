"""Ctrl+C / SIGTERM / SIGHUP on a headless run: save the exact position, exit 130 / 143, resume exactly."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from tui.core import job
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
