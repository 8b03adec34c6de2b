"""helpers.explore.nb01: lesson 01's machinery measures what the lesson says it does."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from helpers import theory
from helpers.data import split
from helpers.explore import nb01


def test_lyapunov_is_newmans_rate_and_the_products_follow_it():
    assert nb01.lyapunov(4) == pytest.approx(
        0.5 * (math.log(2) + 1 - 0.5772156649), abs=1e-9
    )  # psi(2) = 1 - gamma
    assert nb01.lyapunov(4, s=0.5) == pytest.approx(nb01.lyapunov(4) + math.log(0.5))
    measured, predicted = nb01.product_sweep([0.5, 1.0], k=41, seeds=400)
    assert measured.shape == (400, 2)
    assert (measured.median(0).values - predicted).abs().max() < 0.5  # the largest entry's O(1) offset


def test_the_drift_at_one_over_root_n_is_about_minus_one_over_2n():
    for n in (50, 100, 400):
        assert nb01.lyapunov(n, n**-0.5) == pytest.approx(-1 / (2 * n), rel=0.05)


def test_mean_field_uses_the_accurate_quadrature():
    # ReLU: E[phi'^2] = 1/2 exactly, with theory's quadrature (plain Gauss-Hermite is about 14 % off)
    slope2 = theory.gauss_expect(lambda z: (z > 0).double(), 0.7)
    assert slope2 == pytest.approx(0.5, abs=1e-9)
    mean, std, grad = nb01.mean_field("sigmoid", [20, 20, 20, 5], [1 / 60] * 3, [0.0] * 3, x2=1.0)
    assert mean[0] == pytest.approx(0.5, abs=1e-9) and mean[-1] == 0.0 and grad[-1] == 1.0
    assert all(a < b for a, b in zip(grad, grad[1:]))  # shrinks going back


def test_the_sigmoid_stack_measures_near_its_prediction():
    torch.manual_seed(0)
    x, y = torch.randn(256, 64), torch.randint(0, 10, (256,))
    model = nb01.make_stack("sigmoid", "default", depth=6, seed=1)
    _, _, _, grad_rel = nb01.stack_predictions(model, "sigmoid", "default", x)
    g = nb01.layer_grad_stds(model, x, y)
    assert 1 / 3 < (g[0] / g[-1]) / grad_rel[0] < 3
    factors = nb01.per_layer_factor("sigmoid", "default", 6, x, y, seeds=5)
    assert factors.shape == (5,) and (abs(factors - 48**0.5) < 1.5).all()


def test_one_sign_rows_counts_rows_whose_gradient_has_one_sign():
    torch.manual_seed(0)
    x, y = torch.randn(1, 64), torch.randint(0, 10, (1,))
    rows = nb01.one_sign_rows("sigmoid", x, y, seeds=2, depth=3)  # one sample: delta_i h^T, h > 0
    assert rows.shape == (2, 3) and (rows == 1).all()


def test_tanh_acts_collapse_and_saturate():
    small, big = nb01.tanh_acts(0.01, depth=5, width=100, samples=20), nb01.tanh_acts(1.0, 5, 100, 20)
    assert small.shape == (5, 2000) and small[-1].std() < 1e-3 * small[0].std()
    assert (big[-1].abs() > 0.99).float().mean() > 0.5
    xavier = nb01.tanh_acts("xavier", depth=5, width=100, samples=20)
    assert 0.1 < xavier[-1].std() < 0.9


def test_depth_sweep_and_its_summaries():
    torch.manual_seed(0)
    data = split(torch.randn(200, 64), torch.randint(0, 10, (200,)), seed=0)
    sweep, runs = nb01.depth_sweep(data, depths=(1, 2), seeds=3, keep=(2,))
    assert set(sweep) == set(nb01.DIGIT_FAMILIES) and sweep["relu, default init"].shape == (3, 2)
    assert ("relu, default init", 2) in runs
    fig, ax = plt.subplots()
    nb01.plot_sweep(sweep, [1, 2], ax=ax)
    assert len(ax.get_lines()) == 2
    plt.close(fig)
    acc = torch.tensor([[0.9, 0.9, 0.1], [0.8, 0.2, 0.9], [0.7, 0.1, 0.1]])  # (seeds, depths)
    assert nb01.deepest_working(acc, [1, 2, 4]) == 1
    assert [nb01.share(k, 20) for k in (20, 12, 9, 3, 2)] == ["all", "most", "half", "some", "few"]


def test_describe_rises_prints_ranges_where_rounding_moves_the_figure():
    rise = {"a": torch.full((100,), 4.0), "b": torch.tensor([6.0] * 30 + [0.5] * 70)}
    lines = nb01.describe_rises(rise).splitlines()
    assert "between 3 and 5" in lines[0] and "0 of 100" in lines[0]
    assert "0.5" in lines[1] and "a fifth to two fifths" in lines[1]


def test_watch_keeps_each_layers_gradient_std():
    data = split(torch.randn(64, 2), torch.randint(0, 2, (64,)), seed=0)
    stds, acc = nb01.watch("sigmoid", data, epochs=2, batch_size=16)
    assert stds.shape == (2, 5) and (stds > 0).all() and 0 <= acc <= 1


def test_grad_norm_and_dead_share():
    model = nb01.make_stack("relu", "default", depth=2, seed=0)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    grads = torch.cat(
        [
            p.flatten()
            for p in torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
        ]
    )
    assert nb01.grad_norm(model, x, y) == pytest.approx(grads.norm().item(), rel=1e-5)
    with torch.no_grad():
        model[-3].bias.fill_(-1e3)  # the last hidden layer's units: dead on every input
    assert nb01.dead_share(model, x) == 1.0


def test_tanh_grad_stds_is_autograd_through_the_same_stack():
    x, weights = nb01.tanh_stack(1.0, depth=3, width=50, samples=10, seed=2)
    weights = [w.requires_grad_() for w in weights]
    h = x
    for w in weights:
        h = torch.tanh(h @ w)
    readout = torch.randn(h.shape, generator=torch.Generator().manual_seed(3))
    grads = torch.autograd.grad((h * readout).sum() / 10, weights)
    expected = torch.tensor([g.std().item() for g in grads])
    torch.testing.assert_close(nb01.tanh_grad_stds(1.0, depth=3, width=50, samples=10, seed=2), expected)
    big = nb01.tanh_grad_stds(1.0, depth=6, width=200, samples=20)
    assert big[0] > 10 * big[-1]  # large weights: the gradient grows toward the input


def test_centring_h_removes_the_one_sign_rows_and_deep_sigmoid_outputs_are_alike():
    torch.manual_seed(0)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    raw = nb01.one_sign_rows("sigmoid", x, y, seeds=2, depth=6)
    centred = nb01.one_sign_rows("sigmoid", x, y, seeds=2, depth=6, centred=True)
    assert raw.shape == centred.shape == (2, 6) and raw[:, -1].mean() > 0.9 and centred.max() < 0.1
    spread = nb01.sample_spread("sigmoid", x, depth=6)
    assert spread.shape == (6,) and spread[-1] < 0.01 * spread[0]


def test_tanh_steps_balance_at_small_weights():
    d, h = nb01.tanh_steps(0.01, depth=5, width=200, samples=20)
    assert d == pytest.approx(0.01 * 200**0.5, rel=0.1) and d * h == pytest.approx(1, rel=0.05)


def test_init_ratio_and_final_losses():
    torch.manual_seed(0)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    assert nb01.init_ratio("sigmoid", 3, x, y, seeds=3) < nb01.init_ratio("sigmoid", 1, x, y, seeds=3)
    data = split(torch.randn(200, 64), torch.randint(0, 10, (200,)), seed=0)
    _, runs = nb01.depth_sweep(data, depths=(1, 2), seeds=2, keep=(1, 2))
    assert nb01.final_losses(runs, "relu, default init", (1, 2)).shape == (2, 2)


def test_product_sweep_shifts_one_set_of_products_by_k_log10_s():
    measured, _ = nb01.product_sweep([0.5, 1.0], k=41, seeds=50)
    for j, s in enumerate((0.5, 1.0)):  # the same draws, each factor scaled by s
        torch.testing.assert_close(measured[:, j], nb01.log10_largest(s, k=41, seeds=50), rtol=0, atol=1e-9)


def test_probed_stacks_are_shared_and_match_the_direct_measures():
    torch.manual_seed(0)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    stats = nb01.probed_stacks("sigmoid", x, y, seeds=2, depth=4)
    assert nb01.probed_stacks("sigmoid", x, y, seeds=2, depth=4) is stats  # cached: the same tensors
    assert nb01.one_sign_rows("sigmoid", x, y, seeds=2, depth=4) is stats["rows"]
    assert nb01.probed_stacks("sigmoid", x.clone(), y, seeds=2, depth=4) is not stats  # other data: new
    g = nb01.layer_grad_stds(nb01.make_stack("sigmoid", depth=4, seed=1), x, y)
    factor = math.exp(sum(math.log(g[i + 1] / g[i]) for i in (1, 2)) / 2)
    assert stats["factor"][1].item() == pytest.approx(factor, rel=1e-5)
    assert stats["centred"].shape == (2, 4) and (stats["centred"] <= stats["rows"]).all()


def test_depth_pairs_trains_each_family_at_its_own_depths():
    torch.manual_seed(0)
    data = split(torch.randn(200, 64), torch.randint(0, 10, (200,)), seed=0)
    plan = {"sigmoid, default init": (1,), "relu, default init": (1, 2)}
    sweep, runs = nb01.depth_pairs(data, plan, seeds=2)
    assert sweep["sigmoid, default init"].shape == (2, 1) and sweep["relu, default init"].shape == (2, 2)
    assert set(runs) == {("sigmoid, default init", 1), ("relu, default init", 1), ("relu, default init", 2)}
    alone, _ = nb01.depth_sweep(data, {"relu, default init": ("relu", "default")}, (2,), seeds=2)
    torch.testing.assert_close(sweep["relu, default init"][:, 1], alone["relu, default init"][:, 0])
