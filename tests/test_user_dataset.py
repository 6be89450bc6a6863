"""A user's own Dataset class (`module:Class`): trained through a real DataLoader, checked item by item."""

import os
import sys
import textwrap

import pytest
import torch

from tui.core import job
from tui.core.data import prepare, split_indices
from tui.core.errors import UserError
from tui.core.spec import DataSpec

from conftest import make_spec, train

MODULE = '''
import pandas as pd, torch
from torch.utils.data import Dataset

class Rows(Dataset):
    """The tutorial's MyDataset(file): a prepared table, one row per item."""
    def __init__(self, file, regression=False):
        t = torch.load(file, weights_only=True)
        self.x, self.y = t["x"], (t["y"].float() if regression else t["y"])
    def __getitem__(self, i):
        return self.x[i], self.y[i]
    def __len__(self):
        return len(self.x)

class Raises(Rows):
    def __getitem__(self, i):
        if i == 7:
            raise KeyError("row 7 is missing")
        return super().__getitem__(i)

class Ragged(Rows):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return (x[:3] if i == 5 else x), y

class Single(Rows):
    def __getitem__(self, i):
        return self.x[i]

class Doubles(Rows):
    def __getitem__(self, i):
        return self.x[i].double(), self.y[i]

class Words(Rows):
    def __getitem__(self, i):
        return self.x[i], ["setosa", "versicolor", "virginica"][int(self.y[i])]

class NoLength(Rows):
    def __len__(self):
        raise RuntimeError("len broke")

class Holes(Rows):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return (x * float("nan") if i == 9 else x), y

class NeedsAPackage(Rows):
    pass

class Boxed(Rows):
    def __getitem__(self, i):
        return self.x[i], self.y[i].reshape(1)

class Gaps(Rows):
    def __getitem__(self, i):
        return self.x[i], self.y[i] * 2  # classes 0, 2, 4
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """my_rows.py in the working directory, holding iris exactly as the CSV path prepares it."""
    (tmp_path / "my_rows.py").write_text(textwrap.dedent(MODULE))
    data = prepare(DataSpec(dataset="iris", val_split=0.2), seed=0)  # scaled with training-split statistics
    train_rows, val_rows = split_indices(150, 0.2, 0)
    x, y = torch.zeros(150, 4), torch.zeros(150, dtype=torch.long)
    x[train_rows], y[train_rows], x[val_rows], y[val_rows] = data.x_train, data.y_train, data.x_val, data.y_val
    torch.save({"x": x, "y": y}, tmp_path / "iris.pt")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("my_rows", None)


def test_dataset_class_trains_like_the_csv_path(user_module):
    common = dict(model__layers="Linear(32), ReLU()", train__epochs=5, data__val_split=0.2)
    _, csv_run, csv_events = train(user_module / "a", data__dataset="iris", **common)
    _, ds_run, ds_events = train(user_module / "b", data__dataset="my_rows:Rows",
                                 data__dataset_args=[str(user_module / "iris.pt")], **common)
    csv_acc = [e["accuracy"] for e in csv_events if e["event"] == "epoch"]
    ds_acc = [e["accuracy"] for e in ds_events if e["event"] == "epoch"]
    assert ds_acc == csv_acc and ds_acc[-1] >= 0.8
    # same rows, same split, same batch order: the DataLoader path and the sliced-tensor path agree bit for bit
    a = torch.load(csv_run.checkpoint_path("last"), weights_only=True)["model"]
    b = torch.load(ds_run.checkpoint_path("last"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = next(e for e in ds_events if e["event"] == "start")
    assert start["train_rows"] == 120 and start["val_rows"] == 30 and start["table"] is False
    assert start["inputs"] == 4 and start["input_shape"] == [4]  # known from the items, not from table columns


def test_float_targets_mean_regression_and_workers_load_in_processes(user_module):
    _, folder, events = train(user_module, data__dataset="my_rows:Rows", data__workers=2, train__epochs=2,
                              data__dataset_args=[str(user_module / "iris.pt"), "True"])
    start = next(e for e in events if e["event"] == "start")
    assert start["task"] == "regression" and start["loss"] == "MSE" and start["outputs"] == 1
    assert "r2" in [e for e in events if e["event"] == "epoch"][-1]


@pytest.mark.parametrize("cls,args,message", [
    ("Raises", ["iris.pt"], "item 7 of my_rows:Raises raised KeyError: 'row 7 is missing'"),
    ("Ragged", ["iris.pt"], "item 5 of my_rows:Ragged has x of shape (3,), item 0 has (4,); all must match"),
    ("Single", ["iris.pt"], "item 0 of my_rows:Single is a Tensor; each item must be a pair (x, y)"),
    ("Rows", [], "my_rows:Rows() raised TypeError"),
    ("Nope", ["iris.pt"], "my_rows has no Nope; classes there:"),
    # a float64 x passed, then the first step raised "mat1 and mat2 must have the same dtype" (a traceback)
    ("Doubles", ["iris.pt"], "item 0 of my_rows:Doubles has x of dtype torch.float64; the model computes in float32"),
    ("Words", ["iris.pt"], "item 0 of my_rows:Words is not numbers (TypeError: "),  # (a traceback)
    ("NoLength", ["iris.pt"], "len() of my_rows:NoLength raised RuntimeError: len broke"),  # (a traceback)
    # (training "diverged ... lower the learning rate", a fix that could not work)
    ("Holes", ["iris.pt"], "item 9 of my_rows:Holes has a NaN or infinite value in its x; fill or leave out"),
])
def test_a_bad_dataset_is_named_before_training(user_module, cls, args, message):
    with pytest.raises(UserError) as e:
        train(user_module, data__dataset=f"my_rows:{cls}", data__dataset_args=args)
    assert message in str(e.value)
    assert not (user_module / "runs").exists()


def test_a_class_index_in_a_tensor_of_shape_one_is_a_class(user_module):
    # y = torch.tensor([label]) trained as regression (MSE on the class numbers) without a word
    outcomes = {cls: train(user_module, data__dataset=f"my_rows:{cls}", data__dataset_args=["iris.pt"],
                           train__epochs=2, run__name=cls) for cls in ("Rows", "Boxed")}
    starts = {cls: next(e for e in events if e["event"] == "start") for cls, (_, _, events) in outcomes.items()}
    assert starts["Boxed"]["task"] == "classification" and starts["Boxed"]["loss"] == "CrossEntropy"
    weights = {cls: torch.load(folder.path / "last.pt", weights_only=True)["model"]
               for cls, (_, folder, _) in outcomes.items()}
    assert all(torch.equal(weights["Boxed"][k], v) for k, v in weights["Rows"].items())  # as a bare index


def test_a_test_file_with_a_dataset_class_is_refused_before_training(user_module):
    # it trained whole, then failed at the predictions, and no resume could finish the run
    with pytest.raises(UserError) as e:
        train(user_module, data__dataset="my_rows:Rows", data__dataset_args=["iris.pt"], data__test="iris.csv")
    assert str(e.value).startswith(f"data.test (--test {user_module / 'iris.csv'}) is a table to predict")
    assert not (user_module / "runs").exists()


def test_a_package_the_users_module_imports_is_named_as_missing(user_module):
    # "run from the folder that holds my_imports.py", from the folder that holds it
    (user_module / "my_imports.py").write_text("import not_installed_anywhere_xyz\n")
    with pytest.raises(UserError) as e:
        train(user_module, data__dataset="my_imports:Rows")
    assert str(e.value) == ("importing my_imports for dataset my_imports:Rows failed: No module named "
                            "'not_installed_anywhere_xyz'; install it in this environment (pip install ...)")


def test_a_stack_that_does_not_fit_the_items_is_refused(user_module):
    with pytest.raises(UserError, match="layer 1 Conv2d"):
        train(user_module, data__dataset="my_rows:Rows", data__dataset_args=["iris.pt"], model__layers="Conv2d(4)")


def test_predict_explains_that_a_dataset_model_is_used_from_python(user_module):
    from tui.core.predict import Predictor
    _, folder, _ = train(user_module, data__dataset="my_rows:Rows", data__dataset_args=["iris.pt"], train__epochs=1)
    with pytest.raises(UserError, match="was trained on a Dataset class"):
        Predictor.load(folder.checkpoint_path("best"))
    job.resume(folder.path, lambda e: None, epochs=2)  # and it resumes, re-importing the class


def test_a_dataset_run_stopped_mid_epoch_resumes_exactly(user_module):
    from tui.core.errors import Interrupted

    common = dict(data__dataset="my_rows:Rows", data__dataset_args=[str(user_module / "iris.pt")], train__epochs=3,
                  train__batch_size=8, model__layers="Linear(16), ReLU(), Dropout(0.3)", train__log_interval=1e-6)
    straight = train(user_module / "a", **common)[1]
    trainers = []

    def stop_in_epoch_two(event):
        if event["event"] == "step" and event["epoch"] == 2 and event["epoch_step"] == 5:
            trainers[0].requests.stop = "test"

    from conftest import make_spec
    spec = make_spec(user_module / "b", **common)
    with pytest.raises(Interrupted):
        job.run(spec, stop_in_epoch_two, on_trainer=trainers.append)
    folder = (user_module / "b" / "runs" / spec.run.name if spec.run.name
              else next((user_module / "b" / "runs").iterdir()))
    saved = torch.load(folder / "last.pt", weights_only=True)["progress"]
    assert (saved["epoch"], saved["epoch_step"]) == (1, 6)  # asked during step 5, saved after the next step
    job.resume(folder, lambda e: None)
    a = torch.load(straight.checkpoint_path("last"), weights_only=True)["model"]
    b = torch.load(folder / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_dataset_module_edited_or_of_another_folder_is_imported_as_it_is_now(tmp_path, monkeypatch):
    """Python keeps a module once imported: the screen (one process) went on with a Dataset class the user had
    edited since, or with the my_data.py of the folder it loaded one from before."""
    from tui.core import user_dataset

    def write(folder, body: str) -> None:
        folder.mkdir(exist_ok=True)
        (folder / "my_data.py").write_text("from torch.utils.data import Dataset\nimport torch\n" + body)

    pairs = "    def __len__(self): return 4\n    def __getitem__(self, i): return torch.tensor([float(i)]), {}\n"
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "class A(Dataset):\n" + pairs.format(0))
    monkeypatch.chdir(first)
    try:
        assert user_dataset.load(DataSpec(dataset="my_data:A"))[3][1] == 0
        write(first, "class A(Dataset):\n" + pairs.format(1) + "class B(A):\n    pass\n")  # edited
        later = (first / "my_data.py").stat().st_mtime + 2  # as a user's edit comes, not in the same clock tick
        os.utime(first / "my_data.py", (later, later))
        assert user_dataset.load(DataSpec(dataset="my_data:A"))[3][1] == 1
        assert len(user_dataset.load(DataSpec(dataset="my_data:B"))) == 4
        write(second, "class C(Dataset):\n" + pairs.format(2))
        monkeypatch.chdir(second)  # another folder's my_data.py, first on the import path now
        assert user_dataset.load(DataSpec(dataset="my_data:C"))[0][1] == 2
        monkeypatch.chdir(first)  # and back: the first folder's again, though the second is on the path too
        assert user_dataset.load(DataSpec(dataset="my_data:A"))[0][1] == 1
    finally:
        sys.modules.pop("my_data", None)


@pytest.mark.parametrize("named, said", [
    ("my_rows.py:Rows", "dataset my_rows.py:Rows: name the module as Python imports it, without .py: my_rows:Rows"),
    ("./my_rows:Rows", "without a path or .py: my_rows:Rows, run from the folder that holds the file"),
    ("sub/my_rows.py:Rows", "without a path or .py: my_rows:Rows, run from the folder that holds the file"),
])
def test_a_dataset_class_named_by_its_files_path_is_told_the_module_form(user_module, named, said):
    # "run from the folder that holds my_rows/py.py", or "neither a built-in dataset nor an existing file"
    with pytest.raises(UserError) as e:
        train(user_module, data__dataset=named, data__dataset_args=["iris.pt"])
    assert said in str(e.value)


def test_table_flags_given_with_a_dataset_class_are_said_ignored(user_module):
    # (the other way round, --dataset-arg with a table, was already said)
    _, _, events = train(user_module, data__dataset="my_rows:Rows", data__dataset_args=["iris.pt"],
                         data__target="species", data__missing="drop", train__epochs=1)
    start = next(e for e in events if e["event"] == "start")
    assert start["notices"][0] == ("warning: --target, --missing drop are for a table's columns, and my_rows:Rows is "
                                   "a Dataset class (its items are x and y): ignored")



def test_class_indices_with_gaps_are_said(user_module):
    # labels 0, 2, 4: a model of 5 outputs, two of them for classes no item has, without a word
    _, _, events = train(user_module, data__dataset="my_rows:Gaps", data__dataset_args=["iris.pt"], train__epochs=1)
    start = next(e for e in events if e["event"] == "start")
    assert "warning: no item has class 1, 3: classes are the indices 0..4, one output each; number the classes " \
           "from 0 without gaps" in start["notices"]


@pytest.mark.parametrize("module", ["tui", "csv"])
def test_a_module_named_as_one_already_loaded_is_told_to_be_renamed(user_module, module):
    """tui.py beside the user is not what `import tui` finds (torchtui's own package), nor csv.py (the standard
    library's, loaded before): it was told "tui has no Rows", of the file that has it. Renamed, it trains."""
    (user_module / f"{module}.py").write_text((user_module / "my_rows.py").read_text())
    with pytest.raises(UserError) as e:
        train(user_module, data__dataset=f"{module}:Rows", train__epochs=1)
    origin = sys.modules[module].__file__
    assert str(e.value) == (f"dataset {module}:Rows: {module}.py is here, but `import {module}` finds another module "
                            f"first ({origin}); rename the file (e.g. my_{module}.py) and the dataset with it "
                            f"(my_{module}:Rows)")
    assert not (user_module / "runs").exists()
    outcome, _, _ = train(user_module, data__dataset="my_rows:Rows", train__epochs=1,  # its own name: it trains
                          data__dataset_args=[str(user_module / "iris.pt")])
    assert outcome.status == "done"


def test_a_run_killed_while_its_loader_workers_live_on_can_be_resumed_at_once(user_module):
    """kill -9 of a run reading a Dataset class with --workers: its DataLoader's workers (forked) outlive it for
    seconds, and they held its lock (a flock belongs to the open file, which a fork shares): `torchtui resume`
    right after the crash was refused as "being written by another torchtui process". Here the workers are stopped
    before the kill, so they are surely alive while the folder is taken again; the resume then trains to the end."""
    import contextlib
    import json
    import signal
    import subprocess

    from tui.core.runs import RunFolder

    config = user_module / "every-step.toml"
    config.write_text("[train]\nlog_interval = 1e-6\n")
    proc = subprocess.Popen([sys.executable, "-m", "tui", "run", str(config), "--dataset", "my_rows:Rows",
                             "--dataset-arg", str(user_module / "iris.pt"), "--workers", "2", "--epochs", "3",
                             "--batch-size", "8", "--json", "--runs-dir", "runs", "--name", "w"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, pipesize=4096)
    workers: list[int] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # a step event: the epoch's workers are up (the pipe then fills, and the run waits)
            if json.loads(line)["event"] == "step":
                break
        children = f"/proc/{proc.pid}/task/{proc.pid}/children"
        workers = [int(p) for p in open(children).read().split()]
        assert len(workers) == 2, workers
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        proc.kill()
        proc.wait()
        folder = RunFolder(user_module / "runs" / "w")
        folder.hold()  # refused before: the stopped workers held the lock
        folder.release()
    finally:
        proc.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    outcome, resumed = job.resume(user_module / "runs" / "w", lambda e: None)
    assert outcome.status == "done" and outcome.progress.epoch == 3


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_that_forks_workers_each_epoch_waits_for_its_saves_rather_than_write_them_behind(
        user_module, monkeypatch, workers):
    """On a GPU an epoch's save is written by a thread while the next epoch trains (train.saves_behind); a Dataset
    class's DataLoader with --workers forks its workers at that moment, and a fork while the writer holds a lock
    (torch.save's, malloc's) can hang a worker. Such a run saves in line; one without workers still saves behind."""
    from tui.core import train as trainer

    monkeypatch.setattr(trainer, "saves_behind", lambda device_type, world_size: True)  # as on a GPU
    trainers: list = []
    outcome, _ = job.run(make_spec(user_module, data__dataset="my_rows:Rows", data__workers=workers,
                                   data__dataset_args=[str(user_module / "iris.pt")], train__epochs=2),
                         lambda e: None, on_trainer=trainers.append)
    assert outcome.status == "done" and trainers[0].saves_behind is (workers == 0)
