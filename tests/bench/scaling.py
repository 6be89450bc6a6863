"""Scaling out: samples/s of one process, of DDP at world size 1 and 2 (gloo, CPU, one thread each),
and a projection to 8 GPUs and 2 x 8 from a step time and the all-reduce volume.

Run by hand (never timed inside the test suite):

    python tests/bench/scaling.py [--repeats 3] [--epochs 3]
    python tests/bench/scaling.py --project-only --step-ms 2.1 --params 2200000   # e.g. a GPU's step time

Each variant is a real `torchtui run` in a fresh process, the variants taking turns; samples/s is
read from the run's epoch events (the first epoch left out: warm-up), best of `--repeats`.
- plain: one process, the engine as always;
- ddp 1: the same as one process under the launcher (torchrun --nproc-per-node 1): what DDP itself
  costs (target <= 5%);
- ddp 2: two processes, each with the same per-process batch: twice the rows per step.

The projection: a ring all-reduce takes 2 (N - 1) hops and moves 2 (N - 1) / N x the gradient bytes
through each GPU's link per step; overlapped with backward at best, it bounds a step at
max(compute, communication). Bandwidths and hop latencies are round published figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

LAYERS = "Linear(256), ReLU(), Linear(256), ReLU()"
LINKS = {  # (bytes/s one direction per GPU, seconds of latency per ring hop): round published figures
    "NVLink (H100/H200, 450 GB/s)": (450e9, 5e-6),
    "400 Gb/s network": (400e9 / 8, 15e-6),
    "100 Gb/s network": (100e9 / 8, 15e-6),
}


def run(tmp: str, name: str, processes: int, batch: int, epochs: int) -> float:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    args = [*(launcher if processes else [sys.executable]), "-m", "tui", "run", "--dataset", "digits", "--layers",
            LAYERS, "--batch-size", str(batch), "--epochs", str(epochs), "--patience", "0", "--threads", "1",
            "--device", "cpu", "--runs-dir", tmp, "--name", name, "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    epochs_seen = [json.loads(line) for line in out.splitlines() if '"event":"epoch"' in line]
    rows = sum(e["samples_per_s"] * e["seconds"] for e in epochs_seen[1:])
    return rows / sum(e["seconds"] for e in epochs_seen[1:])


def project(step_ms: float, params: int, grad_bytes: int) -> None:
    size = params * grad_bytes
    print(f"projection: step {step_ms:.2f} ms of compute, {params:,} parameters, gradients of {grad_bytes} bytes "
          f"({size / 2**20:.1f} MiB all-reduced per step)")
    print(f"{'link':<30} {'GPUs':>5} {'comm ms':>8} {'step ms':>8} {'speed-up':>9} {'efficiency':>10}")
    for link, (bandwidth, latency) in LINKS.items():
        for n in (8, 16):
            if n == 16 and link.startswith("NVLink"):
                continue  # 2 x 8: the slowest link is the network between the machines
            comm = (2 * (n - 1) * latency + 2 * (n - 1) / n * size / bandwidth) * 1e3
            step = max(step_ms, comm)
            print(f"{link:<30} {n:>5} {comm:>8.3f} {step:>8.3f} {n * step_ms / step:>8.1f}x {step_ms / step:>9.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--project-only", action="store_true")
    ap.add_argument("--step-ms", type=float, default=0.0, help="compute time of one step for the projection")
    ap.add_argument("--params", type=int, default=0, help="parameters of the model for the projection")
    ap.add_argument("--grad-bytes", type=int, default=4, help="bytes per gradient value all-reduced (fp32: 4)")
    args = ap.parse_args()
    if not args.project_only:
        variants = {"plain": 0, "ddp 1": 1, "ddp 2": 2}
        rates: dict[str, list[float]] = {v: [] for v in variants}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                for name, processes in variants.items():
                    rates[name].append(run(tmp, f"{name.replace(' ', '')}-{r}", processes, args.batch, args.epochs))
        best = {k: max(v) for k, v in rates.items()}
        print(f"digits, MLP 64-256-256-10, batch {args.batch} per process, 1 thread each, CPU/gloo, "
              f"best of {args.repeats} (samples/s)")
        for name, rate in best.items():
            print(f"  {name:<6} {rate:>10,.0f}   runs: " + ", ".join(f"{x:,.0f}" for x in rates[name]))
        print(f"DDP at world size 1 vs plain: {best['ddp 1'] / best['plain'] - 1:+.1%} (target: no worse than -5%)")
        print(f"world size 2 vs 1 (DDP): {best['ddp 2'] / best['ddp 1']:.2f}x")
        if not args.step_ms:
            args.step_ms = args.batch / best["plain"] * 1e3
            args.params = 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    if args.step_ms and args.params:
        project(args.step_ms, args.params, args.grad_bytes)


if __name__ == "__main__":
    main()
