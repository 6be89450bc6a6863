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
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

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


if __name__ == "__main__":
    main()
