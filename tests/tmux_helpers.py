"""Driving the real `torchtui` screen in a real terminal: a private tmux server per use.

Shared by tests/test_e2e_tmux.py and tests/bench/tui_overhead.py. Each `Tmux` owns one server
(`tmux -L <unique socket>`, its own config: no status bar, so the pane is the whole window),
runs `torchtui` from this Python's environment (the `torchtui` next to sys.executable), and
polls the screen with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from tui.core.runs import process_alive

TORCHTUI = Path(sys.executable).parent / "torchtui"
EPOCH_LINE = re.compile(r"epoch\s+\d+/\d+\s+train")
CONFIG = "set -g status off\nset -g default-terminal xterm-256color\nset -g escape-time 0\n"
# variables of the caller's terminal that would change what the app draws
SCRUBBED = ("NO_COLOR", "COLORTERM", "TEXTUAL", "COLUMNS", "LINES", "FORCE_COLOR", "TMUX", "TMUX_PANE")


def tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None:
        raise RuntimeError("tmux is not installed: the end-to-end tests drive the screen through a real terminal "
                           "and need it (apt-get install tmux / brew install tmux)")
    return found


class Tmux:
    """One tmux server running one `torchtui` in a `width` x `height` pane, started in `cwd`."""

    def __init__(self, cwd: Path, width: int = 100, height: int = 30, env: dict[str, str] | None = None,
                 name: str = "tt") -> None:
        self.binary = tmux_binary()
        self.cwd = Path(cwd)
        self.width, self.height = width, height
        self.extra_env = dict(env or {})
        self.socket = f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.config = self.cwd / f".{self.socket}.conf"
        self.socket_path: Path | None = None
        self.started = False

    def _cmd(self, *args: str) -> list[str]:
        return [self.binary, "-L", self.socket, "-f", str(self.config), *args]

    def tmux(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=20, env=self._env())
        if check and r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env["TERM"] = "xterm-256color"
        env.update(self.extra_env)
        return env

    def start(self, *args: str) -> "Tmux":
        """`cd cwd && exec torchtui ARGS`: exec, so the pane's process is the app itself."""
        self.config.write_text(CONFIG)
        command = (f"cd {shlex.quote(str(self.cwd))} && exec {shlex.quote(str(TORCHTUI))} "
                   + " ".join(map(shlex.quote, args)))
        env_flags = [x for k, v in [("TERM", "xterm-256color"), *self.extra_env.items()] for x in ("-e", f"{k}={v}")]
        self.tmux("new-session", "-d", "-s", "main", "-x", str(self.width), "-y", str(self.height), *env_flags, command)
        self.started = True
        try:
            self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())
        except RuntimeError:  # the app already ended (and the server with it)
            self.socket_path = None
        return self

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def capture(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "main")

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())

    def wait_for(self, what: str | re.Pattern | Callable[[str], Any], timeout: float = 60.0,
                 explain: Callable[[], str] | None = None) -> str:
        """The screen once it shows `what` (a regex, or a predicate on the screen text)."""
        check = what if callable(what) else (lambda s, p=re.compile(what): p.search(s))
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            try:
                screen = self.capture()
            except RuntimeError as e:  # the app (and with it the session) has ended
                raise AssertionError(f"the tmux session ended while waiting for {what!r}: {e}\n"
                                     f"last screen:\n{screen}" + (explain() if explain else "")) from None
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not on screen after {timeout:.0f} s: {what!r}\nscreen:\n{screen}"
                                     + (explain() if explain else ""))
            time.sleep(0.2)

    def kill(self) -> None:
        """Kill the server: the app gets SIGHUP, as when an SSH session drops."""
        if self.started:
            subprocess.run(self._cmd("kill-server"), capture_output=True, timeout=20, env=self._env())
            self.started = False
        if self.socket_path is not None:  # tmux leaves its socket file behind
            self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> "Tmux":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        self.config.unlink(missing_ok=True)


# ---- processes and run folders ---------------------------------------------------------------------
def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def events(run_dir: Path) -> list[dict[str, Any]]:
    """The complete lines of a run's event log so far."""
    try:
        raw = (run_dir / "events.jsonl").read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split("\n")[:-1]:  # the last piece has no newline yet (or is empty)
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def run_dirs(cwd: Path) -> list[Path]:
    root = Path(cwd) / "checkpoints"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def the_run(cwd: Path, timeout: float = 30.0) -> Path:
    """The one run folder under cwd/checkpoints, once its start event is written."""
    def found():
        dirs = run_dirs(cwd)
        return dirs[0] if len(dirs) == 1 and any(e.get("event") == "start" for e in events(dirs[0])) else None
    return wait_until(found, timeout, f"one run folder with a start event in {cwd}/checkpoints")


def worker_pid(run_dir: Path) -> int:
    start = next(e for e in events(run_dir) if e.get("event") == "start")
    return int(start["pid"])


def is_worker(pid: int) -> bool:
    """A live `python -m tui run/resume` (not some process that reused a dead worker's pid)."""
    if not process_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid
    return b"tui" in argv and (b"run" in argv or b"resume" in argv)


def kill_workers(cwd: Path) -> None:
    """Teardown: SIGKILL every worker of a run under cwd/checkpoints that still runs."""
    for run_dir in run_dirs(cwd):
        for e in events(run_dir):
            if e.get("event") != "start":
                continue
            for key in ("launcher_pid", "pid"):  # a run of several processes: its launcher first
                if isinstance(e.get(key), int) and is_worker(e[key]):
                    try:
                        os.kill(e[key], signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass


def worker_log(run_dir: Path | None, cwd: Path) -> str:
    """The worker's own output, for a failure message."""
    candidates = ([run_dir / "worker.log"] if run_dir else []) + sorted(Path(cwd, "checkpoints").glob(".*.log"))
    for p in candidates:
        if p.exists():
            return f"\n--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:]
    return ""
