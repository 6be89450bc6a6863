"""Layer stacks: every layer builds with inferred sizes, shapes and parameter counts are PyTorch's,
the output layer is added when missing, and a stack that cannot run is refused at its layer."""

import pytest
import torch
from torch import nn

from tui.core.errors import UserError
from tui.core.layers import LAYERS, build_sequential, parse, resolve


@pytest.mark.parametrize("expr,input_shape,out_shape,params,torch_layer", [
    ("Linear(16)", (4,), (16,), 4 * 16 + 16, nn.Linear(4, 16)),
    ("Linear(4, 16)", (4,), (16,), 80, nn.Linear(4, 16)),
    ("Linear(16, bias=False)", (4,), (16,), 64, nn.Linear(4, 16, bias=False)),
    ("ReLU()", (5,), (5,), 0, nn.ReLU()),
    ("Sigmoid()", (5,), (5,), 0, nn.Sigmoid()),
    ("Tanh()", (5,), (5,), 0, nn.Tanh()),
    ("LeakyReLU(0.2)", (5,), (5,), 0, nn.LeakyReLU(0.2)),
    ("GELU()", (5,), (5,), 0, nn.GELU()),
    ("GELU(approximate='tanh')", (5,), (5,), 0, nn.GELU(approximate="tanh")),
    ("SiLU()", (5,), (5,), 0, nn.SiLU()),
    ("Dropout(0.1)", (5,), (5,), 0, nn.Dropout(0.1)),
    ("BatchNorm1d()", (6,), (6,), 12, nn.BatchNorm1d(6)),
    ("LayerNorm()", (6,), (6,), 12, nn.LayerNorm(6)),
    ("Flatten()", (2, 3, 4), (24,), 0, nn.Flatten()),
    ("Unflatten(1, (1, 8, 8))", (64,), (1, 8, 8), 0, nn.Unflatten(1, (1, 8, 8))),
    ("Conv2d(8, 3, padding=1)", (1, 8, 8), (8, 8, 8), 1 * 8 * 9 + 8, nn.Conv2d(1, 8, 3, padding=1)),
    ("Conv2d(1, 8, 3)", (1, 8, 8), (8, 6, 6), 80, nn.Conv2d(1, 8, 3)),
    ("Conv2d(4, kernel_size=(3, 2), stride=2)", (2, 9, 9), (4, 4, 4), 2 * 4 * 6 + 4, nn.Conv2d(2, 4, (3, 2), stride=2)),
    ("MaxPool2d(2)", (3, 8, 8), (3, 4, 4), 0, nn.MaxPool2d(2)),
    ("nn.ReLU", (5,), (5,), 0, nn.ReLU()),
])
def test_each_layer_resolves_and_runs(expr, input_shape, out_shape, params, torch_layer):
    stack = resolve([expr], input_shape, n_outputs=3)
    layer = stack.layers[0]
    assert layer.out_shape == out_shape
    assert layer.params == params == sum(p.numel() for p in torch_layer.parameters())
    module = build_sequential([layer.expr])[0]
    assert type(module) is type(torch_layer)
    assert repr(module) == repr(torch_layer)
    # and the built model really runs on a batch of that shape
    model = stack.build()
    assert model(torch.randn(4, *input_shape)).shape == (4, 3)


def test_every_registered_layer_is_covered_above():
    assert set(LAYERS) == {"Linear", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "GELU", "SiLU", "Dropout",
                           "BatchNorm1d", "LayerNorm", "Flatten", "Unflatten", "Conv2d", "MaxPool2d"}


def test_output_layer_is_added_when_the_stack_ends_hidden():
    stack = resolve("Linear(32), ReLU()", (4,), 3)
    assert stack.exprs == ["Linear(4, 32)", "ReLU()", "Linear(32, 3)"]
    assert [layer.added for layer in stack.layers] == [False, False, True]
    assert stack.params == 4 * 32 + 32 + 32 * 3 + 3
    assert "+ output layer, sized from the target" in stack.summary()
    # a stack that already ends in the right Linear is left alone
    assert resolve("Linear(32), ReLU(), Linear(3)", (4,), 3).exprs == ["Linear(4, 32)", "ReLU()", "Linear(32, 3)"]
    # an empty stack is a linear model; an image output gets Flatten first
    assert resolve([], (4,), 1).exprs == ["Linear(4, 1)"]
    conv = resolve("Unflatten(1, (1, 8, 8)), Conv2d(4, 3)", (64,), 10)
    assert conv.exprs[-2:] == ["Flatten()", "Linear(144, 10)"]


def test_summary_lists_shapes_and_parameters():
    text = resolve("Unflatten(1, (1, 8, 8)), Conv2d(8, 3, padding=1), ReLU(), MaxPool2d(2), Flatten()",
                   (64,), 10).summary()
    assert "Conv2d(1, 8, 3, padding=1)  (8, 8, 8)" in text
    assert "MaxPool2d(2)" in text and "(8, 4, 4)" in text
    assert "Linear(128, 10)" in text and "1,290" in text
    assert text.splitlines()[-1].split()[-1] == f"{80 + 1290:,}"


def test_shape_inference_draws_no_random_numbers():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    resolve("Linear(64), ReLU(), BatchNorm1d(), Linear(8)", (10,), 2)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("stack,input_shape,message", [
    ("Conv2d(8)", (4,),
     "layer 1 Conv2d(8): needs an image input (channels, height, width) but gets (4,); put Unflatten"),
    ("Linear(64), MaxPool2d(2)", (4,), "layer 2 MaxPool2d(2): needs an image input"),
    ("Linear(0)", (4,), "layer 1 Linear(0): out_features must be an integer >= 1, got 0"),
    ("Linear(5, 3)", (4,), "layer 1 Linear(5, 3): in_features is 5, but the data gives 4"),
    ("Linear(8), BatchNorm1d(7)", (4,), "layer 2 BatchNorm1d(7): num_features is 7, but the layer before gives 8"),
    ("Dropout(1.5)", (4,), "layer 1 Dropout(1.5): p must be >= 0 and < 1, got 1.5"),
    ("Linera(3)", (4,), "unknown layer Linera in 'Linera(3)'; did you mean Linear?"),
    ("Linear(64", (4,), "cannot read layer 'Linear(64'"),
    ("Linear(n)", (4,), "arguments must be plain numbers"),
    ("__import__('os').system('true')", (4,), "cannot read layer"),
    ("Linear(3, bogus=1)", (4,), "unknown argument bogus"),
    ("Flatten(0)", (4,), "layer 1 Flatten(0): reshapes the batch dimension (dim 0)"),
    ("Unflatten(1, (2, 2)), Flatten(0, 1)", (4,), "layer 2 Flatten(0, 1): reshapes the batch dimension"),
    ("Unflatten(1, (2, 8, 8))", (64,), "layer 1 Unflatten(1, (2, 8, 8)): cannot take input (64,)"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 9)", (64,), "layer 2 Conv2d(4, 9): cannot take input (1, 8, 8)"),
    ("Unflatten(1, (1, 2, 2)), MaxPool2d(2), MaxPool2d(2)", (4,), "layer 3 MaxPool2d(2): cannot take input (1, 1, 1)"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3, padding=-1)", (64,), "padding must be an integer >= 0"),
])
def test_a_stack_that_cannot_run_is_refused_at_its_layer(stack, input_shape, message):
    with pytest.raises(UserError) as e:
        resolve(stack, input_shape, 3)
    assert message in str(e.value)


def test_parse_reads_literals_only():
    assert parse("Conv2d(8, kernel_size=3)") == ("Conv2d", [8], {"kernel_size": 3})
    assert parse("ReLU") == ("ReLU", [], {})
