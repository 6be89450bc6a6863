"""Large files: a 1,000,000-row x 20-column numeric CSV, from file to the first training step.

Run by hand (never timed inside the test suite):

    python tests/bench/load.py [--rows 1000000] [--repeats 3] [--file PATH]

Compares, each in a fresh process, the three taking turns, best (and median) of `--repeats`:
  bare      pandas.read_csv(path): the reader torchtui uses, with nothing else
  torchtui  sniffing + read + cleaning + split + standardising + tensors + model + the first step,
            once as a fresh `torchtui run` pays it, once with torch.optim's one-time import of
            torch._dynamo (about a second, whatever the file's size) done before the clock starts
and reports seconds, peak memory above the process's state after its imports (ru_maxrss), as
multiples of the data's float64 size, and the ratio torchtui / bare (target <= 1.5x).

Then the leakage checks' share of preparation (`data.prepare`, timed around `leakage.check` inside it),
each in a fresh process, median of `--repeats` (target <= 5%), and the copied-rows check's beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

BARE = """
import json, resource, sys, time
import pandas as pd
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024,
                  "rows": len(frame)}))
"""

ENGINE = """
import json, resource, sys, time
import torch
from tui.core import job
from tui.core.spec import Spec
from tui.core.record import Recorder
from tui.core.train import Trainer

class FirstStep(Exception):
    pass

def stop_at_first_step(event):
    if event["event"] == "step":
        raise FirstStep

if len(sys.argv) > 2:  # "warm": torch.optim's one-time import of torch._dynamo (about 1 s) done before timing
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
spec = Spec().with_overrides({"data.dataset": sys.argv[1], "data.target": "target", "train.device": "cpu",
                              "train.batch_size": 512, "train.epochs": 1, "train.log_interval": 1e-6,
                              "model.layers": "Linear(64), ReLU(), Linear(64), ReLU()"})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
p = job.plan(spec)
trainer = Trainer(spec, p.data, p.stack, p.objective, p.device, Recorder(stop_at_first_step))
try:
    trainer.fit()
except FirstStep:
    pass
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024,
                  "rows": len(p.data.x_train) + len(p.data.x_val), "steps": trainer.progress.step}))
"""

LEAKAGE = """
import json, sys, time
from tui.core import copied_rows, data, leakage
from tui.core.spec import DataSpec
spent = {"leakage": 0.0, "copies": 0.0}
def timed(module, key):
    check = module.check
    def wrapped(*args):
        t0 = time.perf_counter()
        found = check(*args)
        spent[key] += time.perf_counter() - t0
        return found
    module.check = wrapped
timed(leakage, "leakage")
timed(copied_rows, "copies")
t0 = time.perf_counter()
prepared = data.prepare(DataSpec(dataset=sys.argv[1], target="target"), 0)
seconds = time.perf_counter() - t0
print(json.dumps({"prepare": seconds, "checks": spent["leakage"], "copies": spent["copies"],
                  "warnings": len(prepared.warnings)}))
"""


PLAIN = """
import sys
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

frame = pd.read_csv(sys.argv[1])
x = torch.tensor(frame.drop(columns="target").to_numpy(), dtype=torch.float32)
y = torch.tensor(frame["target"].to_numpy(), dtype=torch.float32).unsqueeze(1)
x = (x - x.mean(0)) / x.std(0)
model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
for xb, yb in DataLoader(TensorDataset(x, y), batch_size=512, shuffle=True):
    loss = nn.functional.mse_loss(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print("step", loss.item(), flush=True)
    break
"""


def first_step(command: list[str], is_step: Callable[[str], bool]) -> float:
    """Seconds from starting a fresh process to the line that says its first step is done (then it is stopped)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if is_step(line):
            seconds = time.perf_counter() - t0
            proc.kill()
            proc.wait()
            return seconds
    raise RuntimeError(f"{command[:3]} ended without a step (exit {proc.wait()})")


def fresh_processes(path: Path, repeats: int) -> tuple[list[float], list[float]]:
    """(plain script, torchtui run): whole fresh processes, imports included, to the first step; taking turns."""
    plain: list[float] = []
    tool: list[float] = []
    with tempfile.TemporaryDirectory() as runs:
        for _ in range(repeats):
            plain.append(first_step([sys.executable, "-c", PLAIN, str(path)], lambda line: line.startswith("step")))
            tool.append(first_step([sys.executable, "-m", "tui", "run", "--dataset", str(path), "--target", "target",
                                    "--device", "cpu", "--batch-size", "512", "--epochs", "1", "--optimizer", "Adam",
                                    "--log-interval", "0.000001", "--layers", "Linear(64), ReLU(), Linear(64), ReLU()",
                                    "--runs-dir", runs, "--json"], lambda line: '"event":"step"' in line))
    return plain, tool


def leakage_share(path: Path, repeats: int) -> list[dict]:
    """Each fresh process's preparation time and the leakage checks' part of it."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", LEAKAGE, str(path)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def make_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 19))
    y = x @ rng.normal(size=19) + 0.1 * rng.normal(size=rows)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(19)])
    frame["target"] = y
    frame.to_csv(path, index=False, float_format="%.6g")


def measure(path: Path, repeats: int) -> tuple[dict, dict, dict]:
    """(bare, torchtui, torchtui warm), each the best of `repeats` fresh processes; the three take
    turns, so a slow spell of a shared machine hits them alike."""
    variants = ((BARE,), (ENGINE,), (ENGINE, "warm"))
    runs: list[list[dict]] = [[] for _ in variants]
    for _ in range(repeats):
        for i, (code, *extra) in enumerate(variants):
            out = subprocess.run([sys.executable, "-c", code, str(path), *extra], capture_output=True, text=True,
                                 check=True)
            runs[i].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = []
    for r in runs:
        best = dict(min(r, key=lambda run: run["seconds"]))
        best["peak_mb"] = max(run["peak_mb"] for run in r)
        best["median"] = sorted(run["seconds"] for run in r)[len(r) // 2]
        results.append(best)
    return results[0], results[1], results[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "torchtui-bench" / "big.csv")
    args = ap.parse_args()
    if not args.file.exists():
        args.file.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {args.file} ({args.rows:,} rows x 20 columns) ...", flush=True)
        make_csv(args.file, args.rows)
    data_mb = args.rows * 20 * 8 / 2**20
    bare, engine, warm = measure(args.file, args.repeats)
    print(f"{args.file}: {args.file.stat().st_size / 2**20:,.0f} MiB on disk, {bare['rows']:,} rows x 20 columns, "
          f"{data_mb:,.0f} MiB as float64; best of {args.repeats}, each in a fresh process")
    print(f"{'':<40}{'seconds':>9}{'peak MiB':>10}{'x data':>8}{'x read':>9}{'median s':>10}{'x read':>9}")
    rows = (("bare read", bare), ("torchtui", engine), ("torchtui, torch.optim imported before", warm))
    for name, r in rows:
        print(f"{name:<40}{r['seconds']:>9.2f}{r['peak_mb']:>10,.0f}{r['peak_mb'] / data_mb:>8.2f}"
              f"{r['seconds'] / bare['seconds']:>8.2f}x{r['median']:>10.2f}{r['median'] / bare['median']:>8.2f}x")
    print(f"first step reached: {engine['steps'] >= 1 and warm['steps'] >= 1}")
    plain, tool = fresh_processes(args.file, max(args.repeats, 5))
    best, median = min(tool) / min(plain), sorted(tool)[len(tool) // 2] / sorted(plain)[len(plain) // 2]
    print(f"a fresh process to its first step, imports included ({len(plain)} each, taking turns): plain PyTorch "
          f"script {min(plain):.2f} s best, {sorted(plain)[len(plain) // 2]:.2f} s median; `torchtui run` "
          f"{min(tool):.2f} s best, {sorted(tool)[len(tool) // 2]:.2f} s median: {best:.2f}x best, {median:.2f}x "
          "median (target <= 1.2x)")
    runs = leakage_share(args.file, args.repeats)
    shares = sorted(r["checks"] / r["prepare"] for r in runs)
    med = sorted(runs, key=lambda r: r["checks"] / r["prepare"])[len(runs) // 2]
    print(f"leakage checks: {med['checks'] * 1000:.0f} ms of {med['prepare']:.2f} s preparation, "
          f"{shares[len(shares) // 2]:.1%} median (from {shares[0]:.1%} to {shares[-1]:.1%}, {len(runs)} fresh "
          f"processes; target <= 5%); warnings on this file: {runs[0]['warnings']}")
    copies = sorted(r["copies"] / r["prepare"] for r in runs)
    print(f"copied-rows check (validation rows equal to training rows): {copies[len(copies) // 2]:.1%} median of "
          f"preparation (from {copies[0]:.1%} to {copies[-1]:.1%})")


if __name__ == "__main__":
    main()
