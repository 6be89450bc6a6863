"""`--nproc-per-node N`: start N training processes through torch's elastic launcher (torchrun's own
machinery, `torch.distributed.run`), on this machine, and wait for them.

The processes run the same `torchtui` command without the flag, with torchrun's variables set
(distributed.py takes it from there). The launcher adds what keeps them one run: the run
folder's name, fixed here, so a group restarted by the agent (`--max-restarts`) resumes that
folder instead of starting another. It passes SIGUSR1 (save now) and SIGUSR2 (pause) on to the
processes, and Ctrl+Z (SIGTSTP) and SIGCONT: the agent starts each process in a session of its own, out of
reach of the terminal's job control, so the launcher has them wait at their next agreement (or stops them,
while they start) before it stops itself, and has them go on when it is woken (`fg`). A process it started
ends when it is killed (signals.follow_the_launcher).
SIGTERM, SIGINT and SIGHUP are the agent's, which passes the same signal on to the processes:
each saves its exact position and they exit together (143, or 130 for Ctrl+C: the ranks agree on one
reason). Its own logging is kept to errors, so a refused run still ends with the one line the process
printed, and the exit code says which: 2 for a user's mistake, 1 for a failure, 143 / 130 for a stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .launcher_env import LAUNCHER_DIR, LAUNCHER_PID, SUSPENDED, following_mark

RESTART = "TORCHELASTIC_RESTART_COUNT"  # torchrun's: how many times the agent restarted the group
MAX_RESTARTS = "TORCHELASTIC_MAX_RESTARTS"  # torchrun's: how many times it may (--max-restarts)


def processes(value: str) -> int:
    """`--nproc-per-node`'s value, already checked against spec.PROCESSES: a count, or `gpu` for every visible GPU."""
    if value == "gpu":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise UserError("--nproc-per-node gpu needs a GPU, and none is visible here; give a number of CPU "
                            "processes, e.g. --nproc-per-node 2 --device cpu")
        return count
    return int(value)


def check_devices(n: int, device: str) -> None:
    """On CUDA each process takes a GPU of its own: more processes than GPUs is refused before any starts."""
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n > have:
            raise UserError(f"--nproc-per-node {n} on CUDA needs {n} GPUs, and {have} are visible here; use "
                            f"--nproc-per-node {max(have, 1) if have else 'N --device cpu'}")


@dataclass(frozen=True)
class Nodes:
    """Several machines meeting at a c10d rendezvous: the same command on each, with its node rank."""

    count: int
    rank: int
    endpoint: str  # HOST:PORT of the rendezvous (served by the first machine to come)
    timeout: int  # seconds to wait for every machine
    run_id: str  # the same on every machine: the run's name

    def check(self) -> None:
        """Refusals before anything starts: an endpoint that is not HOST:PORT or does not resolve, a port this
        machine would serve that something else holds."""
        if self.count < 2:  # (the rank and the timeout: checked with the flags, cli.Machines.checked)
            raise UserError(f"--nnodes must be 2 or more for several machines, got {self.count}")
        host, _, port = self.endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f"--rdzv-endpoint must be HOST:PORT, got {self.endpoint!r}")
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)}
        except socket.gaierror as e:
            raise UserError(f"--rdzv-endpoint {self.endpoint}: the host {host} does not resolve ({e.strerror}); "
                            "give the first machine's address or name") from None
        local = addresses & _local_addresses()
        if local and _taken(next(iter(local)), int(port)) and not _a_rendezvous(host, int(port)):
            raise UserError(f"--rdzv-endpoint {self.endpoint}: port {port} is in use on this machine by another "
                            "program; choose a free port, the same on every machine")


def _local_addresses() -> set[str]:
    names = {"127.0.0.1", "::1"}
    try:
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    except socket.gaierror:
        pass
    return names


def _a_rendezvous(host: str, port: int, wait: float = 2.0) -> bool:
    """Whether a torch store answers there: another machine's launcher (here too, on loopback) came first.
    Asked in a child process, whose torch logs go nowhere and which can be killed: a client of something that
    is no store can wait on it for ever, past its own timeout. A store answers in milliseconds; the child has
    `wait` seconds once torch is imported (the import's time, a second or several on a busy box, is its own:
    with one deadline for both, the answer took 11 s)."""
    import subprocess
    import sys
    import threading

    probe = ("import datetime, sys, torch.distributed as d; print('ready', flush=True); "
             "d.TCPStore(sys.argv[1], int(sys.argv[2]), is_master=False, timeout=datetime.timedelta(seconds=2)); "
             "print('answered', flush=True)")
    with subprocess.Popen([sys.executable, "-c", probe, host, str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as child:
        backstop = threading.Timer(120, child.kill)  # an import that never ends
        backstop.start()
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                return False
            out, _ = child.communicate(timeout=wait)
            return "answered" in out
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return False
        finally:
            backstop.cancel()


def _taken(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


def launch(n: int, max_restarts: int, argv: list[str], nodes: Nodes | None = None) -> int:
    """Run `python -m tui <argv>` as `n` processes under the elastic agent; the exit code they end with.
    With `nodes`, as this machine's part of a run over several."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousTimeoutError
    from torch.distributed.run import get_args_parser, run

    for name in list(logging.root.manager.loggerDict):  # the agent's own lines: the processes say what went wrong
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # what torchrun sets for several processes, without its warning
    os.environ[LAUNCHER_PID] = str(os.getpid())  # its processes end with it (signals.follow_the_launcher)
    where = ["--standalone"] if nodes is None else [
        f"--nnodes={nodes.count}", f"--node-rank={nodes.rank}", "--rdzv-backend=c10d",
        f"--rdzv-endpoint={nodes.endpoint}", f"--rdzv-id={nodes.run_id}", f"--rdzv-conf=join_timeout={nodes.timeout}"]
    logs = tempfile.mkdtemp(prefix="torchtui-launch-")  # the agent's own files (else a torchelastic_* left in /tmp)
    os.environ[LAUNCHER_DIR] = logs  # and the note that Ctrl+Z stopped this launcher (launcher_env)
    args = get_args_parser().parse_args([*where, f"--nproc-per-node={n}", f"--max-restarts={max_restarts}",
                                         f"--log-dir={logs}", "--module", "tui", *argv])
    forwarding = _forward_signals(logs)
    try:
        run(args)
        return 0
    except ChildFailedError as e:
        return _exit_code([f.exitcode for f in e.failures.values()])
    except SignalException as e:
        return 130 if e.sigval == signal.SIGINT else 143
    except RendezvousTimeoutError:  # a refusal (exit 2, and its JSON line under --json), as the README lists it
        assert nodes is not None
        raise UserError(
            f"the rendezvous at {nodes.endpoint} timed out after {nodes.timeout} s: not all {nodes.count} machines "
            f"came (this one is --node-rank {nodes.rank}); start the same command on the others, each with its "
            "--node-rank, or check that they reach the endpoint") from None
    finally:
        for sig, previous in forwarding.items():
            signal.signal(sig, previous)
        shutil.rmtree(logs, ignore_errors=True)


def _exit_code(codes: list[int]) -> int:
    """The processes' codes as one: a user's mistake (2) or a stop (130 / 143) before a failure (1); a process
    killed by a signal (a negative code) is a failure."""
    for wanted in (2, 130, 143):
        if wanted in codes:
            return wanted
    return 1


def _forward_signals(folder: str) -> dict[int, Any]:
    """SIGUSR1 / SIGUSR2 to the launcher reach every process it started (their default would kill it); so do
    Ctrl+Z and SIGCONT, which job control sends to the launcher's process group alone: the agent starts each
    process in a session of its own. A SIGTSTP sent there would be dropped, too (a process group with no parent
    in its session is orphaned, and the kernel discards the terminal's stop signals to such a group).
    Ctrl+Z: the launcher leaves its note in `folder` and stops itself; processes that train wait at their next
    agreement until it is woken (`fg`, `kill -CONT`) and takes the note away (launcher_env says why: a process
    stopped inside a collective for 10 minutes failed when woken). Processes not yet training get SIGSTOP, and
    SIGCONT when the launcher is woken."""
    previous: dict[int, Any] = {}
    if not hasattr(signal, "SIGUSR1"):
        return previous
    note = os.path.join(folder, SUSPENDED)

    def forward(signum: int, frame: Any) -> None:
        _signal_all(children(), signum)

    def stop(signum: int, frame: Any) -> None:
        with open(note, "w"):
            pass
        processes = children()
        if not all(os.path.exists(following_mark(folder, pid)) for pid in processes):
            _signal_all(processes, signal.SIGSTOP)  # (all of them: one left training would wait for the others)
        os.kill(os.getpid(), signal.SIGSTOP)  # (SIGSTOP: a SIGTSTP of its own would be dropped where it is orphaned)

    def wake(signum: int, frame: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(note)
        forward(signum, frame)

    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        previous[sig] = signal.signal(sig, forward)
    previous[signal.SIGCONT] = signal.signal(signal.SIGCONT, wake)
    previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, stop)
    return previous


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def children(pid: int | None = None) -> list[int]:
    """A process's child processes (Linux: /proc; this one's by default): the agent starts the training processes
    as such."""
    pids: list[int] = []
    for task in Path(f"/proc/{pid or os.getpid()}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def may_restart() -> bool:
    """Whether the agent may restart this process's group after a failure (torchrun --max-restarts N, N > 0)."""
    return int(os.environ.get(MAX_RESTARTS, "0") or 0) > 0


def restarted() -> bool:
    """Whether this process belongs to a group the agent restarted (--max-restarts): it resumes the run folder."""
    return int(os.environ.get(RESTART, "0") or 0) > 0
