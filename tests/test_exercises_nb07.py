"""The checked exercises of 07: every correct answer accepted (Monte-Carlo ones too), mistakes refused."""

import math

import pytest
import torch
from notebook_text import lesson_text

from helpers import exercises
from helpers.exercises import nb07


def monte_carlo_next_q(samples, seed):
    """A correct answer to exercise 2 as a student may write it: E[phi(z)^2] from random samples of z."""
    gen = torch.Generator().manual_seed(seed)

    def next_q(q, n, std, phi):
        z = math.sqrt(q) * torch.randn(samples, generator=gen)  # float32, as torch.randn gives
        return n * std**2 * phi(z).pow(2).mean().item() + 1 / (3 * n)

    return next_q


def test_exercise_2_accepts_monte_carlo_answers_at_the_sample_size_it_asks_for():
    refused = [s for s in range(200) if not exercises.verdict("07.2", monte_carlo_next_q(10_000, s))[0]]
    assert len(refused) <= 1, refused  # tolerance: 8 % is 3.7 standard errors here, about 1 refusal in 5,000


def test_exercise_2_accepts_every_monte_carlo_answer_from_100_000_samples():
    refused = [s for s in range(200) if not exercises.verdict("07.2", monte_carlo_next_q(100_000, s))[0]]
    assert refused == []


def test_exercise_2_accepts_quadrature_and_evenly_spaced_quantiles():
    z = torch.special.ndtri((torch.arange(10_000, dtype=torch.float64) + 0.5) / 10_000)

    def by_quantiles(q, n, std, phi):
        return n * std**2 * phi(math.sqrt(q) * z).pow(2).mean().item() + 1 / (3 * n)

    assert exercises.verdict("07.2", by_quantiles)[0]
    assert exercises.verdict("07.2", nb07._next_q)[0]


@pytest.mark.parametrize("wrong", [0, 1, 2, 3])
def test_exercise_2_wrong_answers_are_far_outside_the_tolerance(wrong):
    f = exercises.EXERCISES["07.2"].wrong[wrong]
    errors = [abs(f(*args) / nb07._next_q(*args) - 1) for args in nb07._next_q_inputs()]
    assert max(errors) > 0.2, errors  # so sampling noise cannot turn a wrong answer right


def test_exercise_1_and_3_accept_what_a_student_reads_or_rounds():
    assert exercises.verdict("07.1", 1.2**49)[0] and exercises.verdict("07.1", 7600)[0]
    assert exercises.verdict("07.3", 1.2)[0]  # the app's gain slider moves in steps of 0.05
    assert exercises.verdict("07.3", 1.19)[0]
    assert not exercises.verdict("07.3", 1.15)[0] and not exercises.verdict("07.3", 1.25)[0]


def test_answers_are_not_printed_in_the_lesson():
    text = lesson_text("07_playground.ipynb")
    flat = exercises.solution("07.3")
    for shown in (f"{flat:.2f}", f"{flat:.3f}", "7.58e+03", "7.6e+03", "7,583", "7583"):
        assert shown not in text, shown
