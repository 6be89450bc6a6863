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
    ("LayerNorm((4, 6, 6))", (4, 6, 6), (4, 6, 6), 2 * 144, nn.LayerNorm((4, 6, 6))),
    ("LayerNorm((6, 6))", (4, 6, 6), (4, 6, 6), 2 * 36, nn.LayerNorm((6, 6))),
    ("BatchNorm2d()", (4, 6, 6), (4, 6, 6), 8, nn.BatchNorm2d(4)),
    ("BatchNorm2d(4, eps=0.001, momentum=0.5)", (4, 6, 6), (4, 6, 6), 8, nn.BatchNorm2d(4, eps=0.001, momentum=0.5)),
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
                           "BatchNorm1d", "LayerNorm", "Flatten", "Unflatten", "Conv2d", "MaxPool2d", "BatchNorm2d"}


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


# ---- the batch dimension, norms' arguments, BatchNorm2d, the added Flatten ------------------------------------
@pytest.mark.parametrize("stack,input_shape,message", [
    # the check's own batch of 2 rows made these look valid; the run then crashed at its first batch
    ("Unflatten(0, (2, 1)), Linear(16)", (64,),
     "layer 1 Unflatten(0, (2, 1)): reshapes the batch dimension (dim 0); use dimensions from 1 on"),
    ("Unflatten(0, (3, 1))", (64,),
     "layer 1 Unflatten(0, (3, 1)): reshapes the batch dimension (dim 0); use dimensions from 1 on"),
    ("Unflatten(-2, (2, 1))", (64,), "layer 1 Unflatten(-2, (2, 1)): reshapes the batch dimension (dim 0; dim=-2 "
                                     "counts back to it in (N, 64)); use dimensions from 1 on"),
    # merging the batch with a dimension of size 1 keeps every batch's size: only the arguments tell
    ("Unflatten(1, (1, 8, 8)), Flatten(-4, 1)", (64,), "layer 2 Flatten(-4, 1): reshapes the batch dimension (dim 0; "
                                                       "start_dim=-4 counts back to it in (N, 1, 8, 8)); use "
                                                       "dimensions from 1 on"),
    ("Unflatten(1, (1, 8, 8)), Flatten(end_dim=-4)", (64,), "layer 2 Flatten(end_dim=-4): reshapes the batch "
                                                            "dimension (dim 0; end_dim=-4 counts back to it in "
                                                            "(N, 1, 8, 8)); use dimensions from 1 on"),
    ("Flatten(0, 0)", (4,), "layer 1 Flatten(0, 0): reshapes the batch dimension (dim 0); use dimensions from 1 on"),
])
def test_a_layer_that_touches_the_batch_dimension_is_refused_whatever_the_checks_batch(stack, input_shape, message):
    with pytest.raises(UserError) as e:
        resolve(stack, input_shape, 3)
    assert str(e.value) == message
    # dims that count back to dim 1 or later are fine
    assert resolve("Unflatten(-1, (1, 8, 8)), Flatten(-3)", (64,), 3).exprs[:2] == ["Unflatten(-1, (1, 8, 8))",
                                                                                 "Flatten(start_dim=-3)"]


def test_the_shape_probe_alone_tells_a_batch_reshape_from_two_batch_sizes(monkeypatch):
    """Behind the arguments' check: each layer runs on batches of 2 and 3 rows, and one whose output batch is not
    its input's is refused, whichever size its arguments happen to fit."""
    from tui.core import layers

    monkeypatch.setattr(layers, "_refuse_batch_dim", lambda *a: None)
    for rows in (2, 3):
        with pytest.raises(UserError) as e:
            resolve(f"Unflatten(0, ({rows}, 1))", (64,), 3)
        assert str(e.value) == (f"layer 1 Unflatten(0, ({rows}, 1)): reshapes the batch dimension (dim 0); use "
                                "dimensions from 1 on")


def test_a_run_whose_layer_reshapes_the_batch_is_refused_before_training(tmp_path):
    from test_cli import invoke, one_error_line

    said = invoke("run", "-d", "digits", "-l", "Unflatten(0, (2, 1)), Linear(16)", "--epochs", "1",
                  "--runs-dir", tmp_path / "r", "--name", "u0")
    assert said.exit_code == 2, said.stderr
    assert one_error_line(said.stderr) == ("error: layer 1 Unflatten(0, (2, 1)): reshapes the batch dimension "
                                           "(dim 0); use dimensions from 1 on")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("stack,input_shape,message", [
    ("BatchNorm1d(momentum=2)", (4,), "layer 1 BatchNorm1d(momentum=2): momentum must be >= 0 and <= 1, got 2.0"),
    ("Linear(8), BatchNorm1d(8, 1e-05, 1.5)", (4,),
     "layer 2 BatchNorm1d(8, 1e-05, 1.5): momentum must be >= 0 and <= 1, got 1.5"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm2d(momentum=-0.1)", (64,),
     "layer 3 BatchNorm2d(momentum=-0.1): momentum must be >= 0 and <= 1, got -0.1"),
])
def test_a_batch_norm_momentum_outside_0_to_1_is_refused(stack, input_shape, message):
    with pytest.raises(UserError) as e:
        resolve(stack, input_shape, 3)
    assert str(e.value) == message
    assert resolve("BatchNorm1d(momentum=0), BatchNorm1d(momentum=1)", (4,), 3).exprs[:2] == [
        "BatchNorm1d(4, momentum=0.0)", "BatchNorm1d(4, momentum=1.0)"]


def test_layer_norm_takes_any_trailing_part_of_the_shape():
    conv = "Unflatten(1, (1, 8, 8)), Conv2d(4, 3)"
    for given, params in (("(4, 6, 6)", 2 * 144), ("(6, 6)", 2 * 36), ("(6,)", 12), ("6", 12), ("", 12)):
        stack = resolve(f"{conv}, LayerNorm({given})", (64,), 10)
        norm = stack.layers[2]
        assert norm.out_shape == (4, 6, 6) and norm.params == params
        assert norm.expr == f"LayerNorm({given or 6})"
        assert repr(build_sequential([norm.expr])[0]) == repr(nn.LayerNorm(eval(given or "6")))
        assert stack.build()(torch.randn(5, 64)).shape == (5, 10)


@pytest.mark.parametrize("stack,message", [
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), LayerNorm((4, 6))",
     "layer 3 LayerNorm((4, 6)): normalized_shape is (4, 6), but the layer before gives (4, 6, 6); give its last "
     "dimensions, like (6, 6) or 6, or leave it out and the last one is inferred"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), LayerNorm((1, 4, 6, 6))",
     "layer 3 LayerNorm((1, 4, 6, 6)): normalized_shape is (1, 4, 6, 6), but the layer before gives (4, 6, 6); give "
     "its last dimensions, like (6, 6) or 6, or leave it out and the last one is inferred"),
    ("Linear(8), LayerNorm(7)",
     "layer 2 LayerNorm(7): normalized_shape is 7, but the layer before gives (8,); give 8, or leave it out and it "
     "is inferred"),
    ("LayerNorm((1, 64))",
     "layer 1 LayerNorm((1, 64)): normalized_shape is (1, 64), but the data gives (64,); give 64, or leave it out "
     "and it is inferred"),
    # BatchNorm2d after a conv and nowhere else
    ("BatchNorm2d()", "layer 1 BatchNorm2d(): needs an image input (channels, height, width) but gets (64,); put "
                      "Unflatten(1, (1, H, W)) before it"),
    ("Unflatten(1, (4, 16)), BatchNorm2d()", "layer 2 BatchNorm2d(): needs an image input (channels, height, width) "
                                             "but gets (4, 16); put Unflatten(1, (1, 4)) before it: (4, 16) "
                                             "becomes (1, 4, 16)"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm2d(5)",
     "layer 3 BatchNorm2d(5): num_features is 5, but the layer before gives 4; leave it out and it is inferred"),
    ("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm1d()",
     "layer 3 BatchNorm1d(): takes (features,) or (channels, length) but gets the image (4, 6, 6); use "
     "BatchNorm2d() after a Conv2d"),
])
def test_a_norm_layer_that_does_not_fit_its_input_is_refused_with_the_whole_shape(stack, message):
    with pytest.raises(UserError) as e:
        resolve(stack, (64,), 10)
    assert str(e.value) == message


def test_a_conv_takes_pytorchs_same_and_valid_padding():
    """padding='same' (PyTorch >= 1.9) was refused as "must be an integer >= 0 or a pair"."""
    same = resolve("Unflatten(1, (1, 8, 8)), Conv2d(4, 3, padding='same')", (64,), 10)
    assert same.exprs[1] == "Conv2d(1, 4, 3, padding='same')" and same.layers[1].out_shape == (4, 8, 8)
    assert resolve("Unflatten(1, (1, 8, 8)), Conv2d(4, 3, padding='valid')", (64,), 10).layers[1].out_shape == (4, 6, 6)
    for stack, message in [
        ("Conv2d(4, 3, padding='full')", "padding must be an integer >= 0 or a pair like (3, 3), or 'same' or 'valid', "
                                         "got 'full'"),
        ("MaxPool2d(2, padding='same')", "padding must be an integer >= 0 or a pair like (3, 3), got 'same'"),
        ("Conv2d(4, 3, stride=2, padding='same')", "cannot take input (1, 8, 8): padding='same' is not supported for "
                                                   "strided convolutions"),
    ]:
        with pytest.raises(UserError) as e:
            resolve(f"Unflatten(1, (1, 8, 8)), {stack}", (64,), 10)
        assert str(e.value) == f"layer 2 {stack}: {message}"


def test_unflatten_works_out_one_size_given_as_minus_one():
    """`Unflatten(1, (1, -1, 8))` (PyTorch works the -1 out) was refused as "a tuple of sizes >= 1"."""
    stack = resolve("Unflatten(1, (1, -1, 8)), Conv2d(4, 3)", (64,), 10)
    assert stack.exprs[0] == "Unflatten(1, (1, -1, 8))" and stack.layers[0].out_shape == (1, 8, 8)
    for sizes in ("(-1, -1, 8)", "(0, 8, 8)"):
        with pytest.raises(UserError, match=r"unflattened_size must be a tuple of sizes >= 1, like \(1, 8, 8\), one "
                                            r"of them -1 at most \(worked out\), got"):
            resolve(f"Unflatten(1, {sizes})", (64,), 10)


def test_batch_norm_2d_after_a_conv_infers_its_channels():
    stack = resolve("Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm2d(), ReLU()", (64,), 10)
    assert stack.exprs == ["Unflatten(1, (1, 8, 8))", "Conv2d(1, 4, 3)", "BatchNorm2d(4)", "ReLU()", "Flatten()",
                           "Linear(144, 10)"]
    assert stack.layers[2].params == 8


def test_a_conv_net_with_batch_norm_2d_trains_on_digits(tmp_path):
    from tui.core import job

    from conftest import make_spec

    spec = make_spec(tmp_path, data__dataset="digits", train__epochs=2, train__patience=0, train__threads=1,
                     model__layers="Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm2d(), ReLU(), MaxPool2d(2)")
    outcome, folder = job.run(spec, lambda e: None)
    assert outcome.status == "done" and outcome.progress.epoch == 2
    model = torch.load(folder.checkpoint_path("last"), weights_only=True)
    assert model["layers"][2] == "BatchNorm2d(4)"
    assert model["model"]["2.running_mean"].shape == (4,) and model["model"]["2.num_batches_tracked"] > 0


def test_the_summary_says_what_each_added_layer_is():
    text = resolve("Unflatten(1, (1, 8, 8)), Linear(32)", (64,), 10).summary()
    assert text.splitlines()[4:6] == [
        "3  Flatten()                (256,)           0  + added: flattens (1, 8, 32) for the output layer",
        "4  Linear(256, 10)          (10,)        2,570  + output layer, sized from the target"]
    assert [line for line in resolve("Linear(32), ReLU(), Linear(3)", (4,), 3).summary().splitlines()
            if "+" in line] == []
