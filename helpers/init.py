"""Initialisation schemes by name, applied to every Linear/Conv layer, and their closed forms."""

import inspect
import math

import torch
from torch import nn

from helpers.checks import (
    check_choice,
    check_inputs,
    check_module,
    check_number,
    check_positive,
    check_positive_int,
    did_you_mean,
    linear_layers,
)

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
    "orthogonal",
)
# The names torch.nn.init.calculate_gain accepts (its `nonlinearity`, an nn.functional name).
NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
)


def fans(weight):
    """(fan_in, fan_out) of a weight tensor, as torch.nn.init computes them."""
    if isinstance(weight, nn.Module):
        raise TypeError(f"weight: expected a weight tensor, got a {type(weight).__name__}; pass layer.weight")
    if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight: expected a tensor with at least 2 dimensions, got {shape}")
    return nn.init._calculate_fan_in_and_fan_out(weight)


def check_scheme_args(scheme, gain, std, bound, value, mode, nonlinearity, a):
    """Raise naming the first argument of a scheme that is not what the scheme expects."""
    check_choice(scheme, SCHEMES, "scheme")
    check_choice(mode, ("fan_in", "fan_out"), "mode")
    check_choice(nonlinearity, NONLINEARITIES, "nonlinearity")
    for number, name in ((gain, "gain"), (value, "value"), (a, "a")):
        check_number(number, name)
    (check_positive if scheme == "uniform" else check_number)(bound, "bound")
    (check_positive if scheme == "normal" else check_number)(std, "std")


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
    'constant' fills with value, xavier_* and 'orthogonal' (torch's orthogonal_, Saxe et al. 2014: orthonormal
    rows or columns, times gain) use gain, kaiming_* use mode, nonlinearity and a.
    'default' is torch's own reset (kaiming_uniform_ with a=sqrt(5): U(+-1/sqrt(fan_in))).
    bias=None leaves biases as they are; a number sets every bias to it.
    """
    check_module(model)
    check_scheme_args(scheme, gain, std, bound, value, mode, nonlinearity, a)
    if bias is not None:
        check_number(bias, "bias")
    layers = linear_layers(model)
    fill = {
        "zeros": nn.init.zeros_,
        "constant": lambda w: nn.init.constant_(w, value),
        "uniform": lambda w: nn.init.uniform_(w, -bound, bound),
        "normal": lambda w: nn.init.normal_(w, 0.0, std),
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain),
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, float(a), mode, nonlinearity),
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, float(a), mode, nonlinearity),
        "orthogonal": lambda w: nn.init.orthogonal_(w, gain),
    }
    for layer in layers:
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
    check_scheme_args(scheme, gain, std, bound, value, mode, nonlinearity, a)
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
        "kaiming_uniform": lambda: nn.init.calculate_gain(nonlinearity, float(a)) / math.sqrt(fan),
        "kaiming_normal": lambda: nn.init.calculate_gain(nonlinearity, float(a)) / math.sqrt(fan),
        "orthogonal": lambda: gain / math.sqrt(max(fan_in, fan_out)),  # unit rows (or columns): RMS
    }[scheme]()


def check_keywords(kwargs):
    """Raise naming a keyword that predicted_std does not take (a typo such as gian=2)."""
    known = list(inspect.signature(predicted_std).parameters)[3:]  # after scheme, fan_in, fan_out
    for key in kwargs:
        if key not in known:
            raise ValueError(
                f"{key}: not an argument of predicted_std{did_you_mean(key, known)}; it takes {known}"
            )


def predicted_bound(scheme, fan_in, fan_out, **kwargs):
    """Bound a of U(-a, a) for the uniform schemes (sqrt(3) times their std)."""
    check_keywords(kwargs)
    if scheme not in ("default", "uniform", "xavier_uniform", "kaiming_uniform"):
        raise ValueError(f"scheme: expected a uniform scheme, got {scheme!r}")
    return math.sqrt(3) * predicted_std(scheme, fan_in, fan_out, **kwargs)


def predicted_stds(model, scheme, **kwargs):
    """predicted_std for every Linear/Conv layer of model, in forward order."""
    check_module(model)
    check_choice(scheme, SCHEMES, "scheme")
    check_keywords(kwargs)
    return [predicted_std(scheme, *fans(m.weight), **kwargs) for m in linear_layers(model)]


def layer_outputs(model, x):
    """The output of every Linear/Conv layer of model on x, in forward order (no gradients)."""
    outs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outs.append(o)) for m in linear_layers(model)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return outs


def lsuv(model, x, tol=0.02, max_iter=10, orthogonal=True):
    """Layer-sequential unit-variance init (Mishkin & Matas 2016), in place; returns model.

    Optionally starts from orthogonal weights (gain 1), then, layer by layer from the input, divides a
    layer's weights by the std of its outputs on the batch x until that std is within tol of 1 (at most
    max_iter tries per layer). Biases are left as they are.
    """
    check_module(model)
    check_inputs(x, "the batch x", "x")
    if len(x) < 2:
        raise ValueError(f"x: expected a batch of at least 2 inputs to measure a std, got {len(x)}")
    check_positive(tol, "tol")
    check_positive_int(max_iter, "max_iter")
    if not isinstance(orthogonal, bool):
        raise ValueError(f"orthogonal: expected True or False, got {orthogonal!r}")
    if orthogonal:
        init_weights(model, "orthogonal")
    for i, layer in enumerate(linear_layers(model)):
        for _ in range(max_iter):
            std = layer_outputs(model, x)[i].std().item()
            if not math.isfinite(std):
                raise ValueError(
                    f"model: layer {i + 1}'s outputs on x are not finite (std {std}); LSUV cannot scale them"
                )
            if abs(std - 1) < tol or std == 0:
                break
            with torch.no_grad():
                layer.weight.div_(std)
    return model
