"""Signals on a headless run. Ctrl+C / SIGTERM / SIGHUP: save the exact position, exit 130 / 143, resume exactly;
SIGUSR1: save now; SIGUSR2: pause / resume. None of them changes the final weights.

A request is served at the first step boundary after its signal, wherever that is: the tests assert what
holds wherever it lands (the position is exact and consistent, the weights are unchanged), never a step
window, and they wait for events, never for time. See `Child` for why a signal cannot miss the run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from tui.core import job
from tui.core.runs import RunFolder
from tui.core.spec import Spec

from conftest import make_spec

EPOCHS = 4  # a signal sent in epoch 2 lands within a few dozen steps (see Child): long before the end
ARGS = ["--dataset", "digits", "--epochs", str(EPOCHS), "--batch-size", "8", "--device", "cpu", "--seed", "3",
        "--layers", "Linear(32), ReLU(), Dropout(0.2)", "--scheduler", "onecycle", "--json"]
PIPE_BYTES = 4096  # the child's stdout pipe: one page, about 20 step events
LIMIT = 180.0  # a child still running after this is killed (a hang fails the test instead of stalling the suite)
# One torch thread, in the children and in the reference run alike: with two on a box whose other core is
# busy, a step waits on a descheduled thread and training crawls (a hundred times slower was seen)
THREADS = 1
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}


class Child:
    """`torchtui run --json` in a child process; the test reads its events one by one, when it needs them.

    The child logs every step (log_interval 1e-6) to a one-page pipe and flushes each event, so it
    blocks as soon as it is about 40 events (a full pipe and a full read buffer) ahead of what the test
    has read: a signal sent after reading a step event lands within a few dozen steps of it, however
    slow the test's process is. Its stderr goes to a file: a second pipe nobody reads could fill up.
    """

    def __init__(self, tmp_path, name: str, ignore_hup: bool = False, args: list[str] = ARGS):
        def child():
            if ignore_hup:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
        config = tmp_path / "every-step.toml"
        config.write_text(Spec().with_overrides({"train.log_interval": 1e-6}).to_toml())
        self.err_path = tmp_path / f"{name}.stderr"
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tui", "run", str(config), *args,
                                          "--runs-dir", str(tmp_path), "--name", name],
                                         stdout=subprocess.PIPE, stderr=err, text=True, pipesize=PIPE_BYTES,
                                         env=ENV, preexec_fn=child)
        self.watchdog = threading.Timer(LIMIT, self.proc.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.events: list[dict] = []  # every event read so far
        self.start = self.next("start")
        self.per_epoch = self.start["steps_per_epoch"]

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def next(self, kind: str, **fields) -> dict:
        """The next event of this kind (with these field values); the events before it are kept."""
        for line in self.proc.stdout:
            event = json.loads(line)
            self.events.append(event)
            if event["event"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event
        raise AssertionError(f"the run ended before a {kind} event {fields or ''}: {self.stderr()}")

    def finish(self) -> list[dict]:
        """Read to the end and wait for the exit; all the run's events."""
        for line in self.proc.stdout:
            self.events.append(json.loads(line))
        self.proc.wait()
        self.watchdog.cancel()
        return self.events

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def launch(tmp_path):
    """Start children in tmp_path; any left running is killed at the end."""
    made: list[Child] = []

    def make(name: str, ignore_hup: bool = False, args: list[str] = ARGS) -> Child:
        made.append(Child(tmp_path, name, ignore_hup, args))
        return made[-1]

    yield make
    for child in made:
        child.stop()


def exact_position(end: dict, per_epoch: int) -> None:
    """A stop's position: completed epochs plus the batches done in the epoch in progress. A stop served
    after an epoch's last step counts that epoch as in progress, all its batches done."""
    assert 0 < end["epoch_step"] <= per_epoch, end
    assert end["step"] == end["epochs"] * per_epoch + end["epoch_step"], end


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The same run, uninterrupted, in-process."""
    spec = make_spec(tmp_path_factory.mktemp("straight"), data__dataset="digits", train__epochs=EPOCHS,
                     train__batch_size=8, train__seed=3, model__layers="Linear(32), ReLU(), Dropout(0.2)",
                     train__scheduler="onecycle", train__log_interval=0.01, train__threads=THREADS)
    _, folder = job.run(spec, lambda e: None)  # the thread count is the spec's: the children's auto, here set
    return torch.load(folder.checkpoint_path("last"), weights_only=True)["model"]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 143)])
def test_a_signal_saves_mid_epoch_and_resume_is_exact(tmp_path, launch, straight, sig, code):
    child = launch("r")
    seen = child.next("step", epoch=2)  # one epoch is done: the position is past an epoch end
    child.send(sig)
    events = child.finish()
    assert child.proc.returncode == code, child.stderr()
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "interrupted" and end["reason"] == signal.Signals(sig).name
    assert end["step"] >= seen["step"] and end["epochs"] >= 1  # served after the signal, before the run's end
    exact_position(end, child.per_epoch)
    assert max(e["epoch"] for e in events if e["event"] == "epoch") == end["epochs"]  # the one in progress is not
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["progress"]
    assert (saved["epoch"], saved["epoch_step"], saved["step"]) == (end["epochs"], end["epoch_step"], end["step"])

    resumed = subprocess.run([sys.executable, "-m", "tui", "resume", str(tmp_path / "r")], capture_output=True,
                             text=True, timeout=LIMIT, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model"]
    assert same_weights(straight, final)


def test_sighup_stays_ignored_under_nohup(tmp_path, launch, straight):
    child = launch("n", ignore_hup=True)
    child.next("step", epoch=2)
    child.send(signal.SIGHUP)  # lands within a few dozen steps, mid-run
    events = child.finish()
    assert child.proc.returncode == 0, child.stderr()
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done"
    final = torch.load(tmp_path / "n" / "last.pt", weights_only=True)["model"]
    assert same_weights(straight, final)


def test_a_second_signal_exits_at_once(launch):
    child = launch("twice")
    child.next("step", epoch=1)
    child.send(signal.SIGSTOP)  # hold it, so both signals arrive before it runs on
    child.send(signal.SIGTERM)
    child.send(signal.SIGINT)
    child.send(signal.SIGCONT)
    child.finish()
    assert child.proc.returncode in (130, 143), child.stderr()


def test_save_now_and_pause_by_signal_leave_the_weights_exact(tmp_path, launch, straight):
    """SIGUSR1 saves the exact position, SIGUSR2 pauses and resumes; neither moves the weights."""
    child = launch("ctl")
    per = child.per_epoch
    seen = child.next("step", epoch=2)
    child.send(signal.SIGUSR1)
    saved = child.next("checkpoint", requested=True)
    assert saved["which"] == "last" and saved["step"] >= seen["step"]
    # at the step boundary after the signal: mid-epoch, or on an epoch's last step the epoch-end save
    assert saved["epoch"] == saved["step"] // per >= 1
    epoch_end = any(e["event"] == "epoch" and e["step"] == saved["step"] for e in child.events)
    assert epoch_end == (saved["step"] % per == 0)
    lasts = [e for e in child.events if e["event"] == "checkpoint" and e["which"] == "last"]
    assert len(lasts) == saved["epoch"] + (not epoch_end)  # the epoch-end saves, and one more only mid-epoch

    child.send(signal.SIGUSR2)
    paused = child.next("paused")
    assert set(paused) == {"event", "epoch", "step", "why", "time"} and paused["step"] >= saved["step"]
    assert paused["why"] == "asked"  # (not a launcher's Ctrl+Z)
    position = (paused["epoch"], paused["step"])
    child.send(signal.SIGUSR1)  # a save while paused is served at once, at the paused position
    while_paused = child.next("checkpoint")
    assert while_paused["requested"] is True and while_paused["step"] == paused["step"]
    ckpt = torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["progress"]
    assert ckpt["step"] == paused["step"] and ckpt["epoch"] == paused["epoch"] - 1
    assert 0 < ckpt["epoch_step"] == paused["step"] - per * ckpt["epoch"] <= per  # per: the epoch's last step
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "ctl", copy)  # the run as the paused save left it
    held_from = time.monotonic()
    time.sleep(0.4)  # a pause long enough to tell apart from the epoch's time
    assert torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["progress"]["step"] == paused["step"]
    held = time.monotonic() - held_from
    child.send(signal.SIGUSR2)
    resumed = child.next("resumed")
    assert (resumed["epoch"], resumed["step"]) == position and resumed["paused_seconds"] >= held

    child.finish()
    assert child.proc.returncode == 0, child.stderr()
    events = RunFolder(tmp_path / "ctl").events()
    assert events[-1]["status"] == "done"
    kinds = [e["event"] for e in events]
    assert kinds.count("paused") == kinds.count("resumed") == 1
    # each epoch's time leaves its pauses out
    epoch_rows = {e["epoch"]: e for e in events if e["event"] == "epoch"}
    assert sorted(epoch_rows) == list(range(1, EPOCHS + 1))
    start_time = next(e["time"] for e in events if e["event"] == "start")
    for epoch in {e["epoch"] for e in events if e["event"] == "resumed"}:
        before = epoch_rows[epoch - 1]["time"] if epoch > 1 else start_time
        paused_for = sum(e["paused_seconds"] for e in events if e["event"] == "resumed" and e["epoch"] == epoch)
        assert epoch_rows[epoch]["seconds"] < epoch_rows[epoch]["time"] - before - paused_for + 0.01, epoch
    final = torch.load(tmp_path / "ctl" / "last.pt", weights_only=True)["model"]
    assert same_weights(straight, final)

    for e in events:  # what a shared box's user watches rides on every step event
        if e["event"] == "step":
            assert e["cpu_percent"] >= 0 and e["rss_mb"] > 50 and "gpu_mem_mb" not in e

    resumed_copy = subprocess.run([sys.executable, "-m", "tui", "resume", str(copy)], capture_output=True, text=True,
                                  timeout=LIMIT, env=ENV)
    assert resumed_copy.returncode == 0, resumed_copy.stderr
    final = torch.load(copy / "last.pt", weights_only=True)["model"]
    assert same_weights(straight, final)


def test_a_stop_while_paused_saves_and_exits(tmp_path, launch):
    child = launch("ps")
    child.next("step", epoch=1)
    child.send(signal.SIGUSR2)
    paused = child.next("paused")
    child.send(signal.SIGTERM)
    events = child.finish()
    assert child.proc.returncode == 143, child.stderr()
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "interrupted" and end["step"] == paused["step"]
    exact_position(end, child.per_epoch)
    assert not any(e["event"] == "resumed" for e in events)
    saved = torch.load(tmp_path / "ps" / "last.pt", weights_only=True)["progress"]
    assert (saved["epoch"], saved["epoch_step"], saved["step"]) == (end["epochs"], end["epoch_step"], end["step"])


def digest(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_paused_runs_folder_renamed_is_written_where_it_went_never_into_a_new_run_of_its_name(tmp_path, launch,
                                                                                                 straight):
    """A run found its folder by path at each save: renamed while the run was paused, and a new run given the name,
    the old run's last.pt replaced the new run's, and its final evaluation read the new run's best.pt (a size
    mismatch, a traceback; an audit). It follows its folder, through the event log it holds open."""
    child = launch("hj")
    child.next("step", epoch=2)
    child.send(signal.SIGUSR2)
    child.next("paused")
    (tmp_path / "hj").rename(tmp_path / "hj_moved")
    _, other = job.run(make_spec(tmp_path, data__dataset="iris", train__epochs=2, run__name="hj",
                                 run__runs_dir=str(tmp_path)), lambda e: None)
    theirs = {name: digest(other.path / name) for name in ("last.pt", "best.pt", "events.jsonl", "spec.toml")}
    child.send(signal.SIGUSR2)
    events = child.finish()
    assert child.proc.returncode == 0, child.stderr()
    assert {name: digest(other.path / name) for name in theirs} == theirs  # the new run's folder: untouched
    assert sorted(p.name for p in other.path.iterdir()) == sorted([*theirs, "val_predictions.csv"])
    moved = tmp_path / "hj_moved"
    after = events[next(i for i, e in enumerate(events) if e["event"] == "resumed"):]
    saves = [e for e in after if e["event"] == "checkpoint"]
    assert saves and all(e["path"].startswith(str(moved) + os.sep) for e in saves), saves
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done"
    assert any(e["event"] == "evaluation" for e in after)  # of its own best.pt
    assert same_weights(straight, torch.load(moved / "last.pt", weights_only=True)["model"])
    assert RunFolder(moved).events()[-1]["status"] == "done"


def test_a_paused_runs_folder_deleted_stops_it_in_one_line_writing_nothing_where_it_was(tmp_path, launch):
    child = launch("gone")
    child.next("step", epoch=2)
    child.send(signal.SIGUSR2)
    child.next("paused")
    shutil.rmtree(tmp_path / "gone")
    (tmp_path / "gone").mkdir()  # another folder at its path: another run's, say
    (tmp_path / "gone" / "mine.txt").write_text("not the old run's")
    child.send(signal.SIGUSR2)
    events = child.finish()
    assert child.proc.returncode == 1, child.stderr()
    assert [p.name for p in (tmp_path / "gone").iterdir()] == ["mine.txt"]
    error = next(e for e in events if e["event"] == "error")
    assert error["kind"] == "folder_gone" and "was moved or deleted while the run trained" in error["message"]
    lines = [line for line in child.stderr().splitlines() if line.strip()]
    assert lines and "Traceback" not in child.stderr() and "moved or deleted" in lines[-1], child.stderr()


def test_a_save_asked_on_an_epochs_last_step_is_the_epoch_end_save(tmp_path):
    trainers = []
    per_epoch = 10  # iris: 120 training rows in batches of 12

    def ask(event):
        if event["event"] == "step" and event["epoch"] == 2 and event["epoch_step"] == per_epoch - 1:
            trainers[0].requests.save = True  # seen at the boundary after the last step

    spec = make_spec(tmp_path, data__dataset="iris", train__epochs=3, train__batch_size=12, train__log_interval=1e-6)
    events = []
    job.run(spec, lambda e: (events.append(e), ask(e)), on_trainer=trainers.append)
    saves = [e for e in events if e["event"] == "checkpoint"]
    requested = [e for e in saves if e.get("requested")]
    assert len(requested) == 1 and requested[0]["which"] == "last"
    assert (requested[0]["epoch"], requested[0]["step"]) == (2, 2 * per_epoch)  # the epoch-end save, nothing extra
    assert len([e for e in saves if e["which"] == "last"]) == 3
    assert not trainers[0].requests.save and not trainers[0].requests.attention


def test_a_save_while_paused_on_an_epochs_last_step_is_served_at_once_and_resumes_exactly(tmp_path, launch):
    # one step per epoch (iris: 120 training rows, batch 128), so the pause is on an epoch's last step, where a
    # save-now not paused is served by the epoch-end save that follows. Paused, the user waits on it: it is served
    # at once, with the position a stop there saves (the epoch in progress, all its batches done)
    args = ["--dataset", "iris", "--epochs", "60", "--batch-size", "128", "--device", "cpu", "--seed", "3",
            "--layers", "Linear(16), ReLU(), Dropout(0.2)", "--json"]
    child = launch("last", args=args)
    assert child.per_epoch == 1
    child.next("step", epoch=3)
    child.send(signal.SIGUSR2)
    paused = child.next("paused")
    child.send(signal.SIGUSR1)
    saved = child.next("checkpoint", requested=True)
    assert saved["step"] == paused["step"] and saved["which"] == "last"
    ckpt = torch.load(tmp_path / "last" / "last.pt", weights_only=True)["progress"]
    assert (ckpt["epoch"], ckpt["epoch_step"], ckpt["step"]) == (paused["epoch"] - 1, 1, paused["step"])
    child.proc.kill()  # still paused: that save is all there is of the epoch in progress
    child.proc.wait()
    resumed = subprocess.run([sys.executable, "-m", "tui", "resume", str(tmp_path / "last")], capture_output=True,
                             text=True, timeout=LIMIT, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run([sys.executable, "-m", "tui", "run", *args, "--runs-dir", str(tmp_path), "--name",
                               "straight"], capture_output=True, text=True, timeout=LIMIT, env=ENV)
    assert straight.returncode == 0, straight.stderr
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "last" / "last.pt", weights_only=True)
    assert a["progress"]["epoch"] == b["progress"]["epoch"] == 60 and same_weights(a["model"], b["model"])
    epochs = [e["epoch"] for e in RunFolder(tmp_path / "last").events() if e["event"] == "epoch"]
    assert epochs == sorted(set(epochs)) == list(range(1, 61))  # the epoch in progress counted once


@pytest.mark.parametrize("module", ["typer", "pandas", "numpy"])
def test_a_ctrl_c_while_modules_import_ends_the_command_at_once_with_130(tmp_path, module):
    # typer: imported by the CLI itself, where a KeyboardInterrupt was a traceback; numpy: imported by torch's C
    # module, which swallowed it - the run trained on as if no key had been pressed
    script = os.path.join(os.path.dirname(__file__), "ctrl_c_at_import.py")
    done = subprocess.run([sys.executable, script, module, "run", "--dataset", "iris", "--epochs", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 130 and "Traceback" not in done.stderr, (done.returncode, done.stderr[-2000:])
    assert not (tmp_path / "checkpoints").exists()  # nothing was started, nothing is left


def test_a_run_stopped_by_ctrl_z_is_listed_as_suspended_until_it_goes_on(tmp_path):
    """A headless run stopped by Ctrl+Z (SIGTSTP; SIGSTOP here, which the test can send) was listed as running,
    though it trained nothing: `torchtui runs` says it is suspended and how it goes on, until it does."""
    from tui.core.follow import list_runs

    run = Child(tmp_path, "zed")
    run.next("step")
    run.send(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while not [r for r in list_runs(tmp_path) if r.suspended] and time.monotonic() < deadline:
            time.sleep(0.05)
        [info] = list_runs(tmp_path)
        assert info.status == "running" and info.suspended and info.pid == run.proc.pid
        table = subprocess.run([sys.executable, "-m", "tui", "runs", "--runs-dir", str(tmp_path)], capture_output=True,
                               text=True, timeout=60)
        said = f"running, suspended (fg, or kill -CONT -- -{os.getpgid(run.proc.pid)})"
        assert said in table.stdout, table.stdout + table.stderr
        listed = subprocess.run([sys.executable, "-m", "tui", "runs", "--runs-dir", str(tmp_path), "--json"],
                                capture_output=True, text=True, timeout=60)
        assert json.loads(listed.stdout)["runs"][0]["suspended"] is True
    finally:
        run.send(signal.SIGCONT)
    [info] = list_runs(tmp_path)
    assert info.status == "running" and not info.suspended
    run.send(signal.SIGTERM)
    assert run.next("end")["status"] == "interrupted" and run.proc.wait(60) == 143
