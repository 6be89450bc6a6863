"""The CPU thread count is part of a run: `auto` is resolved to a number when the run starts and stored in
its spec.toml, so a resume (and a headless rerun of that spec) computes with the same count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from tui.core import checkpoint, devices, job
from tui.core.runs import RunFolder

from conftest import make_spec, train


def test_auto_is_resolved_and_stored_and_a_set_count_is_used(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1, run__name="auto")
    stored = RunFolder.open(folder.path).saved_run()[0].train.threads
    assert stored == devices.DEFAULT_THREADS >= 1
    assert events[0]["device"] == f"cpu ({devices.threads_text(stored)})"  # what the Training pane shows

    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1, train__threads=3, run__name="three")
    assert RunFolder.open(folder.path).saved_run()[0].train.threads == 3
    assert events[0]["device"] == "cpu (3 threads)" and torch.get_num_threads() == 3
    devices.use_threads(0)
    assert torch.get_num_threads() == devices.DEFAULT_THREADS  # auto goes back to torch's default, not the last set


def test_resume_uses_the_stored_count_and_equals_the_straight_run(tmp_path):
    """Interrupted after 2 epochs of 4 with 2 threads, resumed from a process whose default is 1 thread:
    the resume computes with the stored 2 and ends with the straight run's weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--dataset", "digits", "--layers", "Linear(64), ReLU()", "--batch-size", "32", "--device", "cpu",
              "--threads", "2", "--patience", "0", "--runs-dir", str(tmp_path / "runs")]

    def tui(*args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        return r

    tui("run", *common, "--epochs", "2", "--name", "part")
    resumed = tui("resume", str(tmp_path / "runs" / "part"), "--epochs", "4", "--json")
    start = next(json.loads(line) for line in resumed.stdout.splitlines() if '"start"' in line)
    assert start["device"] == "cpu (2 threads)"
    tui("run", *common, "--epochs", "4", "--name", "straight")
    a = checkpoint.load(tmp_path / "runs" / "part" / "last.pt")["model"]
    b = checkpoint.load(tmp_path / "runs" / "straight" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_bad_count_is_refused_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tui", "run", "--dataset", "iris", "--threads", "-1", "--runs-dir",
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--threads must be an integer from 0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_the_plan_resolves_before_the_folder_is_written(tmp_path):
    p = job.plan(make_spec(tmp_path, data__dataset="iris", train__threads=0))
    assert p.spec.train.threads == devices.DEFAULT_THREADS
