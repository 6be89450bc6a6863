"""The GPU check scripts (tests/device/gpu_check.sh for issue 12, ddp_check.sh for issue 13) rehearsed on the
CPU: the same scripts, with the CPU standing in for the GPU (tests/device/rehearse.py: emulated graph capture,
gloo for NCCL). A GPU machine is lent for minutes, to some sessions only; this keeps the scripts runnable and
their checks passable between such sessions, so those minutes go to measuring, not to fixing a script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rehearse(script: str) -> str:
    env = {**os.environ, "REHEARSE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", f"tests/device/{script}"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "FAIL" not in r.stdout and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.stdout


def test_the_cuda_graph_check_runs_through_on_the_cpu_and_passes():
    out = rehearse("gpu_check.sh")
    passes = [line for line in out.splitlines() if line.startswith("PASS ")]
    # 6 exactness cases, 4 schedules, resume, 4 precisions x 2, 5 fallbacks (--device cpu is the stand-in), memory
    assert len(passes) == 6 + 4 + 1 + 8 + 5 + 1, out
    assert "all passed" in out and out.rstrip().endswith("gpu_check: exit 0")
    tables = [line for line in out.splitlines() if line.lstrip().startswith(("64 ", "512 "))]
    assert len(tables) == 3 and all(len(line.split()) >= 6 for line in tables), out  # small at 64, 512; wide
    assert "captures: " in out and "vs the hand loop (fp32, eager): " in out


def test_the_ddp_check_runs_through_on_the_cpu_and_passes():
    out = rehearse("ddp_check.sh")
    assert [line for line in out.splitlines() if line.startswith("PASS")] == [
        "PASS weights", "PASS torchrun == --nproc-per-node (bit for bit)", "PASS stop"], out
    assert "DDP world size 1" in out and out.rstrip().endswith("ddp_check: exit 0")
