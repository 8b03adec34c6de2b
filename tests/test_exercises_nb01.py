"""The checked exercises of 01: right answers accepted, likely mistakes refused, none shown in the lesson."""

import math

import torch
from notebook_text import lesson_text

from helpers import exercises


def newman(n):
    return 0.5 * (math.log(2) + torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64)).item())


def test_exercise_1_accepts_the_critical_scale_however_it_is_given():
    s = math.exp(-newman(8))
    assert exercises.verdict("01.1", s)[0]
    assert exercises.verdict("01.1", torch.tensor(s))[0]
    assert exercises.verdict("01.1", round(s, 3))[0]  # rounded as a student may
    for wrong in (8**-0.5, math.exp(-newman(4)), newman(8)):
        assert not exercises.verdict("01.1", wrong)[0]


def test_exercise_1_and_3_answers_are_not_printed_in_the_lesson():
    text = lesson_text("01_vanishing_exploding.ipynb")
    for answer in (math.exp(-newman(8)), math.sqrt(6 / 32)):
        assert not any(f"{answer:.{d}f}" in text for d in (2, 3)), answer


def test_exercise_2_accepts_autograd_itself():
    def by_autograd(weights, zs, delta_last, activation):
        phi = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation]
        z1 = zs[0].clone().requires_grad_()
        h = z1
        for i in range(len(weights) - 1):  # forward from z_1 to z_L, then backward with delta_L
            h = phi(h) @ weights[i + 1].T + (zs[i + 1] - phi(zs[i]) @ weights[i + 1].T)
        (g,) = torch.autograd.grad(h, z1, delta_last)
        return g

    assert exercises.verdict("01.2", by_autograd)[0]


def test_exercise_3_accepts_the_bound_and_refuses_the_std():
    assert exercises.verdict("01.3", math.sqrt(6 / 32))[0]
    assert exercises.verdict("01.3", 0.433)[0]
    assert not exercises.verdict("01.3", math.sqrt(2 / 32))[0]
    assert not exercises.verdict("01.3", 0.5)[0]
