"""The event log: one schema (tui/core/event_schema.py), one writer (record.py), one fold (RunState).

Real runs that between them write every kind of event are validated against the schema;
the README names every kind; no module but the recorder builds an event.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.core import job
from tui.core.errors import Interrupted, TrainingFailed
from tui.core.event_schema import KINDS, SCHEMA, problems
from tui.core.follow import read_run
from tui.core.live_change import Change
from tui.core.runs import read_events

from conftest import fake_cuda_graphs, make_spec

ROOT = Path(__file__).parent.parent


def controlled(tmp_path, on_event=None, **overrides):
    """A real run; `on_event(event, trainer)` may make requests as a signal handler would.
    Returns (what the console was handed, what the run folder's log holds)."""
    handed, trainers = [], []

    def emit(e):
        handed.append(e)
        if on_event and trainers:
            on_event(e, trainers[0])

    folder = None
    try:
        _, folder = job.run(make_spec(tmp_path, **overrides), emit, on_trainer=trainers.append)
    except (Interrupted, TrainingFailed):
        pass
    start = next(e for e in handed if e["event"] == "start")
    return handed, list(read_events(Path(start["run_dir"]) / "events.jsonl"))


def pause_save_stop(e, trainer):
    """At the 3rd step event: pause; once paused: save now and change the rate; once saved: resume; in
    epoch 2: stop."""
    steps = pause_save_stop.steps = getattr(pause_save_stop, "steps", 0) + (e["event"] == "step")
    if e["event"] == "step" and steps == 3:
        trainer.requests.pause = True
    elif e["event"] == "paused":
        trainer.requests.save = True
        trainer.changes.schedule(Change(lr=0.005, id="while-paused"), trainer.progress.step)  # a live change
    elif e["event"] == "checkpoint" and e.get("requested"):
        trainer.requests.pause = False
    elif e["event"] == "step" and e["epoch"] == 2:
        trainer.requests.stop = "SIGTERM"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Between them, every kind of event."""
    tmp = tmp_path_factory.mktemp("events")
    test_file = tmp / "test.csv"
    test_file.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    out = {}
    out["classification"] = controlled(tmp / "a", data__dataset=str(ROOT / "datasets" / "iris.csv"), train__epochs=3,
                                       data__test=str(test_file))
    out["regression"] = controlled(tmp / "b", data__dataset="diabetes", train__epochs=2, train__on_nan="skip")
    out["controlled"] = controlled(tmp / "c", pause_save_stop, data__dataset="digits", train__epochs=3,
                                   train__batch_size=8, train__log_interval=1e-6)
    with pytest.MonkeyPatch.context() as patch:  # a graphed run (its capture faked: this is a CPU)
        fake_cuda_graphs(patch)
        out["graphed"] = controlled(tmp / "e", data__dataset="wine", train__epochs=1)
    out["diverged"] = controlled(tmp / "d", data__dataset="diabetes", train__optimizer="SGD", train__lr=1e12,
                                 train__epochs=2)
    return out


def test_every_event_a_real_run_writes_fits_the_one_schema(runs):
    seen = set()
    for name, (handed, logged) in runs.items():
        assert logged, name
        for e in handed + logged:
            assert problems(e) == [], (name, e)
            seen.add(e["event"])
        # the log holds what the console was handed (loading comes before the folder exists)
        assert [e for e in handed if e["event"] != "loading"] == logged, name
    assert seen == set(KINDS)


def test_the_runs_end_as_their_events_say(runs):
    handed, logged = runs["controlled"]
    kinds = [e["event"] for e in logged]
    assert kinds.count("paused") == kinds.count("resumed") == 1
    requested = [e for e in logged if e["event"] == "checkpoint" and e.get("requested")]
    paused = next(e for e in logged if e["event"] == "paused")
    assert len(requested) == 1 and requested[0]["step"] == paused["step"]  # the save while paused, at its position
    end = logged[-1]
    assert end["event"] == "end" and end["status"] == "interrupted" and end["reason"] == "SIGTERM"
    assert end["epochs"] == 1 and 0 < end["epoch_step"] <= 180
    state, _ = read_run(Path(end["run_dir"]))
    assert state.status == "interrupted" and state.epoch_done == 1 and state.end == end
    _, failed = runs["diverged"]
    assert failed[-1]["event"] == "error" and failed[-1]["kind"] == "diverged"
    assert read_run(Path(failed[0]["run_dir"]))[0].status == "failed"


def test_a_bad_event_is_caught_by_the_schema():
    assert problems({"event": "step", "epoch": 1}) != []
    assert problems({"event": "nope", "time": 0}) == ["unknown kind 'nope'"]
    good = {"event": "paused", "time": 1.0, "epoch": 1, "step": 3}
    assert problems(good) == []
    assert problems({**good, "step": "3"}) == ["paused.step: expected int, got '3'"]
    assert problems({**good, "extra": 1}) == ["paused: unknown field 'extra'"]
    assert problems({**good, "epoch": True}) != []


def test_the_readme_lists_every_kind_of_event():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The run folder"):]
    section = section[:section.index("\n## ", 3)]
    for kind in KINDS:
        assert f"`{kind}`" in section, kind
    assert "worker.log" in section


def test_only_the_recorder_builds_events():
    built = re.compile(r"""["']event["']\s*:""")
    for path in (ROOT / "tui").rglob("*.py"):
        if path.name in ("record.py", "event_schema.py"):
            continue
        assert not built.search(path.read_text()), f"{path.relative_to(ROOT)} builds an event by hand"
    assert set(SCHEMA) == set(KINDS)


def test_the_eta_counts_an_epoch_end_to_end_less_its_pauses_and_the_gap_before_a_resume():
    """An epoch's `seconds` leaves out its checkpoint saves and event writes, most of a small model's epoch: a tmux
    audit saw 'ETA 0:10' with 32 s left. The ETA takes the epochs' ends apart on the clock; a pause, and the time
    between a kill and its resume, are not training time."""
    from tui.core.follow import RunState

    state = RunState(Path("."))
    state.apply({"event": "start", "epochs": 20, "steps_per_epoch": 10, "batch_size": 4, "time": 1000.0})
    for epoch in (1, 2, 3):  # an epoch a second, each saying it trained for 0.2 s
        state.apply({"event": "step", "step": epoch * 10, "loss": 1.0, "samples_per_s": 400.0})
        state.apply({"event": "epoch", "epoch": epoch, "step": epoch * 10, "seconds": 0.2, "time": 1000.0 + epoch})
    assert state.eta_seconds() == pytest.approx(17.0)  # 17 epochs left at a second each, not at 0.2 s
    state.apply({"event": "paused", "epoch": 4, "step": 30})
    assert state.eta_seconds() is None
    state.apply({"event": "resumed", "epoch": 4, "step": 30, "paused_seconds": 60.0})
    state.apply({"event": "step", "step": 40, "loss": 1.0, "samples_per_s": 400.0})
    state.apply({"event": "epoch", "epoch": 4, "step": 40, "seconds": 0.2, "time": 1064.0})  # 1 s + 60 s paused
    assert state.eta_seconds() == pytest.approx(16.0)
    # killed after epoch 4, resumed an hour later from its checkpoint: the hour is no epoch's time
    state.apply({"event": "start", "epochs": 20, "steps_per_epoch": 10, "batch_size": 4, "time": 4664.0})
    state.apply({"event": "step", "step": 50, "loss": 1.0, "samples_per_s": 400.0})
    state.apply({"event": "epoch", "epoch": 5, "step": 50, "seconds": 0.2, "time": 4666.0})
    assert state.eta_seconds() == pytest.approx(15.0)  # the epochs before the kill: a second each
    state.apply({"event": "step", "step": 60, "loss": 1.0, "samples_per_s": 400.0})
    state.apply({"event": "epoch", "epoch": 6, "step": 60, "seconds": 0.2, "time": 4668.0})
    assert state.eta_seconds() == pytest.approx(14 * (1 + 1 + 1 + 2) / 4)  # the last five ends: 4 spans
