"""A run (or a spec not yet run) written out as the plain PyTorch program a tutorial reader would write.

The script imports torch, numpy and pandas only. It reads the data with the options the run
used, leaves out the same columns (saying why), applies the missing-value policy, splits with
the seed, standardises and one-hot encodes from the training rows, and trains with a
`Dataset`, a `DataLoader(shuffle=True, generator=g)`, an `nn.Sequential`, a loss, an optimizer
and a schedule in the textbook loop. Every step repeats the engine's arithmetic (float64
statistics, population std, one rounding to float32, the same generator draws), so on the CPU
it ends with the run's weights bit for bit; where the engine does something the textbook
does not (one flat optimizer buffer, chunked gathers) the script does the textbook thing.
What it cannot reproduce exactly is said in a comment at its top.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .layer_catalog import canonical
from .reader import Reading
from .spec import Spec

SCRIPT_NAME = "train.py"


@dataclass
class Export:
    """The script and what it cannot reproduce of the run (also said at its top)."""

    source: str  # the run folder or spec file it was made from
    script: str
    differs: list[str] = field(default_factory=list)


def from_run(run_dir: str | Path) -> Export:
    """The script of a run folder: its saved spec, its layers as they trained."""
    from .runs import RunFolder

    folder = RunFolder.open(run_dir)
    spec, ckpt = folder.saved_run()
    differs: list[str] = []
    layers = None
    if ckpt is not None:
        layers = [canonical(expr) for expr in ckpt["layers"]]  # (as parsed: a checkpoint's text is not code)
        for change in ckpt.get("changes") or []:
            values = ", ".join(f"{k} {v}" for k, v in change.items() if k not in ("id", "epoch", "step"))
            differs.append(f"the run was changed while training ({values} at step {change.get('step')}); "
                           "this script keeps the values it started with")
        progress = ckpt.get("progress") or {}
        if progress.get("epoch_step"):
            differs.append(f"the run was stopped inside epoch {progress.get('epoch', 0) + 1} (step "
                           f"{progress.get('step')}); this script trains every epoch to its end")
    events = folder.events()
    starts = [e for e in events if e.get("event") == "start"]
    ends = [e for e in events[max((i for i, e in enumerate(events) if e.get("event") == "start"), default=0):]
            if e.get("event") == "end" and e.get("status") in ("done", "early_stopped")]
    done = int((ckpt.get("progress") or {}).get("epoch", 0)) if ckpt is not None else 0
    total = int(starts[-1].get("epochs") or spec.train.epochs) if starts else spec.train.epochs
    if starts and not ends and done < total:  # said as bit for bit, and the script trained all the epochs
        differs.append(f"the run has not finished: it stopped after epoch {done} of its {total} (`torchtui resume "
                       f"{folder.path}` trains the rest); this script trains all {total}, past the run's last.pt")
    for epoch in _patience_counted_afresh(events, spec.train.patience):
        differs.append(f"the run's early stopping was reached at epoch {epoch}, and a resume with --epochs trained "
                       "on, its patience counted afresh from there; this script counts it from the first epoch, so "
                       "it stops there")
    used = [str(e.get("device", "")) for e in starts]
    worlds = [int(e.get("world_size") or 1) for e in starts]  # every process of every machine (spec: this one's)
    from .preprocess import reading_of

    reading = reading_of(ckpt["preprocessing"] if ckpt is not None else None)  # its files read as the run read them
    return _export(spec, str(folder.path), layers, differs, used, reading, worlds)


def _patience_counted_afresh(events: list[dict[str, Any]], patience: int) -> list[int]:
    """The epochs where a run's patience had run out and a later resume (`--epochs N`) trained on, counting it
    afresh (job._resume): an end whose epoch is `patience` or more epochs after the best one, followed by a start."""
    found: list[int] = []
    best, since = 0, 0  # the best epoch so far; the epoch patience counts from (a reset moves it)
    ended: int | None = None
    for e in events:
        kind = e.get("event")
        if kind == "epoch" and isinstance(e.get("epoch"), int):
            if e.get("best"):
                best = e["epoch"]
        elif kind == "end" and isinstance(e.get("epochs"), int):
            ended = e["epochs"]
        elif kind == "start" and ended is not None:
            if patience and ended - max(best, since) >= patience and ended not in found:
                found.append(ended)
                since = ended
            ended = None
    return found


def from_spec(spec_path: str | Path) -> Export:
    """The script of an experiment not yet run, its relative paths taken from the working directory."""
    path = Path(spec_path)
    if not path.is_file():
        raise UserError(f"{spec_path} not found; give a spec file such as exp.toml (torchtui config write exp.toml)")
    return of_spec(Spec.from_file(path), str(path))


def of_spec(spec: Spec, source: str) -> Export:
    """The script of a spec in hand (the screen's experiment), its relative paths taken from the working directory."""
    from .datasets import with_absolute_paths

    return _export(with_absolute_paths(spec), source, None, [])


def write(export: Export, path: str | Path, force: bool) -> Path:
    """The script to `path`, atomically; an existing file only with `force`."""
    from .files import refuse_existing, write_user_file

    path = Path(path)
    refuse_existing(path, force, "-o")
    return write_user_file(path, export.script.encode("utf-8"))


# ---- what the run did ---------------------------------------------------------------------------
@dataclass
class _Facts:
    """Everything the script states: the data's reading, columns, policy, split and preprocessing."""

    spec: Spec
    layers: list[str]
    loss: str
    task: str
    classes: list[Any]
    targets: list[str]
    features: list[str]
    numeric: list[str]
    one_hot: list[str]
    coerced: list[str]
    left_out: list[str]  # "column x left out: why", as the run's notes say it
    decimal: str
    threads: int
    n_val: int
    read: list[str]  # the lines that make `frame`
    helpers: list[str]  # functions the reading needs (a synthetic set's generator)
    dataset_class: str = ""  # module:Class of a user's Dataset (then no table facts)
    folds: bool = False  # a text column has more values than get an input each: the rarer share "(other)"


def _export(spec: Spec, source: str, layers: list[str] | None, differs: list[str],
            devices_used: list[str] | None = None, reading: Reading = Reading(),
            worlds: list[int] | None = None) -> Export:
    """`devices_used`: what a run's start events name (None for a spec not yet run); `reading`: the rules the run's
    model was trained under (preprocess.reading_of); `worlds`: the world size of
    each of a run's starts (None for a spec not yet run: its run.processes). A run of several processes is
    written as one process with the global batch: N processes with batch b train what one trains with N x b."""
    from . import devices, user_dataset

    processes = spec.run.processes
    world = (worlds or [0])[0] or (int(processes) if processes.isdigit() else 1)
    if world > 1:
        per_process = spec.train.batch_size
        spec = spec.with_overrides({"train.batch_size": per_process * world})
        also = (f", and resumed with {', '.join(str(w) for w in worlds[1:])}"
                if worlds and any(w != world for w in worlds) else "")
        differs.append(f"the run trained in {world} processes (DDP) with batch {per_process} each{also}; this script "
                       f"trains in one with their global batch, {per_process} x {world} = {per_process * world}: the "
                       "same model up to the order of floating-point sums (BatchNorm and Dropout differ by design)")
    elif worlds and len(set(worlds)) > 1:
        differs.append(f"the run was resumed with {max(worlds)} processes (DDP) with batch {spec.train.batch_size} "
                       "each; this script trains in one with that batch throughout")
    elif processes == "gpu" and not worlds:
        differs.append("the spec trains in one process per GPU (DDP), with --batch-size per process; this script "
                       "trains in one with BATCH_SIZE as given: multiply it by the number of GPUs to train the same "
                       "model")
    t = spec.train
    threads = t.threads or devices.use_threads(0)
    if user_dataset.is_class_path(spec.data.dataset):
        facts = _class_facts(spec, layers, threads)
    else:
        facts = _facts(spec, layers, threads, differs, reading)
    differs.extend(_device_differences(spec, devices_used))
    if t.on_nan == "skip":
        differs.append("the run skipped steps whose loss was not finite (on_nan skip); this script takes every step")
    return Export(source, _script(facts, source, differs), differs)


def _facts(spec: Spec, layers: list[str] | None, threads: int, differs: list[str],
           reading: Reading = Reading()) -> _Facts:
    from . import layers as layer_stack
    from .data import load_frame, split_table
    from .datasets import BUILTINS
    from .objective import Objective
    from .preprocess import OTHER, is_numeric

    d = spec.data
    notices: list[str] = []
    raw = load_frame(d, spec.train.seed, [], None, reading)[0]
    table = split_table(d, spec.train.seed, notices, None, reading)
    pre = table.pre
    objective = Objective.for_data(spec.train.loss, pre)
    if layers is None:
        layers = layer_stack.resolve(spec.model.layers, (pre.n_inputs,), objective.n_outputs).exprs
    coerced = [c for c in [*table.features, *table.targets] if not is_numeric(raw[c]) and is_numeric(table.frame[c])]
    # "column c left out: constant ...; name it in --features to use it", and many constant ones in one note
    # ("columns p0, p1, p2 ... (184 in all) left out: constant ...; name them ...")
    left_out = [n.split("; name ")[0] for n in notices if " left out: " in n]
    left_out += [f"column {c} left out: named by --drop" for c in d.drop]
    if d.group:
        left_out.append(f"column {d.group} left out: it names the groups of the split, not a feature")
    builtin = BUILTINS.get(d.dataset)
    read, helpers = _reading(spec, builtin, reading)
    n_val = len(table.val_frame) if table.val_rows is None else len(table.val_rows)
    return _Facts(spec, layers, objective.loss, pre.task, list(pre.classes), list(pre.targets), list(table.features),
                  [c.name for c in pre.columns if c.kind == "numeric"],
                  [c.name for c in pre.columns if c.kind != "numeric"], coerced, left_out, table.decimal, threads,
                  n_val, read, helpers, folds=any(OTHER in c.categories for c in pre.columns))


def _device_differences(spec: Spec, devices_used: list[str] | None) -> list[str]:
    """A GPU rounds differently from the CPU, and so do bf16 and fp16 anywhere; tf32 touches CUDA only."""
    t = spec.train
    if devices_used is not None:
        gpus = [d.split(" (")[0] for d in devices_used if not d.startswith("cpu")]
        where, verb = (gpus[0] if gpus else "cpu"), "trained"
    else:
        import torch

        where = t.device if t.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        verb = "is set to train"
    precision = f" in {t.precision}" if t.precision != "fp32" else ""
    if where != "cpu":
        return [f"the run {verb} on {where}{precision}; this script trains on the CPU in fp32, which rounds "
                "differently"]
    if t.precision in ("bf16", "fp16"):
        return [f"the run {verb} in {t.precision}; this script trains in fp32"]
    return []


def _class_facts(spec: Spec, layers: list[str] | None, threads: int) -> _Facts:
    """A user's Dataset class: its task and classes from its targets (user_dataset.describe)."""
    from . import layers as layer_stack
    from .data import prepare
    from .objective import Objective

    data = prepare(spec.data, spec.train.seed)
    pre = data.pre
    objective = Objective.for_data(spec.train.loss, pre)
    if layers is None:
        layers = layer_stack.resolve(spec.model.layers, data.input_shape, objective.n_outputs).exprs
    return _Facts(spec, layers, objective.loss, pre.task, list(pre.classes), list(pre.targets), [], [], [], [], [],
                  ".", threads, len(data.x_val), [], ["DATA = None  # your Dataset class makes it"],
                  dataset_class=spec.data.dataset)


def _class_data_block(f: _Facts, add: Any) -> None:
    d = f.spec.data
    module, name = f.dataset_class.split(":")
    add(_heading("1. Your Dataset, as the run built it"))
    add("# (run this script from the folder that holds your module, as the run was)")
    add("sys.path.insert(0, os.getcwd())")
    add(f"from {module} import {name}  # noqa: E402")
    add("")
    args = ", ".join(repr(_literal(a)) for a in d.dataset_args)
    add(f"dataset = {name}({args})")
    add("")
    add(_heading("2. Split the items, with the seed"))
    n_val = f"int(round(len(dataset) * {d.val_split!r}))"
    add(f"n_val = max(1, {n_val})" if d.val_split > 0 else f"n_val = {n_val}")
    add("is_val = np.zeros(len(dataset), dtype=bool)")
    add("is_val[np.random.default_rng(SEED).permutation(len(dataset))[:n_val]] = True")
    add("train_set = Subset(dataset, np.flatnonzero(~is_val).tolist())")
    add("val_set = Subset(dataset, np.flatnonzero(is_val).tolist())")
    if f.task == "classification":
        add(f"CLASSES = {f.classes!r}  # y is the class index")
    add("")
    add("")


def _reading(spec: Spec, builtin: Any, reading: Reading = Reading()) -> tuple[list[str], list[str]]:
    """(lines that read the table into `frame`, helper functions and constants they use). With a --val file
    its rows are put below the table's, marked: the training rows alone fit the preprocessing (section 6)."""
    lines, helpers = _reading_table(spec, builtin, reading)
    if spec.data.val:
        lines += ["", "# the validation rows: a file of their own, read the same way (the format found in it)"]
        lines += _read_file(Path(spec.data.val), spec, "val_frame", "args.val", reading)
        lines.append("frame = pd.concat([frame.assign(from_val_file=False), val_frame.assign(from_val_file=True)], "
                     "ignore_index=True)")
        helpers.append(f"VAL = {spec.data.val!r}")
    if any("as_duration(" in line for line in lines):  # the reader's own reading of a duration, copied
        from .durations import as_duration

        helpers.append(inspect.getsource(as_duration).rstrip())
    return lines, helpers


def _reading_table(spec: Spec, builtin: Any, reading: Reading = Reading()) -> tuple[list[str], list[str]]:
    from .datasets import data_dir

    if builtin is not None and builtin.file is not None:
        path = data_dir() / builtin.file
        return [f"# the built-in dataset {builtin.name}: {builtin.description}, a CSV shipped with torchtui",
                "frame = pd.read_csv(args.data)"], [f"DATA = {str(path)!r}"]
    if builtin is not None:
        from . import synthetic

        make = getattr(synthetic, builtin.generate)
        helpers = [inspect.getsource(make).rstrip(), inspect.getsource(synthetic._frame).rstrip()]
        return [f"# the built-in dataset {builtin.name} ({builtin.description}), made from the seed as torchtui does",
                f"frame = {make.__name__}(SEED)"], ["DATA = None  # made below, not read", *helpers]
    path = Path(spec.data.dataset)
    return _read_file(path, spec, "frame", "args.data", reading), [f"DATA = {str(path)!r}"]


def _read_file(path: Path, spec: Spec, name: str, arg: str, reading: Reading = Reading()) -> list[str]:
    """The pandas call that reads `path` as the run's reader did (reader.py), into `name`."""
    from .data import read_options
    from .durations import unit_of
    from .reader import (
        CURRENCIES,
        csv_options,
        empty_but_words,
        json_lines,
        read_table,
        sniff,
        thousands_marks,
        unit_pattern,
    )

    try:  # the whole table read: what it found (numbers written for people, JSON objects) is in its format
        fmt = read_table(path, read_options(spec.data, reading))[1]
    except UserError:  # a file that no longer reads whole: the format sniffed from its start (or the refusal)
        fmt = sniff(path, read_options(spec.data))
    lines = textwrap.wrap(_said(f"read as the run read it: {fmt.describe()}"), 98, initial_indent="# ",
                          subsequent_indent="# ")
    if fmt.kind == "parquet":
        lines.append(f"{name} = pd.read_parquet({arg})")
    elif fmt.kind == "json":
        text = ""
        if fmt.text_columns:
            lines.append("# dtype: the classes are whole numbers written with leading zeros (\"001\"), read as written")
            text = ", dtype={" + ", ".join(f"{c!r}: str" for c in fmt.text_columns) + "}"
        shape = f", orient={fmt.orient!r}" if fmt.orient else ""  # (one object, as pandas' to_json writes it so)
        lines.append(f"{name} = pd.read_json({arg}, lines={json_lines(path)}, "
                     f"compression={fmt.compression or 'infer'!r}{shape}{text})")
        for c in fmt.objects:  # as reader._flat: an object's fields are columns of their own
            lines += [f"# column {_said(c)} holds objects: their fields are columns of their own, named "
                      f"{_said(c)}.FIELD",
                      f"at, fields = list({name}.columns).index({c!r}), pd.json_normalize(",
                      f"    [v if isinstance(v, dict) else {{}} for v in {name}[{c!r}]]).add_prefix({c + '.'!r})",
                      f"fields.index = {name}.index",
                      f"{name} = pd.concat([{name}.iloc[:, :at], fields, {name}.iloc[:, at + 1:]], axis=1)"]
        if fmt.lists:
            lines.append("import json  # (for the columns of lists below)")
        for c in fmt.lists:
            lines += [f"# column {_said(c)} holds lists: each is read as its JSON text",
                      f"{name}[{c!r}] = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in {name}[{c!r}]]"]
    else:
        def arguments(options: dict[str, Any]) -> str:
            def value(v: Any) -> str:
                if isinstance(v, dict):  # dtype: the columns read as text, {place: str}
                    return "{" + ", ".join(f"{k!r}: {value(t)}" for k, t in v.items()) + "}"
                return "str" if v is str else repr(v)

            return ", ".join(f"{k}={value(v)}" for k, v in options.items())

        options = arguments(csv_options(path, fmt))
        if fmt.text_fields:
            lines.append("# dtype: the classes are whole numbers written with leading zeros (001), read as written")
        if not fmt.words_read:
            lines.append(f"{name} = pd.read_csv({arg}, {options})")
        else:  # as reader._words_kept
            lines += [f"# 'NA' and 'None' in a column of words are words: read as text ({name}_own below is "
                      "pandas' own reading, for the columns where they are empty)",
                      f"{name} = pd.read_csv({arg}, {options}, keep_default_na=False,",
                      f"                    na_values={empty_but_words()!r})"]
            if fmt.pandas_columns:
                lines += [f"{name}_own = pd.read_csv({arg}, {options})",
                          f"for at in {fmt.pandas_columns}:  # numbers, true/false, or R's NA among quoted text",
                          f"    {name}[{name}.columns[at]] = {name}_own.iloc[:, at].to_numpy()"]
            if fmt.quoted_na:  # as reader._quoted_na_cells
                lines += ["# R's write.csv: \"NA\" in quotes is the text NA, a bare NA a missing value (read again "
                          "with the quotes kept to tell them apart)",
                          f"{name}_quoted = pd.read_csv({arg}, {options}, dtype=str, quoting=3, "
                          f"keep_default_na=False, na_values=[], usecols={fmt.quoted_na})",
                          f"for k, at in enumerate({fmt.quoted_na}):",
                          f"    {name}[{name}.columns[at]] = {name}.iloc[:, at].mask("
                          f"{name}_quoted.iloc[:, k].astype(str).str.strip().eq('\"NA\"').to_numpy(), 'NA')"]
        if fmt.row_end == "all":
            lines.append(f"{name} = {name}.iloc[:, :-1]  # every line ends with a separator: no last column")
        if fmt.empty_tail:  # as reader._without_empty_columns_at_the_end
            lines.append(f"{name} = {name}.iloc[:, :-{fmt.empty_tail}]  # a spreadsheet's empty columns at the end")
        if not fmt.header:
            lines.append(f'{name}.columns = [f"col{{i + 1}}" for i in range({name}.shape[1])]  # no header line')
    lines.append(f"{name}.columns = [str(c).strip() for c in {name}.columns]")
    if fmt.kind == "csv" and fmt.quoted_names:  # as reader.column_name: 'vote' is the column vote
        lines.append(f"{name}.columns = [c[1:-1].strip() if len(c) > 1 and c[0] == c[-1] and c[0] in \"'\\\"\" else c "
                     f"for c in {name}.columns]")
    if fmt.kind == "csv" and fmt.row_names:  # the header named every column but the row names: pandas' index
        lines.append(f"{name} = {name}.reset_index(drop=True)")
    for c in fmt.marked:  # as reader._question_marks
        lines += [f"# column {_said(c)}: a cell that is only '?' is the mark of a missing value: empty",
                  f"{name}[{c!r}] = {name}[{c!r}].mask({name}[{c!r}].astype(str).str.strip() == '?')"]
    for c in fmt.formatted:  # as reader._formatted_numbers: signs and thousands marks dropped, decimal mark "."
        mark = fmt.column_marks.get(c, fmt.decimal)  # (a column of decimal commas in a file of decimal dots)
        signed = (".str.replace('\\u2212', '-', regex=False).str.replace(r'^\\((.*)\\)$', r'-\\1', regex=True)"
                  ".str.replace(r'^(.*\\d)-$', r'-\\1', regex=True)"
                  if c in fmt.signed else "")  # the minus sign U+2212, (1,067.49) for -1,067.49, SAP's 2.583,07-
        zeros = (f".str.strip().str.replace(r'^[{CURRENCIES}]\\s*-+$|^-+\\s*[{CURRENCIES}]$', '0', regex=True)"
                 if c in fmt.zeros else "")  # the accounting format's zero, '$ -'; a dash alone is empty
        unit = f".str.replace({unit_pattern(fmt.units[c])!r}, '', regex=True)" if c in fmt.units else ""  # '190 cm'
        lines += [f"# column {_said(c)}: numbers written for people ($4,791.31, 95.6%"
                  + (f", {fmt.units[c]!r} after each" if c in fmt.units else "") + "), read as numbers"
                  + (f" (decimal mark {mark!r})" if mark != fmt.decimal else ""),
                  f"{name}[{c!r}] = pd.to_numeric({name}[{c!r}].astype(str){zeros}{unit}"
                  f".str.replace(r'Rs\\.?|[{CURRENCIES}%\\s]', '', regex=True)"
                  f".str.replace({thousands_marks(mark)!r}, '', regex=True)"
                  f".str.replace({mark!r}, '.', regex=False).str.strip(){signed}, errors='coerce')"]
    for c, form in fmt.durations.items():  # as reader._durations
        lines += [f"# column {_said(c)}: durations or clock times ({form}), read as numbers in {unit_of(form)}",
                  f"{name}[{c!r}] = as_duration({name}[{c!r}], {form!r})"]
    return lines


# ---- the script ---------------------------------------------------------------------------------
def _script(f: _Facts, source: str, differs: list[str]) -> str:
    t, d = f.spec.train, f.spec.data
    out: list[str] = []
    add = out.append
    data, made_from = _in_docstring(_short(d.dataset)), _in_docstring(_short(source))
    add(f'"""Train {data} in plain PyTorch, as torchtui did ({made_from}).')
    add("")
    needs = "torch and numpy, and your Dataset's module" if f.dataset_class else "torch, numpy and pandas only"
    add(f"Exported by `torchtui export`: it needs {needs}. Run it with `python train.py`;")
    add("on the CPU it ends with the same weights as the run, bit for bit (same torch version)." if not differs else
        "It cannot end with the run's weights bit for bit: see NOT EXACT below.")
    add('"""')
    if differs:
        add("")
        add("# NOT EXACT: this script cannot reproduce the run bit for bit, because")
        for line in differs:
            add("\n".join(textwrap.wrap(_said(line), 114, initial_indent="# - ", subsequent_indent="#   ")))
    add("")
    add("import argparse")
    add("import math")
    if f.dataset_class:
        add("import os")
        add("import sys")
    add("")
    add("import numpy as np")
    if not f.dataset_class:
        add("import pandas as pd")
    add("import torch")
    add("from torch import nn")
    add("from torch.utils.data import DataLoader, Subset" if f.dataset_class
        else "from torch.utils.data import DataLoader, Dataset")
    add("")
    helpers = [h for h in f.helpers if not h.startswith(("DATA =", "VAL ="))]
    val_line = next((h for h in f.helpers if h.startswith("VAL =")), "")
    data_line = next(h for h in f.helpers if h.startswith("DATA ="))
    add(f"SEED = {t.seed}  # the split, the initial weights and the batch order all come from it")
    add(f"BATCH_SIZE = {t.batch_size}")
    add(f"EPOCHS = {t.epochs}")
    add(f"LEARNING_RATE = {t.lr!r}")
    if t.patience:
        add(f"PATIENCE = {t.patience}  # early stopping: epochs without a better validation loss")
    add(data_line)
    if val_line:
        add(val_line)
    add("")
    add('parser = argparse.ArgumentParser(description="Train the model of a torchtui run.")')
    if not data_line.startswith("DATA = None"):
        add('parser.add_argument("--data", default=DATA, help="the data file")')
    if val_line:
        add('parser.add_argument("--val", default=VAL, help="the validation file")')
    add('parser.add_argument("--out", default="model.pt", help="where the final weights go")')
    add('parser.add_argument("--best", default="best_model.pt", help="where the best epoch\'s weights go")')
    add('parser.add_argument("--weights", help="start from these weights: a .safetensors file (torchtui export '
        '--weights)")')
    add("args = parser.parse_args()")
    add("")
    add("# The run computed with this many CPU threads: a sum split over another number of threads can round")
    add("# differently, so the same count gives the same bits.")
    add(f"torch.set_num_threads({f.threads})")
    for h in helpers:
        add("")
        add("")
        add(h)
    if helpers:
        add("")
    add("")
    if f.dataset_class:
        _class_data_block(f, add)
    else:
        _data_block(f, add)
    _training_block(f, add)
    return "\n".join(out) + "\n"


def _data_block(f: _Facts, add: Any) -> None:
    from .preprocess import MAX_LEVELS, OTHER

    d = f.spec.data
    add(_heading("1. Read the table"))
    for line in f.read:
        add(line)
    add("")
    add(_heading("2. Choose the columns"))
    for line in f.left_out:
        add("\n".join(textwrap.wrap(_said(line), 116, initial_indent="# ", subsequent_indent="#   ")))
    add(f"TARGETS = {f.targets!r}" if len(f.targets) > 1 else f"TARGET = {f.targets[0]!r}")
    add(f"FEATURES = {f.features!r}")
    add(f"ONE_HOT = {f.one_hot!r}  # text columns: one input per value" if f.one_hot
        else "ONE_HOT = []  # no text columns: every feature is a number")
    for c in f.coerced:
        add(f"# {_said(c)} is numbers with a few cells that are not ('?', 'n/a'): those count as empty")
        if f.decimal == ",":
            add(f"commas = frame[{c!r}].astype(str).str.replace(',', '.', regex=False)")
            add(f"frame[{c!r}] = pd.to_numeric(commas, errors=\"coerce\").where(frame[{c!r}].notna())")
        else:
            add(f"frame[{c!r}] = pd.to_numeric(frame[{c!r}], errors=\"coerce\")")
    targets = "TARGETS" if len(f.targets) > 1 else "[TARGET]"
    add("")
    add(_heading("3. Missing values"))
    add("# rows with no value in any cell (a spreadsheet's empty lines, ',,,') are no examples: left out")
    if d.val:  # (the column saying which file a row came from always holds a value)
        add("frame = frame.dropna(how=\"all\", subset=[c for c in frame.columns if c != \"from_val_file\"])"
            ".reset_index(drop=True)")
    else:
        add("frame = frame.dropna(how=\"all\").reset_index(drop=True)")
    if d.missing == "drop":
        add("# --missing drop: rows with an empty cell in a feature or the target are left out")
        add(f"frame = frame.replace([np.inf, -np.inf], np.nan).dropna(subset=FEATURES + {targets})"
            ".reset_index(drop=True)")
    elif d.missing == "impute":
        add("# --missing impute: rows without a target are left out; empty feature cells are filled below from the")
        add("# training rows (a number column with its median, a text column with the value '(missing)')")
        add(f"frame = frame.dropna(subset={targets}).reset_index(drop=True)")
    else:
        add("# --missing error: the run refused empty cells; a file that has some is refused here too")
        add(f"empty = frame[FEATURES + {targets}].isna().any(axis=1)")
        add("if empty.any():")
        add("    raise SystemExit(f\"{args.data}: {int(empty.sum())} row(s) with an empty cell or no number where one "
            "belongs (first: data row {int(empty.to_numpy().argmax()) + 1}); the run refused such cells\")")
    add("")
    add(_heading("4. The targets"))
    if f.task == "classification":
        labels = "frame[TARGET].astype(str)" if all(isinstance(c, str) for c in f.classes) else "frame[TARGET]"
        add(f"CLASSES = {f.classes!r}  # output i of the model scores CLASSES[i]")
        add(f"y_all = {labels}.map({{c: i for i, c in enumerate(CLASSES)}}).to_numpy(dtype=np.int64)")
    else:
        add("# regression: the model learns standardised targets (mean and std of the training rows)")
        add(f"y_columns = [frame[t].to_numpy(dtype=np.float64) for t in {targets}]")
    add("")
    add(_heading("5. Training and validation rows" if d.val else "5. Split the rows, with the seed"))
    n_val_expr = f"int(round(len(frame) * {d.val_split!r}))"
    if d.val:
        add("# the training rows are the table's, the validation rows the --val file's")
        add("train_rows = np.flatnonzero(~frame['from_val_file'].to_numpy())")
        add("val_rows = np.flatnonzero(frame['from_val_file'].to_numpy())")
    elif d.group:
        add(f"# by group: every row of a {_said(d.group)} value is on the same side; whole groups, drawn with the "
            "seed, go to")
        add("# validation until they hold its share of the rows (at least one group stays for training)")
        add(f"groups = frame[{d.group!r}].astype('string').fillna('(missing)')  # an empty cell: the group '(missing)'")
        add("names, group_of, sizes = np.unique(groups.to_numpy(dtype=object).astype(str), return_inverse=True, "
            "return_counts=True)")
        add("chosen, count = [], 0")
        add("for group in np.random.default_rng(SEED).permutation(len(names)):")
        add(f"    if count >= {d.val_split!r} * len(frame) or len(chosen) == len(names) - 1:")
        add("        break")
        add("    chosen.append(group)")
        add("    count += sizes[group]")
        add("in_val = np.isin(group_of, chosen)")
        add("train_rows, val_rows = np.nonzero(~in_val)[0], np.nonzero(in_val)[0]")
    elif d.stratify and f.task == "classification":
        add("# stratified: each class gives its share of rows to validation")
        add("rng = np.random.default_rng(SEED)")
        add("keys = frame[TARGET].astype(str).to_numpy()")
        add("val = []")
        add("for k in sorted(set(keys)):")
        add("    rows = np.nonzero(keys == k)[0]")
        add(f"    take = int(round(len(rows) * {d.val_split!r}))")
        if d.val_split > 0:
            add("    if len(rows) > 1:")
            add("        take = max(1, min(take, len(rows) - 1))")
        add("    val.extend(rng.permutation(rows)[:take].tolist())")
        add("val_rows = np.sort(np.array(val, dtype=np.int64))")
        add("train_rows = np.setdiff1d(np.arange(len(keys)), val_rows)")
    else:
        add(f"# a random {d.val_split:.0%} of the rows (at least one) is held out for validation")
        add(f"n_val = max(1, {n_val_expr})" if d.val_split > 0 else f"n_val = {n_val_expr}")
        add("is_val = np.zeros(len(frame), dtype=bool)")
        add("is_val[np.random.default_rng(SEED).permutation(len(frame))[:n_val]] = True")
        add("train_rows, val_rows = np.flatnonzero(~is_val), np.flatnonzero(is_val)")
    add("")
    add(_heading("6. Inputs: standardised numbers and one-hot text, fitted on the training rows only"))
    add("# Statistics in float64 (population std; 1 for a constant column), rounded to float32 once at the end.")
    add("inputs = []")
    add("for name in FEATURES:")
    add("    if name in ONE_HOT:")
    if d.missing == "impute":
        add("        labels = frame[name].astype(str).where(frame[name].notna(), '(missing)')")
    else:
        add("        labels = frame[name].astype(str)")
    if f.folds:
        add("        seen = labels.iloc[train_rows].value_counts()  # the values seen in training, most frequent first")
        add("        values = sorted(seen.index)")
        add(f"        if len(values) > {MAX_LEVELS}:  # the {MAX_LEVELS - 1} most frequent get an input each, "
            f"the rarer share {OTHER!r}")
        add(f"            values = sorted(seen.index[:{MAX_LEVELS - 1}]) + [{OTHER!r}]")
        add(f"            labels = labels.where(labels.isin(values), {OTHER!r})")
        add("        for value in values:")
    else:
        add("        for value in sorted(labels.iloc[train_rows].unique()):  # values seen in training")
    add("            inputs.append((labels == value).to_numpy(dtype=np.float32))")
    add("        continue")
    add("    values = frame[name].to_numpy(dtype=np.float64)")
    add("    known = values[train_rows]")
    add("    known = known[np.isfinite(known)]")
    add("    mean = known.mean()")
    add("    std = math.sqrt(((known - mean) ** 2).sum() / len(known))")
    if d.missing == "impute":
        add("    values = np.where(np.isfinite(values), values, np.median(known))  # empty cells: the training median")
    add("    inputs.append(((values - mean) / (std if std > 0 else 1.0)).astype(np.float32))")
    add("x_all = np.column_stack(inputs)")
    if f.task != "classification":
        if d.standardize_target:
            add("scaled = []")
            add("for values in y_columns:  # each target standardised with its training rows' mean and std")
            add("    mean, std = values[train_rows].mean(), values[train_rows].std()")
            add("    scaled.append((values - mean) / (std if std > 0 else 1.0))")
            add("y_all = np.column_stack(scaled).astype(np.float32)")
        else:
            add("y_all = np.column_stack(y_columns).astype(np.float32)  # --no-standardize-target: as they are")
    add("x_train, y_train = torch.from_numpy(x_all[train_rows]), torch.from_numpy(y_all[train_rows])")
    add("x_val, y_val = torch.from_numpy(x_all[val_rows]), torch.from_numpy(y_all[val_rows])")
    if f.loss == "BCEWithLogits":
        if len(f.classes) == 2:
            add("# BCEWithLogits on two classes: one logit, the target a 0/1 column")
            add("y_train, y_val = y_train.float().unsqueeze(1), y_val.float().unsqueeze(1)")
        else:
            add("# BCEWithLogits: one logit per class, the target one-hot rows")
            add("y_train = nn.functional.one_hot(y_train, len(CLASSES)).float()")
            add("y_val = nn.functional.one_hot(y_val, len(CLASSES)).float()")
    add('print(f"{len(x_train)} training rows, {len(x_val)} validation rows, {x_train.shape[1]} inputs")')
    add("")
    add("")


def _training_block(f: _Facts, add: Any) -> None:
    t = f.spec.train
    own = bool(f.dataset_class)  # a user's Dataset: its subsets through the loaders, its y made the loss's form
    train_set, val_set = ("train_set", "val_set") if own else ("TableDataset(x_train, y_train)",
                                                                "TableDataset(x_val, y_val)")
    n_train, n_val = ("len(train_set)", "len(val_set)") if own else ("len(x_train)", "len(x_val)")
    workers = f", num_workers={f.spec.data.workers}" if own and f.spec.data.workers else ""
    if own:
        add(_heading("3. DataLoaders"))
    else:
        _table_dataset(add)
    add("g = torch.Generator()")
    add("g.manual_seed(SEED)  # the batch order: shuffled anew each epoch, the same each time the script runs")
    add(f"train_loader = DataLoader({train_set}, BATCH_SIZE, shuffle=True, generator=g{workers})")
    validating = f.n_val > 0
    if validating:
        add("# (each pass over a DataLoader draws one number from torch's global generator, which Dropout draws from")
        add("# too: the run did the same, so the masks are the same)")
        add(f"val_loader = DataLoader({val_set}, {max(t.batch_size, 1024)}, shuffle=False{workers})")
    _model_and_loop(f, add, validating, n_train, n_val)


def _table_dataset(add: Any) -> None:
    add(_heading("7. Dataset and DataLoader"))
    add("class TableDataset(Dataset):")
    add('    """One row of inputs and its target per item."""')
    add("")
    add("    def __init__(self, x, y):")
    add("        self.x, self.y = x, y")
    add("")
    add("    def __getitem__(self, index):")
    add("        return self.x[index], self.y[index]")
    add("")
    add("    def __len__(self):")
    add("        return len(self.x)")
    add("")
    add("")


def _targets_lines(f: _Facts, indent: str) -> list[str]:
    """A user's Dataset's y in the form the loss takes (class indices, or values per row), in the loop."""
    if not f.dataset_class:
        return []
    if f.task == "classification":
        lines = ["y = y.reshape(len(y)).long()  # (an index of shape (1,) per item, as a bare one)"]
        if f.loss == "BCEWithLogits":
            lines.append("y = y.float().unsqueeze(1)" if len(f.classes) == 2
                         else "y = nn.functional.one_hot(y, len(CLASSES)).float()")
    else:
        lines = ["y = y.reshape(len(y), -1).float()"]
    return [indent + line for line in lines]


def _model_and_loop(f: _Facts, add: Any, validating: bool, n_train: str, n_val: str) -> None:
    t = f.spec.train
    add("")
    add(_heading("8. The model, layer by layer"))
    add("device = torch.device(\"cpu\")  # \"cuda\" works too, but only the CPU gives the run's exact bits")
    add("torch.manual_seed(SEED)  # the initial weights")
    add("model = nn.Sequential(")
    for expr in f.layers:
        add(f"    nn.{expr},")
    add(").to(device)")
    add("")
    add(_heading("9. Loss, optimizer and learning-rate schedule"))
    add(f"criterion = nn.{f.loss}Loss()")
    add(f"optimizer = {_optimizer(f.spec)}")
    schedule = _scheduler(f.spec)
    per_batch = t.scheduler == "onecycle"
    if schedule:
        add(f"scheduler = {schedule}")
    add("")
    _weights_block(f, add, validating, n_val)
    add(_heading("10. Train and validate"))
    add("best_loss, best_epoch, bad_epochs = math.inf, 0, 0" if t.patience else "best_loss, best_epoch = math.inf, 0")
    add("for epoch in range(1, EPOCHS + 1):")
    add("    model.train()  # training mode: Dropout drops, BatchNorm uses the batch's statistics")
    add("    train_loss_sum = torch.zeros(())")
    add("    for x, y in train_loader:")
    add("        x, y = x.to(device), y.to(device)")
    for line in _targets_lines(f, "        "):
        add(line)
    add("        optimizer.zero_grad()")
    add("        loss = criterion(model(x), y)")
    add("        loss.backward()")
    if t.grad_clip:
        add(f"        nn.utils.clip_grad_norm_(model.parameters(), {t.grad_clip!r})  # cap the gradient's norm")
    add("        optimizer.step()")
    if per_batch:
        add("        scheduler.step()  # one-cycle: a new rate every batch")
    add("        train_loss_sum.add_(loss.detach(), alpha=len(x))  # the epoch's loss, summed in float32")
    add(f"    train_loss = float(train_loss_sum) / {n_train}")
    add("")
    if validating:
        add("    model.eval()  # evaluation mode: no dropout, BatchNorm's running statistics")
        add("    val_loss_sum = torch.zeros(())")
        add("    with torch.no_grad():  # no gradients needed to measure")
        add("        for x, y in val_loader:")
        add("            x, y = x.to(device), y.to(device)")
        for line in _targets_lines(f, "            "):
            add(line)
        add("            val_loss_sum += criterion(model(x), y) * len(x)")
        add(f"    val_loss = float(val_loss_sum) / {n_val}")
        add('    print(f"epoch {epoch}: train loss {train_loss}, validation loss {val_loss}")')
        monitor = "val_loss"
    else:
        add('    print(f"epoch {epoch}: train loss {train_loss} (no validation rows: the training loss decides)")')
        monitor = "train_loss"
    add("")
    add(f"    if {monitor} < best_loss:  # the best epoch so far: keep its weights")
    add(f"        best_loss, best_epoch = {monitor}, epoch")
    if t.patience:
        add("        bad_epochs = 0")
    add("        torch.save(model.state_dict(), args.best)")
    if t.patience:
        add("    else:")
        add("        bad_epochs += 1")
    if schedule and not per_batch:
        add(f"    scheduler.step({monitor})" if t.scheduler == "plateau" else "    scheduler.step()  # once per epoch")
    if t.patience:
        add("    if bad_epochs >= PATIENCE and epoch < EPOCHS:  # early stopping (after the last epoch: done)")
        add('        print(f"no better validation loss for {PATIENCE} epochs: stopping")')
        add("        break")
    add("")
    add(_heading("11. Save the weights"))
    add('print(f"best epoch {best_epoch} (loss {best_loss}); weights saved to {args.out}, the best to {args.best}")')
    add("torch.save(model.state_dict(), args.out)")
    add("# to load them: model.load_state_dict(torch.load(args.out, weights_only=True))")


def _weights_block(f: _Facts, add: Any, validating: bool, n_val: str) -> None:
    """--weights: saved weights in place of the seeded ones, measured on the validation rows before training.
    safetensors is imported only here, so the script needs it only when the flag is given."""
    add("if args.weights:  # saved weights (safetensors: no pickle) in place of the seeded initial ones")
    add("    from safetensors.torch import load_file  # pip install safetensors")
    add("")
    add("    model.load_state_dict(load_file(args.weights))")
    if not validating:
        add('    print(f"weights from {args.weights}")')
        add("")
        return
    add("    model.eval()")
    add("    val_loss_sum = torch.zeros(())")
    add("    with torch.no_grad():")
    add("        for x, y in val_loader:")
    add("            x, y = x.to(device), y.to(device)")
    for line in _targets_lines(f, "            "):
        add(line)
    add("            val_loss_sum += criterion(model(x), y) * len(x)")
    add(f'    print(f"weights from {{args.weights}}: validation loss {{float(val_loss_sum) / {n_val}}}")')
    add("")


def _optimizer(spec: Spec) -> str:
    t = spec.train
    parts = ["model.parameters()", "lr=LEARNING_RATE"]
    if t.optimizer in ("SGD", "RMSprop") and t.momentum:
        parts.append(f"momentum={t.momentum!r}")
    if t.optimizer == "SGD" and t.nesterov:
        parts.append("nesterov=True")
    if t.weight_decay or t.optimizer == "AdamW":  # (AdamW's own default is 0.01, not the run's 0)
        parts.append(f"weight_decay={t.weight_decay!r}")
    return f"torch.optim.{t.optimizer}({', '.join(parts)})"


def _scheduler(spec: Spec) -> str:
    t, s = spec.train, spec.train.scheduler
    lr = "torch.optim.lr_scheduler"
    if s == "step":
        return f"{lr}.StepLR(optimizer, step_size={t.step_size}, gamma={t.gamma!r})"
    if s == "cosine":
        return f"{lr}.CosineAnnealingLR(optimizer, T_max=EPOCHS)"
    if s == "onecycle":
        return (f"{lr}.OneCycleLR(\n    optimizer, max_lr=LEARNING_RATE, epochs=EPOCHS, "
                "steps_per_epoch=len(train_loader))")
    if s == "plateau":
        return f"{lr}.ReduceLROnPlateau(optimizer, factor={t.gamma!r}, patience={t.plateau_patience})"
    return ""


def _heading(title: str) -> str:
    return f"# ---- {title} ".ljust(100, "-")


def _literal(text: str) -> Any:
    """A --dataset-arg as the run passed it: a Python literal when it is one, else the text (user_dataset.py)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _said(text: Any) -> str:
    """User text (a column's name, a file's, a value) as a comment of the script may hold it: on one line, its
    control characters and line breaks written as escapes. A name is data: one with a line break in it put the
    rest of the name on a line of code of its own."""
    return repr(str(text))[1:-1]


def _in_docstring(text: str) -> str:
    """As `_said`, and no quote that could end the docstring (a file named `x\"\"\";code;\"\"\".csv`)."""
    return _said(text).replace('"', '\\"')


def _short(text: str) -> str:
    return re.sub(r"^.*/", "", text.rstrip("/"))
