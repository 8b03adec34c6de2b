"""helpers.explore.nb04: lesson 04's explorer draws what theory.signal_norms measures."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from helpers import theory
from helpers.explore import nb04


def test_norm_ratios_are_signal_norms_over_the_input_norm():
    acts, _ = theory.signal_norms(2.0, 20, 6, 5, slope=0.2, seed=3, backward=False)
    r = nb04.norm_ratios(2.0, 20, 6, 5, slope=0.2, seed=3)
    assert r.shape == (5, 7)
    torch.testing.assert_close(r, acts / acts[:, :1])
    assert (r[:, 0] == 1).all()


def test_explore_draws_the_spread_and_the_mean_square_prediction():
    fig, ax = plt.subplots()
    median = nb04.explore(c=3.0, width=25, depth=10, activation="leaky_relu (a=0.2)", seeds=8, ax=ax)
    r = nb04.norm_ratios(3.0, 25, 10, 8, slope=0.2)
    assert median == pytest.approx(r[:, -1].median().item())
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["median"].get_ydata() == pytest.approx(r.double().quantile(0.5, dim=0).numpy(), rel=1e-6)
    predicted = lines["mean-square prediction"].get_ydata()
    assert predicted[-1] == pytest.approx((3.0 * (1 + 0.2**2) / 2) ** 5)  # (c (1 + a^2) / 2)^(L/2)
    assert ax.get_yscale() == "log" and lines["median"].get_color() == predicted_color(ax)
    plt.close(fig)


def predicted_color(ax):
    return next(line.get_color() for line in ax.get_lines() if line.get_label() == "mean-square prediction")


def test_the_median_net_follows_the_exact_log_growth():
    fig, ax = plt.subplots()
    linear = nb04.explore(c=1.0, width=100, depth=20, activation="none (linear)", seeds=200, ax=ax)
    relu = nb04.explore(c=2.0, width=100, depth=20, activation="relu", seeds=200, ax=ax)
    plt.close(fig)
    # the typical norm follows the exact log-growth per layer; medians of 200 nets within 20 % (4 to 6 SE)
    assert linear == pytest.approx(theory.matrix_product_growth(100, 20).typical, rel=0.2)
    assert relu == pytest.approx(math.exp(20 * theory.relu_log_growth(100)), rel=0.2)


def test_widget_has_the_lessons_controls_and_rejects_an_unknown_activation():
    w = nb04.widget()
    names = {c.description for c in w.children[:-1]}
    assert names == {"c", "width", "depth", "activation"}
    assert isinstance(w.result, float) and 0 < w.result < 2
    plt.close("all")
    with pytest.raises(ValueError, match="activation"):
        nb04.explore(activation="tanh")
