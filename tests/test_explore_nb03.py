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
