"""Plots of the series; each takes an optional ax= and returns it."""

import math

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from helpers.checks import (
    check_choice,
    check_flag,
    check_module,
    check_positive_int,
    check_str,
    linear_layers,
)
from helpers.stats import probe

# Okabe-Ito: distinguishable with every common form of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STYLE = {
    "figure.figsize": (7.5, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}
ATTS = {"weight": "weights", "grad": "weight gradients", "act": "activations"}
KEYS = ("train_loss", "test_loss", "train_acc", "test_acc")  # the per-epoch lists of a History


def use_style():
    """Set the series' plot style (colour-blind-safe palette, large labels for a projector)."""
    mpl.rcParams.update(STYLE)


def new_ax(ax):
    return ax if ax is not None else plt.subplots()[1]


def check_plot_args(ax, log, title):
    """Raise naming ax, log or title when one is not what every plot helper expects."""
    if ax is not None and not isinstance(ax, mpl.axes.Axes):
        hint = "; pick one, e.g. axes[0]" if hasattr(ax, "__len__") else ""
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}{hint}")
    check_flag(log, "log")
    if title is not None:
        check_str(title, "title")


def check_histories(histories):
    """histories as a list of History objects; raises naming `histories` otherwise."""
    from helpers.train import History

    if isinstance(histories, History):
        raise TypeError("histories: expected a list of History objects, got one History; wrap it in a list")
    if isinstance(histories, str) or not hasattr(histories, "__iter__"):
        raise TypeError(f"histories: expected a list of History objects, got {type(histories).__name__}")
    histories = list(histories)
    if not histories:
        raise ValueError("histories: expected at least one History")
    for i, h in enumerate(histories):
        if not isinstance(h, History):
            raise TypeError(f"histories: expected History objects, item {i} is a {type(h).__name__}")
    return histories


def layer_values(model, att="weight", x=None):
    """Per-layer flat tensors of weights ('weight'), their gradients ('grad') or activations ('act')."""
    check_module(model)
    check_choice(att, ATTS, "att")
    layers = linear_layers(model)
    if att == "weight":
        return [m.weight.detach().flatten() for m in layers]
    if att == "grad":
        for i, m in enumerate(layers, 1):
            if m.weight.grad is None:
                raise ValueError(
                    f"att='grad': layer {i} has no gradient yet; run a backward pass or train first"
                )
        return [m.weight.grad.detach().flatten() for m in layers]
    if x is None:
        raise ValueError("x: att='act' needs an input batch x to run the model on")
    with torch.no_grad():
        return [a.flatten() for a in probe(model, x).acts]


def thin_ticks(ax, n, max_labels):
    """Label layers 1..n on the x axis, at most max_labels of them, always the first and the last."""
    step = math.ceil(n / max_labels)
    ticks = list(range(1, n + 1, step))
    if ticks[-1] != n:
        ticks[-1 if n - ticks[-1] < step else len(ticks) :] = [n]  # no crowding next to the last label
    ax.set_xticks(ticks)
    ax.set_xlim(0.3, n + 0.7)


def weights_vp(model, att="weight", x=None, ax=None, log=False, predicted=None, max_labels=12, title=None):
    """One violin per Linear layer of its weights, weight gradients or activations (att='act' needs x).

    log=True plots log10 |value| (exact zeros left out) so that layers spanning decades stay
    readable; predicted is one standard deviation per layer, drawn as a band of +-1 std (or a
    marker at log10 std).
    """
    check_plot_args(ax, log, title)
    check_positive_int(max_labels, "max_labels")
    values = layer_values(model, att, x)
    n = len(values)
    if predicted is not None:
        predicted = check_predicted(predicted, n)
    ax = new_ax(ax)
    data = []
    for v in values:
        v = v[torch.linspace(0, len(v) - 1, min(len(v), 4000)).long()] if len(v) > 4000 else v
        if log:  # exact zeros (ReLU's negative half, dead units) have no logarithm: leave them out
            v = (v[v != 0] if bool((v != 0).any()) else v).abs().clamp_min(1e-30).log10()
        data.append(v.double().numpy())
    pos = range(1, n + 1)
    flat = [i for i, d in enumerate(data, 1) if d.std() == 0]  # a violin needs some spread
    parts = ax.violinplot([d for d in data], pos, widths=0.8, showextrema=False, showmedians=True)
    for body in parts["bodies"]:
        body.set(facecolor=PALETTE[0], edgecolor=PALETTE[0], alpha=0.55)
    parts["cmedians"].set(color="black", linewidth=1)
    if flat:
        ax.scatter(flat, [data[i - 1][0] for i in flat], color=PALETTE[0], marker="_", s=200)
    if predicted is not None:
        if log:
            ax.scatter(
                pos,
                predicted.log10(),
                color=PALETTE[3],
                marker="D",
                s=18,
                zorder=3,
                label="predicted std",
            )
        else:
            for i, s in zip(pos, predicted.tolist()):
                ax.fill_between([i - 0.4, i + 0.4], -s, s, color=PALETTE[3], alpha=0.18, lw=0)
                ax.hlines([-s, s], i - 0.4, i + 0.4, color=PALETTE[3], lw=1.2)
            ax.plot([], [], color=PALETTE[3], label="predicted ±1 std")
        ax.legend(loc="best")
    thin_ticks(ax, n, max_labels)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"log10 |{ATTS[att][:-1]}|" if log else ATTS[att][:-1])
    ax.set_title(title or f"{ATTS[att].capitalize()} per layer")
    return ax


def check_predicted(predicted, n):
    """predicted as a float64 tensor of n values (NaN where there is no prediction); raises naming it."""
    try:
        t = torch.as_tensor(predicted, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"predicted: expected {n} numbers, one per layer, got {type(predicted).__name__}"
        ) from None
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"predicted: expected {n} values, one per layer, got shape {tuple(t.shape)}")
    return t


def loss_curves(histories, key="test_loss", ax=None, log=False, constant=None, title=None):
    """One line per History of `key` ('train_loss', 'test_loss', 'test_acc', ...) over epochs.

    constant, if given, draws the level of a model that predicts a constant (e.g. the label variance).
    """
    histories = check_histories(histories)
    check_choice(key, KEYS, "key")
    if key.endswith("acc") and not any(getattr(h, key) or h.diverged for h in histories):
        raise ValueError(f"key: {key!r} is empty; accuracy is recorded for loss='cross_entropy' only")
    check_plot_args(ax, log, title)
    if constant is not None:
        constant = finite_float(constant, "constant")
    ax = new_ax(ax)
    for h in histories:
        values = getattr(h, key)
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=h.name or None)
        if h.diverged:
            ax.scatter([len(values) + 0.5], [values[-1] if values else 0], marker="x", color="black")
    if constant is not None:
        ax.axhline(constant, color="grey", ls="--", lw=1.2, label="predicts a constant")
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title(title or key.replace("_", " ").capitalize())
    if any(h.name for h in histories) or constant is not None:
        ax.legend()
    return ax


def layer_trace(history, stat="grad_std", ax=None, log=True, title=None):
    """A per-layer statistic over epochs, one line per layer, coloured from first to last layer."""
    from helpers.train import History, check_stat

    if not isinstance(history, History):
        hint = "; pick one, e.g. histories[0]" if isinstance(history, list | tuple) else ""
        raise TypeError(f"history: expected a helpers.History, got {type(history).__name__}{hint}")
    check_stat(history, stat, "stat")
    check_plot_args(ax, log, title)
    values = history.stat(stat)  # (epochs, layers)
    ax = new_ax(ax)
    n = values.shape[1]
    colors = plt.get_cmap("viridis")(torch.linspace(0, 0.9, n).numpy())
    epochs = range(1, values.shape[0] + 1)
    shown = [layer for layer in range(n) if not values[:, layer].isnan().all()]  # e.g. 'dead' of the output
    for layer in shown:
        label = f"layer {layer + 1}" if len(shown) <= 8 or layer in (shown[0], shown[-1]) else None
        ax.plot(epochs, values[:, layer].numpy(), color=colors[layer], label=label)
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(stat.replace("_", " "))
    ax.set_title(title or f"{stat.replace('_', ' ')} per layer")
    ax.legend(fontsize=9)
    return ax


def spread(x, values, ax=None, label=None, color=None, log=False):
    """Median over rows of values (e.g. seeds) against x, with the quartile band shaded."""
    x = numbers_1d(x, "x")
    values = numbers_1d(values, "values", ndim=2)  # (runs, points)
    if values.ndim != 2 or values.shape[1] != len(x):
        raise ValueError(f"values: expected shape (runs, {len(x)}), got {tuple(values.shape)}")
    check_plot_args(ax, log, None)
    if label is not None:
        check_str(label, "label")
    ax = new_ax(ax)
    q1, med, q3 = torch.nanquantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    (line,) = ax.plot(x.numpy(), med.numpy(), color=color, label=label)
    ax.fill_between(x.numpy(), q1.numpy(), q3.numpy(), color=line.get_color(), alpha=0.2, lw=0)
    if log:
        ax.set_yscale("log")
    return ax


def numbers_1d(value, name, ndim=1):
    """value as a float64 tensor of `ndim` dimensions; raises naming `name` otherwise."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__}") from None
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension{'s' * (ndim > 1)}, got shape {tuple(t.shape)}")
    return t


def finite_float(value, name):
    """value (a number or a one-element tensor) as a finite float; raises naming `name` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        number = math.nan
    if isinstance(value, bool | str) or not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number or None, got {value!r}")
    return number
