"""Training throughput: the textbook loop vs a hand-written slicing loop vs torchtui's engine.

Run by hand (never timed inside the test suite):

    python tests/bench/throughput.py [--rows 100000] [--epochs 2] [--device cpu|cuda] [--threads N]
    python tests/bench/throughput.py --device cuda --model wide --rows 1000000 --batches 4096

Same data (rows x features, float32), same model, same optimizer (Adam), same loss (MSE). `--model small`
(the default): MLP 32-64-64-1 at batch 64 and 512; `--model wide`: MLP 128-1024-1024-1024-1. Each variant
trains from the same seed; samples/s is the best of `--repeats` timed runs of `--epochs` epochs, the
variants taking turns. The engine is `Trainer.fit` as `torchtui run` calls it, writing its run folder
(events, last.pt / best.pt each epoch).

On CUDA the engine runs three ways: eager (`--cuda-graphs off`), with CUDA graphs (`on`), and with graphs
and `--precision bf16`; the hand loop also runs with bf16 autocast. The table adds each one's peak GPU
memory (`torch.cuda.max_memory_allocated`), so graphs' memory pool is measured too. The wide model's
textbook loop (a DataLoader over 1M rows, one row at a time) is left out: it is not what anyone would run.

Two rates per loop. The whole run's: the engine's includes what `fit` does once (the data moved to the
device, the capture and its warm-up steps) and its checkpoint saves; the hand loop's data is on the device
before its clock starts. With `--epochs 2` or more, also the last epoch's alone (the engine's from its epoch
event, the loops' timed likewise): the steady pace of training, startup and saves left out. `--breakdown`
times a graphed step's parts on the device: the replayed graph (gather, forward, loss, backward) and the
eager optimizer step, alone and together, so that what bounds a model is measured, not guessed.
"""

from __future__ import annotations

import argparse
import os
import re
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

MODELS = {  # name: (features, layers)
    "small": (32, "Linear(64), ReLU(), Linear(64), ReLU()"),
    "wide": (128, "Linear(1024), ReLU(), Linear(1024), ReLU(), Linear(1024), ReLU()"),
}
FEATURES, LAYERS = MODELS["small"]


class RowDataset(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return len(self.x)


def make_data(rows: int, features: int = FEATURES):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, features, generator=g)
    w = torch.randn(features, 1, generator=g)
    y = x @ w + 0.1 * torch.randn(rows, 1, generator=g)
    return x, y


def model(stack):
    torch.manual_seed(0)
    return stack.build()


def textbook(x, y, stack, batch, epochs, device):
    """(seconds of the run, seconds of its last epoch)."""
    m = model(stack).to(device)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(RowDataset(x, y), batch, shuffle=True, generator=g)
    opt, crit = torch.optim.Adam(m.parameters(), lr=1e-3), nn.MSELoss()
    t0 = epoch_began = time.perf_counter()
    for _ in range(epochs):
        _sync(device)
        epoch_began = time.perf_counter()
        m.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = crit(m(xb), yb)
            loss.backward()
            opt.step()
    _sync(device)
    end = time.perf_counter()
    return end - t0, end - epoch_began


def hand_written(x, y, stack, batch, epochs, device, bf16=False):
    """(seconds of the run, seconds of its last epoch); the data is on the device before the clock starts."""
    m = model(stack).to(device)
    x, y = x.to(device), y.to(device)
    g = torch.Generator().manual_seed(0)
    opt, crit = torch.optim.Adam(m.parameters(), lr=1e-3), nn.MSELoss()
    t0 = epoch_began = time.perf_counter()
    for _ in range(epochs):
        _sync(device)
        epoch_began = time.perf_counter()
        m.train()
        perm = torch.randperm(len(x), generator=g).to(device)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            if bf16:
                with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
                    loss = crit(m(x[idx]), y[idx])
            else:
                loss = crit(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
    _sync(device)
    end = time.perf_counter()
    return end - t0, end - epoch_began


def engine(x, y, stack, batch, epochs, device, graphs="off", precision="fp32"):
    """(the engine's seconds, its last epoch's seconds as its epoch event says); a graphed run that did not
    capture stops the bench (it would time the eager loop)."""
    seconds, events, decision = engine_run(x, y, stack, batch, epochs, device, graphs, precision)
    captures = [e for e in events if e["event"] == "cuda_graph"]
    if graphs == "on" and not (captures and captures[0]["captured"]):
        raise SystemExit(f"the graphed engine did not capture: {decision} {captures}")
    CAPTURES.extend(captures[:1])
    return seconds, [e for e in events if e["event"] == "epoch"][-1]["seconds"]


def engine_run(x, y, stack, batch, epochs, device, graphs="off", precision="fp32"):
    """`Trainer.fit` as `torchtui run` calls it, writing a run folder: (seconds, the events it wrote, whether and
    why not it replays a CUDA graph)."""
    features = x.shape[1]
    pre = Preprocessor("y", "regression", [Column(f"x{i}", "numeric") for i in range(features)])
    empty = torch.zeros((0, features)), torch.zeros((0, 1))
    data = Prepared("bench", pre, x, y, *empty)
    spec = Spec().with_overrides({"train.batch_size": batch, "train.epochs": epochs, "train.lr": 1e-3,
                                  "train.optimizer": "Adam", "train.device": str(device), "train.patience": 0,
                                  "train.cuda_graphs": graphs, "train.precision": precision})
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec.with_overrides({"run.runs_dir": tmp})
        folder = RunFolder.create(spec, "bench")
        events: list[dict] = []
        trainer = Trainer(spec, data, stack, Objective("MSE", "regression", 0), resolve(str(device)),
                          Recorder(events.append, folder))
        t0 = time.perf_counter()
        trainer.fit()
        _sync(device)
        seconds = time.perf_counter() - t0
        folder.close()
    return seconds, events, trainer.graph_decision.description


CAPTURES: list[dict] = []  # the graphed engine's cuda_graph events: the capture's time and pool


def breakdown(x, y, stack, batch, device, precision, steps=50) -> str:
    """A graphed step's parts timed on the device, as the engine runs them: the replayed graph (gather,
    zero_grad, forward, loss, backward, loss sum), then the eager optimizer step (Adam over one flat parameter
    as optim.py and flat.py make it: foreach in fp32, fused in bf16), alone and both together. Which one a
    model's step waits on is what a faster step must shorten."""
    from tui.core.cuda_graph import GraphedStep
    from tui.core.flat import FlatParameters
    from tui.core.optim import make_optimizer
    from tui.core.precision import setup

    dev = torch.device(device)
    m = model(stack).to(dev)
    flat = FlatParameters(m)
    spec = Spec().with_overrides({"train.optimizer": "Adam", "train.lr": 1e-3, "train.precision": precision})
    opt = make_optimizer(spec.train, [flat.flat], "cuda" if REHEARSAL else dev.type)
    mixed = setup(precision, dev.type)
    xd, yd = x.to(dev), y.to(dev)
    step = GraphedStep(m, nn.MSELoss(), flat.grad.zero_, xd, yd, batch, 0.0,
                       mixed.autocast if mixed.mixed else None)
    step.start_epoch(torch.randperm(len(xd), device=dev), 0, 0.0)
    while step.graph is None and not step.failed:  # warm-up steps, then the capture
        step.step()
        opt.step()
    if step.graph is None:
        return "not captured"

    def timed(graph: bool, optimizer: bool) -> float:
        """Milliseconds per step over `steps` steps (the counter wraps within the epoch's batches)."""
        _sync(device)
        t0 = time.perf_counter()
        for i in range(steps):
            if graph:
                if i % step.full == 0:
                    step.pos.zero_()
                step.step()
            if optimizer:
                opt.step()
        _sync(device)
        return (time.perf_counter() - t0) / steps * 1e3

    graph_ms, optimizer_ms, both_ms = timed(True, False), timed(False, True), timed(True, True)
    layers = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    flops = 6 * batch * sum(mod.in_features * mod.out_features for mod in layers)  # forward + backward matmuls
    return (f"graph {graph_ms:.3f} ms ({flops / graph_ms / 1e9:,.1f} TFLOP/s of matmuls), optimizer "
            f"{optimizer_ms:.3f} ms, both {both_ms:.3f} ms per step")


REHEARSAL = os.environ.get("TORCHTUI_REHEARSAL") == "1"  # the CPU stands in for a GPU (tests/device/rehearse.py)


def _gpu(device) -> bool:
    """The GPU's variants and memory report: on CUDA, or on the CPU rehearsing for it."""
    return torch.device(device).type == "cuda" or REHEARSAL


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def variants(device: str, model_name: str):
    """(name, function) of each loop measured on this device."""
    out = [] if model_name == "wide" else [("textbook", textbook)]
    out += [("hand", hand_written)]
    if not _gpu(device):
        return out + [("engine", engine)]
    return out + [
        ("hand bf16", lambda *a: hand_written(*a, bf16=True)),
        ("engine eager", lambda *a: engine(*a, graphs="off")),
        ("engine graphs", lambda *a: engine(*a, graphs="on")),
        ("graphs bf16", lambda *a: engine(*a, graphs="on", precision="bf16")),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", choices=sorted(MODELS), default="small")
    ap.add_argument("--batches", default="64,512")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads for all three (0: torch's default)")
    ap.add_argument("--breakdown", action="store_true", help="also time a graphed step's parts (graph, optimizer)")
    ap.add_argument("--width", type=int, default=0,
                    help="the hidden layers' width (0: the model's own); a CPU rehearsal narrows the wide model, whose "
                         "bf16 steps a CPU without bf16 matmuls takes minutes over")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    features, layers = MODELS[args.model]
    if args.width:
        layers = re.sub(r"Linear\(\d+\)", f"Linear({args.width})", layers)
    x, y = make_data(args.rows, features)
    stack = resolve_layers(layers, (features,), 1)
    cuda = _gpu(args.device)
    widths = "-".join(str(w) for w in [features] + [int(e[7:-1]) for e in layers.split(", ") if e.startswith("Linear")])
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(args.device)})" if cuda else "")
          + f", threads {torch.get_num_threads()}, {args.rows} rows x {features} features, MLP {widths}-1, Adam, "
          f"{args.epochs} epochs, best of {args.repeats}")
    loops = variants(args.device, args.model)
    names = [name for name, _ in loops]
    print(f"{'batch':>5}  " + "  ".join(f"{n:>13}" for n in names) + "   (samples/s)")
    for batch in (int(b) for b in args.batches.split(",")):
        seconds: dict[str, list[float]] = {name: [] for name in names}
        last_epoch: dict[str, list[float]] = {name: [] for name in names}
        peak: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits every variant alike
            for name, fn in loops:
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(args.device)
                whole, last = fn(x, y, stack, batch, args.epochs, args.device)
                seconds[name].append(whole)
                last_epoch[name].append(last)
                if cuda:
                    peak[name] = torch.cuda.max_memory_allocated(args.device) / 2**20
        rates = {name: args.rows * args.epochs / min(s) for name, s in seconds.items()}
        print(f"{batch:>5}  " + "  ".join(f"{rates[n]:>13,.0f}" for n in names))
        if cuda:
            print("  peak GPU memory, MiB: " + ", ".join(f"{n} {peak[n]:,.0f}" for n in names))
        base = "hand"
        ratios = [(n, rates[n] / rates[base]) for n in names if n != base]
        print("  vs the hand loop (fp32, eager): " + ", ".join(f"{n} {r:.2f}x" for n, r in ratios))
        if "textbook" in rates:
            engine_name = "engine graphs" if cuda else "engine"
            print(f"  {engine_name} vs textbook: {rates[engine_name] / rates['textbook']:.2f}x")
        if args.epochs > 1:  # the steady pace: startup, capture and the engine's saves left out
            steady = {name: args.rows / min(s) for name, s in last_epoch.items()}
            print("  last epoch alone, samples/s: " + ", ".join(f"{n} {steady[n]:,.0f}" for n in names))
            print("  last epoch vs the hand loop's: " + ", ".join(f"{n} {steady[n] / steady[base]:.2f}x"
                                                                for n in names if n != base))
        if args.breakdown and cuda:
            for precision in ("fp32", "bf16"):
                steps = 2 if REHEARSAL else 50  # (a rehearsal checks the lines are printed: a CPU's wide step is slow)
                print(f"  graphed step at batch {batch}, {precision}: " + breakdown(x, y, stack, batch, args.device,
                                                                                  precision, steps))
    if CAPTURES:
        secs = [c["seconds"] for c in CAPTURES]
        print(f"captures: {len(secs)}, seconds min {min(secs):.3f} max {max(secs):.3f}; pool MiB "
              + ", ".join(f"{c['memory_mb']:.0f}" for c in CAPTURES[:6]))


if __name__ == "__main__":
    main()
