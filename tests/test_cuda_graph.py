"""CUDA graphs (issue 12), the parts a CPU can check: when a run is graphed and why not; the static-buffer
gather visits the DataLoader's batches; and the graphed loop (the step's body run eagerly each step, as it
runs on a CPU; capture and replay themselves only exist on a GPU: tests/device/gpu_check.sh) gives the eager
engine's weights bit for bit, through warm-up, the capture step, a failed capture, a resume mid-epoch,
schedules, clipping and each optimizer."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tui.console import ConsoleReporter as Console
from tui.core import checkpoint, job
from tui.core.cuda_graph import Decision, GraphedStep, decide
from tui.core.errors import Interrupted
from tui.core.follow import RunState
from tui.core.order import fast_order

import warm_cli
from conftest import GRAPHS_ON, fake_cuda_graphs, make_spec
from cuda_graph_emulator import EmulatedGraph

ON = GRAPHS_ON


# ---- the decision ----------------------------------------------------------------------------
def ok(**changes):
    args = dict(on_nan="stop", dataset_class=False, precision="fp32", flat=True, full_batches=100, epochs=10)
    return {**args, **changes}


def test_graphs_are_used_on_cuda_where_the_step_allows_and_each_fallback_says_why():
    assert decide("auto", "cuda", **ok()) == Decision(True, ON)
    assert decide("on", "cuda", **ok(precision="bf16")).use and decide("on", "cuda", **ok(precision="tf32")).use
    cases = {
        ("off", "cuda", ()): "off (--cuda-graphs off)",
        ("on", "cpu", ()): "off: CUDA graphs need a CUDA device, this run is on cpu",
        ("auto", "mps", ()): "off: CUDA graphs need a CUDA device, this run is on mps",
        ("on", "cuda", (("on_nan", "skip"),)): "off: --on-nan skip checks every step's loss on the host",
        ("on", "cuda", (("dataset_class", True),)):
            "off: batches come from your Dataset class through a DataLoader and may vary in shape",
        ("on", "cuda", (("precision", "fp16"),)):
            "off: fp16's gradient scaler checks every step for overflow on the host",
        ("on", "cuda", (("flat", False),)): "off: the parameters are not of one dtype and device",
        ("on", "cuda", (("distributed", True),)): "off: a run of several processes (DDP) steps eagerly",
        ("on", "cuda", (("full_batches", 0),)):
            "off: the batch size is above the training rows, so there is no full batch",
        ("auto", "cuda", (("full_batches", 7), ("epochs", 20))):
            "off: 140 steps are too few to repay a capture (--cuda-graphs on captures anyway)",
    }
    for (mode, device, changes), said in cases.items():
        assert decide(mode, device, **ok(**dict(changes))) == Decision(False, said)
    assert decide("on", "cuda", **ok(full_batches=7, epochs=20)).use  # on: short runs too
    assert decide("auto", "cuda", **ok(full_batches=10, epochs=20)).use  # 200 steps: worth it


def test_an_unknown_mode_is_refused_in_one_line(tmp_path):
    r = warm_cli.run([sys.executable, "-m", "tui", "run", "--dataset", "iris", "--cuda-graphs", "always",
                      "--runs-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --cuda-graphs must be auto | on | off, got 'always'"]


# ---- the static buffers: the DataLoader's batches ----------------------------------------------
def test_the_static_buffer_gather_visits_the_dataloaders_batches_over_epochs():
    n, bs = 103, 16  # 6 full batches and a tail of 7
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1) * torch.tensor([1.0, -1.0])
    y = torch.arange(n) * 10
    g_loader, g_ours = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(x, y), bs, shuffle=True, generator=g_loader)
    step = GraphedStep(torch.nn.Identity(), lambda out, yb: out.sum(), lambda: None, x, y, bs, 0.0, None)
    assert step.full == 6
    for epoch in range(3):
        order = fast_order(n, g_ours)
        skip = 2 if epoch == 1 else 0  # a resume inside the epoch starts at its batch
        step.start_epoch(order, skip, 0.0)
        expected = list(loader)
        for i in range(skip, step.full):
            xb, yb = step.gather()
            assert torch.equal(xb, expected[i][0]) and torch.equal(yb, expected[i][1]), (epoch, i)
            step.pos.add_(1)  # the body's counter
        tail = order[step.full * bs:]  # the eager tail, as the trainer takes it
        assert torch.equal(x[tail], expected[-1][0]) and len(tail) == 7
    assert torch.equal(g_loader.get_state(), g_ours.get_state())


# ---- the graphed loop on a CPU ------------------------------------------------------------------
@pytest.fixture
def graphed(monkeypatch):
    return fake_cuda_graphs(monkeypatch)


CASES = {  # what test_exactness covers: Dropout, BatchNorm, Conv2d, clipping, each optimizer and schedule
    "dropout SGD momentum, onecycle": {"data.dataset": "wine", "model.layers": "Linear(32), ReLU(), Dropout(0.2)",
                                       "train.optimizer": "SGD", "train.momentum": 0.9, "train.lr": 0.05,
                                       "train.scheduler": "onecycle", "train.batch_size": 16},
    "batchnorm Adam, clip, step": {"data.dataset": "diabetes", "model.layers": "Linear(32), BatchNorm1d(), ReLU()",
                                   "train.grad_clip": 0.5, "train.scheduler": "step", "train.step_size": 1,
                                   "train.batch_size": 20},
    "conv AdamW, cosine": {"data.dataset": "digits", "model.layers": "Unflatten(1, (1, 8, 8)), Conv2d(4, 3), ReLU(), "
                           "MaxPool2d(2), Flatten()", "train.optimizer": "AdamW", "train.weight_decay": 0.05,
                           "train.scheduler": "cosine", "train.batch_size": 64},
    "RMSprop, plateau, bf16": {"data.dataset": "sine", "model.layers": "Linear(32), Tanh()", "train.optimizer":
                               "RMSprop", "train.momentum": 0.5, "train.lr": 0.003, "train.scheduler": "plateau",
                               "train.plateau_patience": 0, "train.batch_size": 32, "train.precision": "bf16"},
}


def run(tmp_path, name, emit=None, on_trainer=None, **spec):
    events: list[dict] = []

    def handed(e):
        events.append(e)
        if emit:
            emit(e)

    overrides = {"train.epochs": 3, "train.seed": 3, "train.patience": 0, "train.threads": 1, "run.name": name, **spec}
    try:
        _, folder = job.run(make_spec(tmp_path, **overrides), handed, on_trainer=on_trainer)
    except Interrupted:
        folder = None
    return folder, events


def weights(folder):
    return checkpoint.load(folder.checkpoint_path("last"))


def assert_same(a, b):
    for part in ("model", "optimizer"):
        ta, tb = a[part], b[part]
        if part == "optimizer":
            ta = {f"{i}.{k}": v for i, s in ta["state"].items() for k, v in s.items()}
            tb = {f"{i}.{k}": v for i, s in tb["state"].items() for k, v in s.items()}
        assert ta.keys() == tb.keys()
        for k in ta:
            assert torch.equal(ta[k], tb[k]) if isinstance(ta[k], torch.Tensor) else ta[k] == tb[k], (part, k)


@pytest.mark.parametrize("case", CASES)
def test_the_graphed_loop_gives_the_eager_engines_weights(tmp_path, graphed, case):
    made, _ = graphed
    eager, eager_events = run(tmp_path, "eager", **CASES[case], **{"train.cuda_graphs": "off"})
    assert not made and eager_events[0]["cuda_graphs"] == "off"
    ours, events = run(tmp_path, "graphed", **CASES[case])
    assert len(made) == 1 and isinstance(made[0].graph, EmulatedGraph) and made[0].graph.ops
    assert events[0]["cuda_graphs"] == ON
    captured = [e for e in events if e["event"] == "cuda_graph"]
    assert len(captured) == 1 and captured[0]["captured"] and captured[0]["warmup_steps"] == 3
    assert captured[0]["step"] == 4 and captured[0]["epoch"] == 1
    per_epoch = events[0]["steps_per_epoch"]
    full = made[0].full
    assert made[0].graph.replays == 3 * full - 3  # every full batch after the warm-up; the tails ran eagerly
    assert per_epoch in (full, full + 1)
    assert_same(weights(eager), weights(ours))
    ev = lambda es: [(e["train_loss"], e["val_loss"], e["lr"]) for e in es if e["event"] == "epoch"]  # noqa: E731
    assert ev(eager_events) == ev(events)


def test_a_failed_capture_leaves_the_run_eager_and_says_so(tmp_path, graphed):
    made, emulator = graphed
    emulator.fail_after = 25  # mid-capture: the ops recorded so far must leave no trace
    eager, _ = run(tmp_path, "eager", **CASES["batchnorm Adam, clip, step"], **{"train.cuda_graphs": "off"})
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO())
    ours, events = run(tmp_path, "failed", emit=console, **CASES["batchnorm Adam, clip, step"])
    failed = [e for e in events if e["event"] == "cuda_graph"]
    assert len(failed) == 1 and not failed[0]["captured"] and "out of memory" in failed[0]["reason"]
    assert made[0].graph is None and made[0].failed
    assert emulator.stranded == 0  # nothing the failed capture made was still held when its pool was given back
    assert_same(weights(eager), weights(ours))
    assert ("cuda graph: not captured (out of memory: CUDA out of memory. Tried to allocate 2.00 GiB); training goes "
            "on without one") in out.getvalue()
    state_ = RunState(Path("."))
    for e in events:
        state_.apply(e)
    assert state_.cuda_graph_text() == "no CUDA graph: out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"


def test_a_graphed_run_stopped_mid_epoch_resumes_to_the_same_bits(tmp_path, graphed):
    made, _ = graphed
    spec = {**CASES["dropout SGD momentum, onecycle"], "train.log_interval": 1e-6}
    straight, _ = run(tmp_path, "straight", **spec)
    trainers: list = []

    def stop_in_epoch_2(e):
        if e["event"] == "step" and e["epoch"] == 2 and e["epoch_step"] == 5:
            trainers[0].requests.stop = "SIGTERM"

    _, events = run(tmp_path, "part", emit=stop_in_epoch_2, on_trainer=trainers.append, **spec)
    assert [e for e in events if e["event"] == "end"][-1]["status"] == "interrupted"
    run_dir = events[0]["run_dir"]
    position = checkpoint.load(f"{run_dir}/last.pt")["progress"]
    assert position["epoch"] == 1 and position["epoch_step"] == 6  # inside epoch 2 (served at the next step)
    resumed: list[dict] = []
    job.resume(run_dir, resumed.append)
    assert resumed[0]["cuda_graphs"] == ON and len(made) == 3 and made[-1].graph is not None  # captured anew
    # warm-up: steps 16, 17 (epoch 2's last full batches), then 19 (epoch 3's first; 18 was epoch 2's short tail,
    # always eager); captured at 20
    assert position["step"] == 15 and made[-1].full == 8
    assert [(e["epoch"], e["step"]) for e in resumed if e["event"] == "cuda_graph"] == [(3, 20)]
    assert_same(weights(straight), checkpoint.load(f"{run_dir}/last.pt"))


def test_off_cuda_the_start_event_says_why_and_the_console_stays_quiet(tmp_path):
    out = io.StringIO()
    _, events = run(tmp_path, "cpu", emit=Console(out=out, err=io.StringIO()), **{"data.dataset": "iris"})
    assert events[0]["cuda_graphs"] == "off: CUDA graphs need a CUDA device, this run is on cpu"
    assert not [e for e in events if e["event"] == "cuda_graph"]
    assert "cuda graph" not in out.getvalue()
    state = RunState(Path("."))
    state.apply(events[0])
    assert state.cuda_graph_text() == ""


def test_cuda_graphs_asked_for_outright_off_cuda_are_said_not_to_be_used(tmp_path):
    """--cuda-graphs on on the CPU was dropped without a word on the console (only the start event said why): the
    switch asked for outright is answered among the notes; auto stays quiet (above)."""
    out = io.StringIO()
    _, events = run(tmp_path, "cpu", emit=Console(out=out, err=io.StringIO()),
                    **{"data.dataset": "iris", "train.cuda_graphs": "on"})
    said = "--cuda-graphs on asked for, but CUDA graphs need a CUDA device, this run is on cpu: the steps run eagerly"
    assert said in events[0]["notices"] and f"  note: {said}" in out.getvalue().splitlines()


def test_readers_say_whether_a_cuda_run_replays_a_graph():
    state = RunState(Path("."))
    state.apply({"event": "start", "device": "cuda:0 (NVIDIA H200)", "cuda_graphs": ON})
    assert state.cuda_graph_text() == "CUDA graph (capturing after warm-up)"
    state.apply({"event": "cuda_graph", "epoch": 1, "step": 4, "captured": True, "seconds": 0.4, "warmup_steps": 3,
                 "memory_mb": 12.0})
    assert state.cuda_graph_text() == "CUDA graph (captured in 0.40 s)"
    state.apply({"event": "start", "device": "cuda:0 (NVIDIA H200)",
                 "cuda_graphs": "off: --on-nan skip checks every step's loss on the host"})
    assert state.cuda_graph_text() == "no CUDA graph: --on-nan skip checks every step's loss on the host"
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO())
    console({"event": "cuda_graph", "time": 0.0, "epoch": 1, "step": 4, "captured": True, "seconds": 0.4,
             "warmup_steps": 3, "memory_mb": 12.0})
    assert out.getvalue() == ("cuda graph: captured at step 4 in 0.40 s after 3 warm-up steps; "
                              "its memory pool holds 12 MiB\n")


def test_the_training_pane_says_whether_a_graph_replays_the_steps():
    from tui.app.training_pane import telemetry_text

    state = RunState(Path("."))
    state.apply({"event": "start", "device": "cuda:0 (NVIDIA H200)", "precision": "fp32 (exact)",
                 "cuda_graphs": "off: fp16's gradient scaler checks every step for overflow on the host"})
    assert telemetry_text(state).plain.startswith(
        "cuda:0 (NVIDIA H200) · no CUDA graph: fp16's gradient scaler checks every step for overflow on the host")
    state.apply({"event": "start", "device": "cuda:0 (NVIDIA H200)", "precision": "bf16 autocast (not bit-exact)",
                 "cuda_graphs": ON})
    state.apply({"event": "cuda_graph", "epoch": 1, "step": 4, "captured": True, "seconds": 0.31, "warmup_steps": 3,
                 "memory_mb": 40.0})
    assert telemetry_text(state).plain.startswith(
        "cuda:0 (NVIDIA H200) · bf16 autocast (not bit-exact) · CUDA graph (captured in 0.31 s)")


# ---- the emulator keeps a graph's rules, so the tests above can fail ----------------------------
def test_the_emulated_graph_replays_kernels_not_python_and_its_capture_runs_nothing(monkeypatch):
    from cuda_graph_emulator import CAPTURING, install

    emulator = install(monkeypatch)
    state, calls = torch.zeros(3), []
    host = {"lr": 1.0}

    def body():
        calls.append(1)
        state.add_(torch.ones(3), alpha=host["lr"])  # a host float: frozen into the graph at capture
        return state * 2  # a tensor the capture makes

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        made = body()
    assert torch.equal(state, torch.zeros(3)) and made.isnan().all()  # capturing ran nothing; its tensors: garbage
    host["lr"] = 100.0
    graph.replay()
    graph.replay()
    assert calls == [1] and torch.equal(state, torch.full((3,), 2.0))  # the Python ran once; lr 1.0 was frozen
    assert torch.equal(made, torch.full((3,), 4.0))  # the graph's own tensors hold the last replay's values
    assert emulator.graphs == [graph] and emulator.reserved() == made.untyped_storage().nbytes() + 3 * 4

    with pytest.raises(RuntimeError, match=CAPTURING):  # the host cannot read a tensor mid-capture
        with torch.cuda.graph(torch.cuda.CUDAGraph()):
            state.add_(1.0)
            float(state.sum())
    assert torch.equal(state, torch.full((3,), 2.0))  # the failed capture left no trace either

    torch.manual_seed(0)
    eager = [torch.rand(2) for _ in range(3)]
    torch.manual_seed(0)
    drawn = torch.empty(2)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        drawn.copy_(torch.rand(2))
    replayed = []
    for _ in range(3):
        graph.replay()
        replayed.append(drawn.clone())
    assert all(torch.equal(a, b) for a, b in zip(eager, replayed))  # random ops: the eager draws, in order


def test_a_step_that_counts_its_batches_on_the_host_is_caught(tmp_path, graphed, monkeypatch):
    """What the emulator is for: a body keeping its batch counter in Python replays one batch over and over on a
    GPU. Re-running the Python at each replay would pass it; the emulator does not."""
    def gather_by_host_counter(self):
        self.host_pos = getattr(self, "host_pos", -1) + 1
        idx = self.rows[self.host_pos % self.full]
        return self.x.index_select(0, idx), self.y.index_select(0, idx)

    eager, _ = run(tmp_path, "eager", **CASES["batchnorm Adam, clip, step"], **{"train.cuda_graphs": "off"})
    monkeypatch.setattr(GraphedStep, "gather", gather_by_host_counter)
    ours, _ = run(tmp_path, "host-counter", **CASES["batchnorm Adam, clip, step"])
    a, b = weights(eager)["model"], weights(ours)["model"]
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_a_capture_refused_for_a_host_sync_leaves_the_run_eager(tmp_path, graphed, monkeypatch):
    """An op that needs the host (here a finite-loss check, as --on-nan skip makes) cannot be captured: the
    capture fails with CUDA's error, the step runs eagerly, and the run ends with the eager engine's bits."""
    made, _ = graphed
    plain_body = GraphedStep.body

    def checking_body(self):
        if not torch.isfinite(self.loss_sum):
            raise AssertionError("not reached")
        plain_body(self)

    eager, _ = run(tmp_path, "eager", **CASES["dropout SGD momentum, onecycle"], **{"train.cuda_graphs": "off"})
    monkeypatch.setattr(GraphedStep, "body", checking_body)
    ours, events = run(tmp_path, "syncing", **CASES["dropout SGD momentum, onecycle"])
    failed = [e for e in events if e["event"] == "cuda_graph"]
    assert len(failed) == 1 and not failed[0]["captured"]
    assert failed[0]["reason"].startswith("RuntimeError: CUDA error: operation not permitted when stream is capturing")
    assert made[0].graph is None and made[0].failed
    assert_same(weights(eager), weights(ours))


def test_a_graph_that_would_leave_the_eager_steps_too_little_memory_is_dropped(tmp_path, graphed):
    """A model that fits without a graph must not run out of memory because of one: the epoch's last batch, the
    optimizer and validation run beside the graph's pool, in what the warm-up showed they take. Where that room
    is not there, the graph goes before its first replay and the run is the eager one; where it is, it stays."""
    import gc

    made, emulator = graphed
    case = CASES["batchnorm Adam, clip, step"]
    eager, _ = run(tmp_path, "eager", **case, **{"train.cuda_graphs": "off"})
    _, events = run(tmp_path, "roomy", **case)
    pool = round([e for e in events if e["event"] == "cuda_graph"][0]["memory_mb"] * 2**20)
    made.clear()
    gc.collect()
    assert pool > 0 and emulator.reserved() == 0  # a run's graph is given back with it

    need = 3 * pool  # what the warm-up's eager steps left cached
    for name, beside, kept in (("tight", need // 2, False), ("enough", need, True)):
        emulator.cached, emulator.fraction = need, (pool + beside) / emulator.total
        folder, events = run(tmp_path, name, **case)
        said = [e for e in events if e["event"] == "cuda_graph"]
        assert len(said) == 1 and said[0]["captured"] == kept, (name, said)
        assert (made[-1].graph is not None) == kept and made[-1].failed != kept and emulator.stranded == 0
        if not kept:
            mib = 2**20
            assert said[0]["reason"] == (f"out of memory: beside the graph's pool ({pool / mib:,.0f} MiB) the eager "
                                         f"steps would have {need // 2 / mib:,.0f} MiB, and they need "
                                         f"{need / mib:,.0f} MiB")
        assert_same(weights(eager), weights(folder))
        made.clear()
        gc.collect()

    emulator.cached, emulator.fraction = 0, pool / 2 / emulator.total  # the capture itself cannot fit
    folder, events = run(tmp_path, "small", **case)
    said = [e for e in events if e["event"] == "cuda_graph"]
    assert not said[0]["captured"] and said[0]["reason"].startswith("out of memory: CUDA out of memory.")
    assert_same(weights(eager), weights(folder))


def test_an_out_of_memory_at_every_op_of_the_capture_leaves_the_eager_run_and_no_memory_held(tmp_path, graphed):
    """The fault at every point of the capture, forward and backward alike: each leaves the run eager with the
    eager bits, and nothing the failed capture made still held when its pool is given back (a backward that
    failed midway keeps its unrun nodes, and their activations, queued until the next backward)."""
    made, emulator = graphed
    case = {**CASES["batchnorm Adam, clip, step"], "train.epochs": 1}
    eager, _ = run(tmp_path, "eager", **case, **{"train.cuda_graphs": "off"})
    run(tmp_path, "captured", **case)
    ops = len(made[0].graph.ops)
    assert ops > 30  # gather, forward, loss, backward, clipping, the loss sum, the counter
    for at in range(ops):
        emulator.fail_after = at
        folder, events = run(tmp_path, f"oom-at-{at}", **case)
        said = [e for e in events if e["event"] == "cuda_graph"]
        assert len(said) == 1 and not said[0]["captured"] and said[0]["reason"].startswith("out of memory"), at
        assert emulator.stranded == 0, at
        assert_same(weights(eager), weights(folder))


def test_an_out_of_memory_at_every_op_of_a_warm_up_step_leaves_the_eager_run(tmp_path, graphed):
    """An H200 ran out of memory in a warm-up step (its side stream caches blocks beside the main stream's) under
    a cap the eager run fitted in. Now the run goes on eagerly, the step run again from the state before it:
    BatchNorm's running statistics, Dropout's random state, the loss sum. At every op of the first and the last
    warm-up step, the weights, buffers included, are the eager run's."""
    made, emulator = graphed
    case = {**CASES["batchnorm Adam, clip, step"], "train.epochs": 1,
            "model.layers": "Linear(32), ReLU(), BatchNorm1d(), Dropout(0.2), Linear(16), ReLU()"}
    eager, _ = run(tmp_path, "eager", **case, **{"train.cuda_graphs": "off"})
    emulator.warmups, emulator.warmup_ops = 0, []
    run(tmp_path, "counted", **case)
    ops = emulator.warmup_ops[0].ops  # gather, forward, loss, backward, clipping, the loss sum, the counter
    assert ops > 30 and len(emulator.warmup_ops) == 3
    for step in (0, 2):  # every third op of the first step, every eighth of the last (and its last): CI's time
        for at in sorted({*range(0, ops, 8 if step else 3), ops - 1}):
            emulator.warmups, emulator.warmup_fault = 0, (step, at)
            folder, events = run(tmp_path, f"oom-{step}-{at}", **case)
            said = [e for e in events if e["event"] == "cuda_graph"]
            assert len(said) == 1 and not said[0]["captured"], (step, at)
            assert said[0]["reason"].startswith(f"out of memory in warm-up step {step + 1} of 3"), said
            assert_same(weights(eager), weights(folder))
