"""Lesson 04's explorer: how ||h_l|| / ||x|| spreads over many deep bias-free (leaky) ReLU nets."""

import ipywidgets as widgets
import torch

from helpers import theory
from helpers.checks import check_choice
from helpers.plots import COLORS, spread

ACTIVATIONS = {  # the menu's entry -> (its colour's name in helpers.plots, the slope for z < 0)
    "relu": ("relu", 0.0),
    "leaky_relu (a=0.2)": ("leaky_relu", 0.2),
    "none (linear)": ("identity", 1.0),
}


def norm_ratios(c, width=100, depth=50, seeds=200, slope=0.0, seed=0):
    """(seeds, depth + 1) ||h_l|| / ||x|| in the nets of theory.signal_norms (weights N(0, c / width))."""
    acts, _ = theory.signal_norms(c, width, depth, seeds, slope=slope, seed=seed, backward=False)
    return acts / acts[:, :1]


def explore(c=2.0, width=100, depth=50, activation="relu", seeds=30, ax=None):
    """Draw the median and quartiles of ||h_l|| / ||x|| over `seeds` nets; return the median at the top."""
    check_choice(activation, list(ACTIVATIONS), "activation")
    name, slope = ACTIVATIONS[activation]
    layers, r = torch.arange(depth + 1), norm_ratios(c, width, depth, seeds, slope)  # r: (seeds, depth + 1)
    ax = spread(layers, r, ax=ax, label="median", color=name, log=True)
    predicted = theory.relu_mean_square_factor(c, slope) ** (layers / 2)  # (c (1 + a^2) / 2)^(l/2)
    ax.plot(layers, predicted, ls="--", color=COLORS[name], label="mean-square prediction")
    ax.set(xlabel="layer", ylabel="||h_l|| / ||x||", title=f"{activation}, c = {c}, width {width}")
    ax.legend()
    return r[:, -1].median().item()


def widget():
    """explore with a slider for c and depth, a menu for width and activation (30 nets each time)."""
    return widgets.interactive(
        explore,
        c=widgets.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.25, continuous_update=False),
        width=widgets.Dropdown(options=[25, 50, 100, 200], value=100),
        depth=widgets.IntSlider(value=50, min=5, max=100, step=5, continuous_update=False),
        activation=widgets.Dropdown(options=list(ACTIVATIONS), value="relu"),
        seeds=widgets.fixed(30),
        ax=widgets.fixed(None),
    )
