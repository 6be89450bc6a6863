"""The whole story, as a user lives it, in a real terminal (tmux) - issue 11's end-to-end check.

Type a learning rate into the Hyperparameters pane, go to Training with its key, ctrl+r: the run trains
and the pane shows it; stop it. Load it (ctrl+o), change the learning rate, ctrl+r: a new run trains in
a new folder and the first run's folder stays byte for byte as it was. The Runs pane lists both and
overlays their curves. Change the running run's learning rate (and its epochs, to end it) from the
Training pane and see the marker; kill its worker; ctrl+r resumes it; it ends with the weights of the
same run never interrupted, with the same change at the same step (run headless here).

Waits on the screen and on the run folders with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tui.core import checkpoint
from tui.core.compare import distinct_parts

import warm_cli
from tmux_helpers import (
    EPOCH_LINE,
    Tmux,
    events,
    is_worker,
    kill_workers,
    run_dirs,
    tmux_binary,
    wait_until,
    worker_log,
)

SCREEN = 60.0
# digits, 180 steps an epoch with batch 8: slow enough that a change typed on screen lands in a known epoch,
# more epochs than the story waits for (the live change ends the second run), no early stopping
DIGITS_TOML = """\
[data]
dataset = "digits"
[model]
layers = ["Linear(32)", "ReLU()"]
[train]
epochs = 20000
batch_size = 8
device = "cpu"
patience = 0
"""
PIPE_BYTES = 4096  # the reference run's stdout pipe: it blocks a few dozen steps ahead of what is read


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the screen's worker and the reference run alike
    yield tmp_path
    kill_workers(tmp_path)


def folder_bytes(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


def of_kind(run_dir: Path, kind: str) -> list[dict]:
    return [e for e in events(run_dir) if e.get("event") == kind]


def the_new_run(cwd: Path, known: set[Path]) -> Path:
    def found():
        new = [d for d in run_dirs(cwd) if d not in known and of_kind(d, "start")]
        return new[0] if new else None
    return wait_until(found, SCREEN, "a new run folder with a start event")


def set_lr(term: Tmux, value: str) -> None:
    """Hyperparameters pane, into the Learning rate field (the 3rd stop after the tabs: Loss, Optimizer, Learning
    rate; the pane is no stop of its own), typing over what it held (a field selects its text on focus)."""
    term.send("F4")
    term.wait_for("Learning rate", 10)
    term.send("Tab", "Tab", "Tab")
    term.send("-l", value)
    term.wait_for(re.compile(rf"Learning rate\s+{re.escape(value)}\s"), 10)


def reference_run(cwd: Path, spec_toml: Path, change_step: int, change: list[str]) -> Path:
    """The second run never interrupted: its spec, headless, with the same change asked at the same step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tui", "run", str(spec_toml), "--name", "reference",
                             "--log-interval", "0.000001", "--json"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, pipesize=PIPE_BYTES, env=env)
    ref = cwd / "checkpoints" / "reference"
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # well before the step: the run blocks on its pipe, a few dozen steps ahead
            e = json.loads(line)
            if e["event"] == "step" and e["step"] >= max(change_step - 150, 1):
                break
        asked = warm_cli.run([sys.executable, "-m", "tui", "change", str(ref), *change,
                              "--at-step", str(change_step)], capture_output=True, text=True, env=env)
        assert asked.returncode == 0, asked.stderr
        for _ in proc.stdout:
            pass
        assert proc.wait(timeout=600) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return ref


def test_the_whole_story_in_a_terminal(workdir):
    tmux_binary()  # without tmux this fails with the reason; it is never skipped
    (workdir / "exp.toml").write_text(DIGITS_TOML)
    with Tmux(workdir, 100, 30, name="story") as term:
        term.start("--config", "exp.toml")
        term.wait_for("p0_0", SCREEN)  # the Data pane has read digits

        # 1. a value typed into a field, Training by its key, ctrl+r: it trains, and the Training pane shows it
        set_lr(term, "0.02")
        term.send("F5")
        term.wait_for("no training yet", 10)
        term.send("C-r")
        term.wait_for(EPOCH_LINE, SCREEN, lambda: worker_log(None, workdir))
        [first] = run_dirs(workdir)
        assert "lr = 0.02\n" in (first / "spec.toml").read_text()
        term.wait_for(re.compile(rf"● running\s+{re.escape(first.name)}"), 10)

        # 2. stop
        term.send("C-x")
        wait_until(lambda: [e for e in of_kind(first, "end") if e["status"] == "interrupted"], 60,
                   "the first run to stop")
        term.wait_for(re.compile(rf"● interrupted\s+{re.escape(first.name)}"), 15)
        first_pid = of_kind(first, "start")[-1]["pid"]
        wait_until(lambda: not is_worker(first_pid), 30, "the first run's worker to exit")
        # the worker's output is the run's worker.log (filed by the worker at its start): the run is complete
        wait_until(lambda: (first / "worker.log").exists(), 30, "the first run's worker.log")
        before = folder_bytes(first)

        # 3. load it, change the learning rate, ctrl+r: a new run in a new folder; the old one untouched
        term.send("C-o")
        term.wait_for(first.name, 10)
        term.send("Enter")
        term.wait_for(f"loaded {first.name}", 15)
        set_lr(term, "0.005")
        term.wait_for(re.escape("ctrl+r trains a new run"), 10)  # the pane says what ctrl+r will do
        term.send("C-r")
        second = the_new_run(workdir, {first})
        assert second != first and "lr = 0.005\n" in (second / "spec.toml").read_text()
        term.wait_for(re.compile(rf"● running\s+{re.escape(second.name)}"), SCREEN)
        wait_until(lambda: len(of_kind(second, "epoch")) >= 1, SCREEN, "an epoch of the second run")

        # 4. the Runs pane lists both and overlays them (a legend names each selected run)
        term.send("F7")
        term.wait_for(lambda s: "2 runs in checkpoints/" in s and first.name in s and second.name in s, 15)
        term.send("Space", "Down", "Space")
        term.wait_for("2 selected", 15)
        # the difference, lr; each run by its label (its number in the list, the part of its name that differs)
        # in the plot's legend (notices may still cover the right half, where the table names them again)
        labels = [f"●{n} {part}" for n, part in enumerate(distinct_parts([second.name, first.name]), 1)]
        legend = re.compile(r"\s+".join(map(re.escape, labels)))
        term.wait_for(lambda s: "train.lr" in s and legend.search(s), 30)

        # 5. change the running run: a new rate, and epochs that end it; the marker on the curves
        term.send("F5")
        term.send("C-p")  # paused, so the new total of epochs is known to be ahead of it
        wait_until(lambda: of_kind(second, "paused"), 30, "the run to pause")
        term.send("c")
        term.wait_for("Learning rate", 10)
        done = len(of_kind(second, "epoch"))
        total = done + 3
        term.send("-l", "0.001")  # over the rate (a field selects its text when it takes the focus)
        term.send("Tab", "Tab")  # past Patience, to Epochs
        term.send("-l", str(total))
        term.wait_for(f"enter asks for lr 0.001, epochs {total}", 10)
        term.send("Enter")
        [change] = wait_until(lambda: of_kind(second, "change"), 30, "the change event")  # applied while paused
        assert change.get("lr") == 0.001 and change.get("epochs") == total and not change.get("refused"), change
        term.wait_for("lr 0.001", 15)  # the marker's label on the loss chart
        # (seen while paused: waited for after ctrl+p, the 3 epochs left could end the run before the kill below)
        term.send("C-p")

        # 6. the worker is killed; ctrl+r resumes it; it ends like the run never interrupted
        pid = of_kind(second, "start")[-1]["pid"]
        os.kill(pid, signal.SIGKILL)
        term.wait_for(re.compile(rf"● interrupted\s+{re.escape(second.name)}"), 30)  # seen gone: ctrl+r resumes
        term.send("C-r")
        try:
            wait_until(lambda: len(of_kind(second, "start")) >= 2, 60, "the resume's start event")
        except AssertionError as e:
            logs = {p.name: p.read_text()[-1500:] for p in (workdir / "checkpoints").glob(".*.log")}
            raise AssertionError(f"{e}\n{term.capture()}\n{events(second)[-3:]}\n{logs}") from None
        end = wait_until(lambda: [e for e in of_kind(second, "end") if e["status"] == "done"], 300,
                         "the resumed run to finish")[-1]
        assert end["epochs"] == total
        term.wait_for(re.compile(rf"● done\s+{re.escape(second.name)}"), 30)

    assert folder_bytes(first) == before  # the first run's folder, byte for byte
    ref = reference_run(workdir, second / "spec.toml", change["step"], ["--lr", "0.001", "--epochs", str(total)])
    [ref_change] = of_kind(ref, "change")
    assert ref_change["step"] == change["step"]
    resumed, straight = checkpoint.load(second / "last.pt")["model"], checkpoint.load(ref / "last.pt")["model"]
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in resumed)
