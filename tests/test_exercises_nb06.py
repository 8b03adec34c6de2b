"""The checked exercises of 06: right answers accepted, likely mistakes refused, none shown in the lesson."""

import math

import torch
from notebook_text import lesson_text
from torch import nn

from helpers import exercises


def test_exercise_1_accepts_the_balanced_bound_however_it_is_given():
    a = math.sqrt(6 / 64)
    for answer in (a, torch.tensor(a), round(a, 3)):
        assert exercises.verdict("06.1", answer)[0]
    for wrong in (math.sqrt(3 / 64), math.sqrt(2 / 64), 6 / 64, 0.5):
        assert not exercises.verdict("06.1", wrong)[0]


def test_exercise_1_answer_is_not_printed_in_the_lesson():
    text = lesson_text("06_beyond_initialisation.ipynb")
    assert not any(f"{math.sqrt(6 / 64):.{d}f}" in text for d in (2, 3))


def test_exercise_2_accepts_torchs_own_clipping_and_refuses_value_clipping():
    def by_torch(g, c):
        p = nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        nn.utils.clip_grad_norm_([p], c)
        return p.grad

    assert exercises.verdict("06.2", by_torch)[0]
    assert not exercises.verdict("06.2", lambda g, c: g.clamp(-c, c))[0]


def test_exercise_3_accepts_a_sign_comparison_and_refuses_counting_negatives():
    def by_sign(g, floor):
        return (torch.sign(g.clamp(min=floor)) == -torch.sign(g)).logical_and(g != 0).float().mean()

    assert exercises.verdict("06.3", by_sign)[0]
    assert not exercises.verdict("06.3", lambda g, floor: (g < 0).float().mean())[0]


def test_exercise_2_refuses_dividing_a_zero_gradient_by_its_norm():
    assert exercises.verdict("06.2", lambda g, c: g if g.norm() <= c else g * (c / g.norm()))[0]
    assert not exercises.verdict("06.2", lambda g, c: g * min(1.0, c / g.norm().item()))[0]  # 1 / 0.0 raises
