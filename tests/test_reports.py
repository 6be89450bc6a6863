"""What a run reports besides its curves: the evaluation it ends with, step telemetry, the device
choices, a spec on stdin, and steps skipped for a non-finite loss - on real tiny runs, in numbers."""

import dataclasses
import json
import math
import random
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tui.core import devices, job
from tui.core.errors import Interrupted, TrainingFailed
from tui.core.layers import build_sequential
from tui.core.spec import Spec

import warm_cli
from conftest import make_spec, train
from test_exactness import MyDataset


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
                         train__log_interval=1e-6)  # every step logs: at least 2, on any machine
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
def test_available_devices_are_auto_cpu_and_each_gpu_here():
    choices = devices.available()
    values = [value for value, _ in choices]
    assert values[0] == "auto" and ("cpu", "cpu") in choices
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert [v for v in values if v.startswith("cuda")] == [f"cuda:{i}" for i in range(gpus)]
    assert ("mps" in values) == devices._mps_available()
    if not gpus and not devices._mps_available():  # a CPU-only machine (CI): exactly these two
        assert choices == [("auto", "auto (cpu)"), ("cpu", "cpu")]


FAKE_SMI = """#!/bin/sh
echo "0, NVIDIA H100 80GB HBM3, 1024, 81559"
echo "1, NVIDIA H100 80GB HBM3, 40960, 81559"
"""


@pytest.mark.parametrize("visible,expect", [
    (None, ["cuda:0  NVIDIA H100 80GB HBM3  78.6 / 79.6 GiB free",
            "cuda:1  NVIDIA H100 80GB HBM3  39.6 / 79.6 GiB free"]),
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
    ddp = [("all-gpus", f"all {len(expect)} GPUs (DDP)")] if len(expect) > 1 else []  # several: DDP is a choice
    assert [label for _, label in choices[1:-1]] == expect + [label for _, label in ddp]
    assert [value for value, _ in choices] == ["auto", *[f"cuda:{i}" for i in range(len(expect))],
                                               *[value for value, _ in ddp], "cpu"]
    assert choices[0][1] == "auto (" + " ".join(expect[0].split("  ")[:2]) + ")"


# ---- the spec on stdin ----------------------------------------------------------------------
def test_run_reads_the_spec_from_stdin(tmp_path):
    spec = Spec().with_overrides({"data.dataset": "iris", "train.epochs": 2, "train.device": "cpu", "train.lr": 0.02})
    proc = warm_cli.run([sys.executable, "-m", "tui", "run", "-", "--name", "piped", "--runs-dir", str(tmp_path),
                         "--json"], input=spec.to_toml(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["lr"] == 0.02 and events[-1]["status"] == "done" and events[-1]["epochs"] == 2
    used = Spec.from_file(tmp_path / "piped" / "spec.toml")
    # the thread count is resolved to a number when the run starts (spec.toml keeps it for a resume)
    assert used.train.threads >= 1 and spec.train.threads == 0
    assert used.train == dataclasses.replace(spec.train, threads=used.train.threads)
    assert used.model == spec.model and used.run.name == "piped"


@pytest.mark.parametrize("text,message", [
    ("[train\nepochs = 2\n", "error: <stdin> is not valid TOML: "),
    ("[train]\nlr = \"fast\"\n", "error: <stdin>: train.lr must be a number, got 'fast'"),
    ("[trian]\n", "error: <stdin>: unknown key trian; did you mean train?"),
])
def test_stdin_spec_errors_name_stdin(tmp_path, text, message):
    proc = warm_cli.run([sys.executable, "-m", "tui", "run", "-", "--runs-dir", str(tmp_path)], input=text,
                        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert not list(tmp_path.iterdir())


# ---- on_nan = "skip" ------------------------------------------------------------------------
@pytest.fixture
def poisoned(tmp_path):
    """A regression file with one target so large that its batch's MSE overflows float32 to inf."""
    rng = random.Random(0)
    path = tmp_path / "poisoned.csv"
    with open(path, "w") as f:
        f.write("a,b,y\n")
        for i in range(200):
            a, b = rng.random(), rng.random()
            f.write(f"{a},{b},{1e20 if i == 17 else 3 * a - 2 * b + 0.1 * rng.random()}\n")
    return dict(data__dataset=str(path), data__val_split=0.0, data__standardize_target=False, train__epochs=3,
                train__batch_size=16, train__seed=5, model__layers="Linear(16), ReLU()")


def test_skip_leaves_out_the_steps_with_an_infinite_loss_and_counts_them(tmp_path, poisoned):
    spec = make_spec(tmp_path / "skip", **poisoned, train__on_nan="skip")
    events = []
    _, folder = job.run(spec, events.append)
    epochs = by_kind(events, "epoch")
    assert [e["skipped_steps"] for e in epochs] == [1, 1, 1]  # the batch holding row 17, once per epoch
    assert events[-1]["event"] == "end" and events[-1]["skipped_steps"] == 3

    # the textbook loop that skips a step whose loss is not finite gives the same weights and losses
    data = job.plan(spec).data
    layers = torch.load(folder.checkpoint_path("last"), weights_only=True)["layers"]
    torch.manual_seed(5)
    model = build_sequential(layers)
    g = torch.Generator()
    g.manual_seed(5)
    loader = DataLoader(MyDataset(data.x_train, data.y_train), 16, shuffle=True, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        model.train()
        total, rows = torch.zeros(()), 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.MSELoss()(model(xb), yb)
            if not torch.isfinite(loss):
                continue
            loss.backward()
            optimizer.step()
            total.add_(loss.detach(), alpha=len(xb))
            rows += len(xb)
        losses.append(float(total) / rows)
    assert [e["train_loss"] for e in epochs] == losses
    engine = torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]
    assert all(torch.equal(v, engine[k]) for k, v in model.state_dict().items())


def test_stop_is_the_default_and_skip_resumes_mid_epoch_exactly(tmp_path, poisoned):
    with pytest.raises(TrainingFailed, match="training diverged: loss became inf in epoch 1"):
        job.run(make_spec(tmp_path / "stop", **poisoned), lambda e: None)

    straight = job.run(make_spec(tmp_path / "a", **poisoned, train__on_nan="skip"), lambda e: None)[1]
    trainers = []

    def stop_late_in_epoch_two(event):
        if event["event"] == "step" and event["epoch"] == 2 and event["epoch_step"] == 11:
            trainers[0].requests.stop = "test"

    spec = make_spec(tmp_path / "b", **poisoned, train__on_nan="skip", train__log_interval=1e-6)
    with pytest.raises(Interrupted):
        job.run(spec, stop_late_in_epoch_two, on_trainer=trainers.append)
    folder = next((tmp_path / "b" / "runs").iterdir())
    saved = torch.load(folder / "last.pt", weights_only=True)["progress"]
    assert (saved["epoch"], saved["epoch_step"], saved["skipped_steps"]) == (1, 12, saved["epoch_skipped_steps"] + 1)
    events = []
    job.resume(folder, events.append)
    a = torch.load(straight.checkpoint_path("last"), weights_only=True)
    b = torch.load(folder / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    untimed = lambda h: {k: v for k, v in h["epochs"].items() if k not in ("seconds", "samples_per_s")}  # noqa: E731
    assert untimed(a["progress"]["history"]) == untimed(b["progress"]["history"])
    assert b["progress"]["skipped_steps"] == 3 and events[-1]["skipped_steps"] == 3
