"""The experiment spec: everything that defines a run, validated in one place.

The spec is the one input of the training code path. It comes from defaults, then a TOML
file, then command-line flags (each later source overrides the earlier), and it is written
back as `spec.toml` in the run folder and as a plain dict inside every checkpoint, so a run
can be repeated, resumed or loaded into the screen from nothing else.

Each field is declared once, with `option`: its type, default, help, command-line flag and
screen label. `spec_fields()` lists those declarations for the code that documents or edits
the spec (the TOML comments, the flags of `torchtui run`, the screen's labels).

Validation happens here, before any data is read or any torch is imported, and every
refusal names the field's path and what would be accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import expand_home, no_such_path

TASKS = ("auto", "classification", "regression")
MISSING = ("error", "drop", "impute")
LOSSES = ("auto", "MSE", "L1", "Huber", "CrossEntropy", "BCEWithLogits")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")  # precision.py: what each does; only fp32 is bit-exact
CUDA_GRAPHS = ("auto", "on", "off")  # cuda_graph.py: when the step is replayed as a CUDA graph
PROCESSES = re.compile(r"gpu|[1-9]\d{0,3}")  # run.processes: a count, or gpu (one per visible GPU)
ALL_GPUS = "all-gpus"  # the device picker's "all N GPUs (DDP)": not a device, but device cuda with processes gpu
ON_NAN = ("stop", "skip")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def option(default: Any, help: str, *, flag: str | None = None, short: str | None = None,
           label: str | None = None, switch: tuple[Any, Any] | None = None, repeat: bool = False,
           no_flag_reason: str | None = None) -> Any:
    """Declare a spec field together with everything said about it, so the TOML comments, the
    flags of `torchtui run` and the screen's labels cannot drift from the field itself.

    The flag is `--name-with-dashes` unless `flag` names another, and every field has one
    unless `no_flag_reason` says why not. A bool field's flag is a switch (`--x/--no-x`);
    `switch` makes one of another field, giving the values `--x` and `--no-x` set. A list
    field's flag takes one comma-separated value, or with `repeat` one item per use.
    """
    if no_flag_reason is not None and (flag or short or switch or repeat):
        raise TypeError("a field without a flag cannot declare how its flag looks")
    metadata = {"help": help, "flag": flag, "short": short, "label": label, "switch": switch,
                "repeat": repeat, "no_flag_reason": no_flag_reason}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataSpec:
    dataset: str = option("iris", "A built-in name (`torchtui datasets`), a data file (CSV, .csv.gz, JSON, Parquet "
                                  "with pyarrow), or your Dataset class as module:Class.", short="-d")
    dataset_args: list[str] = option([], "Arguments for your Dataset class, in order.", flag="--dataset-arg",
                                     repeat=True)
    workers: int = option(0, "DataLoader worker processes for a Dataset class.")
    target: str = option("", "Target column (empty: the last column); several, comma-separated, for regression.",
                          label="Target")
    features: list[str] = option([], "Feature columns (empty: every column but the target).", label="Features")
    task: str = option("auto", f"{' | '.join(TASKS)}; auto: text or few integer values mean classification.",
                        label="Task")
    val_split: float = option(0.2, "Share of rows held out for validation, drawn with the seed.",
                              label="Validation split")
    val: str = option("", "A separate validation file (then val_split is not used).", label="Validation file")
    group: str = option("", "Column whose rows stay together: a group never straddles training and validation.",
                         label="Split")
    stratify: bool = option(False, "Classification: keep each class's share in both splits.", label="Split")
    drop: list[str] = option([], "Columns to leave out.", label="Features")
    keep_constant: bool = option(False, "Keep columns that hold one value in every row as inputs, in their places "
                                        "(an image's blank border pixels; a Conv2d needs the whole grid; the built-in "
                                        "digits always does); else they are left out with a note.",
                                 label="Constant columns")
    missing: str = option("error", "Empty cells: error (say where) | drop (the rows) | impute (training median; "
                                   "a '(missing)' category).", label="Empty cells")
    standardize_target: bool = option(True, "Regression: train on the standardised target; metrics and predictions "
                                            "stay in its units.")
    test: str = option("", "A CSV without targets: predictions of the best model go to the run folder.",
                       label="Test file")
    sep: str = option("auto", "Column separator: auto | ',' | ';' | tab | whitespace | any single character.",
                       label="Separator")
    header: str = option("auto", "Is the first table line a header: auto (detected, where neither flag is given) "
                                 "| yes | no.", switch=("yes", "no"),
                          label="Header line")
    skip_rows: int = option(-1, "Lines above the table to skip, blank ones counted; -1: auto (metadata lines "
                            "are detected).", label="Lines to skip")
    decimal: str = option("auto", "Decimal mark: auto | '.' | ','.", label="Decimal mark")
    encoding: str = option("auto", "File encoding: auto (UTF-8 with or without BOM, else cp1252) or a Python "
                                   "encoding name such as latin-1.", label="Encoding")


@dataclass
class ModelSpec:
    layers: list[str] = option(["Linear(64)", "ReLU()"],
                               'The layer stack, PyTorch-like: "Linear(64), ReLU(), Dropout(0.1)"; input sizes are '
                               "inferred, the output layer is added when missing.", short="-l")


@dataclass
class TrainSpec:
    loss: str = option("auto", f"{' | '.join(LOSSES)}; auto: CrossEntropy or MSE by task.", label="Loss")
    optimizer: str = option("Adam", f"{' | '.join(OPTIMIZERS)}.", label="Optimizer")
    lr: float = option(0.01, "Learning rate.", label="Learning rate")
    momentum: float = option(0.0, "Momentum (SGD, RMSprop).", label="Momentum")
    nesterov: bool = option(False, "Nesterov momentum (SGD with momentum > 0).", label="Nesterov")
    weight_decay: float = option(0.0, "Weight decay: an L2 penalty (decoupled for AdamW).", label="Weight decay")
    scheduler: str = option("none", f"Learning-rate schedule: {' | '.join(SCHEDULERS)}.", label="LR schedule")
    step_size: int = option(10, "Step schedule: epochs between decays.", label="Step size (step)")
    gamma: float = option(0.1, "Step schedule: the decay factor; plateau schedule: the factor on a plateau.",
                          label="Gamma (step, plateau)")
    plateau_patience: int = option(5, "Plateau schedule: epochs without a better validation loss before the "
                                      "learning rate drops.")
    batch_size: int = option(16, "Samples per step.", label="Batch size")
    epochs: int = option(20, "Passes over the training split.", label="Epochs")
    patience: int = option(10, "Early stopping: stop after this many epochs without a better validation loss "
                                "(on by default, so a run does not overfit for hundreds of epochs; 0: off). "
                                "best.pt keeps the best epoch's weights.", label="Patience (0: off)")
    grad_clip: float = option(0.0, "Clip the gradient norm to this value (0: off).", label="Grad clip (0: off)")
    seed: int = option(0, "Seed for the split, the weights and the batch order: same seed, same weights.",
                       label="Seed")
    device: str = option("auto", "auto | cpu | cuda | cuda:N | mps; auto picks a GPU when there is one.",
                         label="Device")
    precision: str = option("fp32", "fp32 (exact, the default) | tf32 (CUDA matrix products) | bf16 | fp16 "
                                    "(autocast; fp16 with a gradient scaler). Only fp32 is bit-exact.",
                            label="Precision")
    cuda_graphs: str = option("auto", "auto | on | off: replay forward and backward as one CUDA graph (CUDA only; "
                                      "exact: the same bits as without). auto: when the run is long enough to repay "
                                      "the capture; on: always where possible. Where a run cannot (another device, "
                                      "--on-nan skip, a Dataset class, fp16) it runs without and says why.",
                              label="CUDA graphs")
    threads: int = option(0, "CPU threads torch computes with (0: auto - torch's default here: OMP_NUM_THREADS, "
                             "else the cores; on a box busy with other work, fewer can be faster). Stored as a "
                             "number in the run's spec.toml: a resume uses the same count, and so gets the same bits.",
                          label="Threads (0: auto)")
    log_interval: float = option(0.25, "Seconds between logged training steps.")
    save_every: int = option(0, "Also save last.pt every N steps inside an epoch, to resume exactly from there "
                                "(0: at epoch ends only).", label="Save every N steps")
    on_nan: str = option("stop", "A step whose loss is NaN or inf: stop (the run, as diverged) | skip (that step; "
                                 "counted, checks every step, slower on a GPU).")


@dataclass
class RunSpec:
    name: str = option("", "Run folder name (empty: <dataset>-<date>-<time>).", label="Run name")
    runs_dir: str = option("checkpoints", "Where run folders are written.")
    processes: str = option("1", "Processes training the model on this machine (DistributedDataParallel): a number, "
                                 "or gpu for one per visible GPU; started through torch's elastic launcher, as "
                                 "torchrun does. --batch-size is per process. A resume uses the same number.",
                            flag="--nproc-per-node", label="Processes (DDP)")


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
        _check(bool(d.dataset.strip()), "data.dataset", "a built-in name (see `torchtui datasets`) or a CSV path",
               d.dataset)
        _check(d.task in TASKS, "data.task", f"one of {', '.join(TASKS)}", d.task)
        _check(0 <= d.val_split < 1, "data.val_split", "a number >= 0 and < 1", d.val_split)
        _check(d.workers >= 0, "data.workers", "an integer >= 0 (DataLoader worker processes for a Dataset class)",
               d.workers)
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
            raise UserError(f"train.momentum applies to SGD and RMSprop, not {t.optimizer}; "
                            "set it to 0 or change train.optimizer")
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
        _check(0 <= t.threads <= 1024, "train.threads", "an integer from 0 (auto) to 1024", t.threads)
        _check(t.precision in PRECISIONS, "train.precision", " | ".join(PRECISIONS), t.precision)
        _check(t.cuda_graphs in CUDA_GRAPHS, "train.cuda_graphs", " | ".join(CUDA_GRAPHS), t.cuda_graphs)
        _check(t.grad_clip >= 0, "train.grad_clip", "a number >= 0 (0 turns clipping off)", t.grad_clip)
        _check(0 <= t.seed < 2**63, "train.seed", "an integer >= 0 and < 2**63", t.seed)
        _check(bool(_DEVICE_RE.match(t.device)), "train.device", "auto, cpu, cuda, cuda:N or mps", t.device)
        _check(t.log_interval > 0, "train.log_interval", "a number of seconds > 0", t.log_interval)
        _check(t.on_nan in ON_NAN, "train.on_nan", "stop or skip", t.on_nan)
        _check(t.save_every >= 0, "train.save_every", "an integer >= 0 (steps between mid-epoch checkpoints; 0: off)",
               t.save_every)
        name = self.run.name
        _check(name == "" or (re.fullmatch(r"[\w.][\w.\-]*", name) is not None and name not in (".", "..")),
               "run.name", "letters, digits, '.', '-' or '_', not starting with '-' (it names a folder, and a "
               "command line would read -rf as a flag)", name)
        _check(len(name.encode()) <= 200, "run.name", "at most 200 bytes (it names a folder, and a file system keeps "
               "255 at most)", f"{len(name.encode())} bytes")
        _check(bool(self.run.runs_dir.strip()), "run.runs_dir", "a folder path", self.run.runs_dir)
        _check(PROCESSES.fullmatch(self.run.processes) is not None, "run.processes",
               "a number of processes from 1 to 9999, or gpu (one per visible GPU)", self.run.processes)

    def to_toml(self, comments: bool = False) -> str:
        """TOML text that `from_toml` reads back to an equal spec."""
        lines: list[str] = []
        for section in dataclasses.fields(self):
            if lines:
                lines.append("")
            lines.append(f"[{section.name}]")
            obj = getattr(self, section.name)
            for f in dataclasses.fields(obj):
                if comments:
                    lines.append(f"# {f.metadata['help']}")
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
        except RecursionError:  # thousands of nested brackets: tomllib recurses once a level
            raise UserError(f"{source} nests its values too deeply to read; a spec's values are flat") from None
        return cls.from_dict(raw, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Spec":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Notepad's) is no TOML statement
        except FileNotFoundError:
            raise UserError(f"config file {p} not found; "
                            f"check the path or write one with `torchtui config write {p}`") from None
        except (OSError, UnicodeDecodeError) as e:
            if is_data_name(p.name):
                raise _data_not_spec(p) from None
            if isinstance(e, UnicodeDecodeError):
                raise UserError(f"config file {p} is not UTF-8 text (byte {e.start + 1} is not): save it as UTF-8, "
                                "as TOML is") from None
            raise UserError(f"cannot read config file {p}: {e.strerror or e}") from None
        try:
            spec = cls.from_toml(text, source=str(p))
        except UserError:
            if is_data_name(p.name):  # `torchtui run iris.csv`: the data where the spec goes
                raise _data_not_spec(p) from None
            raise
        return spec._files_beside(p.parent)

    def _files_beside(self, folder: Path) -> "Spec":
        """A relative data path that names no file from the current folder, but one beside the spec file: that
        one. A spec kept with its data and run from another folder was refused as "neither a built-in dataset
        nor an existing file" (a run's spec.toml holds absolute paths: unchanged)."""
        found = {}
        for key in ("dataset", "val", "test"):
            value = getattr(self.data, key)
            if not value or Path(expand_home(value)).is_absolute() or Path(value).exists():
                continue
            if (folder / value).is_file():
                found[f"data.{key}"] = str((folder / value).absolute())
        return self.with_overrides(found) if found else self


DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet")  # the reader's, by name


def is_data_name(name: str) -> bool:
    """A file name the reader reads as a table (reader.read_table), gzipped or not: the Data pane lists such
    files, and `torchtui run FILE` takes one for the data it meant rather than a spec."""
    name = name.lower()
    if name.endswith(".gz"):  # pandas unzips text; a Parquet file compresses inside itself
        return name[:-3].endswith(tuple(x for x in DATA_SUFFIXES if x != ".parquet"))
    return name.endswith(DATA_SUFFIXES)


def _data_not_spec(path: Path) -> UserError:
    return UserError(f"{path} is a data file, not a TOML spec: give it as the data, `--dataset {path}`")


DATA_FILE_FIELDS = ("data.dataset", "data.val", "data.test")  # the fields that may name the user's data files
DATA_FILE_NAMES = dict(zip(DATA_FILE_FIELDS, ("data file", "validation file", "test file")))  # in messages


def data_file_places(a: "Spec", b: "Spec") -> list[tuple[str, str, str]]:
    """(field path, its value in `a`, its value in `b`) for each field that may name a data file."""
    return [(path, getattr(a.data, path.split(".")[1]), getattr(b.data, path.split(".")[1]))
            for path in DATA_FILE_FIELDS]


def moved_data_files(saved: "Spec", now: "Spec", given: tuple[str, ...] = ()) -> dict[str, str]:
    """The data files whose place differs between a run's saved spec (a checkpoint's) and its spec.toml (`now`),
    where the new place holds: given to a resume (`given`: resume --dataset, --val, --test), or written to
    spec.toml by one, with the old place holding no file any more (it moved). Both places files (a run stores
    its files' absolute paths): a built-in set or a Dataset class put in a file's place is an edit, not a move."""
    return {path: new for path, was, new in data_file_places(saved, now)
            if was != new and Path(new).is_absolute() and Path(was).is_absolute() and (
                path in given or no_such_path(was))}


PATH_FIELDS = (*DATA_FILE_FIELDS, "run.runs_dir")  # a `~/` in them means the home folder
FORMAT_FIELDS = ("sep", "header", "skip_rows", "decimal", "encoding")  # DataSpec's fields that say how to read a file

_SECTIONS = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec, "run": RunSpec}


@dataclass(frozen=True)
class FieldInfo:
    """One spec field as declared with `option`, for the code that documents or edits it:
    `config show` writes `help` as a comment, `torchtui run` makes its flags from it, and the
    screen shows `label`."""

    path: str  # "train.lr"
    section: str  # "train"
    name: str  # "lr"
    type: Any  # float, or list[str]
    default: Any
    help: str
    flag: str | None  # "--lr"; None only with a no_flag_reason
    short: str | None  # "-d"
    label: str | None  # on the screen, for the fields it shows
    no_flag_reason: str | None
    switch: tuple[Any, Any] | None  # the values `--x` and `--no-x` set; (True, False) for a bool
    repeat: bool  # a list given one item per use of its flag, not comma-separated


def spec_fields() -> list[FieldInfo]:
    """Every field of the spec, section by section in the order `to_toml` writes them."""
    infos = []
    for section in dataclasses.fields(Spec):
        cls = _SECTIONS[section.name]
        types, defaults = typing.get_type_hints(cls), cls()
        for f in dataclasses.fields(cls):
            m = f.metadata
            flag = None if m["no_flag_reason"] else m["flag"] or "--" + f.name.replace("_", "-")
            switch = m["switch"] or ((True, False) if types[f.name] is bool else None)
            infos.append(FieldInfo(
                path=f"{section.name}.{f.name}", section=section.name, name=f.name, type=types[f.name],
                default=getattr(defaults, f.name), help=m["help"], flag=flag, short=m["short"], label=m["label"],
                no_flag_reason=m["no_flag_reason"], switch=switch, repeat=m["repeat"]))
    return infos


def spec_field(path: str) -> FieldInfo:
    """The declaration of one field, by its path ("train.lr")."""
    for info in spec_fields():
        if info.path == path:
            return info
    raise KeyError(path)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        if any("\ud800" <= ch <= "\udfff" for ch in v):  # a file name in another encoding than the system's
            raise UserError(f"{v.encode('utf-8', 'backslashreplace').decode()} is not valid text (a name written "
                            "in another encoding than this system's?); rename it, or read it under another name")
        # JSON's string is TOML's basic string, but for DEL, which TOML forbids as it is (a column named with one
        # wrote a spec.toml its own reader refused: the run could not be resumed)
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _refuse_unknown(raw: dict, known: dict, prefix: str, source: str) -> None:
    """An unknown key, with where it belongs when it is another section's (`lr` under [model]), or a key written
    above every section header (TOML reads `dataset = ...` before `[data]` as no section's): "did you mean data?"
    sent such a file's author to write `data = "iris"`, refused next."""
    for key in raw:
        if key not in known:
            where = f"{prefix}{key}"
            home = next((section for section, cls in _SECTIONS.items() if prefix != f"{section}."
                         and key in {f.name for f in dataclasses.fields(cls)}), None)
            if home and not prefix:
                raise UserError(f"{source}: {key} is above every section header, where it belongs to none; it is a "
                                f"key of [{home}]: move it under the [{home}] line (or write `[{home}]` above it)")
            if home:
                raise UserError(f"{source}: unknown key {where}; {key} belongs in [{home}] ({home}.{key})")
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = (f"did you mean {prefix}{close[0]}?" if close
                    else f"known keys: {', '.join(prefix + k for k in known)}")
            raise UserError(f"{source}: unknown key {where}; {hint}")


def _build_section(section_cls: type, values: dict, name: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    _refuse_unknown(values, fields, f"{name}.", source)
    defaults = section_cls()
    kwargs = {}
    for key, _f in fields.items():
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
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (isinstance(value, float) and not math.isfinite(value)) or value != int(value)):
            raise UserError(f"{where} must be an integer, got {value!r}")  # (TOML's inf and nan: int() raised)
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"{where} must be a finite number, got {value!r}")
        return value
    if isinstance(default, str):
        if path == "run.processes" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # processes = 2 in a TOML file: a count, as "2" is
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        if path in PATH_FIELDS:
            value = expand_home(value)
        if path == "data.sep" and len(value) == 1:
            return value  # a blank is a separator (' ', a tab), not padding to strip to nothing
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
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
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
