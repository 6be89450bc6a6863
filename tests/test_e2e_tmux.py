"""End to end in a real terminal: the `torchtui` screen inside tmux, driven by keys.

Each test runs in its own folder with its own tmux server (killed in teardown, with any
training worker left behind), uses the `torchtui` of this Python's environment, and waits on
the screen and the run folder with deadlines, never fixed sleeps. tmux is required: without
it these tests fail (CI installs it).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tui.core import checkpoint
from tui.core.launch import children
from tui.core.runs import process_alive

from tmux_helpers import (
    EPOCH_LINE,
    Tmux,
    events,
    is_worker,
    kill_workers,
    the_run,
    tmux_binary,
    wait_until,
    worker_log,
    worker_pid,
)

SCREEN_TIMEOUT = 60.0

# iris, with more epochs than any test waits for and no early stopping: still training whenever a key arrives
IRIS_TOML = """\
[data]
dataset = "iris"
[train]
epochs = 20000
batch_size = 4
device = "cpu"
patience = 0
"""

# A Dataset class whose training batches the test lets through (scan and validation read items one
# by one, ungated): the worker reads a batch only while the count in the file ALLOWED allows it (no
# file: no limit), and each takes longer than the log interval (0.25 s), so every step is logged. So
# the test decides how many epochs the log holds when it looks, instead of racing the worker's clock:
# the screen's log shows the last few epochs only.
SLOW_DATASET = '''\
import time

import torch
from torch.utils.data import Dataset

ALLOWED = @ALLOWED@


def allowed():
    try:
        with open(ALLOWED) as f:
            return int(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return 0


class Slow(Dataset):
    def __init__(self, n=64, delay=0.1):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = (self.x.sum(1) > 0).long()
        self.delay = delay
        self.batches = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __getitems__(self, idx):  # the DataLoader's batched read: training only
        self.batches += 1
        while (limit := allowed()) is not None and self.batches > limit:
            time.sleep(0.05)
        time.sleep(self.delay)
        return [(self.x[i], self.y[i]) for i in idx]
'''
SLOW_BATCHES = 7  # per epoch: 51 training items in batches of 8
SLOW_TOML = """\
[data]
dataset = "slowdata:Slow"
[train]
epochs = 100
batch_size = 8
device = "cpu"
patience = 0
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    kill_workers(tmp_path)


@pytest.fixture
def terminals(workdir):
    """Make Tmux servers in the test's folder; every one is killed at the end."""
    made: list[Tmux] = []

    def make(width=100, height=30, env=None, name="tt"):
        try:
            tmux_binary()
            missing = ""
        except RuntimeError as e:
            missing = str(e)
        if missing:  # no tmux: the test fails with the reason; it is never skipped
            pytest.fail(missing, pytrace=False)
        t = Tmux(workdir, width, height, env, name)
        made.append(t)
        return t

    yield make
    for t in made:
        t.kill()


def _explain(run_dir, cwd):
    return lambda: worker_log(run_dir() if callable(run_dir) else run_dir, cwd)


def _event(run_dir: Path, predicate, timeout: float, what: str) -> dict:
    return wait_until(lambda: next((e for e in events(run_dir) if predicate(e)), None), timeout,
                      f"{what} in {run_dir / 'events.jsonl'}" + worker_log(run_dir, run_dir.parent.parent))


def allow_batches(path: Path, n: int | None) -> None:
    """Let the Slow dataset's worker read training batches up to number n (None: no limit); the file is
    replaced at once, never seen half written."""
    if n is None:
        path.unlink(missing_ok=True)
        return
    part = path.with_name(path.name + ".part")
    part.write_text(str(n))
    os.replace(part, path)


def _status_line(name: str, status: str = "running") -> re.Pattern:
    return re.compile(rf"● {status}\s+{re.escape(name)}\s+epoch \d+/\d+")


# ---- a. the check: train, save now, stop -----------------------------------------------------
def test_train_save_now_and_stop(workdir, terminals):
    (workdir / "exp.toml").write_text(IRIS_TOML)
    term = terminals(100, 30).start("--config", "exp.toml")
    explain = _explain(None, workdir)
    term.wait_for("sepal_length", SCREEN_TIMEOUT, explain)  # the Data pane has read iris: training can start
    term.send("C-r")
    term.wait_for(EPOCH_LINE, SCREEN_TIMEOUT, explain)
    run_dir = the_run(workdir)
    assert re.fullmatch(r"iris-\d{8}-\d{6}", run_dir.name), run_dir.name
    pid = worker_pid(run_dir)
    assert is_worker(pid), f"worker {pid} of {run_dir.name} is not running" + worker_log(run_dir, workdir)

    term.send("C-s")
    # the app says what it saved, with the event's numbers: watched from the key on, as its toast
    # shows for a few seconds only
    # said as the status line says where training is: the epoch in progress and its step there
    toast = re.compile(r"saved last\.pt (?:in epoch (\d+) at step (\d+)/\d+|after epoch (\d+))")
    in_epoch, at_step, after = toast.search(term.wait_for(toast, SCREEN_TIMEOUT, explain)).groups()
    saved = _event(run_dir, lambda e: e.get("event") == "checkpoint" and e.get("requested") is True, 30,
                   'a checkpoint event with "requested": true')
    assert saved["which"] == "last" and Path(saved["path"]).name == "last.pt", saved
    shown = (int(in_epoch) - 1, int(at_step)) if in_epoch else (int(after), 0)
    assert (saved["epoch"], saved["epoch_step"]) == shown, (saved, shown)
    assert (run_dir / "last.pt").is_file()
    assert (run_dir / "spec.toml").is_file()

    screen = term.capture()
    (workdir / "screen-after-save.txt").write_text(screen)
    assert _status_line(run_dir.name).search(screen), f"no running status line for {run_dir.name}:\n{screen}"
    assert EPOCH_LINE.search(screen), screen

    term.send("C-x")
    end = _event(run_dir, lambda e: e.get("event") == "end", 30, "the end event")
    assert end["status"] == "interrupted", end
    wait_until(lambda: not process_alive(pid), 30, f"worker {pid} to exit after ctrl+x")
    term.wait_for(_status_line(run_dir.name, "interrupted"), 15, explain)
    assert (run_dir / "last.pt").is_file()


# ---- b. issue 5: the terminal goes away, the run does not ---------------------------------------------
def test_hangup_leaves_worker_training_and_reattach_shows_history(workdir, terminals):
    gate = workdir / "allowed-batches"
    allow_batches(gate, SLOW_BATCHES + 1)  # epoch 1 and a step of epoch 2; then the worker waits for the test
    (workdir / "slowdata.py").write_text(SLOW_DATASET.replace("@ALLOWED@", repr(str(gate))))
    (workdir / "exp.toml").write_text(SLOW_TOML)
    first = terminals(100, 30, name="tt-first").start("--config", "exp.toml")
    explain = _explain(None, workdir)
    first.wait_for("51 training items", SCREEN_TIMEOUT, explain)  # the Dataset class was read
    first.send("C-r")
    # the epoch's log line, whole (its rate is the status line's: the log line ends at lr, and '* best')
    screen = first.wait_for(r"epoch\s+1/100\s+train.*lr \S+  \* best", SCREEN_TIMEOUT, explain)
    epoch1 = re.search(r"epoch\s+1/100\s+train.*lr \S+  \* best", screen).group(0)
    run_dir = the_run(workdir)
    pid = worker_pid(run_dir)
    app_pid = first.pane_pid()
    assert process_alive(app_pid)
    if Path("/proc/self").exists():
        assert b"torchtui" in Path(f"/proc/{app_pid}/cmdline").read_bytes(), "the pane process is not the app"

    first.kill()  # SIGHUP to the app, as when the SSH connection drops
    t0 = time.monotonic()
    wait_until(lambda: not process_alive(app_pid), 30, f"the app (pid {app_pid}) to exit on SIGHUP")
    exit_seconds = time.monotonic() - t0
    print(f"app exited {exit_seconds:.2f} s after the hang-up")

    assert is_worker(pid), f"the worker {pid} died with the terminal" + worker_log(run_dir, workdir)
    progress = lambda: sum(e.get("event") in ("step", "epoch") for e in events(run_dir))  # noqa: E731
    before = progress()
    allow_batches(gate, SLOW_BATCHES + 2)  # one more batch
    wait_until(lambda: progress() > before, 30, "the orphaned worker to log more steps")
    assert is_worker(pid)
    assert not any(e.get("event") == "end" for e in events(run_dir))
    # it waits at the gate in epoch 2: the log holds epoch 1 only, so its line cannot scroll away
    assert [e["epoch"] for e in events(run_dir) if e.get("event") == "epoch"] == [1]

    second = terminals(100, 30, name="tt-second").start()  # no arguments: attaches to the running run
    explain = _explain(run_dir, workdir)
    screen = second.wait_for(_status_line(run_dir.name), SCREEN_TIMEOUT, explain)
    screen = second.wait_for(lambda s: epoch1 in s, SCREEN_TIMEOUT, explain)  # the history from before the hang-up
    assert f"pid {pid}" in screen
    # and it follows live: an epoch finished after attaching shows up
    done = max(e["epoch"] for e in events(run_dir) if e.get("event") == "epoch")
    allow_batches(gate, None)
    second.wait_for(rf"epoch\s+{done + 1}/100\s+train", SCREEN_TIMEOUT, explain)

    second.send("C-x")
    end = _event(run_dir, lambda e: e.get("event") == "end", 30, "the end event")
    assert end["status"] == "interrupted", end
    wait_until(lambda: not process_alive(pid), 30, f"worker {pid} to exit after ctrl+x")
    second.wait_for(_status_line(run_dir.name, "interrupted"), 15, explain)


# ---- c. NO_COLOR at 80x24 ----------------------------------------------------------------------------
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
BASIC_GREYS = {30, 37, 90, 97, 40, 47, 100, 107}
PALETTE_GREYS = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}


def chromatic_colors(screen: str) -> set[str]:
    """The colours with a hue in a `capture-pane -e` screen (greys and default colours left out)."""
    found = set()
    for m in SGR.finditer(screen):
        params = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", m.group(1)) if p != ""]
        i = 0
        while i < len(params):
            p = params[i]
            if p in (38, 48, 58) and i + 1 < len(params):
                if params[i + 1] == 5 and i + 2 < len(params):
                    if params[i + 2] not in PALETTE_GREYS:
                        found.add(f"{p};5;{params[i + 2]}")
                    i += 3
                    continue
                if params[i + 1] == 2 and i + 4 < len(params):
                    rgb = params[i + 2:i + 5]
                    if max(rgb) - min(rgb) > 8:
                        found.add(f"{p};2;{';'.join(map(str, rgb))}")
                    i += 5
                    continue
            if (30 <= p <= 37 or 40 <= p <= 47 or 90 <= p <= 97 or 100 <= p <= 107) and p not in BASIC_GREYS:
                found.add(str(p))
            i += 1
    return found


def test_no_color_at_80x24(workdir, terminals):
    plain = terminals(80, 24, env={"NO_COLOR": "1"}, name="tt-nocolor").start("--dataset", "iris")
    coloured = terminals(80, 24, name="tt-color").start("--dataset", "iris")  # the control: colours are seen
    explain = _explain(None, workdir)
    for term in (plain, coloured):
        screen = term.wait_for("sepal_length", SCREEN_TIMEOUT, explain)
        assert "1 Data" in screen and "iris" in screen and "too small" not in screen, screen
    captures = {}
    for pane, marker in (("data", "sepal_length"), ("training", "no training yet")):
        for name, term in (("no-color", plain), ("color", coloured)):
            if pane == "training":
                term.send("4")
                term.wait_for(marker, 15, explain)
            captures[name, pane] = term.capture(escapes=True)
            (workdir / f"capture-{name}-{pane}.txt").write_text(captures[name, pane])
    for pane in ("data", "training"):
        assert SGR.search(captures["color", pane]) and chromatic_colors(captures["color", pane]), \
            f"the control capture ({pane} pane, no NO_COLOR) shows no colour: the check would prove nothing"
        hues = chromatic_colors(captures["no-color", pane])
        assert not hues, f"NO_COLOR=1 but the {pane} pane draws colours {sorted(hues)[:10]}"


# ---- issue 13: a run of two processes from the screen -------------------------------------------------
DDP_TOML = IRIS_TOML + '[run]\nprocesses = 2\n'


def test_the_screen_trains_two_processes_shows_them_and_ctrl_x_stops_both(workdir, terminals):
    (workdir / "exp.toml").write_text(DDP_TOML)
    term = terminals(100, 30).start("--config", "exp.toml")
    explain = _explain(None, workdir)
    term.wait_for("sepal_length", SCREEN_TIMEOUT, explain)
    term.send("F4")  # the Hyperparameters pane shows the field the TOML set
    term.wait_for(re.compile(r"Processes \(DDP\)\s+2"), SCREEN_TIMEOUT, explain)
    term.send("C-r")
    term.wait_for(EPOCH_LINE, SCREEN_TIMEOUT, explain)
    run_dir = the_run(workdir)
    start = next(e for e in events(run_dir) if e.get("event") == "start")
    assert start["world_size"] == 2 and isinstance(start["launcher_pid"], int), start
    launcher = start["launcher_pid"]
    ranks = wait_until(lambda: (k if len(k := children(launcher)) == 2 else None), 30, "the launcher's 2 processes")
    assert start["pid"] in ranks
    term.wait_for(re.escape("2 processes (DDP)"), SCREEN_TIMEOUT, explain)  # the Training pane says how many
    term.wait_for(re.compile(r"rank 0: [\d,]+/s CPU \d+%\s+rank 1: [\d,]+/s CPU \d+%"), SCREEN_TIMEOUT, explain)

    term.send("C-x")
    end = _event(run_dir, lambda e: e.get("event") == "end", 60, "the end event")
    assert end["status"] == "interrupted", end
    wait_until(lambda: not any(is_worker(pid) for pid in [launcher, *ranks]), 30,
               f"the launcher {launcher} and its processes {ranks} to exit after ctrl+x")
    term.wait_for(_status_line(run_dir.name, "interrupted"), 15, explain)
    saved = checkpoint.load(run_dir / "last.pt")["progress"]
    assert (saved["epoch"], saved["step"]) == (end["epochs"], end["step"])


# ---- issue 14: ctrl+e -> PyTorch script, from the screen ----------------------------------------------
def test_ctrl_e_exports_the_run_as_a_script_that_runs_and_retrains_it(workdir, terminals):
    import subprocess
    import sys

    import torch

    (workdir / "exp.toml").write_text('[data]\ndataset = "iris"\n[train]\nepochs = 2\nbatch_size = 16\n'
                                      'device = "cpu"\npatience = 0\nthreads = 1\n')
    term = terminals(100, 30).start("--config", "exp.toml")
    explain = _explain(None, workdir)
    term.wait_for("sepal_length", SCREEN_TIMEOUT, explain)
    term.send("C-r")
    wait_until(lambda: list((workdir / "checkpoints").glob("*/events.jsonl")), SCREEN_TIMEOUT, "the run folder")
    run_dir = the_run(workdir)
    term.wait_for(_status_line(run_dir.name, "done"), SCREEN_TIMEOUT, _explain(run_dir, workdir))

    term.send("C-e")
    term.wait_for(f"PyTorch script \\(\\.py\\) of run {run_dir.name}", 15, explain)
    term.send("Down")
    term.wait_for(r"train\.py", 15, explain)
    term.send("Enter")
    term.wait_for(r"wrote train\.py", SCREEN_TIMEOUT, explain)  # the notification names the file
    assert (workdir / "train.py").is_file() and not (workdir / "experiment.toml").exists()

    work = workdir / "elsewhere"
    work.mkdir()
    done = subprocess.run([sys.executable, "-W", "error", str(workdir / "train.py")], cwd=work, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    last = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    mine = torch.load(work / "model.pt", weights_only=True)
    assert mine.keys() == last.keys() and all(torch.equal(mine[k], v) for k, v in last.items())
