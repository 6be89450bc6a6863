"""Shared helpers: small real runs in temporary folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# One torch thread for the tests' own training and every process they start, unless a test asks for more (set
# before torch is imported here). CI has two cores and runs two workers: a run computing with two threads beside
# the other worker's waits on a descheduled thread, and its OpenMP threads spin while they wait - CPU the other
# worker's tests needed (the GPU rehearsal, the exported scripts). test_threads.py and test_signals.py set their own.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import textual.constants  # noqa: E402

from tui.core import job  # noqa: E402
from tui.core.spec import Spec  # noqa: E402

# The screen's tests run without Textual's animations (the tabs' underline slides for a third of a second on every
# pane switch, and a pilot waits until it is still): what they check is where keys and focus go and what the panes
# say, which the animation does not change. The apps they start in tmux inherit it. A user's screen keeps them.
os.environ["TEXTUAL_ANIMATIONS"] = "none"
textual.constants.TEXTUAL_ANIMATIONS = "none"  # (read at import, by the snapshot plugin before this file)


def make_spec(tmp_path, **overrides) -> Spec:
    """A CPU spec writing into tmp_path; keys are dotted paths with '__' for '.'."""
    base = {"train.device": "cpu", "run.runs_dir": str(tmp_path / "runs")}
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return Spec().with_overrides(base)


def trained_before_the_rule(monkeypatch, spec: Spec, field: str, patches: list[tuple[object, str, object]]):
    """A run trained as a torchtui before a versioned reading rule did: `patches` (object, attribute, value) put
    the rule's code back as it was, and its checkpoint's preprocessing lacks the rule's `field`. Returns (the run
    folder, its saved preprocessing); a test then resumes it, which must not be 'data changed'."""
    from tui.core import checkpoint, preprocess

    with monkeypatch.context() as old:
        for owner, name, value in patches:
            old.setattr(owner, name, value)
        real = preprocess.Preprocessor.to_dict
        old.setattr(preprocess.Preprocessor, "to_dict",
                    lambda self: {k: v for k, v in real(self).items() if k != field})
        _, folder = job.run(spec, lambda e: None)
    saved = checkpoint.load(folder.path / "last.pt")["preprocessing"]
    assert field not in saved
    return folder, saved


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


def fake_cuda_graphs(monkeypatch):
    """Runs take the graphed path on the CPU (unless --cuda-graphs off), and cuda_graph.py's own warm-up, capture
    and replay run against torch.cuda's capture API emulated on the CPU (cuda_graph_emulator.py: a replay runs the
    recorded kernels, not the Python; capturing runs nothing; a host sync mid-capture is refused). Returns (the
    GraphedSteps made, the emulator): emulator.fail_after makes each capture fail there as an out-of-memory would."""
    from tui.core import cuda_graph
    from tui.core.cuda_graph import Decision

    from cuda_graph_emulator import install

    def decide(mode, *args, **kwargs):
        return Decision(True, GRAPHS_ON) if mode != "off" else Decision(False, "off")

    monkeypatch.setattr(cuda_graph, "decide", decide)
    emulator = install(monkeypatch)
    return emulator.steps, emulator


def writer_stand_in(events: Path) -> subprocess.Popen:
    """A live process holding a run folder's one-writer lock on its event log, as a worker holds it
    (RunFolder.hold): a `sleep` is a live process number and no more, which readers tell from a run's writer
    (runs.lock_held: a killed run's number may belong to another program). Returned once it holds the lock;
    the caller's own hold of the folder must be released first."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(600)")
    worker = subprocess.Popen([sys.executable, "-c", code, str(events)], stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None and worker.stdout.readline().strip() == "held"
    return worker
