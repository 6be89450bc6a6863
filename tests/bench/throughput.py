"""Training throughput: the textbook loop vs a hand-written slicing loop vs torchtui's engine.

Run by hand (never timed inside the test suite):

    python tests/bench/throughput.py [--rows 100000] [--epochs 2] [--device cpu] [--threads N]

Same data (rows x 32 features, float32), same model (MLP 32-64-64-1), same optimizer (Adam),
same loss (MSE), batch 64 and 512. Each variant trains from the same seed; samples/s is the
best of `--repeats` timed runs of `--epochs` epochs, the variants taking turns. The engine is `Trainer.fit` as
`torchtui run` calls it, writing its run folder (events, last.pt / best.pt each epoch).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tui.core.data import Prepared
from tui.core.devices import resolve
from tui.core.layers import resolve as resolve_layers
from tui.core.objective import Objective
from tui.core.preprocess import Column, Preprocessor
from tui.core.record import Recorder
from tui.core.runs import RunFolder
from tui.core.spec import Spec
from tui.core.train import Trainer

FEATURES = 32
LAYERS = "Linear(64), ReLU(), Linear(64), ReLU()"


class RowDataset(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return len(self.x)


def make_data(rows: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, FEATURES, generator=g)
    w = torch.randn(FEATURES, 1, generator=g)
    y = x @ w + 0.1 * torch.randn(rows, 1, generator=g)
    return x, y


def model(stack):
    torch.manual_seed(0)
    return stack.build()


def textbook(x, y, stack, batch, epochs, device):
    m = model(stack).to(device)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(RowDataset(x, y), batch, shuffle=True, generator=g)
    opt, crit = torch.optim.Adam(m.parameters(), lr=1e-3), nn.MSELoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        m.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = crit(m(xb), yb)
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - t0


def hand_written(x, y, stack, batch, epochs, device):
    m = model(stack).to(device)
    x, y = x.to(device), y.to(device)
    g = torch.Generator().manual_seed(0)
    opt, crit = torch.optim.Adam(m.parameters(), lr=1e-3), nn.MSELoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        m.train()
        perm = torch.randperm(len(x), generator=g).to(device)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = crit(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - t0


def engine(x, y, stack, batch, epochs, device):
    pre = Preprocessor("y", "regression", [Column(f"x{i}", "numeric") for i in range(FEATURES)])
    empty = torch.zeros((0, FEATURES)), torch.zeros((0, 1))
    data = Prepared("bench", pre, x, y, *empty)
    spec = Spec().with_overrides({"train.batch_size": batch, "train.epochs": epochs, "train.lr": 1e-3,
                                  "train.optimizer": "Adam", "train.device": str(device)})
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec.with_overrides({"run.runs_dir": tmp})
        folder = RunFolder.create(spec, "bench")
        trainer = Trainer(spec, data, stack, Objective("MSE", "regression", 0), resolve(str(device)),
                          Recorder(lambda e: None, folder))
        t0 = time.perf_counter()
        trainer.fit()
        _sync(device)
        seconds = time.perf_counter() - t0
        folder.close()
    return seconds


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="64,512")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads for all three (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x, y = make_data(args.rows)
    stack = resolve_layers(LAYERS, (FEATURES,), 1)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"{args.rows} rows x {FEATURES} features, MLP {FEATURES}-64-64-1, Adam, {args.epochs} epochs, "
          f"best of {args.repeats}")
    print(f"{'batch':>5}  {'textbook':>10}  {'hand-written':>12}  {'engine':>10}  "
          f"{'engine/textbook':>15}  {'engine/hand':>11}   (samples/s)")
    variants = (("textbook", textbook), ("hand", hand_written), ("engine", engine))
    for batch in (int(b) for b in args.batches.split(",")):
        seconds: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits every variant alike
            for name, fn in variants:
                seconds[name].append(fn(x, y, stack, batch, args.epochs, args.device))
        rates = {name: args.rows * args.epochs / min(s) for name, s in seconds.items()}
        print(f"{batch:>5}  {rates['textbook']:>10,.0f}  {rates['hand']:>12,.0f}  {rates['engine']:>10,.0f}  "
              f"{rates['engine'] / rates['textbook']:>14.2f}x  {rates['engine'] / rates['hand']:>10.2f}x")

if __name__ == "__main__":
    main()
