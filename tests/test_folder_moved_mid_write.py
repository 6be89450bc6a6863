"""A run folder renamed by its user at the one bad moment of a write - its temp file made, not yet renamed into
place - at every write a run makes: the rename by path failed with 'no such file', the run stopped over a save it
could finish, and the temp file stayed in the folder under a name nothing cleaned. Each write is now made in the
folder held open, which takes its file along (files._held)."""

from __future__ import annotations

from pathlib import Path

import torch

from tui.core import checkpoint, files, job
from tui.core.files import TMP_PREFIX, atomic_write

from conftest import make_spec


def test_a_file_written_while_its_folder_is_renamed_lands_whole_where_the_folder_went(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    old.mkdir()

    def write(f):
        f.write(b"first half ")
        old.rename(new)  # the user's `mv a b`, mid-write
        f.write(b"second half")

    atomic_write(old / "notes.txt", write)
    assert (new / "notes.txt").read_bytes() == b"first half second half"
    assert sorted(p.name for p in new.iterdir()) == ["notes.txt"] and not old.exists()


def writes_of_a_run(spec, monkeypatch, move_at: int | None = None) -> tuple[list[str], Path | None]:
    """A run of `spec`, its run folder renamed to '<name>-moved' inside its `move_at`-th write (0: the first): the
    names of the files its writes renamed into place, and the folder it was moved to."""
    real = files._renamed_into_place
    names: list[str] = []
    moved: list[Path] = []

    def renamed(tmp: Path, path: Path, *held):
        if len(names) == move_at:
            target = tmp.parent.with_name(tmp.parent.name + "-moved")
            tmp.parent.rename(target)
            moved.append(target)
        names.append(path.name)
        return real(tmp, path, *held)

    with monkeypatch.context() as m:
        m.setattr(files, "_renamed_into_place", renamed)
        outcome, folder = job.run(spec, lambda e: None)
    assert outcome.status == "done", outcome
    return names, (moved[0] if moved else None)


def test_a_run_whose_folder_is_renamed_in_any_of_its_writes_finishes_there_whole(tmp_path, monkeypatch):
    spec = make_spec(tmp_path, data__dataset="iris", train__epochs=3)
    names, _ = writes_of_a_run(spec, monkeypatch)
    assert names[0] == "spec.toml" and names.count("last.pt") == 3 and "best.pt" in names, names
    for k, name in enumerate(names):
        runs = tmp_path / f"runs{k}"
        names_k, moved = writes_of_a_run(spec.with_overrides({"run.runs_dir": str(runs)}), monkeypatch, move_at=k)
        assert names_k == names and moved is not None, (k, name)
        assert [p.name for p in runs.iterdir()] == [moved.name], (k, name)  # nothing made at the old name
        assert not [p.name for p in moved.iterdir() if p.name.startswith(TMP_PREFIX)], (k, name)
        last, best = checkpoint.load(moved / "last.pt"), checkpoint.load(moved / "best.pt")
        assert last["progress"]["epoch"] == 3, (k, name)
        assert best["progress"]["epoch"] == last["progress"]["best_epoch"], (k, name)
        resumed, _ = job.resume(moved, lambda e: None, epochs=4)
        assert resumed.progress.epoch == 4, (k, name)
        weights = checkpoint.load(moved / "last.pt")["model"]
        assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
