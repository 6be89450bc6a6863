"""One flat buffer for all weights: the same bits as per-layer tensors, and torch's state format."""

import pytest
import torch
from torch import nn

from tui.core.errors import UserError
from tui.core.flat import FlatParameters


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def steps(m, opt, zero_grad, n=25, clip=0.0):
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        x, y = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
        zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        if clip:
            nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()


OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-4),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=0.01),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_flat_training_equals_per_tensor_training_and_state_round_trips(name):
    plain = model()
    plain_opt = OPTIMIZERS[name](plain.parameters())
    steps(plain, plain_opt, plain_opt.zero_grad, clip=0.5)

    flat_model = model()
    flat = FlatParameters(flat_model)
    flat_opt = OPTIMIZERS[name]([flat.flat])
    steps(flat_model, flat_opt, flat.zero_grad, clip=0.5)

    for (key, a), b in zip(plain.state_dict().items(), flat_model.state_dict().values()):
        assert torch.equal(a, b), key
    # the weights really are views of the one buffer, and so are the gradients
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(plain.parameters(), flat_model.parameters()))
    assert flat_model[0].weight.untyped_storage().data_ptr() == flat.flat.untyped_storage().data_ptr()
    assert flat_model[3].bias.grad.untyped_storage().data_ptr() == flat.flat.grad.untyped_storage().data_ptr()

    split = flat.split_state(flat_opt.state_dict())
    theirs = plain_opt.state_dict()
    assert split["param_groups"] == theirs["param_groups"]
    for i, buffers in theirs["state"].items():
        for key, value in buffers.items():
            assert torch.equal(split["state"][i][key], value), (i, key)

    # a per-parameter state (a plain optimizer's, as a checkpoint holds) continues the same way
    resumed_model = model()
    resumed_model.load_state_dict(flat_model.state_dict())
    resumed = FlatParameters(resumed_model)
    resumed_opt = OPTIMIZERS[name]([resumed.flat])
    resumed_opt.load_state_dict(resumed.join_state(theirs))
    steps(resumed_model, resumed_opt, resumed.zero_grad, n=5)
    steps(plain, plain_opt, plain_opt.zero_grad, n=5)
    for (key, a), b in zip(plain.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), key


def test_state_before_the_first_step_and_a_mismatched_state():
    m = model()
    flat = FlatParameters(m)
    opt = torch.optim.Adam([flat.flat])
    assert flat.split_state(opt.state_dict())["state"] == {}
    assert flat.join_state(torch.optim.Adam(model().parameters()).state_dict())["state"] == {}

    other = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3))
    other_opt = torch.optim.Adam(other.parameters())
    steps(other, other_opt, other_opt.zero_grad, n=1)
    with pytest.raises(UserError, match="does not match the model's parameters"):
        flat.join_state(other_opt.state_dict())


def test_only_models_with_one_dtype_and_every_parameter_trained_are_flattened():
    assert FlatParameters.fits(model())
    frozen = model()
    frozen[0].weight.requires_grad_(False)
    assert not FlatParameters.fits(frozen)
    mixed = model()
    mixed[3].double()
    assert not FlatParameters.fits(mixed)
    assert not FlatParameters.fits(nn.Sequential(nn.ReLU()))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_weight_starts_where_a_tensor_of_its_own_would_and_the_gaps_stay_zero(name):
    """cuBLAS picks a matrix product's kernel by where its operands start, and MKL's rounding depends on it for
    inputs: a weight 8 bytes off its usual alignment would not be multiplied as the textbook loop's is. Linear(5, 8)
    packed end to end puts its bias 160 bytes in, Linear(8, 3)'s weight 232 bytes in: neither on 64."""
    m = model()
    flat = FlatParameters(m)
    for p in m.parameters():
        assert p.data_ptr() % 64 == 0 and p.grad.data_ptr() % 64 == 0
    gaps = torch.ones_like(flat.flat, dtype=torch.bool)
    for p, start in zip(flat.params, flat.offsets):
        gaps[start:start + p.numel()] = False
    assert gaps.any()  # this model has gaps to keep
    opt = OPTIMIZERS[name]([flat.flat])
    steps(m, opt, flat.zero_grad, clip=0.5)
    assert not flat.flat[gaps].any() and not flat.grad[gaps].any()
    state = opt.state_dict()["state"][0]
    assert all(not v[gaps].any() for v in state.values() if v.dim() == 1 and len(v) == len(flat.flat))
    # a state split and joined again lands where it was, gaps included
    joined = flat.join_state(flat.split_state(opt.state_dict()))["state"][0]
    assert all(torch.equal(joined[k], v) for k, v in state.items())


def test_on_a_gpu_each_weight_starts_on_the_caching_allocators_512_bytes():
    """CUDA's caching allocator starts every tensor at a multiple of 512 bytes; the flat buffer (itself one such
    tensor) places each weight at such an offset. Shown on the meta device, which lays out like any non-CPU one."""
    flat = FlatParameters(model().to("meta"))
    assert flat.offsets == [0, 128, 256, 384, 512, 640]  # 4-byte floats: 128 apart, however small each is
