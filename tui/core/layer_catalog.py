"""The layers torchtui knows, and reading a layer expression: no torch here.

What the screen needs before anything heavy is imported (the Model pane's list of layers, a syntax
check of a typed layer) lives here; shapes, parameter counts and building the model are in
layers.py, which imports torch.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from .errors import UserError

REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # "int" | "float" | "bool" | "size" (int or tuple) | "sizes" (tuple) | "str"
    default: Any = REQUIRED
    check: str = ""  # "pos" (>= 1), "nonneg" (>= 0), "prob" (0 <= p < 1), "unit" (0 <= v <= 1), "same" (a padding
    # that may also be 'same' or 'valid')
    positional: bool = False  # torch requires it, though we give it a default


@dataclass(frozen=True)
class LayerDef:
    name: str
    args: tuple[Arg, ...] = ()
    inferred: str = ""  # torch's first positional argument that the input shape decides
    short: int = 0  # positional arguments in the short form; one more means PyTorch's full form
    needs_image: bool = False
    help: str = ""


_INT_POS: dict[str, Any] = dict(kind="int", check="pos")
# a running statistic moves this share of the way to each batch's: above 1 it overshoots, and the run diverges
_NORM_ARGS = (Arg("eps", "float", 1e-5, "pos"), Arg("momentum", "float", 0.1, "unit"))
LAYERS: dict[str, LayerDef] = {
    d.name: d
    for d in [
        LayerDef("Linear", (Arg("out_features", **_INT_POS), Arg("bias", "bool", True)), "in_features", 1,
                 help="Linear(out) - fully connected; Linear(in, out) also accepted"),
        LayerDef("ReLU", help="ReLU() - max(0, x)"),
        LayerDef("Sigmoid", help="Sigmoid() - squashes to (0, 1)"),
        LayerDef("Tanh", help="Tanh() - squashes to (-1, 1)"),
        LayerDef("LeakyReLU", (Arg("negative_slope", "float", 0.01, "nonneg"),), short=1,
                 help="LeakyReLU(0.01) - ReLU with a small slope below 0"),
        LayerDef("GELU", (Arg("approximate", "str", "none"),), short=1,
                 help="GELU() - smooth ReLU used by transformers"),
        LayerDef("SiLU", help="SiLU() - x * sigmoid(x)"),
        LayerDef("Dropout", (Arg("p", "float", 0.5, "prob"),), short=1,
                 help="Dropout(0.1) - zeroes a fraction of inputs while training"),
        LayerDef("BatchNorm1d", _NORM_ARGS, "num_features",
                 help="BatchNorm1d() - normalises each feature over the batch"),
        LayerDef("LayerNorm", (Arg("eps", "float", 1e-5, "pos"),), "normalized_shape",
                 help="LayerNorm() - normalises the last dimension of each sample"),
        LayerDef("Flatten", (Arg("start_dim", "int", 1), Arg("end_dim", "int", -1)), short=2,
                 help="Flatten() - (C, H, W) -> (C*H*W,)"),
        LayerDef("Unflatten", (Arg("dim", "int"), Arg("unflattened_size", "sizes")), short=2,
                 help="Unflatten(1, (1, 8, 8)) - (64,) -> (1, 8, 8) image"),
        LayerDef("Conv2d", (Arg("out_channels", **_INT_POS), Arg("kernel_size", "size", 3, positional=True),
                            Arg("stride", "size", 1), Arg("padding", "size", 0, "same"), Arg("bias", "bool", True)),
                 "in_channels", 2, needs_image=True,
                 help="Conv2d(out, kernel) - 2-D convolution; Conv2d(in, out, kernel, ...) also accepted"),
        LayerDef("MaxPool2d", (Arg("kernel_size", "size", 2, positional=True), Arg("stride", "size", None),
                               Arg("padding", "size", 0)),
                 short=3, needs_image=True, help="MaxPool2d(2) - keeps the largest value of each 2x2 patch"),
        LayerDef("BatchNorm2d", _NORM_ARGS, "num_features", needs_image=True,
                 help="BatchNorm2d() - normalises each channel of an image over the batch"),
    ]
}


def parse(expr: str) -> tuple[str, list[Any], dict[str, Any]]:
    """'Conv2d(8, kernel_size=3)' -> ('Conv2d', [8], {'kernel_size': 3}); literals only, nothing is evaluated."""
    text = expr.strip()
    if text.startswith("nn."):
        text = text[3:]
    if text in LAYERS:
        text += "()"
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise UserError(f"cannot read layer {expr!r}; write it like Linear(64) or Dropout(0.1)") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise UserError(f"cannot read layer {expr!r}; write it like Linear(64) or Dropout(0.1)")
    name = node.func.id
    if name not in LAYERS:
        import difflib

        close = difflib.get_close_matches(name, list(LAYERS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}?" if close else f"known layers: {', '.join(LAYERS)}"
        raise UserError(f"unknown layer {name} in {expr!r}; {hint}")
    if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        raise UserError(f"layer {expr!r}: name each argument (no * or **); write it like Linear(64, bias=False)")
    names = [k.arg for k in node.keywords]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:  # Python's parser keeps the last; a call would refuse it
        raise UserError(f"layer {expr!r} gives {twice} twice; keep one")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    except ValueError:
        raise UserError(f"layer {expr!r}: arguments must be plain numbers, booleans, strings or tuples") from None
    for node_value, value in zip([*node.args, *(k.value for k in node.keywords)], [*args, *kwargs.values()]):
        if not _finite(value):  # 1e400 reads as inf, written back as `inf`, which no parse reads
            raise UserError(f"layer {expr!r}: {ast.get_source_segment(text, node_value)} is not a finite number; "
                            "give a finite one")
    return name, args, kwargs


def _finite(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    return not isinstance(value, (float, complex)) or math.isfinite(abs(value))


def canonical(expr: str) -> str:
    """The layer as a call written afresh from what `parse` read: a string from a checkpoint someone else made is
    written into exported code and cards as this, never as it came."""
    name, args, kwargs = parse(expr)
    return f"{name}({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()])})"
