"""The spec: defaults, TOML round trip, overrides, and refusals that name the field and the fix."""

import pytest

from tui.core.errors import UserError
from tui.core.spec import Spec, option, spec_field, spec_fields, split_top_level


def test_toml_round_trip_keeps_every_field(tmp_path):
    spec = Spec().with_overrides({
        "data.dataset": "my data/\"quoted\" é.csv", "data.features": ["a", "b c"], "data.val_split": 0.25,
        "model.layers": "Linear(64), Unflatten(1, (1, 8, 8)), Dropout(0.1)", "train.lr": 3e-5,
        "train.optimizer": "sgd", "train.momentum": 0.9, "train.nesterov": True, "train.epochs": 7,
        "run.name": "exp-1",
    })
    assert spec.model.layers == ["Linear(64)", "Unflatten(1, (1, 8, 8))", "Dropout(0.1)"]
    assert spec.train.optimizer == "SGD"  # names are matched case-insensitively
    for comments in (False, True):
        assert Spec.from_toml(spec.to_toml(comments=comments)) == spec
    path = tmp_path / "exp.toml"
    path.write_text(spec.to_toml())
    assert Spec.from_file(path) == spec
    assert Spec.from_dict(spec.to_dict()) == spec


def test_defaults_are_a_runnable_spec():
    spec = Spec.from_toml(Spec().to_toml(comments=True))
    assert spec == Spec()
    assert spec.data.dataset == "iris" and spec.train.device == "auto"


def test_partial_file_takes_defaults(tmp_path):
    spec = Spec.from_toml("[train]\nlr = 0.5\n")
    assert spec.train.lr == 0.5 and spec.train.epochs == Spec().train.epochs


def test_loss_names_accept_pytorch_spellings():
    for name in ("MSELoss", "mse", "CrossEntropyLoss", "cross_entropy", "BCEWithLogitsLoss"):
        Spec().with_overrides({"train.loss": name})
    assert Spec().with_overrides({"train.loss": "cross_entropy"}).train.loss == "CrossEntropy"


@pytest.mark.parametrize("overrides,message", [
    ({"train.lr": -1}, "train.lr must be a number > 0, got -1"),
    ({"train.lr": "fast"}, "train.lr must be a number, got 'fast'"),
    ({"train.epochs": 0}, "train.epochs must be an integer >= 1, got 0"),
    ({"train.epochs": 2.5}, "train.epochs must be an integer, got 2.5"),
    ({"train.batch_size": True}, "train.batch_size must be an integer, got True"),
    ({"train.optimizer": "Adamm"}, "train.optimizer must be one of SGD, Adam, AdamW, RMSprop, got 'Adamm'"),
    ({"train.loss": "hinge"}, "train.loss must be one of"),
    ({"train.scheduler": "exp"}, "train.scheduler must be one of none, step, cosine, onecycle, plateau"),
    ({"train.device": "gpu"}, "train.device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
    ({"train.momentum": 0.9, "train.optimizer": "Adam"}, "train.momentum applies to SGD and RMSprop"),
    ({"train.nesterov": True}, "train.nesterov needs train.optimizer = SGD with train.momentum > 0"),
    ({"data.val_split": 1.0}, "data.val_split must be a number >= 0 and < 1, got 1"),
    ({"data.task": "clustering"}, "data.task must be one of auto, classification, regression"),
    ({"train.gamma": 0}, "train.gamma must be a number > 0 and <= 1"),
    ({"train.grad_clip": -1}, "train.grad_clip must be a number >= 0"),
    ({"run.name": "../x"}, "run.name must be letters, digits"),
    ({"train.lr": float("nan")}, "train.lr must be a finite number"),
])
def test_bad_values_are_refused_with_path_and_fix(overrides, message):
    with pytest.raises(UserError) as e:
        Spec().with_overrides(overrides)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_keys_are_refused_with_a_suggestion():
    with pytest.raises(UserError, match=r"unknown key train.lrr; did you mean train.lr\?"):
        Spec.from_toml("[train]\nlrr = 0.1\n", source="exp.toml")
    with pytest.raises(UserError, match=r"exp.toml: unknown key trian"):
        Spec.from_toml("[trian]\nlr = 0.1\n", source="exp.toml")
    with pytest.raises(UserError, match=r"exp.toml: train.lr must be a number, got 'x'"):
        Spec.from_toml("[train]\nlr = 'x'\n", source="exp.toml")


def test_a_key_in_the_wrong_place_is_told_where_it_belongs():
    # above every header: TOML gives it no section, and "did you mean data?" led to `data = "iris"`, refused next
    with pytest.raises(UserError) as e:
        Spec.from_toml('dataset = "iris"\n[train]\nepochs = 2\n', source="exp.toml")
    assert str(e.value) == ("exp.toml: dataset is above every section header, where it belongs to none; it is a key "
                            "of [data]: move it under the [data] line (or write `[data]` above it)")
    with pytest.raises(UserError, match=r"^exp.toml: epochs is above every section header, .* a key of \[train\]"):
        Spec.from_toml("epochs = 2\n[data]\ndataset = 'iris'\n", source="exp.toml")
    with pytest.raises(UserError) as e:  # another section's key
        Spec.from_toml("[model]\nlr = 0.1\n", source="exp.toml")
    assert str(e.value) == "exp.toml: unknown key model.lr; lr belongs in [train] (train.lr)"
    with pytest.raises(UserError, match=r"unknown key run.layers; layers belongs in \[model\] \(model.layers\)"):
        Spec.from_toml("[run]\nlayers = 'Linear(8)'\n", source="exp.toml")
    assert Spec.from_toml('[data]\ndataset = "iris"\n[train]\nlr = 0.1\n').train.lr == 0.1  # where they belong


def test_broken_toml_and_missing_file_are_one_line(tmp_path):
    with pytest.raises(UserError, match="is not valid TOML"):
        Spec.from_toml("[train\nlr=1", source="exp.toml")
    with pytest.raises(UserError, match="config file .* not found"):
        Spec.from_file(tmp_path / "nope.toml")


def test_split_top_level_respects_brackets():
    assert split_top_level("Linear(64), Unflatten(1, (1, 8, 8)),Conv2d(8, kernel_size=(3, 3))") == [
        "Linear(64)", "Unflatten(1, (1, 8, 8))", "Conv2d(8, kernel_size=(3, 3))"]
    assert split_top_level("") == []


def test_spec_fields_are_every_field_with_its_declaration():
    """One list of fields, in the order of the TOML, each with the type and default of the dataclass."""
    infos = spec_fields()
    defaults = Spec().to_dict()
    assert [i.path for i in infos] == [f"{s}.{k}" for s, section in defaults.items() for k in section]
    for info in infos:
        assert info.default == defaults[info.section][info.name], info.path
        assert info.help and "\n" not in info.help, info.path  # one comment line in the TOML
        assert (info.flag is None) == bool(info.no_flag_reason), info.path  # a flag, or a stated reason for none
        assert info.flag is None or info.flag.startswith("--"), info.path
    assert spec_field("train.lr").type is float and spec_field("train.lr").label == "Learning rate"
    assert spec_field("data.dataset_args").flag == "--dataset-arg" and spec_field("data.dataset_args").repeat
    assert spec_field("data.header").switch == ("yes", "no") and spec_field("train.nesterov").switch == (True, False)
    assert spec_field("data.dataset").short == "-d" and spec_field("model.layers").short == "-l"
    with pytest.raises(KeyError):
        spec_field("train.lrr")


def test_list_defaults_are_not_shared():
    a, b = Spec(), Spec()
    a.model.layers.append("ReLU()")
    assert b.model.layers == ["Linear(64)", "ReLU()"] and spec_field("model.layers").default == b.model.layers


def test_a_field_without_a_flag_cannot_also_declare_one():
    assert option(0, "Set by the screen.", no_flag_reason="the screen sets it").metadata["flag"] is None
    with pytest.raises(TypeError):
        option(0, "Set by the screen.", flag="--x", no_flag_reason="the screen sets it")

