"""An audit of runs of several processes (DDP, gloo, CPU, torch's elastic launcher): job control through the
launcher, a launcher killed, the export of a DDP run, refusals said once and at once. Real processes, 2 ranks at
most, loopback only, tiny built-in datasets; every wait is for a condition, with a timeout."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from tui.core.launch import children
from tui.core.runs import _proc_state

import warm_cli

# (test_distributed's own fixture is not used here)
from test_distributed import ENV, STARTED, _next, launch, tui, weights

ORPHANS: list[int] = []  # ranks whose launcher a test killed: not our children, killed by pid at the end


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    for p in STARTED:
        if p.poll() is None:
            ORPHANS.extend(children(p.pid))
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, sig)
    while ORPHANS:  # first: they hold the launcher's pipes open
        with contextlib.suppress(ProcessLookupError):
            os.kill(ORPHANS.pop(), signal.SIGKILL)
    while STARTED:
        STARTED.pop().communicate(timeout=60)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def next_event(p: subprocess.Popen, predicate, timeout: float = 120) -> dict:
    """The next event on the launcher's stdout that matches; one that does not come within `timeout` fails the test
    (the launcher is killed, which ends the read) rather than hold it till the run ends."""
    def kill() -> None:  # the ranks too: they hold the pipe open, and may be stopped
        for pid in [*children(p.pid), p.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        return _next(p, predicate)
    finally:
        watchdog.cancel()


def ranks_of(p: subprocess.Popen) -> list[int]:
    return wait_for(lambda: sorted(children(p.pid)) if len(children(p.pid)) >= 2 else None, 60, "two ranks")


def wine(runs: Path, name: str, *extra: str, epochs: int = 500, batch: int = 2) -> list[str]:
    return ["run", "--dataset", "wine", "--epochs", str(epochs), "--patience", "0", "--batch-size", str(batch),
            "--runs-dir", str(runs), "--name", name, "--json", *extra]


# ---- 1. Ctrl+Z: every process waits at an agreement, SIGCONT wakes them, past the collective timeout --------------
def test_ctrl_z_has_every_rank_wait_past_the_collective_timeout_and_the_run_goes_on_with_the_same_bits(tmp_path):
    """Ctrl+Z for longer than the collective timeout (10 minutes; here 6 s): stopped inside a collective, the
    processes found it timed out when woken, and the run failed ("another process of this run stopped"). Now the
    launcher stops, the ranks wait at their next agreement (not stopped: `T` is the launcher alone), `runs` says the
    run is suspended and names the launcher to wake, and woken the run goes on and ends with the bits of a run
    suspended before it trained (where the launcher still stops its processes: they have not joined a collective)."""
    env = {**ENV, "TORCHTUI_DDP_TIMEOUT": "6"}
    early = launch(*wine(tmp_path, "early", "--nproc-per-node", "2", epochs=20, batch=8), env=env)
    ranks = ranks_of(early)
    early.send_signal(signal.SIGTSTP)  # while they start: no agreement to wait at yet, so SIGSTOP
    wait_for(lambda: all(_proc_state(pid) == "T" for pid in [early.pid, *ranks]), 15,
             f"the launcher and its ranks stopped: {[(pid, _proc_state(pid)) for pid in [early.pid, *ranks]]}")
    early.send_signal(signal.SIGCONT)
    wait_for(lambda: not any(_proc_state(pid) == "T" for pid in [early.pid, *ranks]), 15, "all woken")
    _, err = early.communicate(timeout=180)  # (its events read to the end: a full pipe would hold rank 0)
    assert early.returncode == 0, err

    p = launch(*wine(tmp_path, "long", "--nproc-per-node", "2", epochs=20, batch=8), env=env)
    next_event(p, lambda e: e["event"] == "step")
    ranks = ranks_of(p)
    p.send_signal(signal.SIGTSTP)  # what the terminal sends the launcher's process group for Ctrl+Z
    paused = next_event(p, lambda e: e["event"] == "paused")  # at the ranks' next agreement
    began = time.monotonic()
    assert paused["why"] == "suspended", paused
    wait_for(lambda: _proc_state(p.pid) == "T", 15, "the launcher stopped")
    assert not any(_proc_state(pid) == "T" for pid in ranks), [(pid, _proc_state(pid)) for pid in ranks]
    listed = tui("runs", "--runs-dir", str(tmp_path), "--json", timeout=60)
    assert next(r for r in json.loads(listed.stdout)["runs"] if r["run"].endswith("long"))["suspended"] is True
    text = tui("runs", "--runs-dir", str(tmp_path), timeout=60).stdout
    assert f"paused, suspended (fg, or kill -CONT {p.pid})" in text, text  # the launcher: it wakes the ranks
    time.sleep(max(0.0, 10 - (time.monotonic() - began)))  # well past the 6 s timeout: the point of the test
    p.send_signal(signal.SIGCONT)  # `fg`
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err
    said = [json.loads(line) for line in out.strip().splitlines()]
    resumed = next(e for e in said if e["event"] == "resumed")
    assert resumed["step"] == paused["step"] and resumed["paused_seconds"] >= 10, (paused, resumed)
    assert not [e for e in said if e["event"] == "step" and paused["step"] < e["step"] and e["time"] < resumed["time"]]
    assert (said[-1]["event"], said[-1]["status"]) == ("end", "done"), said[-1]
    suspended_long, suspended_early = weights(tmp_path / "long"), weights(tmp_path / "early")
    assert all(torch.equal(suspended_long[k], suspended_early[k]) for k in suspended_early)


# ---- 2. a launcher killed with SIGKILL takes its ranks with it ---------------------------------------------------
@pytest.mark.parametrize("when", ["starting", "training"])
def test_a_launcher_killed_leaves_no_rank_behind(tmp_path, when):
    p = launch(*wine(tmp_path, "orphans", "--nproc-per-node", "2"))
    if when == "training":
        next_event(p, lambda e: e["event"] == "step")
    ranks = ranks_of(p)  # starting: they are importing, and would wait for the launcher's store for 10 minutes
    ORPHANS.extend(ranks)
    p.kill()
    p.wait()
    wait_for(lambda: all(_proc_state(pid) in ("", "Z") for pid in ranks), 30,
             f"the ranks gone: {[(pid, _proc_state(pid)) for pid in ranks]}")
    if when == "training":  # stopped as by SIGTERM: rank 0 saved where they stopped
        logged = [json.loads(line) for line in (tmp_path / "orphans" / "events.jsonl").read_text().splitlines()]
        assert (logged[-1]["event"], logged[-1]["status"]) == ("end", "interrupted"), logged[-1]
        assert (tmp_path / "orphans" / "last.pt").exists()


# ---- 4. a refusal at the run folder's creation: one line, at once ------------------------------------------------
def test_a_name_taken_with_two_processes_is_refused_in_one_line(tmp_path):
    (tmp_path / "taken").mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    began = time.monotonic()
    r = tui("run", "--dataset", "iris", "--epochs", "1", "--nproc-per-node", "2", "--name", "taken", "--runs-dir",
            str(tmp_path))
    took = time.monotonic() - began
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: run folder "), (r.stderr, round(took))
    assert "rank 1" not in r.stderr and took < 30  # (a deadlock leaving the group held it till the SIGKILL)
    # 8. and the launcher's logs folder is gone with it (torch's agent left an empty torchelastic_* behind)
    assert not [p.name for p in temp.iterdir() if p.name.startswith(("torchelastic_", "torchtui-launch-"))]


# ---- 5. machines that never all come: a refusal, with its JSON line ----------------------------------------------
def test_a_rendezvous_timeout_is_a_refusal_with_its_json_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = tui("run", "--dataset", "iris", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-timeout", "3", "--name", "alone", "--runs-dir", str(tmp_path), "--json")
    assert r.returncode == 2, r.stderr
    said = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["event"], e["kind"]) for e in said] == [("error", "refused")], r.stdout
    assert said[0]["message"].startswith(f"the rendezvous at 127.0.0.1:{port} timed out after 3 s")
    assert r.stderr.strip().splitlines() == [f"error: {said[0]['message']}"]


# ---- 6. torchrun --max-restarts without --name: refused before it trains -----------------------------------------
def test_torchrun_max_restarts_without_a_name_is_refused_before_training(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                        "--max-restarts", "1", "-m", "tui", "run", "--dataset", "iris", "--epochs", "1",
                        "--runs-dir", str(tmp_path)], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode != 0
    assert r.stderr.count("error: torchrun --max-restarts restarts the group after a failure") == 1, r.stderr
    assert not any(tmp_path.iterdir())  # nothing trained, no run folder


# ---- 7. a signal the launcher passes on twice is one request ------------------------------------------------------
class _Requests:
    stop = ""


class _Trainer:
    requests = _Requests()


@pytest.mark.parametrize("launched", [True, False])
def test_a_repeated_stop_signal_in_a_launched_rank_is_the_same_request(monkeypatch, launched):
    from tui.signals import StopOnSignal

    if launched:
        monkeypatch.setenv("RANK", "1")
        monkeypatch.setenv("WORLD_SIZE", "2")
    else:
        monkeypatch.delenv("RANK", raising=False)

    def exit_now(code):
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    stopper = StopOnSignal()
    stopper.attach(_Trainer())
    stopper._handle(signal.SIGHUP, None)
    assert stopper.trainer.requests.stop == "SIGHUP"
    if launched:
        stopper._handle(signal.SIGHUP, None)  # the launcher's second SIGHUP, passed on: still a save and a stop
        with pytest.raises(SystemExit) as out:  # another signal: go now
            stopper._handle(signal.SIGINT, None)
        assert out.value.code == 130
    else:
        with pytest.raises(SystemExit) as out:  # one process asked twice: go now
            stopper._handle(signal.SIGHUP, None)
        assert out.value.code == 143


# ---- 3. the export of a DDP run trains the same model: the global batch -------------------------------------------
def test_the_export_of_a_ddp_run_trains_with_the_global_batch(tmp_path):
    import torch

    from tui.core import checkpoint

    r = tui(*wine(tmp_path, "ddp", "--nproc-per-node", "2", epochs=3, batch=8))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "train.py"
    made = tui("export", str(tmp_path / "ddp"), "-o", str(out))
    assert made.returncode == 0 and "not exact: the run trained in 2 processes (DDP) with batch 8 each" in made.stdout
    script = out.read_text()
    assert "\nBATCH_SIZE = 16\n" in script and "# NOT EXACT" in script
    ran = warm_cli.run([sys.executable, str(out), "--out", str(tmp_path / "model.pt"), "--best",
                        str(tmp_path / "best_model.pt")], capture_output=True, text=True, env=ENV, timeout=120,
                       cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    ours, theirs = torch.load(tmp_path / "model.pt", weights_only=True), checkpoint.load(tmp_path / "ddp" / "last.pt")
    for k, v in theirs["model"].items():  # the README's tolerance for N x b against one process at N*b
        assert torch.allclose(ours[k], v, rtol=1e-4, atol=1e-5), (k, (ours[k] - v).abs().max())
    # two machines of one process each record run.processes = "1" (this machine's); the start events say 2
    from tui.core import export
    from tui.core.spec import Spec

    spec = Spec().with_overrides({"data.dataset": "iris", "train.batch_size": 8, "run.processes": "1"})
    made = export._export(spec, "two-machines", None, [], ["cpu"], worlds=[2])
    assert "\nBATCH_SIZE = 16\n" in made.script and any("2 processes (DDP) with batch 8" in d for d in made.differs)
