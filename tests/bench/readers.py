"""CSV readers on the same big file: why torchtui parses with pandas.

Run by hand (never timed inside the test suite), with whichever readers are installed:

    python tests/bench/readers.py [--file PATH] [--repeats 5]

Each reader runs in a fresh process, the readers taking turns; reported are the best and
median seconds and the peak memory above the process's state after its imports (ru_maxrss),
to a table in memory, and then to float64 numpy columns, the form torchtui prepares from.
The file defaults to the one tests/bench/load.py writes (1,000,000 rows x 20 columns).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

READERS = {
    "pandas (C parser)": ("pandas", "import pandas as pd", "t = pd.read_csv(path)",
                          "cols = [t[c].to_numpy(dtype='float64') for c in t.columns]"),
    "pandas, engine=pyarrow": ("pyarrow", "import pandas as pd", "t = pd.read_csv(path, engine='pyarrow')",
                               "cols = [t[c].to_numpy(dtype='float64') for c in t.columns]"),
    "pyarrow.csv": ("pyarrow", "import pyarrow.csv as pc", "t = pc.read_csv(path)",
                    "cols = [c.to_numpy() for c in t.columns]"),
    "polars": ("polars", "import polars as pl", "t = pl.read_csv(path)",
               "cols = [t[c].to_numpy() for c in t.columns]"),
}

CODE = """
import json, resource, sys, time
{imports}
path = sys.argv[1]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
{read}
read = time.perf_counter() - t0
{columns}
total = time.perf_counter() - t0
peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps({{"read": read, "columns": total, "peak_mb": peak_mb}}))
"""


def installed(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "torchtui-bench" / "big.csv")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"{args.file} not found: run tests/bench/load.py first, or pass --file")
    readers = {name: spec for name, spec in READERS.items() if installed(spec[0])}
    runs: dict[str, list[dict]] = {name: [] for name in readers}
    for _ in range(args.repeats):
        for name, (_, imports, read, columns) in readers.items():
            code = CODE.format(imports=imports, read=read, columns=columns)
            out = subprocess.run([sys.executable, "-c", code, str(args.file)],
                                 capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.file}: {args.file.stat().st_size / 2**20:,.0f} MiB; best / median of {args.repeats} fresh processes")
    print(f"{'reader':<26}{'read s':>8}{'median':>8}{'+ numpy s':>11}{'median':>8}{'peak MiB':>10}")
    for name, r in runs.items():
        reads, cols = sorted(x["read"] for x in r), sorted(x["columns"] for x in r)
        print(f"{name:<26}{reads[0]:>8.2f}{reads[len(r) // 2]:>8.2f}{cols[0]:>11.2f}{cols[len(r) // 2]:>8.2f}"
              f"{max(x['peak_mb'] for x in r):>10,.0f}")
    missing = [name for name in READERS if name not in readers]
    if missing:
        print(f"not installed here: {', '.join(missing)}")


if __name__ == "__main__":
    main()
