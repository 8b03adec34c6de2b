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
