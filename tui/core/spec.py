"""The experiment spec: everything that defines a run, validated in one place.

The spec is the one input of the training code path. It comes from defaults, then a TOML
file, then command-line flags (each later source overrides the earlier), and it is written
back as `spec.toml` in the run folder and as a plain dict inside every checkpoint, so a run
can be repeated, resumed or loaded into the screen from nothing else.

Validation happens here, before any data is read or any torch is imported, and every
refusal names the field's path and what would be accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

TASKS = ("auto", "classification", "regression")
MISSING = ("error", "drop", "impute")
LOSSES = ("auto", "MSE", "L1", "Huber", "CrossEntropy", "BCEWithLogits")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")
ON_NAN = ("stop", "skip")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class DataSpec:
    dataset: str = "iris"
    dataset_args: list[str] = field(default_factory=list)
    workers: int = 0
    target: str = ""
    features: list[str] = field(default_factory=list)
    task: str = "auto"
    val_split: float = 0.2
    val: str = ""
    group: str = ""
    stratify: bool = False
    drop: list[str] = field(default_factory=list)
    missing: str = "error"
    standardize_target: bool = True
    test: str = ""
    sep: str = "auto"
    header: str = "auto"
    skip_rows: int = -1
    decimal: str = "auto"
    encoding: str = "auto"


@dataclass
class ModelSpec:
    layers: list[str] = field(default_factory=lambda: ["Linear(64)", "ReLU()"])


@dataclass
class TrainSpec:
    loss: str = "auto"
    optimizer: str = "Adam"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    plateau_patience: int = 5
    batch_size: int = 16
    epochs: int = 20
    patience: int = 0
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    log_interval: float = 0.25
    save_every: int = 0
    on_nan: str = "stop"


@dataclass
class RunSpec:
    name: str = ""
    runs_dir: str = "checkpoints"


@dataclass
class Spec:
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    run: RunSpec = field(default_factory=RunSpec)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "spec") -> "Spec":
        """Build and validate a spec from nested plain data (TOML, a checkpoint, flags)."""
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected tables [data], [model], [train], [run]")
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        _refuse_unknown(raw, sections, "", source)
        parts = {}
        for f in dataclasses.fields(cls):
            section_cls = _SECTIONS[f.name]
            values = raw.get(f.name, {})
            if not isinstance(values, dict):
                raise UserError(f"{source}: {f.name} must be a table ([{f.name}]), got {values!r}")
            parts[f.name] = _build_section(section_cls, values, f.name, source)
        spec = cls(**parts)
        spec.validate()
        return spec

    def with_overrides(self, overrides: dict[str, Any]) -> "Spec":
        """Apply dotted-path overrides (`{"train.lr": 0.1}`) from flags and re-validate."""
        raw = self.to_dict()
        for path, value in overrides.items():
            if value is None:
                continue
            section, key = path.split(".", 1)
            raw[section][key] = value
        return Spec.from_dict(raw, source="flags")

    def validate(self) -> None:
        d, t = self.data, self.train
        _check(bool(d.dataset.strip()), "data.dataset", "a built-in name (see `torchtui datasets`) or a CSV path", d.dataset)
        _check(d.task in TASKS, "data.task", f"one of {', '.join(TASKS)}", d.task)
        _check(0 <= d.val_split < 1, "data.val_split", "a number >= 0 and < 1", d.val_split)
        _check(d.workers >= 0, "data.workers", "an integer >= 0 (DataLoader worker processes for a Dataset class)", d.workers)
        _check(d.missing in MISSING, "data.missing", f"one of {', '.join(MISSING)}", d.missing)
        _check(d.header in ("auto", "yes", "no"), "data.header", "auto, yes or no", d.header)
        _check(d.decimal in ("auto", ".", ","), "data.decimal", "auto, '.' or ','", d.decimal)
        _check(d.skip_rows >= -1, "data.skip_rows", "an integer >= 0 (or -1: auto)", d.skip_rows)
        _check(d.sep in ("auto", "tab", "whitespace", "\t") or len(d.sep) == 1, "data.sep",
               "auto, a single character such as ',' or ';', tab or whitespace", d.sep)
        if d.group and d.stratify:
            raise UserError("data.group and data.stratify cannot be combined; choose one way to split")
        if d.group and d.val:
            raise UserError("data.group splits the dataset itself; with a separate data.val file leave it empty")
        _check(t.loss in LOSSES, "train.loss", f"one of {', '.join(LOSSES)}", t.loss)
        _check(t.optimizer in OPTIMIZERS, "train.optimizer", f"one of {', '.join(OPTIMIZERS)}", t.optimizer)
        _check(t.lr > 0, "train.lr", "a number > 0", t.lr)
        _check(0 <= t.momentum < 1, "train.momentum", "a number >= 0 and < 1", t.momentum)
        if t.momentum and t.optimizer not in ("SGD", "RMSprop"):
            raise UserError(f"train.momentum applies to SGD and RMSprop, not {t.optimizer}; set it to 0 or change train.optimizer")
        if t.nesterov and not (t.optimizer == "SGD" and t.momentum > 0):
            raise UserError("train.nesterov needs train.optimizer = SGD with train.momentum > 0")
        _check(t.weight_decay >= 0, "train.weight_decay", "a number >= 0", t.weight_decay)
        _check(t.scheduler in SCHEDULERS, "train.scheduler", f"one of {', '.join(SCHEDULERS)}", t.scheduler)
        _check(t.step_size >= 1, "train.step_size", "an integer >= 1", t.step_size)
        _check(t.plateau_patience >= 0, "train.plateau_patience", "an integer >= 0", t.plateau_patience)
        _check(0 < t.gamma <= 1, "train.gamma", "a number > 0 and <= 1", t.gamma)
        _check(t.batch_size >= 1, "train.batch_size", "an integer >= 1", t.batch_size)
        _check(t.epochs >= 1, "train.epochs", "an integer >= 1", t.epochs)
        _check(t.patience >= 0, "train.patience", "an integer >= 0 (0 turns early stopping off)", t.patience)
        _check(t.grad_clip >= 0, "train.grad_clip", "a number >= 0 (0 turns clipping off)", t.grad_clip)
        _check(0 <= t.seed < 2**63, "train.seed", "an integer >= 0 and < 2**63", t.seed)
        _check(bool(_DEVICE_RE.match(t.device)), "train.device", "auto, cpu, cuda, cuda:N or mps", t.device)
        _check(t.log_interval > 0, "train.log_interval", "a number of seconds > 0", t.log_interval)
        _check(t.on_nan in ON_NAN, "train.on_nan", "stop or skip", t.on_nan)
        _check(t.save_every >= 0, "train.save_every", "an integer >= 0 (steps between mid-epoch checkpoints; 0: off)", t.save_every)
        name = self.run.name
        _check(name == "" or (re.fullmatch(r"[\w.\-]+", name) is not None and name not in (".", "..")),
               "run.name", "letters, digits, '.', '-' or '_' (it names a folder)", name)
        _check(bool(self.run.runs_dir.strip()), "run.runs_dir", "a folder path", self.run.runs_dir)

    def to_toml(self, comments: bool = False) -> str:
        """TOML text that `from_toml` reads back to an equal spec."""
        lines: list[str] = []
        for section in dataclasses.fields(self):
            if lines:
                lines.append("")
            lines.append(f"[{section.name}]")
            obj = getattr(self, section.name)
            for f in dataclasses.fields(obj):
                if comments and f.name in _HELP:
                    lines.append(f"# {_HELP[f.name]}")
                lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, source: str = "spec.toml") -> "Spec":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{source} is not valid TOML: {e}; fix the line it names") from None
        return cls.from_dict(raw, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Spec":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"config file {p} not found; check the path or write one with `torchtui config write {p}`") from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read config file {p}: {e}") from None
        return cls.from_toml(text, source=str(p))


_SECTIONS = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec, "run": RunSpec}

_HELP = {
    "dataset": "built-in name (`torchtui datasets`), a data file, or your Dataset class as module:Class",
    "dataset_args": "arguments for your Dataset class, e.g. [\"data/train.csv\"]",
    "workers": "DataLoader worker processes for a Dataset class",
    "target": "target column; empty = the last column; several, comma-separated, for regression",
    "features": "feature columns; empty = every column but the target",
    "task": "auto | classification | regression (auto: strings or few integer values -> classification)",
    "val_split": "fraction of rows held out for validation, drawn with train.seed",
    "val": "optional separate validation file (then val_split is not used)",
    "group": "column whose rows stay together: a group is never split between training and validation",
    "stratify": "classification: keep each class's share in both splits",
    "drop": "columns to leave out",
    "missing": "empty cells: error (say where) | drop (the rows) | impute (training median; a '(missing)' category)",
    "sep": "auto | ',' | ';' | tab | whitespace | any single character",
    "header": "auto | yes | no: is the first table line a header",
    "skip_rows": "lines above the table to skip; -1 = auto (metadata lines are detected)",
    "decimal": "auto | '.' | ','",
    "encoding": "auto (UTF-8 with or without BOM, else cp1252) or a Python encoding name",
    "standardize_target": "regression: train on the standardised target; metrics and predictions stay in its units",
    "test": "optional CSV without targets; predictions of the best model go to the run folder",
    "layers": "the layer stack, PyTorch-like; input sizes are inferred, the output layer is added when missing",
    "loss": "auto | MSE | L1 | Huber | CrossEntropy | BCEWithLogits (auto: CrossEntropy or MSE by task)",
    "optimizer": "SGD | Adam | AdamW | RMSprop",
    "lr": "learning rate",
    "momentum": "SGD and RMSprop only",
    "nesterov": "SGD with momentum > 0 only",
    "weight_decay": "L2 penalty (decoupled for AdamW)",
    "scheduler": "none | step | cosine | onecycle | plateau",
    "step_size": "step: epochs between decays",
    "gamma": "step: decay factor; plateau: factor on a plateau",
    "plateau_patience": "plateau: epochs without a better validation loss before the learning rate drops",
    "batch_size": "samples per step",
    "epochs": "passes over the training split",
    "patience": "early stopping: epochs without a better validation loss; 0 = off",
    "grad_clip": "clip the gradient norm to this value; 0 = off",
    "seed": "seeds the split, the weights and the batch order: same seed, same weights",
    "device": "auto | cpu | cuda | cuda:N | mps (auto picks a GPU when there is one)",
    "log_interval": "seconds between logged training steps",
    "save_every": "also save last.pt every N steps inside an epoch (exact resume from there); 0 = at epoch ends only",
    "on_nan": "a step with a NaN / inf loss: stop (the run, as diverged) | skip (that step, counted; checks every step, slower on a GPU)",
    "name": "run folder name; empty = <dataset>-<date>-<time>",
    "runs_dir": "where run folders are written",
}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _refuse_unknown(raw: dict, known: dict, prefix: str, source: str) -> None:
    for key in raw:
        if key not in known:
            where = f"{prefix}{key}"
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"known keys: {', '.join(prefix + k for k in known)}"
            raise UserError(f"{source}: unknown key {where}; {hint}")


def _build_section(section_cls: type, values: dict, name: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    _refuse_unknown(values, fields, f"{name}.", source)
    defaults = section_cls()
    kwargs = {}
    for key, f in fields.items():
        value = values.get(key, getattr(defaults, key))
        kwargs[key] = _coerce(value, getattr(defaults, key), f"{name}.{key}", source)
    return section_cls(**kwargs)


_CANONICAL = {
    "train.loss": {v.lower().replace("_", ""): v for v in LOSSES}
    | {"mseloss": "MSE", "l1loss": "L1", "huberloss": "Huber", "crossentropyloss": "CrossEntropy",
       "bcewithlogitsloss": "BCEWithLogits", "ce": "CrossEntropy", "bce": "BCEWithLogits"},
    "train.optimizer": {v.lower(): v for v in OPTIMIZERS},
    "train.scheduler": {v: v for v in SCHEDULERS} | {"one-cycle": "onecycle", "one_cycle": "onecycle",
                                                     "reduce-on-plateau": "plateau", "reduceonplateau": "plateau"},
    "data.task": {v: v for v in TASKS},
}


def _coerce(value: Any, default: Any, path: str, source: str) -> Any:
    """Accept the value when it has the field's type; names are matched case-insensitively."""
    where = path if source in ("spec", "flags") else f"{source}: {path}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise UserError(f"{where} must be true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise UserError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"{where} must be a finite number, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        table = _CANONICAL.get(path)
        if table is not None:
            key = value.strip().lower().replace("_", "") if path == "train.loss" else value.strip().lower()
            return table.get(key, value)
        return value.strip()
    if isinstance(default, list):
        if isinstance(value, str):  # "a, b" from a flag, or one layer expression string
            return split_top_level(value)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise UserError(f"{where} must be a list of strings, got {value!r}")
        return [x.strip() for x in value if x.strip()]
    raise TypeError(path)


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets: 'Linear(64), Unflatten(1, (1, 8, 8))'."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _check(ok: bool, path: str, expected: str, got: Any) -> None:
    if not ok:
        shown = f"{got:g}" if isinstance(got, float) else repr(got)
        raise UserError(f"{path} must be {expected}, got {shown}")
