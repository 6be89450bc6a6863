"""The Training and Results charts, drawn with plotext from a run's state.

Each series is cut to the chart's width before plotext sees it: plotext's cost is linear in
points, so a run of a million logged steps draws as fast as one of a thousand. The training loss,
noisy step to step, by the mean of each stretch (`downsample`); the validation loss, the metric and
the learning rate by each stretch's lowest and highest point (`envelope`), so a best epoch shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.event_schema import METRICS
from tui.core.follow import RunState, downsample, envelope
from tui.core.live_change import describe

if TYPE_CHECKING:
    import numpy as np


def _positive(y: np.ndarray) -> np.ndarray:
    """Log scale needs values > 0; a loss of exactly 0 is drawn at the smallest positive one."""
    import numpy as np  # (here, not at the top: the screen's first frame imports this module)

    pos = y[y > 0]
    return np.maximum(y, pos.min() if len(pos) else 1e-12)


def _setup(plt, title: str) -> None:
    plt.clear_data()
    plt.title(title)
    plt.yscale("linear")  # a log scale is set once there is something on it (`_log_scale`)


def _log_scale(plt, plotted: bool) -> None:
    """A log y axis, where a series was plotted: plotext's build raised on a log axis with no data (a run's
    chart before its first logged step), and the error ended the screen."""
    if plotted:
        plt.yscale("log")


def plot_loss(plt, state: RunState, width: int, log: bool) -> None:
    _setup(plt, ("loss (log)" if log else "loss") + _changes_said(state))
    x, y = downsample(state.steps.x, state.steps.y, max(width * 2, 16))
    if len(x):
        plt.plot(x.tolist(), (_positive(y) if log else y).tolist(), label="train", marker="braille")
    drawn = [y]
    if len(state.val):
        ex, ey = envelope(state.val.x, state.val.y, max(width, 8))  # its best epoch drawn, not averaged away
        plt.plot(ex.tolist(), (_positive(ey) if log else ey).tolist(), label="val", marker="dot")
        drawn.append(ey)
    if log:
        _log_scale(plt, bool(len(x) or len(state.val)))
    import numpy as np

    finite = np.concatenate(drawn)
    finite = finite[np.isfinite(finite)]
    xs = [x, *([state.val.x] if len(state.val) else [])]
    _change_markers(plt, state)
    whole_ticks(plt, xs)
    plt.xlabel("step")


def _span(xs: list) -> tuple[float, float] | None:
    """The lowest and highest x of the series drawn (None: nothing drawn yet)."""
    spans = [(float(v.min()), float(v.max())) for v in xs if len(v)]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def whole_ticks(plt, xs: list) -> None:
    """Steps and epochs are counted: ticks at whole numbers (plotext's own fall between, 1134.2 or 1.5)."""
    import math

    span = _span(xs)
    if span is None:
        return
    lo, hi = span
    if hi - lo < 1:
        plt.xticks([round(lo)])
        return
    raw = (hi - lo) / 4  # about five ticks, each a round step: 1, 2, 5 x a power of ten
    power = 10 ** math.floor(math.log10(raw))
    step = max(1, int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw)))
    first = math.ceil(lo / step) * step
    plt.xticks(list(range(int(first), int(hi) + 1, step)))


MARKER_COLOR = "orange"


def _change_markers(plt, state: RunState) -> None:
    """Each live change of the run (a `change` event) as a vertical line at its step."""
    for change in state.changes:
        plt.vline(change["step"], MARKER_COLOR)


def _changes_said(state: RunState) -> str:
    """What the latest live change set, and at which step, for the loss chart's title: 'loss · lr 0.001 ep 170
    @2500'. A label at the top of its line, inside the chart, was drawn over the legend ('⢕⢕ trainlr 0.001') and
    over the curve's highest points at 80 columns, wherever the change fell."""
    if not state.changes:
        return ""
    last = state.changes[-1]
    before = f" (+{len(state.changes) - 1} before)" if len(state.changes) > 1 else ""
    return f" · {describe(last, short=True)} @{last['step']}{before}"


def plot_lr(plt, state: RunState, width: int) -> None:
    """The learning rate per logged step. A constant one is said in the title and drawn as a line
    mid-chart with one readable tick: plotext would spread float noise (0.00300000000000000093)
    over a flat range."""
    x, y = envelope(state.lr.x, state.lr.y, max(width, 8))  # a schedule's steps and extremes as they are
    constant = len(y) > 0 and float(y.min()) == float(y.max())
    _setup(plt, _constant_rate_title(float(y[0]), width) if constant else "learning rate")
    if len(x):
        plt.plot(x.tolist(), y.tolist(), marker="braille")
        whole_ticks(plt, [x])
    _change_markers(plt, state)
    if constant:
        v = float(y[0])
        plt.ylim(v * 0.5, v * 1.5) if v else plt.ylim(-1, 1)
        plt.yticks([v], [f"{v:g}"])


def _constant_rate_title(rate: float, width: int) -> str:
    """The longest title saying the constant rate that plotext draws at this width: it leaves out a title that
    would cross the chart's right edge, centred as it is on the canvas (right of the tick label and the axis),
    and at 80x24 the chart has 20 columns: 'learning rate 0.01 (constant)' left it untitled."""
    tick = len(f"{rate:g}")
    centre = tick + 1 + (width - tick - 2) // 2

    def fits(title: str) -> bool:
        return centre - len(title) // 2 + len(title) <= width

    options = (f"learning rate {rate:g} (constant)", f"lr {rate:g} (constant)", f"lr {rate:g}", "lr")  # (its tick
    # says the rate where no title with it fits)
    return next((title for title in options if fits(title)), options[-1])


def plot_metric(plt, state: RunState, width: int) -> None:
    """The task's metric per epoch. Its name comes with the run's start event: before it, a neutral title
    (RunState's fallback, R², would name the wrong metric for a classification run)."""
    name = state.metric_name() if state.start else ""
    _setup(plt, "val " + next((label for key, _, label in METRICS if key == name), "metric"))
    if len(state.metric):
        x, y = envelope(state.metric.x, state.metric.y, max(width, 8))  # its best epoch drawn
        plt.plot(x.tolist(), y.tolist(), marker="braille")
        whole_ticks(plt, [x])
        if float(y.min()) == float(y.max()):  # flat (an accuracy of 1.0 every epoch): plotext spread 0.5 to 1.5
            v = float(y[0])
            plt.ylim(v - 0.5, v + 0.5) if name == "r2" else plt.ylim(max(v - 0.5, 0.0), min(v + 0.5, 1.0))
            plt.yticks([v], [f"{v:.4g}"])
    plt.xlabel("epoch")


def plot_pairs(plt, evaluation: dict) -> None:
    """Predicted against actual (regression), with the diagonal a perfect model would draw."""
    _setup(plt, f"predicted vs actual {evaluation.get('target', '')} ({evaluation.get('model', '')} model)")
    pairs = evaluation.get("pairs") or []
    if pairs:
        actual = [p[0] for p in pairs]
        predicted = [p[1] for p in pairs]
        plt.scatter(actual, predicted, marker="dot")
        lo, hi = min(actual + predicted), max(actual + predicted)
        plt.plot([lo, hi], [lo, hi], marker="dot", color="gray")
    plt.xlabel("actual")
    plt.ylabel("predicted")
