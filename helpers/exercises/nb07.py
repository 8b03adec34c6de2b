"""Checked exercises of 07 Playground: reading the variance recursion behind the app's diamonds."""

import math

import numpy as np
import torch

from helpers.exercises import exercise

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(100)  # E[f(z)], z ~ N(0, 1) = sum(WEIGHTS * f(NODES))
WEIGHTS = WEIGHTS / WEIGHTS.sum()
PHI = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


def _moments(q, phi):
    """E[phi(z)^2] and P(phi(z) != 0) for z ~ N(0, q)."""
    a = phi(torch.as_tensor(math.sqrt(q) * NODES)).numpy()
    return float((WEIGHTS * a**2).sum()), float((WEIGHTS * (a != 0)).sum())


def _next_q(q, n, std, phi):
    # Var of the next pre-activation: n inputs of second moment E[phi(z)^2], plus torch's bias, U(+-1/sqrt(n))
    return n * std**2 * _moments(q, phi)[0] + 1 / (3 * n)


def _rms_profile(activation, scheme, gain, depth, width=64):
    """Predicted RMS of each hidden layer's nonzero outputs, as the app's diamonds draw them (E[x^2] = 1)."""
    from helpers.init import predicted_std

    second, rms = 1.0, []
    for n_in, n_out in zip([2] + [width] * (depth - 1), [width] * depth):
        std = gain * predicted_std(scheme, n_in, n_out)
        q = n_in * std**2 * second + 1 / (3 * n_in)
        second, nonzero = _moments(q, PHI[activation])
        rms.append(math.sqrt(second / nonzero))
    return rms


def _relu_growth():
    rms = _rms_profile("relu", "kaiming_normal", 1.2, depth=50)
    return rms[-1] / rms[0]


def _flat_tanh_gain(depth=20):
    lo, hi = 0.5, 3.0  # the last/first RMS ratio rises with the gain: bisect for ratio 1
    for _ in range(40):
        mid = (lo + hi) / 2
        rms = _rms_profile("tanh", "xavier_normal", mid, depth)
        lo, hi = (mid, hi) if rms[-1] < rms[0] else (lo, mid)
    return (lo + hi) / 2


def _next_q_inputs():
    return [
        (1.0, 64, 0.125, torch.tanh),  # Xavier for tanh, width 64
        (4.0, 4, 0.5, torch.tanh),  # the lecture's width 4: the bias term is large
        (2.0, 4, 0.7, torch.relu),
        (0.5, 2, 1.0, torch.sigmoid),  # sigmoid's outputs have a mean of 1/2
    ]


def _no_bias(q, n, std, phi):
    return _next_q(q, n, std, phi) - 1 / (3 * n)


def _linear(q, n, std, phi):
    return n * std**2 * q + 1 / (3 * n)


def _variance_not_moment(q, n, std, phi):
    a = phi(torch.as_tensor(math.sqrt(q) * NODES)).numpy()
    mean = float((WEIGHTS * a).sum())
    return _next_q(q, n, std, phi) - n * std**2 * mean**2


exercise(
    "07.1",
    "number",
    _relu_growth,
    "with He's std the variance keeps its size, so a gain g multiplies the variance by g^2 per layer and the "
    "RMS by g; count how many layers lie *between* layer 1 and layer 50",
    wrong=(1.2**50, 1.44**49, 1.2 * 49, 1.2),
    rel_tol=0.05,
)
exercise(
    "07.2",
    "function",
    _next_q,
    "q' = n * std^2 * E[phi(z)^2] + 1/(3n), with z ~ N(0, q): the second moment of phi(z), not its variance "
    "and not q itself, plus the bias's variance; estimate it from at least 10,000 samples of z",
    wrong=(_no_bias, _linear, _variance_not_moment, lambda q, n, std, phi: _next_q(q, n, std**0.5, phi)),
    # A Monte-Carlo answer from N samples has a relative standard error of at most 2.15/sqrt(N) on these
    # inputs (the ReLU one; tanh and sigmoid 0.8/sqrt(N) or less): 2.2 % at N = 10,000, so 8 % is 3.7 standard
    # errors there (about 1 rejection in 5,000) and 12 at N = 100,000. Every wrong answer above is more than
    # 20 % off on some input (tests/test_exercises_nb07.py).
    rel_tol=0.08,
    inputs=_next_q_inputs,
)
exercise(
    "07.3",
    "number",
    _flat_tanh_gain,
    "set the app to tanh, Xavier normal, 20 hidden layers of 64 and move the gain until the printed "
    "predicted RMS of layer 20 equals layer 1's (or iterate your function of exercise 2)",
    wrong=(1.0, 5 / 3, math.sqrt(2), 1.1, 1.3),
    rel_tol=0.03,
)
