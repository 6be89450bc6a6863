"""Checkpoints load safely or are refused with the reason; writes are atomic; the event log
tolerates a torn last line."""

import os
import subprocess

import pytest
import torch

from tui.core import checkpoint
from tui.core.errors import UserError
from tui.core.files import atomic_write
from tui.core.follow import summarize
from tui.core.runs import read_events

import warm_cli
from conftest import train


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    _, folder, _ = train(tmp_path_factory.mktemp("ck"), data__dataset="iris", train__epochs=2)
    return folder


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    torch.save({"format": 1, "model": Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match=r"was refused: loading it would run code \((posix|os)\.system\)"):
        checkpoint.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_truncated_and_foreign_files_are_refused(tmp_path, good):
    data = good.checkpoint_path("best").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="is truncated or corrupted"):
        checkpoint.load(tmp_path / "cut.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(256))
    with pytest.raises(UserError, match="is not a PyTorch checkpoint"):
        checkpoint.load(tmp_path / "noise.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="is not a torchtui checkpoint"):
        checkpoint.load(tmp_path / "other.pt")
    with pytest.raises(UserError, match="not found"):
        checkpoint.load(tmp_path / "missing.pt")


def test_a_checkpoint_made_by_hand_is_refused_in_one_line_by_its_readers(tmp_path, good):
    # model and format, but no preprocessing: predict ended in a KeyError traceback; weights of other shapes gave
    # "(Error(s) in loading state_dict for Sequential:)", the line before the one that says what
    from typer.testing import CliRunner

    from tui.cli import app

    whole = checkpoint.load(good.checkpoint_path("best"))
    iris = os.path.join(os.path.dirname(__file__), "..", "datasets", "iris.csv")
    partial = {k: v for k, v in whole.items() if k != "preprocessing"}
    torch.save(partial, tmp_path / "partial.pt")
    for command in ("predict", "eval"):
        said = CliRunner().invoke(app, [command, str(tmp_path / "partial.pt"), iris])
        assert said.exit_code == 2 and said.exception is None or isinstance(said.exception, SystemExit), said.output
        assert said.output.strip() == (f"error: {tmp_path / 'partial.pt'} is not a whole torchtui checkpoint (no "
                                       "preprocessing); use a last.pt or best.pt that torchtui saved")
    resized = dict(whole, model={k: torch.zeros(3, *v.shape[1:]) if v.dim() else v for k, v in whole["model"].items()})
    torch.save(resized, tmp_path / "resized.pt")
    said = CliRunner().invoke(app, ["predict", str(tmp_path / "resized.pt"), iris])
    assert said.exit_code == 2 and "size mismatch for" in said.output and "Error(s)" not in said.output, said.output
    import pickle
    import sys

    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"a": 1}, protocol=4))  # torch warned of its protocol first
    done = warm_cli.run([sys.executable, "-m", "tui", "predict", str(tmp_path / "plain.pt"), iris],
                        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path / 'plain.pt'} is not a PyTorch checkpoint\n"


def test_a_newer_format_is_refused(tmp_path, good):
    ckpt = checkpoint.load(good.checkpoint_path("best"))
    ckpt["format"] = checkpoint.FORMAT + 1
    checkpoint.save(ckpt, tmp_path / "new.pt")
    with pytest.raises(UserError, match="newer than this torchtui reads"):
        checkpoint.load(tmp_path / "new.pt")


def test_a_run_folder_loads_its_best_checkpoint(good):
    best = torch.load(good.checkpoint_path("best"), weights_only=True)
    assert checkpoint.load(good.path)["progress"]["epoch"] == best["progress"]["epoch"]


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")

    def explode(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, explode)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["last.pt"]


def test_events_are_strict_json():
    from tui.core.runs import to_json
    assert to_json({"r2": float("nan"), "x": [1.0, float("inf")], "n": 2}) == '{"r2":null,"x":[1.0,null],"n":2}'


def test_event_log_skips_a_torn_last_line(tmp_path, good):
    log = tmp_path / "events.jsonl"
    lines = (good.path / "events.jsonl").read_text().splitlines(keepends=True)
    log.write_text("".join(lines) + '{"event": "step", "lo')
    events = list(read_events(log))
    assert len(events) == len(lines) and events[-1]["event"] == "end"
    assert summarize(good.path).status == "done"


NOT_EVENTS = ['[1, 2]', '"text"', 'NaN', '{"event": "epoch"}', '{"event": "epoch", "epoch": "x", "step": 3}',
              '{"event": "step", "step": "7", "loss": 0.1}', '{"event": "start", "pid": "me"}', '12']


def test_lines_of_the_log_that_are_no_events_are_skipped_by_every_reader(tmp_path):
    # JSON, but not an event a reader can take: each ended `torchtui runs` (for the whole runs folder), resume,
    # export, change, and the screen at its start, with a traceback; they are skipped as a torn line is
    import shutil
    import sys

    from typer.testing import CliRunner

    from tui.cli import app
    from tui.core.follow import read_run

    _, folder, _ = train(tmp_path / "a", data__dataset="iris", train__epochs=2, run__name="r")
    log = folder.path / "events.jsonl"
    clean = log.read_text().splitlines(keepends=True)
    log.write_text("".join(clean[:3] + [line + "\n" for line in NOT_EVENTS] + clean[3:]))
    assert list(read_events(log)) == list(read_events_of(clean, tmp_path))
    state, _ = read_run(folder.path)
    assert state.status == "done" and [e["epoch"] for e in state.epochs] == [1, 2]
    runs_dir = folder.path.parent
    for args in (["runs", "--runs-dir", str(runs_dir)], ["runs", "--runs-dir", str(runs_dir), "--json"],
                 ["export", str(folder.path), "-o", str(tmp_path / "train.py")]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0 and done.exception is None, (args, done.output)
        if "--json" in args:
            import json

            listed = json.loads(done.output)["runs"]
            assert [(r["status"], r["epochs_done"], r["epochs"]) for r in listed] == [("done", 2, 2)]
    changed = CliRunner().invoke(app, ["change", str(folder.path), "--lr", "0.1"])
    assert changed.exit_code == 2 and "Traceback" not in changed.output, changed.output
    resumed = warm_cli.run([sys.executable, "-m", "tui", "resume", str(folder.path), "--epochs", "3"],
                           capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert [e["epoch"] for e in read_run(folder.path)[0].epochs] == [1, 2, 3]
    shutil.rmtree(tmp_path / "a")


def read_events_of(lines: list[str], tmp_path) -> list[dict]:
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(lines))
    return list(read_events(clean))


def test_the_force_no_weights_only_variable_changes_nothing(tmp_path):
    import subprocess
    import sys

    marker = tmp_path / "PWNED"
    torch.save({"format": 1, "model": Evil(marker)}, tmp_path / "evil.pt")
    code = "from tui.core import checkpoint; checkpoint.load(r'%s')" % (tmp_path / "evil.pt")
    for env in ({}, {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, **env})
        assert out.returncode != 0 and "was refused: loading it would run code" in out.stderr
        assert not marker.exists()
    cli = warm_cli.run([sys.executable, "-m", "tui", "predict", str(tmp_path / "evil.pt"), str(tmp_path / "x.csv")],
                       capture_output=True, text=True, env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr
    assert not marker.exists()


def test_a_full_disk_keeps_the_old_checkpoint_and_says_why(tmp_path):
    import resource
    import signal
    import sys

    _, folder, _ = train(tmp_path, data__dataset="iris", train__epochs=1)
    before = folder.checkpoint_path("last").read_bytes()
    limit = len(before) - 1  # the next checkpoint cannot be written; small appends still can

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = subprocess.run([sys.executable, "-m", "tui", "resume", str(folder.path), "--epochs", "3"],
                         capture_output=True, text=True, preexec_fn=full_disk)
    assert out.returncode == 1, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot save a checkpoint") and "File too large" in lines[0]
    assert "previous last.pt is kept" in lines[0] and "Traceback" not in out.stderr
    assert folder.checkpoint_path("last").read_bytes() == before
    checkpoint.load(folder.checkpoint_path("last"))
    assert not list(folder.path.glob(".tmp-*"))


def test_best_pt_is_last_pt_linked_not_written_twice_and_kept_when_the_next_epoch_is_worse(tmp_path, monkeypatch):
    """An improving epoch's best.pt is its last.pt's file under a second name (one write of the state, not two);
    the next epoch's last.pt is a new file renamed over the name, so best.pt keeps the best epoch. Where the file
    system has no hard links (EPERM, as on a FAT or some network mounts), the bytes are copied: the same files."""
    import errno

    from tui.core.record import Recorder

    lr_too_high = {"data__dataset": "iris", "train__patience": 0, "train__optimizer": "SGD", "train__lr": 3.0}
    _, folder, events = train(tmp_path / "a", train__epochs=1, **lr_too_high)
    last, best = folder.checkpoint_path("last"), folder.checkpoint_path("best")
    assert os.path.samefile(last, best) and os.stat(best).st_nlink == 2
    assert not [p.name for p in folder.path.iterdir() if p.name.startswith(".")]  # no temp link left behind
    checkpoint.copy(last, best)  # made again (a resume's repair): still one file of two names, nothing left over
    assert os.stat(best).st_nlink == 2 and not [p for p in folder.path.iterdir() if p.name.startswith(".")]

    _, folder, events = train(tmp_path / "b", train__epochs=4, **lr_too_high)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert not epochs[-1]["best"], "the test needs a last epoch that is not the best"  # the LR makes it diverge up
    best_epoch = max(e["epoch"] for e in epochs if e["best"])
    last, best = folder.checkpoint_path("last"), folder.checkpoint_path("best")
    assert not os.path.samefile(last, best)
    assert torch.load(best, weights_only=True)["progress"]["epoch"] == best_epoch
    assert torch.load(last, weights_only=True)["progress"]["epoch"] == 4

    def no_links(src, dst, *a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    saved = Recorder(lambda e: None, folder).save
    state = torch.load(last, weights_only=True)
    saved(state, best=True)
    assert not os.path.samefile(last, best) and last.read_bytes() == best.read_bytes()
    assert not [p.name for p in folder.path.iterdir() if p.name.startswith(".")]
