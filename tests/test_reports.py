"""What a run reports besides its curves: the evaluation it ends with, step telemetry, the device
choices, a spec on stdin, and steps skipped for a non-finite loss - on real tiny runs, in numbers."""

import math

import pytest
import torch

from tui.core import devices

from conftest import train


def by_kind(events, kind):
    return [e for e in events if e["event"] == kind]


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
