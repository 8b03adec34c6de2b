"""Checked exercises of 02 The Glorot condition."""

import torch

from helpers import theory
from helpers.exercises import exercise


def _correlation(low, high):
    # rho = mu^2 / (mu^2 + sigma^2) for weights ~ U(low, high) and zero-mean, unit-variance inputs
    mean, var = (low + high) / 2, (high - low) ** 2 / 12
    return mean**2 / (mean**2 + var)


def _shifted_correlation():
    return _correlation(-1.0, 3.0)  # U(-a, 3a): the ratio does not depend on a


def _variances(widths, stds, swap=False):
    # Predicted Var[z_l] (Var[x] = 1) and Var[g_l] (Var[g_L] = 1) of a deep linear net: (2, layers).
    n_in, n_out = torch.tensor(widths[:-1]), torch.tensor(widths[1:])  # (layers,) each
    if swap:  # a typical slip: the fans exchanged
        n_in, n_out = n_out, n_in
    s2 = torch.tensor(stds, dtype=torch.float64) ** 2
    forward = torch.cumprod(n_in * s2, 0)  # layer l: product of the factors of layers 1..l
    factors = n_out * s2  # going back, layer k multiplies Var[g_(k-1)] by n_out_k sigma_k^2
    backward = torch.cat([torch.cumprod(factors[1:].flip(0), 0).flip(0), torch.ones(1, dtype=s2.dtype)])
    return torch.stack([forward, backward])


def _swapped_fans(widths, stds):
    return _variances(widths, stds, swap=True)


def _own_layer_counted(widths, stds):
    # g_l also multiplied by layer l's own factor: Var[g_L] is not 1
    v = _variances(widths, stds)
    factors = torch.tensor(widths[1:]) * torch.tensor(stds, dtype=torch.float64) ** 2
    return torch.stack([v[0], v[1] * factors])


def _forward_not_compounded(widths, stds):
    v = _variances(widths, stds)
    return torch.stack([torch.tensor(widths[:-1]) * torch.tensor(stds, dtype=torch.float64) ** 2, v[1]])


def _backward_from_the_front(widths, stds):
    v = _variances(widths, stds)
    return torch.stack([v[0], v[1].flip(0)])


def _variances_inputs():
    g = torch.Generator().manual_seed(0)
    zigzag = [100 if i % 2 == 0 else 400 for i in range(21)]
    glorot = [(2 / (a + b)) ** 0.5 for a, b in zip(zigzag[:-1], zigzag[1:])]
    widths = torch.randint(10, 300, (7,), generator=g).tolist()
    c = 0.5 + torch.rand(6, generator=g, dtype=torch.float64)  # a different n_in sigma^2 per layer
    return [
        ([100] * 21, [(0.8 / 100) ** 0.5] * 20),  # square, c = 0.8
        (zigzag, glorot),
        (zigzag, [0.1] * 20),
        (widths, (c / torch.tensor(widths[:-1])).sqrt().tolist()),
        ([3, 5], [0.7]),  # one layer
    ]


def _zigzag_glorot_output():
    # widths 100, 200, 100, ..., 100 (20 layers), Glorot: each 100-200-100 pair multiplies Var by 4ab/(a+b)^2
    a, b = 100, 200
    return (4 * a * b / (a + b) ** 2) ** 10


exercise(
    "02.1",
    "number",
    _shifted_correlation,
    "rho = mu^2 / (mu^2 + sigma^2); the mean of U(low, high) is its midpoint and its variance "
    "(high - low)^2 / 12 (the a^2 / 3 of U(-a, a) uses the half-width a)",
    wrong=(
        0.75,  # the U(0, 2a) case of the lesson
        0.0,  # random is not enough: a nonzero mean correlates the units
        3 / 19,  # variance (high - low)^2 / 3, the formula of U(-d, d) with d = high - low
        27 / 43,  # the mean taken as high / 2
    ),
    rel_tol=0.02,
)
exercise(
    "02.2",
    "function",
    _variances,
    "row 0 multiplies n_in * sigma^2 of layers 1..l (input variance 1); row 1 multiplies n_out * sigma^2 "
    "of the layers *after* l, so its last entry is 1",
    wrong=(_swapped_fans, _own_layer_counted, _forward_not_compounded, _backward_from_the_front),
    rel_tol=1e-4,
    inputs=_variances_inputs,
)
exercise(
    "02.3",
    "number",
    _zigzag_glorot_output,
    "each layer multiplies the forward variance by n_in * sigma^2 with sigma^2 = 2 / (n_in + n_out); "
    "multiply the factors of all 20 layers",
    wrong=(
        (8 / 9) ** 20,  # the pair factor applied per layer
        8 / 9,  # one pair only
        0.64**10,  # the 100/400 network of the lesson
        1.0,  # fan-in keeps the forward pass, Glorot does not
        (2 / 3) ** 10,  # only the shrinking layers counted
    ),
    rel_tol=0.02,
)


def _chi_where_forward_holds():
    # tanh, zero bias: q* = 1 needs c = 1 / E[tanh(z)^2], z ~ N(0, 1); chi = c E[tanh'(z)^2] there
    c = 1 / theory.gauss_expect(lambda z: torch.tanh(z) ** 2, 1.0)
    return theory.chi(1.0, c)


exercise(
    "02.4",
    "number",
    _chi_where_forward_holds,
    "first c = 1 / E[tanh(z)^2] for z ~ N(0, 1); then chi = c * E[tanh'(z)^2] at the same q = 1 "
    "(theory.chi(1.0, c)); chi multiplies the gradient's variance once per layer",
    wrong=(
        1.0,  # the edge of chaos, which this c is not
        1 / theory.gauss_expect(lambda z: torch.tanh(z) ** 2, 1.0),  # c itself
        theory.gauss_expect(lambda z: (1 - torch.tanh(z) ** 2) ** 2, 1.0),  # E[tanh'^2] without c
        theory.chi(1.0, 1 / theory.gauss_expect(lambda z: torch.tanh(z) ** 2, 1.0)) ** 19,  # over 20 layers
    ),
    rel_tol=0.01,
)
