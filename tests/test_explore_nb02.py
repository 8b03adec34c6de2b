"""helpers.explore.nb02: lesson 02's measurements agree with the closed forms and helpers.theory."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from helpers import theory
from helpers.explore import nb02


def test_predict_is_c_to_the_l_for_a_square_linear_net():
    c, n, depth = 0.8, 50, 6
    p = nb02.predict([n] * (depth + 1), [math.sqrt(c / n)] * depth)
    layers = torch.arange(1, depth + 1, dtype=torch.float64)
    torch.testing.assert_close(p["z"], c**layers)
    torch.testing.assert_close(p["g"], c ** (depth - layers))
    torch.testing.assert_close(p["dW"], 16 * torch.full((depth,), c ** (depth - 1), dtype=torch.float64))
    assert p["dx"] == pytest.approx(c**depth)


def test_predict_for_tanh_is_theory_mean_field():
    c, n, depth = 1.5, 40, 8
    p = nb02.predict([n] * (depth + 1), [math.sqrt(c / n)] * depth, "tanh")
    torch.testing.assert_close(p["z"], theory.forward_variances(c, depth - 1, c))
    torch.testing.assert_close(p["g"], theory.gradient_variances(c, depth, c))


def test_signal_medians_match_predictions():
    widths, stds = [60, 120, 60, 30], [0.1, 0.12, 0.15]
    for activation in ("identity", "tanh"):
        s, p = nb02.signal(widths, stds, activation, seeds=60), nb02.predict(widths, stds, activation)
        for key in ("z", "g", "dW"):
            assert (s[key].median(0).values / p[key] - 1).abs().max() < 0.15, (activation, key)
        assert s["dx"].median().item() == pytest.approx(p["dx"], rel=0.15)


def test_signal_gradients_are_autograd_of_one_net():
    widths, stds = (5, 7, 3), [0.4, 0.3]
    s = nb02.signal(list(widths), stds, "tanh", seeds=2, batch=4)
    ws, x, r = nb02.unit_draws(widths, 2, 4, 0)
    w1, w2 = (stds[0] * ws[0][0]).requires_grad_(), (stds[1] * ws[1][0]).requires_grad_()
    loss = (r[0] * (torch.tanh(x[0] @ w1) @ w2)).sum()
    g1, _ = torch.autograd.grad(loss, (w1, w2))
    assert s["dW"][0, 0].item() == pytest.approx(g1.var().item(), rel=1e-5)


def test_one_layer_factors_are_the_fans():
    fwd, bwd = nb02.one_layer(50, 200, 1 / 50, seeds=40)
    assert fwd == pytest.approx(1, rel=0.05) and bwd == pytest.approx(4, rel=0.05)


def test_rules_and_end_to_end_telescope():
    widths = [300, 200, 100, 10]
    assert nb02.stds_for(widths, "Glorot")[0] == pytest.approx(math.sqrt(2 / 500))
    table = nb02.end_to_end(widths, seeds=10)
    assert table["fan-in"][1] == pytest.approx((1.0, 10 / 300))
    assert table["fan-out"][1] == pytest.approx((300 / 10, 1.0))
    for rule, (measured, predicted) in table.items():
        assert measured == pytest.approx(predicted, rel=0.2), rule


def test_two_passes_and_its_plot():
    res = nb02.two_passes([1.0, 2.0], width=50, depth=6)
    assert res["g_theory"][1].item() == pytest.approx(theory.gradient_variances(2.0, 6, 2.0)[0].item())
    assert (res["z"] / res["z_theory"] - 1).abs().max() < 0.2
    fig, ax = plt.subplots()
    nb02.plot_two_passes([1.0, 2.0], res, ax=ax)
    assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    plt.close(fig)


def test_gradient_crossing_is_where_theory_gives_1():
    for depth in (6, 20):
        c = nb02.gradient_crossing(depth)
        assert theory.gradient_variances(c, depth, c)[0].item() == pytest.approx(1, abs=1e-9)
        assert 1 < c < 3
    assert nb02.gradient_crossing(20) == pytest.approx(1.652, abs=1e-3)


def test_correlation_ranks_and_gaps():
    shifted = nb02.unit_correlation(0, 2, width=40, depth=2, seeds=5, batch=300)
    assert shifted[0].item() == pytest.approx(0.75, abs=0.03) and shifted[1] > 0.95
    assert abs(nb02.unit_correlation(-1, 1, width=40, seeds=5, batch=300)[0].item()) < 0.02
    v = torch.tensor([3.0, 1.0, 2.0])
    assert nb02.rank_correlation(v, v) == pytest.approx(1) and nb02.rank_correlation(v, -v) == pytest.approx(
        -1
    )
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    torch.nn.init.constant_(net[0].weight, 0.3)
    assert nb02.unit_gap(net) == 0


def test_explore_prints_and_returns_the_output_variance(capsys):
    out = nb02.explore("tanh", c=2.0, depth=5, width=30)
    assert "predicted" in capsys.readouterr().out and out > 0
    assert isinstance(nb02.widget().children[0].value, str)
    plt.close("all")


def test_signal_keys_skip_work_without_changing_what_is_computed():
    widths, stds = [30, 40, 20], [0.2, 0.15]
    full = nb02.signal(widths, stds, "tanh", seeds=3, batch=4)
    for keys in (("z",), ("z", "g"), ("z", "dx"), ("g", "dW")):
        part = nb02.signal(widths, stds, "tanh", seeds=3, batch=4, keys=keys)
        assert tuple(part) == keys
        for k in keys:
            torch.testing.assert_close(part[k], full[k], rtol=0, atol=0)
