"""Checkpoints load safely or are refused with the reason; writes are atomic; the event log
tolerates a torn last line."""

import os

import pytest
import torch

from tui.core import checkpoint
from tui.core.errors import UserError
from tui.core.files import atomic_write
from tui.core.runs import read_events, summarize

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


def test_a_newer_format_is_refused(tmp_path, good):
    ckpt = checkpoint.load(good.checkpoint_path("best"))
    ckpt["format"] = checkpoint.FORMAT + 1
    checkpoint.save(ckpt, tmp_path / "new.pt")
    with pytest.raises(UserError, match="newer than this torchtui reads"):
        checkpoint.load(tmp_path / "new.pt")


def test_a_run_folder_loads_its_best_checkpoint(good):
    assert checkpoint.load(good.path)["progress"]["epoch"] == torch.load(good.checkpoint_path("best"), weights_only=True)["progress"]["epoch"]


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
