"""What an audit of the command line found, each checked for real: another user's private run folder ended
`torchtui runs` (and the screen's start) with a traceback; TOML's inf and nan for an integer field, a checkpoint
this user may not read, predictions written to a full disk, stdin closed, a spec nested thousands deep: tracebacks;
a resume whose checkpoints were deleted trained the run again from nothing in its own folder; a start event naming
a process number that is another program here (a folder copied from another box) made the run 'still training';
a spec saved with a byte-order mark was refused; the screen started with no terminal drew into a pipe for good;
the range test's extreme rates overflowed.

Permissions are real: as root, which reads any file, the command runs without root's right to (setpriv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core.follow import list_runs, read_run

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "datasets" / "iris.csv"
ONE_LINE = 1


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def trained(runs: Path, name: str, *args) -> Path:
    done = invoke("run", "--dataset", "iris", "--epochs", "1", "--threads", "1", "--device", "cpu", "--runs-dir",
                  runs, "--name", name, *args)
    assert done.exit_code == 0, done.output
    return runs / name


def as_a_user(*args, **kw) -> subprocess.CompletedProcess:
    """`torchtui ARGS` as a process that file modes apply to: root without its rights to read and write any file."""
    command = [sys.executable, "-m", "tui", *map(str, args)]
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search,-fowner"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kw)


def refused(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2 and "Traceback" not in done.stderr, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == ONE_LINE and done.stderr.startswith("error: "), done.stderr
    return done.stderr


def test_another_users_private_run_is_listed_unreadable_and_the_others_as_ever(tmp_path):
    runs = tmp_path / "shared"
    trained(runs, "mine")
    theirs = trained(runs, "theirs")
    os.chown(theirs, 65534, 65534)  # (as any user: a folder of another's; as root, set to nobody's)
    theirs.chmod(0o700)
    try:
        done = as_a_user("runs", "--runs-dir", runs, "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        listed = {Path(r["run"]).name: r["status"] for r in json.loads(done.stdout)["runs"]}
        assert listed == {"mine": "done", "theirs": "unreadable"}
        said = refused(as_a_user("runs", "--compare", "mine", "theirs", "--runs-dir", runs))
        assert "theirs/spec.toml: permission denied; check that path and its permissions" in said
    finally:
        theirs.chmod(0o755)


def test_a_checkpoint_this_user_may_not_read_is_one_line(tmp_path):
    run = trained(tmp_path / "runs", "r")
    for name in ("last.pt", "best.pt"):
        (run / name).chmod(0)
    try:
        for args in (["predict", run, IRIS], ["resume", run, "--epochs", "2"], ["export", run, "-o", "-"]):
            assert "permission denied" in refused(as_a_user(*args)).lower(), args
        said = refused(as_a_user("eval", run / "best.pt", IRIS))
        assert said == f"error: checkpoint: path '{run / 'best.pt'}' is not readable; check its permissions\n"
    finally:
        for name in ("last.pt", "best.pt"):
            (run / name).chmod(0o644)


@pytest.mark.parametrize("line, said", [("epochs = inf", "train.epochs must be an integer, got inf"),
                                        ("batch_size = nan", "train.batch_size must be an integer, got nan"),
                                        ("epochs = -inf", "train.epochs must be an integer, got -inf")])
def test_an_integer_field_given_infinity_or_nan_in_toml_is_refused(tmp_path, line, said):
    spec = tmp_path / "exp.toml"
    spec.write_text(f'[data]\ndataset = "iris"\n[train]\n{line}\n')
    done = invoke("run", spec)
    assert done.exit_code == 2 and done.stderr == f"error: {spec}: {said}\n", done.output


def test_a_spec_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    spec = tmp_path / "notepad.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + f'[data]\ndataset = "iris"\n[train]\nepochs = 1\n[run]\nruns_dir = '
                     f'"{tmp_path / "runs"}"\nname = "bom"\n'.encode())
    done = invoke("run", spec, "--device", "cpu")
    assert done.exit_code == 0, done.output
    assert read_run(tmp_path / "runs" / "bom")[0].status == "done"
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[run]\nname = "caf\xe9"\n'.encode("latin-1"))
    done = invoke("run", latin)
    assert done.exit_code == 2 and done.stderr == (f"error: config file {latin} is not UTF-8 text (byte 18 is not): "
                                                   "save it as UTF-8, as TOML is\n"), done.output


def test_predictions_to_a_full_disk_are_one_line_not_a_traceback(tmp_path):
    run = trained(tmp_path / "runs", "r")
    for args in (["predict", run, IRIS], ["export", run, "-o", "-"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "tui", *map(str, args)], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        assert done.returncode == 1 and done.stderr == "error: cannot write the output: No space left on device\n", \
            (args, done.stderr[-2000:])


def test_a_refusal_whose_json_line_meets_a_full_disk_is_still_the_refusal(tmp_path):
    # exit 1 and "cannot write the output" in place of the refusal: the user's mistake, and its fix, were lost
    for args, said in ((["run", "--dataset", tmp_path / "nothere.csv", "--json"],
                        f"error: dataset {tmp_path / 'nothere.csv'} is neither a built-in dataset"),):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "tui", *map(str, args)], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and lines[0].startswith(said) and "Traceback" not in done.stderr, done.stderr
        assert lines[-1] == "  note: its JSON line could not be written to the output: No space left on device"


def test_a_resume_whose_checkpoints_are_gone_refuses_to_train_again_from_nothing(tmp_path):
    run = trained(tmp_path / "runs", "r")
    events = (run / "events.jsonl").read_text()
    (run / "last.pt").unlink()
    (run / "best.pt").unlink()
    done = invoke("resume", run, "--epochs", "2")
    assert done.exit_code == 2 and done.stderr == (
        f"error: the checkpoints of {run} are gone (its log records a save of epoch 1): nothing is left to go on "
        f"from; put last.pt back, or start the run again under a new name, `torchtui run {run / 'spec.toml'} "
        f"--name r-again`\n"), done.output
    assert (run / "events.jsonl").read_text() == events and not (run / "last.pt").exists()


def test_a_run_stopped_before_its_first_save_still_starts_again_in_its_folder(tmp_path):
    run = trained(tmp_path / "runs", "r")
    kept = [line for line in (run / "events.jsonl").read_text().splitlines()
            if json.loads(line)["event"] == "start"]
    (run / "events.jsonl").write_text(kept[0] + "\n")
    (run / "last.pt").unlink()
    (run / "best.pt").unlink()
    done = invoke("resume", run)
    assert done.exit_code == 0, done.output
    assert read_run(run)[0].status == "done" and (run / "last.pt").exists()


def test_a_start_event_naming_another_program_here_is_no_run_in_training(tmp_path):
    # a folder copied from another box: its worker's number is, here, a program started before the event (a shell,
    # init) that holds no lock on the log. It was listed as training, and resume said to stop that process
    other = subprocess.Popen(["sleep", "300"])
    try:
        time.sleep(0.2)
        run = trained(tmp_path / "runs", "copied")
        lines = (run / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        events[0]["pid"] = other.pid
        (run / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events[:3]) + "\n")  # cut mid-run
        state, _ = read_run(run)
        assert not state.running and state.status == "interrupted"
        assert [r.status for r in list_runs(tmp_path / "runs")] == ["interrupted"]
        done = invoke("resume", run)
        assert done.exit_code == 0, done.output
        assert read_run(run)[0].status == "done"
    finally:
        other.kill()
        other.wait()


def test_the_screen_without_a_terminal_says_so_and_ends(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tui"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert refused(done) == ("error: the screen needs a terminal, and this has none (input or output is a file or a "
                             "pipe); `torchtui run` trains without one, `torchtui runs` lists the runs\n")
    assert not (tmp_path / "checkpoints").exists()


def test_a_spec_from_a_closed_stdin_or_nested_thousands_deep_is_one_line(tmp_path):
    closed = subprocess.run(["bash", "-c", f"{sys.executable} -m tui run - <&-"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert "this process has none; pipe a TOML spec" in refused(closed)
    for empty in ("", "\n  \n"):  # the command before the pipe failed: not the defaults trained in its place
        done = CliRunner().invoke(app, ["run", "-", "--runs-dir", str(tmp_path / "runs")], input=empty)
        assert done.exit_code == 2 and done.stderr == (
            "error: - reads the spec from standard input, and it was empty; pipe a TOML spec, `torchtui config show "
            "| torchtui run -`, or leave out - to train the defaults\n"), done.output
    assert not (tmp_path / "runs").exists()
    deep = tmp_path / "deep.toml"
    deep.write_text("[train]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    done = invoke("run", deep)
    assert done.exit_code == 2 and done.stderr == f"error: {deep} nests its values too deeply to read; a spec's " \
                                                  "values are flat\n"


@pytest.mark.parametrize("flags, said", [
    (["--start-lr", "1e-10", "--end-lr", "1e300"], "--end-lr must be from 1e-12 to 1e+06, got 1e+300"),
    (["--start-lr", "5e-324", "--end-lr", "1e-323"], "--start-lr must be from 1e-12 to 1e+06, got 4.94066e-324"),
])
def test_range_test_rates_past_what_it_can_step_through_are_refused(flags, said):
    done = invoke("lr-find", "--dataset", "iris", *flags)
    assert done.exit_code == 2 and done.stderr == f"error: {said}\n", done.output


def test_a_layer_given_one_argument_twice_is_refused():
    # Python's parser kept the last one without a word (a call in Python refuses it)
    done = invoke("run", "--dataset", "iris", "--layers", "Linear(8, bias=True, bias=False), ReLU()")
    assert done.exit_code == 2 and done.stderr.startswith(
        "error: layer 'Linear(8, bias=True, bias=False)' gives bias twice; keep one\n"), done.output


@pytest.mark.parametrize("layer, said", [
    ("LeakyReLU(1e400)", "1e400"), ("LeakyReLU(negative_slope=-1e999)", "-1e999"),
    ("MaxPool2d((2, 1e999))", "(2, 1e999)")])
def test_a_layer_argument_too_large_for_a_float_is_said_as_written(layer, said):
    # 1e400 read as inf, written back as `inf`, and refused as "arguments must be plain numbers" of a layer the user
    # never wrote (negative_slope=inf)
    done = invoke("run", "--dataset", "iris", "--layers", f"Linear(8), {layer}")
    assert done.exit_code == 2 and done.stderr.startswith(f"error: layer {layer!r}: {said} is not a finite number; "
                                                          "give a finite one\n"), done.output


def test_a_single_space_or_tab_is_a_separator_not_nothing(tmp_path):
    # --sep ' ' was stripped to '' and refused: "got ''"
    (tmp_path / "spaced.txt").write_text("x y z label\n" + "".join(f"{i} {i % 3} {i % 5} {'ab'[i % 2]}\n"
                                                                      for i in range(40)))
    (tmp_path / "tabbed.txt").write_text("x\ty z\tlabel\n" + "".join(f"{i}\t{i % 3} {i % 5}\t{'ab'[i % 2]}\n"
                                                                      for i in range(40)))
    for name, sep, columns in (("spaced.txt", " ", 4), ("tabbed.txt", "\t", 3)):
        done = invoke("run", "--dataset", tmp_path / name, "--sep", sep, "--epochs", "1", "--runs-dir", tmp_path / "r",
                      "--json")
        assert done.exit_code == 0, done.output
        start = next(e for e in map(json.loads, done.stdout.splitlines()) if e["event"] == "start")
        assert f"{columns} columns" in start["notices"][0], start["notices"][0]


def test_dataset_class_flags_given_with_a_table_are_said_ignored(tmp_path):
    done = invoke("run", "--dataset", "iris", "--dataset-arg", "x=1", "--workers", "2", "--epochs", "1",
                  "--runs-dir", tmp_path, "--json")
    assert done.exit_code == 0, done.output
    start = next(e for e in map(json.loads, done.stdout.splitlines()) if e["event"] == "start")
    assert "warning: --dataset-arg and --workers 2 are for a Dataset class (module:Class), and iris is a table: " \
           "ignored" in start["notices"]


def test_the_range_tests_plot_in_a_terminal_is_plain_under_no_color(tmp_path):
    """A terminal asked for no colour (NO_COLOR, as the screen honours it) got the plot's colour codes anyway. One
    process on a real terminal (a pty) runs the command twice: NO_COLOR empty (not set, no-color.org), then set."""
    import pty

    code = ("import os, sys; from tui.cli import app\n"
            "for value in ('', '1'):\n"
            "    os.environ['NO_COLOR'] = value\n"
            "    print('=== NO_COLOR=' + value, flush=True)\n"
            "    try:\n"
            "        app(['lr-find', '--dataset', 'iris', '--threads', '1', '--steps', '20'])\n"
            "    except SystemExit as e:\n"
            "        assert not e.code, e.code\n")
    main, side = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=side,
                            stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, "COLUMNS": "100"})
    os.close(side)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the side closed: the process ended
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(main)
    coloured, plain = out.split(b"=== NO_COLOR=1")
    assert b"smoothed loss vs learning rate" in coloured and b"smoothed loss vs learning rate" in plain
    assert b"\x1b[" in coloured, "the control shows no colour in a terminal: the check would prove nothing"
    assert b"\x1b[" not in plain


def test_a_data_file_linked_to_nothing_says_so_not_not_found(tmp_path):
    (tmp_path / "moved.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    runs = tmp_path / "runs"
    folder = trained(runs, "linked")
    dangling = f"{tmp_path / 'moved.csv'} is a symbolic link to {tmp_path / 'gone.csv'}, which does not exist; point " \
               "it at the file, or put it back"
    loop = f"{tmp_path / 'a'} is a symbolic link in a loop of links; point it at the file"
    for path, said in ((tmp_path / "moved.csv", dangling), (tmp_path / "a", loop)):
        done = invoke("run", "--dataset", path, "--runs-dir", runs)
        assert done.exit_code == 2 and done.stderr == f"error: dataset {said}\n", done.output
        done = invoke("predict", folder, path)
        assert done.exit_code == 2 and done.stderr == f"error: {said}\n", done.output


def test_a_val_file_with_text_where_the_training_file_has_numbers_says_impute_filled_it(tmp_path):
    # the refusal's own fix (--missing impute) then filled 20 cells of text with the training median without a word
    rows = [f"{i / 10},{i % 7},{'ab'[i % 2]}" for i in range(60)]
    (tmp_path / "train.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "val.csv").write_text("a,b,y\n" + "\n".join(f"{'hi' if i < 20 else i},{i % 7},{'ab'[i % 2]}"
                                                            for i in range(30)) + "\n")
    done = invoke("run", "--dataset", tmp_path / "train.csv", "--val", tmp_path / "val.csv", "--missing", "impute",
                  "--epochs", "1", "--runs-dir", tmp_path / "runs", "--json")
    assert done.exit_code == 0, done.output
    start = next(e for e in map(json.loads, done.stdout.splitlines()) if e["event"] == "start")
    assert any(n.startswith("filled empty cells (or no number where one belongs) from the training rows") and
               n.endswith(": a 20") for n in start["notices"]), start["notices"]


def test_a_copy_of_a_run_folder_taken_while_it_trains_is_not_that_run(tmp_path):
    """`cp -a` of a folder mid-run: the copy named the original's writer, a live Python process started before its
    start event, and was listed "running"; resume said to stop that process (the other run), and `change` wrote a
    request nobody read, which a later resume applied unasked."""
    import shutil

    from test_compare import live_run, stop

    runs = tmp_path / "runs"
    live, worker = live_run(runs, "live")
    try:
        shutil.copytree(live, runs / "copy", symlinks=True)
        assert read_run(live)[0].alive() and not read_run(runs / "copy")[0].alive()
        statuses = {r.path.name: r.running for r in list_runs(runs)}
        assert statuses == {"live": True, "copy": False}, statuses
        done = invoke("change", runs / "copy", "--lr", "0.001")
        assert done.exit_code == 2 and "is not training" in done.stderr, done.output
        assert not (runs / "copy" / "change.json").exists()
    finally:
        stop(worker)


def test_the_export_of_a_run_killed_before_its_end_says_it_is_not_the_run(tmp_path):
    """A run killed (-9) at epoch 2 of 200: its script said "bit for bit" with EPOCHS = 200 and no NOT EXACT."""
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "tui", "run", "--dataset", "iris", "--epochs", "200", "--threads",
                             "1", "--runs-dir", str(runs), "--name", "killed", "--json"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "checkpoint" and event.get("epoch", 0) >= 2:
                break
    finally:
        proc.kill()
        proc.wait()
    done = invoke("export", runs / "killed", "-o", tmp_path / "train.py")
    assert done.exit_code == 0, done.output
    script = (tmp_path / "train.py").read_text()
    assert "It cannot end with the run's weights bit for bit: see NOT EXACT below." in script
    assert "bit for bit (same torch version)" not in script
    assert "# - the run has not finished: it stopped after epoch " in script and "of its 200" in script


def test_an_early_stopped_run_of_a_fixed_schedule_is_told_the_epochs_that_work(tmp_path):
    # "resume --epochs N" for any N, and every N past the schedule's 20 epochs was then refused
    runs = tmp_path / "runs"
    done = invoke("run", "--dataset", "iris", "--epochs", "20", "--patience", "1", "--scheduler", "cosine", "--lr",
                  "0.3", "--threads", "1", "--runs-dir", runs, "--name", "cos")
    assert done.exit_code == 0 and "stopped early" in done.stdout, done.output
    refused = invoke("resume", runs / "cos")
    assert refused.exit_code == 2 and refused.stderr.startswith(f"error: {runs / 'cos'} stopped early after epoch ")
    hint = refused.stderr.splitlines()[0]
    assert hint.endswith(f"its cosine schedule is fixed to 20 epochs: `torchtui resume {runs / 'cos'} --epochs 20` "
                         "trains on to its end, with its patience counted afresh"), hint
    assert invoke("resume", runs / "cos", "--epochs", "20").exit_code == 0


def test_several_targets_with_a_text_one_are_told_a_fix_that_works(tmp_path):
    # "use --task classification if it is a label", which was then refused: "a classifier takes one --target"
    (tmp_path / "two.csv").write_text("x,t1,lab\n" + "".join(f"{i},{i * 0.5},{'ab'[i % 2]}\n" for i in range(30)))
    done = invoke("run", "--dataset", tmp_path / "two.csv", "--target", "t1,lab", "--runs-dir", tmp_path / "runs")
    assert done.exit_code == 2 and "train a classifier on it alone: --target lab --task classification" in \
        done.stderr.splitlines()[0], done.output
    assert invoke("run", "--dataset", tmp_path / "two.csv", "--target", "lab", "--task", "classification", "--epochs",
                  "1", "--runs-dir", tmp_path / "runs").exit_code == 0


def test_a_value_out_of_range_is_named_by_the_flag_that_set_it(tmp_path):
    """`--epochs 0` was told 'train.epochs must be an integer >= 1', a key of a file the user never wrote; a value
    from the spec file keeps its key."""
    runs = str(tmp_path / "runs")
    for flags, said in ((["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
                        (["--lr", "-1"], "--lr must be a number > 0, got -1"),
                        (["--momentum", "0.9"], "--momentum applies to SGD and RMSprop, not Adam; set it to 0 or "
                                                "change --optimizer"),
                        (["--optimizer", "SGD", "--nesterov"], "--nesterov needs --optimizer SGD with --momentum > 0")):
        done = invoke("run", "--dataset", "iris", *flags, "--runs-dir", runs)
        assert done.exit_code == 2 and done.stderr == f"error: {said}\n", done.output
    spec = tmp_path / "spec.toml"
    spec.write_text('[train]\noptimizer = "Adam"\nepochs = 0\n')
    done = invoke("run", spec, "--runs-dir", runs)
    assert done.exit_code == 2 and done.stderr == "error: train.epochs must be an integer >= 1, got 0\n", done.output
    spec.write_text('[train]\noptimizer = "Adam"\n')
    done = invoke("run", spec, "--momentum", "0.5", "--runs-dir", runs)
    assert done.exit_code == 2 and done.stderr == (
        "error: --momentum applies to SGD and RMSprop, not Adam; set it to 0 or change train.optimizer\n"), done.output
    assert not (tmp_path / "runs").exists()


def test_a_name_taken_says_what_the_folder_there_is(tmp_path):
    """`--name X` where X is taken: a finished run is trained on with --epochs, one stopped is resumed, and a
    folder that is no run is not offered a resume (each was told 'continue it with `torchtui resume`')."""
    runs = tmp_path / "runs"
    assert invoke("run", "--dataset", "iris", "--epochs", "1", "--runs-dir", runs, "--name", "done").exit_code == 0
    (runs / "other").mkdir()
    said = {}
    for name in ("done", "other"):
        done = invoke("run", "--dataset", "iris", "--runs-dir", runs, "--name", name)
        assert done.exit_code == 2, done.output
        said[name] = done.stderr
    assert said == {
        "done": f"error: run folder {runs / 'done'} already exists and has finished; choose another --name, or train "
                f"it on with `torchtui resume {runs / 'done'} --epochs N`\n",
        "other": f"error: run folder {runs / 'other'} already exists and is no run (no spec.toml); choose another "
                 "--name\n"}
    assert sorted(p.name for p in (runs / "other").iterdir()) == []
