"""Lesson 03's explorer: the gradient ratio it prints is the one the whole training set gives."""

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import helpers
from helpers.explore import nb03


def test_full_gradients_is_the_whole_set_mse_gradient():
    data = helpers.lecture_split()
    torch.manual_seed(0)
    model = helpers.lecture_net("sigmoid", 2)
    nb03.full_gradients(model, data)
    twin = helpers.lecture_net("sigmoid", 2)
    twin.load_state_dict(model.state_dict())
    expected = torch.autograd.grad(nn.functional.mse_loss(twin(data.x_train), data.y_train), twin[0].weight)[
        0
    ]
    torch.testing.assert_close(model[0].weight.grad, expected)


def test_explore_returns_the_ratio_and_draws_three_panels():
    data = helpers.lecture_split()
    r, final = nb03.explore(data, epochs=1)
    fig = plt.gcf()
    assert len(fig.axes) == 3 and 0 < r < 1 and final > 0  # sigmoid: the first layer's gradients are smaller


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="^epochs:"):
        nb03.explore(helpers.lecture_split(), epochs=0)
    with pytest.raises(ValueError, match="^scheme:"):
        nb03.explore(helpers.lecture_split(), scheme="xavier")


def test_lecture_nets_share_biases_across_schemes():
    default, xavier = (nb03.lecture_nets("tanh", 2, s, [3])[0] for s in ("default", "xavier_uniform"))
    torch.testing.assert_close(default[0].bias, xavier[0].bias)
    assert not torch.equal(default[0].weight, xavier[0].weight)


def test_compare_schemes_matches_one_net_trained_alone():
    data = helpers.lecture_split()
    loss, run = nb03.compare_schemes(data, "sigmoid", 2, ["default", "xavier_uniform"], seeds=3, epochs=2)
    assert loss.shape == (2, 3, 2)
    alone = helpers.train(
        nb03.lecture_nets("sigmoid", 2, "xavier_uniform", [1])[0], data, epochs=2, seed=1, verbose=False
    )
    torch.testing.assert_close(
        loss[1, 1], torch.tensor(alone.test_loss, dtype=loss.dtype), rtol=1e-3, atol=1e-4
    )


def test_variance_gap_is_the_closed_form():
    assert abs(nb03.variance_gap() - (0.4 * 108) ** 0.5) < 1e-9  # sqrt(0.4 / (1/12 * 1/3 * 1/3))


def test_ratio_at_init_is_first_over_last_gradient_rms():
    data = helpers.lecture_split()
    r, r_zero = nb03.ratio_at_init(data, "default", seeds=2), nb03.ratio_at_init(data, "default", 2, bias=0.0)
    model = nb03.full_gradients(nb03.lecture_nets("sigmoid", 3, "default", [1])[0], data)
    rms = [w.grad.pow(2).mean().sqrt() for w in (model[0].weight, model[-1].weight)]
    torch.testing.assert_close(r[1], rms[0] / rms[1])
    with torch.no_grad():
        for layer in model[::2]:
            layer.bias.zero_()
    model = nb03.full_gradients(model, data)
    torch.testing.assert_close(
        r_zero[1], model[0].weight.grad.norm() / model[-1].weight.grad.norm() * 2**-0.5
    )


def test_wide_factors_agree_with_the_exercise_checker():
    factors, _ = nb03.wide_factors("sigmoid", width=32, hidden=4)
    model, x, y = nb03.wide_net("sigmoid", "xavier_normal", width=32, hidden=4)
    d = [g.pow(2).mean().sqrt() for g in helpers.probe(model, x, y).output_grads[:-1]]
    torch.testing.assert_close(factors, torch.stack([a / b for a, b in zip(d, d[1:])]))
    assert (factors < 0.3).all()  # about sigmoid's peak slope 1/4, up to a 32-wide net's noise


def test_left_constant_counts_seeds_below_the_level():
    loss = torch.tensor([[[10.0, 5.0], [10.0, 10.0]]])  # (scheme, seed, epoch)
    assert nb03.left_constant(loss, 10.0).tolist() == [[0.0, 0.5]]


def test_shrink_per_layer_of_a_wide_default_sigmoid_net_is_near_sqrt_48():
    assert (
        abs(nb03.shrink_per_layer(*nb03.wide_net("sigmoid", "default", width=256, hidden=6)) / 48**0.5 - 1)
        < 0.1
    )


def test_share_between_names_the_range_or_the_share():
    assert nb03.share_between(0.3, 0.2, 0.4) == "20 % to 40 %" == nb03.share_between(0.2, 0.2, 0.4)
    assert nb03.share_between(0.5, 0.2, 0.4) == "50 %, outside 20 % to 40 %"


def test_short_run_measures_r_before_and_after_training_the_same_nets():
    data = helpers.lecture_split()
    r0, r, loss = nb03.short_run(data, ["default", "xavier_uniform"], seeds=2, epochs=1)
    assert r0.shape == r.shape == (2, 2) and loss.shape == (2, 2, 1)
    torch.testing.assert_close(r0[1], nb03.ratio_at_init(data, "xavier_uniform", seeds=2))
    _, run = nb03.compare_schemes(data, "sigmoid", 3, ["default", "xavier_uniform"], seeds=2, epochs=1)
    model = nb03.full_gradients(run.model(3), data)  # Xavier, seed 1
    rms = [w.grad.pow(2).mean().sqrt() for w in (model[0].weight, model[-1].weight)]
    torch.testing.assert_close(r[1, 1], rms[0] / rms[1], rtol=1e-3, atol=0)
    torch.testing.assert_close(loss[:, :, 0].flatten(), run.test_loss[:, 0])


def test_plot_off_plateau_draws_one_line_per_scheme():
    ax = nb03.plot_off_plateau(
        torch.tensor([[0.0, 0.1], [0.0, 0.4], [0.0, 0.2]]), ["default", "xavier_uniform", "xavier_hidden"]
    )
    assert len(ax.lines) == 3 and ax.lines[2].get_linestyle() == "--"
    plt.close("all")


def test_mixed_controls_take_xavier_weights_where_named():
    d, x, h, o = (
        nb03.lecture_nets("sigmoid", 3, s, [4])[0] for s in ["default", "xavier_uniform", *nb03.MIXED]
    )
    assert torch.equal(h[0].weight, x[0].weight) and torch.equal(h[-1].weight, d[-1].weight)
    assert torch.equal(o[0].weight, d[0].weight) and torch.equal(o[-1].weight, x[-1].weight)
    assert torch.equal(o[0].bias, x[0].bias)


def test_about_rounds_to_ten_points_and_names_the_ends():
    assert nb03.about(0.415, 200) == "about 40 % of 200 (SE 3 points)"
    assert nb03.about(0.03, 200) == "under 5 % of 200" and nb03.about(0.95, 200) == "over 90 % of 200"


def test_mean_factors_average_wide_factors_and_their_probes():
    factors, beyond, mean = nb03.mean_factors("tanh", 5 / 3, seeds=2)
    runs = [nb03.wide_factors("tanh", 5 / 3, seed=s) for s in range(2)]
    torch.testing.assert_close(factors, (runs[0][0] + runs[1][0]) / 2)
    assert beyond == sum((p.acts[-2].abs() > 0.9).float().mean().item() for _, p in runs) / 2
    assert mean == sum(p.acts[-2].mean().item() for _, p in runs) / 2


def test_pooled_stds_pool_fresh_draws_of_every_layer():
    stds = nb03.pooled_stds("sigmoid", 3, "xavier_uniform", draws=3)
    assert stds.shape == (4,)
    torch.manual_seed(0)
    net = helpers.lecture_net("sigmoid", 3)
    draws = [helpers.init_weights(net, "xavier_uniform")[-1].weight.flatten().clone() for _ in range(3)]
    assert len(set(d[0].item() for d in draws)) == 3  # each redraw is new
    torch.testing.assert_close(stds[-1], torch.cat(draws).std())
