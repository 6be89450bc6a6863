"""The learning-rate finder dialog (ctrl+l on the Hyperparameters pane).

The range test trains, so it never runs in the app: `torchtui lr-find - --json` runs as a child
process with the spec on stdin, waited for in a worker thread (the UI loop never waits), and its one JSON object
is drawn here: the smoothed loss against the learning rate (log scale), the suggestion marked,
and the rule that chose it. "Use it" hands the rate back to the app, which types it into the
Learning rate field, where it is checked like any typed value. The child writes nothing, and
is killed when the dialog closes first.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, LoadingIndicator, Static
from textual.worker import get_current_worker

from tui.core.spec import Spec

from .chart import Chart
from .visible_text import visible

# The app's binding: active only while the Hyperparameters pane is shown (TorchTUI.check_action),
# and a priority one, so it works while a text field of the pane has the focus.
LR_FIND_KEYS = [Binding("ctrl+l", "lr_find", "LR find", priority=True,
                        tooltip="learning-rate finder (also in a field): the range test's curve and a suggested "
                                "rate; enter puts it in the Learning rate field")]


class LRFindScreen(ModalScreen["float | None"]):
    """Runs the range test for `spec` in a child process; dismissed with the suggested rate, or None."""

    BINDINGS = [Binding("enter", "use", "Use it", tooltip="put the suggested rate in the Learning rate field"),
                Binding("escape", "dismiss_none", "Cancel", tooltip="close, the Learning rate unchanged")]
    AUTO_FOCUS = ""  # not the Cancel button: an enter pressed while the test runs must not cancel it

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.spec = spec
        self.result: dict[str, Any] | None = None
        self._proc: subprocess.Popen | None = None
        self._closed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="lrf-box", classes="dialog"):
            yield Label("Learning-rate finder  (enter uses the suggestion, esc cancels)", classes="title")
            yield Static(f"running the range test on {visible(self.spec.data.dataset)}: the loss as the rate grows, "
                         f"on a copy of the model (the run's weights are not touched)...", id="lrf-status",
                         markup=False)
            yield LoadingIndicator(id="lrf-loading")
            yield Chart(id="lrf-plot")
            with Horizontal(classes="buttons"):
                yield Button("Use it (enter)", id="lrf-use", variant="primary", disabled=True)
                yield Button("Cancel (esc)", id="lrf-cancel")

    def on_mount(self) -> None:
        self.query_one("#lrf-plot").display = False
        self.run_finder()

    @work(thread=True, exclusive=True, group="lr-find")
    def run_finder(self) -> None:
        """`torchtui lr-find - --json` as a child process, waited for in a thread (never on the UI loop)."""
        worker = get_current_worker()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TEXTUAL", None)
        try:
            proc = subprocess.Popen([sys.executable, "-m", "tui", "lr-find", "-", "--json"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, close_fds=True)
        except OSError as e:
            self.app.call_from_thread(self._failed, f"cannot start the learning-rate finder: {e}")
            return
        self._proc = proc
        if self._closed:  # closed while it started
            proc.kill()
        out, err = proc.communicate(self.spec.to_toml().encode("utf-8"))
        if worker.is_cancelled or self._closed:
            return
        result = _parse(out.decode("utf-8", "replace"))
        if proc.returncode != 0 or result is None or "error" in result:
            self.app.call_from_thread(self._failed, _failure(result, err.decode("utf-8", "replace"), proc.returncode))
        else:
            self.app.call_from_thread(self._show, result)

    def on_unmount(self) -> None:
        """Closed before the test ended: it is not wanted any more."""
        self._closed = True
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    def _failed(self, message: str) -> None:
        self.app.notify(message, severity="error", title="learning-rate finder")
        self.dismiss(None)

    def _show(self, result: dict[str, Any]) -> None:
        self.result = result
        self.query_one("#lrf-loading").display = False
        plot = self.query_one("#lrf-plot", Chart)
        plot.display = True
        plot.show(lambda plt, width: draw(plt, result))
        self.query_one("#lrf-status", Static).update(describe(result))
        use = self.query_one("#lrf-use", Button)
        use.disabled = result.get("suggested_lr") is None
        (use if not use.disabled else self.query_one("#lrf-cancel", Button)).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "lrf-use":
            self.action_use()
        else:
            self.action_dismiss_none()

    def action_use(self) -> None:
        if self.result is not None and self.result.get("suggested_lr") is not None:
            self.dismiss(float(self.result["suggested_lr"]))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def describe(result: dict[str, Any]) -> str:
    """The suggestion and its rule (or why there is none), then what was run."""
    stopped = {"diverged": "stopped at 4x the lowest loss", "not finite": "stopped: the loss was not finite"}.get(
        result.get("stopped", ""), "all run")
    steps = f"{result['steps']} of {result['planned_steps']} steps on {result.get('device', '?')}, {stopped}"
    note = f"\n{result['note']}" if result.get("note") else ""
    if result.get("suggested_lr") is None:
        return f"No suggestion.{note}\n{steps}"
    return (f"Suggested learning rate {result['suggested_lr']:g} (marked |; lowest loss at {result['min_lr']:.3g})\n"
            f"rule: {result['rule']}{note}\n{steps}")


def draw(plt, result: dict[str, Any]) -> None:
    """The smoothed loss against the learning rate on a log axis, cut where the core says (`view_top`)."""
    lrs, losses = result.get("lrs") or [], result.get("losses") or []
    plt.clear_data()
    plt.title("smoothed loss vs learning rate (log)")
    plt.xscale("log")
    if not lrs:
        return
    top = result.get("view_top") or max(losses)
    plt.plot(lrs, [min(v, top) for v in losses], marker="braille")
    decades = range(math.floor(math.log10(lrs[0])), math.ceil(math.log10(lrs[-1])) + 1)
    plt.xticks([10.0 ** d for d in decades], [f"1e{d}" for d in decades])
    if result.get("suggested_lr"):
        plt.vline(result["suggested_lr"], "red")
    plt.xlabel("learning rate")


def _parse(out: str) -> dict[str, Any] | None:
    """The child's one JSON object (the last line of its stdout), or None."""
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        value = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _failure(result: dict[str, Any] | None, err: str, code: int | None) -> str:
    """Why the child failed: its JSON error, else the last line of its stderr."""
    if result is not None and result.get("error"):
        return str(result["error"])
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else f"the learning-rate finder exited with code {code}"
