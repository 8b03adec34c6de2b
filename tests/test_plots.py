import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import helpers


@pytest.mark.parametrize("att", ["weight", "grad", "act"])
def test_weights_vp_draws_one_violin_per_layer(att):
    torch.manual_seed(0)
    model = helpers.mlp([2, 8, 8, 8, 1], "tanh")
    x = torch.randn(64, 2)
    nn.functional.mse_loss(model(x), torch.zeros(64, 1)).backward()
    _, ax = plt.subplots()
    assert helpers.weights_vp(model, att, x=x, ax=ax) is ax
    assert len(ax.collections) >= 4
    assert [int(t) for t in ax.get_xticks()] == [1, 2, 3, 4]


def test_weights_vp_deep_log_scale_thins_labels_and_draws_predicted_band():
    model = helpers.mlp([20] + [20] * 50 + [1], "relu")
    predicted = helpers.predicted_stds(model, "default")
    ax = helpers.weights_vp(model, "weight", log=True, predicted=predicted, max_labels=10)
    ticks = ax.get_xticks()
    assert len(ticks) <= 11 and ticks[0] == 1 and ticks[-1] == 51
    assert ax.get_legend() is not None and "log10" in ax.get_ylabel()


def test_weights_vp_bad_input():
    with pytest.raises(ValueError, match="^model"):
        helpers.weights_vp(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="^att='grad'"):
        helpers.weights_vp(helpers.mlp([2, 3, 1]), "grad")
    with pytest.raises(ValueError, match="^x"):
        helpers.weights_vp(helpers.mlp([2, 3, 1]), "act")
    with pytest.raises(ValueError, match="^att"):
        helpers.weights_vp(helpers.mlp([2, 3, 1]), "bias")
    with pytest.raises(ValueError, match="^predicted"):
        helpers.weights_vp(helpers.mlp([2, 3, 1]), predicted=[0.1])


def test_loss_curves_layer_trace_and_spread():
    torch.manual_seed(0)
    data = helpers.lecture_split()
    hists = helpers.compare(
        [helpers.lecture_net("tanh", 1), helpers.lecture_net("relu", 1)],
        data,
        ["t", "r"],
        epochs=3,
        track=True,
    )
    ax = helpers.loss_curves(hists, constant=helpers.LABEL_VARIANCE)
    assert len(ax.get_lines()) == 3 and [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["t", "r"]
    ax = helpers.layer_trace(hists[0], "grad_norm")
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"
    ax = helpers.spread([1, 2, 3], torch.arange(12.0).reshape(4, 3))
    assert list(ax.get_lines()[0].get_ydata()) == [4.5, 5.5, 6.5]  # the median of each column
    with pytest.raises(ValueError, match="^values"):
        helpers.spread([1, 2], torch.zeros(4, 3))
    with pytest.raises(ValueError, match="^histories"):
        helpers.loss_curves([])


# The classroom form: dots for small layers, at most 20 layers a panel, one colour per name, projector sizes.


def violin_bodies(ax):
    return [c for c in ax.collections if type(c).__name__ == "FillBetweenPolyCollection" and c.get_paths()]


def dot_strips(ax):
    return [c for c in ax.collections if type(c).__name__ == "PathCollection"]


def test_a_layer_of_fewer_than_50_values_is_drawn_as_dots():
    model = helpers.mlp([2, 4, 30, 1], "tanh")  # 8, 120 and 30 weights
    ax = helpers.weights_vp(model)
    assert [len(c.get_offsets()) for c in dot_strips(ax)] == [8, 30]
    assert len(violin_bodies(ax)) == 1  # only the layer of 120 weights is a violin
    xs = [c.get_offsets()[:, 0] for c in dot_strips(ax)]
    assert all(abs(x - layer).max() < 0.5 for x, layer in zip(xs, (1, 3)))  # each strip stays at its layer
    assert len(set(xs[0].round(6))) == 8  # spread sideways, so equal values stay visible


def test_a_deep_net_shows_at_most_20_layers_evenly_thinned_and_says_so():
    model = helpers.mlp([8] * 62, "relu")  # 61 layers of 64 weights
    ax = helpers.weights_vp(model)
    assert len(violin_bodies(ax)) == len(helpers.plots.shown_layers(61)) <= 20
    assert "of 61 shown" in ax.get_xlabel()
    ticks = [int(t) for t in ax.get_xticks()]
    assert ticks[0] == 1 and ticks[-1] == 61 and set(ticks) <= set(helpers.plots.shown_layers(61))
    for n in (1, 2, 19, 20, 21, 50, 61, 100, 1000):
        shown = helpers.plots.shown_layers(n)
        gaps = {b - a for a, b in zip(shown, shown[1:])}
        assert len(shown) <= 20 and shown[0] == 1 and shown[-1] == n, n
        assert len(gaps) <= 2 and (n <= 20 or min(gaps) >= max(gaps) / 2), (n, shown)  # evenly, ends kept
    assert len(helpers.plots.shown_layers(20)) == 20  # 20 layers are all shown


def test_a_deep_history_traces_at_most_20_layers():
    from helpers.train import History

    h = History(layers={"grad_std": [[0.1 * (i + 1) for i in range(45)]] * 3})
    ax = helpers.layer_trace(h, "grad_std")
    assert len(ax.get_lines()) <= 20 and "of 45 layers" in ax.get_legend().get_title().get_text()


def test_every_scheme_and_activation_has_one_stable_colour():
    from helpers.models import ACTIVATIONS

    colors = helpers.plots.COLORS
    assert set(helpers.SCHEMES) | set(ACTIVATIONS) <= set(colors)
    assert helpers.plots.color("default") == "#0072B2" and helpers.plots.color("relu") == "#D55E00"
    assert helpers.plots.color("xavier_uniform") == "#E69F00" and helpers.plots.color("tanh") == "#56B4E9"
    schemes = [colors[s] for s in helpers.SCHEMES if s not in ("zeros", "constant")]
    assert len(set(schemes)) == len(schemes), "two schemes share a colour"
    assert len(set(colors[a] for a in ACTIVATIONS)) == len(ACTIVATIONS), "two activations share a colour"
    main = [colors[k] for k in ("default", "xavier_uniform", "kaiming_normal", "relu", "tanh", "sigmoid")]
    assert len(set(main)) == 6
    assert set(colors.values()) <= set(helpers.plots.PALETTE) | {helpers.plots.GREY}  # Okabe-Ito
    assert helpers.plots.color("Xavier uniform") == helpers.plots.color("xavier") == colors["xavier_uniform"]
    assert (
        helpers.plots.color("He normal") == colors["kaiming_normal"]
        and helpers.plots.color("ReLU") == colors["relu"]
    )
    with pytest.raises(ValueError, match="^name: expected a scheme or activation"):
        helpers.plots.color("xavier_gaussian")


def test_plots_pick_the_colour_by_name_and_keep_colour_overrides():
    from matplotlib.colors import same_color

    from helpers.train import History

    c = helpers.plots.COLORS
    _, ax = plt.subplots()
    values = torch.rand(4, 3)
    for label in ("relu", "Xavier normal: median of 4 seeds", "tanh, depth 10", "something else"):
        helpers.spread([1, 2, 3], values, ax=ax, label=label)
    lines = ax.get_lines()
    assert all(
        same_color(line.get_color(), c[k]) for line, k in zip(lines, ("relu", "xavier_normal", "tanh"))
    )
    ax = helpers.spread([1, 2, 3], values, label="relu", color="black")  # an explicit colour wins
    assert same_color(ax.get_lines()[0].get_color(), "black")
    ax = helpers.spread([1, 2, 3], values, label="mine", color="sigmoid")  # a name is a colour too
    assert same_color(ax.get_lines()[0].get_color(), c["sigmoid"])
    ax = helpers.loss_curves([History(name="kaiming_normal", test_loss=[3.0, 2.0])])
    assert same_color(ax.get_lines()[0].get_color(), c["kaiming_normal"])
    ax = helpers.weights_vp(helpers.mlp([20, 20, 20]), color="xavier_uniform")
    assert same_color(violin_bodies(ax)[0].get_facecolor()[0][:3], c["xavier_uniform"])


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_every_band_says_in_the_legend_what_it_is():
    model = helpers.init_weights(helpers.mlp([30, 30, 30, 1], "tanh"), "xavier_uniform")
    std = helpers.predicted_stds(model, "xavier_uniform")
    ax = helpers.weights_vp(model, predicted=std, band="bound")
    assert legend_texts(ax) == ["predicted bound ±√3 std"]
    top = max(
        seg[:, 1].max()
        for c in ax.collections
        if type(c).__name__ == "LineCollection"
        for seg in c.get_segments()
    )
    assert top == pytest.approx(3**0.5 * max(std))  # the bound a uniform scheme's weights fill
    w = model[0].weight.abs().max().item()
    assert w <= top and w > std[0]  # the std alone would leave weights outside the band
    assert legend_texts(helpers.weights_vp(model, predicted=std)) == ["predicted ±1 std"]
    assert legend_texts(helpers.weights_vp(model, predicted=std, band="bound", log=True)) == [
        "predicted bound (√3 std)"
    ]
    with pytest.raises(ValueError, match="^band"):
        helpers.weights_vp(model, predicted=std, band="range")
    _, ax = plt.subplots()
    helpers.spread([1, 2, 3], torch.rand(7, 3), ax=ax, label="default")
    helpers.spread([1, 2, 3], torch.rand(7, 3), ax=ax, label="xavier_uniform")
    assert legend_texts(ax) == [
        "default",
        "xavier_uniform",
        "quartiles over 7 seeds",
    ]  # once, after the lines
    ax = helpers.spread([1, 2, 3], torch.rand(7, 3), band_label="quartiles over 7 widths")
    assert legend_texts(ax) == ["quartiles over 7 widths"]


def test_panels_fit_a_projector():
    with plt.rc_context(helpers.plots.STYLE):
        for n in range(1, 8):
            fig, axes = helpers.plots.panels(n)
            axes = [axes] if n == 1 else list(axes)
            assert len(axes) == n and len(fig.axes) == n
            assert fig.get_figwidth() <= 10 and helpers.plots.projector_problems(fig) == []
            assert max(a.get_subplotspec().get_gridspec().ncols for a in axes) <= 3
            plt.close(fig)
    with pytest.raises(ValueError, match="^width: at most 10 inches"):
        helpers.plots.panels(2, width=13)
    with pytest.raises(ValueError, match="^n: expected a positive integer"):
        helpers.plots.panels(0)


def test_every_helper_draws_text_of_at_least_11_pt_within_10_inches():
    from helpers.train import History

    torch.manual_seed(0)
    model = helpers.mlp([2] + [16] * 30 + [1], "tanh")
    x = torch.randn(64, 2)
    nn.functional.mse_loss(model(x), torch.zeros(64, 1)).backward()
    hist = History(name="tanh", test_loss=[3.0, 2.0, 1.5], layers={"grad_std": [[0.1] * 31] * 3})
    with plt.rc_context(helpers.plots.STYLE):
        fig, axes = helpers.plots.panels(6)
        helpers.weights_vp(model, "act", x=x, ax=axes[0], log=True, predicted=[0.5] * 31)
        helpers.weights_vp(model, "grad", ax=axes[1], predicted=[0.01] * 31, band="bound")
        helpers.loss_curves([hist], ax=axes[2], constant=10.0)
        helpers.layer_trace(hist, "grad_std", ax=axes[3])
        helpers.spread([1, 2, 3], torch.rand(5, 3), ax=axes[4], label="relu")
        helpers.weights_vp(helpers.mlp([2, 4, 1]), ax=axes[5])
        assert helpers.plots.projector_problems(fig) == []
        plt.close(fig)
        fig, axes = plt.subplots(1, 4, figsize=(13, 3))
        axes[0].legend(handles=axes[0].plot([1], label="x"), fontsize=9)
        problems = helpers.plots.projector_problems(fig)
        assert len(problems) == 3 and "13 inches wide" in problems[0] and "4 panels" in problems[1]
        assert "at 9 pt" in problems[2]
        plt.close(fig)
