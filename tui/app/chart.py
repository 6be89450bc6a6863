"""A plotext chart widget drawn afresh from its data at every render.

plotext's `build` takes the logarithm of the data it holds in place on a log scale, so building the same
data twice - which Textual does at any resize or repaint, not only when the chart's data changed - took it
twice and raised `math domain error`, ending the app. A chart here keeps how to draw itself, not the drawn
figure: each render clears the figure and plots again, at the widget's width.
"""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual_plotext import PlotextPlot

Draw = Callable[[Any, int], None]  # (plotext's plt, the chart's width in cells): plots the chart's data


class Chart(PlotextPlot):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._draw: Draw | None = None

    def show(self, draw: Draw) -> None:
        """Draw the chart with `draw` from now on, at this render and every later one."""
        self._draw = draw
        self.refresh()

    def render(self):
        """The chart; where plotext cannot draw its data (a log edited to hold a NaN or 1e300 validation loss gave
        an IndexError or ValueError from inside plotext, which ended the screen), one line saying so instead."""
        try:
            if self._draw is not None:
                self._draw(self.plt, self.size.width or 80)
            return super().render()
        except (ValueError, IndexError, OverflowError, ZeroDivisionError, TypeError) as e:
            self.plt.clear_data()
            return Text(f"(this chart cannot be drawn from these values: {type(e).__name__})", style="dim")
