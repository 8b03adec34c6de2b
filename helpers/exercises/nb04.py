"""Checked exercises of 04 Kaiming (He) initialisation."""

import math

import torch
from torch import nn

from helpers.exercises import exercise


def _leaky_fan_out_std():
    # kaiming_normal_(a=0.3, mode="fan_out", nonlinearity="leaky_relu") on nn.Linear(400, 100),
    # whose weight is (100, 400): fan_out = 100
    return nn.init.calculate_gain("leaky_relu", 0.3) / math.sqrt(100)


def _predicted_median(c, width, depth):
    # mean square: (c/2) per layer; the typical net drifts by e^(-1.25 L/n) in norm (section 2b)
    return (c / 2) ** (depth / 2) * math.exp(-1.25 * depth / width)


def _output_scale(widths, gain):
    # bias-free ReLU nets are positively homogeneous: scaling layer l by s_l scales the output by prod s_l,
    # and xavier_normal_(gain) / kaiming_normal_ = gain sqrt(2 / (n_in + n_out)) / sqrt(2 / n_in) per layer
    return math.prod(gain * math.sqrt(a / (a + b)) for a, b in zip(widths, widths[1:]))


def _output_scale_inputs():
    return [
        ([64] * 21 + [10], 1.0),
        ([64] * 21 + [10], math.sqrt(2)),
        ([100, 400, 100, 10], 1.0),
        ([784, 512, 256, 10], math.sqrt(2)),
        ([5, 5], 0.5),
    ]


def _predicted_median_inputs():
    return [(2.0, 100, 50), (1.0, 100, 50), (3.0, 25, 20), (2.0, 400, 50), (2.5, 64, 10), (2.0, 50, 1)]


def _mean_square_factors(model, x):
    from helpers.stats import probe

    ms = torch.stack([z.pow(2).mean() for z in probe(model, x).outputs])  # (layers,): mean of z^2
    return ms[1:] / ms[:-1]


def _input_prepended(model, x):
    from helpers.stats import probe

    ms = torch.stack([x.pow(2).mean()] + [z.pow(2).mean() for z in probe(model, x).outputs])
    return ms[1:] / ms[:-1]


def _relu_outputs(model, x):
    from helpers.stats import probe

    ms = torch.stack([h.pow(2).mean() for h in probe(model, x).inputs])  # x, h_1, ..., h_(L-1)
    return ms[1:] / ms[:-1]


def _mean_square_factors_inputs():
    from helpers.init import init_weights
    from helpers.models import mlp

    g = torch.Generator().manual_seed(0)
    cases = []
    for seed, widths, c in ((0, [100] * 11, 2.0), (1, [50] * 7, 1.0), (2, [30, 80, 80, 40], 3.0)):
        torch.manual_seed(seed)
        model = init_weights(mlp(widths, bias=False), "normal", std=math.sqrt(c / widths[1]))
        cases.append((model, torch.randn(256, widths[0], generator=g)))
    torch.manual_seed(3)
    cases.append((mlp([20, 64, 32, 16, 1]), torch.randn(128, 20, generator=g)))  # PyTorch's default, biases
    return cases


exercise(
    "04.1",
    "number",
    _leaky_fan_out_std,
    "std = gain / sqrt(fan) with gain = sqrt(2 / (1 + a^2)); nn.Linear(n_in, n_out) stores an (n_out, n_in) "
    "weight, and mode='fan_out' counts the layer's outputs",
    wrong=(
        nn.init.calculate_gain("leaky_relu", 0.3) / math.sqrt(400),  # fan_in
        math.sqrt(2 / 100),  # ReLU's gain, the slope ignored
        math.sqrt(2 / 1.3 / 100),  # a, not a^2, in the gain
        2 / 1.09 / 100,  # the variance, not the std
        1 / math.sqrt(100),  # no gain
        math.sqrt(3) * nn.init.calculate_gain("leaky_relu", 0.3) / math.sqrt(100),  # kaiming_uniform_'s bound
        math.sqrt(2 / 500),  # Xavier
    ),
    rel_tol=0.01,
)
exercise(
    "04.2",
    "function",
    _output_scale,
    "same seed, same draws: each layer's weights differ only by the ratio of the two stds, "
    "gain * sqrt(2 / (n_in + n_out)) over sqrt(2 / n_in); a bias-free ReLU net passes every layer's factor "
    "straight to the output, so multiply the factors of all layers, the last one included",
    wrong=(
        lambda widths, gain: _output_scale(widths[:-1], gain),  # the last layer forgotten
        lambda widths, gain: _output_scale(widths, gain) ** 2,  # variances, not stds
        lambda widths, gain: math.prod(
            gain * math.sqrt(b / (a + b)) for a, b in zip(widths, widths[1:])
        ),  # fan_out
        lambda widths, gain: gain * 2 ** (-(len(widths) - 2) / 2),  # square layers assumed
    ),
    rel_tol=1e-4,
    inputs=_output_scale_inputs,
)
exercise(
    "04.4",
    "function",
    _predicted_median,
    "two parts multiply: the mean-square factor c/2 per layer (take the square root for a norm), "
    "and section 2b's drift of the typical network, e^(-1.25 L/n) in norm",
    wrong=(
        lambda c, width, depth: (c / 2) ** (depth / 2),  # mean square only, no drift
        lambda c, width, depth: (c / 2) ** (depth / 2) * math.exp(-2.5 * depth / width),  # ||h||^2 drift
        lambda c, width, depth: (c / 2) ** depth * math.exp(-1.25 * depth / width),  # no square root
        lambda c, width, depth: c ** (depth / 2) * math.exp(-1.25 * depth / width),  # ReLU's half forgotten
    ),
    rel_tol=1e-4,
    inputs=_predicted_median_inputs,
)
exercise(
    "04.3",
    "function",
    _mean_square_factors,
    "helpers.probe(model, x).outputs holds every layer's z, first first; take the mean of z**2 over the "
    "batch and the units, and divide each layer's by the previous layer's (not by the input's)",
    wrong=(
        lambda model, x: _mean_square_factors(model, x).sqrt(),  # ratios of the RMS, not of the mean square
        lambda model, x: 1 / _mean_square_factors(model, x),  # previous over next
        _input_prepended,  # the first ratio, z_1 over x, has no ReLU in it
        _relu_outputs,  # h = relu(z) instead of z
    ),
    rel_tol=1e-4,
    inputs=_mean_square_factors_inputs,
)
