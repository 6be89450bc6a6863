"""The `torchtui` command. Thin: parse flags into a spec, call tui.core, print what it reports.

Torch, pandas and the core modules that need them are imported inside the commands, so
`torchtui --help` answers at once; the spec is plain Python, and `run`'s flags are made from
its declarations. A user's mistake ends as one line on stderr and exit code 2; a training
that fails (diverged, out of memory) exits 1; Ctrl+C exits 130.
"""

from __future__ import annotations

import functools
import inspect
import signal
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from tui.core.errors import Interrupted, TrainingFailed, UserError
from tui.core.spec import FieldInfo, Spec, spec_fields
from tui.signals import StopOnSignal, exit_code

app = typer.Typer(
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


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Map the errors users can cause to one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            _fail(str(e), 2)
        except TrainingFailed as e:
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
    from tui.app import run_app

    code = run_app(spec, attach, preset=config is not None or dataset is not None)
    if code:
        raise typer.Exit(code)


@app.command()
def attach(run_dir: Path = typer.Argument(..., help="A run folder, e.g. checkpoints/iris-20260101-120000.")) -> None:
    """Open the screen on a run folder: its whole history, and live if it is still training."""
    _open_screen(None, None, run_dir)


# parameter name -> field; the name only has to be a unique identifier
_FLAGGED = {info.path.replace(".", "_"): info for info in spec_fields() if info.flag}


def spec_flags(fn: Callable) -> Callable:
    """Give a command one option per flagged spec field in place of its `**flags`, made from the
    field's declaration in tui.core.spec, so no flag is written (or forgotten) here. Typer reads
    the parameters from `__signature__`; the options come after the command's own arguments."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
    generated = [_flag_parameter(name, info) for name, info in _FLAGGED.items()]
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
    elif typing.get_origin(info.type) is list:
        kind, how = str, " Comma-separated."
    names = [decl, info.short] if info.short else [decl]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[kind],
                             default=typer.Option(None, *names, help=info.help + how))


def _overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags given, as spec overrides by path; a switch sets the values its field declares."""
    overrides = {}
    for name, value in flags.items():
        info = _FLAGGED[name]
        if value is None or (info.repeat and not value):
            continue
        overrides[info.path] = (info.switch[0] if value else info.switch[1]) if info.switch else value
    return overrides


@app.command()
@guarded
@spec_flags
def run(
    config: Optional[Path] = typer.Argument(
        None, help="TOML spec (see `torchtui config show`), or - to read it from stdin; flags override it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event on stdout."),
    **flags: Any,
) -> None:
    """Train headless and write a run folder: spec.toml, events.jsonl, last.pt, best.pt."""
    if config is not None and str(config) == "-":  # how the screen hands its worker the spec: no temp file
        spec = Spec.from_toml(_read_stdin(), source="<stdin>")
    else:
        spec = Spec.from_file(config) if config is not None else Spec()
    spec = spec.with_overrides(_overrides(flags))
    from tui.console import ConsoleReporter
    from tui.core import job

    stopper = StopOnSignal().install()
    job.run(spec, ConsoleReporter(as_json), on_trainer=stopper.attach)


def _read_stdin() -> str:
    try:
        return sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"<stdin> is not UTF-8 text ({e.reason} at byte {e.start}); pipe a TOML spec") from None


@app.command()
@guarded
def resume(
    run_dir: Path = typer.Argument(..., help="A run folder, e.g. checkpoints/iris-20261127-101500."),
    epochs: Optional[int] = typer.Option(None, help="Train up to this many epochs in all (default: the spec's)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event on stdout."),
) -> None:
    """Continue a run from its last.pt, exactly where it stopped."""
    from tui.console import ConsoleReporter
    from tui.core import job

    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be an integer >= 1, got {epochs}")
    stopper = StopOnSignal().install()
    job.resume(run_dir, ConsoleReporter(as_json), epochs, on_trainer=stopper.attach)


@app.command()
@guarded
def predict(
    checkpoint: Path = typer.Argument(..., help="A checkpoint (best.pt, last.pt) or a run folder (uses its best.pt)."),
    data: Path = typer.Argument(..., help="CSV with the feature columns the model was trained on."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Where to write the predictions CSV (default: stdout)."),
) -> None:
    """Predict with a checkpoint: class labels (with probabilities) or values, one row per input row."""
    from tui.core.data import read_csv
    from tui.core.predict import Predictor

    predictor = Predictor.load(checkpoint)
    if output is None:
        predictor.predict_frame(read_csv(data), str(data)).to_csv(sys.stdout, index=False)
        return
    rows = predictor.predict_file(data, output)
    typer.echo(f"wrote {rows} predictions to {output}")


@app.command("eval")
@guarded
def eval_(
    checkpoint: Path = typer.Argument(..., help="A checkpoint (best.pt, last.pt) or a run folder (uses its best.pt)."),
    data: Path = typer.Argument(..., help="Labelled CSV: the feature columns and the target column."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Loss and metrics of a checkpoint on labelled data."""
    from tui.core.data import read_csv
    from tui.core.predict import Predictor
    from tui.core.runs import to_json

    result = Predictor.load(checkpoint).evaluate_frame(read_csv(data), str(data))
    if as_json:
        typer.echo(to_json(result))
        return
    typer.echo(f"{data}: {result['rows']} rows  loss ({result['loss_name']}) {result['loss']:.4f}")
    if "accuracy" in result:
        classes = result["classes"]
        typer.echo(f"accuracy {result['accuracy']:.4f}")
        w = max(len(c) for c in classes + ["class"])
        typer.echo(f"{'class':<{w}}  precision  recall")
        for c, p, r in zip(classes, result["precision"], result["recall"]):
            typer.echo(f"{c:<{w}}  {p:>9.4f}  {r:>6.4f}")
        typer.echo("confusion matrix (rows: true, columns: predicted)")
        typer.echo(" " * (w + 2) + " ".join(f"{c[:6]:>6}" for c in classes))
        for c, row in zip(classes, result["confusion"]):
            typer.echo(f"{c:<{w}}  " + " ".join(f"{v:>6}" for v in row))
    else:
        typer.echo(f"rmse {result['rmse']:.4f}  mae {result['mae']:.4f}  r2 {result['r2']:.4f}")


@app.command()
@guarded
def runs(runs_dir: Path = typer.Option(Path("checkpoints"), help="Folder holding run folders.")) -> None:
    """Run folders, newest first: status, epochs, best validation loss, and the pid of a running one
    (SIGTERM stops it after saving, SIGUSR1 saves now, SIGUSR2 pauses / resumes)."""
    from tui.core.follow import list_runs

    found = list_runs(runs_dir)
    if not found:
        typer.echo(f"no runs in {runs_dir}; start one with `torchtui run --dataset iris`")
        return
    rows = [("run", "status", "dataset", "epochs", "best loss", "pid")]
    for r in found:
        best = f"{r.best_val_loss:.4f}" if r.best_val_loss is not None else "-"
        pid = str(r.pid) if r.running and r.pid else ""
        rows.append((str(r.path), r.status, r.dataset, f"{r.epochs_done}/{r.epochs}", best, pid))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        typer.echo("  ".join(f"{v:<{w}}" for v, w in zip(row, widths)).rstrip())


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
    from tui.core.files import write_user_file

    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    write_user_file(path, Spec().to_toml(comments=True).encode("utf-8"))
    typer.echo(f"wrote {path}; train with `torchtui run {path}`")


def main() -> None:
    app()
