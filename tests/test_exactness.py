"""torchtui's loop ends with weights bit-identical to the tutorial's textbook loop (CPU, same seed)."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tui.core.spec import Spec
from tui.core import job


class MyDataset(Dataset):
    """The tutorial's Dataset: one row per item."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def __len__(self):
        return len(self.x)


def textbook(exprs, data, loss_fn, make_opt, seed, batch_size, epochs):
    """The pytorch-101 loop, written as a student would, with the same seed conventions."""
    from tui.core.layers import build_sequential

    torch.manual_seed(seed)
    model = build_sequential(exprs)
    g = torch.Generator()
    g.manual_seed(seed)
    training_set = DataLoader(MyDataset(data.x_train, data.y_train), batch_size, shuffle=True, generator=g)
    optimizer = make_opt(model.parameters())
    for _ in range(epochs):
        model.train()
        for x, y in training_set:
            optimizer.zero_grad()
            pred = model(x)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
    return model


@pytest.mark.parametrize("dataset,layers,loss_fn,opt", [
    ("wine", "Linear(32), ReLU(), Dropout(0.2), Linear(16), Tanh()", nn.CrossEntropyLoss(),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("diabetes", "Linear(32), ReLU(), BatchNorm1d(), Linear(16), ReLU()", nn.MSELoss(),
     lambda p: torch.optim.Adam(p, lr=0.01)),
])
def test_weights_bit_identical_to_textbook_loop(tmp_path, dataset, layers, loss_fn, opt):
    optimizer = "SGD" if "momentum" in opt.__code__.co_names or dataset == "wine" else "Adam"
    overrides = {"data.dataset": dataset, "model.layers": layers, "train.epochs": 3, "train.batch_size": 16,
                 "train.seed": 7, "train.device": "cpu", "run.runs_dir": str(tmp_path), "run.name": "x",
                 "train.optimizer": optimizer, "train.lr": 0.05 if optimizer == "SGD" else 0.01,
                 "train.momentum": 0.9 if optimizer == "SGD" else 0.0}
    spec = Spec().with_overrides(overrides)
    events = []
    outcome, folder = job.run(spec, events.append)
    assert outcome.progress.epoch == 3
    engine_state = torch.load(folder.checkpoint_path("last"), weights_only=True)

    data = job.plan(spec).data
    model = textbook(engine_state["layers"], data, loss_fn, opt, seed=7, batch_size=16, epochs=3)
    ref = model.state_dict()
    assert ref.keys() == engine_state["model"].keys()
    for k in ref:
        assert torch.equal(ref[k], engine_state["model"][k]), k
    # and the run really trained: the weights moved away from their initial values
    torch.manual_seed(7)
    from tui.core.layers import build_sequential
    init = build_sequential(engine_state["layers"]).state_dict()
    assert not torch.equal(init["0.weight"], ref["0.weight"])
