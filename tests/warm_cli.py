"""`python -m tui ARGS` (or `python SCRIPT ARGS`) for the tests, forked from a process that imported torch, pandas
and numpy once.

Why: a fresh `python -m tui run` spends about 2.5 s of CPU importing torch and torch._dynamo (a run's first
optimizer imports it) before it reads a line of data, and the suite runs some 150 such commands on CI's two cores.
`run` takes `subprocess.run`'s arguments and gives its answer; the command runs in a child forked from a server
(one per test process, interpreter options and environment as read at import) that has imported those libraries,
so each command costs a fork, not the imports.

What stays as in a new process: a process of its own; its stdin, stdout and stderr (files, so not a terminal, as
pipes are not); its working folder, environment, `sys.argv` and `sys.path[0]` as `python -m tui` or `python
SCRIPT` give them; torchtui's own modules imported fresh (tui.entry's settings at import run as they do at a
start; a server never imports torchtui, so a script where it cannot be imported still cannot); the interpreter's
exit (non-daemon threads joined, atexit handlers, exit code; an exception's traceback and 1), less tearing its
modules down (a file a module left open and unflushed is lost, where the teardown would have flushed it). What
differs: torch, pandas and numpy were imported before the command's environment was set, so a server is kept for
each environment as they read it at import (thread counts, PYTHON*, TORCH* settings, the locale, TMPDIR); their
import-time warnings went to the server's stderr, not the command's; and every child starts from the server's
hash seed and numpy's global random state, so two commands compared bit for bit cannot tell a dependence on
those apart (the engine seeds what it draws; the signal, DDP and kill tests compare real processes). A call with
arguments this does not take (a file object as stdout, `-c CODE`) runs in a new process. The tests whose subject
is the process itself (signals, Ctrl+C while importing, a console's encoding, no terminal) start their own.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import locale
import os
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

TESTS = str(Path(__file__).resolve().parent)
# names, or the start of names, whose values must equal the server's: what is read at import or at a start
READ_AT_IMPORT = ("OMP_", "KMP_", "MKL_", "OPENBLAS", "LANG", "LC_", "TORCH", "PYTORCH", "PYTHON", "TEXTUAL",
                  "TMPDIR", "TEMP", "TMP", "CUDA", "NUMEXPR", "PANDAS")
TAKEN = {"capture_output", "stdout", "stderr", "text", "cwd", "env", "timeout", "input", "check"}

FLAGS = {"-S", "-E", "-s", "-B", "-u"}  # interpreter options a server may be started with (and `-W error`)
_servers: dict[tuple, subprocess.Popen | None] = {}  # by (options, what torchtui or a script is, env read at import)
_lock = threading.Lock()


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """`subprocess.run(args, **kwargs)` for `args` = [python, OPTIONS, "-m", "tui", ...] or [python, OPTIONS,
    SCRIPT, ...]; forked where it can be (above)."""
    env = dict(os.environ if kwargs.get("env") is None else kwargs["env"])
    command = _command(args, kwargs)
    if command is None:
        return subprocess.run(args, **kwargs)
    options, target = command
    with _lock:
        server = _started(options, "tui" if target is None else "script", env)
        if server is None:
            return subprocess.run(args, **kwargs)
        return _forked(server, args, target, kwargs, env)


def _command(args: list[str], kwargs: dict[str, Any]) -> tuple[tuple[str, ...], str | None] | None:
    """(the interpreter's options, the script or None for `-m tui`) where the call can be forked, else None."""
    if not args or args[0] != sys.executable or set(kwargs) - TAKEN or sys.platform != "linux":
        return None
    if kwargs.get("cwd") is not None and not os.path.isdir(kwargs["cwd"]):
        return None  # subprocess.run's own error, in this process
    if any(stream not in (subprocess.PIPE, subprocess.DEVNULL) for stream in _streams(kwargs).values()):
        return None
    rest = list(args[1:])
    options: list[str] = []
    while rest and (rest[0] in FLAGS or rest[:2] == ["-W", "error"]):
        options += [rest.pop(0)] if rest[0] in FLAGS else [rest.pop(0), rest.pop(0)]
    if rest[:2] == ["-m", "tui"]:
        return tuple(options), None
    if rest and not rest[0].startswith("-") and rest[0].endswith(".py"):
        return tuple(options), rest[0]
    return None


def _streams(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Where the call sends the command's stdout and stderr ("out", "err"): PIPE, DEVNULL, or what it cannot fork."""
    if kwargs.get("capture_output"):
        return {"out": subprocess.PIPE, "err": subprocess.PIPE}
    return {"out": kwargs.get("stdout"), "err": kwargs.get("stderr")}


def _started(options: tuple[str, ...], kind: str, env: dict[str, str]) -> subprocess.Popen | None:
    """The server for these options and this environment (as read at import), started at its first command; None
    where it cannot fork safely (run fresh)."""
    key = (options, kind, tuple(sorted((k, v) for k, v in env.items() if k.startswith(READ_AT_IMPORT))))
    server = _servers.get(key, False)
    if server is None or (server and server.poll() is None):
        return server
    server = subprocess.Popen([sys.executable, *options, "-c", f"import sys; sys.path.insert(0, {TESTS!r}); "
                               f"import warm_cli; warm_cli.serve({kind!r})"], stdin=subprocess.PIPE, bufsize=0,
                              stdout=subprocess.PIPE, env=env)
    assert server.stdout is not None
    if server.stdout.readline() != b"ready\n":  # it found threads running after its imports: forks unsafe
        server.wait()
        server = None
    else:
        atexit.register(_stop, server)
    _servers[key] = server
    return server


def _stop(server: subprocess.Popen) -> None:
    if server.stdin:
        server.stdin.close()
    server.wait(timeout=30)


def _forked(server: subprocess.Popen, args: list[str], script: str | None, kwargs: dict[str, Any],
            env: dict[str, str]) -> subprocess.CompletedProcess:
    assert server.stdin is not None and server.stdout is not None
    timeout = kwargs.get("timeout")
    text = kwargs.get("text", False)
    with tempfile.TemporaryDirectory(prefix="warm-cli-") as place:
        paths = {name: os.path.join(place, name) for name in ("in", "out", "err")}
        data = kwargs.get("input")
        Path(paths["in"]).write_bytes(data.encode() if isinstance(data, str) else (data or b""))
        wanted = _streams(kwargs)
        request = {"args": list(args[args.index(script) + 1:] if script else args[args.index("-m") + 2:]),
                   "script": script, "cwd": os.path.abspath(kwargs.get("cwd") or os.getcwd()), "env": env,
                   "stdin": paths["in"], **{k: paths[k] if v == subprocess.PIPE else os.devnull
                                            for k, v in wanted.items()}}
        pid = None
        try:
            server.stdin.write(json.dumps(request).encode() + b"\n")
            server.stdin.flush()
            pid = int(server.stdout.readline().split()[1])
            code = _exit_code(server, pid, timeout)
        except BaseException:  # (a Ctrl+C, a test's own timeout): its answer would be read as the next one's, so the
            for process in filter(None, (pid, server.pid)):  # command and its server end here
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGKILL)
            _servers.pop(next(k for k, v in _servers.items() if v is server), None)
            raise

        def read(name: str) -> Any:
            if wanted[name] != subprocess.PIPE:
                return None
            raw = Path(paths[name]).read_bytes() if os.path.exists(paths[name]) else b""
            if not text:
                return raw
            return io.TextIOWrapper(io.BytesIO(raw), encoding=locale.getpreferredencoding(False)).read()

        out, err = read("out"), read("err")
    if code is None:
        raise subprocess.TimeoutExpired(args, timeout, output=out, stderr=err)
    done = subprocess.CompletedProcess(args, code, out, err)
    if kwargs.get("check"):
        done.check_returncode()
    return done


def _exit_code(server: subprocess.Popen, pid: int, timeout: float | None) -> int | None:
    """The child's exit code (as Popen gives it: -N for a signal); None where it ran past `timeout` (killed)."""
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], timeout)  # (unbuffered: no line waits in a buffer)
    if ready:
        return int(server.stdout.readline())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    server.stdout.readline()
    return None


def serve(kind: str) -> None:
    """Import what a command needs (`kind`: tui, or a script of torch, numpy and pandas), then fork a child for
    each request on stdin (one JSON line), answering 'pid N' at once and its exit code when it ends."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import torch

    if kind == "tui":
        import typer  # noqa: F401

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # imports torch._dynamo: about a second
    gc.freeze()  # what is here now is never collected in a child: its garbage collections copy none of its pages
    threads = len(os.listdir("/proc/self/task"))
    print("ready" if threads == 1 else f"{threads} threads", flush=True)
    if threads != 1:
        return
    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns: it ends as a `python -m tui` process does (_end)
            os._exit(1)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


def _child(request: dict[str, Any]) -> None:
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                               (2, "err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            opened = os.open(request[name], flags)
            os.dup2(opened, fd)
            os.close(opened)
        sys.path[:] = [p for p in sys.path if p != TESTS]
        script = request["script"]
        if script:  # as `python SCRIPT ARGS`: its folder first on the path
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            sys.argv = [script, *request["args"]]
            runpy.run_path(script, run_name="__main__")
        else:  # as `python -m tui ARGS`: the working folder first on the path
            sys.path[0] = os.getcwd()
            sys.argv = ["-m", *request["args"]]
            runpy.run_module("tui", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = _exit_status(e.code)
    except KeyboardInterrupt:  # as the interpreter ends on one: the traceback, then killed by SIGINT
        sys.excepthook(*sys.exc_info())
        _end(130, signal.SIGINT)
    except BaseException:  # as the interpreter ends a script: the traceback (sys.excepthook), then 1
        sys.excepthook(*sys.exc_info())
        code = 1
    _end(code)


def _exit_status(code: object) -> int:
    """What the interpreter makes of `SystemExit(code)`: None is 0, an integer itself, anything else printed, 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _end(code: int, by_signal: int | None = None) -> None:
    """The interpreter's own exit, less tearing its modules down: threads joined, atexit handlers run, streams
    flushed. (Tearing down the modules the server imported would touch, and so copy, every page it shares with
    the child: a second for a command that did not need torch at all.)"""
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter runs: threads joined, executors too
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError) as e:  # as the interpreter: said, and 120
            with contextlib.suppress(OSError, ValueError):
                print(f"Exception ignored on flushing {stream.name}: {e!r}", file=sys.__stderr__)
            code = 120
    if by_signal is not None:
        signal.signal(by_signal, signal.SIG_DFL)
        os.kill(os.getpid(), by_signal)
    os._exit(code)
