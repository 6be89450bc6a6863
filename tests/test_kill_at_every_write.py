"""A run killed at every write it makes, in turn, then resumed: the folder always ends consistent.

tests/kill_points.py counts each rename (a checkpoint, spec.toml, val_predictions.csv made whole) and
each event-log line of a short run, and SIGKILLs the run at one of them: before a rename, after it,
or halfway through an event line. For every one of them, the run is then resumed to its end (as a
user would: `torchtui resume` when the folder says it has not finished), and best.pt, last.pt and the
events must agree on the best epoch, with the weights, reports and files of a run never killed.
This is how a best.pt left an epoch behind by a kill between last.pt and its copy was found.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import checkpoint, job, train
from tui.core.follow import read_run

import kill_points
from conftest import make_spec

# iris with a large rate: epochs 1 and 3 improve, 2, 4 and 5 do not, and patience 2 stops it after epoch 5 of 7
SETTINGS = dict(data__dataset="iris", train__epochs=7, train__patience=2, train__optimizer="SGD", train__seed=6,
                train__lr=0.8, train__momentum=0.9, train__batch_size=32, train__log_interval=3600,
                train__threads=1, model__layers="Linear(16), ReLU()")
BEST_EPOCH, LAST_EPOCH = 3, 5
IRIS = Path(__file__).resolve().parents[1] / "datasets" / "iris.csv"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def forkserver():
    """A process that imported torch and torchtui once and forks each run (kill_points.serve)."""
    server = subprocess.Popen([sys.executable, "-c", "import kill_points; kill_points.serve()"], cwd=TESTS,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get(
                                  "PYTHONPATH", "")])}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    yield server
    server.stdin.close()
    server.wait(timeout=60)


def killed_run(server, spec: dict, name: str, journal: Path, kill_at: int | None = None, mode: str = "",
               behind: bool = False) -> int:
    """The exit code of a run of `spec` forked by the server: -9 where it killed itself as asked. `behind`: its
    epochs' saves written by a thread while training goes on, as on a GPU (train.saves_behind)."""
    server.stdin.write(json.dumps({"spec": spec, "name": name, "journal": str(journal), "kill_at": kill_at,
                                   "mode": mode, "behind": behind}) + "\n")
    server.stdin.flush()
    return int(server.stdout.readline())


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_a_kill_at_every_write_then_resume_agrees_on_the_best_epoch(tmp_path, forkserver):
    spec = make_spec(tmp_path, **SETTINGS)
    outcome, reference = job.run(spec, lambda e: None)
    assert (outcome.status, outcome.progress.epoch, outcome.progress.best_epoch) == ("early_stopped", LAST_EPOCH,
                                                                                    BEST_EPOCH)
    ref_last, ref_best = weights(reference.checkpoint_path("last")), weights(reference.checkpoint_path("best"))
    ref_table = (reference.path / "val_predictions.csv").read_text()

    journal = tmp_path / "journal.jsonl"
    assert killed_run(forkserver, spec.to_dict(), "whole", journal) == 0  # counted, not killed: the same run
    operations = [json.loads(line) for line in journal.read_text().splitlines()]
    assert torch.equal(weights(Path(spec.run.runs_dir) / "whole" / "last.pt")["0.weight"], ref_last["0.weight"])
    kinds = [(op["kind"], op["what"]) for op in operations]
    assert kinds.count(("rename", "last.pt")) == LAST_EPOCH and kinds.count(("rename", "best.pt")) == 2
    assert ("rename", "val_predictions.csv") in kinds and ("log", "end") in kinds

    repaired = nothing_to_resume = stale_seen = 0
    for op in operations:
        for mode in kill_points.MODES[op["kind"]]:
            name = f"k{op['n']}-{mode}"
            assert killed_run(forkserver, spec.to_dict(), name, journal, op["n"], mode) == -signal.SIGKILL, name
            folder = Path(spec.run.runs_dir) / name
            if not (folder / "spec.toml").exists():  # killed before the folder was whole: a new run is the way
                nothing_to_resume += 1
                continue
            stale = _stale_best(folder)
            if stale:  # before any resume, eval and predict on the folder already use the best epoch's weights
                best_so_far = checkpoint.progress_of(folder / "last.pt")["best_epoch"]
                assert checkpoint.load(folder)["progress"]["epoch"] == best_so_far, name
                result = CliRunner().invoke(app, ["eval", str(folder), str(IRIS), "--json"])
                assert result.exit_code == 0, (name, result.output)
                said = json.loads(result.output)
                assert (said["epoch"], Path(said["checkpoint"]).name) == (best_so_far, "last.pt"), (name, said)
                told = CliRunner().invoke(app, ["eval", str(folder), str(IRIS)]).output.splitlines()[0]
                assert told.endswith(f"(model: {folder / 'last.pt'}, epoch {best_so_far})"), (name, told)
                named = CliRunner().invoke(app, ["eval", str(folder / "best.pt"), str(IRIS), "--json"])  # as the
                assert json.loads(named.output)["epoch"] == best_so_far, (name, named.output)  # run's next: line
                card = folder.parent / f"{name}.json"
                exported = CliRunner().invoke(app, ["export", str(folder), "--weights", str(card.with_suffix(
                    ".safetensors"))])
                assert exported.exit_code == 0, (name, exported.output)
                assert (json.loads(card.read_text())["epoch"], json.loads(card.read_text())["checkpoint"]) == (
                    best_so_far, "last.pt"), name
                stale_seen += 1
            state, _ = read_run(folder)
            resumed: list[dict] = []
            if state.status not in ("done", "early_stopped"):
                job.resume(folder, resumed.append)
            repaired += any("best.pt is last.pt again" in n for e in resumed if e["event"] == "start"
                            for n in e["notices"])
            _agrees(folder, name, ref_last, ref_best, ref_table)
            logged = {(e["event"], e["time"]) for e in folder_events(folder)}
            assert all((e["event"], e["time"]) in logged for e in resumed), (name, "an event of the resume is lost")
    print(f"{len(operations)} writes, {sum(len(kill_points.MODES[o['kind']]) for o in operations)} kills, "
          f"best.pt behind last.pt {stale_seen} (eval used last.pt), repaired on resume {repaired}, "
          f"killed before the folder existed {nothing_to_resume}")
    assert repaired == stale_seen == 4  # before and after the temp file's rename, at both improving epochs
    assert nothing_to_resume <= 2


def test_a_kill_at_every_write_with_saves_written_behind_then_resume_agrees(tmp_path, forkserver, monkeypatch):
    """On a GPU an epoch's save is written by a thread while the next epoch trains (Recorder.save). Killed at each
    write of such a run - the thread's renames of last.pt and best.pt among them, wherever they fall between the
    training thread's event lines - and resumed (saves behind again), the folder ends as the run never killed."""
    spec = make_spec(tmp_path, **SETTINGS)
    _, reference = job.run(spec, lambda e: None)
    ref_last, ref_best = weights(reference.checkpoint_path("last")), weights(reference.checkpoint_path("best"))
    ref_table = (reference.path / "val_predictions.csv").read_text()
    journal = tmp_path / "journal.jsonl"
    assert killed_run(forkserver, spec.to_dict(), "whole", journal, behind=True) == 0
    operations = [json.loads(line) for line in journal.read_text().splitlines()]
    saves = [op for op in operations if op["kind"] == "rename" and op["what"] in ("last.pt", "best.pt")]
    assert len(saves) == LAST_EPOCH + 2 and {op["thread"] for op in saves} == {"torchtui-save"}
    _agrees(Path(spec.run.runs_dir) / "whole", "whole", ref_last, ref_best, ref_table)

    monkeypatch.setattr(train, "saves_behind", lambda device_type, world_size: True)  # the resumes' saves too
    killed: list[tuple[int, str, str]] = []  # (n, mode, the thread that made the write)
    for n in range(len(operations)):  # the n-th write, whichever it is in this run's order (threads race)
        for mode in ("before", "after", "torn"):
            name = f"k{n}-{mode}"
            code = killed_run(forkserver, spec.to_dict(), name, journal, n, mode, behind=True)
            folder = Path(spec.run.runs_dir) / name
            done = [json.loads(line) for line in journal.read_text().splitlines()][n]
            if mode not in kill_points.MODES[done["kind"]]:  # a mode of the other kind of write: it lived
                assert code == 0, name
                continue
            assert code == -signal.SIGKILL, name
            killed.append((n, mode, done["thread"]))
            if not (folder / "spec.toml").exists():
                continue
            state, _ = read_run(folder)
            if state.status not in ("done", "early_stopped"):
                job.resume(folder, lambda e: None)
            _agrees(folder, name, ref_last, ref_best, ref_table)
    assert {n for n, _, _ in killed} == set(range(len(operations)))  # every write was a kill point
    assert {mode for _, mode, thread in killed if thread == "torchtui-save"} == {"before", "after"}, killed


def _stale_best(folder: Path) -> bool:
    """best.pt missing or an epoch behind the best that last.pt records (a kill between the two saves)."""
    best, last = checkpoint.progress_of(folder / "best.pt"), checkpoint.progress_of(folder / "last.pt")
    return last is not None and (best is None or best["epoch"] != last["best_epoch"])


def _agrees(folder: Path, name: str, ref_last: dict, ref_best: dict, ref_table: str) -> None:
    last, best = torch.load(folder / "last.pt", weights_only=True), torch.load(folder / "best.pt", weights_only=True)
    assert (last["progress"]["epoch"], last["progress"]["best_epoch"], best["progress"]["epoch"]) == (
        LAST_EPOCH, BEST_EPOCH, BEST_EPOCH), name
    assert all(torch.equal(last["model"][k], v) for k, v in ref_last.items()), name
    assert all(torch.equal(best["model"][k], v) for k, v in ref_best.items()), name
    state, _ = read_run(folder)
    assert state.status == "early_stopped", (name, state.status)
    assert state.best_epoch is not None and state.best_epoch["epoch"] == BEST_EPOCH, name
    events = [e for e in folder_events(folder)]
    end = [e for e in events if e["event"] == "end"][-1]
    assert (end["status"], end["best_epoch"], end["epochs"]) == ("early_stopped", BEST_EPOCH, LAST_EPOCH), name
    report = {e["model"]: e["epoch"] for e in events if e["event"] == "evaluation"}
    assert report == {"best": BEST_EPOCH, "last": LAST_EPOCH}, (name, report)
    assert (folder / "val_predictions.csv").read_text() == ref_table, name
    assert not list(folder.glob(".tmp-*")), name


def folder_events(folder: Path) -> list[dict]:
    from tui.core.runs import read_events

    return list(read_events(folder / "events.jsonl"))


def test_resume_goes_on_from_the_newest_checkpoint_that_loads(tmp_path):
    """A last.pt truncated (a full disk, a partial copy): resume goes on from best.pt, saying so, and ends exact."""
    settings = {**SETTINGS, "train__patience": 0, "train__epochs": 4}  # epochs 1 and 3 improve: best.pt is epoch 3
    _, folder = job.run(make_spec(tmp_path / "a", **settings), lambda e: None)
    _, reference = job.run(make_spec(tmp_path / "b", **{**settings, "train__epochs": 6}), lambda e: None)
    last = folder.checkpoint_path("last")
    whole = last.read_bytes()
    last.unlink()  # a partial copy is a file of its own (best.pt may be a second name of last.pt's old file)
    last.write_bytes(whole[: len(whole) // 2])

    said = CliRunner().invoke(app, ["eval", str(last), str(IRIS)])
    assert said.exit_code == 2 and said.output.strip().splitlines() == [
        f"error: {last} is truncated or corrupted (an incomplete file); `torchtui resume {folder.path}` goes on from "
        "the newest checkpoint of the run that loads"]
    result = CliRunner().invoke(app, ["resume", str(folder.path), "--epochs", "6"])
    assert result.exit_code == 0, result.output
    assert ("last.pt is truncated or corrupted (an incomplete file): resumed from best.pt, the newest checkpoint that "
            "loads (epoch 3); the epochs after it train again") in result.output
    mine, ref = weights(last), weights(reference.checkpoint_path("last"))
    assert all(torch.equal(mine[k], v) for k, v in ref.items())
    assert torch.load(last, weights_only=True)["progress"]["epoch"] == 6
    epochs = [e["epoch"] for e in folder_events(folder.path) if e["event"] == "epoch"]
    assert epochs == [1, 2, 3, 4, 4, 5, 6]  # epoch 4 trained again, after the resume's start
    assert read_run(folder.path)[0].epoch_done == 6

    for name in ("last", "best"):  # neither loads: the one command that still works
        path = folder.checkpoint_path(name)
        path.write_bytes(path.read_bytes()[:100])
    result = CliRunner().invoke(app, ["resume", str(folder.path), "--epochs", "8"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: neither last.pt nor best.pt of {folder.path} loads (is truncated or corrupted (an incomplete file)); "
        f"nothing is left to go on from: start the run again under a new name, `torchtui run "
        f"{folder.path / 'spec.toml'} --name {folder.path.name}-again`"]
    again = CliRunner().invoke(app, ["run", str(folder.path / "spec.toml"), "--name", f"{folder.path.name}-again"])
    assert again.exit_code == 0, again.output  # the command it gives works


def test_a_resume_with_more_epochs_killed_before_its_first_save_resumes_to_them(tmp_path):
    """`resume --epochs N` writes N to spec.toml as it starts; killed before its first save, the folder holds
    that spec.toml beside the checkpoint of the run before. The next resume was refused as an edit of spec.toml
    (with a hint that was refused in turn): now it trains to the N asked, exactly as the resume killed would."""
    settings = {**SETTINGS, "train__patience": 0, "train__epochs": 4}
    _, folder = job.run(make_spec(tmp_path / "a", **settings), lambda e: None)
    _, reference = job.run(make_spec(tmp_path / "b", **{**settings, "train__epochs": 6}), lambda e: None)
    spec = folder.spec()
    folder.write_text("spec.toml", spec.with_overrides({"train.epochs": 6}).to_toml())  # the resume's first write
    result = CliRunner().invoke(app, ["resume", str(folder.path)])
    assert result.exit_code == 0, result.output
    mine, ref = weights(folder.checkpoint_path("last")), weights(reference.checkpoint_path("last"))
    assert all(torch.equal(mine[k], v) for k, v in ref.items())
    assert [e["epoch"] for e in folder_events(folder.path) if e["event"] == "epoch"] == [1, 2, 3, 4, 5, 6]


def test_a_missing_last_pt_resumes_from_best_pt_and_says_so(tmp_path):
    """Without last.pt (deleted, or never copied) but with best.pt, resume went on from epoch 0 in the same
    folder, without a word, and overwrote best.pt: now it goes on from best.pt, as for a last.pt that does not
    load, and ends as the run never broken."""
    settings = {**SETTINGS, "train__patience": 0, "train__epochs": 4}  # best.pt is epoch 3
    _, folder = job.run(make_spec(tmp_path / "a", **settings), lambda e: None)
    _, reference = job.run(make_spec(tmp_path / "b", **{**settings, "train__epochs": 6}), lambda e: None)
    folder.checkpoint_path("last").unlink()
    result = CliRunner().invoke(app, ["resume", str(folder.path), "--epochs", "6"])
    assert result.exit_code == 0, result.output
    assert "last.pt is missing: resumed from best.pt, the newest checkpoint that loads (epoch 3)" in result.output
    mine, ref = weights(folder.checkpoint_path("last")), weights(reference.checkpoint_path("last"))
    assert all(torch.equal(mine[k], v) for k, v in ref.items())
    assert [e["epoch"] for e in folder_events(folder.path) if e["event"] == "epoch"] == [1, 2, 3, 4, 4, 5, 6]
