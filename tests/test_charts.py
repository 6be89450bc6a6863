"""The Training pane's charts draw each epoch that matters: a long run's best epoch is not averaged away.

A tmux audit: a 400-epoch run whose accuracy was 1.0 in epochs 1 and 2 and 0.9722 after drew its metric chart
topping out at 0.9778, the mean of the first ten epochs (the series was cut to the chart's width by stretch
means), so the run's best accuracy was nowhere on screen; its best validation loss likewise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotext

from tui.app import charts
from tui.core import record
from tui.core.follow import RunState, downsample, envelope


def long_run(epochs: int = 400) -> RunState:
    state = RunState(Path("run"))
    state.apply(record.start(
        pid=1, run_dir="run", dataset="wine", task="classification", target="class", classes=["a", "b", "c"],
        train_rows=142, val_rows=36, input_shape=[13], outputs=3, loss="CrossEntropy", notices=[], preview=[],
        table=True, layers=[], summary="", params=0, device="cpu", epochs=epochs, batch_size=16, steps_per_epoch=9,
        optimizer="Adam", lr=0.01, scheduler="step", seed=0, resumed_from=None))
    for epoch in range(1, epochs + 1):
        accuracy = 1.0 if epoch <= 2 else 0.9722
        val = 0.01 if epoch == 137 else 0.1  # one epoch far better than the rest
        lr = 0.01 if epoch < 200 else 0.001
        for within in (3, 6, 9):  # the steps logged: a step schedule's rate drops once, at epoch 200
            state.apply(record.step(epoch=epoch, step=(epoch - 1) * 9 + within, epoch_step=within, loss=0.1, lr=lr,
                                    samples_per_s=1000.0, telemetry={}))
        state.apply(record.epoch(epoch=epoch, step=epoch * 9, train_loss=0.1, skipped_steps=None, val_loss=val,
                                 metrics={"accuracy": accuracy}, lr=lr, best=epoch == 137, best_val_loss=0.01,
                                 seconds=0.01, samples_per_s=1000.0))
    return state


class Plots:
    """plotext's API as the chart code calls it, keeping the series it is given."""

    def __init__(self) -> None:
        self.series: list[tuple[list, list, dict]] = []

    def plot(self, x, y, **kw) -> None:
        self.series.append((x, y, kw))

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_the_metric_and_validation_curves_keep_their_best_epoch_at_any_width():
    state = long_run()
    for width in (20, 40, 80):
        metric = Plots()
        charts.plot_metric(metric, state, width)
        [(x, y, _)] = metric.series
        assert max(y) == 1.0 and min(y) == 0.9722 and len(x) <= 2 * width
        loss = Plots()
        charts.plot_loss(loss, state, width, log=False)
        val = next(y for _, y, kw in loss.series if kw.get("label") == "val")
        assert min(val) == 0.01 and len(val) <= 2 * width


def test_the_metric_chart_shows_the_best_accuracy_on_screen():
    """Drawn by plotext at a terminal chart's size: the top of its y axis is the run's best accuracy."""
    plt = plotext
    plt.clear_figure()
    plt.plotsize(40, 10)
    charts.plot_metric(plt, long_run(), 40)
    drawn = plotext.uncolorize(plt.build())
    assert "1.000" in drawn or "1.00" in drawn, drawn
    plt.clear_figure()


def test_a_learning_rate_schedule_keeps_its_exact_values():
    state = long_run()
    lr = Plots()
    charts.plot_lr(lr, state, 30)
    [(_, y, _)] = lr.series
    assert set(y) == {0.01, 0.001}  # means of a stretch holding the drop drew a rate the run never had


def test_a_constant_rate_is_said_in_a_title_that_fits_the_chart():
    """At 80x24 the rate chart has 20 columns: 'learning rate 0.01 (constant)' was longer than its canvas, and
    plotext draws no title then."""
    state = long_run(100)  # before the schedule's drop at epoch 200: a constant 0.01
    for width, title in ((20, "lr 0.01"), (21, "lr 0.01 (constant)"), (32, "lr 0.01 (constant)"),
                         (33, "learning rate 0.01 (constant)"), (80, "learning rate 0.01 (constant)")):
        plotext.clear_figure()
        plotext.plotsize(width, 8)
        charts.plot_lr(plotext, state, width)
        assert plotext.uncolorize(plotext.build()).splitlines()[0].strip() == title, width
    plotext.clear_figure()


def test_envelope_keeps_each_stretchs_extremes_in_order_and_downsample_its_means():
    x = np.arange(1000, dtype=np.float64)
    y = np.sin(x / 50)
    y[503] = 7.0
    y[10] = np.nan
    ex, ey = envelope(x, y, 25)
    assert len(ex) <= 50 and np.all(np.diff(ex) > 0)  # each stretch's two points, in x order
    assert ey.max() == 7.0 and ex[ey.argmax()] == 503 and np.isfinite(ey).all()
    assert float(ey.min()) == float(np.nanmin(y))
    assert envelope(x[:40], y[:40], 25)[0] is x[:40] or len(envelope(x[:40], y[:40], 25)[0]) == 40  # few: as is
    mx, my = downsample(x, y, 25)
    assert my.max() < 7.0  # the mean of its stretch: what the chart drew before


def test_a_change_is_said_in_the_loss_title_and_the_legend_stays_whole():
    """The change's label was drawn at the top of its line, inside the chart: over the legend ('⢕⢕ trainlr 0.001
    ep 170', a tmux audit at 80x24) or the curve's highest points, wherever the change fell. The title says it."""
    for width in (40, 52, 80):
        for at in (30, 600, 2500, 3600):
            state = long_run()
            state.apply(record.change(epoch=300, step=at, id="c", values={"lr": 0.001, "epochs": 170}, lr_from=0.01))
            plotext.clear_figure()
            plotext.plotsize(width, 12)
            charts.plot_loss(plotext, state, width, log=False)
            drawn = plotext.uncolorize(plotext.build()).splitlines()
            assert drawn[0].strip() == f"loss · lr 0.001 ep 170 @{at}", (width, at, drawn[0])
            assert "⢕⢕ train " in drawn[2] and "•• val " in drawn[3], (width, at, drawn)
    state.apply(record.change(epoch=300, step=3000, id="d", values={"patience": 3}))
    plotext.clear_figure()
    charts.plot_loss(plotext, state, 80, log=False)
    assert plotext.uncolorize(plotext.build()).splitlines()[0].strip() == "loss · pat 3 @3000 (+1 before)"
    plotext.clear_figure()


def test_a_flat_accuracy_is_drawn_within_0_and_1():
    """An accuracy of 1.0 every epoch: plotext spread the flat line's axis from 0.5 to 1.5, an accuracy no model
    has. The axis stays within 0..1 and its one tick says the value."""
    state = long_run(5)
    state.metric.y[:] = 1.0
    plt = plotext
    plt.clear_figure()
    plt.plotsize(40, 10)
    charts.plot_metric(plt, state, 40)
    ticks = [line.split("┤")[0].strip() for line in plotext.uncolorize(plt.build()).splitlines() if "┤" in line]
    plt.clear_figure()
    assert ticks == ["1"], ticks


def test_the_runs_curves_are_ticked_at_whole_epochs():
    """The Runs pane's overlay ticked its epochs where plotext chose (1.0 419.5 838.0 1256.5)."""
    from types import SimpleNamespace

    from tui.app.runs_pane import draw_curves
    from tui.core.compare import Curves

    epochs = list(range(1, 1257))
    run = SimpleNamespace(curves=Curves(epochs, [1.0 / e for e in epochs], [2.0 / e for e in epochs], []),
                          info=SimpleNamespace(metric=""))
    plt = plotext
    plt.clear_figure()
    plt.plotsize(60, 12)
    draw_curves(plt, [run], metric=False, log=False, selected=True, width=60)
    axis = plotext.uncolorize(plt.build()).splitlines()[-2]
    plt.clear_figure()
    assert axis.split() == ["500", "1000"], axis  # whole numbers, a round step apart
