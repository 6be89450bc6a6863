"""ctrl+e on the screen: the experiment as TOML, or (up/down) a plain PyTorch script - of the loaded run, else of
the experiment on screen - that runs where it was written. The real app by its pilot; the script run for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from textual.widgets import Input, RadioButton

from tui.app.app import TorchTUI

import warm_cli

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import Notices, cpu_spec, data_loaded, headless, in_tmp, running, wait_for  # noqa: F401


def run_script(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """The venv's python, warnings as errors, in a folder of its own."""
    return warm_cli.run([sys.executable, "-W", "error", str(path)], cwd=cwd, capture_output=True, text=True,
                        timeout=300)


async def test_ctrl_e_writes_the_loaded_runs_script_which_retrains_it_bit_for_bit(tmp_path):
    run_dir = headless("--dataset", "iris", "--epochs", "2", "--threads", "1", "--name", "exported")
    app = TorchTUI(cpu_spec(), attach=run_dir)
    notices = Notices(app)
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.loaded_spec is not None, what="the load")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.screen.query("#export-path"), what="the export dialog")
        box = app.screen.query_one("#export-path", Input)
        assert box.value == "experiment.toml" and "run exported" in str(
            app.screen.query_one("#export-script", RadioButton).label)
        await pilot.press("down")  # the script; the untouched name follows
        assert box.value == "train.py" and app.screen.query_one("#export-script", RadioButton).value
        await pilot.press("down", "up")  # back and forth: still the script
        assert box.value == "train.py"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(m.startswith("wrote train.py") for m in notices.messages),
                       what="the script's notification")
    said = next(m for m in notices.messages if m.startswith("wrote train.py"))
    assert said.startswith("wrote train.py: run exported as plain PyTorch; run it with `python train.py`")
    assert "NOT EXACT" not in said and not (tmp_path / "experiment.toml").exists()
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = run_script(tmp_path / "train.py", work)
    assert done.returncode == 0, done.stderr[-3000:]
    last = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    mine = torch.load(work / "model.pt", weights_only=True)
    assert mine.keys() == last.keys() and all(torch.equal(mine[k], v) for k, v in last.items())


async def test_ctrl_e_with_no_run_loaded_writes_the_experiments_script_and_says_what_differs(tmp_path):
    app = TorchTUI(cpu_spec(**{"train.epochs": 1, "train.threads": 1, "train.precision": "bf16"}))
    notices = Notices(app)
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.screen.query("#export-path"), what="the export dialog")
        app.screen.query_one("#export-path", Input).value = "mine.py"
        await pilot.press("up", "enter")  # a name typed: it stays when the kind changes
        await wait_for(pilot, lambda: any(m.startswith("wrote mine.py") for m in notices.messages),
                       what="the script's notification")
    said = next(m for m in notices.messages if m.startswith("wrote mine.py"))
    assert said.startswith("wrote mine.py: the experiment as plain PyTorch; run it with `python mine.py`. NOT EXACT: "
                           "the run is set to train in bf16; this script trains in fp32")
    text = (tmp_path / "mine.py").read_text()
    assert "# NOT EXACT" in text and "import tui" not in text and "from tui" not in text
    done = run_script(tmp_path / "mine.py", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "epoch 1: train loss" in done.stdout and (tmp_path / "model.pt").is_file()
