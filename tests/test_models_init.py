import math

import pytest
import torch
from torch import nn

import helpers


def test_mlp_structure_and_output_shape():
    model = helpers.mlp([2, 8, 8, 1], "tanh")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert model(torch.zeros(5, 2)).shape == (5, 1)


def test_mlp_norm_and_residual():
    model = helpers.mlp([3, 6, 6, 6, 2], "relu", norm="batch", residual=True)
    assert sum(isinstance(m, helpers.Residual) for m in model) == 2  # 6->6 twice; 3->6 has no shortcut
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 3
    assert model(torch.randn(4, 3)).shape == (4, 2)


def test_residual_adds_the_input():
    block = nn.Linear(3, 3)
    x = torch.randn(2, 3)
    torch.testing.assert_close(helpers.Residual(block)(x), x + block(x))


def test_lecture_net_shape():
    model = helpers.lecture_net("sigmoid", hidden=4)
    widths = [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)]
    assert widths == [(2, 4), (4, 4), (4, 4), (4, 4), (4, 1)]


@pytest.mark.parametrize(
    ("scheme", "kwargs"),
    [
        ("default", {}),
        ("uniform", {"bound": 0.5}),
        ("normal", {"std": 0.2}),
        ("xavier_uniform", {"gain": 5 / 3}),
        ("xavier_normal", {}),
        ("kaiming_uniform", {}),
        ("kaiming_normal", {"mode": "fan_out"}),
        ("kaiming_normal", {"nonlinearity": "leaky_relu", "a": 0.1}),
    ],
)
def test_measured_std_matches_closed_form(scheme, kwargs):
    torch.manual_seed(0)
    model = helpers.init_weights(nn.Sequential(nn.Linear(300, 200), nn.Linear(200, 500)), scheme, **kwargs)
    for layer, predicted in zip(model, helpers.predicted_stds(model, scheme, **kwargs)):
        assert layer.weight.std().item() == pytest.approx(predicted, rel=0.02)  # 6e4+ samples: ~0.3 % error


def test_closed_forms_agree_with_torch_gain_and_bounds():
    assert helpers.predicted_std("kaiming_normal", 100, 7) == pytest.approx(math.sqrt(2 / 100))
    assert helpers.predicted_std("xavier_normal", 100, 300) == pytest.approx(math.sqrt(2 / 400))
    assert helpers.predicted_bound("xavier_uniform", 100, 300) == pytest.approx(math.sqrt(6 / 400))
    assert helpers.predicted_bound("default", 64, 10) == pytest.approx(1 / 8)
    torch.manual_seed(0)
    layer = nn.Linear(64, 10)
    assert layer.weight.abs().max().item() <= 1 / 8
    a = 0.2
    gain = nn.init.calculate_gain("leaky_relu", a)
    assert helpers.predicted_std("kaiming_uniform", 50, 1, nonlinearity="leaky_relu", a=a) == pytest.approx(
        math.sqrt(2 / (1 + a**2)) / math.sqrt(50)
    )
    assert gain == pytest.approx(math.sqrt(2 / (1 + a**2)))


def test_zeros_constant_and_bias_option():
    model = helpers.init_weights(helpers.mlp([2, 4, 1]), "constant", value=0.5, bias=0.0)
    for layer in model[::2]:
        assert torch.all(layer.weight == 0.5) and torch.all(layer.bias == 0)
    helpers.init_weights(model, "zeros")
    assert all(torch.all(m.weight == 0) for m in model[::2])


def test_default_scheme_redraws_weights_but_keeps_biases():
    torch.manual_seed(0)
    model = helpers.mlp([2, 4, 1])
    bias, weight = model[0].bias.clone(), model[0].weight.clone()
    helpers.init_weights(model, "default")
    assert torch.equal(model[0].bias, bias) and not torch.equal(model[0].weight, weight)


def test_conv_layers_are_initialised_too():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    helpers.init_weights(model, "zeros")
    assert torch.all(model[0].weight == 0)


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda: helpers.mlp([2]), "widths"),
        (lambda: helpers.mlp([2, 0, 1]), "widths"),
        (lambda: helpers.mlp([2, 4, 1], activation="swish"), "activation"),
        (lambda: helpers.mlp([2, 4, 1], norm="group"), "norm"),
        (lambda: helpers.lecture_net(hidden=0), "hidden"),
        (lambda: helpers.init_weights(helpers.mlp([2, 1]), "glorot"), "scheme"),
        (lambda: helpers.init_weights(helpers.mlp([2, 1]), "normal", std=-1.0), "std"),
        (lambda: helpers.init_weights(helpers.mlp([2, 1]), "kaiming_normal", mode="fan_avg"), "mode"),
        (lambda: helpers.init_weights(nn.Sequential(nn.ReLU()), "zeros"), "model"),
        (lambda: helpers.predicted_std("xavier_normal", 0, 4), "fan_in"),
        (lambda: helpers.predicted_bound("normal", 4, 4), "scheme"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=f"^{arg}"):
        call()
