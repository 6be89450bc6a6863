"""What a run reports besides its curves: the evaluation it ends with, step telemetry, the device
choices, a spec on stdin, and steps skipped for a non-finite loss - on real tiny runs, in numbers."""

import json
import math
import random
import subprocess
import sys

import pytest
import torch

from tui.core import devices, job
from tui.core.spec import Spec

from conftest import make_spec, train


def by_kind(events, kind):
    return [e for e in events if e["event"] == kind]


# ---- evaluation events ----------------------------------------------------------------------
def test_classification_run_ends_with_best_and_last_evaluations(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="wine", train__epochs=12, train__lr=0.05,
                              model__layers="Linear(16), ReLU(), Dropout(0.5)")
    epochs = {e["epoch"]: e for e in by_kind(events, "epoch")}
    best_epoch = max(e["epoch"] for e in epochs.values() if e["best"])
    kinds = [e["event"] for e in events]
    assert kinds[-3:] == ["evaluation", "evaluation", "end"]
    best, last = by_kind(events, "evaluation")
    assert (best["model"], best["epoch"], last["model"], last["epoch"]) == ("best", best_epoch, "last", 12)
    assert best_epoch != 12, "this run should end past its best epoch"
    for report, epoch in ((best, epochs[best_epoch]), (last, epochs[12])):
        assert report["split"] == "validation" and report["rows"] == 36
        assert report["val_loss"] == epoch["val_loss"] and report["accuracy"] == epoch["accuracy"]
        assert report["classes"] == ["class_0", "class_1", "class_2"]
        cm = torch.tensor(report["confusion"])
        assert cm.shape == (3, 3) and int(cm.sum()) == 36
        assert report["accuracy"] == int(cm.trace()) / 36
        assert report["support"] == cm.sum(1).tolist()
        for c in range(3):
            assert report["recall"][c] == pytest.approx(int(cm[c, c]) / max(int(cm[c].sum()), 1))
            assert report["precision"][c] == pytest.approx(int(cm[c, c]) / max(int(cm[:, c].sum()), 1))
    ckpt = torch.load(folder.checkpoint_path("best"), weights_only=True)
    assert ckpt["progress"]["epoch"] == best_epoch
    assert [e["event"] for e in folder.events()][-3:] == ["evaluation", "evaluation", "end"]


def test_regression_evaluation_has_predicted_vs_actual_pairs_in_target_units(tmp_path):
    _, _, events = train(tmp_path, data__dataset="diabetes", train__epochs=6)
    epochs = {e["epoch"]: e for e in by_kind(events, "epoch")}
    for report in by_kind(events, "evaluation"):
        epoch = epochs[report["epoch"]]
        assert report["val_loss"] == epoch["val_loss"]
        assert (report["rmse"], report["mae"], report["r2"]) == (epoch["rmse"], epoch["mae"], epoch["r2"])
        assert report["target"] == "progression" and len(report["pairs"]) == report["rows"] == 88
        actual, predicted = torch.tensor(report["pairs"], dtype=torch.float64).T
        assert float((actual - predicted).pow(2).mean().sqrt()) == pytest.approx(report["rmse"], rel=1e-6)
        assert 25 <= float(actual.min()) and float(actual.max()) <= 346  # progression's own range, not standardised


def test_regression_pairs_are_evenly_strided_past_2000_rows(tmp_path):
    rng = random.Random(1)
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write("x,y\n")
        for _ in range(5000):
            x = rng.uniform(-1, 1)
            f.write(f"{x},{10 * x + rng.gauss(0, 0.1)}\n")
    spec = make_spec(tmp_path, data__dataset=str(path), data__val_split=0.5, train__epochs=1)
    events = []
    job.run(spec, events.append)
    val = job.plan(spec).data
    best, last = by_kind(events, "evaluation")
    assert last["rows"] == 2500 and len(last["pairs"]) == 1250
    targets = val.pre.to_target_units(val.y_val.double().reshape(-1, 1).numpy())[:, 0]
    assert [a for a, _ in last["pairs"]] == [float(v) for v in targets[::2]]
    assert best["pairs"] == last["pairs"]  # one epoch: the best model is the last


def test_no_evaluation_without_validation_rows(tmp_path):
    _, _, events = train(tmp_path, data__dataset="iris", data__val_split=0.0, train__epochs=2)
    assert not by_kind(events, "evaluation") and events[-1]["event"] == "end"


# ---- telemetry ------------------------------------------------------------------------------
def test_step_events_carry_cpu_and_memory(tmp_path):
    _, _, events = train(tmp_path, data__dataset="digits", train__epochs=1, train__batch_size=8,
                         train__log_interval=0.02)
    steps = by_kind(events, "step")
    assert len(steps) >= 2
    for e in steps:
        assert e["cpu_percent"] >= 0 and math.isfinite(e["cpu_percent"]) and 50 < e["rss_mb"] < 64_000
        assert not any(k.startswith("gpu_") for k in e)  # CPU run
    assert max(e["cpu_percent"] for e in steps[1:]) > 20  # training keeps a core busy


def test_gpu_telemetry_reads_counters_and_gives_up_on_nvml_once(monkeypatch):
    calls = {"utilization": 0}

    def utilization(device):
        calls["utilization"] += 1
        raise RuntimeError("pynvml does not seem to be installed")

    class Props:
        total_memory = 80 * 2**30

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: Props())
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: 3 * 2**20)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: 8 * 2**20)
    monkeypatch.setattr(torch.cuda, "utilization", utilization)
    t = devices.Telemetry(devices.Device(torch.device("cuda", 0), "fake"))
    samples = [t.sample() for _ in range(3)]
    for s in samples:
        assert (s["gpu_mem_mb"], s["gpu_reserved_mb"], s["gpu_total_mb"]) == (3.0, 8.0, 80 * 1024.0)
        assert "gpu_util" not in s
    assert calls["utilization"] == 1

    monkeypatch.setattr(torch.cuda, "utilization", lambda d: 57)
    assert devices.Telemetry(devices.Device(torch.device("cuda", 0), "fake")).sample()["gpu_util"] == 57


# ---- device choices -------------------------------------------------------------------------
def test_available_devices_here_are_auto_and_cpu():
    if torch.cuda.is_available() or devices._mps_available():
        pytest.skip("a GPU is here")
    assert devices.available() == [("auto", "auto (cpu)"), ("cpu", f"cpu ({torch.get_num_threads()} threads)")]


FAKE_SMI = """#!/bin/sh
echo "0, NVIDIA H100 80GB HBM3, 1024, 81559"
echo "1, NVIDIA H100 80GB HBM3, 40960, 81559"
"""


@pytest.mark.parametrize("visible,expect", [
    (None, ["cuda:0  NVIDIA H100 80GB HBM3  78.6 / 79.6 GiB free", "cuda:1  NVIDIA H100 80GB HBM3  39.6 / 79.6 GiB free"]),
    ("1", ["cuda:0  NVIDIA H100 80GB HBM3  39.6 / 79.6 GiB free"]),  # CUDA's cuda:0 is nvidia-smi's GPU 1
    ("GPU-5f3a", ["cuda:0  H100 (from torch)"]),  # a UUID cannot be matched: names from torch, no memory
])
def test_available_gpus_come_from_nvidia_smi(tmp_path, monkeypatch, visible, expect):
    smi = tmp_path / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(expect))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "H100 (from torch)")
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    choices = devices.available()
    assert [label for _, label in choices[1:-1]] == expect
    assert [value for value, _ in choices] == ["auto", *[f"cuda:{i}" for i in range(len(expect))], "cpu"]
    assert choices[0][1] == "auto (" + " ".join(expect[0].split("  ")[:2]) + ")"


# ---- the spec on stdin ----------------------------------------------------------------------
def test_run_reads_the_spec_from_stdin(tmp_path):
    spec = Spec().with_overrides({"data.dataset": "iris", "train.epochs": 2, "train.device": "cpu", "train.lr": 0.02})
    proc = subprocess.run([sys.executable, "-m", "tui", "run", "-", "--name", "piped", "--runs-dir", str(tmp_path),
                           "--json"], input=spec.to_toml(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["lr"] == 0.02 and events[-1]["status"] == "done" and events[-1]["epochs"] == 2
    used = Spec.from_file(tmp_path / "piped" / "spec.toml")
    assert used.train == spec.train and used.model == spec.model and used.run.name == "piped"


@pytest.mark.parametrize("text,message", [
    ("[train\nepochs = 2\n", "error: <stdin> is not valid TOML: "),
    ("[train]\nlr = \"fast\"\n", "error: <stdin>: train.lr must be a number, got 'fast'"),
    ("[trian]\n", "error: <stdin>: unknown key trian; did you mean train?"),
])
def test_stdin_spec_errors_name_stdin(tmp_path, text, message):
    proc = subprocess.run([sys.executable, "-m", "tui", "run", "-", "--runs-dir", str(tmp_path)], input=text,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert not list(tmp_path.iterdir())
