"""What reading 'NA' and 'None' as words costs (reader._words_kept), as a ratio against pandas' own reading.

Run by hand (never timed inside the test suite):

    python tests/bench/words.py [--rows 1000000] [--repeats 3]

Three files of `--rows` rows (6 number columns, 2 text columns), each read by `read_table` with today's rule
(`Reading(words=True)`) and with pandas' own list of empty cells (`Reading(words=False)`, a model trained before
the rule), taking turns in one process, best of `--repeats`:
  blanks    a text column with empty cells and no NA or None: no second read (the common case)
  words     a text column holding NA (North America) among words: no second read either
  r-numbers a number column with NA (R's missing number): that column is taken from pandas' own second read
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.core.reader import Reading, ReadOptions, read_table  # noqa: E402


def write(path: Path, rows: int, kind: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows).round(4) for i in range(6)})
    frame["c"] = rng.choice(["a", "b", "", "x"], rows)
    frame["region"] = rng.choice(["EU", "AS", "NA" if kind == "words" else "AF"], rows)
    if kind == "r-numbers":
        frame["x0"] = frame["x0"].astype(object)
        frame.loc[frame.index % 50 == 0, "x0"] = "NA"
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'file':10} {'pandas own (s)':>15} {'words rule (s)':>15} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("blanks", "words", "r-numbers"):
            path = Path(folder) / f"{kind}.csv"
            write(path, args.rows, kind)
            best = {False: float("inf"), True: float("inf")}
            for _ in range(args.repeats):
                for words in (False, True):
                    start = time.perf_counter()
                    read_table(path, ReadOptions(reading=Reading(words=words)))
                    best[words] = min(best[words], time.perf_counter() - start)
            print(f"{kind:10} {best[False]:15.3f} {best[True]:15.3f} {best[True] / best[False]:5.2f}x")


if __name__ == "__main__":
    main()
