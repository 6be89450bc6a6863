"""Shared helpers: small real runs in temporary folders."""

from __future__ import annotations

import pytest

from tui.core import job
from tui.core.spec import Spec


def make_spec(tmp_path, **overrides) -> Spec:
    """A CPU spec writing into tmp_path; keys are dotted paths with '__' for '.'."""
    base = {"train.device": "cpu", "run.runs_dir": str(tmp_path / "runs")}
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return Spec().with_overrides(base)


def train(tmp_path, **overrides):
    """Run a real training; returns (outcome, run folder, events)."""
    events: list[dict] = []
    outcome, folder = job.run(make_spec(tmp_path, **overrides), events.append)
    return outcome, folder, events


@pytest.fixture
def run_training(tmp_path):
    return lambda **kw: train(tmp_path, **kw)


# ---- CUDA graphs on a CPU (tests/test_cuda_graph.py, test_events.py) ------------------------------
GRAPHS_ON = "on: forward and backward replayed as one CUDA graph, the optimizer step eager (the same bits as without)"


class BodyGraph:
    """Stands in for a captured graph on a CPU: a replay runs the captured body, as a replay runs its kernels."""

    def __init__(self, body):
        self.body, self.replays = body, 0

    def replay(self):
        self.replays += 1
        self.body()


def fake_cuda_graphs(monkeypatch):
    """Runs take the graphed path on the CPU (unless --cuda-graphs off): the warm-up steps and the replays run
    the step's body eagerly. Returns (the GraphedSteps made, options): options["fail"] makes the capture fail
    as an out-of-memory would."""
    from tui.core import cuda_graph
    from tui.core.cuda_graph import Capture, Decision, GraphedStep

    made: list = []
    options = {"fail": False}

    def decide(mode, *args, **kwargs):
        return Decision(True, GRAPHS_ON) if mode != "off" else Decision(False, "off")

    def warm_up(self):
        self.body()
        self.warm += 1

    def capture(self):
        if options["fail"]:
            self.failed = True
            self.body()
            return Capture(False, 0.01, self.warm, 0.0, "out of memory: CUDA out of memory. Tried to allocate 2 GiB")
        self.graph = BodyGraph(self.body)
        self.graph.replay()
        return Capture(True, 0.02, self.warm, 12.0)

    original_init = GraphedStep.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.capture = True  # as on CUDA
        made.append(self)

    monkeypatch.setattr(cuda_graph, "decide", decide)
    monkeypatch.setattr(GraphedStep, "_warm_up", warm_up)
    monkeypatch.setattr(GraphedStep, "_capture", capture)
    monkeypatch.setattr(GraphedStep, "__init__", init)
    return made, options
