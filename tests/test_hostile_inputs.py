"""What a security audit reproduced with files someone else made: a spec that names a function as its Dataset class,
a column or file name that wrote code into an exported script, a checkpoint whose layers were code, `-o /dev/null
--force` that replaced the device, a run folder whose event log was a link, a name that made a spec.toml torchtui
could not read back, a `next:` line that a shell would split, escape sequences from the data printed to a
terminal. Each test failed on the code before its fix."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job
from tui.core.errors import UserError
from tui.core.spec import DataSpec, Spec
from tui.core.user_dataset import load as load_dataset

from conftest import make_spec
from test_export import bare_python, export_runs_bit_for_bit


def table(path: Path, columns: dict[str, list], rows: int = 60, seed: int = 0) -> Path:
    """A small classification table: two number columns, the given ones, and a 2-class target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows), **columns,
                          "label": rng.choice(["a", "b"], rows)})
    frame.to_csv(path, index=False)
    return path


def trained(tmp_path: Path, data: Path, **overrides) -> Path:
    spec = make_spec(tmp_path, **{"data__dataset": str(data), "train__epochs": 2, "train__threads": 1,
                                  "train__patience": 0, **overrides})
    return job.run(spec, lambda e: None)[1].path


# ---- a spec names what is called ----------------------------------------------------------------------------------
@pytest.mark.parametrize("named", ["os:system", "subprocess:Popen", "mailbox:Maildir"])
def test_a_dataset_that_is_no_dataset_class_is_refused_before_it_is_called(tmp_path, monkeypatch, named):
    monkeypatch.chdir(tmp_path)
    mark = tmp_path / "called"
    with pytest.raises(UserError, match=f"^{named} is not a Dataset class .* so it is not called"):
        load_dataset(DataSpec(dataset=named, dataset_args=[f"touch {mark}"]))
    assert not mark.exists() and not (tmp_path / f"touch {mark}").exists()


def test_a_map_style_class_of_the_users_own_file_is_still_a_dataset(tmp_path, monkeypatch):
    """Not every user's class subclasses torch's Dataset: one with __getitem__ and __len__, in a file here, loads."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain_rows.py").write_text(
        "import torch\n"
        "class Rows:\n"
        "    def __init__(self, n):\n"
        "        self.n = int(n)\n"
        "    def __len__(self):\n"
        "        return self.n\n"
        "    def __getitem__(self, i):\n"
        "        return torch.tensor([float(i)]), i % 2\n")
    assert len(load_dataset(DataSpec(dataset="plain_rows:Rows", dataset_args=["5"]))) == 5


# ---- the exported script: names are data, never code ---------------------------------------------------------------
def test_a_column_and_a_file_name_write_no_code_into_the_exported_script(tmp_path):
    mark = tmp_path / "PWNED"
    evil_column = f'f2\n__import__("os").system("touch {mark}")\n#'
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = data_dir / 'x""";__import__("os").system("touch PWNED_DOC");""".csv'
    rng = np.random.default_rng(1)
    cells = [f"{v:.3f}" for v in rng.normal(size=60)]
    cells[3] = cells[17] = "?"  # a numeric column with '?' cells: its name goes into a comment of the script
    table(data, {evil_column: cells})
    run_dir = trained(tmp_path, data, data__missing="impute")
    script = tmp_path / "train.py"
    made = CliRunner().invoke(app, ["export", str(run_dir), "-o", str(script)])
    assert made.exit_code == 0, made.output
    text = script.read_text()
    compile(text, "train.py", "exec")
    assert not any(line.lstrip().startswith("__import__") for line in text.splitlines())
    assert 'f2\\n__import__(\\"os\\")' in text or "f2\\n__import__(\"os\")" in text  # the name, escaped, on one line
    done = bare_python([str(script), "--data", str(data)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not mark.exists() and not (tmp_path / "PWNED_DOC").exists()


def test_a_checkpoint_whose_layer_is_code_is_refused_by_every_reader(tmp_path):
    run_dir = trained(tmp_path, Path(__file__).parents[1] / "datasets" / "iris.csv")
    mark = tmp_path / "PWNED"
    for name in ("last.pt", "best.pt"):
        path = run_dir / name
        ckpt = torch.load(path, weights_only=True)
        ckpt["layers"] = [*ckpt["layers"], f"Identity() if __import__('os').system('touch {mark}') else Identity()"]
        path.unlink()
        torch.save(ckpt, path)
    data = str(Path(__file__).parents[1] / "datasets" / "iris.csv")
    for args in (["export", str(run_dir), "-o", str(tmp_path / "t.py")], ["predict", str(run_dir), data, "-o", "-"],
                 ["eval", str(run_dir), data]):
        said = CliRunner().invoke(app, args)
        assert said.exit_code == 2, (args, said.output)
        assert "is not a whole torchtui checkpoint: cannot read layer" in said.output, said.output
    assert not (tmp_path / "t.py").exists() and not mark.exists()


def test_a_layer_with_a_double_star_argument_is_refused_not_trained_without_it():
    from tui.core.layer_catalog import canonical, parse

    with pytest.raises(UserError, match=r"name each argument \(no \* or \*\*\)"):
        parse('Linear(8, **{"bias": False})')
    assert canonical("nn.Conv2d(4, kernel_size=(3, 3), padding='same')") == \
        "Conv2d(4, kernel_size=(3, 3), padding='same')"


def test_a_text_column_of_more_values_than_get_inputs_exports_a_script_of_the_same_bits(tmp_path):
    """60 values: the engine gives the 49 most frequent an input each and the rest one '(other)'; the script
    did not (it crashed at its first step: 62 inputs into a Linear of 52), now it folds as the engine does."""
    rng = np.random.default_rng(2)
    codes = [f"c{int(v) % 60}" for v in rng.zipf(1.3, 300)]
    assert len(set(codes)) > 50
    data = table(tmp_path / "codes.csv", {"code": codes}, rows=300)
    run_dir = trained(tmp_path, data)
    export_runs_bit_for_bit(run_dir, data, tmp_path)
    assert "NOT EXACT" not in (tmp_path / "train.py").read_text()


# ---- files the user names, files of a run folder ------------------------------------------------------------------
def a_device(tmp_path: Path) -> Path:
    """A null device of the test's own: as root (where the bug replaced the system's /dev/null) a node made here,
    so a regression ruins no more than tmp_path; otherwise a link to /dev/null, whose folder a user cannot write."""
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        node.symlink_to(os.devnull)
    return node


@pytest.mark.parametrize("kind", ["device", "fifo", "link to a device"])
def test_a_forced_write_never_replaces_a_device_or_a_pipe(tmp_path, kind):
    from tui.core.files import write_user_file

    target = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = a_device(tmp_path)
    else:
        target.symlink_to(a_device(tmp_path))
    before = os.stat(target).st_mode
    with pytest.raises(UserError, match="which a written file would replace; name a file"):
        write_user_file(target, b"x")
    assert os.stat(target).st_mode == before


def test_predict_to_a_device_is_refused_and_the_device_stays(tmp_path):
    run_dir = trained(tmp_path, Path(__file__).parents[1] / "datasets" / "iris.csv")
    data = str(Path(__file__).parents[1] / "datasets" / "iris.csv")
    null = a_device(tmp_path)
    said = CliRunner().invoke(app, ["predict", str(run_dir), data, "-o", str(null), "--force"])
    assert said.exit_code == 2 and "it is a device" in said.output, said.output
    assert stat.S_ISCHR(os.stat(null).st_mode)


def test_a_run_folder_whose_event_log_is_a_link_is_not_written_through(tmp_path):
    run_dir = trained(tmp_path, Path(__file__).parents[1] / "datasets" / "iris.csv")
    outside = tmp_path / "bashrc"
    outside.write_text((run_dir / "events.jsonl").read_text())
    (run_dir / "events.jsonl").unlink()
    (run_dir / "events.jsonl").symlink_to(outside)
    before = outside.read_bytes()
    said = CliRunner().invoke(app, ["resume", str(run_dir), "--epochs", "3"])
    assert said.exit_code == 2 and "is not a file of the run folder's own" in said.output, said.output
    assert outside.read_bytes() == before


def test_a_column_named_with_a_del_writes_a_spec_torchtui_reads_back(tmp_path):
    data = table(tmp_path / "del.csv", {"f\x7f3": list(range(60))})
    run_dir = trained(tmp_path, data, data__drop=["f\x7f3"])
    assert Spec.from_file(run_dir / "spec.toml").data.drop == ["f\x7f3"]


def test_a_file_name_in_another_encoding_is_refused_and_leaves_no_folder(tmp_path):
    runs = tmp_path / "runs"
    name = os.fsdecode(b"bad\xffname.csv")
    data = table(tmp_path / name, {})
    with pytest.raises(UserError, match="is not valid text"):
        job.run(make_spec(tmp_path, data__dataset=str(data), train__epochs=1, run__runs_dir=str(runs)),
                lambda e: None)
    assert not runs.exists() or not any(runs.iterdir())


# ---- the console --------------------------------------------------------------------------------------------------
def test_the_next_line_quotes_a_path_a_shell_would_split(tmp_path):
    data = table(tmp_path / "x;touch PWNED;.csv", {})
    runs = tmp_path / "runs"
    done = CliRunner().invoke(app, ["run", "--dataset", str(data), "--epochs", "1", "--runs-dir", str(runs), "--name",
                                    "q"])
    assert done.exit_code == 0, done.output
    line = next(x for x in done.stdout.splitlines() if x.startswith("next: "))
    assert shlex.split(line.removeprefix("next: ")) == ["torchtui", "predict", f"{runs}/q/best.pt", str(data), "-o",
                                                        "predictions.csv"]


def test_a_terminal_is_sent_no_control_characters_from_the_data(tmp_path):
    """A column named with an OSC sequence (the terminal's title), a label with OSC 52 (its clipboard), run in a
    real terminal (`script`): what reaches it shows them escaped; a pipe still gets the text as it is."""
    title, clipboard = "\x1b]0;pwned\x07", "\x1b]52;c;cHduZWQ=\x07"
    rng = np.random.default_rng(3)
    data = tmp_path / "esc.csv"
    pd.DataFrame({f"f1{title}": rng.normal(size=40), "label": rng.choice(["a", f"b{clipboard}"], 40)}).to_csv(
        data, index=False)
    command = shlex.join([sys.executable, "-m", "tui", "run", "--dataset", str(data), "--epochs", "1", "--runs-dir",
                          str(tmp_path / "runs")])
    typed = tmp_path / "terminal.out"
    subprocess.run(["script", "-qec", command, str(typed)], capture_output=True, timeout=300, cwd=tmp_path,
                   check=True)
    shown = typed.read_bytes().decode()
    assert "f1" in shown and "\x1b]" not in shown and "\x07" not in shown, shown[:2000]
    assert "f1\\x1b]0;pwned\\x07" in shown
    piped = subprocess.run(["bash", "-c", command + " --name piped"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert f"f1{title}" in piped.stdout  # a file or a pipe: the text as it is


def test_visible_keeps_ordinary_text_and_torchtuis_own_sequences():
    from tui.visible import visible, visible_output

    assert visible("温度 (°C) – naïve") == "温度 (°C) – naïve"
    assert visible("a\u202eb\tc\n") == "a\\u202eb\\tc\\n"
    assert visible_output("\r\x1b[Kepoch 1\n\x1b[1mbold\x1b[0m") == "\r\x1b[Kepoch 1\n\x1b[1mbold\x1b[0m"
    assert visible_output("x\x1b[2Jy\x1b]0;t\x07") == "x\\x1b[2Jy\\x1b]0;t\\x07"
    assert visible_output("\rbar\x1b[K") == "\rbar\x1b[K"  # the console's progress bar
    assert visible_output("a\rfake\x1b[2K") == "a\\rfake\\x1b[2K"  # a line written over, erased: escaped


# ---- one line, never a traceback ------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry,value,said", [
    (("preprocessing", "classes"), None, "preprocessing.classes is NoneType, not list"),
    (("preprocessing", "columns"), "x", "preprocessing.columns is str, not list"),
    (("progress", "epoch"), "x", "progress.epoch is str, not int"),
    (("loss",), "Foo", "its loss 'Foo' is none of torchtui's"),
    (("format",), "1", "its format is '1', not a number"),
])
def test_a_hand_made_checkpoint_with_a_wrong_entry_is_one_line(tmp_path, entry, value, said):
    iris = str(Path(__file__).parents[1] / "datasets" / "iris.csv")
    run_dir = trained(tmp_path, Path(iris))
    ckpt = torch.load(run_dir / "best.pt", weights_only=True)
    holder = ckpt
    for key in entry[:-1]:
        holder = holder[key]
    holder[entry[-1]] = value
    torch.save(ckpt, tmp_path / "made.pt")
    for command in (["predict", str(tmp_path / "made.pt"), iris, "-o", "-"], ["eval", str(tmp_path / "made.pt"), iris]):
        done = CliRunner().invoke(app, command)
        assert done.exit_code == 2 and said in done.stderr, (command, done.stderr[-2000:])
        assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("encoding", ["rot13", "base64", "zlib_codec"])
def test_an_encoding_that_is_no_text_encoding_is_one_line(tmp_path, encoding):
    data = table(tmp_path / "plain.csv", {})
    said = CliRunner().invoke(app, ["run", "--dataset", str(data), "--encoding", encoding, "--epochs", "1",
                                    "--runs-dir", str(tmp_path / "runs")])
    assert said.exit_code == 2 and f"error: --encoding {encoding!r} is not a text encoding" in said.output, said.output


# ---- memory: the layers together, and a checkpoint's ---------------------------------------------------------------
def test_a_stack_whose_layers_fit_alone_but_not_together_is_refused_with_the_optimizers_share(monkeypatch):
    from tui.core import layers

    monkeypatch.setattr(layers, "_memory_bytes", lambda: 10 * 2**20)  # a 10 MiB machine: Linear(600) alone fits
    stack = "Linear(600), Linear(600), Linear(600), Linear(600)"  # ~1.08M weights: 8.6 MB, 17 MB with Adam's
    layers.resolve(stack, (4,), 3)  # weights and gradients alone fit
    with pytest.raises(UserError, match=r"^the layers together \(1,0\d\d,\d{3} parameters\): it needs 16 MiB|"
                                        r"^the layers together .* gradients and optimizer state\)"):
        layers.resolve(stack, (4,), 3, copies=4)


def test_a_checkpoint_whose_layers_fit_no_machine_is_one_line(tmp_path):
    iris = str(Path(__file__).parents[1] / "datasets" / "iris.csv")
    run_dir = trained(tmp_path, Path(iris))
    ckpt = torch.load(run_dir / "best.pt", weights_only=True)
    ckpt["layers"] = ["Linear(4, 100000000000)"]
    torch.save(ckpt, tmp_path / "huge.pt")
    done = CliRunner().invoke(app, ["predict", str(tmp_path / "huge.pt"), iris, "-o", "-"])
    assert done.exit_code == 2 and "the model (500,000,000,000 parameters): it needs" in done.stderr, done.stderr
