"""torchtui's loop ends with weights bit-identical to the tutorial's textbook loop (CPU, same seed)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tui.core import job
from tui.core.layers import build_sequential

from conftest import make_spec


class MyDataset(Dataset):
    """The tutorial's Dataset: one row per item."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def __len__(self):
        return len(self.x)


def textbook(exprs, x, y, criterion, make_optimizer, seed, batch_size, epochs, validation=None):
    """The pytorch-101 loop as a student writes it: seed, model, DataLoader with a seeded generator, and after each
    epoch a validation pass under eval() and no_grad() over a plain DataLoader (shuffle=False, no generator of its
    own: each pass draws its seed from torch's global generator, which Dropout draws from too)."""
    torch.manual_seed(seed)
    model = build_sequential(exprs)
    g = torch.Generator()
    g.manual_seed(seed)
    training_set = DataLoader(MyDataset(x, y), batch_size, shuffle=True, generator=g)
    validation_set = DataLoader(MyDataset(*validation), max(batch_size, 1024), shuffle=False) if validation else None
    optimizer = make_optimizer(model.parameters())
    for _ in range(epochs):
        model.train()
        for xb, yb in training_set:
            optimizer.zero_grad()
            pred = model(xb)
            loss = criterion(pred, yb)
            loss.backward()
            optimizer.step()
        if validation_set is not None:
            model.eval()
            with torch.no_grad():
                for xb, yb in validation_set:
                    criterion(model(xb), yb)
    return model, optimizer


CASES = {
    "classification": dict(
        spec={"data.dataset": "wine", "model.layers": "Linear(32), ReLU(), Dropout(0.2), Linear(16), Tanh()",
              "train.optimizer": "SGD", "train.lr": 0.05, "train.momentum": 0.9, "train.batch_size": 16},
        criterion=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "regression": dict(
        spec={"data.dataset": "diabetes", "model.layers": "Linear(32), ReLU(), BatchNorm1d(), Linear(16), ReLU()",
              "train.optimizer": "Adam", "train.lr": 0.01, "train.batch_size": 20},
        criterion=nn.MSELoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=0.01)),
    # every optimizer and its options: the engine updates all weights as one flat tensor (tui/core/flat.py)
    "images, AdamW": dict(
        spec={"data.dataset": "digits", "model.layers": "Unflatten(1, (1, 8, 8)), Conv2d(4, 3), ReLU(), MaxPool2d(2), "
              "Flatten(), LayerNorm(), Linear(10)", "train.optimizer": "AdamW", "train.lr": 0.005,
              "train.weight_decay": 0.05, "train.batch_size": 64},
        criterion=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.AdamW(p, lr=0.005, weight_decay=0.05)),
    "SGD nesterov": dict(
        spec={"data.dataset": "iris", "model.layers": "Linear(16), GELU(), Linear(16), SiLU()",
              "train.optimizer": "SGD", "train.lr": 0.05, "train.momentum": 0.8, "train.nesterov": True,
              "train.weight_decay": 1e-3,
              "train.batch_size": 8},
        criterion=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    "RMSprop": dict(
        spec={"data.dataset": "sine", "model.layers": "Linear(32), Tanh(), Linear(32), LeakyReLU()",
              "train.optimizer": "RMSprop", "train.lr": 0.003, "train.momentum": 0.5, "train.batch_size": 32},
        criterion=nn.MSELoss(),
        optimizer=lambda p: torch.optim.RMSprop(p, lr=0.003, momentum=0.5)),
    # a batch of 10 wine rows is 520 bytes: views of one gathered chunk started misaligned, and MKL's matrix
    # product rounded them differently from DataLoader's batches, each a tensor of its own (train._gathered)
    "misaligned batches": dict(
        spec={"data.dataset": "wine", "model.layers": "Linear(3)", "train.optimizer": "SGD", "train.lr": 0.01,
              "train.momentum": 0.5, "train.batch_size": 10},
        criterion=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.5)),
}


@pytest.mark.parametrize("case,gather_bytes", [(case, None) for case in CASES] + [("classification", 2000)])
def test_weights_bit_identical_to_textbook_loop(tmp_path, monkeypatch, case, gather_bytes):
    if gather_bytes:  # rows gathered a few batches at a time, as for a big table
        monkeypatch.setattr("tui.core.train.GATHER_BYTES", gather_bytes)
    c = CASES[case]
    spec = make_spec(tmp_path, **{**c["spec"], "train.epochs": 3, "train.seed": 7})
    outcome, folder = job.run(spec, lambda e: None)
    assert outcome.progress.epoch == 3
    engine = torch.load(folder.checkpoint_path("last"), weights_only=True)

    data = job.plan(spec).data
    assert len(data.x_val)  # (validated each epoch, as the tutorial does)
    model, optimizer = textbook(engine["layers"], data.x_train, data.y_train, c["criterion"], c["optimizer"],
                                seed=7, batch_size=spec.train.batch_size, epochs=3, validation=(data.x_val, data.y_val))
    reference = model.state_dict()
    assert reference.keys() == engine["model"].keys()
    for key, value in reference.items():
        assert torch.equal(value, engine["model"][key]), key
        # each tensor its own storage, though the engine's weights are views of one buffer
        assert engine["model"][key].untyped_storage().nbytes() == value.nelement() * value.element_size(), key

    # the optimizer state too, in torch's per-parameter form: it loads into the textbook's optimizer
    theirs, ours = optimizer.state_dict(), engine["optimizer"]
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    assert ours["state"].keys() == theirs["state"].keys() and len(theirs["state"]) == len(list(model.parameters()))
    for i, buffers in theirs["state"].items():
        assert buffers.keys() == ours["state"][i].keys()
        for name, value in buffers.items():
            assert torch.equal(value, ours["state"][i][name]), (i, name)
    optimizer.load_state_dict(ours)

    torch.manual_seed(7)
    initial = build_sequential(engine["layers"]).state_dict()
    first = next(k for k in initial if k.endswith("weight"))
    assert not torch.equal(initial[first], reference[first]), "the weights never moved"


def test_a_different_seed_gives_different_weights(tmp_path):
    c = CASES["classification"]
    a = job.run(make_spec(tmp_path / "a", **{**c["spec"], "train.epochs": 1, "train.seed": 1}), lambda e: None)[1]
    b = job.run(make_spec(tmp_path / "b", **{**c["spec"], "train.epochs": 1, "train.seed": 2}), lambda e: None)[1]
    wa = torch.load(a.checkpoint_path("last"), weights_only=True)["model"]["0.weight"]
    wb = torch.load(b.checkpoint_path("last"), weights_only=True)["model"]["0.weight"]
    assert not torch.equal(wa, wb)


def test_fast_batch_order_matches_the_dataloader_over_epochs():
    from tui.core.order import fast_order, loader_order

    a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for n in (5, 64, 1000, 1000, 17):
        assert torch.equal(loader_order(n, a), fast_order(n, b))
    assert torch.equal(a.get_state(), b.get_state())


# ---- on CUDA: what an H200 found (tests/device/graph_check.py measures it there; CI has no GPU) ----------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_on_cuda_the_optimizer_takes_the_loop_torch_gives_a_users_loop_there(name):
    """torch gives a loop on CUDA the multi-tensor (foreach) optimizer; its per-tensor loop rounds Adam's bias
    correction otherwise there, and the engine's Adam and AdamW were off the textbook's bits on an H200. The
    engine's one flat tensor takes foreach on CUDA too (per element the same); on the CPU the per-tensor loop,
    which is torch's default there."""
    from tui.core.optim import make_optimizer
    from tui.core.spec import TrainSpec

    flat = [torch.zeros(10, requires_grad=True)]
    several = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    t = TrainSpec(optimizer=name)
    assert make_optimizer(t, flat, "cuda").defaults["foreach"] is True
    assert make_optimizer(t, several, "cuda").defaults["foreach"] is True
    assert make_optimizer(t, flat, "cpu").defaults["foreach"] is False


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled")  # fp16's scaler, made without a GPU
def test_a_cuda_run_asks_cudnn_for_its_deterministic_kernels():
    """Two runs of one Conv2d loop differed on an H200: cuDNN picks kernels per call, some adding in a varying
    order. A run on CUDA sets PyTorch's two reproducibility flags (process-wide: the worker is a process of its
    own); a CPU run leaves them alone."""
    from tui.core import precision

    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        precision.setup("fp32", "cpu")
        assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (False, True)
        for mode in ("fp32", "tf32", "bf16", "fp16"):
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
            precision.setup(mode, "cuda")
            assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (True, False), mode
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def stopped_at(step: int):
    """`job.run`'s on_trainer: asks the run to stop, as SIGTERM does, once its `step`-th optimizer step is done."""
    def hook(trainer):
        take_step = trainer.optimizer.step

        def step_then_ask(*args, **kwargs):
            done = take_step(*args, **kwargs)
            if trainer.progress.step + 1 == step:  # the step count moves on once the step is yielded
                trainer.requests.stop = "SIGTERM"
            return done
        trainer.optimizer.step = step_then_ask
    return hook


@pytest.mark.parametrize("stop", [3, 5, 10])
def test_a_run_of_misaligned_batches_stopped_mid_epoch_resumes_to_the_same_bits(tmp_path, stop):
    """A resume gathers the epoch's remaining rows from a chunk of its own: with batches of 7 wine rows (364
    bytes) each later batch started at another offset than in the run never stopped, and Adam ended 6e-8 away."""
    from tui.core.errors import Interrupted

    overrides = {"data.dataset": "wine", "model.layers": "Linear(3)", "train.optimizer": "Adam",
                 "train.batch_size": 7, "train.epochs": 2}
    _, straight = job.run(make_spec(tmp_path / "straight", **overrides), lambda e: None)
    with pytest.raises(Interrupted):
        job.run(make_spec(tmp_path / "stopped", **overrides), lambda e: None, on_trainer=stopped_at(stop))
    [folder] = (tmp_path / "stopped" / "runs").iterdir()
    assert torch.load(folder / "last.pt", weights_only=True)["progress"]["step"] == stop  # mid-epoch (21 a epoch)
    job.resume(folder, lambda e: None)
    a = torch.load(straight.checkpoint_path("last"), weights_only=True)
    b = torch.load(folder / "last.pt", weights_only=True)
    assert b["progress"]["epoch"] == 2
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for i, buffers in a["optimizer"]["state"].items():
        for name, value in buffers.items():
            assert torch.equal(value, b["optimizer"]["state"][i][name]), (i, name)


def test_validation_batches_that_would_start_misaligned_give_the_loss_of_dataloaders_batches(tmp_path):
    """The validation loss is a DataLoader loop's over batches of max(batch_size, 1024) rows, as the README says
    and the exported script computes it: at batch 1030 of 13 inputs the second batch, a view, began misaligned
    and its products rounded otherwise."""
    from torch.utils.data import TensorDataset

    r = np.random.default_rng(0)
    frame = pd.DataFrame(r.normal(size=(4200, 13)), columns=[f"f{i}" for i in range(13)])
    frame["y"] = frame.sum(axis=1) + r.normal(size=4200)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    spec = make_spec(tmp_path, **{"data.dataset": str(tmp_path / "wide.csv"), "data.target": "y",
                                  "data.val_split": 0.5, "model.layers": "Linear(7), ReLU()",
                                  "train.batch_size": 1030, "train.epochs": 1})
    events: list[dict] = []
    _, folder = job.run(spec, events.append)
    [epoch] = [e for e in events if e["event"] == "epoch"]
    saved = torch.load(folder.checkpoint_path("last"), weights_only=True)
    model = build_sequential(saved["layers"])
    model.load_state_dict(saved["model"])
    model.eval()
    data = job.plan(spec).data
    total = torch.zeros(())
    with torch.no_grad():
        for xb, yb in DataLoader(TensorDataset(data.x_val, data.y_val), 1030, shuffle=False):
            total += nn.MSELoss()(model(xb), yb) * len(xb)
    assert len(data.x_val) == 2100 and epoch["val_loss"] == float(total) / 2100
