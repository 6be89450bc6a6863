"""Several processes (issue 13), for real: gloo on the CPU, 2 processes started by `--nproc-per-node` (torch's
elastic launcher) or by torchrun, loopback addresses only. What counts as correct (README): the same model as
one process with the global batch, up to summation order; bit-identical when repeated; a resume after a
kill -9 of a rank, by the agent's restart or by `torchtui resume`, bit-identical to the run never killed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tui.core import checkpoint
from tui.core.distributed import World, from_env, share
from tui.core.launch import children
from tui.core.runs import process_alive

import warm_cli
from conftest import train

TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # DDP vs one process with the global batch, 3 epochs (README)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # gloo on the CPU, on any machine


def tui(*args, timeout=180, env=None, **kwargs):
    return warm_cli.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, env=env or ENV,
                        timeout=timeout, **kwargs)


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def weights(run_dir) -> dict:
    return checkpoint.load(Path(run_dir) / "last.pt")["model"]


def wine(runs, name, *extra, batch=8, epochs=3):
    return ["run", "--dataset", "wine", "--epochs", str(epochs), "--patience", "0", "--batch-size", str(batch),
            "--runs-dir", str(runs), "--name", name, "--json", *extra]



STARTED: list[subprocess.Popen] = []  # the runs a test started and reads as they go


def launch(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`torchtui ARGS` started, its events read by the test as they come (`_next`)."""
    STARTED.append(subprocess.Popen([sys.executable, "-m", "tui", *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env or ENV))
    return STARTED[-1]


@pytest.fixture(autouse=True)
def no_run_left_behind():
    """A test that fails while its run waits (paused, say) leaves no launcher and no ranks training on."""
    yield
    while STARTED:
        p = STARTED.pop()
        if p.poll() is None:
            for pid in children(p.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            p.kill()
            p.communicate()

# ---- pure parts -----------------------------------------------------------------------------------
def test_a_global_batch_is_shared_contiguously_and_as_evenly_as_it_goes():
    assert [share(16, 2, r) for r in range(2)] == [(0, 8), (8, 8)]
    assert [share(7, 3, r) for r in range(3)] == [(0, 3), (3, 2), (5, 2)]
    assert [share(1, 2, r) for r in range(2)] == [(0, 1), (1, 0)]  # a rank may get none: it steps with weight 0
    for rows in range(1, 40):
        parts = [share(rows, 4, r) for r in range(4)]
        assert sum(c for _, c in parts) == rows and all(s1 + c1 == s2 for (s1, c1), (s2, _) in zip(parts, parts[1:]))


def test_torchruns_variables_make_the_world():
    assert from_env({}) == World()
    assert from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == World(1, 1, 2, launched=True)
    from tui.core.errors import UserError

    with pytest.raises(UserError, match="RANK must be >= 0 and below WORLD_SIZE"):
        from_env({"RANK": "2", "WORLD_SIZE": "2"})


# ---- real runs --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("ddp")


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_two_processes_train_the_model_one_process_trains_with_the_global_batch(runs, optimizer):
    # 142 training rows: global batches of 16, the last of 14 split 7 / 7
    extra = ("--optimizer", optimizer, "--momentum", "0.9") if optimizer == "SGD" else ("--optimizer", optimizer)
    two = tui(*wine(runs, f"two-{optimizer}", *extra, "--nproc-per-node", "2"))
    assert two.returncode == 0, two.stderr
    start = next(e for e in events(two.stdout) if e["event"] == "start")
    assert start["world_size"] == 2 and start["batch_size"] == 8 and start["steps_per_epoch"] == 9
    # the one process with the global batch: trained here, by the job a `torchtui run` process runs
    settings = {"train__optimizer": optimizer, **({"train__momentum": 0.9} if optimizer == "SGD" else {})}
    done, _, one_said = train(runs, data__dataset="wine", train__epochs=3, train__patience=0, train__batch_size=16,
                              run__runs_dir=str(runs), run__name=f"one-{optimizer}", **settings)
    assert done.status == "done"
    a, b = weights(runs / f"one-{optimizer}"), weights(runs / f"two-{optimizer}")
    assert a.keys() == b.keys()  # the unwrapped model's keys (no "module."): it loads into nn.Sequential
    for k in a:
        assert torch.allclose(a[k], b[k], **TOLERANCE), (k, (a[k] - b[k]).abs().max())
    assert not all(torch.equal(a[k], b[k]) for k in a) or optimizer == "SGD"  # summation order (may agree)
    # the reported losses are the whole split's too
    ea = [e for e in one_said if e["event"] == "epoch"]
    eb = [e for e in events(two.stdout) if e["event"] == "epoch"]
    assert [round(e["val_loss"], 4) for e in ea] == [round(e["val_loss"], 4) for e in eb]
    assert [round(e["train_loss"], 4) for e in ea] == [round(e["train_loss"], 4) for e in eb]


def test_the_same_ddp_run_twice_and_torchrun_itself_give_the_same_bits(runs):
    layers = ("--layers", "Linear(32), ReLU(), Dropout(0.2), BatchNorm1d(), Linear(16), ReLU()")
    a = tui(*wine(runs, "again-a", *layers, "--nproc-per-node", "2"))
    assert a.returncode == 0, a.stderr
    torchrun = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "tui",
         *wine(runs, "again-torchrun", *layers)], capture_output=True, text=True, env=ENV, timeout=180)
    assert torchrun.returncode == 0, torchrun.stderr
    wa, wt = weights(runs / "again-a"), weights(runs / "again-torchrun")
    assert all(torch.equal(wa[k], wt[k]) for k in wa)
    # BatchNorm: each rank normalises with its share's statistics; rank 0's running statistics are kept
    assert "3.running_mean" in wa and not torch.equal(wa["3.running_mean"], torch.zeros_like(wa["3.running_mean"]))
    only_rank_0 = [e for e in events(torchrun.stdout) if e["event"] == "start"]
    assert len(only_rank_0) == 1  # one console: rank 0's


KILLED = ["--save-every", "5", "--layers", "Linear(32), ReLU(), Dropout(0.2)", "--nproc-per-node", "2"]


@pytest.fixture(scope="module")
def straight(runs):
    """The run never killed that the killed ones must equal, bit for bit."""
    r = tui(*wine(runs, "straight", *KILLED, epochs=4, batch=4))
    assert r.returncode == 0, r.stderr
    return weights(runs / "straight")


def kill_a_rank(runs, name, *extra):
    """Start the run, SIGKILL rank 1 after the first mid-epoch save of epoch 2; (returncode, stderr)."""
    p = launch(*wine(runs, name, *KILLED, epochs=4, batch=4), *extra)
    assert p.stdout is not None
    for line in p.stdout:
        e = json.loads(line)
        if e["event"] == "checkpoint" and e["step"] > 20 and e["step"] % 18:
            break
    ranks = _children(p.pid)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    _, err = p.communicate(timeout=180)
    return p.returncode, err


def test_a_rank_killed_mid_run_is_restarted_by_the_agent_and_the_run_ends_bit_identical(runs, straight):
    code, err = kill_a_rank(runs, "restarted", "--max-restarts", "3")
    assert code == 0, err
    logged = [json.loads(line) for line in (runs / "restarted" / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in logged]
    assert kinds.count("start") == 2 and logged[-1]["event"] == "end" and logged[-1]["status"] == "done"
    lost = [e for e in logged if e["event"] == "error"]
    assert len(lost) == 1 and lost[0]["kind"] == "process_lost"
    ours = weights(runs / "restarted")
    assert all(torch.equal(straight[k], ours[k]) for k in straight)


def test_a_rank_killed_ends_the_run_in_one_line_and_torchtui_resume_finishes_it_bit_identical(runs, straight):
    code, err = kill_a_rank(runs, "lost")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: another process of this run stopped"), err
    assert f"`torchtui resume {runs / 'lost'} --nproc-per-node 2` continues it" in lines[0]
    resumed = tui("resume", str(runs / "lost"), "--json")  # as many processes as it had, from spec.toml
    assert resumed.returncode == 0, resumed.stderr
    assert next(e for e in events(resumed.stdout) if e["event"] == "start")["world_size"] == 2
    ours = weights(runs / "lost")
    assert all(torch.equal(straight[k], ours[k]) for k in straight)



def race(which: str, args: list[str]) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 tests/ddp_races.py ARGS` with the race `which` (see that file)."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(Path(__file__).with_name("ddp_races.py")), *args],
                          capture_output=True, text=True, env={**ENV, "DDP_RACE": which}, timeout=120)


def test_a_ctrl_c_that_reaches_one_rank_first_stops_every_rank_for_that_reason(runs, straight):
    # rank 1 alone has the SIGINT when the ranks agree at step 16 (rank 0's comes later, or never): every rank
    # stops there as for a Ctrl+C, rank 0's log says SIGINT and each process exits 130, not 143 for a stop it
    # only heard of; the position saved is the one a resume continues exactly.
    r = race("stop", wine(runs, "stop-race", *KILLED[:-2], epochs=4, batch=4))
    end = events(r.stdout)[-1]
    assert (end["event"], end["status"], end.get("reason"), end["step"]) == ("end", "interrupted", "SIGINT", 16), end
    codes = re.findall(r"exitcode\s*:\s*(-?\d+)", r.stderr)
    assert codes and set(codes) == {"130"}, r.stderr
    resumed = tui("resume", str(runs / "stop-race"), "--json")
    assert resumed.returncode == 0, resumed.stderr
    ours = weights(runs / "stop-race")
    assert all(torch.equal(straight[k], ours[k]) for k in straight)


def test_a_pause_toggled_on_rank_0_just_after_an_agreement_waits_for_the_next_one_on_every_rank(runs, straight):
    # tests/ddp_races.py flips rank 0's pause flag just after the first agreement (step 8), so the --save-every
    # save at step 10 serves a boundary where rank 0's flag says "pause" and the agreement said "no"; and clears it
    # inside the pause just after an agreement that said "stay". Read alone, each would pair rank 0's collectives
    # with rank 1's wrong ones (a crash or a hang); agreed, both ranks pause at step 16 and go on together.
    r = race("pause", wine(runs, "pause-race", *KILLED[:-2], epochs=4, batch=4))
    assert r.returncode == 0, r.stderr
    logged = events(r.stdout)
    paused = [e for e in logged if e["event"] in ("paused", "resumed")]
    assert [(e["event"], e["step"]) for e in paused] == [("paused", 16), ("resumed", 16)]
    assert [e["step"] for e in logged if e["event"] == "checkpoint" and 0 < e["step"] <= 16] == [5, 10, 15]
    ours = weights(runs / "pause-race")  # a pause changes nothing of the training
    assert all(torch.equal(straight[k], ours[k]) for k in straight)

CHANGED = ["--layers", "Linear(32), ReLU(), Dropout(0.2)", "--nproc-per-node", "2"]  # 36 steps per epoch at batch 2


def _change(run_dir: Path, *flags: str) -> None:
    asked = tui("change", str(run_dir), *flags, "--json", timeout=60)
    assert asked.returncode == 0, asked.stderr


def test_a_live_change_reaches_every_rank_at_one_step_and_a_resume_replays_it_exactly(runs):
    # rank 0 alone reads the run folder: it shares the change at the ranks' next agreement, and every rank applies
    # it at the same step. Cross-checked by two paths to the same model: a change replayed on every rank from the
    # log by a resume (after a kill -9), and the same change reached by sharing in a run never stopped. Had rank 1
    # missed the shared change, its rate (and so the averaged gradients) would differ and so would the weights.
    killed = launch(*wine(runs, "change-killed", *CHANGED, epochs=14, batch=2))
    _next(killed, lambda e: e["event"] == "step" and e["step"] > 300)
    killed.send_signal(signal.SIGUSR2)
    at = _next(killed, lambda e: e["event"] == "paused")["step"]
    _change(runs / "change-killed", "--lr", "0.003")  # asked while paused: applied at the pause's step
    applied = _next(killed, lambda e: e["event"] == "change")
    assert applied["step"] == at and not applied.get("refused") and applied["lr"] == 0.003, applied
    os.kill(_children(killed.pid)[1], signal.SIGKILL)  # still paused: the last checkpoint is from before the change
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == 1, err
    resumed = tui("resume", str(runs / "change-killed"), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert [(e["step"], e.get("replayed")) for e in events(resumed.stdout) if e["event"] == "change"] == [(at, True)]

    straight = launch(*wine(runs, "change-straight", *CHANGED, epochs=14, batch=2))
    _next(straight, lambda e: e["event"] == "start")
    straight.send_signal(signal.SIGUSR2)  # held at its start while the change for step `at` is asked
    early = _next(straight, lambda e: e["event"] == "paused")["step"]
    assert early < at, f"the pause came at step {early}, after the step {at} the change is for: a slower machine"
    _change(runs / "change-straight", "--lr", "0.003", "--at-step", str(at))
    time.sleep(0.5)  # room to be shared while paused (the pause loop looks 20 times a second); if not, it is
    # shared at the first agreement after, still long before step `at`: the assertions below hold either way
    straight.send_signal(signal.SIGUSR2)
    out, err = straight.communicate(timeout=120)
    assert straight.returncode == 0, err
    logged = events(out)
    changes = [e for e in logged if e["event"] == "change"]
    assert [(e["step"], e.get("refused")) for e in changes] == [(at, None)], changes
    assert {e["lr"] for e in logged if e["event"] == "step" and e["step"] > at} == {0.003}
    a, b = weights(runs / "change-straight"), weights(runs / "change-killed")
    assert all(torch.equal(a[k], b[k]) for k in a)

def test_sigterm_to_the_launcher_saves_on_every_path_and_every_process_exits_143(runs):
    p = launch(*wine(runs, "stopped", epochs=500, batch=2), "--nproc-per-node", "2")
    assert p.stdout is not None
    seen: dict = {}
    for line in p.stdout:  # an epoch done, and every rank's telemetry (gathered every 100 steps) in a step event
        e = json.loads(line)
        seen[e["event"]] = e
        if "epoch" in seen and e["event"] == "step" and e.get("ranks"):
            break
    telemetry = seen["step"]["ranks"]
    assert [r["rank"] for r in telemetry] == [0, 1] and all(r["samples_per_s"] > 0 and "cpu_percent" in r
                                                             for r in telemetry)
    # pause through the launcher: every process waits at the same step. Then save now, asked of one process
    # alone (as when a signal reaches the ranks at different moments): the ranks agree on it, and rank 0 saves
    p.send_signal(signal.SIGUSR2)
    paused = _next(p, lambda e: e["event"] == "paused")
    os.kill(_children(p.pid)[-1], signal.SIGUSR1)
    saved_now = _next(p, lambda e: e["event"] == "checkpoint" and e.get("requested"))
    assert saved_now["step"] == paused["step"] and checkpoint.load(runs / "stopped" / "last.pt")["progress"]["step"] \
        == paused["step"]
    p.send_signal(signal.SIGUSR2)
    _next(p, lambda e: e["event"] == "resumed")
    _next(p, lambda e: e["event"] == "step" and e["step"] > paused["step"])  # training again
    ranks = _children(p.pid)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    end = json.loads(out.strip().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "interrupted" and end["epoch_step"] > 0
    saved = checkpoint.load(runs / "stopped" / "last.pt")["progress"]
    assert (saved["epoch"], saved["step"]) == (end["epochs"], end["step"])
    assert not [pid for pid in ranks if process_alive(pid)]
    # it resumes with as many processes as it had (spec.toml's run.processes), exactly ...
    resumed = tui("resume", str(runs / "stopped"), "--epochs", str(saved["epoch"] + 1), "--json")
    assert resumed.returncode == 0, resumed.stderr
    start = next(e for e in events(resumed.stdout) if e["event"] == "start")
    assert start["world_size"] == 2 and not any("resumed with" in n for n in start["notices"])
    # ... or with another number: allowed, and said not to be exact
    resumed = tui("resume", str(runs / "stopped"), "--epochs", str(saved["epoch"] + 2), "--nproc-per-node", "1",
                  "--json")
    assert resumed.returncode == 0, resumed.stderr
    start = next(e for e in events(resumed.stdout) if e["event"] == "start")
    assert start["world_size"] == 1
    # (--batch-size is a process's: the global batch halves, and the note says so with what would be exact)
    assert ("resumed with 1 process where the run had 2: its global batch is 2 rows (2 a process), where it was 4; "
            "it goes on, but not bit for bit as it would have (resumed with 2 processes in all, as it trained, it "
            "would)"
            ) in start["notices"]
    assert 'processes = "1"' in (runs / "stopped" / "spec.toml").read_text()


def test_two_launchers_on_loopback_meet_and_finish_one_run(runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node",
         "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "two-nodes", "-m", "tui",
         *wine(runs, "nodes", epochs=2)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        for rank in (0, 1)]
    outs = [n.communicate(timeout=180) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], [o[1][-2000:] for o in outs]
    starts = [e for out, _ in outs for e in events(out) if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # one rank 0, on whichever node
    assert (runs / "nodes" / "last.pt").exists()


@pytest.mark.parametrize("flags,message", [
    (["--nproc-per-node", "0"], "error: --nproc-per-node must be a number of processes from 1 to 9999, or gpu "
                                "(one per visible GPU), got '0'"),  # named by the flag given, not the spec's field
    (["--nproc-per-node", "two"], "error: --nproc-per-node must be a number of processes from 1 to 9999, or gpu "
                                  "(one per visible GPU), got 'two'"),
    (["--max-restarts", "2"], "error: --max-restarts 2 restarts the processes of a run of several, and this run "
                              "trains in one"),  # not ignored without a word
    (["--nproc-per-node", "2", "--device", "cuda"], "error: --nproc-per-node 2 on CUDA needs 2 GPUs"),
    (["--nproc-per-node", "2", "--on-nan", "skip"], "error: --on-nan skip decides per process"),
    (["--nproc-per-node", "2", "--max-restarts", "-1"], "error: --max-restarts must be an integer >= 0, got -1"),
    (["--max-restarts", "-1"], "error: --max-restarts must be an integer >= 0, got -1"),  # checked unlaunched too
    (["--node-rank", "-1"], "error: --node-rank must be >= 0 and below --nnodes (1), got -1"),
    (["--rdzv-timeout", "-5"], "error: --rdzv-timeout must be a number of seconds >= 1, got -5"),
    (["--name", "-rf"], "error: --name must be letters, digits, '.', '-' or '_', not starting with '-'"),
])
def test_bad_launches_are_one_line_and_exit_2(runs, flags, message):
    r = tui("run", "--dataset", "iris", "--runs-dir", str(runs / "bad"), *flags, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[0].startswith(message) and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (runs / "bad").exists() or not any((runs / "bad").iterdir())


def test_batchnorm_that_would_get_a_share_of_one_row_is_refused_with_a_batch_size_that_works(runs):
    # wine: 142 training rows; 2 x 47 = 94 per global batch leaves 48 -> 24 / 24, fine; 2 x 70 leaves 2 -> 1 / 1
    r = tui("run", "--dataset", "wine", "--layers", "Linear(8), BatchNorm1d()", "--batch-size", "70",
            "--nproc-per-node", "2", "--runs-dir", str(runs / "bn"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[0] == (  # then the data's notes
        "error: layer 2 BatchNorm1d needs batches of 2 rows or more, but 142 training rows "
        "in batches of 70 per process x 2 processes leave a last batch of 1; use --batch-size 69")


def _next(p: subprocess.Popen, predicate) -> dict:
    """The next event on the launcher's stdout that matches (rank 0 prints them)."""
    assert p.stdout is not None
    for line in p.stdout:
        e = json.loads(line)
        if predicate(e):
            return e
    raise AssertionError("the run ended before the event came")


def _children(pid: int) -> list[int]:
    """The launcher's child processes: the ranks, once they have started."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(kids := children(pid)) >= 2:
            return sorted(kids)
        time.sleep(0.05)
    return []


def test_machines_that_never_meet_end_with_one_line_not_a_hang(runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.monotonic()
    r = tui("run", "--dataset", "iris", "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-timeout", "3", "--name", "alone", "--runs-dir", str(runs / "alone"), timeout=120)
    assert r.returncode == 2 and time.monotonic() - began < 60
    assert r.stderr.strip().splitlines() == [
        f"error: the rendezvous at 127.0.0.1:{port} timed out after 3 s: not all 2 machines came (this one is "
        "--node-rank 0); start the same command on the others, each with its --node-rank, or check that they reach "
        "the endpoint"]


def test_an_endpoint_that_does_not_resolve_or_a_port_another_program_holds_is_one_line(runs):
    r = tui("run", "--dataset", "iris", "--nnodes", "2", "--rdzv-endpoint", "nowhere.invalid:29400", "--name", "x",
            "--runs-dir", str(runs / "x"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(
        "error: --rdzv-endpoint nowhere.invalid:29400: the host nowhere.invalid does not resolve")
    with socket.socket() as held:  # a program that listens, and is no rendezvous
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = tui("run", "--dataset", "iris", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--name", "x",
                "--runs-dir", str(runs / "x"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: --rdzv-endpoint 127.0.0.1:{port}: port {port} is in use on this machine by another program; "
        "choose a free port, the same on every machine"]
    r = tui("run", "--dataset", "iris", "--nnodes", "2", "--rdzv-endpoint", "127.0.0.1:29400", "--runs-dir",
            str(runs / "x"))
    assert r.returncode == 2 and r.stderr.strip() == "error: a run over several machines needs --name, the same on each"
