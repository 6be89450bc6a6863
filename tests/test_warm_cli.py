"""The tests' forked commands (warm_cli.py) answer as a new process does: the same output and exit codes, their
own process, a timeout that kills, and a bare script that still cannot import torchtui. And they are forked,
not quietly started afresh (which would still pass, at twice the suite's time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import warm_cli

TUI = [sys.executable, "-m", "tui"]
VOLATILE = {"time", "pid", "launcher_pid", "elapsed", "samples_per_s", "eta_s", "seconds", "run_dir", "name",
            "path", "host", "started", "cpu_percent"}


def both(args: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    return warm_cli.run(args, **kwargs), subprocess.run(args, **kwargs)


def stable(out: str) -> list[dict]:
    """The events less what differs between two runs alike: times, process ids and the step events (logged by
    the clock)."""
    events = [json.loads(line) for line in out.splitlines()]
    return [{k: v for k, v in e.items() if k not in VOLATILE} for e in events if e["event"] != "step"]


def test_a_command_answers_as_a_new_process_does(tmp_path):
    runs = str(tmp_path / "runs")
    run = [*TUI, "run", "--dataset", "iris", "--epochs", "2", "--runs-dir", runs, "--json"]
    warm, cold = warm_cli.run([*run, "--name", "a"], capture_output=True, text=True, cwd=tmp_path), \
        subprocess.run([*run, "--name", "b"], capture_output=True, text=True, cwd=tmp_path)
    assert warm.returncode == cold.returncode == 0, warm.stderr
    assert stable(warm.stdout) == stable(cold.stdout) and stable(warm.stdout)[-1]["event"] == "end"
    for args, code in (([*TUI, "run", "--dataset", "nope"], 2), ([*TUI, "--help"], 0),
                       ([*TUI, "runs", "--runs-dir", runs], 0), ([*TUI, "predict"], 2)):
        warm, cold = both(args, capture_output=True, text=True, cwd=tmp_path)
        assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
        assert warm.returncode == code
    spec = '[data]\ndataset = "iris"\n[train]\nepochs = 1\n'  # stdin: `torchtui run -`
    piped = warm_cli.run([*TUI, "run", "-", "--runs-dir", runs, "--name", "piped", "--json"], input=spec,
                         capture_output=True, text=True)
    assert piped.returncode == 0 and stable(piped.stdout)[-1]["status"] == "done"


def test_commands_are_forked_from_one_server_and_each_is_a_process_of_its_own(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os, sys\nprint(os.getpid(), os.getppid(), 'torch' in sys.modules, os.getcwd())\n")
    answers = [warm_cli.run([sys.executable, str(probe)], capture_output=True, text=True, cwd=tmp_path).stdout.split()
               for _ in range(2)]
    (pid_a, parent_a, warm_a, cwd_a), (pid_b, parent_b, _, _) = answers
    assert warm_a == "True"  # torch was imported before: forked, not a new interpreter
    assert pid_a != pid_b and parent_a == parent_b != str(os.getpid()) and cwd_a == str(tmp_path)
    fresh = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True).stdout.split()
    assert fresh[2] == "False"  # the probe can tell


def test_an_environment_read_at_import_gets_a_server_of_its_own(tmp_path):
    probe = tmp_path / "threads.py"
    probe.write_text("import torch\nprint(torch.get_num_threads())\n")
    two = {**os.environ, "OMP_NUM_THREADS": "2"}
    one = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert warm_cli.run([sys.executable, str(probe)], capture_output=True, text=True, env=one).stdout == "1\n"
    assert warm_cli.run([sys.executable, str(probe)], capture_output=True, text=True, env=two).stdout == "2\n"


def test_a_bare_script_cannot_import_torchtui_and_sees_its_own_folder_and_arguments(tmp_path):
    site = str(Path(__import__("torch").__file__).resolve().parents[1])
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": site, "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    (tmp_path / "helper.py").write_text("WORD = 'beside'\n")
    (tmp_path / "script.py").write_text(
        "import sys\nimport helper\ntry:\n    import tui\n    print('tui')\nexcept ImportError:\n    print('no tui')\n"
        "print(helper.WORD, sys.argv[1:], 'torch' in sys.modules)\nsys.exit(3)\n")
    done = warm_cli.run([sys.executable, "-S", "-W", "error", "script.py", "x", "y"], cwd=tmp_path, env=env,
                        capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "no tui\nbeside ['x', 'y'] True\n"), done.stderr


def test_a_command_past_its_timeout_is_killed(tmp_path):
    probe = tmp_path / "sleeps.py"
    probe.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        warm_cli.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=2)
    pid = int(timed_out.value.output)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_command_that_ends_at_once_is_not_waited_on_and_a_timeout_leaves_the_server_in_step(tmp_path):
    """The pid and the exit code come on one pipe: read through a buffer, an exit code already read sat there while
    select waited out the whole timeout. And after a timeout, the next command gets its own answer."""
    quick = tmp_path / "quick.py"
    quick.write_text("import sys\nsys.exit(7)\n")
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(60)\n")
    for _ in range(3):
        began = time.monotonic()
        assert warm_cli.run([sys.executable, str(quick)], capture_output=True, timeout=120).returncode == 7
        assert time.monotonic() - began < 60  # (not the 120 s timeout waited out: a margin no busy machine needs)
    with pytest.raises(subprocess.TimeoutExpired):
        warm_cli.run([sys.executable, str(slow)], capture_output=True, timeout=1)
    assert warm_cli.run([sys.executable, str(quick)], capture_output=True, timeout=30).returncode == 7


def test_the_exit_is_the_interpreters(tmp_path):
    """A non-daemon thread and an executor are waited for, atexit runs, SystemExit('why') says why and is 1, an
    exception is its traceback and 1, as a new process's."""
    script = tmp_path / "ends.py"
    script.write_text(
        "import atexit, sys, threading, time\nfrom concurrent.futures import ThreadPoolExecutor\n"
        "pool = ThreadPoolExecutor(1)\npool.submit(time.sleep, 0.2)\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread', flush=True))).start()\n"
        "atexit.register(print, 'atexit')\n"
        "if sys.argv[1] == 'why': sys.exit('why')\n"
        "if sys.argv[1] == 'raise': raise ValueError('bad')\n")
    for how in ("why", "raise", "ok"):
        warm, cold = both([sys.executable, str(script), how], capture_output=True, text=True, timeout=30)
        assert (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout), how
        assert warm.stderr.splitlines()[-1:] == cold.stderr.splitlines()[-1:], (warm.stderr, cold.stderr)
