"""A user's own `torch.utils.data.Dataset`, named `module:Class` as in the tutorial's `MyDataset(file)`.

The class is imported (the working directory is on the import path, so `my_data.py` beside
the user works), built with `--dataset-arg` values, and checked item by item before any
training: every item must be an `(x, y)` pair of tensors or numbers with one shape, and an
item that raises is named. Its data is used as given (no scaling, no encoding); training
reads it through a real `DataLoader`, and validation rows are gathered once into tensors.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .errors import UserError
from .preprocess import Preprocessor
from .spec import DataSpec

_CLASS_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_class_path(dataset: str) -> bool:
    return bool(_CLASS_PATH.match(dataset)) and not Path(dataset).exists()


_IMPORTED: dict[str, tuple[str, int]] = {}  # a user's module: the file it was imported from, and its mtime then


def _import_current(module_name: str) -> Any:
    """The module as its file is now: Python keeps a module once imported, so the screen (one process) went on
    with a Dataset class the user had since edited, or with a `my_data.py` of another folder it was started in
    before. A module imported from another file than the import path finds now, or from one changed since, is
    imported again. (A module inside a package, `pkg.mod:Class`, is imported once, as Python does.)"""
    importlib.invalidate_caches()
    cached = sys.modules.get(module_name)
    if cached is not None and module_name in _IMPORTED:
        found = importlib.machinery.PathFinder.find_spec(module_name) if "." not in module_name else None
        origin = found.origin if found is not None else None
        if origin is not None and _IMPORTED[module_name] != (origin, _mtime(origin)):
            sys.modules.pop(module_name, None)
    module = importlib.import_module(module_name)
    origin = getattr(module, "__file__", None)
    if origin:
        _IMPORTED[module_name] = (origin, _mtime(origin))
    return module


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def load(spec: DataSpec) -> Dataset:
    module_name, class_name = spec.dataset.split(":")
    if module_name.endswith(".py"):  # "run from the folder that holds ds_mods/py.py"
        raise UserError(f"dataset {spec.dataset}: name the module as Python imports it, without .py: "
                        f"{module_name.removesuffix('.py')}:{class_name}")
    here = os.getcwd()  # first on the import path, where an earlier load in another folder put that folder
    if here in sys.path:
        sys.path.remove(here)
    sys.path.insert(0, here)
    try:
        module = _import_current(module_name)
    except ModuleNotFoundError as e:
        if e.name and not module_name.startswith(e.name) and _found_here(module_name, here):
            # the user's module is here; what it imports is not installed
            raise UserError(f"importing {module_name} for dataset {spec.dataset} failed: {e}; install it in this "
                            f"environment (pip install ...)") from None
        raise UserError(f"cannot import {module_name} for dataset {spec.dataset}: {e}; run from the folder that holds "
                        f"{module_name.replace('.', '/')}.py or put it on PYTHONPATH") from None
    except Exception as e:  # the user's module failed while importing
        raise UserError(f"importing {module_name} raised {type(e).__name__}: {e}") from None
    _refuse_a_namesake(module, module_name, spec.dataset, here)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UserError(f"{module_name} has no {class_name}; classes there: "
                        f"{', '.join(n for n, v in vars(module).items() if isinstance(v, type)) or 'none'}")
    _refuse_unless_a_dataset_class(cls, spec.dataset, module, here)
    args = [_literal(a) for a in spec.dataset_args]
    try:
        dataset = cls(*args)
    except Exception as e:
        shown = ", ".join(map(repr, args))
        raise UserError(f"{spec.dataset}({shown}) raised {type(e).__name__}: {e}") from None
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise UserError(f"{spec.dataset} is not a map-style Dataset: it needs __getitem__ and __len__")
    try:
        size = len(dataset)
    except Exception as e:  # the user's __len__
        raise UserError(f"len() of {spec.dataset} raised {type(e).__name__}: {e}") from None
    if size < 2:
        raise UserError(f"{spec.dataset} has {size} item(s); training needs at least two")
    return dataset


def _refuse_a_namesake(module: Any, module_name: str, name: str, here: str) -> None:
    """The user's file is here, but the import found another module of its name first: one already loaded
    (`tui.py` is torchtui's own package, `json.py` the standard library's) is not imported again. It was told
    "tui has no MyData", of the file that has it."""
    if not _found_here(module_name, here):
        return
    origin = getattr(module, "__file__", None)
    if origin and os.path.realpath(origin).startswith(os.path.realpath(here) + os.sep):
        return
    file = module_name.replace(".", "/") + ".py"
    renamed = module_name.rsplit(".", 1)[-1]
    raise UserError(f"dataset {name}: {file} is here, but `import {module_name}` finds another module first "
                    f"({origin or 'one built into Python'}); rename the file (e.g. my_{renamed}.py) and the dataset "
                    f"with it ({name.replace(renamed + ':', 'my_' + renamed + ':')})")


def _found_here(module_name: str, here: str) -> bool:
    """Whether the user's module is a file (or package) under `here`."""
    path = Path(here, *module_name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _refuse_unless_a_dataset_class(cls: Any, name: str, module: Any, here: str) -> None:
    """Before it is called: a spec is data, and one from a run folder someone else made (or a --config) names what
    is called with its dataset_args. `os:system` was called with a command, as a "class", and only its result was
    refused. What is called is a class: a torch Dataset, or a map-style class of the user's own (__getitem__ and
    __len__, from a file under the working directory: no other module's class that only looks like one)."""
    if isinstance(cls, type) and issubclass(cls, Dataset):
        return
    origin = os.path.realpath(getattr(module, "__file__", None) or "/")
    if isinstance(cls, type) and hasattr(cls, "__getitem__") and hasattr(cls, "__len__") and \
            origin.startswith(os.path.realpath(here) + os.sep):
        return
    what = "a class" if isinstance(cls, type) else type(cls).__name__
    raise UserError(f"{name} is not a Dataset class (it is {what} of {getattr(module, '__name__', '?')}), so it is not "
                    "called: name a torch.utils.data.Dataset subclass, or a class of a file here with __getitem__ "
                    "and __len__")


def scan(dataset: Dataset, name: str) -> tuple[tuple[int, ...], torch.Tensor]:
    """(input shape, all targets), reading every item once, so a bad item is found before training."""
    shape = None
    targets = []
    for i in range(len(dataset)):  # type: ignore[arg-type]  # torch's Dataset declares no __len__; load checks it
        try:
            item = dataset[i]
        except Exception as e:
            raise UserError(f"item {i} of {name} raised {type(e).__name__}: {e}") from None
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise UserError(f"item {i} of {name} is a {type(item).__name__}; each item must be a pair (x, y)")
        try:
            x, y = torch.as_tensor(item[0]), torch.as_tensor(item[1])
        except (TypeError, ValueError, RuntimeError) as e:  # a text label, a list of strings
            raise UserError(f"item {i} of {name} is not numbers ({type(e).__name__}: {e}); return tensors or numbers, "
                            "a class as its index 0..C-1") from None
        if shape is None:
            shape = tuple(x.shape)
        elif tuple(x.shape) != shape:
            raise UserError(f"item {i} of {name} has x of shape {tuple(x.shape)}, item 0 has {shape}; all must match")
        if not x.is_floating_point():
            raise UserError(f"item {i} of {name} has x of dtype {x.dtype}; return float tensors (x.float())")
        if x.dtype != torch.float32:  # a float64 x passed this check, then the first step raised "mat1 and mat2 ..."
            raise UserError(f"item {i} of {name} has x of dtype {x.dtype}; the model computes in float32: return "
                            "x.float()")
        bad = "x" if not bool(torch.isfinite(x).all()) else \
            "y" if y.is_floating_point() and not bool(torch.isfinite(y).all()) else ""
        if bad:  # found here, not as "training diverged ... lower the learning rate", a fix that could not work
            raise UserError(f"item {i} of {name} has a NaN or infinite value in its {bad}; fill or leave out such "
                            "items")
        targets.append(y)
    if shape is None or len(shape) == 0:
        raise UserError(f"{name} returns a scalar x; return a tensor of features, e.g. torch.tensor([...])")
    try:
        return shape, torch.stack(targets)
    except RuntimeError:
        raise UserError(f"{name}: the targets y differ in shape between items; "
                        "return the same shape for every item") from None


def describe(spec: DataSpec, targets: torch.Tensor) -> Preprocessor:
    """Task and classes from the targets: integer labels are classes 0..C-1, floats are values."""
    integral = not targets.is_floating_point()
    if targets.dim() == 2 and targets.shape[1] == 1 and (integral or spec.task == "classification"):
        targets = targets.reshape(len(targets))  # a class index in a tensor of shape (1,): classes, as a bare one
    task = spec.task if spec.task != "auto" else ("classification" if integral and targets.dim() == 1 else "regression")
    if task == "classification":
        if targets.dim() != 1 or targets.is_floating_point() and not torch.equal(targets, targets.round()):
            raise UserError(f"{spec.dataset}: classification needs one integer class index per item as y")
        labels = targets.long()
        if int(labels.min()) < 0:
            raise UserError(f"{spec.dataset}: class indices must be >= 0, found {int(labels.min())}")
        classes = list(range(int(labels.max()) + 1))
        if len(classes) < 2:
            raise UserError(f"{spec.dataset}: every item has class 0; a classifier needs at least two classes")
        return Preprocessor(targets=["y"], task=task, columns=[], classes=classes)
    width = targets[0].numel() if targets.dim() > 1 else 1
    names = ["y"] if width == 1 else [f"y{i}" for i in range(width)]
    return Preprocessor(targets=names, task=task, columns=[], target_mean=[0.0] * width, target_std=[1.0] * width)


def as_targets(y: torch.Tensor, task: str) -> torch.Tensor:
    """Class indices (n,) or values (n, k): the forms the losses take."""
    return y.reshape(len(y)).long() if task == "classification" else y.reshape(len(y), -1).float()


def split(dataset: Dataset, indices: tuple[np.ndarray, np.ndarray]) -> tuple[Subset, Subset]:
    train_rows, val_rows = indices
    return Subset(dataset, train_rows.tolist()), Subset(dataset, val_rows.tolist())


def gather(subset: Subset) -> torch.Tensor:
    return torch.stack([torch.as_tensor(subset[i][0]) for i in range(len(subset))]) if len(subset) else torch.zeros(0)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
