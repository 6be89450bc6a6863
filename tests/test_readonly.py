"""A read-only run folder: resuming is refused with one line, the checkpoint is untouched, and
the screen says why instead of failing silently.

A folder is made read-only for real: a read-only bind mount as root (root ignores file
modes), file modes otherwise.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.app.app import TorchTUI
from tui.core.follow import read_run

import warm_cli
from conftest import train
from test_app import wait_for


@contextlib.contextmanager
def read_only(path: Path):
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        path.chmod(0o555)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    for cmd in (["mount", "--bind", str(path), str(path)], ["mount", "-o", "remount,bind,ro", str(path)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            subprocess.run(["umount", str(path)], capture_output=True)
            pytest.fail(f"cannot make {path} read-only as root ({' '.join(cmd)}: {done.stderr.strip()}); "
                        f"this test needs mount rights when run as root")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def torchtui(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return warm_cli.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def finished_run(tmp_path) -> Path:
    """A finished iris run, trained here by the job `torchtui run` runs (what is read-only is the point, not the
    process that wrote it)."""
    outcome, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=2, run__name="ro",
                               run__runs_dir=str(tmp_path / "checkpoints"))
    assert outcome.status == "done"
    return folder.path


def test_resume_in_a_read_only_folder_is_refused_and_keeps_the_checkpoint(finished_run, tmp_path):
    before = (finished_run / "last.pt").read_bytes()
    with read_only(finished_run):
        with pytest.raises(OSError):
            (finished_run / "probe").write_text("x")  # really read-only
        done = torchtui("resume", str(finished_run), "--epochs", "4", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: run folder {finished_run} is read-only; make it writable, "
                                   f"or copy it elsewhere and resume the copy")
    assert (finished_run / "last.pt").read_bytes() == before
    state, _ = read_run(finished_run)
    assert state.status == "done" and state.epoch_done == 2


def test_a_read_only_runs_folder_refuses_a_new_run(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    with read_only(runs):
        done = torchtui("run", "--dataset", "iris", "--epochs", "1", "--device", "cpu", "--runs-dir", str(runs),
                        cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: cannot create run folder")
    assert "Read-only file system" in done.stderr or "Permission denied" in done.stderr
    assert list(runs.iterdir()) == []


async def test_the_screen_says_why_a_read_only_run_does_not_resume(finished_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TorchTUI(attach=finished_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.followed is not None and app.data is not None, what="attach")
        app.query_one("#hp-epochs").value = "4"
        await pilot.pause(0.2)
        with read_only(finished_run):
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.process is None and app.followed.status == "failed", what="refusal")
        assert "is read-only" in app.followed.error
        assert any("did not start" in str(n.title) for n in app._notifications), [
            (n.title, n.message) for n in app._notifications]
