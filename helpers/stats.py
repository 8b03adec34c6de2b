"""One forward and backward pass with hooks: what each layer sees, emits and receives."""

from dataclasses import dataclass

import torch
from torch import nn

from helpers.checks import (
    check_choice,
    check_dtype,
    check_inputs,
    check_module,
    check_targets,
    check_widths,
    linear_layers,
)

LOSSES = {"mse": nn.functional.mse_loss, "cross_entropy": nn.functional.cross_entropy}
# A unit is saturated where its activation's slope is below 5 % of the slope's peak.
SLOPE = {"sigmoid": lambda h: 4 * h * (1 - h), "tanh": lambda h: 1 - h**2}
SATURATION = 0.05
STATS = (  # the keys of summary(); the grad_* ones need labels
    "weight_mean",
    "weight_std",
    "weight_norm",
    "act_mean",
    "act_std",
    "dead",
    "saturated",
    "grad_mean",
    "grad_std",
    "grad_norm",
)


@dataclass
class Probe:
    """Per-layer tensors from one pass over a batch; list index = Linear/Conv layer, in order."""

    weights: list  # each (fan_out, fan_in)
    weight_grads: list  # dL/dW, same shapes; empty when no labels were given
    inputs: list  # what enters each layer, (batch, fan_in)
    outputs: list  # its pre-activation output z, (batch, fan_out)
    output_grads: list  # dL/dz, (batch, fan_out); empty when no labels were given
    activation: str | None  # the hidden activation's name, if the model has one
    loss: float | None

    @property
    def acts(self):
        """What each layer emits after its activation: the next layer's input, then the output."""
        return self.inputs[1:] + self.outputs[-1:]


def find_activation(model):
    """Name of the first activation module in model ('relu', 'tanh', ...), or None."""
    from helpers.models import ACTIVATIONS

    for m in model.modules():
        for name, cls in ACTIVATIONS.items():
            if type(m) is cls and name != "identity":
                return name
    return None


def probe(model, x, y=None, loss="mse"):
    """Run model on x (and the loss against y) with hooks; model.grad fields are left untouched."""
    check_module(model)
    check_choice(loss, LOSSES, "loss")
    layers = linear_layers(model)
    x = as_tensor(x, "x")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty batch of shape (batch, features), got {tuple(x.shape)}")
    check_inputs(x, "x", "x")
    check_dtype(model, x, "x", "x")
    if y is not None:
        y = as_tensor(y, "y")
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(f"y: expected {len(x)} labels to match x, got {tuple(y.shape)}")
        check_targets(y, len(x), loss, "y", "y")
    check_widths(model, x, y, loss)
    inputs, outputs = [], []

    def record(module, args, out):
        inputs.append(args[0].detach())
        outputs.append(out)

    handles = [m.register_forward_hook(record) for m in layers]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    weights = [m.weight for m in layers]
    weight_grads, output_grads, value = [], [], None
    if y is not None:
        if loss == "mse" and out.shape != y.shape:  # a custom model whose output would broadcast
            raise ValueError(f"model: its output has shape {tuple(out.shape)} but y has {tuple(y.shape)}")
        value = LOSSES[loss](out, y)
        grads = torch.autograd.grad(value, weights + outputs)
        weight_grads, output_grads = list(grads[: len(weights)]), list(grads[len(weights) :])
        value = value.item()
    return Probe(
        weights=[w.detach() for w in weights],
        weight_grads=weight_grads,
        inputs=inputs,
        outputs=[o.detach() for o in outputs],
        output_grads=output_grads,
        activation=find_activation(model),
        loss=value,
    )


def as_tensor(value, name):
    """value as a tensor (from a tensor, array or nested list); raises naming `name` otherwise."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{name}: expected a tensor or an array of numbers, got {type(value).__name__}"
        ) from None


def dead_fraction(acts):
    """Fraction of units (columns) that are exactly 0 for every sample of the batch."""
    return (acts == 0).all(dim=0).float().mean().item()


def saturated_fraction(acts, activation):
    """Fraction of (sample, unit) pairs where a sigmoid/tanh slope is below 5 % of its peak."""
    if activation not in SLOPE:
        return float("nan")
    return (SLOPE[activation](acts) < SATURATION).float().mean().item()


def summary(p):
    """Per-layer statistics of a Probe: name -> list with one float per layer."""
    if not isinstance(p, Probe):
        hint = " (call helpers.summary(helpers.probe(model, x, y)))" if isinstance(p, nn.Module) else ""
        raise TypeError(f"p: expected a helpers.Probe from helpers.probe, got {type(p).__name__}{hint}")
    hidden = len(p.weights) - 1  # the last layer has no activation

    def per_layer(tensors, fn):
        return [fn(t) for t in tensors]

    s = {
        "weight_mean": per_layer(p.weights, lambda t: t.mean().item()),
        "weight_std": per_layer(p.weights, lambda t: t.std().item()),
        "weight_norm": per_layer(p.weights, lambda t: t.norm().item()),
        "act_mean": per_layer(p.acts, lambda t: t.mean().item()),
        "act_std": per_layer(p.acts, lambda t: t.std().item()),
        "dead": [dead_fraction(a) if p.activation == "relu" else 0.0 for a in p.acts[:hidden]]
        + [float("nan")],
        "saturated": [saturated_fraction(a, p.activation) for a in p.acts[:hidden]] + [float("nan")],
    }
    if p.weight_grads:
        s["grad_mean"] = per_layer(p.weight_grads, lambda t: t.mean().item())
        s["grad_std"] = per_layer(p.weight_grads, lambda t: t.std().item())
        s["grad_norm"] = per_layer(p.weight_grads, lambda t: t.norm().item())
    return s
