"""An improving epoch's saves: last.pt written, then best.pt as a hard link of it, vs as a copy of its bytes.

Run by hand (never timed inside the test suite):

    python tests/bench/saves.py [--model wide|small] [--repeats 7] [--dir PATH]

The state is the checkpoint `Trainer.save` writes for the model after one Adam step (the weights and Adam's
two moments: 27 MB for the wide MLP 128-1024-1024-1024-1 of tests/bench/throughput.py), saved through
`Recorder.save` into a real run folder on the disk `--dir` is on (default: the system's temp folder), each
write fsynced. Three ways, taking turns: last.pt alone (a non-improving epoch), last.pt and best.pt linked
(torchtui's), and last.pt and best.pt copied (what it did before, and still does where the file system has no
hard links). Reported: each way's best and median milliseconds, and the improving epoch's cost against
last.pt alone. On a GPU the wide model's whole epoch takes about the time of one save: the copy was most of
what an improving epoch cost beyond its steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from unittest import mock

import torch

from tui.core.record import Recorder
from tui.core.runs import RunFolder
from tui.core.spec import Spec

MODELS = {"small": (32, [64, 64]), "wide": (128, [1024, 1024, 1024])}


def state_of(model: str) -> dict:
    """A checkpoint's heavy part as Trainer.save writes it: weights and Adam's state after a step."""
    features, widths = MODELS[model]
    layers: list[torch.nn.Module] = []
    for w in widths:
        layers += [torch.nn.Linear(features, w), torch.nn.ReLU()]
        features = w
    net = torch.nn.Sequential(*layers, torch.nn.Linear(features, 1))
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(8, MODELS[model][0])).sum().backward()
    opt.step()
    return {"model": net.state_dict(), "optimizer": opt.state_dict(),
            "progress": {"epoch": 1, "step": 1, "epoch_step": 0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="wide")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="a folder on the disk to time (default: temp)")
    args = ap.parse_args()
    state = state_of(args.model)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = RunFolder.create(Spec().with_overrides({"run.runs_dir": tmp}), "bench")
        save = Recorder(lambda e: None, folder).save
        save(state, best=False)
        size = folder.checkpoint_path("last").stat().st_size

        def no_links(*a, **k):
            raise OSError(38, "links refused for the bench")  # ENOSYS: as a file system without hard links

        def copied() -> None:
            with mock.patch.object(os, "link", no_links):
                save(state, best=True)

        ways = {"last.pt alone": lambda: save(state, best=False), "last + best linked": lambda: save(state, best=True),
                "last + best copied": copied}
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, way in ways.items():
                t0 = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - t0)
        folder.close()
    print(f"{args.model} model, checkpoint {size / 2**20:.1f} MiB, {args.repeats} saves each, in {args.dir}")
    base = min(times["last.pt alone"])
    for name, t in times.items():
        print(f"  {name:<20} best {min(t) * 1e3:7.1f} ms  median {statistics.median(t) * 1e3:7.1f} ms  "
              f"{min(t) / base:.2f}x last.pt alone")


if __name__ == "__main__":
    main()
