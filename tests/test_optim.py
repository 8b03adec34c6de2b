"""helpers.optim: SGD with small gradients clamped upward, against torch.optim.SGD as the oracle."""

import copy

import pytest
import torch
from torch import nn

import helpers
from helpers.optim import ClampSGD, raise_small


def test_raise_small_without_the_sign_is_torchs_clamp():
    g = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 1e-2
    assert torch.equal(raise_small(g, 1e-3, keep_sign=False), g.clamp(min=1e-3))


def test_raise_small_keeps_the_sign_and_lifts_the_size_to_the_floor():
    g = torch.tensor([-0.5, -1e-4, 0.0, 1e-4, 0.5])
    out = raise_small(g, 1e-2)
    assert torch.equal(out, torch.tensor([-0.5, -1e-2, 1e-2, 1e-2, 0.5]))  # a zero counts as positive
    assert not (out * g < 0).any(), "a sign-kept floor never points uphill"


def test_a_zero_floor_with_the_sign_kept_is_plain_sgd():
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    ref = copy.deepcopy(net)
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    ours, theirs = (
        ClampSGD(net.parameters(), lr=0.1, momentum=0.9),
        torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
    )
    for _ in range(3):
        for model, opt in ((net, ours), (ref, theirs)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_a_clamp_step_is_sgd_on_the_clamped_gradient():
    torch.manual_seed(1)
    net = nn.Linear(4, 2)
    ref = copy.deepcopy(net)
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    ours = ClampSGD(net.parameters(), floor=1e-2, keep_sign=False, lr=0.5)
    ours.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    ours.step()
    nn.functional.mse_loss(ref(x), y).backward()
    with torch.no_grad():
        for a, b in zip(net.parameters(), ref.parameters()):
            torch.testing.assert_close(a, b - 0.5 * b.grad.clamp(min=1e-2))


def test_train_many_runs_it_as_helpers_train_does():
    data = helpers.lecture_split()
    torch.manual_seed(0)
    models = [helpers.lecture_net("relu") for _ in range(3)]
    kw = dict(epochs=2, lr=0.01, optimizer=ClampSGD, floor=1e-3, keep_sign=False)
    many = helpers.train_many(models, data, **kw)
    for i, model in enumerate(models):
        alone = copy.deepcopy(model)
        hist = helpers.train(alone, data, verbose=False, **kw)
        torch.testing.assert_close(many.test_loss[i], torch.tensor(hist.test_loss), rtol=1e-4, atol=0)


@pytest.mark.parametrize("floor", [-1e-3, "0.1", True])
def test_a_bad_floor_is_refused(floor):
    with pytest.raises(ValueError, match="floor"):
        ClampSGD(nn.Linear(2, 2).parameters(), floor=floor, lr=0.1)
