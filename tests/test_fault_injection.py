"""kill -9 at 4 seeded random moments, saves included: every resume succeeds, the end is exact.
(tests/test_kill_at_every_write.py kills at every write in turn; this one, real processes at random times.)

Each attempt is a real `torchtui run` / `torchtui resume` process, killed with SIGKILL a random
while after its first training step, or, every other time, as soon as a save's temp file is there. Saves
are slowed (a pause between writing the temp file and renaming it, patched in the child process only), so
those kills land inside saves. Then
the run is resumed until it finishes, and its weights must equal an uninterrupted run's.
"""

import json
import random
import signal
import subprocess
import sys
import time

import torch

from tui.core import checkpoint, job
from tui.core.follow import summarize
from tui.core.spec import Spec

from conftest import make_spec

KILLS = 4  # (tests/test_kill_at_every_write.py covers every write; these, moments nobody chose)
SETTINGS = {"data.dataset": "digits", "train.epochs": 3, "train.batch_size": 16, "train.seed": 11,
            "model.layers": "Linear(128), ReLU(), Dropout(0.1), Linear(64), ReLU()", "train.save_every": 8,
            "train.scheduler": "onecycle", "train.log_interval": 0.001, "train.device": "cpu"}

CHILD = """
import sys, time
import tui.core.checkpoint as ck
write_then_rename = ck.atomic_write
def slow(path, write, mode="wb"):
    def paused(f):
        write(f)
        time.sleep(0.02)  # a window between the temp file and the rename, for kills to land in
    return write_then_rename(path, paused, mode)
ck.atomic_write = slow
from tui.cli import main
sys.argv = ["torchtui", *sys.argv[1:]]
main()
"""


def test_kills_at_seeded_moments_then_an_exact_finish(tmp_path):
    spec = make_spec(tmp_path / "ref", **{k.replace(".", "__"): v for k, v in SETTINGS.items()})
    _, ref = job.run(spec, lambda e: None)
    reference = torch.load(ref.checkpoint_path("last"), weights_only=True)["model"]

    config = tmp_path / "exp.toml"
    config.write_text(Spec().with_overrides({**SETTINGS, "run.runs_dir": str(tmp_path / "runs")}).to_toml())
    runs = 0
    folder = tmp_path / "runs" / f"k{runs}"
    rng = random.Random(0)
    kills = in_save = resumes = 0

    def exact(folder):
        final = torch.load(folder / "last.pt", weights_only=True)
        assert final["progress"]["epoch"] == 3
        assert all(torch.equal(reference[k], final["model"][k]) for k in reference)
        assert not list(folder.glob(".tmp-*"))

    while True:
        if (folder / "spec.toml").exists() and summarize(folder).status == "done":
            # a kill landed after the run had finished (while the process was exiting)
            exact(folder)
            if kills == KILLS:
                break
            runs += 1
            folder = tmp_path / "runs" / f"k{runs}"
        started = (folder / "spec.toml").exists()
        args = ["resume", str(folder), "--json"] if started else ["run", str(config), "--name", folder.name, "--json"]
        resumes += started
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        if kills == KILLS:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert json.loads(out.splitlines()[-1])["status"] == "done"
            exact(folder)
            break
        for line in proc.stdout:  # wait for training to be under way
            if json.loads(line)["event"] == "step":
                break
        if kills % 2:  # every other kill lands inside a save: at random moments, kills missed them all at times
            guard = time.monotonic() + 60  # (a hang guard, not a window: a save comes every 8 steps)
            while not any(folder.glob(".tmp-*")) and proc.poll() is None and time.monotonic() < guard:
                time.sleep(0.001)
        else:
            time.sleep(rng.uniform(0.0, 0.12))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == 0:  # it finished before the kill landed: check it, and go on with a new run
            exact(folder)
            runs += 1
            folder = tmp_path / "runs" / f"k{runs}"
            continue
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        in_save += any(folder.glob(".tmp-*"))
        if (folder / "last.pt").exists():
            checkpoint.load(folder / "last.pt")  # whatever the moment, the last checkpoint loads

    print(f"kills {kills}, of them inside a save {in_save}, resumes {resumes}, runs {runs + 1}, exact: True")
    assert in_save >= 1  # the slowed saves were hit at least once
