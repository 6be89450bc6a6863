"""What watching a run on the screen costs: training speed, chart redraws, terminal output.

Run by hand (never part of the test suite; pytest collects only test_*.py):

    python tests/bench/tui_overhead.py [--rounds 8] [--rows 60000] [--epochs 5] [--seconds 20]
                                       [--only throughput,plot,output,switch] [--app-threads N]

Prints a markdown table:

- throughput: one run (a generated regression CSV, MLP 16-256-256-1, batch 128, CPU, Threads
  auto) trained headless (`torchtui run`) and started from the screen in tmux at 100x30 (ctrl+r:
  the Training pane shows it, charts and all). samples/s is the mean of the run's epoch events
  after the first. Many short rounds, each running both (the order alternating), so machine
  drift hits both alike; each round gives a paired ratio, and their median, range and
  quartiles are reported. Beside the wall rate: the worker's CPU time per sample (read from
  /proc at each epoch end) and the app's own CPU. Target: app / headless >= 0.9.
- plot redraw: `charts.plot_loss` + `plt.build()` on a textual-plotext `Plot` of 100x20 for
  a run state holding 1k, 100k and 1M logged steps (one epoch row per 50 steps, and 1M steps
  over only 100 epochs); best of 20. Target: 1M / 1k <= 2x. Also how long reading that
  history into a RunState took (what attaching to such a run costs).
- terminal output: bytes the app writes to its terminal (`tmux pipe-pane`) over `--seconds`
  of steady training on the Training pane (the CSV run; iris with epochs of a few ms, the
  log's worst case), with NO_COLOR=1, on the Runs pane and the Results pane's predictions view
  while the CSV run trains, and on the Data pane with nothing training; with the app's own CPU
  use in that window. Target: <= 10 KB/s while training.
- pane switch: the app's CPU time per pane switch (F2-F7 in turn, in process, Textual's pilot at
  100x30), with the KeyBar remounting its keys only when its row changes, against the same app
  remounting them on every bindings update (Textual's Footer); rounds alternate, paired ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared tmux helpers

from tmux_helpers import EPOCH_LINE, TORCHTUI, Tmux, events, kill_workers, run_dirs, wait_until  # noqa: E402

FEATURES = 16
CSV_READY = r"f0\s+float"  # the Data pane's feature list: the CSV is read, ctrl+r can start
LAYERS = '["Linear(256)", "ReLU()", "Linear(256)", "ReLU()"]'


def write_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    y = x @ rng.standard_normal(FEATURES) + 0.1 * rng.standard_normal(rows)
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(FEATURES)] + ["y"]) + "\n")
        np.savetxt(f, np.column_stack([x, y]), fmt="%.5f", delimiter=",")


def csv_toml(epochs: int, threads: int = 0) -> str:
    return f"""[data]
dataset = "bench.csv"
[model]
layers = {LAYERS}
[train]
epochs = {epochs}
batch_size = 128
device = "cpu"
threads = {threads}
patience = 0
"""


IRIS_TOML = """[data]
dataset = "iris"
[train]
epochs = 100000
patience = 0
batch_size = 4
device = "cpu"
"""


def epoch_rate(run_dir: Path) -> float:
    rows = [e for e in events(run_dir) if e.get("event") == "epoch"]
    rates = [e["samples_per_s"] for e in rows[1:]] or [e["samples_per_s"] for e in rows]
    return statistics.mean(rates)


def fresh(root: Path, name: str, toml: str, csv: Path | None) -> Path:
    d = root / name
    d.mkdir()
    (d / "exp.toml").write_text(toml)
    if csv is not None:
        os.symlink(csv, d / "bench.csv")
    return d


def start_from_screen(term: Tmux, cwd: Path, ready: str, timeout: float = 120.0) -> Path:
    """ctrl+r once the Data pane shows `ready` (the data is read), then the run folder it makes.

    One press only: a second ctrl+r while the worker is still starting is the app bug noted in
    the report (it resumes the starting run and marks it failed)."""
    term.wait_for(ready, timeout)
    term.send("C-r")
    return wait_until(lambda: run_dirs(cwd)[0] if run_dirs(cwd) else None, timeout, f"a run folder in {cwd}")


def finished(run_dir: Path) -> bool:
    return any(e.get("event") in ("end", "error") for e in events(run_dir))


# ---- throughput ------------------------------------------------------------------------------------------
class CpuWatch:
    """The worker's CPU time at each epoch end, read from /proc while it runs: CPU seconds per training
    sample over the epochs after the first, beside the wall-clock rate. A screen that steals a core shows
    up in the wall rate; a worker that spins or waits shows up here."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.marks = run_dir, []  # (epochs done, worker CPU seconds)
        self.rows = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        pid, seen = None, 0
        while True:
            evs = events(self.run_dir)
            if pid is None:
                start = next((e for e in evs if e.get("event") == "start"), None)
                if start is not None:
                    pid, self.rows = start["pid"], start["train_rows"]
            done = sum(e.get("event") == "epoch" for e in evs)
            if pid is not None and done > seen:
                self.marks.append((done, cpu_seconds(pid)))
                seen = done
            if any(e.get("event") in ("end", "error") for e in evs):
                return
            time.sleep(0.02)

    def per_sample_us(self) -> float:
        self.thread.join(60)
        if len(self.marks) < 2:
            return float("nan")
        (e0, c0), (e1, c1) = self.marks[0], self.marks[-1]
        return 1e6 * (c1 - c0) / ((e1 - e0) * self.rows)


def headless(cwd: Path) -> tuple[float, float]:
    with open(cwd / "console.log", "wb") as out:
        proc = subprocess.Popen([str(TORCHTUI), "run", "exp.toml", "--json"], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
        run_dir = wait_until(lambda: run_dirs(cwd)[0] if run_dirs(cwd) else None, 120, f"a run folder in {cwd}")
        watch = CpuWatch(run_dir)
        if proc.wait() != 0:
            raise SystemExit(f"the headless run failed: see {cwd / 'console.log'}")
    return epoch_rate(run_dir), watch.per_sample_us()


def from_screen(cwd: Path, timeout: float) -> tuple[float, float, float]:
    """The run's samples/s, the worker's CPU microseconds per sample, and the app's CPU (% of a core)."""
    with Tmux(cwd, 100, 30, name="bench") as term:
        term.start("--config", "exp.toml")
        run_dir = start_from_screen(term, cwd, CSV_READY)
        watch = CpuWatch(run_dir)
        app, cpu0, t0 = term.pane_pid(), None, 0.0
        wait_until(lambda: watch.marks, timeout, "the first epoch")
        cpu0, t0 = cpu_seconds(app), time.monotonic()  # the app's CPU over the epochs that are measured
        wait_until(lambda: finished(run_dir), timeout, f"{run_dir} to finish")
        app_cpu = 100 * (cpu_seconds(app) - cpu0) / (time.monotonic() - t0)
        screen = term.wait_for("● done", 30)
    if not EPOCH_LINE.search(screen):
        print(f"warning: no epoch lines on the final screen in {cwd}:\n{screen}", file=sys.stderr)
    return epoch_rate(run_dir), watch.per_sample_us(), app_cpu


def spread(xs: list[float], fmt: str = "{:,.0f}") -> str:
    """median [min - max] (quartiles q1 - q3 from 4 values on)."""
    xs = sorted(xs)
    out = f"median {fmt.format(statistics.median(xs))} [{fmt.format(xs[0])} - {fmt.format(xs[-1])}]"
    if len(xs) >= 4:
        q = statistics.quantiles(xs, n=4)
        out += f", quartiles {fmt.format(q[0])} - {fmt.format(q[2])}"
    return out


def throughput(root: Path, csv: Path, rounds: int, epochs: int, app_threads: int = 0) -> list[tuple[str, str, str]]:
    """Headless vs from the screen, taking turns in every round (the order alternating), so drift of the
    machine hits both alike; each round gives one paired ratio, and the table reports their spread.
    With `app_threads`, also from the screen with Threads set to that count in the spec."""
    modes = ["headless", "app"] + ([f"app-{app_threads}t"] if app_threads else [])
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    app_cpu: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        for mode in order:
            toml = csv_toml(epochs, app_threads if mode.endswith("t") else 0)
            cwd = fresh(root, f"tp-{mode}-{r}", toml, csv)
            t0 = time.monotonic()
            if mode == "headless":
                rate, us = headless(cwd)
                note = ""
            else:
                rate, us, screen_cpu = from_screen(cwd, 600)
                app_cpu[mode].append(screen_cpu)
                note = f", app {screen_cpu:.0f}% CPU"
            rates[mode].append(rate)
            cpu[mode].append(us)
            print(f"  round {r + 1} {mode:9s} {rate:10,.0f} samples/s, worker {us:6.1f} CPU us/sample{note} "
                  f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    h = rates["headless"]
    rows = [("throughput headless (samples/s)", spread(h), f"{rounds} rounds"),
            ("worker CPU per sample, headless (us)", spread(cpu["headless"], "{:.1f}"), "")]
    for mode in modes[1:]:
        a = rates[mode]
        label = "from the screen" + (f", Threads = {app_threads}" if mode != "app" else ", Threads auto")
        paired = [x / y for x, y in zip(a, h)]
        rows += [
            (f"throughput {label} (samples/s)", spread(a), ""),
            (f"ratio {label} / headless, per round", spread(paired, "{:.2f}"), "target >= 0.9"),
            (f"worker CPU per sample, {label} (us)", spread(cpu[mode], "{:.1f}"),
             f"the app's own CPU: {spread(app_cpu[mode], '{:.0f}')} % of a core"),
        ]
    return rows


# ---- plot redraw -----------------------------------------------------------------------------------------
def synthetic_state(steps: int, epochs: int):
    """A RunState fed `steps` step events and `epochs` epoch rows through `apply`, as an attach reads them."""
    import math

    from tui.core.follow import RunState

    per_epoch = max(steps // epochs, 1)
    state = RunState(Path("bench-run"))
    state.apply({"event": "start", "pid": 1, "epochs": epochs, "steps_per_epoch": per_epoch,
                 "task": "regression", "batch_size": 128})
    for s in range(1, steps + 1):
        state.apply({"event": "step", "epoch": (s - 1) // per_epoch + 1, "step": s,
                     "loss": 1.0 / math.sqrt(s) + 0.01 * (s % 7), "lr": 0.01})
        if s % per_epoch == 0:
            state.apply({"event": "epoch", "epoch": s // per_epoch, "step": s, "train_loss": 1.0 / math.sqrt(s),
                         "val_loss": 1.1 / math.sqrt(s), "r2": 1 - 1.0 / math.sqrt(s), "lr": 0.01,
                         "samples_per_s": 1000.0})
    return state


def plot_redraw(sizes=(1_000, 100_000, 1_000_000), steps_per_epoch: int = 50) -> list[tuple[str, str, str]]:
    from textual_plotext.plot import Plot

    from tui.app import charts

    def best_ms(state, log: bool, repeats: int = 20) -> float:
        plt = Plot()
        plt.plotsize(100, 20)
        plt._set_size(100, 20)  # as PlotextPlot.render does
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            charts.plot_loss(plt, state, 100, log)
            plt.build()
            times.append(time.perf_counter() - t)
        return 1000 * min(times)

    rows, linear = [], {}
    lo, hi = min(sizes), max(sizes)
    cases = [(n, max(n // steps_per_epoch, 1)) for n in sizes] + [(hi, 100)]
    for n, epochs in cases:
        t = time.perf_counter()
        state = synthetic_state(n, epochs)
        built = time.perf_counter() - t
        ms, log = best_ms(state, False), best_ms(state, True)
        linear[n, epochs] = ms
        rows.append((f"plot_loss + build, {n:,} steps, {epochs:,} epochs, 100x20",
                     f"{ms:.1f} ms (log scale {log:.1f} ms)",
                     f"best of 20; reading that history (RunState.apply) took {built:.2f} s"))
    base = linear[lo, max(lo // steps_per_epoch, 1)]
    rows.append((f"redraw {hi:,} / {lo:,} steps (1 epoch per {steps_per_epoch} steps)",
                 f"{linear[hi, hi // steps_per_epoch] / base:.2f}x", "target <= 2x"))
    rows.append((f"redraw {hi:,} steps in 100 epochs / {lo:,} steps", f"{linear[hi, 100] / base:.2f}x",
                 "target <= 2x"))
    return rows


# ---- terminal output -------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def output_rate(cwd: Path, seconds: float, env: dict[str, str] | None, train: bool, ready: str,
                warmup: float = 3.0, pane_key: str = "") -> tuple[float, float]:
    """Bytes per second the app writes to its terminal over `seconds` of steady state, and the
    app's own CPU use (percent of one core) meanwhile."""
    capture = cwd / "terminal.out"
    with Tmux(cwd, 100, 30, env=env, name="bench") as term:
        term.start("--config", "exp.toml")
        run_dir = None
        if train:
            run_dir = start_from_screen(term, cwd, ready)
            term.wait_for(EPOCH_LINE, 300)
        else:
            term.wait_for(ready, 60)
        if pane_key:  # watch from another pane (the Runs pane: F7)
            term.send(*pane_key.split())
        time.sleep(warmup)
        app = term.pane_pid()
        term.tmux("pipe-pane", "-o", "-t", "main", f"cat >> {capture}")
        t0, cpu0 = time.monotonic(), cpu_seconds(app)
        time.sleep(seconds)
        term.tmux("pipe-pane", "-t", "main")  # stop piping
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(app) - cpu0
        screen = term.capture()
        if train and not pane_key and not EPOCH_LINE.search(screen):
            print(f"warning: no epoch lines on screen at the end of the window in {cwd}:\n{screen}", file=sys.stderr)
        if run_dir is not None:
            still = not finished(run_dir)
            term.send("C-x")
            wait_until(lambda: finished(run_dir), 60, "the run to stop")
            if not still:
                print(f"warning: {run_dir.name} finished inside the window; use more --epochs", file=sys.stderr)
    return (capture.stat().st_size / elapsed if capture.exists() else 0.0), 100 * cpu / elapsed


def output(root: Path, csv: Path, seconds: float) -> list[tuple[str, str, str]]:
    long_csv = csv_toml(1000)
    cases = [
        ("Training pane, CSV run (epochs of seconds)", long_csv, csv, None, True, CSV_READY),
        ("Training pane, CSV run, NO_COLOR=1", long_csv, csv, {"NO_COLOR": "1"}, True, CSV_READY),
        ("Training pane, iris (epochs of ms: log scrolls)", IRIS_TOML, None, None, True, "sepal_length"),
        ("Runs pane while the CSV run trains", long_csv, csv, None, True, CSV_READY, "F7"),
        ("Results pane, predictions view, while the CSV run trains", long_csv, csv, None, True, CSV_READY, "F6 v"),
        ("Data pane, idle (nothing training)", long_csv, csv, None, False, CSV_READY),
    ]
    rows = []
    for i, (label, toml, data, env, train, ready, *keys) in enumerate(cases):
        cwd = fresh(root, f"out-{i}", toml, data)
        # another pane: its one-off work (the predictions view reads the data and runs the model once) before
        # the window, which measures the steady state
        rate, cpu = output_rate(cwd, seconds, env, train, ready, warmup=10.0 if keys else 3.0,
                                pane_key=keys[0] if keys else "")
        print(f"  {label}: {rate / 1024:.2f} KB/s, app CPU {cpu:.0f}%", file=sys.stderr)
        rows.append((f"terminal output: {label}", f"{rate / 1024:.2f} KB/s",
                     f"100x30, {seconds:.0f} s; the app's own CPU {cpu:.0f}% of a core"
                     + ("; target <= 10 KB/s" if train else "")))
    return rows


def pane_switch(rounds: int, switches: int = 30) -> list[tuple[str, str, str]]:
    """The app's CPU per pane switch, KeyBar as built vs remounting on every bindings update."""
    import asyncio

    from textual.widgets import Footer

    from tui.app.app import TorchTUI
    from tui.app.key_bar import KeyBar
    from tui.core.spec import Spec

    as_built = KeyBar.bindings_changed
    panes = ("data", "model", "hyper", "training", "results", "runs")

    async def cpu_per_switch() -> float:
        app = TorchTUI(Spec().with_overrides({"train.device": "cpu"}), preset=True)
        async with app.run_test(size=(100, 30)) as pilot:
            while app.data is None:
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            began = time.process_time()
            for i in range(switches):
                app.action_pane(panes[i % len(panes)])
                await pilot.pause()
            return (time.process_time() - began) / switches

    def measure(remount_always: bool) -> float:
        KeyBar.bindings_changed = Footer.bindings_changed if remount_always else as_built  # type: ignore[method-assign]
        try:
            return asyncio.run(cpu_per_switch())
        finally:
            KeyBar.bindings_changed = as_built  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="tui-switch-") as tmp:
        here = os.getcwd()
        os.chdir(tmp)  # the Runs pane lists ./checkpoints: an empty one
        try:
            pairs = []
            for r in range(rounds):
                order = (False, True) if r % 2 else (True, False)
                got = {always: measure(always) for always in order}
                pairs.append((got[False], got[True]))
        finally:
            os.chdir(here)
    ours, always = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    ratio = statistics.median(a / o for o, a in pairs)
    print(f"  pane switch: {ours * 1000:.0f} ms vs {always * 1000:.0f} ms", file=sys.stderr)
    return [("pane switch: the app's CPU per switch", f"{ours * 1000:.0f} ms",
             f"remounting the footer's keys on every bindings update: {always * 1000:.0f} ms ({ratio:.2f}x, median "
             f"of {rounds} paired rounds of {switches} switches)")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--only", default="throughput,plot,output,switch")
    ap.add_argument("--app-threads", type=int, default=0,
                    help="also time the screen's run with Threads = N in its spec (e.g. every core)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    rows: list[tuple[str, str, str]] = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="tui-overhead-") as tmp:
        root = Path(tmp)
        csv = root / "bench.csv"
        try:
            if parts & {"throughput", "output"}:
                write_csv(csv, args.rows)
            if "throughput" in parts:
                print("throughput...", file=sys.stderr)
                rows += throughput(root, csv, args.rounds, args.epochs, args.app_threads)
            if "plot" in parts:
                print("plot redraw...", file=sys.stderr)
                rows += plot_redraw()
            if "output" in parts:
                print("terminal output...", file=sys.stderr)
                rows += output(root, csv, args.seconds)
            if "switch" in parts:
                print("pane switch...", file=sys.stderr)
                rows += pane_switch(args.rounds)
        finally:
            for d in root.iterdir():
                if d.is_dir():
                    kill_workers(d)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    print(f"\n{os.cpu_count()} CPUs, torch {torch.__version__}, {args.rows:,} rows x {FEATURES}, MLP {LAYERS}, "
          f"batch 128, {args.epochs} epochs; load average {load:.1f} at start, {load_end:.1f} at end\n")
    print("| measure | result | notes |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
