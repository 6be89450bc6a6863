"""The console reader of a run's events: a progress line, one line per epoch, or JSON lines.

Each event is folded into a `RunState` (the one fold, which the screen uses too) before it is
printed, so the console's ETA and summaries are the screen's.

Epoch lines and summaries go to stdout, so they can be piped or logged; the progress bar is
redrawn in place on stderr, and only when stderr is a terminal (a log file gets no `\\r`
noise). With `--json`, stdout carries exactly one JSON object per event and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from shlex import quote
from typing import Any, TextIO

from tui.core.event_schema import METRICS
from tui.core.follow import RunState, epoch_line, fmt_seconds, saved_at
from tui.core.live_change import describe
from tui.core.runs import to_json
from tui.refusals import drop


class ConsoleReporter:
    def __init__(self, as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.bar = (not as_json) and self.err.isatty()
        self.state = RunState(Path("."))
        self._bar_shown = False
        self.shut: set[int] = set()  # the streams (their ids) that took no more (`_shut`)

    @property
    def start(self) -> dict[str, Any]:
        return self.state.start

    def __call__(self, event: dict[str, Any]) -> None:
        self.state.apply(event)
        if self.as_json:
            self._write(self.out, to_json(event) + "\n")
            return
        handler = getattr(self, f"_on_{event['event']}", None)
        if handler is not None:
            handler(event)

    def _write(self, stream: TextIO, text: str) -> None:
        """Every write of the console goes here. A stream that cannot be written any more - the reader went away
        (`| head`, a closed terminal), or its file takes no more (`> train.log` on a full disk) - is closed and
        training goes on: the run folder has every event, so this reader's failure never fails the run, nor is
        it taken for the run folder's (an OSError out of a recorder's emit would be)."""
        if id(stream) in self.shut:
            return
        try:
            stream.write(text)
            stream.flush()
        except OSError as e:
            self._shut(stream, e)

    def _shut(self, stream: TextIO, e: OSError) -> None:
        """Send the stream to /dev/null (what the failed write left in its buffer too), and say why once on stderr
        unless it is a broken pipe, the reader's own choice, or stderr is the stream that failed."""
        self.shut.add(id(stream))
        drop(stream)
        if stream is self.out and not isinstance(e, BrokenPipeError):
            self._write(self.err, f"\nnote: cannot write the console output any more ({e.strerror or e}); "
                                  f"training goes on, and its run folder has every event: torchtui attach "
                                  f"{self.start.get('run_dir', '')}\n")

    # ---- events --------------------------------------------------------------------------
    def _on_start(self, e: dict[str, Any]) -> None:
        what = f"{len(e['classes'])} classes" if e["task"] == "classification" else _values(e.get("outputs", 1))
        done = e.get("resumed_from")  # None for a new run; 0 for a resume within its first epoch
        verb = "run" if done is None else f"resuming after epoch {done}" if done else "resuming in epoch 1"
        self._print(f"{verb}: {e['run_dir']}")
        self._print(f"data: {e['dataset']}, target {e['target']} ({e['task']}, {what})")
        for notice in e["notices"]:  # a "warning: ..." stands as it is, one line, not a note of a warning
            self._print(f"  {notice}" if notice.startswith("warning: ") else f"  note: {notice}")
        if e.get("preview"):
            self._print("preview:")
            for line in e["preview"]:
                self._print(f"  {line}")
        self._print(e["summary"])
        size = e.get("world_size", 1)
        batch = f"batch {e['batch_size']}" + (f" x {size} processes = {e['batch_size'] * size}" if size > 1 else "")
        self._print(f"train: {e['epochs']} epochs x {e['steps_per_epoch']} steps, {batch}, "
                    f"{e['optimizer']} lr {e['lr']:g}, loss {e['loss']}, scheduler {e['scheduler']}, seed {e['seed']}, "
                    f"device {e['device']}"
                    + ("" if e.get("precision", "fp32 (exact)") == "fp32 (exact)" else f", {e['precision']}"))
        if e.get("cuda_graphs") and str(e.get("device", "")).startswith("cuda"):
            self._print(f"cuda graphs: {e['cuda_graphs']}")

    def _on_cuda_graph(self, e: dict[str, Any]) -> None:
        self._clear_bar()
        if e["captured"]:
            self._print(f"cuda graph: captured at step {e['step']} in {e['seconds']:.2f} s after {e['warmup_steps']} "
                        f"warm-up steps; its memory pool holds {e['memory_mb']:.0f} MiB")
        else:
            self._print(f"cuda graph: not captured ({e.get('reason', 'unknown')}); training goes on without one")

    def _on_loading(self, e: dict[str, Any]) -> None:
        if self.bar:  # on a terminal only: a log or a pipe keeps its one line per epoch
            self._write(self.err, f"{e['message']}\n")

    def _on_step(self, e: dict[str, Any]) -> None:
        if not self.bar or not self.start:
            return
        total = self.start["steps_per_epoch"]
        done = e["epoch_step"] / total
        width = 24
        filled = int(done * width)
        eta = fmt_seconds(self.state.eta_seconds())
        line = (f"epoch {e['epoch']}/{self.start['epochs']} [{'#' * filled}{'.' * (width - filled)}] "
                f"{e['epoch_step']}/{total}  loss {e['loss']:.4g}  {e['samples_per_s']:,.0f} samples/s  ETA {eta}")
        self._write(self.err, "\r" + line[:120] + "\x1b[K")
        self._bar_shown = True

    def _on_epoch(self, e: dict[str, Any]) -> None:
        self._clear_bar()
        self._print(epoch_line(e, self.start.get("epochs")))

    def _on_checkpoint(self, e: dict[str, Any]) -> None:
        if e.get("requested"):  # a save-now (SIGUSR1) is confirmed; routine saves stay quiet
            self._clear_bar()
            self._print(f"saved {e['path']} (requested) {saved_at(e, self.start.get('steps_per_epoch'))}")

    def _on_paused(self, e: dict[str, Any]) -> None:
        if e.get("why") == "suspended":  # Ctrl+Z: the terminal is the shell's now; `fg` brings the line below
            return
        self._clear_bar()
        pid = self.start.get("pid")
        self._print(f"paused in epoch {e['epoch']} at step {e['step']}"
                    + (f"; `kill -USR2 {pid}` resumes" if pid else ""))

    def _on_resumed(self, e: dict[str, Any]) -> None:
        how = "suspended" if self.state.paused.get("why") == "suspended" else "paused"
        self._print(f"resumed after {e['paused_seconds']:.1f} s {how}")

    def _on_change(self, e: dict[str, Any]) -> None:
        self._clear_bar()
        self._print(f"change refused: {e['refused']}" if e.get("refused")
                    else f"changed {describe(e)} at step {e['step']} (epoch {e['epoch']})")

    def _on_evaluation(self, e: dict[str, Any]) -> None:
        self._clear_bar()
        parts = [f"{e['model']} model (epoch {e['epoch']}) on {e['rows']} {e['split']} rows: loss {e['val_loss']:.4f}"]
        parts += [f"{label} {e[key]:.4f}" for key, label, _ in METRICS if e.get(key) is not None]
        self._print("  ".join(parts))

    def _on_predictions(self, e: dict[str, Any]) -> None:
        self._print(f"predictions for {e['source']} ({e['rows']} rows): {e['path']}")
        for line in [*e.get("unseen", []), *e.get("filled", []), *e.get("left_out_rows", [])]:
            self._print(f"  note: {line}")

    def _on_error(self, e: dict[str, Any]) -> None:
        self._clear_bar()  # the message itself is printed once, by the command, on stderr

    def _on_end(self, e: dict[str, Any]) -> None:
        self._clear_bar()
        run_dir = e.get("run_dir") or self.start.get("run_dir", "")
        if e["status"] == "interrupted":
            # the status line's words: `in epoch 12 after batch 71/100` (epoch 11 done), `after epoch 11`, and
            # `before its first batch` (`after epoch 12, batch 71` was read as 12 epochs done)
            done, within = e["epochs"], e.get("epoch_step")
            per = self.start.get("steps_per_epoch")
            where = (f"in epoch {done + 1} after batch {within}" + (f"/{per}" if per else "") if within
                     else f"after epoch {done}" if done else "before its first batch")
            why = f" ({e['reason']})" if e.get("reason") else ""
            self._print(f"stopped{why} {where}, saved in last.pt; continue with "
                        f"`torchtui resume {quote(str(run_dir))}`")
            return
        how = "done"
        if e["status"] == "early_stopped":  # the default patience can end a run early: say how to turn it off
            waited = e['epochs'] - e['best_epoch']
            how = (f"stopped early (no better validation loss in {waited} epoch{'s' * (waited != 1)}; "
                   f"--patience 0 turns early stopping off)")
        best = e.get("best_val_loss")
        metrics = "  ".join(f"{label} {e['best_metrics'][k]:.4f}" for k, label, _ in METRICS
                            if k in e.get("best_metrics", {}))
        epochs = f"{e['epochs']} epoch{'s' * (e['epochs'] != 1)}"  # ('done: 1 epochs')
        self._print(f"{how}: {epochs}; best loss {best:.4f} at epoch {e['best_epoch']}"
                    + (f"  {metrics}" if metrics else "") if best is not None else f"{how}: {epochs}")
        self._print(f"saved: {run_dir}/best.pt, {run_dir}/last.pt")
        if self.start.get("table", True):
            # (quoted: pasted into a shell, a file named `x;rm -rf ~;.csv` is one argument)
            self._print(f"next: torchtui predict {quote(f'{run_dir}/best.pt')} {quote(_example_data(self.start))} "
                        "-o predictions.csv")

    # ---- helpers -------------------------------------------------------------------------
    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write(self.err, "\r\x1b[K")
            self._bar_shown = False

    def _print(self, text: str) -> None:
        self._write(self.out, text + "\n")


def _values(outputs: int) -> str:
    """A regression's outputs, one per target column: `--target price,price2` predicts 2 values, not the
    "1 value" this line said for any regression."""
    return f"{outputs} value" + ("" if outputs == 1 else "s")


def _example_data(start: dict[str, Any]) -> str:
    """A file the `next:` line can name for predict: the run's own data file (a built-in set's CSV, or the file
    it trained on) - a newcomer has one at hand to try it on - else DATA.csv (a set made from the seed)."""
    from tui.core.datasets import BUILTINS, data_dir

    dataset = str(start.get("dataset", ""))
    builtin = BUILTINS.get(dataset)
    if builtin is not None:
        return str(data_dir() / builtin.file) if builtin.file else "DATA.csv"
    return dataset if dataset and Path(dataset).is_file() else "DATA.csv"
