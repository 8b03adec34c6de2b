"""helpers.explore.nb04: lesson 04's explorer draws what theory.signal_norms measures."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

import helpers
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


def test_mode_rms_telescopes_exactly_between_the_modes():
    widths = [8, 32, 8, 32, 8]
    rms = {m: nb04.mode_rms(m, seeds=3, widths=widths) for m in ("fan_in", "fan_out")}
    assert rms["fan_in"][0].shape == (3, 4)
    (f_in, b_in), (f_out, b_out) = nb04.end_to_end(rms).values()
    assert f_out / f_in == pytest.approx(2.0, rel=1e-4)  # sqrt(32 / 8): the per-layer scales telescope
    assert b_out / b_in == pytest.approx(2.0, rel=1e-4)
    with pytest.raises(ValueError, match="top"):
        nb04.mode_rms("fan_in", top="cross_entropy")


def test_zs_and_grads_agree_with_autograd_on_the_output():
    torch.manual_seed(0)
    net = helpers.mlp([5, 7, 3], bias=False)
    x, v = torch.randn(4, 5), torch.randn(4, 3)
    zs, grads = nb04.zs_and_grads(net, x, v)
    torch.testing.assert_close(grads[-1], v / 4)  # L = mean over the batch of v . z_L
    torch.testing.assert_close(zs[-1], net(x).detach())


def test_xavier_net_is_the_he_net_scaled():
    digits = helpers.split(*helpers.digits(), train=0.7, seed=0)
    assert nb04.output_rms_ratio(digits, hidden=3) == pytest.approx(2**-1.5 * math.sqrt(64 / 74), rel=1e-4)


def test_deep_nets_lsuv_and_orthogonal():
    x = torch.randn(64, 64)
    (ortho,) = nb04.deep_nets("orthogonal", seeds=1, hidden=2)
    w = ortho[0].weight
    torch.testing.assert_close(w @ w.T, 2 * torch.eye(64), atol=1e-4, rtol=0)
    (net,) = nb04.deep_nets("lsuv", seeds=1, hidden=2, x=x)
    assert all(abs(o.std().item() - 1) < 0.02 for o in helpers.init.layer_outputs(net, x))


def test_jacobian_of_a_linear_orthogonal_net_is_an_isometry():
    sv = nb04.jacobian_svals("orthogonal", "identity", depth=5, width=8, seeds=2)
    assert sv.shape == (2, 8)
    torch.testing.assert_close(sv, torch.ones(2, 8), atol=1e-4, rtol=0)


def test_jacobian_svals_in_float64_are_the_same_nets():
    sv32 = nb04.jacobian_svals("normal", "relu", depth=4, width=8, seeds=2)
    sv64 = nb04.jacobian_svals("normal", "relu", depth=4, width=8, seeds=2, dtype=torch.float64)
    assert sv64.dtype == torch.float64
    torch.testing.assert_close(sv64[:, :2].float(), sv32[:, :2], rtol=1e-4, atol=1e-5)  # same weights, input


def test_runs_and_plots_have_the_expected_shapes():
    data = helpers.lecture_split()
    mse = nb04.lecture_runs(data, seeds=2, epochs=2)
    assert list(mse) == ["default", "kaiming_uniform", "kaiming_normal"] and mse["default"].shape == (2, 2)
    digits = helpers.split(*helpers.digits(), train=0.7, seed=0)
    acc = nb04.deep_runs(digits, "kaiming_normal", seeds=2, hidden=2, epochs=1)
    assert acc.shape == (2, 1) and ((acc >= 0) & (acc <= 1)).all()
    ax = nb04.plot_accuracy({"He normal, SGD": acc, "LSUV, Adam": acc}, 0.1, "t")
    lsuv_line = ax.get_lines()[1]
    assert lsuv_line.get_linestyle() == "--" and lsuv_line.get_color() == nb04.EXTRA_COLORS["lsuv"]
    acts, deltas = theory.signal_norms([1.0, 2.0], 10, 4, 3)
    assert len(nb04.plot_depth([1.0, 2.0], acts, deltas)) == 2
    assert len(nb04.plot_modes({"fan_in": nb04.mode_rms("fan_in", seeds=2, widths=[4, 8, 4])})) == 2
    plt.close("all")


def test_deep_arms_pairs_the_schemes_by_seed_and_the_optimizers_by_call():
    digits = helpers.split(*helpers.digits(), train=0.7, seed=0)
    arms = nb04.deep_arms(digits, epochs=1, seeds=2, hidden=2)
    assert list(arms) == ["Xavier normal, SGD", "He normal, SGD", "Xavier normal, Adam", "He normal, Adam"]
    assert all(a.shape == (2, 1) for a in arms.values())
    alone = nb04.deep_runs(digits, "kaiming_normal", seeds=2, hidden=2, epochs=1)
    torch.testing.assert_close(arms["He normal, SGD"], alone, atol=0.01, rtol=0)  # same nets, same batches
    fig_axes = nb04.plot_modes({"fan_in": nb04.mode_rms("fan_in", seeds=2, widths=[4, 8, 4])})
    assert [t.get_text() for t in fig_axes[0].get_yticklabels()] == ["0.25", "0.5", "1", "2", "4"]
    plt.close("all")
