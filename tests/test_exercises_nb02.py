"""Lesson 02's checked exercises: every correct way to the answer passes, the typical slips fail."""

import math

import pytest
import torch

from helpers import exercises, theory
from helpers.explore import nb02


def test_02_1_accepts_the_measured_correlation():
    measured = nb02.unit_correlation(-1, 3, seeds=20)[0].item()  # within its own sampling error
    assert exercises.verdict("02.1", 3 / 7)[0] and exercises.verdict("02.1", measured)[0]


def test_02_3_is_the_product_of_the_glorot_factors():
    widths = [100 if i % 2 == 0 else 200 for i in range(21)]
    s2 = torch.tensor(nb02.stds_for(widths, "Glorot"), dtype=torch.float64) ** 2
    assert exercises.verdict("02.3", torch.prod(torch.tensor(widths[:-1]) * s2).item())[0]


def test_02_4_accepts_the_fixed_point_route_and_a_monte_carlo_estimate():
    c = 1 / theory.gauss_expect(lambda z: torch.tanh(z) ** 2, 1.0)
    assert theory.fixed_point(c) == pytest.approx(1.0, rel=1e-6)
    z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mc = ((1 - z.tanh() ** 2) ** 2).mean() / (z.tanh() ** 2).mean()  # c E[tanh'^2], c = 1 / E[tanh^2]
    assert exercises.verdict("02.4", mc.item())[0]
    assert exercises.verdict("02.4", theory.chi(1.0, c))[0]
    assert not exercises.verdict("02.4", math.sqrt(theory.chi(1.0, c)))[0]
