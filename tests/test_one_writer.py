"""One writer per run folder: a second process that would write a folder another one writes is refused.

Two `torchtui resume` of one run started together both passed the check of the events for a live process
(a resume writes its start event only after loading the data) and trained into one folder, their epochs
interleaved in events.jsonl and each overwriting the other's checkpoints. The writer now holds a lock on the
folder (flock, released by the kernel when the process ends, kill -9 included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core.runs import _HELD, RunFolder, read_events, release_held

import warm_cli
from conftest import train

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the folder lock is POSIX flock")


def tui(*args, cwd: Path) -> subprocess.CompletedProcess:
    return warm_cli.run([sys.executable, "-m", "tui", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                        timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture
def stopped_run(tmp_path) -> Path:
    """A short iris run: 3 of the 6 epochs a resume is asked for. Trained here, by the job `torchtui run` runs
    (a process of its own would add its start, ~6 s, to each test and prove nothing these tests ask)."""
    outcome, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=3, run__name="r",
                               run__runs_dir=str(tmp_path / "checkpoints"))
    assert outcome.status == "done" and not _HELD  # its lock released, as at a process's exit
    return folder.path


@pytest.fixture
def stopped_process_run(tmp_path) -> Path:
    """The same run trained by a `torchtui run` process that has exited: the process its log names is gone."""
    done = tui("run", "--dataset", "iris", "--epochs", "3", "--name", "r", "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "checkpoints" / "r"


def test_a_resume_of_a_folder_another_process_writes_is_refused_in_one_line(tmp_path, stopped_process_run):
    stopped_run = stopped_process_run  # the holder is not the process its log names (which has exited)
    RunFolder(stopped_run).hold()  # this process writes it (as a run or a resume would)
    try:
        refused = tui("resume", stopped_run, "--epochs", "6", cwd=tmp_path)
    finally:
        release_held()
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: {stopped_run} is being written by another torchtui process; wait for it to end, or stop it "
        f"(`torchtui attach {stopped_run}` shows it)"]
    assert [e["event"] for e in read_events(stopped_run / "events.jsonl")].count("start") == 1  # nothing written
    again = tui("resume", stopped_run, "--epochs", "6", cwd=tmp_path)  # released: the next writer may
    assert again.returncode == 0, again.stderr


def test_two_resumes_started_together_train_the_run_once(tmp_path, stopped_run):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    both = [subprocess.Popen([sys.executable, "-m", "tui", "resume", str(stopped_run), "--epochs", "6"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    ends = [p.communicate(timeout=180) for p in both]
    codes = sorted(p.returncode for p in both)
    assert codes == [0, 2], ends
    refusal = next(err for p, (_, err) in zip(both, ends) if p.returncode == 2)
    # while the other writes it, or once it has finished it (a second interpreter slower to start than the training)
    assert "is being written by another torchtui process" in refusal or "is still training" in refusal or \
        "has trained 6 epochs already" in refusal, refusal
    events = list(read_events(stopped_run / "events.jsonl"))
    assert [e["event"] for e in events].count("start") == 2  # the run's and one resume's
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3, 4, 5, 6]


def test_a_writer_killed_leaves_no_lock_behind(tmp_path, stopped_run):
    # the kernel drops the lock with the process: a resume after a kill -9 is never refused by a stale lock
    p = subprocess.Popen([sys.executable, "-m", "tui", "resume", str(stopped_run), "--epochs", "100000",
                          "--json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.stdout is not None
    for line in p.stdout:
        if json.loads(line)["event"] == "epoch":
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    time.sleep(0.1)
    after = tui("resume", stopped_run, "--epochs", "6", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert [e["epoch"] for e in read_events(stopped_run / "events.jsonl") if e["event"] == "epoch"][-1] == 6


def nfs_flock(real):
    """flock as an NFS client does it: emulated with a byte-range lock, so an exclusive lock on a file open only
    for reading fails with EBADF (flock(2), "NFS details")."""
    import errno
    import fcntl

    def flock(fd, op):
        if op & fcntl.LOCK_EX and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return real(fd, op)
    return flock


def test_on_nfs_the_writer_takes_its_lock(tmp_path, monkeypatch):
    """The lock's file was opened read-only: on an NFS home directory, where clusters keep checkpoints, every
    run was refused as 'being written by another torchtui process'."""
    import fcntl

    from tui.core.runs import lock_held
    monkeypatch.setattr(fcntl, "flock", nfs_flock(fcntl.flock))
    folder = tmp_path / "run"
    folder.mkdir()
    try:
        RunFolder(folder).hold()
        assert lock_held(folder / "events.jsonl", os.getpid()) is True
    finally:
        release_held()
    assert lock_held(folder / "events.jsonl", os.getpid()) is False


def test_a_file_system_that_keeps_no_locks_does_not_refuse_the_run(tmp_path, monkeypatch, stopped_run):
    """ENOLCK (an NFS mount without its lock service) is not another writer: the run goes on, checked as on
    Windows by its events alone, and trains."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    from tui.core import job
    events: list[dict] = []
    try:
        job.resume(stopped_run, events.append, epochs=4)
    finally:
        release_held()
    assert [e["event"] for e in events].count("epoch") == 1 and events[-1]["event"] == "end"
    assert events[-1]["status"] == "done"
