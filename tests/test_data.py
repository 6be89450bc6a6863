"""CSV and built-in data -> tensors: columns, task, encoding, scaling on the training split only."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tui.core.data import prepare, split_indices
from tui.core.datasets import BUILTINS
from tui.core.errors import UserError
from tui.core.spec import DataSpec


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_categorical_features_are_one_hot_and_labels_indexed(tmp_path):
    rows = ["size,colour,weight,kind"]
    rng = np.random.default_rng(0)
    for i in range(40):
        colour = ["red", "green", "blue"][i % 3]
        rows.append(f"{rng.normal(10, 2):.3f},{colour},{rng.integers(1, 9)},{'cat' if i % 2 else 'dog'}")
    path = write(tmp_path, "pets.csv", "\n".join(rows) + "\n")
    data = prepare(DataSpec(dataset=path, val_split=0.25), seed=1)
    pre = data.pre
    assert pre.task == "classification" and pre.classes == ["cat", "dog"] and pre.target == "kind"
    assert [c.kind for c in pre.columns] == ["numeric", "categorical", "numeric"]
    assert pre.columns[1].categories == ["blue", "green", "red"]
    assert data.x_train.shape == (30, 5) and data.x_val.shape == (10, 5)
    assert data.y_train.dtype == torch.int64 and set(data.y_train.tolist()) <= {0, 1}
    onehot = data.x_train[:, 1:4]
    assert torch.equal(onehot.sum(1), torch.ones(30))
    # labels map back: row order is the file's, train rows sorted
    train_idx, val_idx = split_indices(40, 0.25, 1)
    frame = pd.read_csv(path)
    expected = [pre.classes.index(k) for k in frame["kind"].iloc[train_idx]]
    assert data.y_train.tolist() == expected


def test_standardisation_uses_training_rows_only(tmp_path):
    values = list(range(100))
    path = write(tmp_path, "lin.csv", "x,y\n" + "".join(f"{v},{2 * v + 0.5}\n" for v in values))
    data = prepare(DataSpec(dataset=path, val_split=0.3), seed=3)
    train_idx, _ = split_indices(100, 0.3, 3)
    train_x = np.array(values, dtype=np.float64)[train_idx]
    col = data.pre.columns[0]
    assert col.mean == pytest.approx(train_x.mean()) and col.std == pytest.approx(train_x.std())
    assert abs(float(data.x_train.mean())) < 1e-5
    assert float(data.x_train.std(unbiased=False)) == pytest.approx(1, abs=1e-4)
    # the regression target is standardised for training, with training statistics
    assert data.pre.task == "regression"
    assert data.pre.target_mean == pytest.approx((2 * train_x + 0.5).mean())
    assert data.y_train.shape == (70, 1) and abs(float(data.y_train.mean())) < 1e-5


def test_a_big_table_is_written_by_threads_exactly_as_one_pass_would(tmp_path, monkeypatch):
    """Blocks of rows shared among threads, each split gathered from the table: the same matrix as one pass."""
    from tui.core import preprocess

    monkeypatch.setattr(preprocess, "BLOCK_ROWS", 1000)
    monkeypatch.setattr(preprocess, "WORKERS", 2)
    rng = np.random.default_rng(5)
    n = 7 * preprocess.BLOCK_ROWS + 123
    frame = pd.DataFrame({"a": rng.normal(100, 5, n), "b": rng.integers(0, 50, n).astype(float),
                          "c": rng.choice(["x", "y", "z"], n), "y": rng.normal(size=n)})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    data = prepare(DataSpec(dataset=str(path), val_split=0.2), seed=2)
    train_idx, val_idx = split_indices(n, 0.2, 2)
    frame = pd.read_csv(path)
    cols = data.pre.columns
    for rows, x in ((train_idx, data.x_train), (val_idx, data.x_val)):
        expected = np.zeros((len(rows), 5), dtype=np.float32)
        for j, c in enumerate(cols[:2]):
            expected[:, j] = (frame[c.name].to_numpy()[rows] - c.mean) / c.std
        expected[np.arange(len(rows)), 2 + np.searchsorted(cols[2].categories, frame["c"].to_numpy()[rows])] = 1
        assert torch.equal(x, torch.from_numpy(expected))
    monkeypatch.setattr(preprocess, "WORKERS", 1)
    single = data.pre.transform_splits(frame, "big", [train_idx, val_idx])
    assert torch.equal(data.x_train, torch.from_numpy(single[0]))
    assert torch.equal(data.x_val, torch.from_numpy(single[1]))


def test_split_is_seeded_disjoint_and_complete():
    a_train, a_val = split_indices(150, 0.2, 0)
    b_train, b_val = split_indices(150, 0.2, 0)
    c_train, _ = split_indices(150, 0.2, 1)
    assert np.array_equal(a_train, b_train) and np.array_equal(a_val, b_val)
    assert not np.array_equal(a_train, c_train)
    assert len(a_val) == 30 and sorted(np.concatenate([a_train, a_val]).tolist()) == list(range(150))
    assert len(split_indices(10, 0.0, 0)[1]) == 0


@pytest.mark.parametrize("csv,spec,message", [
    ("a,b\n1,x\n2,y\n", dict(task="regression"), "regression target b in"),
    ("a,b\n1,x\n2,x\n", {}, "has a single class ('x')"),
    ("a,b\n1,True\n2,False\n", dict(task="regression"), "regression target b in"),
    ("a,b\n1,2\n,3\n", {},
     "has empty, non-numeric or infinite cells: a 1 (first in data row 2); fill them, or pass --missing drop"),
    ("a,b\n1,2\n3,4\n", dict(target="c"), "data.target: 'c' not a column of"),
    ("Age ,Price \n1,2\n3,4\n", dict(target="price"), "data.target: 'price' not a column of {path} (did you mean "
                                                        "'Price'?); columns: Age, Price"),
    ("a,b\n1,2\n3,4\n", dict(features=["z"]), "data.features: 'z' not a column of"),
    ("a,b\n1,2\n3,4\n", dict(features=["a", "b"], target="b"), "includes the target 'b'"),
    ("b\n1\n2\n", {}, "has no usable feature columns besides the target"),
    ("a,b\n", {}, "has no data rows"),
    ("", {}, "is empty"),
])
def test_bad_data_is_refused_with_the_column_and_fix(tmp_path, csv, spec, message):
    path = write(tmp_path, "d.csv", csv)
    with pytest.raises(UserError) as e:
        prepare(DataSpec(dataset=path, **spec), seed=0)
    assert message.format(path=path) in str(e.value)


def test_column_names_and_cells_with_spaces_after_commas(tmp_path):
    path = write(tmp_path, "sp.csv",
                 "a, b, kind\n" + "".join(f"{i}, {i * 2}, {'x' if i % 2 else 'y'}\n" for i in range(20)))
    data = prepare(DataSpec(dataset=path, target="kind", features=["b"]), seed=0)
    assert data.pre.feature_names == ["b"] and data.pre.classes == ["x", "y"]
    assert data.pre.columns[0].kind == "numeric"


def test_missing_file_names_builtins(tmp_path):
    with pytest.raises(UserError, match="neither a built-in dataset .*iris.* nor an existing file"):
        prepare(DataSpec(dataset=str(tmp_path / "nope.csv")), seed=0)


def test_task_inference_and_override(tmp_path):
    ints = write(tmp_path, "ints.csv", "x,y\n" + "".join(f"{i},{i % 4}\n" for i in range(40)))
    many = write(tmp_path, "many.csv", "x,y\n" + "".join(f"{i},{i * 7}\n" for i in range(40)))
    assert prepare(DataSpec(dataset=ints), 0).pre.classes == [0, 1, 2, 3]
    assert prepare(DataSpec(dataset=many), 0).task == "regression"
    assert prepare(DataSpec(dataset=ints, task="regression"), 0).task == "regression"
    forced = prepare(DataSpec(dataset=many, task="classification", val_split=0), 0)
    assert forced.task == "classification" and len(forced.pre.classes) == 40


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_loads_with_its_task(name):
    b = BUILTINS[name]
    data = prepare(DataSpec(dataset=name), seed=0)
    assert data.task == b.task
    n = len(data.x_train) + len(data.x_val)
    assert n == len(b.frame(0)) and n >= 150
    assert torch.isfinite(data.x_train).all()


def test_builtin_shapes_are_the_real_datasets():
    assert prepare(DataSpec(dataset="digits"), 0).input_shape == (64,)
    assert prepare(DataSpec(dataset="iris"), 0).pre.classes == ["setosa", "versicolor", "virginica"]
    assert prepare(DataSpec(dataset="wine"), 0).input_shape == (13,)
    assert prepare(DataSpec(dataset="diabetes"), 0).pre.target == "progression"
    # synthetic sets are generated from the seed
    assert BUILTINS["moons"].frame(1).equals(BUILTINS["moons"].frame(1))
    assert not BUILTINS["moons"].frame(1).equals(BUILTINS["moons"].frame(2))


def test_builtins_work_from_any_directory(tmp_path):
    code = ("from tui.core.data import prepare; from tui.core.spec import DataSpec; "
            "print(len(prepare(DataSpec(dataset='wine'), 0).x_train))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "142"


def test_several_regression_targets_train_together(tmp_path):
    from tui.core import job
    from tui.core.predict import Predictor
    from tui.core.spec import Spec

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "sum": 100 + 10 * (x[:, 0] + x[:, 1]), "diff": x[:, 0] - x[:, 1]})
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    spec = Spec().with_overrides({"data.dataset": str(path), "data.target": "sum, diff", "train.epochs": 30,
                                  "model.layers": "Linear(32), Tanh()", "train.device": "cpu",
                                  "run.runs_dir": str(tmp_path / "runs")})
    events = []
    _, folder = job.run(spec, events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["outputs"] == 2 and start["target"] == "sum, diff" and start["task"] == "regression"
    last = [e for e in events if e["event"] == "epoch"][-1]
    assert last["r2"] > 0.95
    predicted = Predictor.load(folder.checkpoint_path("best")).predict_frame(frame.head(50))
    assert list(predicted.columns) == ["sum", "diff"]
    assert np.abs(predicted["sum"] - frame["sum"].head(50)).mean() < 2.0  # in the target's own units (std ~14)
    assert np.abs(predicted["diff"] - frame["diff"].head(50)).mean() < 0.2
    with pytest.raises(UserError, match="several targets .* are for regression"):
        prepare(DataSpec(dataset=str(path), target="sum,diff", task="classification"), 0)


def test_all_finite_is_exact_when_the_quick_sum_overflows_or_cancels():
    from tui.core.preprocess import all_finite

    assert all_finite(np.array([1e308, 1e308, -5.0]))  # the sum overflows; every cell is finite
    assert not all_finite(np.array([1.0, np.nan, 2.0]))
    assert not all_finite(np.array([np.inf, -np.inf]))  # the sum is NaN
    assert not all_finite(np.array([1e308, np.inf]))
    assert all_finite(np.arange(10.0)) and all_finite(np.array([]))


def test_an_integer_target_with_a_value_for_nearly_every_row_is_a_quantity_not_classes(tmp_path):
    """A small houses file's price in whole thousands: 18 distinct values in 19 rows was taken for 18 classes
    of about one row each (and 'classes absent from the training split'); integers that rows share stay classes."""
    from tui.core.spec import DataSpec

    r = np.random.default_rng(0)
    prices = list(range(200, 380, 10)) + [200]
    houses = pd.DataFrame({"area": r.uniform(50, 200, 19).round(1), "rooms": r.integers(1, 6, 19), "price": prices})
    houses.to_csv(tmp_path / "houses.csv", index=False)
    prepared = prepare(DataSpec(dataset=str(tmp_path / "houses.csv")), 0)
    assert prepared.pre.task == "regression"
    assert "task: regression, because target price holds 18 distinct integers in 19 rows" in " ".join(
        prepared.notices)
    grades = houses.assign(price=r.integers(1, 4, 19))  # three grades, shared by rows: classes
    grades.to_csv(tmp_path / "grades.csv", index=False)
    assert prepare(DataSpec(dataset=str(tmp_path / "grades.csv")), 0).pre.task == "classification"
