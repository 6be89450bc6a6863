"""Training pane: status, device telemetry, live loss / learning-rate / metric charts and the
epoch log of the run being followed.

The app calls `show_run` twice a second; the status lines and the epoch log update once a second,
together (the log ends at the epoch before the one the status line names), while the loss chart updates
at most once per `CHART_INTERVAL` and only when new events arrived, and the learning-rate and metric charts
after a new epoch, at most once per `SIDE_INTERVAL` - what a slow SSH link and a saturated CPU (the worker's,
on a small box) can afford. A chart redraw is most of the bytes the app writes: every cell of it is sent again.
"""

from __future__ import annotations

import time

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import RichLog, Static

from tui.core.follow import RunState, epoch_line, fmt_seconds

from . import charts
from .chart import Chart
from .visible_text import visible, visible_lines

STATUS_INTERVAL = 1.0  # seconds between status-line updates while training (at once for a new state)
SIDE_INTERVAL = 6.0  # the learning-rate and metric charts: after a new epoch, at most this often
CHART_INTERVAL = 2.0  # seconds between loss-chart redraws while training: ~3 KB/s to the terminal at 100x30

STATUS_STYLE = {"running": "bold green", "paused": "bold yellow", "done": "bold cyan", "early_stopped": "bold cyan",
                "interrupted": "bold yellow", "failed": "bold red", "waiting": "dim"}


class TrainingPane(Vertical):
    BINDINGS = [Binding("l", "toggle_log", "Log scale"),
                Binding("c", "change", "Change LR/patience/epochs")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log_scale = False
        self._drawn_version = -1
        self._drawn_at = 0.0
        self._logged_epochs = 0
        self._side_epochs, self._side_at = -1, 0.0
        self._side_shape: tuple = ()  # side_shape() of the run as the side charts last drew it
        self._status_at = 0.0
        self._status_key: tuple = ()
        self._state: RunState | None = None

    def compose(self) -> ComposeResult:
        yield Static("no training yet: ctrl+r starts one, ctrl+o loads a checkpoint", id="train-status",
                     markup=False)
        yield Static("", id="train-telemetry", markup=False)
        with Horizontal(id="train-charts"):
            yield Chart(id="loss-plot")
            with Vertical(id="train-side"):
                yield Chart(id="lr-plot")
                yield Chart(id="metric-plot")
        yield RichLog(id="train-log", max_lines=500, wrap=False)

    # ---- from the app -------------------------------------------------------------------------
    def show_run(self, state: RunState, force: bool = False) -> None:
        new_run = state is not self._state
        if new_run:
            self._state, self._logged_epochs, self._drawn_version = state, 0, -1
            self.query_one("#train-log", RichLog).clear()
        now = time.monotonic()
        key = (state.status, bool(state.start), state.error)  # what must show at once
        if force or new_run or key != self._status_key or now - self._status_at >= STATUS_INTERVAL:
            self._show_status(state)
            self.query_one("#train-telemetry", Static).update(telemetry_text(state))
            # with the status line, from the same state: the log ends at the epoch before the one the status line
            # names (drawn with the charts, every 2 s, it trailed it by dozens of epochs in a fast run); not at
            # every read, where short epochs would scroll it twice a second
            self._write_log(state)
            self._status_at, self._status_key = now, key
        reshaped = side_shape(state) != self._side_shape  # a title or a first point: drawn at once, not in seconds
        if state.version != self._drawn_version and (force or new_run or now - self._drawn_at >= CHART_INTERVAL
                                                     or not state.running or reshaped):
            self._write_log(state)  # a run's end or a first point: its lines with it
            side = len(state.epochs) != self._side_epochs and now - self._side_at >= SIDE_INTERVAL
            self.draw_charts(side=force or new_run or not state.running or side or reshaped)
            self._drawn_version, self._drawn_at = state.version, now

    def _show_status(self, state: RunState) -> None:
        status = self.query_one("#train-status", Static)
        status.update(status_text(state, status.content_region.width or None))

    def on_resize(self) -> None:
        """The status line fitted to the pane's new width at once (it is redrawn every second or two)."""
        if self._state is not None:
            self._show_status(self._state)

    def _write_log(self, state: RunState) -> None:
        log = self.query_one("#train-log", RichLog)
        if self._logged_epochs > len(state.epochs):  # a resume replaced epochs after its checkpoint
            self._logged_epochs = len(state.epochs)
        follow = log.is_vertical_scroll_end  # a reader scrolled up to older epochs keeps their place
        for row in state.epochs[self._logged_epochs:]:
            # (its rate is the status line's: without it, a line and its '* best' fit 80 columns)
            log.write(epoch_line(row, state.start.get("epochs"), rate=False), scroll_end=follow)
        self._logged_epochs = len(state.epochs)

    def draw_charts(self, side: bool = True) -> None:
        """The loss chart, and with `side` the learning-rate and metric charts."""
        state, log = self._state, self.log_scale
        if state is None:
            return
        self.query_one("#loss-plot", Chart).show(lambda plt, width: charts.plot_loss(plt, state, width, log))
        if not side:
            return
        self._side_epochs, self._side_at, self._side_shape = len(state.epochs), time.monotonic(), side_shape(state)
        self.query_one("#lr-plot", Chart).show(lambda plt, width: charts.plot_lr(plt, state, width))
        self.query_one("#metric-plot", Chart).show(lambda plt, width: charts.plot_metric(plt, state, width))

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        self.draw_charts(side=False)
        self.app.notify(f"loss chart: {'log' if self.log_scale else 'linear'} scale", timeout=2)

    def action_change(self) -> None:
        """A new learning rate, patience or number of epochs for the run in progress (live_change.py)."""
        from tui.core import live_change
        from tui.core.errors import UserError
        from tui.core.runs import RunFolder

        from .change_screen import ChangeScreen

        state = self._state
        if state is None or not (state.running and state.alive()):
            self.app.notify("nothing is training: a change applies to a run in progress (ctrl+r starts one)",
                            severity="warning")
            return
        try:
            spec = live_change.running_spec(RunFolder.open(state.run_dir).spec(), state)
        except (UserError, OSError) as e:
            self.app.notify(str(e), severity="error")
            return
        lr = state.last_step.get("lr", state.start.get("lr", spec.train.lr))
        if state.changes and state.changes[-1].get("lr") is not None and \
                state.changes[-1]["step"] >= state.last_step.get("step", 0):  # changed since the last logged step
            lr = state.changes[-1]["lr"]

        def chosen(change: live_change.Change | None) -> None:
            if change is None:
                return
            if not (state.running and state.alive()):  # it ended while the dialog was open
                self.app.notify(f"{state.run_dir.name} is no longer training ({state.status}): to train it longer, "
                                "raise Epochs on the Hyperparameters pane (F4) and ctrl+r continues it",
                                severity="warning", title="change refused")
                return
            try:
                asked = live_change.request(state.run_dir, change, state)
            except (UserError, OSError) as e:  # OSError: the folder gone, or not writable
                self.app.notify(str(e), severity="error", title="change refused")
                return
            self.app.notify(f"asked for {asked.describe()} at the next step", timeout=3)

        self.app.push_screen(ChangeScreen(state.run_dir.name, spec, lr, lambda: state.epoch_done), chosen)


def side_shape(s: RunState) -> tuple:
    """What the learning-rate and metric charts show beyond their latest points: the metric's name (known from
    the run's start event: classification or regression) and whether each chart has a point yet. New points
    wait for the side charts' interval; a new shape does not, or a new run showed the last run's metric title
    and an empty learning-rate chart for seconds after it started. A live change, and the first rate that
    differs from the first one (a constant rate's title says so), are new shapes too: the title said
    '0.01 (constant)' for a hundred steps after the rate was changed to 0.0001."""
    lr = s.lr.y
    return (s.metric_name() if s.start else "", len(s.lr) > 0, len(s.metric) > 0, len(s.changes),
            bool(len(lr)) and float(lr[-1]) != float(lr[0]))


def status_text(s: RunState, width: int | None = None) -> Text:
    """The run's state in a line; its name and the worker's words (which quote the data's names) as they are,
    control characters as escapes. `width`: the line's room; what does not fit is left out whole, the least
    needed first (the rate, then the step, the ETA, the best epoch's number) - it wrapped, moving the panes
    below it, or ended cut mid-value ('best val' without its number) at 80 and at 100 columns."""
    t = Text()
    if not s.start and s.error:
        t.append("● training did not start: ", style=STATUS_STYLE["failed"])
        t.append(visible_lines(s.error), style="red")
        return t
    if not s.start:
        t.append("starting: ", style="bold")
        t.append(visible_lines(s.loading or "preparing data and model"))
        return t
    # (text, style, rank): the higher the rank, the sooner it is left out where the line has no room for it
    parts: list[tuple[str, str, int]] = [(f"● {s.status.replace('_', ' ')}", STATUS_STYLE.get(s.status, ""), 0)]
    if s.status == "paused" and s.paused.get("why") == "suspended":
        parts.append((" (Ctrl+Z where it was started: fg there)", STATUS_STYLE["paused"], 0))
    parts.append((f"  {visible(s.run_dir.name)}", "", 0))
    total = s.start.get("epochs", 0)
    step = s.last_step
    if s.running and (step or s.epochs):
        per = s.start.get("steps_per_epoch") or 1
        current = min(s.epoch_done + 1, total or s.epoch_done + 1)  # the epoch in progress
        parts.append((f"  epoch {current}/{total}", "", 0))
        within = step.get("epoch_step", 0) if step.get("epoch") == current else None  # (a short epoch: none yet)
        if s.status == "paused" and s.paused.get("epoch") == current and isinstance(s.paused.get("step"), int):
            # where it waits: the steps done since the last logged one (a few times a second) are done too, and a
            # save there says this step (the line said 5/15, the save's toast 6/15)
            at = s.paused["step"] - (current - 1) * per
            within = at if 0 < at <= per else within
        if within is not None:
            parts.append((f"  step {within}/{per}", "", 4))
        rate = step.get("samples_per_s")
        if rate and s.status == "running":  # a paused run trains at no rate, and has no ETA
            parts.append((f"  {rate:,.0f} samples/s", "", 5))
            parts.append((f"  ETA {fmt_seconds(s.eta_seconds())}", "", 3))
    else:
        parts.append((f"  epoch {s.epoch_done}/{total}", "", 0))
    best = s.best_val_loss
    if best is not None:
        best_epoch = next((row["epoch"] for row in reversed(s.epochs) if row.get("best")), None)
        parts.append((f"  best val {best:.4f}", "bold", 1))
        if best_epoch:
            parts.append((f" @{best_epoch}", "bold", 2))
    while width and sum(cell_len(text) for text, _, _ in parts) > width and max(r for _, _, r in parts) > 0:
        parts.remove(max(reversed(parts), key=lambda p: p[2]))
    for text, style, _ in parts:
        t.append(text, style=style)
    if s.error:
        t.append(f"\n{visible_lines(s.error)}", style="red")
    return t


def telemetry_text(s: RunState) -> Text:
    """The device, and while the worker lives its load: a finished run has no CPU, memory or pid; a paused
    one no load."""
    e = s.last_step if s.running else {}
    paused = s.status == "paused"  # its last step's load (CPU 196%) is not what a paused worker does: not shown
    exact = s.start.get("precision", "fp32 (exact)") == "fp32 (exact)"
    graph, size = s.cuda_graph_text(), s.start.get("world_size", 1)
    t = Text(s.start.get("device", "") + (f" · {size} processes (DDP)" if size > 1 else "")
             + ("" if exact else f" · {s.start['precision']}") + (f" · {graph}" if graph else ""), style="dim")
    if e.get("gpu_mem_mb") is not None:
        total = e.get("gpu_total_mb")
        t.append(f"  GPU mem {e['gpu_mem_mb'] / 1024:.2f}" + (f"/{total / 1024:.0f} GiB" if total else " GiB"))
        if e.get("gpu_reserved_mb") is not None:
            t.append(f" (reserved {e['gpu_reserved_mb'] / 1024:.2f})")
        if e.get("gpu_util") is not None and not paused:
            t.append(f"  util {e['gpu_util']:.0f}%")
    if e.get("cpu_percent") is not None and not paused:
        t.append(f"  CPU {e['cpu_percent']:.0f}%")
    if e.get("rss_mb") is not None:
        t.append(f"  RAM {e['rss_mb']:,.0f} MiB")
    if s.running and s.start.get("pid"):
        t.append(f"  pid {s.start['pid']}", style="dim")
    if e.get("ranks"):  # several processes: each one's share, as last gathered
        t.append("\n" + "  ".join(_rank_text(r) for r in e["ranks"]))
    return t


def _rank_text(r: dict) -> str:
    """One process of several: its rows/s and its GPU (memory, load) or CPU."""
    text = f"rank {r.get('rank')}: {r.get('samples_per_s', 0):,.0f}/s"
    if r.get("gpu_mem_mb") is not None:
        text += f" GPU {r['gpu_mem_mb'] / 1024:.2f} GiB" + (f" {r['gpu_util']:.0f}%" if r.get("gpu_util") is not None
                                                            else "")
    elif r.get("cpu_percent") is not None:
        text += f" CPU {r['cpu_percent']:.0f}%"
    return text
