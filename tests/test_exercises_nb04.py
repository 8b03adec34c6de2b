"""The checked exercises of 04: right answers accepted, likely mistakes refused, none shown in the lesson."""

import math

import torch
from notebook_text import lesson_text
from torch import nn

import helpers
from helpers import exercises


def test_exercise_1_accepts_the_std_and_refuses_the_fan_in():
    std = math.sqrt(2 / 1.09) / 10
    assert exercises.verdict("04.1", std)[0] and exercises.verdict("04.1", round(std, 3))[0]
    assert exercises.verdict("04.1", torch.tensor(std))[0]
    assert not exercises.verdict("04.1", math.sqrt(2 / 1.09) / 20)[0]


def test_exercise_2_matches_a_measurement_on_a_real_net():
    def output_scale(widths, gain):  # a different but equal formula: ratio of variances, then a root
        return math.sqrt(math.prod(gain**2 * 2 / (a + b) / (2 / a) for a, b in zip(widths, widths[1:])))

    assert exercises.verdict("04.2", output_scale)[0]
    widths, x = [30, 50, 20, 5], torch.randn(16, 30)
    out = []
    for scheme, kw in (("xavier_normal", {"gain": 1.3}), ("kaiming_normal", {})):
        torch.manual_seed(0)
        out.append(helpers.init_weights(helpers.mlp(widths, bias=False), scheme, **kw)(x))
    torch.testing.assert_close(out[0], out[1] * output_scale(widths, 1.3), rtol=1e-4, atol=1e-6)


def test_exercise_3_accepts_a_loop_with_hooks():
    def by_hooks(model, x):
        zs = []
        for m in model:
            x = m(x)
            if isinstance(m, nn.Linear):
                zs.append(x.detach().pow(2).mean())
        return torch.tensor([b / a for a, b in zip(zs, zs[1:])])

    assert exercises.verdict("04.3", by_hooks)[0]


def test_exercise_4_accepts_the_second_order_median():
    assert exercises.verdict("04.4", lambda c, w, d: (c / 2) ** (d / 2) * math.exp(-1.25 * d / w))[0]
    assert not exercises.verdict("04.4", lambda c, w, d: (c / 2) ** (d / 2))[0]


def test_number_answers_are_not_printed_in_the_lesson():
    text = lesson_text("04_kaiming.ipynb")
    assert not any(f"{math.sqrt(2 / 1.09) / 10:.{d}f}" in text for d in (3, 4))
