"""The `torchtui` command. Thin: parse flags into a spec, call tui.core, print what it reports.

Torch, pandas and the core modules that need them are imported inside the commands, so
`torchtui --help` answers at once; the spec is plain Python, and `run`'s flags are made from
its declarations. A user's mistake ends as one line on stderr and exit code 2; a training
that fails (diverged, out of memory) exits 1; Ctrl+C exits 130.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import signal
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from tui.core.errors import Interrupted, TrainingFailed, UserError
from tui.core.files import expand_home_in_args
from tui.core.spec import DATA_FILE_FIELDS, FORMAT_FIELDS, PROCESSES, FieldInfo, Spec, spec_fields
from tui.refusals import Commands, OutputClosed, drop, raised_in, reader_gone, say
from tui.signals import StopOnSignal, exit_code, follow_the_launcher, interrupt_at_once_while_importing

app = typer.Typer(
    cls=Commands,  # a mistake in the command line is one line (and a JSON line under --json), not a usage block
    help="Train PyTorch models from the terminal. "
    "`torchtui` opens the screen; `torchtui run --dataset iris` trains headless.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Print or write the full default spec as TOML.", add_completion=False,
                         rich_markup_mode=None)
app.add_typer(config_app, name="config")


def _fail(message: str, code: int, command: str = "", as_json: bool = False, notes: list[str] | None = None) -> None:
    """`as_json`: also the refusal's JSON line on stdout (tui/refusals.py), from rank 0 alone."""
    rank = os.environ.get("RANK", "0")
    if rank != "0":
        # the ranks of a distributed run plan alike: rank 0 says it, and when it fails the launcher ends this
        # process within this wait (its stop signal ends it at once: nothing is left to save); a rank still here
        # after it failed alone, and says so itself
        import time

        for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, lambda signum, frame: os._exit(exit_code(signum)))
        time.sleep(5)
        message = f"rank {rank}: {message}"
    say(message, command, as_json and rank == "0", notes or [])
    for note in notes or []:  # what was read and decided before the refusal, under its one line
        typer.echo(f"  note: {note}", err=True)
    raise typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Map the errors users can cause to one line and an exit code (and, under --json, one JSON line)."""
    command = fn.__name__.rstrip("_").replace("_", "-")  # eval_ -> eval

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            _fail(str(e), 2, command, bool(kwargs.get("as_json")), getattr(e, "notes", []))
        except (PermissionError, IsADirectoryError, NotADirectoryError) as e:  # a file of another user's, a folder
            where = f"{e.filename}: " if e.filename else ""  # where a file belongs: no place in the code can mend it
            _fail(f"{where}{(e.strerror or str(e)).lower()}; check that path and its permissions", 2, command,
                  bool(kwargs.get("as_json")))
        except TrainingFailed as e:  # under --json its `error` event is already out, written by the recorder
            _fail(str(e), 1)
        except Interrupted as e:  # its reason is the signal's name; any other stop counts as SIGTERM
            raise typer.Exit(exit_code(signal.Signals.__members__.get(e.reason, signal.SIGTERM))) from None
        except KeyboardInterrupt:
            typer.echo("\ninterrupted", err=True)
            raise typer.Exit(exit_code(signal.SIGINT)) from None

    return wrapper


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Open the screen with this TOML spec."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Open the screen with this dataset picked."),
) -> None:
    """With no command: the screen. Keys are in its footer and on F1."""
    if ctx.invoked_subcommand is None:
        _open_screen(config, dataset)


@guarded
def _open_screen(config: Optional[Path], dataset: Optional[str], attach: Optional[Path] = None) -> None:
    spec = Spec.from_file(config) if config is not None else Spec()
    if dataset:
        spec = spec.with_overrides({"data.dataset": dataset})
    if attach is not None:
        from tui.core.runs import RunFolder

        RunFolder.open(attach)  # not a run folder: one line and exit 2, before the screen opens
    if not (_a_terminal(sys.stdin) and _a_terminal(sys.stdout)):  # cron, `| cat`, `< /dev/null`: the screen
        raise UserError("the screen needs a terminal, and this has none (input or output is a file or a pipe); "
                        "`torchtui run` trains without one, `torchtui runs` lists the runs")  # drew into it for good
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the screen's own, as Textual expects
    from tui.app import run_app

    code = run_app(spec, attach, preset=config is not None or dataset is not None)
    if code:
        raise typer.Exit(code)


def _a_terminal(stream: Any) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed
        return False


@app.command()
def attach(run_dir: Path = typer.Argument(..., help="A run folder, e.g. checkpoints/iris-20260101-120000.")) -> None:
    """Open the screen on a run folder: its whole history, and live if it is still training."""
    _open_screen(None, None, run_dir)


# parameter name -> field; the name only has to be a unique identifier
_FLAGGED = {info.path.replace(".", "_"): info for info in spec_fields() if info.flag}


def spec_flags(fn: Callable, fields: Callable[[str], bool] = lambda path: True) -> Callable:
    """Give a command one option per flagged spec field (those `fields` takes) in place of its `**flags`, made
    from the field's declaration in tui.core.spec, so no flag is written (or forgotten) here. Typer reads
    the parameters from `__signature__`; the options come after the command's own arguments."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
    generated = [_flag_parameter(name, info) for name, info in _FLAGGED.items() if fields(info.path)]
    options = [p.replace(kind=p.KEYWORD_ONLY) for p in own if p not in arguments]
    fn.__signature__ = inspect.Signature(arguments + generated + options)
    return fn


def _flag_parameter(name: str, info: FieldInfo) -> inspect.Parameter:
    """One field's option, None when not given; its help adds how the value is written here."""
    decl, kind, how = info.flag, info.type, ""
    if info.switch:
        no = "--no-" + info.flag[2:]
        decl, kind = f"{info.flag}/{no}", bool
        if info.type is not bool:
            how = f" {info.flag}: {info.switch[0]}, {no}: {info.switch[1]}."
    elif info.repeat:
        kind, how = list[str], " Repeat the flag for each."
    elif typing.get_origin(info.type) is list:  # (given twice, the first was dropped without a word: -l a -l b)
        kind, how = list[str], " Comma-separated; the flag repeated adds to it."
    names = [decl, info.short] if info.short else [decl]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[kind],
                             default=typer.Option(None, *names, help=info.help + how, show_default=_shown(info)))


def _shown(info: FieldInfo) -> str | bool:
    """The field's default as --help shows it (the option's own default is None: not given, the config decides)."""
    value = info.default
    if info.switch:
        value = info.flag if value == info.switch[0] else "--no-" + str(info.flag)[2:] if value == info.switch[1] \
            else value
    elif isinstance(value, list):
        value = ",".join(map(str, value))
    return False if value in ("", None) else str(value)


READ_FIELDS = tuple(f"data.{name}" for name in FORMAT_FIELDS)
# what the learning-rate finder has no use for: it writes no run folder, trains --steps steps at a growing rate
NOT_FOR_LR_FIND = ("data.test", "train.scheduler", "train.step_size", "train.gamma", "train.plateau_patience",
                   "train.epochs", "train.patience", "train.log_interval", "train.save_every", "run.name",
                   "run.runs_dir", "run.processes")


def read_flags(fn: Callable) -> Callable:
    """Give a command (predict, eval) the format flags of `run` in place of its `**flags`: a file the sniffer
    misreads is read as told, as for training (a refusal that says "pass --no-header" must find the flag)."""
    return spec_flags(fn, lambda path: path in READ_FIELDS)


def lr_find_flags(fn: Callable) -> Callable:
    """`run`'s flags but those the finder has no use for: its --help listed --name, --test, --nproc-per-node
    and --save-every, which did nothing there."""
    return spec_flags(fn, lambda path: path not in NOT_FOR_LR_FIND)


def _with_flags(spec: Spec, flags: dict[str, Any], from_file: bool) -> Spec:
    """`spec` with the flags given, a refusal naming each value by its flag where the flag set it (or, with no
    spec file, could have): 'train.epochs must be an integer >= 1' answered `--epochs 0`, a key of a file the
    user never wrote. A value from the spec file keeps its key."""
    overrides = _overrides(flags)
    try:
        return spec.with_overrides(overrides)
    except UserError as e:
        raise _named_by_flags(e, lambda path: path in overrides or not from_file) from None


def _named_by_flags(e: UserError, flagged: Callable[[str], bool]) -> UserError:
    """The refusal `e` with each spec key that `flagged` says a flag set named by that flag ('--lr' for train.lr,
    `--optimizer SGD` for `train.optimizer = SGD`)."""
    message = str(e)
    for info in _FLAGGED.values():
        if flagged(info.path):
            message = re.sub(rf"(?<![\w.-]){re.escape(info.path)}(?![\w])", info.flag or info.path, message)
    if message == str(e):
        return e
    return UserError(re.sub(r"(--[\w-]+) = ", r"\1 ", message), e.notes)


def _overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags given, as spec overrides by path; a switch sets the values its field declares."""
    overrides = {}
    for name, value in flags.items():
        info = _FLAGGED[name]
        if value is None or (isinstance(value, list) and not value):
            continue
        if isinstance(value, list) and not info.repeat:  # a comma-separated list, its flag given once or more
            value = ", ".join(value)
        overrides[info.path] = (info.switch[0] if value else info.switch[1]) if info.switch else value
    return overrides


NPROC_HELP = ("Train with this many processes on this machine (DistributedDataParallel), or gpu: one per visible "
              "GPU; started through torch's elastic launcher, as torchrun does. --batch-size is per process.")
RESUME_NPROC_HELP = (NPROC_HELP.replace("--batch-size is per process.", "The batch size is per process, as the run's.")
                     + " Default: as many as the run had (its spec's run.processes).")
RESTARTS_HELP = ("With --nproc-per-node: after a process fails, restart the group up to this many times; each "
                 "restart resumes the run from its last checkpoint.")
NNODES_HELP = "Machines taking part (with --rdzv-endpoint): the same command on each, with its --node-rank."
NODE_RANK_HELP = "This machine's number among --nnodes, from 0."
ENDPOINT_HELP = ("HOST:PORT where the machines meet (a c10d rendezvous, served by the first to come); "
                 "several machines need --name, the same on each, and a --runs-dir they share to resume.")
RESUME_ENDPOINT_HELP = ("HOST:PORT where the machines meet (a c10d rendezvous, served by the first to come); each "
                        "machine names the same run folder, on storage they share.")
TIMEOUT_HELP = "Seconds to wait for every machine at the rendezvous before giving up with one line."
_LAUNCHER_FLAGS = ("--nproc-per-node", "--max-restarts", "--nnodes", "--node-rank", "--rdzv-endpoint",
                   "--rdzv-timeout")


@dataclasses.dataclass(frozen=True)
class Machines:
    count: int = 1
    rank: int = 0
    endpoint: str = ""
    timeout: int = 600

    def checked(self, max_restarts: int) -> "Machines":
        """These flags (and --max-restarts) checked whether or not they start processes: a value that could
        never work is one line, not ignored because nothing was launched this time."""
        for ok, flag, want, got in ((max_restarts >= 0, "--max-restarts", "an integer >= 0", max_restarts),
                                    (self.count >= 1, "--nnodes", "an integer >= 1", self.count),
                                    (0 <= self.rank < self.count, "--node-rank",
                                     f">= 0 and below --nnodes ({self.count})", self.rank),
                                    (self.timeout >= 1, "--rdzv-timeout", "a number of seconds >= 1", self.timeout)):
            if not ok:
                raise UserError(f"{flag} must be {want}, got {got}")
        return self


@app.command()
@guarded
@spec_flags
def run(
    config: Optional[Path] = typer.Argument(
        None, help="TOML spec (see `torchtui config show`), or - to read it from stdin; flags override it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event on stdout."),
    max_restarts: int = typer.Option(0, "--max-restarts", help=RESTARTS_HELP),
    nnodes: int = typer.Option(1, "--nnodes", help=NNODES_HELP),
    node_rank: int = typer.Option(0, "--node-rank", help=NODE_RANK_HELP),
    rdzv_endpoint: str = typer.Option("", "--rdzv-endpoint", help=ENDPOINT_HELP),
    rdzv_timeout: int = typer.Option(600, "--rdzv-timeout", help=TIMEOUT_HELP),
    **flags: Any,
) -> None:
    """Train headless and write a run folder: spec.toml, events.jsonl, last.pt, best.pt."""
    stdin_text = None
    if config is not None and str(config) == "-":  # how the screen hands its worker the spec: no temp file
        stdin_text = _read_stdin()
        spec = Spec.from_toml(stdin_text, source="<stdin>")
    else:
        spec = Spec.from_file(config) if config is not None else Spec()
    if flags.get("run_processes") is not None:
        _check_nproc(str(flags["run_processes"]))
    spec = _with_flags(spec, flags, from_file=config is not None)
    machines = Machines(nnodes, node_rank, rdzv_endpoint, rdzv_timeout).checked(max_restarts)
    if _launching(spec.run.processes, nnodes, rdzv_endpoint):
        _launch(spec.run.processes, max_restarts, spec, stdin_text, machines)
    _no_restarts(max_restarts)
    from tui.console import ConsoleReporter
    from tui.core import job, launch
    from tui.worker_log import filing

    stopper = StopOnSignal().install()
    if launch.may_restart() and not spec.run.name:  # refused before it trains, not after its first failure
        if launch.restarted():  # the refusal of the first attempt, which the agent restarted: said once
            raise typer.Exit(2)
        raise UserError("torchrun --max-restarts restarts the group after a failure, and a restarted group must "
                        "find its run folder: give --name")
    if launch.restarted():  # the agent restarted the group after a failure: go on with the run's folder
        folder = Path(spec.run.runs_dir) / spec.run.name
        if folder.exists():
            from tui.core.follow import read_run

            if read_run(folder)[0].status in ("done", "early_stopped"):
                return  # it had finished when a process failed on its way out: nothing is left to do
            job.resume(folder, ConsoleReporter(as_json), on_trainer=stopper.attach)
            return
    given = _overrides(flags)
    try:
        job.run(spec, filing(ConsoleReporter(as_json)), on_trainer=stopper.attach)
    except UserError as e:  # ("data.target: 'x' not a column" answered `--target x`)
        raise _named_by_flags(e, lambda path: path in given or config is None) from None




def _check_nproc(nproc: str) -> None:
    """--nproc-per-node's value, refused by its flag's name (not as the spec's field run.processes)."""
    if not PROCESSES.fullmatch(nproc):
        raise UserError("--nproc-per-node must be a number of processes from 1 to 9999, or gpu (one per visible GPU), "
                        f"got {nproc!r}")


def _no_restarts(max_restarts: int) -> None:
    """--max-restarts where no launcher starts processes (one process): refused, not ignored without a word."""
    if max_restarts:
        raise UserError(f"--max-restarts {max_restarts} restarts the processes of a run of several, and this run "
                        "trains in one: add --nproc-per-node N (or --nnodes), or leave --max-restarts out")


def _launching(processes: str, nnodes: int, endpoint: str) -> bool:
    """Whether this process starts the processes: asked for several, and not one of them already (a process
    started by a launcher, ours or torchrun, trains; torchrun's own count wins over the spec's)."""
    from tui.core import distributed

    return (processes != "1" or nnodes != 1 or bool(endpoint)) and not distributed.from_env().launched


def _launch(nproc: str, max_restarts: int, spec: Spec | None, stdin_text: str | None,
            machines: Machines = Machines()) -> None:
    """Start the processes (this one only waits for them), then exit with their code."""
    from tui.core import distributed, launch
    from tui.core.runs import new_run_name

    n = launch.processes(nproc)
    distributed.timeout()  # TORCHTUI_DDP_TIMEOUT refused here once, not by each process
    argv = _without_launcher_flags(sys.argv[1:])
    nodes = None
    if machines.count != 1 or machines.endpoint:
        if not machines.endpoint:
            raise UserError("--nnodes needs --rdzv-endpoint HOST:PORT, where the machines meet")
        name = spec.run.name if spec is not None else Path(argv[argv.index("resume") + 1]).name
        if not name:
            raise UserError("a run over several machines needs --name, the same on each")
        nodes = launch.Nodes(machines.count, machines.rank, machines.endpoint, machines.timeout, name)
        nodes.check()
    spec_file = None
    if spec is not None:
        launch.check_devices(n, spec.train.device)
        if stdin_text is not None:  # the processes cannot share this stdin: the spec goes to a file
            import tempfile

            fd, spec_file = tempfile.mkstemp(suffix=".toml", prefix="torchtui-spec-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(stdin_text)
            argv[argv.index("-")] = spec_file
        if not spec.run.name:  # fixed now, so a restarted group finds the folder to resume
            argv += ["--name", new_run_name(Path(spec.run.runs_dir), spec.data.dataset)]
    try:
        code = launch.launch(n, max_restarts, argv, nodes)
    finally:
        if spec_file:
            os.unlink(spec_file)
    raise typer.Exit(code)


def _without_launcher_flags(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _LAUNCHER_FLAGS:
            skip = True
        elif not arg.startswith(tuple(f + "=" for f in _LAUNCHER_FLAGS)):
            out.append(arg)
    return out


def _read_stdin() -> str:
    if sys.stdin is None:  # `torchtui run - <&-`: closed before Python started
        raise UserError("- reads the spec from standard input, and this process has none; pipe a TOML spec, "
                        "`torchtui config show | torchtui run -`")
    try:
        text = sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"<stdin> is not UTF-8 text ({e.reason} at byte {e.start}); pipe a TOML spec") from None
    if not text.strip():  # the command before the pipe failed, or `< /dev/null`: not a wish to train the defaults
        raise UserError("- reads the spec from standard input, and it was empty; pipe a TOML spec, "
                        "`torchtui config show | torchtui run -`, or leave out - to train the defaults")
    return text


@app.command("lr-find")
@guarded
@lr_find_flags
def lr_find(
    config: Optional[Path] = typer.Argument(
        None, help="TOML spec, or - to read it from stdin; flags override it (those of `run` that apply here)."),
    steps: Optional[int] = typer.Option(
        None, "--steps", help="Steps of the test (default: one epoch's, at least 100, at most 300)."),
    start_lr: float = typer.Option(1e-7, "--start-lr", help="The first learning rate."),
    end_lr: float = typer.Option(10.0, "--end-lr", help="The last learning rate; the rate grows geometrically."),
    weights: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Start from a checkpoint's weights (a .pt file, or a run folder: its last.pt); "
                                   "it is only read. Without CONFIG, that run's spec is used."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    **flags: Any,
) -> None:
    """Learning-rate range test: the loss while the rate grows from --start-lr to --end-lr, on a
    copy of the model, and a suggested rate. Writes nothing: no run folder, no checkpoint."""
    _lr_find(config, steps, start_lr, end_lr, weights, as_json, flags)  # a refusal under --json: guarded


def _lr_find(config: Optional[Path], steps: Optional[int], start_lr: float, end_lr: float, weights: Optional[Path],
             as_json: bool, flags: dict[str, Any]) -> None:
    from tui.core import lr_find as finder
    from tui.core.runs import to_json

    finder.check_range(steps, start_lr, end_lr)
    ckpt, hint_config = None, config
    if weights is not None:
        path, ckpt = finder.read_checkpoint(weights)
        if config is None and (path.parent / "spec.toml").exists():
            hint_config = path.parent / "spec.toml"  # a new run from the same spec
    if config is not None and str(config) == "-":
        spec = Spec.from_toml(_read_stdin(), source="<stdin>")
    elif config is not None:
        spec = Spec.from_file(config)
    else:
        spec = Spec.from_dict(ckpt["spec"], source=str(weights)) if ckpt is not None else Spec()
    spec = _with_flags(spec, flags, from_file=config is not None or ckpt is not None)
    result = finder.range_test(spec, steps, start_lr, end_lr, weights=ckpt)
    if as_json:
        typer.echo(to_json(result.to_dict()))
        return
    for notice in result.notices:  # a warning says so itself, as a run's console does
        typer.echo(notice if notice.startswith("warning: ") else f"note: {notice}")
    stopped = {"end": "all steps run",
               "diverged": f"stopped: the smoothed loss passed {finder.DIVERGED:g}x its minimum",
               "not finite": "stopped: the loss was not finite"}[result.stopped]
    typer.echo(f"lr-find: {result.steps} of {result.planned_steps} steps on {result.device}, learning rate "
               f"{start_lr:g} to {end_lr:g} ({stopped})")
    typer.echo(_lr_plot(result))
    if result.suggested_lr is None:
        typer.echo(f"no suggestion: {result.note}")
        return
    typer.echo(f"suggested learning rate: {result.suggested_lr:g}  "
               f"(the smoothed loss is lowest at {result.min_lr:.3g})")
    typer.echo(f"rule: {result.rule}")
    if result.note:
        typer.echo(f"note: {result.note}")
    typer.echo(f"try it: {_run_hint(hint_config, flags, result.suggested_lr)}")


def _lr_plot(result: Any) -> str:
    """The smoothed loss against the learning rate (log scale), the suggestion marked."""
    import math
    import shutil

    import plotext as plt

    plt.clear_figure()
    plt.plot_size(min(shutil.get_terminal_size((100, 24)).columns, 100), 18)
    plt.xscale("log")
    plt.title("smoothed loss vs learning rate (log)" + (", | the suggestion" if result.suggested_lr else ""))
    if result.lrs:
        plt.plot(result.lrs, result.view(), marker="braille")
        decades = range(math.floor(math.log10(result.lrs[0])), math.ceil(math.log10(result.lrs[-1])) + 1)
        plt.xticks([10.0 ** d for d in decades], [f"1e{d}" for d in decades])
    if result.suggested_lr:
        plt.vline(result.suggested_lr, "red")
    plt.xlabel("learning rate")
    text = plt.build()
    # colour for a terminal that wants it: https://no-color.org (a set, non-empty NO_COLOR), as the screen's
    return text if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else plt.uncolorize(text)


def _run_hint(config: Optional[Path], flags: dict[str, Any], lr: float) -> str:
    """The `torchtui run` command with these settings and the suggested rate."""
    import shlex

    words = ["torchtui", "run"] + ([str(config)] if config is not None else [])
    for name, value in flags.items():
        info = _FLAGGED[name]
        if value is None or info.path == "train.lr" or (isinstance(value, list) and not value):
            continue
        if info.switch:
            words.append(info.flag if value else "--no-" + info.flag[2:])
        elif info.repeat:
            for item in value:
                words += [info.flag, item]
        elif isinstance(value, list):  # a comma-separated list, given once or more
            words += [info.flag, ", ".join(value)]
        else:
            words += [info.flag, str(value)]
    return shlex.join(words + ["--lr", f"{lr:g}"])


@app.command()
@guarded
def resume(
    run_dir: Path = typer.Argument(..., help="A run folder, e.g. checkpoints/iris-20261127-101500."),
    epochs: Optional[int] = typer.Option(None, help="Train up to this many epochs in all (default: the spec's). "
                                         "A run that stopped early trains on, its patience counted afresh."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="Where the run's data file is now, if it moved since the run started (the same "
        "data: checked against the checkpoint's fingerprint of its rows, where it has one)."),
    val: Optional[str] = typer.Option(None, "--val", help="Where the run's validation file is now, if it moved."),
    test: Optional[str] = typer.Option(None, "--test", help="Where the run's --test file is now, if it moved."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event on stdout."),
    nproc: Optional[str] = typer.Option(
        None, "--nproc-per-node", help=RESUME_NPROC_HELP),
    max_restarts: int = typer.Option(0, "--max-restarts", help=RESTARTS_HELP),
    nnodes: int = typer.Option(1, "--nnodes", help=NNODES_HELP),
    node_rank: int = typer.Option(0, "--node-rank", help=NODE_RANK_HELP),
    rdzv_endpoint: str = typer.Option("", "--rdzv-endpoint", help=RESUME_ENDPOINT_HELP),
    rdzv_timeout: int = typer.Option(600, "--rdzv-timeout", help=TIMEOUT_HELP),
) -> None:
    """Continue a run from its last.pt, exactly where it stopped (with as many processes as it had, exactly)."""
    from tui.console import ConsoleReporter
    from tui.core import job

    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be an integer >= 1, got {epochs}")
    machines = Machines(nnodes, node_rank, rdzv_endpoint, rdzv_timeout).checked(max_restarts)
    if nproc is None:
        from tui.core.runs import RunFolder

        nproc = RunFolder.open(run_dir).spec().run.processes
    else:
        _check_nproc(nproc)
    if _launching(nproc, nnodes, rdzv_endpoint):
        _launch(nproc, max_restarts, None, None, machines)
    _no_restarts(max_restarts)
    stopper = StopOnSignal().install()
    moved = {path: new for path, new in zip(DATA_FILE_FIELDS, (dataset, val, test)) if new}
    job.resume(run_dir, ConsoleReporter(as_json), epochs, on_trainer=stopper.attach, moved=moved)


@app.command()
@guarded
def change(
    run_dir: Path = typer.Argument(..., help="The folder of a run in progress, e.g. checkpoints/iris-20261127-101500."),
    lr: Optional[float] = typer.Option(
        None, "--lr", help="The new learning rate; a schedule's later rates are scaled with it."),
    patience: Optional[int] = typer.Option(None, "--patience", help="The new early-stopping patience (0: off)."),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", help="The new number of epochs in all (not below the epoch in progress)."),
    at_step: Optional[int] = typer.Option(
        None, "--at-step", help="Apply it at the first step boundary at or after this step (default: the next one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the request (or the error) as one JSON object."),
) -> None:
    """Change a running run's learning rate, patience or epochs at its next step boundary: writes
    RUN_DIR/change.json, which the worker applies, logs as a `change` event and stores in its checkpoints."""
    from tui.core import live_change
    from tui.core.runs import to_json

    try:
        asked = live_change.request(run_dir, live_change.Change(lr=lr, patience=patience, epochs=epochs, step=at_step))
    except UserError as e:  # ('train.lr must be a number > 0' answered `--lr 0`)
        raise _named_by_flags(e, lambda path: path in ("train.lr", "train.patience", "train.epochs")) from None
    if as_json:
        typer.echo(to_json({"requested": asked.to_file(), "file": str(run_dir / live_change.REQUEST)}))
        return
    when = f"at step {asked.step}" if asked.step is not None else "at its next step"
    typer.echo(f"asked {run_dir} for {asked.describe()} {when} (request {asked.id}); "
               f"its `change` event in events.jsonl confirms it")


@app.command()
@guarded
@read_flags
def predict(
    checkpoint: Path = typer.Argument(..., help="A checkpoint (best.pt, last.pt) or a run folder (uses its best.pt)."),
    data: Path = typer.Argument(..., help="A data file (CSV, JSON records, ...) with the feature columns the model "
                                          "was trained on."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Where to write the predictions CSV (default, or -: stdout). An existing file "
        "needs --force; the data, the checkpoint and the files the run trained on are never replaced."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing -o file (through a symlink, which "
                                                      "stays)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object: rows, output (the -o file), unseen (text values the model has "
                              "no category for), filled (empty cells an imputing model filled), left_out_rows (rows "
                              "not predicted: with an empty cell for a --missing drop model, with no value at all "
                              "for any), notes (how the file was "
                              "read) and, without -o, predictions (one object per row)."),
    **flags: Any,
) -> None:
    """Predict with a checkpoint: class labels (with probabilities) or values, one row per input row.
    Text values the model has no category for are said on stderr, with how they were encoded; a model trained
    with --missing drop leaves a row with an empty cell without a prediction, and any model a row with no value
    at all (a spreadsheet's empty line), and says so. The file is read
    as the run read its data (its format flags), unless these flags say otherwise."""
    from tui.core.files import refuse_existing
    from tui.core.predict import Predictor, not_predicted, note_lines, refuse_overwriting, write_csv
    from tui.core.runs import to_json

    if output is not None and str(output) == "-":  # a file named "-" is what nobody means by it
        output = None
    predictor = Predictor.load(checkpoint)
    options = predictor.read_options(_overrides(flags))
    if output is not None:
        refuse_overwriting(output, data, predictor.source, run_data=predictor.data_files())  # --force or not
        refuse_existing(output, force, "-o")  # `predict -o` wrote over any file without a word
    predicted = predictor.predict_path(data, options)
    result = predicted.table
    if output is not None:
        write_csv(result, output)  # through a symlink, which stays (files.write_user_files)
    if as_json:
        answer = {"rows": len(result), "output": str(output) if output is not None else None, **predicted.said()}
        if output is None:
            answer["predictions"] = result.to_dict("records")
        typer.echo(to_json(answer))
        return
    for line in note_lines(predicted.said()):
        typer.echo(line, err=True)
    if output is None:
        _data_out(result.to_csv(index=False))
        return
    left, why = not_predicted(predicted.left_out_rows)
    typer.echo(f"wrote {len(result)} predictions to {output}" if not left else
               f"wrote {len(result)} rows to {output}: {len(result) - left} predicted, {why} not")


def _data_out(text: str) -> None:
    """Data on stdout as UTF-8, what `-o FILE` writes: the console's encoding (which escapes what it lacks, in
    tui/entry.py, for messages) must not change a prediction piped into a file."""
    sys.stdout.flush()
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (a test's capture): it takes the text as it is
        sys.stdout.write(text)
        return
    out.write(text.encode("utf-8"))
    out.flush()


CONFUSION_CLASSES = 20  # the most classes whose confusion matrix `eval` prints (7 characters a column)


@app.command("eval")
@guarded
@read_flags
def eval_(
    checkpoint: Path = typer.Argument(..., help="A checkpoint (best.pt, last.pt) or a run folder (uses its best.pt)."),
    data: Path = typer.Argument(..., help="A labelled data file (CSV, JSON records, ...): the feature columns and "
                                          "the target column."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    **flags: Any,
) -> None:
    """Loss and metrics of a checkpoint on labelled data, read as the run read its data (its format flags),
    unless these flags say otherwise."""
    from tui.core.predict import Predictor, loss_label, note_lines
    from tui.core.runs import to_json

    predictor = Predictor.load(checkpoint)
    result = predictor.evaluate_path(data, predictor.read_options(_overrides(flags)))
    if as_json:
        typer.echo(to_json(result))
        return
    for line in note_lines(result):
        typer.echo(line, err=True)
    typer.echo(f"{data}: {result['rows']} rows  {loss_label(result)} {result['loss']:.4f}  "
               f"(model: {result['checkpoint']}, epoch {result['epoch']})")
    if "accuracy" in result:
        classes = result["classes"]
        typer.echo(f"accuracy {result['accuracy']:.4f}")
        w = max(len(c) for c in classes + ["class"])
        typer.echo(f"{'class':<{w}}  precision  recall")
        for c, p, r in zip(classes, result["precision"], result["recall"]):
            typer.echo(f"{c:<{w}}  {p:>9.4f}  {r:>6.4f}")
        if len(classes) > CONFUSION_CLASSES:  # 200 classes made 1,400-character lines: no terminal shows that
            typer.echo(f"confusion matrix: {len(classes)} classes, too many to print here; --json gives it whole")
            return
        typer.echo("confusion matrix (rows: true, columns: predicted)")
        typer.echo(" " * (w + 2) + " ".join(f"{c[:6]:>6}" for c in classes))
        for c, row in zip(classes, result["confusion"]):
            typer.echo(f"{c:<{w}}  " + " ".join(f"{v:>6}" for v in row))
    elif result.get("per_target"):  # several targets: each in its own units (a pooled rmse mixes them)
        w = max(len(t["target"]) for t in result["per_target"])
        for t in result["per_target"]:
            typer.echo(f"{t['target']:<{w}}  rmse {t['rmse']:.4f}  mae {t['mae']:.4f}  r2 {t['r2']:.4f}")
        typer.echo(f"{'r2 mean':<{w}}  {result['r2']:.4f}")
    else:
        typer.echo(f"rmse {result['rmse']:.4f}  mae {result['mae']:.4f}  r2 {result['r2']:.4f}")


@app.command()
@guarded
def runs(
    names: Optional[list[str]] = typer.Argument(
        None, metavar="RUN",
        help="With --compare: the runs to compare, each a run folder or a run's name in --runs-dir."),
    runs_dir: Optional[Path] = typer.Option(None, help="Folder holding run folders.", show_default="checkpoints"),
    compare: bool = typer.Option(False, "--compare", help="Compare the runs named: their best numbers, and the "
                                                          "spec fields whose values differ between them."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: the runs (their list), or with "
                                                       "--compare the comparison."),
) -> None:
    """Run folders, newest first: status, epochs, best validation loss, and the pid of a running one
    (SIGTERM stops it after saving, SIGUSR1 saves now, SIGUSR2 pauses / resumes; one stopped by Ctrl+Z is
    listed as suspended). `torchtui runs --compare A B ...` compares runs."""
    runs_dir = _runs_dir(runs_dir)
    if compare or names:
        _compare_runs(names or [], runs_dir, compare, as_json)
        return
    from tui.core.follow import list_runs
    from tui.core.runs import to_json

    found = list_runs(runs_dir)
    if as_json:
        typer.echo(to_json({"runs": [{"run": str(r.path), "status": r.status, "dataset": r.dataset,
                                      "epochs_done": r.epochs_done, "epochs": r.epochs,
                                      "best_val_loss": r.best_val_loss, "pid": r.pid if r.running else None,
                                      "suspended": r.suspended, "weights_deleted": r.weights_deleted}
                                     for r in found]}))
        return
    if not found:
        typer.echo(f"no runs in {runs_dir}; start one with `torchtui run --dataset iris`")
        return
    rows = [("run", "status", "dataset", "epochs", "best loss", "pid")]
    for r in found:
        best = f"{r.best_val_loss:.4f}" if r.best_val_loss is not None else "-"
        pid = str(r.pid) if r.running and r.pid else ""
        status = f"{r.status}, suspended ({_go_on(r.pid, r.path)})" if r.suspended else r.shown_status
        rows.append((str(r.path), status, r.dataset, f"{r.epochs_done}/{r.epochs}", best, pid))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        typer.echo("  ".join(f"{v:<{w}}" for v, w in zip(row, widths)).rstrip())


def _go_on(pid: Optional[int], run_dir: Optional[Path] = None) -> str:
    """How a suspended run goes on: SIGCONT to its process group (Ctrl+Z stopped them all; one woken alone would
    wait for the others at its next collective), or `fg` where it was suspended. A run of several processes is
    woken through its launcher: the agent starts each process in a session of its own, so their group holds
    one process; our launcher passes SIGCONT on to them, torchrun's does not (each is woken by hand)."""
    launcher = _launcher_of(run_dir) if run_dir is not None else None
    if launcher:
        from tui.signals import is_torchrun_agent

        return f"fg, or kill -CONT {launcher}" + (" and each of its processes" if is_torchrun_agent(launcher) else "")
    try:
        return f"fg, or kill -CONT -- -{os.getpgid(pid)}" if pid else "fg"
    except OSError:
        return f"fg, or kill -CONT {pid}"


def _launcher_of(run_dir: Path) -> Optional[int]:
    """The pid of the launcher of a run of several processes (its start event's launcher_pid), while it lives."""
    from tui.core.follow import read_run
    from tui.core.runs import process_alive

    launcher = read_run(run_dir)[0].start.get("launcher_pid")
    return launcher if isinstance(launcher, int) and process_alive(launcher) else None


def _runs_dir(given: Optional[Path]) -> Path:
    """The folder `runs` lists: ./checkpoints when none is given (no runs yet there is no mistake); a folder named
    that is missing is one, likely a typo, and is said as one rather than listed as empty."""
    if given is None:
        return Path("checkpoints")
    if not given.is_dir():
        raise UserError(f"--runs-dir {given} " + ("is a file, not a folder" if given.exists() else "does not exist")
                        + "; give the folder the runs were written to (`torchtui run --runs-dir`, checkpoints "
                          "by default)")
    from tui.core.runs import is_run_folder

    if is_run_folder(given):  # it said "no runs in" the run's folder, exit 0; `run --runs-dir RUN` is refused alike
        raise UserError(f"--runs-dir {given} is a run folder, not a folder of runs; give the folder that holds it: "
                        f"--runs-dir {Path(os.path.abspath(given)).parent}")
    return given


def _compare_runs(names: list[str], runs_dir: Path, compare: bool, as_json: bool) -> None:
    """`runs --compare A B ...`: each run's best numbers, then the spec fields that differ."""
    from tui.core import compare as cmp
    from tui.core.follow import fmt_seconds
    from tui.core.runs import to_json

    if not compare:  # a refusal under --json: its JSON line is guarded's
        raise UserError("to compare runs, name them after --compare: torchtui runs --compare A B "
                        "(`torchtui runs` lists them)")
    if len(names) < 2:
        raise UserError("--compare needs two or more runs (run folders, or run names in --runs-dir); "
                        "`torchtui runs` lists them")
    compared = [cmp.read(path) for path in cmp.resolve(names, runs_dir)]
    diffs = cmp.differences(compared)
    if as_json:
        typer.echo(to_json({"runs": [r.summary() for r in compared],
                            "differences": [{"field": d.field, "values": d.values} for d in diffs]}))
        return
    rows = [cmp.COLUMNS]
    for r in compared:
        i = r.info
        rows.append((r.name, i.shown_status, i.dataset, f"{i.epochs_done}/{i.epochs}", cmp.fmt_number(i.best_val_loss),
                     cmp.fmt_metric(r), fmt_seconds(i.seconds)))
    _echo_table(rows)
    note = cmp.loss_note(compared)
    if note:
        typer.echo(note)
    typer.echo("")
    for r in compared:
        if r.spec is None:
            typer.echo(f"{r.name}: spec not compared ({r.spec_error})")
    if not diffs:
        typer.echo("no spec field differs between these runs")
        return
    _echo_table([("differs", *(r.name for r in compared))]
                + [(d.field, *(cmp.fmt_value(v) for v in d.values)) for d in diffs])


def _echo_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(f"{v:<{w}}" for v, w in zip(row, widths)).rstrip())


@app.command()
@guarded
def export(
    run_dir: Optional[Path] = typer.Argument(None, help="A run folder, e.g. checkpoints/iris-20260101-120000."),
    from_spec: Optional[Path] = typer.Option(None, "--from-spec", help="A spec not yet run, e.g. exp.toml."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="The script to write (default train.py; -: stdout; with --weights, only if "
        "named)."),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Write the run's model as safetensors (e.g. model.safetensors) with a JSON beside it: "
        "layers, preprocessing statistics, class names. Needs `pip install safetensors`."),
    which: str = typer.Option("best", "--which", help="The weights --weights writes: best (best.pt) or last."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a run as a plain PyTorch script (torch, numpy, pandas only) that retrains it bit for bit on the CPU,
    and/or its weights as safetensors (--weights)."""
    from tui.core import export as exporting
    from tui.core.files import refuse_existing

    if (run_dir is None) == (from_spec is None):
        raise UserError("give a run folder or --from-spec FILE (one of them): torchtui export RUN_DIR [-o train.py]")
    if weights is None and which != "best":
        raise UserError(f"--which {which} chooses the weights --weights writes; add --weights model.safetensors")
    if weights is not None:
        from tui.core import weights_export

        if run_dir is None:
            raise UserError("--weights takes a run folder (a spec not yet run has no weights): "
                            "torchtui export RUN_DIR --weights model.safetensors")
        if which not in ("best", "last"):
            raise UserError(f"--which {which}: choose best or last")
        weights_export.check_target(weights, force)
        script_out = output is not None and str(output) == "-"  # `-o -`: stdout is the script's alone
        if output is not None and not script_out:
            refuse_existing(output, force, "-o")
        done = weights_export.from_run(run_dir, weights, which, force)
        typer.echo(f"wrote {done.weights} (the model of {done.checkpoint.name}, epoch {done.epoch}) and {done.card} "
                   "(layers, preprocessing, classes)", err=script_out)
        if output is None:
            return
    output = output if output is not None else Path(exporting.SCRIPT_NAME)
    to_stdout = str(output) == "-"  # `-o -`: the script on stdout, as predict's rows (a file named "-" nobody means)
    if not to_stdout:
        refuse_existing(output, force, "-o")
    if run_dir is not None:
        made = exporting.from_run(run_dir)
    else:
        assert from_spec is not None  # one of the two, checked above
        made = exporting.from_spec(from_spec)
    if to_stdout:
        _data_out(made.script)
        for line in made.differs:
            typer.echo(f"note: not exact: {line}", err=True)
        return
    exporting.write(made, output, force)
    note = f" (not exact: {'; '.join(made.differs)})" if made.differs else ""
    typer.echo(f"wrote {output}{note}; run it with `python {output}`")


@app.command()
@guarded
def datasets() -> None:
    """Built-in datasets, usable by name with --dataset."""
    from tui.core.datasets import BUILTINS

    rows = [("name", "rows", "features", "task", "about")]
    for b in BUILTINS.values():
        frame = b.frame(0)
        rows.append((b.name, str(len(frame)), str(frame.shape[1] - 1), b.task, b.description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(f"{v:<{w}}" for v, w in zip(row[:4], widths)) + "  " + row[4])


@config_app.command("show")
@guarded
def config_show() -> None:
    """Print the full default spec as commented TOML."""
    typer.echo(Spec().to_toml(comments=True), nl=False)


@config_app.command("write")
@guarded
def config_write(
    path: Path = typer.Argument(..., help="File to write, e.g. exp.toml."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the full default spec to a TOML file that `torchtui run FILE` accepts."""
    from tui.core.files import refuse_existing, write_user_file

    refuse_existing(path, force)
    write_user_file(path, Spec().to_toml(comments=True).encode("utf-8"))
    typer.echo(f"wrote {path}; train with `torchtui run {path}`")


# the flags that take a path: a `~/` after `--flag=` means the home folder, as the shell would have it
PATH_FLAGS = ("--config", "--dataset", "--val", "--test", "--runs-dir", "--output", "--weights", "--from-spec",
              "--checkpoint")


def main() -> None:
    interrupt_at_once_while_importing()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        follow_the_launcher()  # first: a launcher killed (kill -9) leaves no process waiting for it
    sys.argv[1:] = expand_home_in_args(sys.argv[1:], PATH_FLAGS)  # `--runs-dir=~/runs`
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        _main_of_a_rank()
    try:
        app()
    except OutputClosed:  # `torchtui runs | head -1`: the reader took what it wanted; click would have exited 1
        sys.exit(_output_closed())
    except OSError as e:
        if not _an_echo_failed(e):
            raise
        # `torchtui runs > list.txt` on a full disk: one line, not a traceback (a run's own console is
        # tui/console.py's, which trains on); a broken pipe is OutputClosed, above
        drop(sys.stdout)  # the interpreter's flush at exit would fail again, with a traceback
        try:
            typer.echo(f"error: cannot write the output: {e.strerror or e}", err=True)
        except OSError:
            pass
        sys.exit(1)


def _output_closed() -> int:
    """The exit code of a command whose reader closed its output early (`OutputClosed`): 0, its streams sent to
    /dev/null first (the interpreter's flush at exit would fail on them again, and exit 120)."""
    for stream in (sys.stdout, sys.stderr):
        if reader_gone(stream):
            drop(stream)
    return 0


def _an_echo_failed(e: OSError) -> bool:
    """Whether the error is a command's output failing to be written: raised inside click's `echo` itself."""
    where, function = raised_in(e)
    return (function == "echo" and "click" in where) or function == "_data_out"  # (predict's table, export -o -)


def _main_of_a_rank() -> None:
    """A process of a distributed run leaves with os._exit once its work and output are done: torch's DDP and
    gloo objects torn down at interpreter exit can abort the process ("terminate called without an active
    exception") after a clean finish, and the agent would count that a failure and restart the group."""
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except OutputClosed:  # as `main` ends it: a reader that took what it wanted is no failure of the rank
        code = _output_closed()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            drop(stream)
    os._exit(code)
