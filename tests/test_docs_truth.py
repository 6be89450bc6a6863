"""What a documentation audit found untrue (each test failed before its fix): `run --help` gave no default for the
spec's flags (the README says ./checkpoints, `--help` did not), and the README's `-o=~/p.csv` example wrote into a
folder named `=~`; its long form is what expands."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from tui.cli import app
from tui.core import job
from tui.core.spec import spec_fields

import warm_cli
from conftest import make_spec

README = Path(__file__).parents[1] / "README.md"


def test_run_help_shows_each_spec_flags_default():
    run = typer.main.get_command(app).commands["run"]
    shown = {opt: p.show_default for p in run.params for opt in p.opts}
    for info in spec_fields():
        if info.flag is None or info.default in ("", None, []):
            continue
        expected = ",".join(map(str, info.default)) if isinstance(info.default, list) else str(info.default)
        if info.switch and info.default in info.switch:  # a yes/no field: the switch that gives its default
            expected = info.flag if info.default == info.switch[0] else "--no-" + info.flag[2:]
        assert shown[info.flag] == expected, (info.path, shown[info.flag])
    text = " ".join(CliRunner().invoke(app, ["run", "--help"]).stdout.split())  # (unwrapped)
    assert re.search(r"--runs-dir <str> Where run folders are written\. \[default: \(?checkpoints\)?\]", text), text
    assert re.search(r"--patience <int> [^\[]*\[default: \(?10\)?\]", text), text


def test_the_readmes_home_folder_example_is_the_long_flag_and_it_expands(tmp_path, monkeypatch):
    assert "-o=~/p.csv" not in README.read_text() and "`--output=~/p.csv`" in README.read_text()
    monkeypatch.setenv("HOME", str(tmp_path))
    _, folder = job.run(make_spec(tmp_path, data__dataset="iris", train__epochs=1), lambda e: None)
    iris = Path(__file__).parents[1] / "datasets" / "iris.csv"
    said = warm_cli.run([sys.executable, "-m", "tui", "predict", str(folder.path), str(iris), "--output=~/p.csv"],
                        capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)})
    assert said.returncode == 0, said.stderr
    assert (tmp_path / "p.csv").is_file()


def test_resume_help_asks_only_for_what_resume_takes():
    """resume's --rdzv-endpoint said 'several machines need --name ... and a --runs-dir', flags resume refuses."""
    resume = typer.main.get_command(app).commands["resume"]
    said = next(p.help for p in resume.params if "--rdzv-endpoint" in p.opts)
    assert "--name" not in said and "--runs-dir" not in said and "the same run folder" in said
    taken = {opt for p in resume.params for opt in p.opts}
    assert set(re.findall(r"--[a-z-]+", " ".join(p.help or "" for p in resume.params))) <= taken


def test_runs_usage_names_its_runs_once():
    usage = CliRunner().invoke(app, ["runs", "--help"]).stdout.splitlines()[0]
    assert usage.endswith(" runs [OPTIONS] [RUN]..."), usage  # (it said [[RUN]...]...)
