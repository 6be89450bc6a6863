"""The layer stack: shape inference and building nn.Sequential (the registry and parsing: layer_catalog.py).

Users write a stack the way PyTorch reads, `Linear(64), ReLU(), Dropout(0.1)`, leaving out
what the data decides (input sizes). `resolve` turns that into full PyTorch calls
(`Linear(4, 64)`), checking every layer against the shape that reaches it, so a stack that
cannot run is refused before any training, at the layer that breaks it. Shapes and parameter
counts come from running each layer on batches of two and three rows (a layer that changes the
batch's size is refused: one size alone could be guessed, as `Unflatten(0, (2, 1))` guesses two),
with the random numbers its initialisation draws given back (else the seeded weights would shift):
PyTorch's own shape rules.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import UserError
from .layer_catalog import LAYERS, REQUIRED, Arg, LayerDef, parse
from .spec import split_top_level

__all__ = ["LAYERS", "REQUIRED", "Arg", "LayerDef", "Layer", "Stack", "parse", "resolve", "build_sequential"]


@dataclass(frozen=True)
class Layer:
    """One resolved layer: a full PyTorch call, with what it does to the shape."""

    name: str
    args: tuple
    kwargs: dict
    out_shape: tuple[int, ...]
    params: int
    added: bool = False
    note: str = ""  # an added layer: why it is there

    @property
    def expr(self) -> str:
        parts = [_literal(a) for a in self.args] + [f"{k}={_literal(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


@dataclass
class Stack:
    input_shape: tuple[int, ...]
    layers: list[Layer] = field(default_factory=list)

    @property
    def exprs(self) -> list[str]:
        return [layer.expr for layer in self.layers]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def build(self) -> nn.Sequential:
        """The real model, initialised from torch's global RNG in layer order, like a hand-written one.

        Built from the same expressions a checkpoint stores, so what trains is what loads.
        """
        return build_sequential(self.exprs)

    def summary(self) -> str:
        rows: list[tuple[str, ...]] = [("#", "layer", "output", "params")]  # a layer's row may add a mark
        rows.append(("", "input", _shape(self.input_shape), ""))
        for i, layer in enumerate(self.layers, 1):
            mark = f"  + {layer.note}" if layer.note else ""
            rows.append((str(i), layer.expr, _shape(layer.out_shape), f"{layer.params:,}", mark))
        rows.append(("", "total", "", f"{self.params:,}"))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        out = []
        for r in rows:
            line = f"{r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}"
            out.append((line + (r[4] if len(r) > 4 else "")).rstrip())
        return "\n".join(out)


def resolve(exprs: list[str] | str, input_shape: tuple[int, ...], n_outputs: int, copies: int = 2) -> Stack:
    """Check the stack against the data and size its input and output; refuse what cannot run. `copies`: how many
    floats per weight training holds - 2, the weight and its gradient, and the optimizer's state where known."""
    if isinstance(exprs, str):
        exprs = split_top_level(exprs)
    stack = Stack(tuple(input_shape))
    shape = tuple(input_shape)
    for i, expr in enumerate(exprs, 1):
        try:
            name, args, kwargs = parse(expr)
            layer = _resolve_one(i, expr, LAYERS[name], args, kwargs, shape)
        except UserError as e:
            e.layer = i  # the screen marks this row
            raise
        stack.layers.append(layer)
        shape = layer.out_shape
    last = stack.layers[-1] if stack.layers else None
    if not (last is not None and last.name == "Linear" and shape == (n_outputs,)):
        # The stack ends in a hidden layer: add the output layer the target needs, and show it.
        if len(shape) > 1:
            stack.layers.append(_resolve_one(len(stack.layers) + 1, "Flatten()", LAYERS["Flatten"], [], {}, shape,
                                             added=f"added: flattens {_shape(shape)} for the output layer"))
            shape = stack.layers[-1].out_shape
        stack.layers.append(_resolve_one(len(stack.layers) + 1, f"Linear({n_outputs})", LAYERS["Linear"],
                                         [n_outputs], {}, shape, added="output layer, sized from the target"))
    need = FLOAT_BYTES * copies * stack.params  # the layers together: each one passed alone
    if need > _memory_bytes():  # (six Linear(20000) of 1.6 GB each, 38 GB with Adam, went to the OOM killer)
        raise UserError(_too_big(f"the layers together ({stack.params:,} parameters)", need,
                                 " to train (their weights, gradients and optimizer state)" if copies > 2
                                 else " to train (their weights and gradients)"))
    return stack


def build_sequential(exprs: list[str]) -> nn.Sequential:
    """A plain nn.Sequential from full PyTorch calls, such as a checkpoint's `layers` entry. Built on the meta
    device first (no memory): a checkpoint is anyone's file, and one whose `Linear(4, 100000000000)` fits no
    machine, or whose arguments torch refuses, is one line, not an allocation that fails or swaps the box."""
    calls = [parse(expr) for expr in exprs]
    weights = 0
    for expr, (name, args, kwargs) in zip(exprs, calls):
        try:
            with torch.device("meta"):
                weights += sum(p.numel() for p in getattr(nn, name)(*args, **kwargs).parameters())
        except (TypeError, ValueError, RuntimeError) as e:
            raise UserError(f"layer {expr!r} cannot be built: {e}") from None
    if FLOAT_BYTES * weights > _memory_bytes():
        raise UserError(_too_big(f"the model ({weights:,} parameters)", FLOAT_BYTES * weights))
    return nn.Sequential(*[getattr(nn, name)(*args, **kwargs) for name, args, kwargs in calls])


def _resolve_one(i: int, expr: str, d: LayerDef, args: list, kwargs: dict, shape: tuple[int, ...],
                 added: str = "") -> Layer:
    """`added`: the layer is not the user's, and this says why (the summary's mark)."""
    where = f"layer {i} {expr}"
    if d.name == "BatchNorm1d" and len(shape) == 3:  # torch: "expected 2D or 3D input (got 4D input)"
        raise UserError(f"{where}: takes (features,) or (channels, length) but gets the image {_shape(shape)}; "
                        "use BatchNorm2d() after a Conv2d")
    if d.needs_image and len(shape) != 3:
        fix = ("put Unflatten(1, (1, H, W)) before it" if len(shape) == 1
               else f"put Unflatten(1, (1, {shape[0]})) before it: {_shape(shape)} becomes {_shape((1, *shape))}"
               if len(shape) == 2 else "reshape to (channels, height, width) first")
        raise UserError(f"{where}: needs an image input (channels, height, width) but gets {_shape(shape)}; {fix}")

    inferred_value: Any = None
    if d.inferred:
        inferred_value = shape[0] if d.inferred in ("in_channels", "num_features") else shape[-1]
        given = kwargs.pop(d.inferred, None)
        if given is None and len(args) > d.short:
            given, args = args[0], args[1:]
        if d.name == "LayerNorm" and given is not None:
            inferred_value = _normalized_shape(where, i, given, shape)
        elif given is not None and given != inferred_value:
            before = "the data gives" if i == 1 else "the layer before gives"
            raise UserError(f"{where}: {d.inferred} is {given}, but {before} {inferred_value}; "
                            f"leave it out and it is inferred")

    if len(args) > len(d.args):
        raise UserError(f"{where}: takes at most {len(d.args)} argument(s) ({', '.join(a.name for a in d.args)})")
    values: dict[str, Any] = {}
    for arg, value in zip(d.args, args):
        values[arg.name] = value
    for k, v in kwargs.items():
        if k not in {a.name for a in d.args}:
            known = ", ".join(a.name for a in d.args) or "none"
            raise UserError(f"{where}: unknown argument {k} (arguments: {known})")
        if k in values:
            raise UserError(f"{where}: {k} given twice")
        values[k] = v
    for arg in d.args:
        if arg.name not in values:
            if arg.default is REQUIRED:
                raise UserError(f"{where}: missing {arg.name}; e.g. {d.help.split(' - ')[0]}")
            values[arg.name] = arg.default
        else:
            values[arg.name] = _check_arg(where, arg, values[arg.name])

    # Full PyTorch call: inferred size first, required args positional, other args by keyword when not default.
    call_args: list[Any] = [inferred_value] if d.inferred else []
    call_kwargs: dict[str, Any] = {}
    for arg in d.args:
        if arg.default is REQUIRED or arg.positional:
            call_args.append(values[arg.name])
        elif values[arg.name] != arg.default:
            call_kwargs[arg.name] = values[arg.name]

    _refuse_absurd(where, d.name, values, inferred_value, shape)
    _refuse_batch_dim(where, d.name, values, shape)
    # A real layer on batches of two and three zero rows, its random init undone by fork_rng. (The meta
    # device would need no memory, but its first use imports a second of torch internals.)
    reshapes = UserError(f"{where}: reshapes the batch dimension (dim 0); use dimensions from 1 on")
    outs: list[torch.Tensor | None] = []
    failed: Exception | None = None
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            module = getattr(nn, d.name)(*call_args, **call_kwargs)
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise _probe_error(where, e, UserError(f"{where}: cannot take input {_shape(shape)}: {_reason(e)}")) \
                from None
        for rows in PROBE_ROWS:
            try:
                outs.append(module(torch.zeros((rows, *shape))))
            except (RuntimeError, ValueError, TypeError, IndexError) as e:
                outs.append(None)
                failed = failed or e
    if failed is not None and all(o is None for o in outs):
        raise _probe_error(where, failed, UserError(f"{where}: cannot take input {_shape(shape)}: {_reason(failed)}"))
    # each batch in, the same batch out: a layer that runs on one batch size only (`Unflatten(0, (2, 1))` on 2
    # rows) or that mixes the rows cannot train
    if failed is not None:
        raise _probe_error(where, failed, reshapes)
    out = outs[0]
    assert out is not None
    if any(o is None or o.shape != (rows, *out.shape[1:]) for o, rows in zip(outs, PROBE_ROWS)):
        raise reshapes
    out_shape = tuple(out.shape[1:])
    if 0 in out_shape:
        raise UserError(f"{where}: input {_shape(shape)} gives an empty output {_shape(out_shape)}; "
                        "use a smaller kernel or fewer layers")
    params = sum(p.numel() for p in module.parameters())
    return Layer(d.name, tuple(call_args), call_kwargs, out_shape, params, bool(added), added)


def _normalized_shape(where: str, i: int, given: Any, shape: tuple[int, ...]) -> int | tuple[int, ...]:
    """LayerNorm's normalized_shape as PyTorch takes it: the last dimension, or any trailing part of the shape
    that reaches it ((4, 6, 6), (6, 6) or 6 after a (4, 6, 6) image)."""
    if isinstance(given, int) and not isinstance(given, bool) and given == shape[-1]:
        return given
    if (isinstance(given, (tuple, list)) and 0 < len(given) <= len(shape)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in given)
            and tuple(given) == shape[-len(given):]):
        return tuple(given)
    before = "the data gives" if i == 1 else "the layer before gives"
    fix = (f"give {shape[-1]}, or leave it out and it is inferred" if len(shape) == 1 else
           f"give its last dimensions, like {_literal(shape[-2:])} or {shape[-1]}, or leave it out and the last one "
           "is inferred")
    raise UserError(f"{where}: normalized_shape is {_literal(given)}, but {before} {_shape(shape)}; {fix}")


PROBE_ROWS = (2, 3)  # the batch sizes each layer is tried with


def _reason(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _probe_error(where: str, e: Exception, otherwise: UserError) -> UserError:
    """What a layer's probe raised, in one line: a size that does not fit the memory, else `otherwise`."""
    asked = re.search(r"tried to allocate (\d+) bytes", _reason(e))
    if asked:  # torch's allocator message ("[enforce fail at alloc_cpu.cpp:127] ...") says it in bytes
        return UserError(_too_big(where, int(asked.group(1))))
    return otherwise


def _refuse_batch_dim(where: str, name: str, values: dict[str, Any], shape: tuple[int, ...]) -> None:
    """Flatten and Unflatten told, from their arguments, whether they touch the batch dimension (dim 0): a probe's
    shapes alone can miss it (`Flatten(0, 1)` of a (1, 8, 8) image keeps each batch's size)."""
    dims = {"Flatten": ("start_dim", "end_dim"), "Unflatten": ("dim",)}.get(name, ())
    for key in dims:
        dim = values[key]
        if isinstance(dim, int) and (dim == 0 or dim == -(len(shape) + 1)):
            back = "" if dim == 0 else f"; {key}={dim} counts back to it in (N, {', '.join(map(str, shape))})"
            raise UserError(f"{where}: reshapes the batch dimension (dim 0{back}); use dimensions from 1 on")


LARGEST_INT = 2**63 - 1  # torch's integers are 64-bit: a size above it is "Overflow when unpacking long long"
FLOAT_BYTES = 4


def _refuse_absurd(where: str, name: str, values: dict[str, Any], inferred: Any, shape: tuple[int, ...]) -> None:
    """Sizes no machine can hold, refused in one line before torch sees them: `Linear(99999999999999999999)` got
    torch's "Overflow when unpacking long long", `Linear(4611686018427387904)` its "Storage size calculation
    overflowed", where `Linear(1000000000)` got "needs 26 GiB". Counted in Python's integers, which do not overflow.
    A weight is counted twice, with its gradient, the least any training holds: `Linear(1000000000)` on a 23 GiB
    box passed a check of the weight alone (16 GB) and the process was killed for memory while checking it."""
    weight, output = _largest_tensors(name, values, inferred, shape)
    need = FLOAT_BYTES * max(2 * weight, output)
    if need > _memory_bytes():
        raise UserError(_too_big(where, need, " to train (its weights and their gradients)" if 2 * weight >= output
                                 else ""))
    for key, value in values.items():
        numbers = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > LARGEST_INT for v in numbers):
            raise UserError(f"{where}: {key} {value!r} is too large for torch, whose integers end at "
                            f"{LARGEST_INT:,}; make it smaller")


def _largest_tensors(name: str, values: dict[str, Any], inferred: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    """Elements of the layer's weight, and of its output for the larger probe batch (what checking it makes)."""
    rows = max(PROBE_ROWS)
    if name == "Linear":
        return inferred * values["out_features"], rows * values["out_features"]
    if name not in ("Conv2d", "MaxPool2d") or len(shape) != 3:
        return 0, 0  # no weight of a size given here, and an output no larger than what reaches it
    padding = values.get("padding")
    k, s = (_pair(values.get(key)) for key in ("kernel_size", "stride"))
    # 'same' keeps the size (stride 1 only, which torch checks), 'valid' pads nothing
    p = ((k[0] - 1) // 2 + 1, (k[1] - 1) // 2 + 1) if padding == "same" else _pair(0 if padding == "valid" else padding)
    s = s if values.get("stride") is not None else k  # MaxPool2d's stride defaults to its kernel
    height, width = ((size + 2 * pad - kernel) // max(step, 1) + 1
                     for size, pad, kernel, step in zip(shape[1:], p, k, s))
    channels = values["out_channels"] if name == "Conv2d" else shape[0]
    weight = channels * inferred * k[0] * k[1] if name == "Conv2d" else 0
    return weight, rows * channels * max(height, 0) * max(width, 0)


def _pair(v: Any) -> tuple[int, int]:
    return (0, 0) if v is None else tuple(v) if isinstance(v, tuple) else (v, v)


def _memory_bytes() -> int:
    """This machine's memory, where the system says; else no bound here (torch's allocator still says)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return LARGEST_INT


def _too_big(where: str, size: int, what: str = "") -> str:
    gib = size / 2**30
    return (f"{where}: it needs {gib:,.{0 if gib >= 10 else 1}f} GiB of memory{what}, more than this machine can "
            "give; make it smaller"
            if gib < 1e6 else f"{where}: it needs {gib:.1e} GiB of memory{what}, more than any machine can give; "
                              "make it smaller")


def _check_arg(where: str, arg: Arg, v: Any) -> Any:
    def bad(expected: str) -> UserError:
        return UserError(f"{where}: {arg.name} must be {expected}, got {v!r}")

    if arg.kind == "bool":
        if not isinstance(v, bool):
            raise bad("True or False")
        return v
    if arg.kind == "str":
        if not isinstance(v, str):
            raise bad("a string")
        return v
    if arg.kind == "sizes":  # (Unflatten's: one of them may be -1, the rest worked out, as PyTorch does)
        if not (isinstance(v, (tuple, list)) and v and list(v).count(-1) <= 1
                and all(isinstance(x, int) and not isinstance(x, bool) and (x >= 1 or x == -1) for x in v)):
            raise bad("a tuple of sizes >= 1, like (1, 8, 8), one of them -1 at most (worked out)")
        return tuple(v)
    if arg.kind == "size":
        if v is None and arg.default is None:
            return v
        if arg.check == "same" and v in ("same", "valid"):  # Conv2d's padding: PyTorch's words for it
            return v
        if (isinstance(v, (tuple, list)) and len(v) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
            v = tuple(v)
            ok = all(x >= (0 if arg.name == "padding" else 1) for x in v)
        elif isinstance(v, int) and not isinstance(v, bool):
            ok = v >= (0 if arg.name == "padding" else 1)
        else:
            ok = False
        if not ok:
            low = 0 if arg.name == "padding" else 1
            raise bad(f"an integer >= {low} or a pair like (3, 3)" + (", or 'same' or 'valid'" if arg.check == "same"
                                                                         else ""))
        return v
    number_types = (int,) if arg.kind == "int" else (int, float)
    if isinstance(v, bool) or not isinstance(v, number_types):
        raise bad("an integer" if arg.kind == "int" else "a number")
    if arg.kind == "float":
        v = float(v)
    if arg.check == "pos" and not v > 0:
        raise bad("> 0" if arg.kind == "float" else "an integer >= 1")
    if arg.check == "nonneg" and v < 0:
        raise bad(">= 0")
    if arg.check == "prob" and not 0 <= v < 1:
        raise bad(">= 0 and < 1")
    if arg.check == "unit" and not 0 <= v <= 1:
        raise bad(">= 0 and <= 1")
    return v


def _literal(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
