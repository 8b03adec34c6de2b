"""Checked exercises of 05 Dead ReLUs and learning-rate fixes."""

import torch
from torch import nn

from helpers.exercises import exercise


def _fixed_point(width=8, layers=200):
    # m_l = 1/2 (fan_in * Var[w] * m_(l-1) + Var[b]) with torch's default: Var[w] = Var[b] = 1 / (3 fan_in)
    var, m = 1 / (3 * width), 0.5 * (2 * (1 / 6) * 1 + 1 / 6)  # m_1: the first layer has fan_in 2
    for _ in range(layers):
        m = 0.5 * (width * var * m + var)
    return m


def _relu_outputs(model, x):
    outs, h = [], x
    with torch.no_grad():
        for module in model:
            h = module(h)
            if isinstance(module, nn.ReLU):
                outs.append(h)  # (batch, units)
    return outs


def _dead_per_layer(model, x):
    # a unit is dead when it outputs 0 on every row of x
    return torch.stack([(h == 0).all(0).float().mean() for h in _relu_outputs(model, x)])  # (hidden layers,)


def _dead_per_layer_inputs():
    from helpers.data import lecture_split
    from helpers.models import lecture_net, mlp

    x = lecture_split().x_train
    cases = []
    with torch.random.fork_rng(devices=[]):  # seeded nets, and the caller's random state left as it was
        for seed, hidden, width in ((0, 10, 4), (5, 6, 4), (2, 4, 8)):
            torch.manual_seed(seed)
            cases.append((lecture_net("relu", hidden, width), x))
        torch.manual_seed(1)
        net = lecture_net("relu", 3)
        with torch.no_grad():
            net[2].bias.fill_(-5.0)  # hidden layer 2 dead for every input
        cases.append((net, x))
        torch.manual_seed(3)
        cases.append((mlp([2, 16, 8, 4, 1]), x[:50]))
    return cases


def _momentum_equivalent_lr(lr=0.03, momentum=0.8, steps=300):
    # measure the steady step of SGD with momentum (torch.optim.SGD's arithmetic) on a constant gradient of 1
    from helpers.explore.nb05 import sgd_steps

    *_, before, after = sgd_steps([torch.ones(1)] * steps, lr, momentum)
    return (before - after).item()  # the step per unit gradient: the plain-SGD rate that takes it


exercise(
    "05.1",
    "number",
    _fixed_point,
    "torch's default gives weights AND biases the variance 1/(3 fan_in), here with fan_in 8; "
    "ReLU keeps half of E[z^2]; set m_l = m_(l-1) = m and solve",
    wrong=(
        1 / 20,  # the width-4 answer of the lesson
        1 / 16,  # ReLU's factor 1/2 forgotten
        1 / 24,  # weight variance 1/fan_in instead of 1/(3 fan_in)
        0.0,  # biases forgotten: then the signal does shrink to 0
        1 / 80,  # the factor 1/2 applied twice
    ),
    rel_tol=0.02,
)
exercise(
    "05.2",
    "function",
    _dead_per_layer,
    "run x through the model module by module; after each nn.ReLU, a unit (column) is dead when it is 0 "
    "on every row; average over the layer's units",
    wrong=(
        lambda model, x: 1 - _dead_per_layer(model, x),  # the alive fraction
        lambda model, x: torch.stack(  # zero entries, not units dead on every input
            [(h == 0).float().mean() for h in _relu_outputs(model, x)]
        ),
        lambda model, x: torch.stack(  # dead on SOME input instead of every input
            [(h == 0).any(0).float().mean() for h in _relu_outputs(model, x)]
        ),
    ),
    rel_tol=1e-4,
    inputs=_dead_per_layer_inputs,
)
exercise(
    "05.3",
    "number",
    _momentum_equivalent_lr,
    "on a steady gradient g the momentum buffer grows to v = g + beta v, i.e. g / (1 - beta); "
    "the step is lr times that",
    wrong=(
        0.03,  # momentum changes nothing
        0.3,  # the factor 10 of beta = 0.9, not 0.8
        0.03 * 0.8,  # lr * beta
        0.03 * 0.2,  # lr * (1 - beta)
        0.03 / 0.8,  # lr / beta
    ),
    rel_tol=0.02,
)
exercise(
    "05.4",
    "number",
    # not the answer but the centre of the accepted band, 0.013 * 0.65 to 0.013 / 0.65 (math.isclose): 0.0084
    # to 0.020 holds the prediction (1/2)^6 = 1/64 and every measurement within 4 standard errors of the mean
    # of one 2000-net run (200 seeds: mean 0.0136, standard deviation 0.0012; none outside the band)
    0.013,
    "a deep unit is off for every input with probability about 1/2, independently of its neighbours; "
    "a layer is dead when all its units are",
    wrong=(
        1 / 16,  # the width-4 answer of the lesson
        1 / 2,  # one unit, not the whole layer
        1 / 6,  # 1/width
        1 / 12,  # 1/(2 width)
        1 / 4096,  # (1/4)^6 or (1/2)^12
        1 / 32,  # (1/2)^5: one unit too few
        1 / 128,  # (1/2)^7: one unit too many
    ),
    rel_tol=0.35,
)
