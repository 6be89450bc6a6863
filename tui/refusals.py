"""How a refused command answers: one line on stderr and exit code 2, and under `--json` also one
JSON line on stdout, so a program reading stdout learns why as well as a person reading stderr.

Commands whose `--json` output is a run's events (`run`, `resume`) or a result object of a run's
model (`eval`, `predict`) answer with an `error` event of kind `refused` (tui/core/event_schema.py);
`lr-find`, `change` and `runs --compare` answer `{"error": ...}`, as their own refusals do.

A mistake in the command line itself (a flag unknown, `--lr abc`) is caught before any command
runs, by the command group below, and answered the same way instead of with click's usage block.
A reader that closes the output early (`torchtui runs | head -1`) is no mistake: the group carries the broken
pipe past click (`OutputClosed`), and `tui.cli.main` ends the command with exit code 0, saying nothing.
Nothing here imports torch but the JSON line's builder: answering a typo must not wait for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Iterator, Sequence

import typer
from typer.core import TyperGroup

from tui.core.runs import to_json
from tui.core.spec import spec_fields

try:  # typer >= 0.26 carries its own click
    from typer._click.exceptions import BadParameter, MissingParameter, UsageError
except ImportError:  # pragma: no cover - older typer, with click beside it
    from click.exceptions import BadParameter, MissingParameter, UsageError  # type: ignore[no-redef]

EVENT_COMMANDS = ("run", "resume", "eval", "predict")  # their --json refusal is an `error` event
REFUSED = "refused"  # the `error` event's kind for a refusal: the user's to fix, exit code 2
PROGRAM = "torchtui"

# what a value that did not parse should have been, by pydantic's error type (typer parses with pydantic)
_WANTED = {"int_parsing": "a whole number", "int_from_float": "a whole number", "int_type": "a whole number",
           "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
           "bool_parsing": "true or false", "bool_type": "true or false"}
_DEFAULTS = {info.flag: info.default for info in spec_fields() if info.flag}


def refusal_event(message: str, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The `error` event a refused command prints under --json: built by the recorder's module, the one
    that builds events (which imports torch: paid under --json alone), stamped here, as it is never
    written to a run folder."""
    from tui.core.record import error

    event = error(REFUSED, message)
    event.update(notes=list(notes), time=time.time())
    return event


def json_line(command: str, message: str, notes: Sequence[str] = ()) -> str:
    """The one JSON line of `command`'s refusal (see the module's docstring for its two forms)."""
    if command in EVENT_COMMANDS:
        return to_json(refusal_event(message, notes))
    return to_json({"error": message})


def say(message: str, command: str = "", as_json: bool = False, notes: Sequence[str] = ()) -> None:
    """Print a refusal: its JSON line on stdout first when asked for, then the line on stderr. A reader gone
    from either (`| head -0`) does not turn the refusal into a quiet exit 0: the exit code still says it."""
    unwritten = _echo_unless_gone(json_line(command, message, notes), err=False) if as_json else ""
    _echo_unless_gone(f"error: {message}", err=True)
    if unwritten:  # (a full disk under `> out.json`): the refusal is still the refusal, exit 2, said here
        _echo_unless_gone(f"  note: its JSON line could not be written to the output: {unwritten}", err=True)


def _echo_unless_gone(text: str, err: bool) -> str:
    """'' once written, or gone unread (a reader that left); else why it could not be written (a full disk): the
    stream is then dropped, so that the interpreter's flush at exit does not fail on it again."""
    try:
        typer.echo(text, err=err)
    except BrokenPipeError:
        drop(sys.stderr if err else sys.stdout)
    except OSError as e:
        drop(sys.stderr if err else sys.stdout)
        return e.strerror or str(e)
    return ""


class OutputClosed(Exception):
    """The reader of stdout (or stderr) went away mid-command: `torchtui runs | head -1`. Raised in place of the
    BrokenPipeError, which click ends with exit code 1 itself - this tool's code for a failed training - so that
    `tui.cli.main` can end the command with 0, quietly: a reader that took what it wanted is no failure. Not an
    OSError, so that click lets it pass."""


def reader_gone(stream: Any) -> bool:
    """Whether `stream` is a pipe (or socket) whose reader has closed it: poll says POLLERR / POLLHUP for it. A
    broken pipe of some other file is not the output's, and is not hidden as one. Where there is no poll
    (Windows), a broken pipe is taken for the output's."""
    import select

    if not hasattr(select, "poll"):
        return True
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # not a file of its own (a test's capture), or closed
        return False


def raised_in(e: BaseException) -> tuple[str, str]:
    """(file, function) of the innermost Python frame the error was raised in: what wrote when a write failed."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "", ""
    return tb.tb_frame.f_code.co_filename.replace("\\", "/"), tb.tb_frame.f_code.co_name


def _writing_output(e: BaseException) -> bool:
    """Whether the error was raised writing the command's output - in click's echo, or in tui/cli.py itself (the
    CSV `predict` writes to stdout) - and not inside training: a DataLoader worker's pipe, or a user's Dataset,
    breaking in a `run` whose stderr reader had gone would have ended a failed run with exit code 0."""
    where = raised_in(e)[0]
    return "click" in where or where.endswith("tui/cli.py")


def drop(stream: Any) -> None:
    """Send what goes to `stream` to /dev/null from now on, what its buffer still holds too: the interpreter's
    flush at exit would otherwise fail on the broken pipe again, print a traceback and exit 120."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, stream.fileno())
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass
    finally:
        os.close(devnull)


class CommandLineMistake(UsageError):
    """A usage error said in one line (and its JSON line under --json); exit code 2, as click's own."""

    def __init__(self, message: str, command: str, as_json: bool):
        super().__init__(message)
        self.command, self.as_json = command, as_json

    def show(self, file: Any = None) -> None:
        say(self.message, self.command, self.as_json)


class Commands(TyperGroup):
    """The `torchtui` command group: a mistake in the command line ends as one line naming the flag, the
    value and what it takes, not click's usage block (`typer.Typer(cls=Commands)`). Both places that parse
    arguments are wrapped: the group's own options, and a command's (which the group's `invoke` parses)."""

    argv: list[str]

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        self.argv = list(sys.argv[1:] if args is None else args)  # the words, to find a bad value and --json in
        return super().main(args, *rest, **extra)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with self._one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with self._one_line():
            return super().invoke(ctx)

    @contextlib.contextmanager
    def _one_line(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError as e:  # click would end it with exit code 1 (the whole of the command and its help)
            if not (_writing_output(e) and (reader_gone(sys.stdout) or reader_gone(sys.stderr))):
                raise
            raise OutputClosed() from e
        except CommandLineMistake:
            raise
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `torchtui config`: the help it asked for
                raise
            argv = getattr(self, "argv", [])
            command, words = _where(e) if e.ctx is not None else self._named_in(argv)
            takes_json = command is not None and any("--json" in getattr(p, "opts", ()) for p in command.params)
            name = (command.name or "") if command is not None and words else ""
            raise CommandLineMistake(usage_line(e, argv, words), name, takes_json and "--json" in argv) from None

    def _named_in(self, argv: list[str]) -> tuple[Any, list[str]]:
        """(the command, its words) that `argv` names: click's parser raises some errors with no context (a flag
        missing its value: `run --json --epochs`), and that refusal lost its JSON line and named `torchtui --help`
        for the help of `torchtui run`."""
        group: Any = self
        words: list[str] = []
        for word in argv:
            sub = group.commands.get(word) if hasattr(group, "commands") else None
            if sub is not None:
                group = sub
                words.append(word)
        return (group if words else None), words


def usage_line(e: UsageError, argv: list[str], words: Sequence[str] | None = None) -> str:
    """One line for a usage error: for a value that does not parse, the flag, the value and what it takes
    (`--lr 'abc' is not a number (e.g. --lr 0.01)`); else click's message and where the flags are listed."""
    param = getattr(e, "param", None)
    if isinstance(e, BadParameter) and not isinstance(e, MissingParameter) and param is not None:
        names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
        if names and not any(n.startswith("-") for n in names):  # an argument, not a flag: the message has its value
            return f"{names[0].lower()}: {_lower_first(e.message).rstrip('.')}; check its permissions" \
                if "readable" in e.message else f"{names[0].lower()}: {_lower_first(e.message).rstrip('.')}"
        flag = next((n for n in names if n in argv or any(a.startswith(n + "=") for a in argv)),
                    names[0] if names else param.human_readable_name)
        value, kind = _bad_value(e, flag, argv)
        wanted = _WANTED.get(kind, "")
        if wanted:
            default = _DEFAULTS.get(flag, getattr(param, "default", None))
            example = f" (e.g. {flag} {default})" if isinstance(default, (int, float)) and \
                not isinstance(default, bool) else ""
            return f"{flag} {value!r} is not {wanted}{example}"
        return f"{flag} {value!r}: {_lower_first(e.message)}"
    said = _lower_first(e.format_message()).rstrip(".")
    words = list(words if words is not None else _where(e)[1])
    hint = _resume_hint(e, words)
    if hint:
        return hint
    path = " ".join([PROGRAM, *words])
    return f"{said}{'' if said.endswith('?') else ';'} `{path} --help` lists what it takes"


def _resume_hint(e: UsageError, words: list[str]) -> str:
    """`resume RUN --lr 0.1`: a training flag `run` takes, given to resume, which continues a run as it was.
    Click's "no such option (Possible options: --help, --val)" pointed nowhere useful."""
    flag = getattr(e, "option_name", None)
    ctx = e.ctx.find_root() if e.ctx is not None else None
    commands = getattr(ctx.command, "commands", {}) if ctx is not None else {}

    def takes(command: str) -> bool:
        return command in commands and any(flag in getattr(p, "opts", ()) for p in commands[command].params)

    if words != ["resume"] or not flag or not takes("run"):
        return ""
    change = f"`{PROGRAM} change RUN {flag} ...` changes it while the run trains, " if takes("change") else ""
    return (f"resume continues a run as it was, and takes no {flag} (only --epochs, and a moved file's new place); "
            f"{change}`{PROGRAM} run RUN/spec.toml {flag} ...` starts a new run from its spec")


def _bad_value(e: BadParameter, flag: str, argv: list[str]) -> tuple[Any, str]:
    """(the value given, pydantic's error type) of a value that did not parse. Typer keeps the parser's
    error as the cause; without one, the word after the flag."""
    cause = e.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if errors:
        return errors[0].get("input"), str(errors[0].get("type", ""))
    for i, word in enumerate(argv):
        if word.startswith(flag + "="):
            return word[len(flag) + 1:], ""
        if word == flag and i + 1 < len(argv):
            return argv[i + 1], ""
    return "", ""


def _where(e: UsageError) -> tuple[Any, list[str]]:
    """(the command, its words after `torchtui`) of an error raised with its context."""
    words, ctx = [], e.ctx
    while ctx is not None and ctx.parent is not None:
        words.append(ctx.info_name or "")
        ctx = ctx.parent
    return (e.ctx.command if e.ctx is not None else None), list(reversed(words))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
