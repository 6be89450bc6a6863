"""The torchtui screen: five panes over one experiment spec, and a training child process
followed through its run folder.

The app holds the spec (the same object `torchtui run` takes) and edits it as the panes
change; the core checks every edit. Training never runs here: ctrl+r starts `torchtui run`
(or `resume`) as a child in its own session, and the app reads the run folder's event log a
few times a second. Stop, save-now and pause reach the child by signals, so a run started
headless, or by an earlier screen, is watched and controlled the same way.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from tui.core import continuation, live_change
from tui.core.errors import UserError
from tui.core.files import no_such_path, path_problem, write_user_file
from tui.core.follow import EventTail, RunState, list_runs, read_run
from tui.core.runs import EVENTS, RunFolder
from tui.core.spec import Spec

from . import data_source, stack_view, training_process
from .announce import notice_for
from .change_screen import ChangeScreen
from .data_pane import DataPane
from .hyper_pane import HyperPane, widget_id
from .key_bar import KeyBar
from .lr_find_screen import LR_FIND_KEYS, LRFindScreen
from .model_pane import ModelPane
from .predictions_table import PredictionsTable
from .results_pane import ResultsPane
from .runs_pane import DeleteRunScreen, RunsPane
from .screen_words import on_screen
from .screens import ExportScreen, HelpScreen, QuitScreen, RunsScreen
from .training_pane import TrainingPane
from .visible_text import visible, visible_lines

PANES = (("data", "Data"), ("model", "Model"), ("hyper", "Hyperparameters"), ("training", "Training"),
         ("results", "Results"), ("runs", "Runs"))
# F2-F7 switch panes from anywhere, a text field included (alt+digit reaches few terminals intact);
# 1-6 wherever they are not typed into a field; escape leaves a field.
PANE_KEYS = [Binding("f2", "pane('data')", "Panes", key_display="F2-F7", priority=True,
                     tooltip="Data pane (F3-F7 the others; 1-6 outside a text field)"),
             *(Binding(f"f{n}", f"pane('{pane}')", f"{label} pane", show=False, priority=True)
               for n, (pane, label) in enumerate(PANES[1:], 3)),
             *(Binding(str(n), f"pane('{pane}')", f"{label} pane", show=False)
               for n, (pane, label) in enumerate(PANES, 1))]
MIN_SIZE = (80, 24)  # every pane is laid out for 80x24 and up; below it, one line says so (never cut controls)
# a pane's first stop, when it has one: never a text field
PANE_FOCUS = {"data": "#data-list", "model": "#model-table", "runs": "#runs-list", "training": "#train-log",
              "results": "#results-pane .first-stop"}  # the summary, or the predictions table (v)
POLL_INTERVAL = 0.5  # seconds between reads of the event log (and status updates)


def _pane_of(path: str) -> str:
    """The pane holding the field of a spec path: the data section's on the Data pane."""
    return "data" if path.startswith("data.") else "hyper"


def _field_selector(path: str) -> str:
    """The widget of a spec path's field (data.val_split: #data-val-split; train.lr: #hp-lr)."""
    section, key = path.split(".", 1)
    return f"#data-{key.replace('_', '-')}" if section == "data" else "#" + widget_id(path)


# While the run on screen is paused, ctrl+p is this binding (check_action): the footer says Resume, not Pause.
DIALOGS = ("load", "export")  # keys that open a dialog over the panes: not over another dialog
RESUME_KEY = Binding("ctrl+p", "resume", "Resume", priority=True, tooltip="resume the paused run")


class TorchTUI(App):
    CSS_PATH = "app.tcss"
    TITLE = "torchtui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        # Short descriptions for the footer (key_bar.py fits them to the width); the tooltips are what the
        # help screen says.
        Binding("ctrl+r", "train", "Train", priority=True,
                tooltip="train; after loading a run: resume it exactly when only Epochs changed (or a moved "
                        "data file's new place), else a new run in a new folder"),
        Binding("ctrl+x", "stop", "Stop", priority=True,
                tooltip="stop training: the worker saves the exact position to last.pt, then exits"),
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="save a checkpoint (last.pt) at the next step"),
        Binding("ctrl+p", "pause", "Pause", priority=True, tooltip="pause / resume training"),
        RESUME_KEY,  # ctrl+p again, named Resume in the footer while the run is paused (check_action)
        Binding("ctrl+o", "load", "Load", priority=True,
                tooltip="load a run (its spec, history and checkpoints); a running one is attached"),
        Binding("ctrl+e", "export", "Export", priority=True,
                tooltip="write the experiment as TOML, or the run as a plain PyTorch script"),
        *LR_FIND_KEYS,  # on the Hyperparameters pane only (check_action)
        Binding("ctrl+q", "quit", "Quit", priority=True,
                tooltip="quit; while training, asks whether to leave it running or stop it"),
        Binding("f1,question_mark", "help", "Help", tooltip="all keys (this screen)"),
        *PANE_KEYS,
        Binding("escape", "leave_field", "Leave the field", show=False),
        # Focus moves as the key arrives. Textual hands each key to the widget focused when it arrives and
        # moves the focus only when the tab reaches the screen's binding, so keys typed right after a tab
        # went into the field being left; a priority binding is served first, before the next key.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True, tooltip="the next field"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True,
                tooltip="the previous field"),
    ]

    def __init__(self, spec: Spec | None = None, attach: Path | None = None, preset: bool = False) -> None:
        super().__init__()
        self.spec = spec or Spec()
        self.attach_to = attach
        self.preset = preset  # opened with --config / --dataset: do not jump to a running run
        self.data: data_source.DataView | None = None
        self.stack = stack_view.StackView()
        self.field_errors: dict[str, str] = {}
        self.followed: RunState | None = None
        self.tail: EventTail | None = None
        self.process: training_process.TrainingProcess | None = None
        self.loaded_spec: Spec | None = None  # the spec of a loaded run: ctrl+r resumes it when unchanged
        self._attaching: Path | None = None  # the run the screen opened on, shown while its checkpoint is checked
        self._reload_timer = None
        self._save_pending = False
        self._checked_alive = 0.0
        self._focus_before_small: Widget | None = None  # the panes' focus when the terminal became too small
        self._footer_state: tuple[bool, bool] = (False, False)  # (training, paused) as the footer shows them
        self._screens_seen = 1  # the screens stacked when the footer was last fitted (poll: a dialog over the panes)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast, the panes' included, shows its text as it is: the texts name user files and carry library
        errors (gloo's "[.../pair.cc:537] Connection closed by peer" when a process of a distributed run died),
        and read as markup, a '[' in them ended the screen with a MarkupError. Their control characters are shown
        as escapes (visible_text.py): a file's or a column's name quoted in a toast wrote its escape sequences to
        the terminal."""
        # markup is never on: a pane's or a dialog's own notify (Widget.notify) passes markup=True, and typing "[/]"
        # into the change dialog ended the screen through it
        super().notify(visible_lines(message), title=visible(title), severity=severity, timeout=timeout,
                       markup=False)

    def action_help_quit(self) -> None:
        """Textual's answer to ctrl+c ("Press [b]ctrl+q[/b] to quit"), written as text: toasts take no markup."""
        key = next((k for k, b in self.active_bindings.items() if b.binding.action in ("quit", "app.quit")), "ctrl+q")
        self.notify(f"Press {key} to quit the app", title="Do you want to quit?", severity="information")

    # ---- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with TabbedContent(id="panes"):
            with TabPane("1 Data", id="data"):
                yield DataPane(self.spec, id="data-pane")
            with TabPane("2 Model", id="model"):
                yield ModelPane(id="model-pane")
            with TabPane("3 Hyperparameters", id="hyper"):
                yield HyperPane(self.spec, id="hyper-pane")
            with TabPane("4 Training", id="training"):
                yield TrainingPane(id="training-pane")
            with TabPane("5 Results", id="results"):
                yield ResultsPane(id="results-pane")
            with TabPane("6 Runs", id="runs"):
                yield RunsPane(id="runs-pane")
        yield Static("", id="too-small", markup=False)
        yield KeyBar(compact=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self.show_spec)  # once the panes' own widgets have mounted
        # after the first frame: these threads import pandas and torch, and an import holds the GIL the
        # first frame is drawn with (started at mount, they delayed it by a third of a second and more)
        self.call_after_refresh(self.load_data_now)
        self.call_after_refresh(self._find_devices)
        self.set_interval(POLL_INTERVAL, self.poll)
        if hasattr(signal, "SIGHUP"):
            # A dropped SSH session: leave at once and quietly; the training child has its own session.
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hang_up)
        if self.attach_to is not None:
            self.load_run(self.attach_to, shown_at_once=True)
        elif not self.preset and (running := [r for r in list_runs(self.spec.run.runs_dir) if r.running]):
            self.load_run(running[0].path, shown_at_once=True)
        else:  # (a run loaded shows its pane with the focus in it; a focus given meanwhile could pull the pane back)
            self.call_after_refresh(self._focus_first)
        self.call_after_refresh(gc.freeze)  # the start-up objects never need collecting: no 80 ms gc pauses

    def _focus_first(self) -> None:
        """The shown pane's first stop has the focus from the start, as after a switch: the tabs had it, and keys
        typed at once (down, enter to pick a dataset) did nothing until a pane key or a click."""
        focused = self.screen_stack[0].focused
        if focused is None or focused is self.query_one("#panes Tabs"):  # (Textual's own pick: the tabs)
            self._focus_pane(self.query_one("#panes", TabbedContent).active)

    def _focus_lost_pane(self, had: Widget | None) -> None:
        """The focus the panes had before the terminal was too small, where hiding them took it away."""
        screen = self.screen_stack[0]
        active = self.query_one("#panes", TabbedContent).active
        # a pane switched to while the terminal was too small stays: the focus of the pane it left would switch back
        panes = [a for a in (had.ancestors_with_self if had is not None else []) if isinstance(a, TabPane)]
        if had is not None and had.is_attached and had.screen is screen and all(p.id == active for p in panes):
            screen.set_focus(had)
        else:
            self._focus_pane(active)

    def on_resize(self, event) -> None:
        w, h = event.size
        small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        self.query_one("#too-small", Static).update(
            f"terminal {w}x{h} is too small for torchtui: make it at least {MIN_SIZE[0]}x{MIN_SIZE[1]}"
            if small else "")
        # on the screen of the panes, whichever is on top (help, a dialog): else it kept the class it had when the
        # top one opened, and came back blank
        panes_screen = self.screen_stack[0]
        was_small = panes_screen.has_class("-too-small")
        if small and not was_small:
            self._focus_before_small = panes_screen.focused
        panes_screen.set_class(small, "-too-small")
        if was_small and not small:
            # hidden, the panes lost the focus, and with it the pane's keys (l, c, ...): they come back with it
            self.call_after_refresh(self._focus_lost_pane, self._focus_before_small)
        panes_screen.set_class(h < 30, "-short")  # the .tcss packs some panes tighter on a short terminal

    def on_unmount(self) -> None:
        if self.process is not None and self.process.exit_code() is not None:
            self.process.tidy()

    def _hang_up(self) -> None:
        # Textual's shutdown still writes to the terminal that just went away, and about one
        # hang-up in five it blocks for good in its writer thread's queue (WriterThread.stop):
        # never outlive a hang-up by more than 2 s.
        watchdog = threading.Timer(2.0, os._exit, (129,))
        watchdog.daemon = True
        watchdog.start()
        self.exit(return_code=129)

    @work(thread=True, group="devices")
    def _find_devices(self) -> None:
        """The device picker's choices: asking torch (and nvidia-smi) takes a second or more, after the first frame."""
        from tui.core import devices

        found = devices.available()
        if not self._exit:
            self.call_from_thread(self._devices_found, found)

    def _devices_found(self, found: list[tuple[str, str]]) -> None:
        self.query_one(HyperPane).set_devices(found)

    # ---- the spec, edited by the panes ------------------------------------------------------------
    def show_spec(self) -> None:
        self.field_errors.clear()  # the fields show the spec's own values now (first: the panes show these errors)
        self.query_one(DataPane).show_spec(self.spec)
        self.query_one(HyperPane).show_spec(self.spec)
        self.refresh_stack()

    def edit(self, overrides: dict[str, Any], reload: bool = False) -> str | None:
        """Apply edits to the spec; the spec's own message when it refuses them."""
        try:
            self.spec = self.spec.with_overrides(overrides)
        except UserError as e:
            return str(e)
        if reload:
            self.schedule_data_load()
        if any(k in ("model.layers", "train.loss") for k in overrides):
            self.refresh_stack()
        self.show_next()
        return None

    def show_next(self) -> None:
        """The Hyperparameters pane's line on what ctrl+r will do now, with the run name checked again first:
        whether the name is free changes with the run folders and the loaded run, not only as it is typed."""
        if self._exit or not self.query("#hp-next"):  # (not before the pane has composed)
            return
        pane = self.query_one(HyperPane)
        pane.check_name()
        training = self.training_now()
        if self.field_errors.get("run.name") and not training:  # (the message itself is just above)
            pane.show_next(f"ctrl+r cannot train: {self.spec.run.runs_dir}/{self.spec.run.name} already exists "
                           f"(pick another Run name, or leave it empty)" if pane.taken
                           else "ctrl+r cannot train until the Run name is fixed")
        elif (not training and self.data is not None and self.data.spec == self.spec.data  # (not while reloading)
              and (problem := self.problems(ignore=("run.name",)))):
            # what ctrl+r would refuse with (a refused field, data that does not read, a stack that cannot run):
            # the line said it would train a new run, and ctrl+r then refused
            pane.show_next(f"ctrl+r cannot train until this is fixed: {problem[1]}")
        else:
            label = self.data.prepared.name if self.data is not None and self.data.prepared is not None else ""
            pane.show_next(continuation.next_train(self.spec, self.loaded_spec, self.followed, label))

    def name_taken(self, name: str) -> str:
        """Why a typed run name cannot be used ('' when it can): a run folder of that name exists. The loaded
        run's own name is fine while ctrl+r would continue it."""
        folder = Path(self.spec.run.runs_dir) / name
        problem = path_problem(str(folder)) if name else ""
        if problem:
            return f"run name: {problem}"
        if not name or no_such_path(folder):
            return ""
        loaded = self.followed.run_dir if self.followed is not None else None
        if (loaded is not None and self.loaded_spec is not None and folder.resolve() == loaded.resolve()
                and continuation.continues(self.spec, self.loaded_spec)):
            return ""
        return (f"a run named {name} already exists in {self.spec.run.runs_dir}; "
                f"pick another name, or leave it empty for a fresh one")

    def edit_field(self, widget: Input, path: str, raw: str, kind: Any, reload: bool = False) -> None:
        """A typed value: converted, checked by the spec, and the input marked when refused."""
        try:
            value = kind(raw.strip())
            error = self.edit({path: value}, reload=reload)
        except ValueError:
            error = f"{path} must be {'an integer' if kind is int else 'a number'}, got {raw.strip()!r}"
        widget.set_class(bool(error), "-invalid")
        self.field_errors[path] = on_screen(error or "")

    def edit_layers(self, exprs: list[str], check_syntax: bool = False) -> bool:
        """A new stack. A layer that cannot be read, or that cannot go where it was put, is refused
        with the reason; a stack that a later edit breaks is kept and marked at the breaking layer."""
        changed = [i for i, e in enumerate(exprs, 1)
                   if i > len(self.spec.model.layers) or self.spec.model.layers[i - 1] != e]
        if check_syntax and changed:
            prepared = self.data.prepared if self.data else None
            trial = stack_view.view(exprs, prepared, self.spec.train.loss)  # parses, and resolves when data is known
            if trial.error_layer in changed:
                self.notify(trial.error, severity="error", title="layer refused")
                return False
        error = self.edit({"model.layers": exprs})
        if error:
            self.notify(error, severity="error")
            return False
        return True

    def refresh_stack(self) -> None:
        prepared = self.data.prepared if self.data else None
        self.stack = stack_view.view(self.spec.model.layers, prepared, self.spec.train.loss)
        self.query_one(ModelPane).show_stack(self.spec.model.layers, self.stack)

    # ---- data, read in a thread -------------------------------------------------------------------
    def schedule_data_load(self) -> None:
        if self._reload_timer is not None:
            self._reload_timer.stop()
        self._reload_timer = self.set_timer(0.3, self.load_data_now)

    def load_data_now(self) -> None:
        self._load_data(self.spec.data, self.spec.train.seed)

    @work(thread=True, exclusive=True, group="data")
    def _load_data(self, spec_data, seed: int) -> None:
        view = data_source.load(spec_data, seed)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._data_loaded, view)

    def _data_loaded(self, view: data_source.DataView) -> None:
        if view.spec != self.spec.data or self._exit:
            return  # an older request (a newer one is on its way), or the app is closing
        self.data = view
        self.query_one(DataPane).show_data(view)
        self.refresh_stack()
        self.show_next()  # (its line reads the data's state: at once, not at the next poll)
        if view.error:
            self.notify(view.error, severity="error", title="data")

    # ---- training --------------------------------------------------------------------------------
    def problems(self, ignore: tuple[str, ...] = ()) -> tuple[str, str] | None:
        """(pane, message) of the first thing that keeps training from starting; refused values of the fields
        in `ignore` (spec paths) do not count."""
        if self.data is None:
            return "data", "the data is still loading; try again in a moment"
        if self.data.error:
            return "data", self.data.error
        field = self.bad_field(ignore)
        if field:
            return _pane_of(field), self.field_errors[field]
        if not self.stack.ok:
            return "model", f"the layer stack cannot run: {self.stack.error or self.stack.note}"
        return None

    def bad_field(self, ignore: tuple[str, ...] = ()) -> str | None:
        """The spec path of the first field holding a refused value, if any."""
        return next((path for path, error in self.field_errors.items() if error and path not in ignore), None)

    def show_problem(self, pane: str, message: str, title: str) -> None:
        """Say what keeps an action from running, on the pane it is about, with the focus in the refused
        field when a field is the cause (the Validation split is on the Data pane, the rest on Hyperparameters)."""
        self.action_pane(pane)
        field = self.bad_field()
        if field is not None and self.field_errors[field] == message and self.query(_field_selector(field)):
            self.screen_stack[0].set_focus(self.query_one(_field_selector(field)))
        self.notify(message, severity="error", title=title)

    def _still_attaching(self) -> bool:
        """The run the screen opened on is shown, its checkpoint still being checked: a key for it waits (said)."""
        if self._attaching is None:
            return False
        self.notify(f"loading {self._attaching.name}: a moment", severity="warning", timeout=3)
        return True

    def action_train(self) -> None:
        if self._still_attaching():  # its history is shown, its checkpoint still being checked
            return
        if self._process_running() or (self.followed is not None and self.followed.running and self.followed.alive()):
            self.notify(f"{self.followed.run_dir.name} is already training; ctrl+x stops it", severity="warning")
            return
        choice = continuation.choose(self.spec, self.loaded_spec, self.followed)
        if choice.action == "refuse":
            self.action_pane(choice.pane)
            self.notify(choice.message, severity="warning")
            return
        if choice.action == "resume" and self.followed is not None:  # the loaded run, exactly where it stopped
            run_dir = self.followed.run_dir
            self._follow(training_process.resume_run(run_dir, choice.epochs, choice.moved), *read_run(run_dir))
            if choice.moved:  # its files' places are the ones on screen now (a next ctrl+r moves nothing again)
                self.loaded_spec = self.spec
            self.notify(choice.message, timeout=3)
            return
        problem = self.problems()
        if problem:
            self.show_problem(*problem, title="cannot start training")
            return
        if choice.message:
            self.notify(choice.message, timeout=4)
        try:
            proc = training_process.start_run(self.spec, self.data.prepared.name if self.data and self.data.prepared
                                              else self.spec.data.dataset)  # (show_next names it the same)
        except (OSError, UserError) as e:
            self.notify(f"cannot start training: {e}", severity="error")
            return
        self._follow(proc, RunState(proc.run_dir), EventTail(proc.run_dir / EVENTS))
        self.loaded_spec = self.spec

    def _follow(self, proc: training_process.TrainingProcess | None, state: RunState, tail: EventTail) -> None:
        self.process, self.followed, self.tail = proc, state, tail
        self.query_one(TrainingPane).show_run(state, force=True)
        self.query_one(ResultsPane).show_run(state)
        self.action_pane("training")

    def starting(self, run_dir: Path) -> bool:
        """This screen's worker for `run_dir` is alive: training, or still loading (a resume writes its
        first event only once its data is read)."""
        return (self._process_running() and self.process is not None
                and os.path.abspath(self.process.run_dir) == os.path.abspath(run_dir))

    def training_now(self) -> bool:
        """A run is followed and its worker is training (or paused): the footer ranks stop, pause, save first."""
        return self.followed is not None and self.followed.running

    def paused(self) -> bool:
        """The run on screen is paused: ctrl+p resumes it (the footer says Resume). Not one suspended by Ctrl+Z on
        its launcher: it waits for `fg` there, and a ctrl+p would pause it once woken."""
        return (self.followed is not None and self.followed.status == "paused"
                and self.followed.paused.get("why") != "suspended")

    def _process_running(self) -> bool:
        return self.process is not None and self.process.proc is not None and self.process.exit_code() is None

    def _pid(self, starting_too: bool = False) -> int | None:
        """The process that takes the run's signals. `starting_too` (a stop): also this screen's own worker before
        its start event (importing torch, reading the data), which ended a ctrl+x pressed then with "nothing is
        training" while the run went on. Only a stop: SIGUSR1/2 kill a process that has not set its handlers yet."""
        if self.followed is not None and self.followed.pid is not None and self.followed.running:
            return self.followed.control_pid
        if starting_too and self.followed is not None and self.starting(self.followed.run_dir):
            assert self.process is not None and self.process.proc is not None
            return self.process.proc.pid
        return None

    def action_stop(self) -> None:
        if self._still_attaching():
            return
        if not training_process.send(self._pid(starting_too=True), training_process.STOP):
            self.notify("nothing is training", severity="warning")
            return
        self.notify(f"stopping: the worker saves the exact position to last.pt, then exits; {self.resume_hint()}",
                    timeout=4)

    def resume_hint(self) -> str:
        """How the run on screen, once stopped, is continued from here: ctrl+r while the settings on screen are its
        own; else it would train a new run (the toast said 'ctrl+r resumes' beside a line saying a new run), and
        loading the run again brings its settings back."""
        if continuation.choose(self.spec, self.loaded_spec, self.followed).action == "new":
            return "ctrl+o loads it to resume (with the settings on screen, ctrl+r trains a new run)"
        return "ctrl+r resumes"

    def _still_starting(self, key: str, does: str) -> bool:
        """Said for a key that waits for the run's first step: the worker is starting (before its start event)."""
        if self.followed is None or self.followed.running or not self.starting(self.followed.run_dir):
            return False
        self.notify(f"{self.followed.run_dir.name} is starting (loading torch and its data): {key} {does} once it "
                    "trains", severity="warning")
        return True

    def action_save(self) -> None:
        if self._still_attaching() or self._still_starting("ctrl+s", "saves"):
            return
        if training_process.send(self._pid(), training_process.SAVE):
            self._save_pending = True
            self.notify("saving a checkpoint at the next step...", timeout=2)
        elif self.followed is not None and self.followed.checkpoints:
            last = self.followed.checkpoints[-1]
            self.notify(f"nothing is training; {self.followed.run_dir.name}/last.pt "
                        f"already holds epoch {last.get('epoch')}")
        else:
            self.notify("nothing is training, so there is nothing to save yet", severity="warning")

    def action_pause(self) -> None:
        if self._still_attaching() or self._still_starting("ctrl+p", "pauses"):
            return
        if not training_process.send(self._pid(), training_process.PAUSE):
            self.notify("nothing is training", severity="warning")
            return
        self.notify("resuming..." if self.paused() else "pausing at the next step...", timeout=2)

    def action_resume(self) -> None:
        """ctrl+p on a paused run: the same signal, which the worker takes as resume while paused."""
        self.action_pause()

    # ---- following the event log ------------------------------------------------------------------
    def poll(self) -> None:
        if not self.screen_stack:  # the app ending: its timer's last tick came after its screens went
            return
        if len(self.screen_stack) != self._screens_seen:  # a dialog opened or closed: its keys, or the panes'
            bars = self.screen_stack[0].query(KeyBar)  # (none while the app starts)
            if bars:
                self._screens_seen = len(self.screen_stack)
                bars.first().call_later(bars.first().refit)  # (in the bar's context: its keys bind to it, not the app)
        self.show_next()
        if self.followed is None or self.tail is None:
            return
        state = self.followed
        for e in self.tail.read():
            state.apply(e)
            notice = notice_for(e, self._save_pending, state.start.get("steps_per_epoch"), self.resume_hint)
            if notice is not None:
                self.notify(notice.message, title=notice.title, severity=notice.severity,  # type: ignore[arg-type]
                            timeout=notice.timeout)
            if e.get("event") == "checkpoint" and e.get("requested"):
                self._save_pending = False
            if e.get("event") == "start" and self.process is not None:
                self.process.started = True
            if e.get("event") in ("change", "start"):
                self._trains_with_now()
        if self.process is not None and self.process.proc is not None:
            if self.process.exit_code() is not None:
                failure = self.process.settle(state, self.tail)
                if failure:
                    self.notify(state.error, severity="error", title=failure)
                self.process.tidy()
                self.process = None
        elif state.running and time.monotonic() - self._checked_alive > 1.0:
            self._checked_alive = time.monotonic()
            if state.pid is not None and not state.alive():
                state.worker_gone("interrupted", "the training process is gone (killed?); last.pt holds its position: "
                                  + self.resume_hint())
        if (self.training_now(), self.paused()) != self._footer_state:  # the keys that matter changed: refit it
            self._footer_state = (self.training_now(), self.paused())
            self.refresh_bindings()
        if not self._exit and self.query(TrainingPane):  # not while the app is closing
            try:
                self.query_one(TrainingPane).show_run(state)
                self.query_one(ResultsPane).show_run(state)
            except NoMatches:  # closing after all: a timer's last tick while the panes are taken down
                pass

    def _trains_with_now(self) -> None:
        """The followed run's settings as its log says it trains with them now (a live change of its rate, patience
        or epochs; a resume's --epochs): the loaded spec takes them, as loading the run would (load_run), so ctrl+r
        compares with what the run does - a run whose Epochs were changed to 170 and that ended there was offered
        as 'continues from epoch 170 to 300' (the spec's 300), and its worker then refused. The fields show them
        too, but where the user typed a value of their own since (kept, for what ctrl+r does next)."""
        if self.loaded_spec is None or self.followed is None:
            return
        before, self.loaded_spec = self.loaded_spec, live_change.running_spec(self.loaded_spec, self.followed)
        was, now = before.to_dict()["train"], self.loaded_spec.to_dict()["train"]
        typed = self.spec.to_dict()["train"]
        shown = {f"train.{k}": now[k] for k in live_change.VALUES
                 if now[k] != was[k] and typed[k] == was[k] and not self.field_errors.get(f"train.{k}")}
        if shown:
            self.spec = self.spec.with_overrides(shown)
            self.query_one(HyperPane).show_fields(self.spec, list(shown))
        self.show_next()

    # ---- checkpoints and runs ---------------------------------------------------------------------
    async def run_deleted(self, path: Path) -> None:
        """A run folder deleted (from the Runs pane): when it is the run on screen, the screen lets go
        of it - nothing followed, no loaded spec (so ctrl+r trains a new run instead of resuming a
        folder that is gone), and the Training and Results panes fresh, as at start."""
        if self.followed is None or os.path.abspath(self.followed.run_dir) != os.path.abspath(path):
            return
        if self._process_running():  # never: a running run is not deleted; but then it is not let go either
            return
        self.process, self.followed, self.tail, self.loaded_spec = None, None, None, None
        await self._fresh_run_panes()

    async def _fresh_run_panes(self) -> None:
        """The Training and Results panes as at start: no run on them."""
        for tab, pane in (("training", TrainingPane(id="training-pane")), ("results", ResultsPane(id="results-pane"))):
            await self.query_one(f"#{tab}-pane").remove()
            await self.query_one(f"#{tab}", TabPane).mount(pane)
        self.show_next()
        self.refresh_bindings()

    async def _attach_refused(self) -> None:
        """The run the screen opened on was refused after its history was shown (`_follow_at_once`): the panes let
        it go, as a refusal leaves the screen as it was."""
        if self._attaching is None or self.followed is not None:
            return
        self._attaching = None
        await self._fresh_run_panes()
        self.action_pane("data")

    def action_load(self) -> None:
        self.push_screen(RunsScreen(list_runs(self.spec.run.runs_dir), self.spec.run.runs_dir),
                         lambda path: self.load_run(path) if path else None)

    @work(thread=True, exclusive=True, group="load")
    def load_run(self, path: Path, shown_at_once: bool = False) -> None:
        """Check the run folder and its checkpoint in a thread; apply it only when it is sound,
        so a bad one leaves the app as it was. `shown_at_once` (the run the screen opens on: `torchtui attach`, or
        one still training): its log is followed as soon as it is read, before the checkpoint's check (which
        imports torch: 3 s in which the screen showed the Data pane and a footer for a run not training)."""
        try:
            state, tail = read_run(path)  # (a log this user may not read, or one that is a folder)
            if shown_at_once and state.start:
                self.call_from_thread(self._follow_at_once, state, tail)
            spec, _ = RunFolder.open(path).saved_run()
            spec = live_change.running_spec(spec, state)  # (a log whose changes or start say what no spec holds)
        except (UserError, OSError, KeyError, TypeError, ValueError) as e:
            # unreadable or not a run: refuse, change nothing
            message = str(e) if isinstance(e, UserError) else f"cannot load {path}: {type(e).__name__}: {e}"
            self.call_from_thread(self.notify, message, severity="error", title="checkpoint refused", timeout=10)
            self.call_from_thread(self._attach_refused)
            return
        self.call_from_thread(self._run_loaded, spec, state, tail)

    def _follow_at_once(self, state: RunState, tail: EventTail) -> None:
        """The run's history on the Training and Results panes while its checkpoint is checked; followed (its
        new events, the keys for a run) once that is done (`_run_loaded`), and ctrl+r waits for it."""
        if self._exit or self.followed is not None:
            return
        self._attaching = state.run_dir
        self.query_one(TrainingPane).show_run(state, force=True)
        self.query_one(ResultsPane).show_run(state)
        self.action_pane("training")

    def _run_loaded(self, spec: Spec, state: RunState, tail: EventTail) -> None:
        if self._exit:
            return
        # the values it trains with now (its live changes applied: load_run) are what the panes show and ctrl+r
        # compares; the loaded run keeps its folder, a new run from these settings gets a fresh one
        self._attaching = None
        self.spec, self.loaded_spec = spec.with_overrides({"run.name": ""}), spec
        self.show_spec()
        self.load_data_now()
        self._follow(None, state, tail)
        self.notify(continuation.loaded_message(state, spec), timeout=5)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The LR finder's key works, and shows in the footer, only on the Hyperparameters pane; ctrl+p is
        Pause, or Resume while the run is paused (two bindings of one key: the one that applies is shown); Load
        and Export open their dialog over the panes only."""
        if action == "lr_find":
            return self.screen is self.screen_stack[0] and self.query_one("#panes", TabbedContent).active == "hyper"
        if action in DIALOGS or action == "pane":  # (priority keys: they fired in a dialog too, stacked a second
            return self.screen is self.screen_stack[0]  # one on it, or switched the pane under the LR finder)
        if action in ("pause", "resume"):
            return self.paused() == (action == "resume")
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()  # the footer shows the keys of the pane now shown

    def action_lr_find(self) -> None:
        """The learning-rate range test for the spec on screen, in a child process; its suggestion,
        if taken, is typed into the Learning rate field (checked there like a typed value)."""
        # a bad rate is what the finder replaces, and it writes no run folder: the run name does not matter to it
        problem = self.problems(ignore=("train.lr", "run.name"))
        if problem:
            self.notify(problem[1], severity="error", title="cannot run the LR finder")
            return

        def use(lr: float | None) -> None:
            if lr is not None:
                self.query_one("#" + widget_id("train.lr"), Input).value = f"{lr:g}"

        self.push_screen(LRFindScreen(self.spec), use)

    def action_export(self) -> None:
        run_dir = self.followed.run_dir if self.followed is not None else None

        def write(choice: tuple[str, Path] | None) -> None:
            if choice is None:
                return
            kind, path = choice
            if kind == "script":
                self._write_script(path, run_dir)
                return
            try:
                write_user_file(path, self.spec.to_toml(comments=True).encode("utf-8"))
            except UserError as e:
                self.notify(str(e), severity="error")
                return
            self.notify(f"wrote {path}; train it headless with `torchtui run {path}`")

        self.push_screen(ExportScreen(script_of=f"run {run_dir.name}" if run_dir else "the experiment"), write)

    @work(thread=True, exclusive=True, group="export")
    def _write_script(self, path: Path, run_dir: Path | None) -> None:
        """The loaded (or followed) run as a plain PyTorch script, else the experiment on screen (tui/core/export.py):
        it reads the data and, for a run, its checkpoint, so in a thread."""
        from tui.core import export

        try:
            made = export.from_run(run_dir) if run_dir is not None else export.of_spec(self.spec, "the screen")
            export.write(made, path, force=True)  # the dialog asked before replacing a file
        except UserError as e:
            self.call_from_thread(self.notify, str(e), severity="error")
            return
        note = f" NOT EXACT: {'; '.join(made.differs)}." if made.differs else ""
        self.call_from_thread(self.notify, f"wrote {path}: {'run ' + run_dir.name if run_dir else 'the experiment'} "
                              f"as plain PyTorch; run it with `python {path}`.{note}",
                              severity="warning" if made.differs else "information", timeout=12 if note else 6)

    # ---- panes, help, quitting ----------------------------------------------------------------------
    def action_pane(self, pane: str) -> None:
        """Show a pane. The focus goes with it: TabbedContent shows the pane holding the focus, so
        focus left in the old pane would pull it back, and keys would go on into its fields."""
        target = self.query_one(f"#{pane}", TabPane)
        focused = self.screen_stack[0].focused  # the panes' screen's: a dialog on top keeps its own focus
        if focused is not None and target in focused.ancestors:
            return  # already there, with the focus (a refusal that points at the field being typed in)
        self.screen_stack[0].set_focus(None)
        self.query_one("#panes", TabbedContent).active = pane
        self._focus_pane(pane)

    def _focus_pane(self, pane: str) -> None:
        """Focus the pane's first stop now, not after a refresh (nor by widget.focus(), which waits its turn
        in the queue): keys typed right after a switch (or after ctrl+r, which shows Training) would
        otherwise land in the old focus, or be taken from the field they were typed into."""
        first = PANE_FOCUS.get(pane)
        target = self.query(first).first() if first and self.query(first) else None
        # on the panes' screen, whatever is on top: a run loaded from ctrl+o over the Export dialog set the focus
        # of the dialog's screen to a pane's widget, and the dialog stayed drawn, deaf to its keys
        self.screen_stack[0].set_focus(target or self.query_one("#panes Tabs"))

    def action_leave_field(self) -> None:
        """escape in a text field: back to the tabs, where 1-5 switch panes again."""
        if isinstance(self.focused, Input):
            self.query_one("#panes Tabs").focus()

    def action_help(self) -> None:
        keys = HelpScreen.keys
        self.push_screen(HelpScreen([
            ("Everywhere", keys([b for b in self.BINDINGS if b not in LR_FIND_KEYS and b is not RESUME_KEY])),
            ("Data pane", [("enter / click (list)", "pick the highlighted dataset"),
                           ("enter (path box)", "load the file typed there"),
                           ("enter (File format line)", "show or fold the fields that say how the file is read"),
                           ("space (feature columns)", "use the highlighted column as an input, or drop it")]),
            ("Hyperparameters pane", keys(LR_FIND_KEYS)
             + [(f"{k} (finder)", what) for k, what in keys(LRFindScreen.BINDINGS)]),
            ("Model pane", keys(ModelPane.BINDINGS) + [("enter", "edit the highlighted layer")]),
            ("Training pane", keys(TrainingPane.BINDINGS)
             + [("enter (change dialog)", "ask for the edited values at the next step"),
                *[(f"{k} (change dialog)", what) for k, what in keys(ChangeScreen.BINDINGS)]]),
            ("Results pane", keys(ResultsPane.BINDINGS) + [(f"{k} (predictions)", what) for k, what
                                                           in keys(PredictionsTable.BINDINGS)]
             + [("click a header (predictions)", "sort by that column (again: reverse)"),
                ("Evaluate (file box)", "the best model's loss and metrics on the file typed (it has the target)"),
                ("Predict (file box)", "the best model's predictions for the file typed, written to the run folder")]),
            ("Runs pane", keys(RunsPane.BINDINGS) + [("click a header", "sort by that column (again: reverse)")]
             + [(f"{k} (delete dialog)", what) for k, what in keys(DeleteRunScreen.BINDINGS)]),
            ("Dialogs", [("enter (load, ctrl+o)", "load the highlighted run"),
                         *[(f"{k} (load)", what) for k, what in keys(RunsScreen.BINDINGS)],
                         ("enter (export, ctrl+e)", "write the file named"),
                         *[(f"{k} (export)", what) for k, what in keys(ExportScreen.BINDINGS)],
                         *[(f"{k} (quit, while training)", what) for k, what in keys(QuitScreen.BINDINGS)],
                         *[(f"{k} (this help)", what) for k, what in keys(HelpScreen.BINDINGS)]]),
            ("Worker signals", [("SIGTERM", "stop after saving"), ("SIGUSR1", "save now"),
                                ("SIGUSR2", "pause / resume")]),
        ]))

    def action_quit(self) -> None:
        if self.followed is not None and ((self.followed.running and (self.followed.alive() or self._process_running()))
                                          or self.starting(self.followed.run_dir)):  # (before its start event too)
            name = self.followed.run_dir.name

            def chosen(choice: str | None) -> None:
                if choice == "leave":
                    self.exit(message=f"{name} is still training; "
                                      f"watch it with `torchtui attach {self.followed.run_dir}`")
                elif choice == "stop":
                    training_process.send(self._pid(starting_too=True), training_process.STOP)
                    self.exit(message=f"{name} is stopping after saving last.pt; "
                                      f"continue it with `torchtui resume {self.followed.run_dir}`")

            self.push_screen(QuitScreen(name), chosen)
            return
        self.exit()
