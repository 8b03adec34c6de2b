"""Lesson 03's explorer: one lecture net under a chosen scheme and gain; weights, gradients, test MSE."""

import math

import ipywidgets as widgets
import torch
from torch import nn

from helpers.checks import check_positive_int
from helpers.init import init_weights, predicted_stds
from helpers.models import lecture_net
from helpers.plots import loss_curves, panels, weights_vp
from helpers.train import train

GAINS = [("1", 1.0), ("5/3 (tanh)", 5 / 3), ("sqrt 2 (relu)", math.sqrt(2)), ("4", 4.0), ("1/2", 0.5)]
SCHEMES = ["default", "xavier_uniform", "xavier_normal", "kaiming_uniform"]


def full_gradients(model, data):
    """model, its .grad filled with the gradient of the MSE over the whole training set."""
    model.zero_grad()
    nn.functional.mse_loss(model(data.x_train), data.y_train).backward()
    return model


def explore(
    data, activation="sigmoid", hidden=3, scheme="xavier_uniform", gain=1.0, epochs=5, seed=0, progress=False
):
    """Train one lecture net from `seed` (SGD lr 0.03); draw it; return (r, final test MSE).

    r is the first layer's weight-gradient std over the last layer's, on the whole training set.
    """
    check_positive_int(epochs, "epochs")
    torch.manual_seed(seed)
    model = init_weights(lecture_net(activation, hidden), scheme, gain=gain)
    predicted = predicted_stds(model, scheme, gain=gain)
    _, axes = panels(3)
    weights_vp(model, "weight", ax=axes[0], predicted=predicted, title="weights at the start")
    history = train(model, data, epochs=epochs, lr=0.03, seed=0, verbose=False, progress=progress)
    stds = [m.weight.grad.std().item() for m in full_gradients(model, data)[::2]]  # first to last layer
    weights_vp(model, "grad", ax=axes[1], log=True, title=f"gradients after {epochs} epochs")
    loss_curves([history], ax=axes[2], constant=data.constant_mse(), title="test MSE")
    axes[2].set_ylim(0, max(1.15 * data.constant_mse(), max(history.test_loss)))
    return stds[0] / stds[-1], history.test_loss[-1]


def show(data, **settings):
    """explore, then one line: r and the final test MSE."""
    r, final = explore(data, **settings)
    print(f"r = first / last layer grad std = {r:.3g}; final test MSE {final:.3g}")


def widget(data):
    """show under controls for activation, depth, scheme, gain, epochs and seed (runs on a button)."""
    return widgets.interact_manual(
        show,
        data=widgets.fixed(data),
        activation=["sigmoid", "tanh", "relu"],
        hidden=widgets.IntSlider(3, 1, 8),
        scheme=SCHEMES,
        gain=GAINS,
        epochs=widgets.IntSlider(5, 1, 20),
        seed=widgets.IntSlider(0, 0, 50),
        progress=widgets.fixed(True),  # a bar while it trains (live sessions only)
    )
