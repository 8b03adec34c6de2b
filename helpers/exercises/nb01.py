"""Checked exercises of 01 Vanishing and exploding gradients."""

import math

import torch

from helpers.exercises import exercise


def _lyapunov(n):
    # top Lyapunov exponent of products of n x n N(0, 1) matrices (Newman, 1986)
    return 0.5 * (math.log(2) + torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64)).item())


def _critical_scale():
    return math.exp(-_lyapunov(8))  # ln s* + lambda = 0


SLOPES = {  # phi'(z), written with a = phi(z)
    "sigmoid": (torch.sigmoid, lambda a: a * (1 - a)),
    "tanh": (torch.tanh, lambda a: 1 - a**2),
}


def _first_layer_delta(weights, zs, delta_last, activation, slopes=SLOPES):
    # delta_1 of an MLP from its weights W_1..W_L, pre-activations z_1..z_L and delta_L
    phi, slope = slopes[activation]
    delta = delta_last  # (batch, n_L)
    for i in range(len(weights) - 2, -1, -1):
        delta = (delta @ weights[i + 1]) * slope(phi(zs[i]))  # (batch, n_i)
    return delta


def _always_sigmoid(weights, zs, delta_last, activation):
    return _first_layer_delta(weights, zs, delta_last, "sigmoid")


def _no_slope(weights, zs, delta_last, activation):
    return _first_layer_delta(
        weights, zs, delta_last, activation, {activation: (torch.ones_like, lambda a: a)}
    )


def _activation_not_slope(weights, zs, delta_last, activation):
    phi = SLOPES[activation][0]
    return _first_layer_delta(weights, zs, delta_last, activation, {activation: (phi, lambda a: a)})


def _one_step_short(weights, zs, delta_last, activation):
    return _first_layer_delta(weights[1:], zs[1:], delta_last, activation)  # delta_2, not delta_1


def _first_layer_delta_inputs():
    from helpers.models import mlp
    from helpers.stats import probe

    g = torch.Generator().manual_seed(0)
    cases = []
    for seed, widths, activation in (
        (0, [2, 4, 4, 4, 1], "sigmoid"),  # Sigmoid_class3
        (1, [2, 4, 4, 4, 1], "tanh"),
        (2, [5, 8, 3, 6, 2], "sigmoid"),
        (3, [3, 6, 4, 4, 5, 4, 1], "tanh"),
    ):
        torch.manual_seed(seed)
        x, y = torch.randn(50, widths[0], generator=g), torch.randn(50, widths[-1], generator=g)
        p = probe(mlp(widths, activation), x, y)
        cases.append((p.weights, [z.detach() for z in p.outputs], p.output_grads[-1], activation))
    return cases


def _balanced_relu_bound():
    # ReLU, width 32, U(-a, a): n a^2 / 3 * 1/2 = 1 per step back
    return math.sqrt(6 / 32)


exercise(
    "01.1",
    "number",
    _critical_scale,
    "the typical size changes by e^(lambda + ln s) per factor; set lambda(s) = 0 with Newman's formula "
    "for n = 8 (torch.special.digamma gives psi)",
    wrong=(
        1 / math.sqrt(8),  # keeps the mean square, not the typical size
        math.exp(-_lyapunov(4)),  # the 4 x 4 answer of the lesson
        _lyapunov(8),  # lambda itself, not the scale
        math.exp(-2 * _lyapunov(8)),  # the 1/2 of the formula forgotten
        math.exp(_lyapunov(8)),  # the sign
    ),
    rel_tol=0.01,
)
exercise(
    "01.2",
    "function",
    _first_layer_delta,
    "go back one layer at a time from delta_L: multiply by the next layer's weight (delta @ W_(l+1)), then "
    "by phi'(z_l) elementwise (sigmoid: s (1 - s) with s = sigmoid(z); tanh: 1 - tanh(z)^2), down to layer 1",
    wrong=(_always_sigmoid, _no_slope, _activation_not_slope, _one_step_short),
    rel_tol=1e-4,
    inputs=_first_layer_delta_inputs,
)
exercise(
    "01.3",
    "number",
    _balanced_relu_bound,
    "the factor per step back is sqrt(n sigma_w^2 E[phi'^2]); for ReLU E[phi'^2] = 1/2, and U(-a, a) has "
    "variance a^2 / 3",
    wrong=(
        0.5,  # the too-large stack of the deep dive, section 6
        1 / math.sqrt(32),  # PyTorch's default bound
        math.sqrt(2 / 32),  # the std, not the bound
        math.sqrt(3 / 32),  # ReLU's 1/2 forgotten
        math.sqrt(12 / 32),  # 1/2 applied the wrong way
    ),
    rel_tol=0.01,
)
