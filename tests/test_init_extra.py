"""helpers.init's orthogonal scheme and LSUV (Mishkin & Matas 2016), with torch as the oracle."""

import math

import pytest
import torch
from torch import nn

import helpers
from helpers.init import layer_outputs, lsuv


@pytest.mark.parametrize(("fan_in", "fan_out"), [(64, 64), (300, 100), (100, 300)])
def test_orthogonal_is_torchs_and_its_std_matches_the_closed_form(fan_in, fan_out):
    model = nn.Sequential(nn.Linear(fan_in, fan_out))
    torch.manual_seed(0)
    helpers.init_weights(model, "orthogonal", gain=math.sqrt(2))
    torch.manual_seed(0)
    oracle = nn.init.orthogonal_(torch.empty(fan_out, fan_in), math.sqrt(2))
    w = model[0].weight
    torch.testing.assert_close(w, oracle)
    small = min(fan_in, fan_out)  # the orthonormal side: W W^T or W^T W is 2 I
    gram = w @ w.T if fan_out <= fan_in else w.T @ w
    torch.testing.assert_close(gram, 2 * torch.eye(small), atol=1e-4, rtol=0)
    predicted = helpers.predicted_std("orthogonal", fan_in, fan_out, gain=math.sqrt(2))
    assert w.std().item() == pytest.approx(predicted, rel=0.02)


def test_orthogonal_keeps_every_norm_in_a_linear_stack():
    torch.manual_seed(1)
    model = helpers.init_weights(helpers.mlp([50] * 31, "identity", bias=False), "orthogonal")
    x = torch.randn(8, 50)
    torch.testing.assert_close(model(x).norm(dim=1), x.norm(dim=1), rtol=1e-4, atol=0)


def test_lsuv_gives_every_layer_unit_output_std_on_the_batch():
    torch.manual_seed(2)
    model = helpers.mlp([20, 64, 64, 64, 10], bias=False)
    x = torch.randn(256, 20)
    assert lsuv(model, x, tol=0.01) is model
    for out in layer_outputs(model, x):
        assert out.std().item() == pytest.approx(1.0, abs=0.01)


def test_lsuv_without_the_orthogonal_start_only_rescales():
    torch.manual_seed(3)
    model = helpers.mlp([10, 30, 30, 1])
    before = [m.weight.clone() for m in model if isinstance(m, nn.Linear)]
    lsuv(model, torch.randn(100, 10), orthogonal=False)
    for b, m in zip(before, [m for m in model if isinstance(m, nn.Linear)]):
        ratio = m.weight / b
        torch.testing.assert_close(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": None}, TypeError, "model: expected an nn.Module"),
        ({"x": [1.0, 2.0]}, ValueError, "x: expected the batch x to be a tensor"),
        ({"x": torch.randn(1, 4)}, ValueError, "x: expected a batch of at least 2"),
        ({"x": torch.full((5, 4), math.nan)}, ValueError, "x: the batch x contains"),
        ({"tol": 0}, ValueError, "tol: expected a positive number"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"orthogonal": "yes"}, ValueError, "orthogonal: expected True or False"),
    ],
)
def test_lsuv_names_the_bad_argument(kwargs, error, message):
    args = {"model": helpers.mlp([4, 8, 1]), "x": torch.randn(16, 4), **kwargs}
    with pytest.raises(error, match=message):
        lsuv(**args)


def test_orthogonal_names_a_bad_gain():
    with pytest.raises(ValueError, match="gain: expected a finite number"):
        helpers.init_weights(helpers.mlp([4, 8, 1]), "orthogonal", gain="2")
    with pytest.raises(ValueError, match="fan_in"):
        helpers.predicted_std("orthogonal", 0, 4)


def test_lsuv_refuses_a_net_whose_outputs_overflow_before_changing_it():
    net = helpers.mlp([8, 8, 8], activation="relu")
    with torch.no_grad():
        net[0].weight.fill_(1e30)  # the first layer's outputs overflow float32 on any input
    x = torch.ones(16, 8) * 1e10
    with pytest.raises(ValueError, match="^model: layer 1's outputs on x are not finite"):
        lsuv(net, x, orthogonal=False)
