"""A real run that SIGKILLs itself at one chosen write: the fault injector of tests/test_kill_at_every_write.py.

Every way a run changes its folder goes through two calls: `os.replace` (the rename that makes a
checkpoint, spec.toml or a CSV appear whole) and `RunFolder.log` (one line appended to events.jsonl).
The child counts them; at the chosen one it kills itself with SIGKILL: just before a rename (its temp
file written, the old file still in place), just after it, or halfway through an event line (a torn
line). Runs are forked from `serve`, a process that imported torch and torchtui once, so each kill costs
a fork, not an import (multiprocessing's forkserver would import the test runner's main module again in
every child: a second each).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

MODES = {"rename": ("before", "after"), "log": ("before", "torn")}


def serve() -> None:
    """Read one JSON object per line on stdin (`run`'s arguments), fork a child that runs it, and answer each
    with one line: the child's exit code (-9: killed by SIGKILL, as asked). Imports what a run needs first,
    torch._dynamo included (a run's first optimizer imports it: about a second), so the children need not."""
    import torch

    import tui.core.job  # noqa: F401

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    print("ready", flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(**json.loads(line))
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


def run(spec: dict[str, Any], name: str, journal: str, kill_at: int | None = None, mode: str = "",
        behind: bool = False) -> None:
    """Train `spec` into runs_dir/name; write each counted operation to `journal` (one JSON line each) and
    die by SIGKILL at operation number `kill_at` (from 0) in `mode`. `behind`: each epoch's save is written by
    the thread a GPU run writes it with (train.saves_behind), its renames counted there."""
    import threading

    import torch

    from tui.core import job, runs, train
    from tui.core.spec import Spec

    torch.set_num_threads(1)
    if behind:
        train.saves_behind = lambda device_type, world_size: True  # type: ignore[assignment]
    count, counting = 0, threading.Lock()  # two threads count: the training one and the saves' writer
    out = open(journal, "w", encoding="utf-8")

    def counted(kind: str, what: str) -> str:
        """The mode to die in at this operation ('' to live), the operation journaled first. Step events are
        not counted: how many a run logs depends on time, and the operations must be the same in every run."""
        nonlocal count
        if what == "step":
            return ""
        with counting:
            here, count = count, count + 1
            out.write(json.dumps({"n": here, "kind": kind, "what": what,
                                  "thread": threading.current_thread().name}) + "\n")
            out.flush()
        return mode if here == kill_at else ""

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    replace = os.replace

    def replace_then_maybe_die(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        how = counted("rename", Path(dst).name)
        if how == "before":
            die()
        replace(src, dst, *args, **kwargs)
        if how == "after":
            die()

    log = runs.RunFolder.log

    def log_then_maybe_die(self: runs.RunFolder, event: dict[str, Any], sync: bool = False) -> None:
        how = counted("log", event.get("event", "?"))
        if how == "before":
            die()
        if how == "torn":
            if self._log is None:
                self._log = open(self.path / runs.EVENTS, "a", encoding="utf-8")
            line = runs.to_json(event)
            self._log.write(line[: len(line) // 2])
            self._log.flush()
            die()
        log(self, event, sync)

    os.replace = replace_then_maybe_die  # type: ignore[assignment]
    runs.RunFolder.log = log_then_maybe_die  # type: ignore[method-assign]
    spec_ = Spec.from_dict(spec).with_overrides({"run.name": name})
    job.run(spec_, lambda e: None)
    out.close()
