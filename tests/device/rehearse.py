"""The GPU check scripts rehearsed on a CPU: the same Python, with the CPU standing in for the GPU.

Why: a machine with a GPU is lent for minutes, by chance, to some sessions only; a script that has never run
would spend them on a typo. `REHEARSE=1 bash tests/device/gpu_check.sh` (tests/test_device_rehearsal.py runs a
short one in CI) runs every section through this launcher:

    python tests/device/rehearse.py SCRIPT.py [ARGS]     # or: rehearse.py -m tui run ...

It sets TORCHTUI_REHEARSAL=1 (the scripts then use the CPU where they say cuda, smaller sizes, and this launcher
for their own subprocesses) and puts on the CPU what the scripts ask of CUDA: graph capture and replay
(tests/cuda_graph_emulator.py: a replay runs recorded kernels, not Python), a CPU run graphed as a CUDA one would
be, and the memory counters (the emulated graph pools, under the cap `torch.cuda.set_per_process_memory_fraction`
sets). Numbers it prints are not a GPU's: it checks that the scripts run and that their checks can pass.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = str(Path(__file__).resolve())


def install() -> None:
    import pytest
    import torch

    from tui.core import cuda_graph

    sys.path[:0] = [str(ROOT / "tests")]
    from cuda_graph_emulator import install as emulate

    patch = pytest.MonkeyPatch()  # never undone: this process is a rehearsal to its end
    emulator = emulate(patch)
    decide = cuda_graph.decide

    def decide_cpu_as_cuda(mode, device_type, **kwargs):
        return decide(mode, "cuda" if device_type == "cpu" else device_type, **kwargs)

    cuda = torch.cuda
    patch.setattr(cuda_graph, "decide", decide_cpu_as_cuda)
    patch.setattr(cuda, "reset_peak_memory_stats", emulator.reset_peak)
    patch.setattr(cuda, "max_memory_allocated", emulator.peak_reserved)
    patch.setattr(cuda, "max_memory_reserved", emulator.peak_reserved)
    patch.setattr(cuda, "get_device_properties", lambda *a: SimpleNamespace(name="CPU", total_memory=emulator.total))
    patch.setattr(cuda, "get_device_name", lambda *a: "the CPU, rehearsing")


if __name__ == "__main__":
    os.environ["TORCHTUI_REHEARSAL"] = "1"
    sys.path[:0] = [str(ROOT)]
    install()
    if sys.argv[1] == "-m":
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
