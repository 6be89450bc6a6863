"""The architecture's never-arrows, checked in fresh interpreters: what importing a part loads.

- `tui.core` is training without a screen: it never loads textual, typer, rich, the app or the CLI.
- The screen reaches training only through the run folder and signals: importing the app loads
  neither the training loop (`tui.core.train`) nor the job that runs it (`tui.core.job`).
- `torchtui --help` answers without torch (about 1.2 s to import).
- `torchtui run` trains on a machine without the screen's packages (textual, plotext).
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import tui.core

CORE_MODULES = sorted(f"tui.core.{m.name}" for m in pkgutil.iter_modules(tui.core.__path__))


def loaded_after(code: str) -> dict:
    """Run `code` in a fresh interpreter; it prints a JSON value, returned here."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_core_module_loads_a_screen_or_the_cli():
    assert len(CORE_MODULES) > 20 and "tui.core.train" in CORE_MODULES and "tui.core.record" in CORE_MODULES
    found = loaded_after(f"""
import importlib, json, sys
forbidden = ("textual", "typer", "rich", "tui.app", "tui.cli", "tui.console")
hits = {{}}
for name in {CORE_MODULES!r}:
    importlib.import_module(name)
    bad = sorted(m for m in sys.modules if m.split(".")[0] in forbidden or m.startswith(forbidden))
    if bad:
        hits[name] = bad[:5]
        break
print(json.dumps(hits))
""")
    assert found == {}, f"importing {next(iter(found))} loaded {next(iter(found.values()))}"


def test_the_screen_does_not_load_the_training_loop():
    found = loaded_after("""
import json, sys
import tui.app.app
print(json.dumps([m for m in ("tui.core.train", "tui.core.job", "tui.core.record") if m in sys.modules]))
""")
    assert found == []


def test_the_screen_check_can_fail():
    """The probe above sees the loop when it is loaded (a check that cannot fail proves nothing)."""
    found = loaded_after("""
import json, sys
import tui.app.app, tui.core.job
print(json.dumps([m for m in ("tui.core.train", "tui.core.job") if m in sys.modules]))
""")
    assert found == ["tui.core.train", "tui.core.job"]


def test_help_loads_no_torch():
    found = loaded_after("""
import contextlib, io, json, sys
sys.argv = ["torchtui", "--help"]
import tui.cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        tui.cli.main()
    except SystemExit as e:
        assert e.code in (0, None), e.code
assert "run" in out.getvalue()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "pandas", "textual"))))
""")
    assert found == []


BLOCK_THE_SCREEN = '''
import sys

class Absent:
    """As on a box where only torch and the headless dependencies are installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual", "textual_plotext", "plotext"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Absent())
'''


def test_a_headless_run_needs_no_screen_packages(tmp_path):
    """`torchtui run` on a machine without textual and plotext: a GPU box's container, and the GPU machine that
    runs tests/device/ (which has torch, typer, pandas, but no screen packages)."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_THE_SCREEN)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{Path(__file__).parents[1]}"}
    blocked = subprocess.run([sys.executable, "-c", "import textual"], capture_output=True, text=True, env=env)
    assert "No module named 'textual'" in blocked.stderr  # the blocker works: this test can fail
    r = subprocess.run([sys.executable, "-m", "tui", "run", "--dataset", "iris", "--epochs", "2", "--json",
                        "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    end = json.loads(r.stdout.strip().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "done" and end["epochs"] == 2
