"""Our CSV sniffer against CleverCSV, on the messy files of our tests: which finds more of them right.

Run by hand (never inside the test suite):

    python tests/bench/sniffers.py [--repeats 20]

The files are the CSV cases of tests/test_messy_data.py (FORMATS) and tests/test_reading_trust.py
(READING_CASES), each with the separator and header line it must be read with. A sniffer is right
on a file when it finds both: the separator (CleverCSV's ' ' counts as our whitespace) and whether
the table's first line is a header. CleverCSV has no notion of lines above the table, so a file
with metadata lines is also scored on its own (skip_rows: ours only). Both are given the same text
(decoded, and ungzipped, as our reader does) and timed per file, best of --repeats; a 256 KiB sample
of a 20-column numeric table (the size our reader sniffs) shows the cost on a big file.

CleverCSV is optional (`pip install clevercsv`): without it, ours is measured alone.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the cases

from tui.core import reader  # noqa: E402
from tui.core.reader import WHITESPACE  # noqa: E402


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(id, text, expected sep/header/skip_rows) for every CSV case of the two test files; the ids of
    tests/test_reading_trust.py's start with "new:" (written with this sniffer, so scored apart too)."""
    from test_messy_data import FORMATS
    from test_reading_trust import READING_CASES

    out = []
    for param in [*FORMATS, *READING_CASES]:
        name, content, fields = param.values[0], param.values[1], param.values[2]
        source = "new:" if param in READING_CASES else ""
        if fields.get("kind", "csv") != "csv" or name.endswith((".json", ".jsonl")):
            continue
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text, _ = reader._decode(raw, "auto", [])
        out.append((source + (param.id or name), text, fields))
    return out


def ours(text: str) -> tuple[str, bool, int]:
    """Our sniffer's sep, header and skip_rows on a text (the decisions `reader.sniff` makes)."""
    lines = [line for line in text.splitlines() if line.strip()][: reader.SAMPLE_LINES]
    sep = reader._choose_sep(lines, "auto")
    rows = [reader._split(line, sep) for line in lines]
    skip = reader._metadata_lines(rows)
    return sep, reader._looks_like_header(rows[skip:]), skip


def clever(text: str) -> tuple[str, bool, int]:
    import clevercsv

    sniffer = clevercsv.Sniffer()
    dialect = sniffer.sniff(text)
    sep = dialect.delimiter if dialect is not None else ""
    return (WHITESPACE if sep == " " else sep), bool(sniffer.has_header(text)), 0


def measure(name: str, sniff: Callable[[str], tuple[str, bool, int]], files: list, repeats: int) -> dict[str, Any]:
    right, right_skip, right_old, seconds, wrong = 0, 0, 0, [], []
    for case_id, text, expected in files:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            try:
                got = sniff(text)
            except Exception as e:  # a sniffer that fails on a file gets it wrong
                got = ("", False, -1)
                wrong.append(f"{case_id} ({type(e).__name__})")
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
        sep_ok = got[0] == expected["sep"]
        header_ok = got[1] == expected.get("header", True)
        right += sep_ok and header_ok
        right_old += sep_ok and header_ok and not case_id.startswith("new:")
        right_skip += got[2] == expected.get("skip_rows", 0)
        if not (sep_ok and header_ok):
            wrong.append(f"{case_id}: got sep {got[0]!r} header {got[1]}")
    return {"name": name, "right": right, "skip_right": right_skip, "files": len(files), "right_old": right_old,
            "old": sum(not f[0].startswith("new:") for f in files),
            "mean_ms": 1000 * sum(seconds) / len(seconds), "max_ms": 1000 * max(seconds), "wrong": wrong}


def big_sample() -> str:
    header = ",".join(f"x{i}" for i in range(20)) + "\n"
    rows, size, i = [header], len(header), 0
    while size < reader.SAMPLE_BYTES:
        row = ",".join(f"{(i * 7919 + j * 104729) % 100000 / 1000:.3f}" for j in range(20)) + "\n"
        rows.append(row)
        size += len(row)
        i += 1
    return "".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    files = cases()
    sniffers: list[tuple[str, Callable[[str], tuple[str, bool, int]]]] = [("torchtui", ours)]
    try:
        import clevercsv

        sniffers.append((f"CleverCSV {clevercsv.__version__}", clever))
    except ImportError:
        print("CleverCSV: not installed (pip install clevercsv); measuring ours alone")
    sample = big_sample()
    print(f"{len(files)} messy files (tests/test_messy_data.py, tests/test_reading_trust.py)")
    for name, sniff in sniffers:
        r = measure(name, sniff, files, args.repeats)
        start = time.perf_counter()
        got = sniff(sample)
        big = time.perf_counter() - start
        big_ok = got[:2] == (",", True)
        print(f"{name:<16} sep+header right {r['right']}/{r['files']} "
              f"(test_messy_data's: {r['right_old']}/{r['old']})  lines above the table right "
              f"{r['skip_right']}/{r['files']}  {r['mean_ms']:.2f} ms per file (max {r['max_ms']:.2f})  "
              f"256 KiB sample {big:.2f} s ({'right' if big_ok else 'wrong'})")
        for line in r["wrong"]:
            print(f"    wrong: {line}")


if __name__ == "__main__":
    main()
