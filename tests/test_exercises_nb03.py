"""The checked exercises of 03: right answers accepted in a student's forms, likely slips refused."""

import math

import torch
from notebook_text import lesson_text
from torch import nn

import helpers
from helpers import exercises


def test_exercise_1_accepts_the_bound_and_refuses_the_usual_slips():
    bound = 5 / 3 * math.sqrt(6 / 320)
    layer = nn.Linear(256, 64)
    nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
    assert bound * 0.99 < layer.weight.abs().max().item() <= bound  # the oracle: torch's own draw
    for right in (bound, torch.tensor(bound), round(bound, 3)):
        assert exercises.verdict("03.1", right)[0]
    for wrong in (math.sqrt(6 / 320), 5 / 3 * math.sqrt(2 / 320), 5 / 3 * math.sqrt(6 / 256)):
        assert not exercises.verdict("03.1", wrong)[0]


def test_exercise_1_answer_is_not_printed_in_the_lesson():
    text = lesson_text("03_xavier.ipynb")
    assert not any(f"{5 / 3 * math.sqrt(6 / 320):.{d}f}" in text for d in (3, 4))


def test_exercise_2_accepts_autograd_slopes_and_refuses_the_mean_slope():
    def by_autograd(activation, z):
        z = z.clone().requires_grad_()
        (slope,) = torch.autograd.grad(getattr(torch, activation)(z).sum(), z)
        return slope.pow(2).mean().sqrt().item()  # a plain number

    assert exercises.verdict("03.2", by_autograd)[0]

    def mean_slope(activation, z):  # the mean slope, not its root mean square
        z = z.clone().requires_grad_()
        (slope,) = torch.autograd.grad(getattr(torch, activation)(z).sum(), z)
        return slope.mean()

    assert not exercises.verdict("03.2", mean_slope)[0]


def test_exercise_3_accepts_the_norm_form_and_a_list_and_refuses_the_std():
    def by_norm(model, x, y):
        d = [g.norm().item() / g.numel() ** 0.5 for g in helpers.probe(model, x, y).output_grads[:-1]]
        return [a / b for a, b in zip(d, d[1:])]  # a list of floats: Frobenius norm / sqrt(entries)

    assert exercises.verdict("03.3", by_norm)[0]
    flipped = lambda model, x, y: torch.tensor(by_norm(model, x, y)).flip(0)  # noqa: E731
    assert not exercises.verdict("03.3", flipped)[0]

    def by_std(model, x, y):
        d = [g.std() for g in helpers.probe(model, x, y).output_grads[:-1]]
        return torch.stack([a / b for a, b in zip(d, d[1:])])

    assert not exercises.verdict("03.3", by_std)[0]  # the std drops the mean: a different quantity
