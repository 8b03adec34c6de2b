"""weights_vp(log=True) leaves exact zeros out: ReLU's zeros have no logarithm."""

import torch

import helpers


def test_log_violins_leave_relu_zeros_out():
    torch.manual_seed(0)
    model = helpers.mlp([2, 64, 64, 1], "relu")
    ax = helpers.weights_vp(model, "act", x=torch.randn(200, 2), log=True)
    lows = [body.get_paths()[0].vertices[:, 1].min() for body in ax.collections if body.get_paths()]
    assert min(lows) > -10, lows  # a zero clamped to 1e-30 would stretch a violin down to -30


def test_log_violin_of_an_all_zero_layer_is_still_drawn():
    model = helpers.init_weights(helpers.mlp([2, 4, 1], "relu"), "zeros")
    ax = helpers.weights_vp(model, "weight", log=True)
    assert len(ax.get_xticks()) == 2


def test_log_dots_of_a_small_layer_leave_relu_zeros_out():
    torch.manual_seed(0)
    model = helpers.mlp([2, 4, 4, 1], "relu")
    ax = helpers.weights_vp(model, "act", x=torch.randn(5, 2), log=True)  # 20 values a layer: dots
    dots = [c.get_offsets()[:, 1] for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert dots and min(d.min() for d in dots) > -10 and max(len(d) for d in dots) < 20  # the zeros are gone
