"""Checked exercises of 06 Beyond initialisation."""

import math

import torch

from helpers.exercises import exercise


def _balanced_bound(width=64):
    # U(-a, a) has Var[w] = a^2 / 3; a ReLU layer multiplies E[z^2] by width * Var[w] / 2: set that to 1
    return math.sqrt(6 / width)


def _clip_norm(g, c):
    norm = g.norm().item()
    return g if norm <= c else g * (c / norm)  # a zero gradient is short: returned unchanged


def _clip_norm_inputs():
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(100, generator=g) * 10, 1.0),  # norm about 100: shortened to 1
        (torch.randn(8, 4, generator=g) * 1e-3, 1.0),  # norm far below 1: left alone
        (torch.randn(50, generator=g), 100.0),  # a loose threshold: left alone
        (torch.randn(3, 5, 7, generator=g) * 3, 2.5),
        (torch.zeros(10), 1.0),  # a zero gradient: returned unchanged, not divided by its norm
    ]


def _uphill_fraction(g, floor):
    clamped = g.clamp(min=floor)
    return (clamped * g < 0).float().mean()


def _uphill_fraction_inputs():
    g = torch.Generator().manual_seed(1)
    heavy = torch.randn(2000, generator=g) * torch.rand(2000, generator=g).pow(4) * 0.05  # gradient-like
    return [
        (heavy, 1e-3),
        (heavy, 1e-6),
        (torch.randn(500, generator=g), 0.5),  # a large floor also raises small positive components
        (torch.randn(300, generator=g) - 0.5, 0.0),  # a floor of 0 zeroes negatives: none points uphill
        (torch.randn(4, 64, generator=g) * 1e-2, 1e-2),
    ]


exercise(
    "06.1",
    "number",
    _balanced_bound,
    "U(-a, a) has variance a^2/3, and each ReLU layer of width n multiplies the second moment by "
    "n * Var[w] / 2: set that factor to 1 and solve for the bound a, not the std",
    wrong=(
        math.sqrt(3 / 64),  # the ReLU's halving forgotten (LeCun / Xavier-uniform for 64 -> 64)
        0.5 / (64 * 0.5**2 / 3 / 2),  # the bound divided by the growth, not by its square root
        math.sqrt(2 / 64),  # He's std, not a uniform bound
        6 / 64,  # the variance, not the bound
        0.5,  # the exploding recipe itself
    ),
    rel_tol=0.01,
)
exercise(
    "06.2",
    "function",
    _clip_norm,
    "multiply g by min(1, c / ||g||), with ||g|| the norm of the whole tensor: shorten long gradients, "
    "keep their direction, and leave short ones (a zero gradient too) unchanged",
    wrong=(
        lambda g, c: g.clamp(-c, c),  # clipping by value
        lambda g, c: g * c / g.norm(),  # always rescaled to length c, short gradients made longer
        lambda g, c: g / g.norm(),  # normalised, threshold ignored
        lambda g, c: g * min(1.0, c / g.abs().max().item()),  # the largest component, not the norm
    ),
    rel_tol=1e-4,
    inputs=_clip_norm_inputs,
)
exercise(
    "06.3",
    "function",
    _uphill_fraction,
    "clamp the gradient with g.clamp(min=floor), then count the components whose clamped value has the "
    "opposite sign of the original (their product is negative), as a fraction of all components",
    wrong=(
        lambda g, floor: (g.abs() < floor).float().mean(),  # the components that were raised
        lambda g, floor: (g < floor).float().mean(),  # the components that changed
        lambda g, floor: (g < 0).float().mean(),  # right for floor > 0, but a floor of 0 sends none uphill
        lambda g, floor: (g.clamp(min=floor) * g <= 0).float().mean(),  # zeroed components are not uphill
    ),
    rel_tol=1e-4,
    inputs=_uphill_fraction_inputs,
)
