"""Initialisation schemes by name, applied to every Linear/Conv layer, and their closed forms."""

import math

import torch
from torch import nn

from helpers.checks import check_choice, check_positive, linear_layers

SCHEMES = (
    "default",
    "zeros",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
)


def fans(weight):
    """(fan_in, fan_out) of a weight tensor, as torch.nn.init computes them."""
    return nn.init._calculate_fan_in_and_fan_out(weight)


def init_weights(
    model,
    scheme="default",
    gain=1.0,
    std=1.0,
    bound=1.0,
    value=0.0,
    mode="fan_in",
    nonlinearity="relu",
    a=0.0,
    bias=None,
):
    """Re-initialise the weights of every Linear/Conv layer of model in place; returns model.

    scheme picks the torch.nn.init call: 'uniform' is U(-bound, bound), 'normal' N(0, std^2),
    'constant' fills with value, xavier_* use gain, kaiming_* use mode, nonlinearity and a.
    'default' is torch's own reset (kaiming_uniform_ with a=sqrt(5): U(+-1/sqrt(fan_in))).
    bias=None leaves biases as they are; a number sets every bias to it.
    """
    check_choice(scheme, SCHEMES, "scheme")
    check_choice(mode, ("fan_in", "fan_out"), "mode")
    if scheme == "uniform":
        check_positive(bound, "bound")
    if scheme == "normal":
        check_positive(std, "std")
    fill = {
        "zeros": nn.init.zeros_,
        "constant": lambda w: nn.init.constant_(w, value),
        "uniform": lambda w: nn.init.uniform_(w, -bound, bound),
        "normal": lambda w: nn.init.normal_(w, 0.0, std),
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain),
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, a, mode, nonlinearity),
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, a, mode, nonlinearity),
    }
    for layer in linear_layers(model):
        with torch.no_grad():
            if scheme == "default":  # torch's own reset; it redraws the bias too, so keep the old one
                old_bias = None if layer.bias is None else layer.bias.clone()
                layer.reset_parameters()
                if old_bias is not None:
                    layer.bias.copy_(old_bias)
            else:
                fill[scheme](layer.weight)
            if bias is not None and layer.bias is not None:
                nn.init.constant_(layer.bias, bias)
    return model


def predicted_std(
    scheme,
    fan_in,
    fan_out,
    gain=1.0,
    std=1.0,
    bound=1.0,
    value=0.0,
    mode="fan_in",
    nonlinearity="relu",
    a=0.0,
):
    """Standard deviation of the weights a scheme draws for a layer with these fans."""
    check_choice(scheme, SCHEMES, "scheme")
    check_choice(mode, ("fan_in", "fan_out"), "mode")
    for n, name in ((fan_in, "fan_in"), (fan_out, "fan_out")):
        check_positive(n, name)
    fan = fan_in if mode == "fan_in" else fan_out
    return {
        "default": lambda: 1 / math.sqrt(3 * fan_in),
        "zeros": lambda: 0.0,
        "constant": lambda: 0.0,
        "uniform": lambda: bound / math.sqrt(3),
        "normal": lambda: std,
        "xavier_uniform": lambda: gain * math.sqrt(2 / (fan_in + fan_out)),
        "xavier_normal": lambda: gain * math.sqrt(2 / (fan_in + fan_out)),
        "kaiming_uniform": lambda: nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan),
        "kaiming_normal": lambda: nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan),
    }[scheme]()


def predicted_bound(scheme, fan_in, fan_out, **kwargs):
    """Bound a of U(-a, a) for the uniform schemes (sqrt(3) times their std)."""
    if scheme not in ("default", "uniform", "xavier_uniform", "kaiming_uniform"):
        raise ValueError(f"scheme: expected a uniform scheme, got {scheme!r}")
    return math.sqrt(3) * predicted_std(scheme, fan_in, fan_out, **kwargs)


def predicted_stds(model, scheme, **kwargs):
    """predicted_std for every Linear/Conv layer of model, in forward order."""
    return [predicted_std(scheme, *fans(m.weight), **kwargs) for m in linear_layers(model)]
