"""Checked exercises of 00 Toolkit."""

import torch

from helpers.exercises import exercise


def _constant_mse(y_train, y_test):
    return ((y_test - y_train.mean()) ** 2).mean()


def _test_constant_mse():
    from helpers.data import lecture_split

    return lecture_split(
        seed=1
    ).constant_mse()  # another draw than the lesson's: its level is printed nowhere


def _constant_mse_inputs():
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(70, 1, generator=g), torch.randn(30, 1, generator=g) + 1),
        (torch.rand(7, 1, generator=g), torch.rand(5, 1, generator=g)),
    ]


def _grad_ratio(model, x, y):
    from helpers.stats import probe

    grads = probe(model, x, y).weight_grads
    return grads[0].std() / grads[-1].std()


def _grad_ratio_inputs():
    """Nets whose first and last layers hold the same number of weights (8), so that the ratio is the same
    whether a student's std divides by n - 1 (torch) or by n (NumPy): the exercise accepts either."""
    from torch import nn

    from helpers.data import lecture_split

    data = lecture_split()
    y = torch.cat([data.y_train, -data.y_train], dim=1)  # two outputs: the last layer is 4 -> 2
    cases = []
    for seed, act in ((0, nn.Sigmoid), (1, nn.Tanh), (2, nn.ReLU)):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(2, 4), act(), nn.Linear(4, 4), act(), nn.Linear(4, 2))
        cases.append((net, data.x_train, y))
    return cases


exercise(
    "00.1",
    "number",
    _test_constant_mse,
    "use the seed=1 draw; predict the mean of its *training* labels and score that on its *test* labels",
    wrong=(10.0, 10.20, 14.78),  # the theory, this draw's train level, the lesson's (seed 0) test level
    rel_tol=0.01,
)
exercise(
    "00.2",
    "function",
    _constant_mse,
    "the prediction is one number, y_train.mean(); the loss is the mean of squared test errors",
    wrong=(lambda y_train, y_test: y_test.var(), lambda y_train, y_test: y_train.var()),
    rel_tol=1e-4,
    inputs=_constant_mse_inputs,
)
exercise(
    "00.3",
    "function",
    _grad_ratio,
    "helpers.probe(model, x, y).weight_grads is a list, first layer first; compare their .std()",
    wrong=(
        lambda model, x, y: 1 / _grad_ratio(model, x, y),  # last over first
        lambda model, x, y: _grad_ratio(model, x, y) ** 2,  # variances
    ),
    rel_tol=1e-4,
    inputs=_grad_ratio_inputs,
)
exercise(
    "00.4",
    "choice",
    "up",
    "compare the medians of the two 200-seed runs, same seeds and same batches; lower MSE is better",
    wrong=("down",),
)
exercise(
    "00.5",
    "choice",
    "a",
    "print the median of the 200 sigmoid runs next to data.constant_mse()",
    wrong=("b", "c"),
)
