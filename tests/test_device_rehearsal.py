"""The GPU check scripts (tests/device/gpu_check.sh for issue 12, ddp_check.sh for issue 13, both run by
all_checks.sh) rehearsed on the CPU: the same scripts, with the CPU standing in for the GPU
(tests/device/rehearse.py: emulated graph capture, gloo for NCCL). A GPU machine is lent for minutes, to some
sessions only; this keeps the scripts runnable and their checks passable between such sessions, so those
minutes go to measuring, not to fixing a script. CI leaves out graph_check's resume and fallbacks sections
(processes started one after another, 17 s; their logic is the engine's, tested in test_cuda_graph.py): the
whole rehearsal is `REHEARSE=1 bash tests/device/all_checks.sh`, about a minute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_checks_run_through_on_the_cpu_and_pass(tmp_path):
    env = {**os.environ, "REHEARSE": "1", "OUT": str(tmp_path), "SECTIONS": "exactness precision memory",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "tests/device/all_checks.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=400)
    graphs, ddp = (tmp_path / "gpu_check.log").read_text(), (tmp_path / "ddp_check.log").read_text()
    assert r.returncode == 0 and r.stdout.rstrip().endswith(f"all_checks: exit 0 (logs in {tmp_path})"), (
        r.stdout[-3000:] + r.stderr[-3000:])
    for log in (graphs, ddp):
        assert "FAIL" not in log and "Traceback" not in log, log

    passes = [line for line in graphs.splitlines() if line.startswith("PASS ")]
    assert len(passes) == 6 + 4 + 4 * 2 + 1, graphs  # 6 exactness cases, 4 schedules, 4 precisions x 2, memory
    assert "all passed" in graphs and graphs.rstrip().endswith("gpu_check: exit 0")
    tables = [line for line in graphs.splitlines() if line.lstrip().startswith(("64 ", "512 "))]
    assert len(tables) == 3 and all(len(line.split()) >= 6 for line in tables), graphs  # small at 64, 512; wide
    assert "captures: " in graphs and "vs the hand loop (fp32, eager): " in graphs

    assert [line for line in ddp.splitlines() if line.startswith("PASS")] == [
        "PASS weights", "PASS torchrun == --nproc-per-node (bit for bit)", "PASS stop"], ddp
    assert "DDP world size 1" in ddp and ddp.rstrip().endswith("ddp_check: exit 0")
