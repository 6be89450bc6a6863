"""A screen-started worker's output is its run's worker.log from the run's start, whatever the screen does.

An audit in tmux found worker.log missing whenever the screen went away before its worker ended (the terminal
killed, `ctrl+q` leaving it training, or stopping it): the screen filed the hidden log only once it saw its worker
exit, so the data notes, the preview and any traceback stayed beside the run folder, and a resume's log beside
them. Here no screen tidies anything: the workers are started as the screen starts them and left to end alone.
"""

from __future__ import annotations

import time

from tui.app import training_process
from tui.app.training_process import TrainingProcess

from conftest import make_spec

IRIS = {"data__dataset": "iris", "train__epochs": 2, "model__layers": "Linear(8), ReLU()"}


def ended(proc: TrainingProcess) -> TrainingProcess:
    assert proc.proc is not None
    proc.proc.wait(timeout=120)
    return proc


def hidden_logs(root):
    return sorted(p.name for p in root.glob(".*.log"))


def test_a_new_runs_output_is_in_its_folder_with_no_screen_to_file_it(tmp_path):
    proc = ended(training_process.start_run(make_spec(tmp_path, **IRIS, run__name="a"), "iris"))
    assert proc.exit_code() == 0
    log = (tmp_path / "runs" / "a" / "worker.log").read_text()
    # the lines from before the start event (the folder did not exist yet) and after it, once each, in order
    assert log.count("run: ") == 1 and log.count("done: 2 epochs") == 1
    assert log.index("run: ") < log.index("epoch 1/2") < log.index("done: 2 epochs")
    assert hidden_logs(tmp_path / "runs") == []
    proc.tidy()  # the screen's tidy, when it does see the end, finds nothing left to do
    assert (tmp_path / "runs" / "a" / "worker.log").read_text() == log


def test_a_resumes_output_follows_the_runs_earlier_output_in_worker_log(tmp_path):
    ended(training_process.start_run(make_spec(tmp_path, **IRIS, run__name="a"), "iris"))
    run = tmp_path / "runs" / "a"
    first = (run / "worker.log").read_text()
    proc = ended(training_process.resume_run(run, epochs=3))
    assert proc.exit_code() == 0
    log = (run / "worker.log").read_text()
    assert log.startswith(first) and "done: 3 epochs" in log[len(first):]
    assert hidden_logs(tmp_path / "runs") == []


def test_a_refused_resume_says_its_own_reason_not_an_earlier_line_of_the_log(tmp_path):
    ended(training_process.start_run(make_spec(tmp_path, **IRIS, run__name="a"), "iris"))
    run = tmp_path / "runs" / "a"
    with open(run / "worker.log", "a") as f:
        f.write("error: an earlier worker's refusal\n")  # the log of a run resumed before
    proc = ended(training_process.resume_run(run, epochs=3, moved={"data.dataset": str(tmp_path / "gone.csv")}))
    assert proc.exit_code() == 2
    assert "leave --dataset out" in proc.failure() and "earlier" not in proc.failure()


def test_a_refused_new_run_leaves_no_folder_and_no_log_once_tidied(tmp_path):
    spec = make_spec(tmp_path, **IRIS, run__name="a", data__target="no_such_column")
    proc = ended(training_process.start_run(spec, "iris"))
    assert proc.exit_code() == 2 and "no_such_column" in proc.failure()
    assert not (tmp_path / "runs" / "a").exists()
    proc.tidy()
    assert hidden_logs(tmp_path / "runs") == []


def test_a_run_killed_after_its_start_has_its_output_in_its_folder(tmp_path):
    """kill -9 at once after the start event: what it printed up to there is the run's, filed by the worker."""
    spec = make_spec(tmp_path, **{**IRIS, "train__epochs": 100000}, run__name="a")
    proc = training_process.start_run(spec, "iris")
    run = tmp_path / "runs" / "a"
    try:
        deadline = time.monotonic() + 60
        while not (run / "worker.log").exists() or "train: " not in (run / "worker.log").read_text():
            assert time.monotonic() < deadline and proc.exit_code() is None, "no worker.log in the run folder"
            time.sleep(0.05)
    finally:
        assert proc.proc is not None
        proc.proc.kill()
        proc.proc.wait(timeout=30)
    assert "run: " in (run / "worker.log").read_text()
    assert hidden_logs(tmp_path / "runs") == []


def test_a_resume_whose_folder_takes_no_worker_log_logs_beside_it(tmp_path):
    ended(training_process.start_run(make_spec(tmp_path, **IRIS, run__name="a"), "iris"))
    run = tmp_path / "runs" / "a"
    (run / "worker.log").rename(tmp_path / "first.log")
    (run / "worker.log").mkdir()  # a name that takes no file
    proc = ended(training_process.resume_run(run, epochs=3))
    assert proc.exit_code() == 0 and proc.log_path == tmp_path / "runs" / ".a.resume.log"
    assert "done: 3 epochs" in proc.log_path.read_text() and proc.failure().startswith("next: torchtui predict")
