"""Checked exercises of 03 Xavier (Glorot) initialisation."""

import math

import torch
from torch import nn

from helpers.exercises import exercise

SLOPE = {  # f'(z) of the two squashing activations
    "sigmoid": lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)),
    "tanh": lambda z: 1 - torch.tanh(z) ** 2,
}
ACTIVATION = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _tanh_bound():
    # xavier_uniform_ on nn.Linear(256, 64) (weight shape (64, 256)) with tanh's gain
    return nn.init.calculate_gain("tanh") * math.sqrt(6 / (256 + 64))


def _backward_factor(activation, z):
    return SLOPE[activation](z).pow(2).mean().sqrt()


def _backward_factor_inputs():
    g = torch.Generator().manual_seed(0)
    return [(act, scale * torch.randn(500, 16, generator=g)) for act in SLOPE for scale in (0.3, 1.0, 3.0)]


def _backward_factors(model, x, y):
    from helpers.stats import probe

    d = torch.stack(
        [g.pow(2).mean().sqrt() for g in probe(model, x, y).output_grads[:-1]]
    )  # hidden, first first
    return d[:-1] / d[1:]


def _std_factors(model, x, y):
    from helpers.stats import probe

    d = torch.stack([g.std() for g in probe(model, x, y).output_grads[:-1]])
    return d[:-1] / d[1:]


def _factors_with_output(model, x, y):
    from helpers.stats import probe

    d = torch.stack(
        [g.pow(2).mean().sqrt() for g in probe(model, x, y).output_grads]
    )  # the output layer kept
    return d[:-1] / d[1:]


def _backward_factors_inputs():
    from helpers.init import init_weights
    from helpers.models import mlp

    g = torch.Generator().manual_seed(0)
    cases = []
    for seed, act, width, hidden in ((0, "tanh", 32, 6), (1, "sigmoid", 32, 5), (2, "tanh", 16, 3)):
        torch.manual_seed(seed)
        model = init_weights(mlp([width] * (hidden + 2), act), "xavier_normal", bias=0.0)
        cases.append((model, torch.randn(200, width, generator=g), torch.randn(200, width, generator=g)))
    return cases


exercise(
    "03.1",
    "number",
    _tanh_bound,
    "the uniform bound is sqrt(3) times the std, both fans count, and the gain multiplies the whole thing",
    wrong=(
        math.sqrt(6 / 320),  # gain forgotten
        5 / 3 * math.sqrt(2 / 320),  # the std, not the bound
        5 / 3 * math.sqrt(6 / 256),  # fan_in only
        1 / math.sqrt(256),  # PyTorch's default bound
        5 / 3 * 6 / 320,  # square root forgotten
    ),
    rel_tol=0.01,
)
exercise(
    "03.2",
    "function",
    _backward_factor,
    "the factor is the root mean square of the slope f'(z) over all entries of z "
    "(sigmoid' = s(1-s), tanh' = 1-t^2)",
    wrong=(
        lambda act, z: SLOPE[act](z).mean(),  # mean slope, not its root mean square
        lambda act, z: SLOPE[act](z).pow(2).mean(),  # square root forgotten
        lambda act, z: SLOPE[act](torch.zeros(())),  # the slope at 0 only
        lambda act, z: ACTIVATION[act](z).pow(2).mean().sqrt(),  # f(z), not f'(z)
    ),
    rel_tol=1e-4,
    inputs=_backward_factor_inputs,
)
exercise(
    "03.3",
    "function",
    _backward_factors,
    "helpers.probe(...).output_grads holds dL/dz per Linear layer, first first; drop the output layer "
    "and divide each hidden layer's RMS (root mean square of all entries) by the next one's",
    wrong=(
        lambda model, x, y: 1 / _backward_factors(model, x, y),  # next over this
        lambda model, x, y: _backward_factors(model, x, y).flip(0),  # last layer first
        _factors_with_output,  # the output layer is not a hidden layer
        lambda model, x, y: _std_factors(model, x, y),  # std subtracts the mean: not the RMS
    ),
    rel_tol=1e-4,
    inputs=_backward_factors_inputs,
)
