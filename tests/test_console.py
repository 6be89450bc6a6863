"""The console reader: a progress bar only on a terminal, one line per epoch, a resume hint."""

import io

from tui.console import ConsoleReporter

from conftest import train


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_and_epoch_lines(tmp_path):
    _, _, events = train(tmp_path, data__dataset="digits", train__epochs=2, train__batch_size=8,
                         train__log_interval=0.01)
    out, err = io.StringIO(), Terminal()
    report = ConsoleReporter(out=out, err=err)
    for e in events:
        report(e)
    lines = out.getvalue().splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    first = next(e for e in events if e["event"] == "epoch")
    assert f"train {first['train_loss']:.4f}" in epoch_lines[0] and f"acc {first['accuracy']:.4f}" in epoch_lines[0]
    assert "Conv2d" not in out.getvalue() and "Linear(64, 64)" in out.getvalue()  # the layer summary
    assert lines[-3].startswith("done: 2 epochs")
    bar = err.getvalue()
    assert "\r" in bar and "ETA" in bar and "samples/s" in bar and "epoch 2/2 [" in bar
    assert bar.endswith("\r\x1b[K")  # the bar is cleared before the summary


def test_no_bar_when_not_a_terminal_and_resume_hint_on_interrupt(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1)
    out, err = io.StringIO(), io.StringIO()
    report = ConsoleReporter(out=out, err=err)
    for e in events[:-1]:
        report(e)
    report({"event": "end", "status": "interrupted", "epochs": 1, "best_val_loss": None})
    assert err.getvalue() == ""
    assert f"stopped after epoch 1, saved in last.pt; continue with `torchtui resume {folder.path}`" in out.getvalue()


def test_interrupted_line_counts_the_epochs_done(tmp_path):
    """A stop in the middle of epoch 2 says so, in the status line's words: `after epoch 2, batch 3` was read as two
    epochs done; a stop before the first batch does not say `after epoch 0`."""
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1, train__batch_size=16)
    start = events[0]
    per = start["steps_per_epoch"]
    lines = []
    for end in ({"epochs": 1, "epoch_step": 3, "reason": "SIGINT"}, {"epochs": 2}, {"epochs": 0}):
        out = io.StringIO()
        report = ConsoleReporter(out=out, err=io.StringIO())
        report(start)
        report({"event": "end", "status": "interrupted", "best_val_loss": None, **end})
        lines.append(out.getvalue().splitlines()[-1].split(", saved")[0])
    assert per == 8 and lines == ["stopped (SIGINT) in epoch 2 after batch 3/8", "stopped after epoch 2",
                                  "stopped before its first batch"], lines
    out = io.StringIO()
    report = ConsoleReporter(out=out, err=io.StringIO())
    for e in events:  # a run of one epoch ends 'done: 1 epoch;' (it said '1 epochs')
        report(e)
    assert "done: 1 epoch; best loss " in out.getvalue(), out.getvalue()
    report({"event": "end", "status": "early_stopped", "epochs": 2, "best_epoch": 1, "best_val_loss": 0.5})
    assert "stopped early (no better validation loss in 1 epoch; --patience 0 turns" in out.getvalue()


def test_evaluation_pause_and_save_now_lines(tmp_path):
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=3)
    out = io.StringIO()
    report = ConsoleReporter(out=out, err=io.StringIO())
    start = events[0]
    report(start)
    report({"event": "paused", "epoch": 2, "step": 12})
    report({"event": "checkpoint", "which": "last", "path": "x/last.pt", "epoch": 1, "step": 12, "requested": True})
    report({"event": "resumed", "epoch": 2, "step": 12, "paused_seconds": 3.25})
    report({"event": "checkpoint", "which": "last", "path": "x/last.pt", "epoch": 2, "step": 16})  # routine: quiet
    for e in events[1:]:
        report(e)
    text = out.getvalue()
    assert f"paused in epoch 2 at step 12; `kill -USR2 {start['pid']}` resumes" in text
    assert "saved x/last.pt (requested) in epoch 2 at step 4/8\nresumed after 3.2 s paused\n" in text
    best, last = [e for e in events if e["event"] == "evaluation"]
    for e in (best, last):
        line = (f"{e['model']} model (epoch {e['epoch']}) on 30 validation rows: loss {e['val_loss']:.4f}  "
                f"acc {e['accuracy']:.4f}\n")
        assert line in text
    assert text.index("last model") < text.index("done: 3 epochs")


def test_the_first_line_says_new_run_resume_or_resume_within_the_first_epoch(tmp_path):
    # resumed_from 0 (a run stopped inside its first epoch, resumed) was read as "no resume": "run: ..."
    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1)
    start = next(e for e in events if e["event"] == "start")
    said = []
    for resumed_from in (None, 0, 3):
        out = io.StringIO()
        ConsoleReporter(out=out, err=io.StringIO())({**start, "resumed_from": resumed_from})
        said.append(out.getvalue().splitlines()[0])
    assert said == [f"run: {folder.path}", f"resuming in epoch 1: {folder.path}",
                    f"resuming after epoch 3: {folder.path}"]


def test_the_next_line_names_a_file_the_predict_command_takes(tmp_path):
    # it named DATA.csv, a file a newcomer trying a built-in set does not have; now the set's own CSV
    from typer.testing import CliRunner

    from tui.cli import app

    _, folder, events = train(tmp_path, data__dataset="iris", train__epochs=1)
    out = io.StringIO()
    report = ConsoleReporter(out=out, err=io.StringIO())
    for e in events:
        report(e)
    hint = out.getvalue().splitlines()[-1]
    assert hint.startswith("next: torchtui predict ") and "DATA.csv" not in hint, hint
    args = hint.removeprefix("next: torchtui ").split()
    args[args.index("-o") + 1] = str(tmp_path / "predictions.csv")
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 151  # iris's 150 rows and a header
