"""Issue 12 on a GPU: CUDA graphs exact, resumable, announced; precision modes converging. Run by
tests/device/gpu_check.sh (CI has no GPU); each section prints a table and PASS / FAIL lines.

    python tests/device/graph_check.py exactness|resume|precision|fallbacks|memory

- exactness: for each stack test_exactness.py covers (Dropout, BatchNorm, Conv2d, each optimizer) and
  clipping, the engine with graphs on, the eager engine and the textbook loop, all on CUDA, end with
  `torch.equal` weights; for each schedule (per batch: onecycle; per epoch: step, cosine, plateau), graphs on
  equal the eager engine (the eager engine's schedules are held to the textbook on the CPU).
- resume: a graphed run killed with SIGKILL after a mid-epoch save, resumed, equals the run never killed.
- precision: digits, 8 epochs, graphs on: each mode's accuracy (>= 0.95) and distance to fp32's loss (<= 0.03).
- fallbacks: the start event's words for --on-nan skip, fp16, a Dataset class, --device cpu, a short run (auto).
- memory: peak GPU memory with and without graphs, and a capture that cannot fit (a memory cap) falls back.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tests.bench.throughput import RowDataset, engine_run  # noqa: E402
from tui.core import checkpoint, job  # noqa: E402
from tui.core.layers import build_sequential  # noqa: E402
from tui.core.spec import Spec  # noqa: E402

FAILED: list[str] = []
# REHEARSE=1 bash tests/device/gpu_check.sh: the same checks on a CPU standing in for the GPU (rehearse.py)
REHEARSAL = os.environ.get("TORCHTUI_REHEARSAL") == "1"
DEVICE = "cpu" if REHEARSAL else "cuda"
# the exactness cases' epochs: a rehearsal checks the script runs and its checks can pass, in CI's minutes
EPOCHS = 2 if REHEARSAL else 3
TUI = [sys.executable, *([str(ROOT / "tests" / "device" / "rehearse.py")] if REHEARSAL else []), "-m", "tui"]


def check(ok: bool, what: str) -> None:
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        FAILED.append(what)


def spec(tmp: str, **values) -> Spec:
    base = {"train.device": DEVICE, "run.runs_dir": tmp, "train.patience": 0, "train.seed": 7, "train.epochs": EPOCHS}
    return Spec().with_overrides({**base, **values})


def engine(tmp: str, name: str, **values):
    events: list[dict] = []
    _, folder = job.run(spec(tmp, **{"run.name": name, **values}), events.append)
    return checkpoint.load(folder.checkpoint_path("last")), events


def textbook(layers, x, y, criterion, make_optimizer, batch_size, epochs, clip=0.0, seed=7, validation=None):
    """pytorch-101's loop on CUDA: seed, model, DataLoader with a seeded generator, batches moved to the GPU, and
    after each epoch a validation pass over a plain DataLoader (whose seed draw moves torch's global generator, as
    the engine's does); with cuDNN deterministic, as PyTorch's reproducibility notes ask (without, a Conv2d loop
    differs from itself)."""
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.manual_seed(seed)
    model = build_sequential(layers).to(DEVICE)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(RowDataset(x, y), batch_size, shuffle=True, generator=g)
    checking = DataLoader(RowDataset(*validation), max(batch_size, 1024), shuffle=False) if validation else None
    optimizer = make_optimizer(model.parameters())
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(DEVICE), yb.to(DEVICE)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        if checking is not None:
            model.eval()
            with torch.no_grad():
                for xb, yb in checking:
                    criterion(model(xb.to(DEVICE)), yb.to(DEVICE))
    return model.state_dict()


TEXTBOOK_CASES = {
    "wine Dropout SGD momentum": (
        {"data.dataset": "wine", "model.layers": "Linear(32), ReLU(), Dropout(0.2), Linear(16), Tanh()",
         "train.optimizer": "SGD", "train.lr": 0.05, "train.momentum": 0.9, "train.batch_size": 16},
        nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), 0.0),
    "diabetes BatchNorm Adam": (
        {"data.dataset": "diabetes", "model.layers": "Linear(32), ReLU(), BatchNorm1d(), Linear(16), ReLU()",
         "train.optimizer": "Adam", "train.lr": 0.01, "train.batch_size": 20},
        nn.MSELoss(), lambda p: torch.optim.Adam(p, lr=0.01), 0.0),
    "digits Conv2d AdamW": (
        {"data.dataset": "digits", "model.layers": "Unflatten(1, (1, 8, 8)), Conv2d(4, 3), ReLU(), MaxPool2d(2), "
         "Flatten(), LayerNorm(), Linear(10)", "train.optimizer": "AdamW", "train.lr": 0.005,
         "train.weight_decay": 0.05, "train.batch_size": 64},
        nn.CrossEntropyLoss(), lambda p: torch.optim.AdamW(p, lr=0.005, weight_decay=0.05), 0.0),
    "iris SGD nesterov": (
        {"data.dataset": "iris", "model.layers": "Linear(16), GELU(), Linear(16), SiLU()", "train.optimizer": "SGD",
         "train.lr": 0.05, "train.momentum": 0.8, "train.nesterov": True, "train.weight_decay": 1e-3,
         "train.batch_size": 8},
        nn.CrossEntropyLoss(),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3), 0.0),
    "sine RMSprop": (
        {"data.dataset": "sine", "model.layers": "Linear(32), Tanh(), Linear(32), LeakyReLU()",
         "train.optimizer": "RMSprop", "train.lr": 0.003, "train.momentum": 0.5, "train.batch_size": 32},
        nn.MSELoss(), lambda p: torch.optim.RMSprop(p, lr=0.003, momentum=0.5), 0.0),
    "diabetes Adam clip 0.5": (
        {"data.dataset": "diabetes", "model.layers": "Linear(64), ReLU(), Linear(32), ReLU()",
         "train.optimizer": "Adam", "train.lr": 0.01, "train.batch_size": 16, "train.grad_clip": 0.5},
        nn.MSELoss(), lambda p: torch.optim.Adam(p, lr=0.01), 0.5),
    # 520 bytes a batch: no view of a chunk starts where a new tensor would; and packed end to end in the flat buffer
    # the output layer's weights would start 168 bytes in, off cuBLAS's 16-byte alignment (flat.py starts each
    # weight on 512 bytes, as a tensor of its own: this case checks both on cuBLAS)
    "wine batch 10 misaligned": (
        {"data.dataset": "wine", "model.layers": "Linear(3), ReLU()", "train.optimizer": "SGD", "train.lr": 0.01,
         "train.momentum": 0.5, "train.batch_size": 10},
        nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.5), 0.0),
}

SCHEDULE_CASES = {
    "onecycle (per batch)": {"train.scheduler": "onecycle"},
    "step": {"train.scheduler": "step", "train.step_size": 1},
    "cosine": {"train.scheduler": "cosine"},
    "plateau": {"train.scheduler": "plateau", "train.plateau_patience": 0},
}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].float().cpu() - b[k].float().cpu()).abs().max()) for k in a)


def exactness() -> None:
    print(f"{'case':<28} {'graphs==eager':>13} {'graphs==textbook':>16} {'eager==textbook':>15} "
          f"{'eager==eager':>12}  replays")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (values, criterion, make_opt, clip) in TEXTBOOK_CASES.items():
            slug = name.replace(" ", "-")
            graphed, events = engine(tmp, slug + "-g", **values, **{"train.cuda_graphs": "on"})
            eager, _ = engine(tmp, slug + "-e", **values, **{"train.cuda_graphs": "off"})
            # is eager itself exact? (on a GPU; the CPU's eager engine is held to itself in test_exactness.py)
            again = None if REHEARSAL else engine(tmp, slug + "-e2", **values, **{"train.cuda_graphs": "off"})[0]
            data = job.plan(spec(tmp, **values)).data
            ref = textbook(graphed["layers"], data.x_train, data.y_train, criterion, make_opt,
                           values["train.batch_size"], EPOCHS, clip, validation=(data.x_val, data.y_val))
            captured = [e for e in events if e["event"] == "cuda_graph"]
            ok_capture = bool(captured) and captured[0]["captured"]
            ge, gt, et = same(graphed["model"], eager["model"]), same(graphed["model"], ref), same(eager["model"], ref)
            ee = "-" if again is None else str(same(eager["model"], again["model"]))
            print(f"{name:<28} {ge!s:>13} {gt!s:>16} {et!s:>15} {ee:>12}  captured {ok_capture}"
                  + ("" if ge else f"  max |graphs - eager| {max_diff(graphed['model'], eager['model']):.3g}"))
            check(ok_capture and ge and gt and et, f"exact with graphs: {name}")
        base = TEXTBOOK_CASES["wine Dropout SGD momentum"][0]
        for name, values in SCHEDULE_CASES.items():
            slug = name.split()[0]
            graphed, _ = engine(tmp, slug + "-g", **base, **values, **{"train.cuda_graphs": "on"})
            eager, _ = engine(tmp, slug + "-e", **base, **values, **{"train.cuda_graphs": "off"})
            ok = same(graphed["model"], eager["model"]) and same(
                {k: v for k, v in graphed["optimizer"]["state"][0].items() if isinstance(v, torch.Tensor)},
                {k: v for k, v in eager["optimizer"]["state"][0].items() if isinstance(v, torch.Tensor)})
            check(ok, f"schedule {name}: graphs == eager engine (weights and optimizer state)")


def resume() -> None:
    for mode in ("fp32", "bf16"):  # bf16: the fused optimizer step (optim.fused_optimizer), its state on the GPU
        resume_in(mode)


def resume_in(mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        args = [*TUI, "run", "--dataset", "digits", "--layers", "Linear(256), ReLU(), "
                "Dropout(0.1), Linear(128), ReLU()", "--epochs", "6", "--batch-size", "16", "--device", DEVICE,
                "--cuda-graphs", "on", "--save-every", "25", "--patience", "0", "--seed", "11", "--runs-dir", tmp,
                "--precision", mode, "--json"]
        subprocess.run([*args, "--name", "straight"], check=True, stdout=subprocess.DEVNULL)
        p = subprocess.Popen([*args, "--name", "killed"], stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None
        saved_at = None
        for line in p.stdout:
            e = json.loads(line)
            if e["event"] == "checkpoint" and e["step"] >= 150 and e["step"] % 90:  # mid-epoch, after the capture
                saved_at = e["step"]
                os.kill(p.pid, signal.SIGKILL)
                break
        p.wait()
        print(f"{mode}: killed with SIGKILL after the save at step {saved_at}: exit {p.returncode}")
        r = subprocess.run([*TUI, "resume", f"{tmp}/killed", "--json"], capture_output=True,
                           text=True)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        graphs = [e for e in events if e["event"] == "cuda_graph"]
        print(f"resume: exit {r.returncode}, start says {events[0].get('cuda_graphs')!r} and "
              f"{events[0].get('precision')!r}, captured again at step {graphs[0]['step'] if graphs else None}")
        a = checkpoint.load(Path(tmp) / "straight" / "last.pt")
        b = checkpoint.load(Path(tmp) / "killed" / "last.pt")
        check(r.returncode == 0 and saved_at is not None and same(a["model"], b["model"]),
              f"{mode}: a graphed run killed -9 mid-epoch and resumed equals the run never killed (torch.equal)")


def precision() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("fp32", "tf32", "bf16", "fp16"):
            _, events = engine(tmp, mode, **{"data.dataset": "digits", "train.epochs": 8, "train.precision": mode,
                                             "train.cuda_graphs": "on", "train.seed": 0})
            last = [e for e in events if e["event"] == "epoch"][-1]
            graph = [e for e in events if e["event"] == "cuda_graph"]
            results[mode] = (last["accuracy"], last["val_loss"], events[0]["precision"], events[0]["cuda_graphs"],
                             bool(graph and graph[0]["captured"]))
    print(f"{'mode':<5} {'accuracy':>8} {'val loss':>9} {'|d loss|':>8}  graph  precision")
    for mode, (acc, loss, said, graphs, captured) in results.items():
        d = abs(loss - results["fp32"][1])
        print(f"{mode:<5} {acc:>8.4f} {loss:>9.4f} {d:>8.4f}  {captured!s:<5}  {said}")
        check(acc >= 0.95 and (mode == "fp32" or d <= 0.03), f"{mode}: accuracy >= 0.95, loss within 0.03 of fp32")
        check(captured == (mode != "fp16"), f"{mode}: graphed {mode != 'fp16'} ({graphs})")


def fallbacks() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "my_rows.py"
        rows.write_text("import torch\nfrom torch.utils.data import Dataset\nclass Rows(Dataset):\n"
                        "    def __init__(self):\n        g = torch.Generator().manual_seed(0)\n"
                        "        self.x = torch.randn(512, 8, generator=g); self.y = (self.x.sum(1) > 0).long()\n"
                        "    def __getitem__(self, i):\n        return self.x[i], self.y[i]\n"
                        "    def __len__(self):\n        return 512\n")
        cases = {  # name: (flags, what the start event's cuda_graphs begins with)
            "--on-nan skip": (["--dataset", "wine", "--on-nan", "skip", "--cuda-graphs", "on"], "off: --on-nan skip"),
            "--precision fp16": (["--dataset", "wine", "--precision", "fp16", "--cuda-graphs", "on"], "off: fp16"),
            "a Dataset class": (["--dataset", "my_rows:Rows", "--cuda-graphs", "on"], "off: batches come from"),
            "--device cpu": (["--dataset", "wine", "--device", "cpu", "--cuda-graphs", "on"], "off: CUDA graphs need"),
            "auto, a short run": (["--dataset", "iris", "--epochs", "2"], "off: 14 steps are too few"),
            "auto, a long run": (["--dataset", "digits", "--epochs", "3"], "on: "),
        }
        if REHEARSAL:  # the CPU stands in for the GPU
            del cases["--device cpu"]
        runs = {}  # at once: each is mostly a process starting (a GPU's minutes are few)
        for i, (name, (args, _)) in enumerate(cases.items()):
            epochs = [] if "--epochs" in args else ["--epochs", "2"]
            runs[name] = subprocess.Popen([*TUI, "run", *args, *epochs, "--runs-dir", tmp, "--name", f"f{i}", "--json",
                                           "--patience", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True, cwd=tmp, env={**os.environ, "PYTHONPATH": f"{ROOT}:{tmp}"})
        for name, p in runs.items():
            out, _ = p.communicate()
            events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            start = next((e for e in events if e["event"] == "start"), {})
            print(f"{name:<18} exit {p.returncode}  {start.get('cuda_graphs')!r}")
            check(p.returncode == 0 and str(start.get("cuda_graphs")).startswith(cases[name][1]), f"announced: {name}")
        r = subprocess.run([*TUI, "run", "--dataset", "digits", "--cuda-graphs", "on",
                            "--epochs", "1", "--runs-dir", tmp, "--name", "console"], capture_output=True, text=True)
        print("console:", *[line for line in r.stdout.splitlines() if line.startswith("cuda graph")], sep="\n  ")


def memory() -> None:
    from tui.core.layers import resolve as resolve_layers

    g = torch.Generator().manual_seed(0)
    rows, batch, width = (4096, 512, 64) if REHEARSAL else (100_000, 8192, 1024)
    x = torch.randn(rows, 128, generator=g)
    y = x[:, :1] * 2
    stack = resolve_layers(", ".join([f"Linear({width}), ReLU()"] * 3), (128,), 1)
    reserved = {}
    for graphs in ("off", "on"):
        gc.collect()  # an earlier run's graph, if a cycle still holds it, gives its pool back
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        seconds, events, _ = engine_run(x, y, stack, batch, 1, DEVICE, graphs)
        allocated = torch.cuda.max_memory_allocated() / 2**20
        reserved[graphs] = torch.cuda.max_memory_reserved() / 2**20
        graph = [e for e in events if e["event"] == "cuda_graph"]
        print(f"wide MLP, batch {batch}, graphs {graphs}: peak allocated {allocated:,.0f} MiB, reserved "
              f"{reserved[graphs]:,.0f} MiB, {len(x) / seconds:,.0f} samples/s"
              + (f", pool {graph[0]['memory_mb']:,.0f} MiB, capture {graph[0]['seconds']:.3f} s" if graph else ""))
    # a cap between the eager peak and the graphed one: the capture cannot fit, the run must go on eagerly
    total = torch.cuda.get_device_properties(0).total_memory / 2**20
    cap = (reserved["off"] + 0.5 * (reserved["on"] - reserved["off"])) / total
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(cap)
    try:
        _, events, _ = engine_run(x, y, stack, batch, 1, DEVICE, "on")
        graph = [e for e in events if e["event"] == "cuda_graph"]
        print(f"capped at {cap * total:,.0f} MiB: {graph}")
        check(bool(graph) and not graph[0]["captured"] and "out of memory" in graph[0].get("reason", ""),
              "a capture that does not fit falls back to eager with a note")
    except torch.cuda.OutOfMemoryError as e:
        import traceback
        where = "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_tb(e.__traceback__))
        check(False, f"a capture that does not fit falls back to eager with a note: out of memory instead, at {where} "
                     f"({str(e).splitlines()[0][:120]})")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)


if __name__ == "__main__":
    for section in sys.argv[1:] or ["exactness", "resume", "precision", "fallbacks", "memory"]:
        began = time.perf_counter()
        print(f"== {section}")
        globals()[section]()
        print(f"   ({time.perf_counter() - began:.0f} s)")
    print("FAILED: " + "; ".join(FAILED) if FAILED else "all passed")
    sys.exit(1 if FAILED else 0)
