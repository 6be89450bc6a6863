"""How long a user looks at a blank terminal: `torchtui --dataset iris` in a real tmux pane, from the
command to the first frame (the tab bar and the footer drawn), and on to the data shown (the Data
pane's columns, read in a thread after the first frame).

Run by hand (never timed inside the test suite):

    python tests/bench/first_frame.py [--repeats 3] [--size 100x30]

Each try is a fresh tmux server and a fresh process (no warm import caches but the OS's file cache,
as for a user's second start); the screen is polled every 10 ms. Reports every try, the best and the
median. The goal (issue 11): first frame <= 1 s on a quiet 2-core machine, best of 3.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the tmux helpers

from tmux_helpers import Tmux  # noqa: E402

FIRST_FRAME = ("Data", "Hyperparameters", "Quit")  # the tabs and the footer: the whole screen's frame
DATA_SHOWN = "sepal_length"  # a column of iris, in the Data pane's table


def one_try(width: int, height: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, Tmux(Path(tmp), width, height, name="ff") as term:
        began = time.monotonic()
        term.start("--dataset", "iris")
        first = data = None
        while data is None:
            try:
                screen = term.capture()
            except RuntimeError:
                screen = ""
            now = time.monotonic() - began
            if first is None and all(s in screen for s in FIRST_FRAME):
                first = now
            if first is not None and DATA_SHOWN in screen:
                data = now
            if now > 60:
                raise SystemExit(f"no first frame after 60 s; the screen:\n{screen}")
            time.sleep(0.01)
        term.send("C-q")
        return first, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="100x30")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    firsts, datas = [], []
    for i in range(args.repeats):
        first, data = one_try(width, height)
        firsts.append(first)
        datas.append(data)
        print(f"try {i + 1}: first frame {first:.2f} s, data shown {data:.2f} s", flush=True)
    print(f"first frame: best {min(firsts):.2f} s, median {statistics.median(firsts):.2f} s; "
          f"data shown: best {min(datas):.2f} s, median {statistics.median(datas):.2f} s")


if __name__ == "__main__":
    main()
