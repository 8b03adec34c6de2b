"""Plots of the series; each takes an optional ax= and returns it."""

import math
import re

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from helpers.checks import (
    check_choice,
    check_flag,
    check_module,
    check_positive,
    check_positive_int,
    check_str,
    linear_layers,
)
from helpers.stats import probe

# Okabe-Ito: distinguishable with every common form of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = PALETTE
GREY = "#999999"
# One colour per initialisation scheme and per activation for the whole series. Schemes differ from each other
# (zeros and constant, which never break symmetry, share grey), activations differ from each other, and the
# series' main three of each (default, xavier_uniform, kaiming_normal; relu, tanh, sigmoid) share no colour.
COLORS = {
    "default": BLUE,
    "xavier_uniform": ORANGE,
    "xavier_normal": VERMILLION,
    "kaiming_normal": GREEN,
    "kaiming_uniform": PURPLE,
    "normal": BLACK,
    "uniform": SKY,
    "zeros": GREY,
    "constant": GREY,
    "orthogonal": YELLOW,  # the palette's last free colour; draw it with dark edges
    "relu": VERMILLION,
    "tanh": SKY,
    "sigmoid": PURPLE,
    "leaky_relu": ORANGE,
    "elu": BLUE,
    "gelu": GREEN,
    "identity": BLACK,
}
ALIASES = {  # other spellings of those names (after lower-casing, spaces and hyphens as underscores)
    "torch_default": "default",
    "xavier": "xavier_uniform",
    "glorot": "xavier_uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "kaiming": "kaiming_normal",
    "he": "kaiming_normal",
    "he_normal": "kaiming_normal",
    "he_uniform": "kaiming_uniform",
    "leakyrelu": "leaky_relu",
}
PREDICTED = VERMILLION  # predicted bands and markers
# A projector's limits: figures at most 10 inches wide, at most 3 panels in a row, no text below 11 pt.
MAX_WIDTH, MAX_COLS, MIN_FONT = 10.0, 3, 11
MAX_LAYERS = 20  # layers drawn in one panel at most; a deeper net is thinned evenly
DOTS_BELOW = 50  # a layer with fewer values is drawn as dots: a violin of a handful of values misleads
BANDS = {"std": "predicted ±1 std", "bound": "predicted bound ±√3 std"}
STYLE = {
    "figure.figsize": (7.5, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
    "figure.titlesize": 14,
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


def normalised(name):
    """name lower-cased, spaces and hyphens as underscores, an alias replaced by its name in COLORS."""
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    return ALIASES.get(key, key)


def color(name):
    """The series' colour of a scheme or an activation ('default', 'xavier_uniform', 'relu', ...)."""
    check_str(name, "name")
    key = normalised(name)
    if key not in COLORS:
        raise ValueError(f"name: expected a scheme or activation, one of {sorted(COLORS)}, got {name!r}")
    return COLORS[key]


def label_color(label):
    """The colour of the scheme or activation a label starts with ('He normal: median'), else None."""
    if not isinstance(label, str) or not label.strip():
        return None
    words = [w for w in re.split(r"[\s:,;()/+=]+", label.strip().lower()) if w]
    for k in (2, 1):  # two words first: 'xavier normal', 'he uniform', 'leaky relu'
        key = normalised("_".join(words[:k]))
        if len(words) >= k and key in COLORS:
            return COLORS[key]
    return None


def pick_color(color=None, label=None):
    """color as given (a scheme or activation name becomes its colour), else label's colour, else None."""
    if isinstance(color, str) and normalised(color) in COLORS:
        return COLORS[normalised(color)]
    return color if color is not None else label_color(label)


def panels(n=1, height=None, width=None, **kwargs):
    """(fig, axes): n panels at most 3 in a row, at most 10 inches wide; one Axes for n=1, else a flat array.

    height is per row of panels (inches); kwargs (sharex, sharey, ...) go to plt.subplots.
    """
    check_positive_int(n, "n")
    cols, rows = min(n, MAX_COLS), math.ceil(n / MAX_COLS)
    width = width if width is not None else (mpl.rcParams["figure.figsize"][0] if n == 1 else MAX_WIDTH)
    height = height if height is not None else (4.2 if n == 1 else 3.6)
    for value, name in ((width, "width"), (height, "height")):
        check_positive(value, name)
    if width > MAX_WIDTH:
        raise ValueError(f"width: at most {MAX_WIDTH:g} inches fit a projector, got {width}")
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows), squeeze=False, **kwargs)
    axes = axes.flatten()
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[0] if n == 1 else axes[:n]


def projector_problems(fig):
    """What keeps fig off a projector: over 10 inches wide, over 3 panels in a row, text below 11 pt."""
    fig.canvas.draw()  # tick labels take their final text and size when drawn
    problems = []
    if fig.get_figwidth() > MAX_WIDTH + 1e-9:
        problems.append(f"{fig.get_figwidth():g} inches wide (at most {MAX_WIDTH:g})")
    cols = max((a.get_subplotspec().get_gridspec().ncols for a in fig.axes if a.get_subplotspec()), default=0)
    if cols > MAX_COLS:
        problems.append(f"{cols} panels in a row (at most {MAX_COLS})")
    small = sorted(
        {
            (t.get_fontsize(), t.get_text())
            for t in fig.findobj(mpl.text.Text)
            if t.get_visible() and t.get_text()
        }
    )
    if small and small[0][0] < MIN_FONT:
        problems.append(f"text {small[0][1]!r} at {small[0][0]:g} pt (at least {MIN_FONT})")
    return problems


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


def shown_layers(n, most=MAX_LAYERS):
    """Layer numbers 1..n, every k-th one if there are more than `most`, always the first and the last."""
    step = max(1, math.ceil((n - 1) / (most - 1)))
    shown = list(range(1, n + 1, step))
    if shown[-1] != n:  # the last layer too, in place of its neighbour when that one is too close
        shown[-1 if n - shown[-1] < step / 2 else len(shown) :] = [n]
    return shown


def layer_ticks(ax, shown, max_labels):
    """Label the layers shown on the x axis, at most max_labels of them, always the first and the last."""
    step = math.ceil(len(shown) / max_labels)
    idx = list(range(0, len(shown), step))
    last = len(shown) - 1
    if idx[-1] != last:
        idx[-1 if last - idx[-1] < step else len(idx) :] = [last]  # no crowding next to the last label
    ax.set_xticks([shown[i] for i in idx])
    spacing = (shown[-1] - shown[0]) / max(len(shown) - 1, 1) if len(shown) > 1 else 1.0
    ax.set_xlim(shown[0] - 0.7 * spacing, shown[-1] + 0.7 * spacing)


def jitter(k):
    """k offsets spread evenly over [-0.5, 0.5), in a scrambled order (no random state touched)."""
    return (torch.arange(k, dtype=torch.float64) * 0.6180339887498949) % 1 - 0.5


def plotted(v, log):
    """One layer's values as a float64 array to draw: at most 4000 of them, log10 |v| without zeros if log."""
    v = v[torch.linspace(0, len(v) - 1, min(len(v), 4000)).long()] if len(v) > 4000 else v
    if log:  # exact zeros (ReLU's negative half, dead units) have no logarithm: leave them out
        v = (v[v != 0] if bool((v != 0).any()) else v).abs().clamp_min(1e-30).log10()
    return v.double().numpy()


def weights_vp(
    model,
    att="weight",
    x=None,
    ax=None,
    log=False,
    predicted=None,
    max_labels=12,
    title=None,
    band="std",
    color=None,
):
    """One violin per Linear layer of its weights, weight gradients or activations (att='act' needs x).

    A layer of fewer than 50 values is drawn as dots, and a net of more than 20 layers shows 20 of them,
    evenly spaced (the axis label says so). log=True plots log10 |value| (exact zeros left out) so that
    layers spanning decades stay readable. predicted is one standard deviation per layer, drawn as a band of
    +-1 std (band='std') or of a uniform distribution's bound +-sqrt(3) std (band='bound'); with log=True, a
    marker at log10 of either. color is a colour or a scheme/activation name (default: the default's blue).
    """
    check_plot_args(ax, log, title)
    check_positive_int(max_labels, "max_labels")
    check_choice(band, BANDS, "band")
    values = layer_values(model, att, x)
    n = len(values)
    if predicted is not None:
        predicted = check_predicted(predicted, n)
    ax = new_ax(ax)
    fill = pick_color(color) or COLORS["default"]
    shown = shown_layers(n)
    width = 0.8 * (shown[1] - shown[0] if len(shown) > 1 else 1)
    data = {i: plotted(values[i - 1], log) for i in shown}
    dots = [i for i in shown if len(data[i]) < DOTS_BELOW]
    flat = [i for i in shown if i not in dots and data[i].std() == 0]  # a violin needs some spread
    violins = [i for i in shown if i not in dots and i not in flat]
    if violins:
        parts = ax.violinplot(
            [data[i] for i in violins], violins, widths=width, showextrema=False, showmedians=True
        )
        for body in parts["bodies"]:
            body.set(facecolor=fill, edgecolor=fill, alpha=0.55)
        parts["cmedians"].set(color="black", linewidth=1)
    for i in dots:  # a strip of dots, spread sideways so that equal values stay visible
        ax.scatter(i + 0.6 * width * jitter(len(data[i])).numpy(), data[i], color=fill, s=16, alpha=0.8, lw=0)
        median = torch.from_numpy(data[i]).quantile(0.5).item()  # as the violins' median line
        ax.hlines(median, i - 0.4 * width, i + 0.4 * width, color="black", lw=1)
    if flat:
        ax.scatter(flat, [data[i][0] for i in flat], color=fill, marker="_", s=200)
    if predicted is not None:
        scale = math.sqrt(3) if band == "bound" else 1.0
        stds = [scale * predicted[i - 1].item() for i in shown]
        if log:
            label = "predicted std" if band == "std" else "predicted bound (√3 std)"
            ax.scatter(
                shown, torch.tensor(stds).log10(), color=PREDICTED, marker="D", s=18, zorder=3, label=label
            )
        else:
            for i, s in zip(shown, stds):
                ax.fill_between([i - width / 2, i + width / 2], -s, s, color=PREDICTED, alpha=0.18, lw=0)
                ax.hlines([-s, s], i - width / 2, i + width / 2, color=PREDICTED, lw=1.2)
            ax.fill_between([], [], color=PREDICTED, alpha=0.35, lw=0, label=BANDS[band])
        low, high = ax.dataLim.intervaly  # this panel's own data: the room does not grow on shared axes
        if math.isfinite(high - low):
            ax.update_datalim([(shown[0], high + 0.25 * (high - low))])  # room for the legend above the data
            ax.autoscale_view()
        ax.legend(loc="upper right")
    layer_ticks(ax, shown, max_labels)
    ax.set_xlabel("layer" if len(shown) == n else f"layer ({len(shown)} of {n} shown, evenly spaced)")
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

    A History named after a scheme or activation ('xavier_uniform', 'relu', ...) takes its colour.
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
        ax.plot(
            range(1, len(values) + 1),
            values,
            marker="o",
            ms=3,
            label=h.name or None,
            color=label_color(h.name),
        )
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
    # layers with a record ('dead' has none for the output layer), at most 20 of them, evenly spaced
    recorded = [layer for layer in range(n) if not values[:, layer].isnan().all()]
    shown = [recorded[i - 1] for i in shown_layers(len(recorded))]
    for layer in shown:
        label = f"layer {layer + 1}" if len(shown) <= 8 or layer in (shown[0], shown[-1]) else None
        ax.plot(epochs, values[:, layer].numpy(), color=colors[layer], label=label)
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(stat.replace("_", " "))
    ax.set_title(title or f"{stat.replace('_', ' ')} per layer")
    thinned = f"{len(shown)} of {len(recorded)} layers shown" if len(shown) < len(recorded) else None
    ax.legend(title=thinned)
    return ax


def spread(x, values, ax=None, label=None, color=None, log=False, band_label=None):
    """Median over rows of values (e.g. seeds) against x, with the quartile band shaded.

    The colour is color= (a colour, or a scheme/activation name), else that of the scheme or activation the
    label names. The legend says what the band is: band_label, by default 'quartiles over N seeds'.
    """
    x = numbers_1d(x, "x")
    values = numbers_1d(values, "values", ndim=2)  # (runs, points)
    if values.ndim != 2 or values.shape[1] != len(x):
        raise ValueError(f"values: expected shape (runs, {len(x)}), got {tuple(values.shape)}")
    check_plot_args(ax, log, None)
    if label is not None:
        check_str(label, "label")
    if band_label is not None:
        check_str(band_label, "band_label")
    ax = new_ax(ax)
    q1, med, q3 = torch.nanquantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    (line,) = ax.plot(x.numpy(), med.numpy(), color=pick_color(color, label), label=label)
    ax.fill_between(x.numpy(), q1.numpy(), q3.numpy(), color=line.get_color(), alpha=0.2, lw=0, gid="band")
    band_label = band_label or f"quartiles over {len(values)} seeds"
    for c in ax.collections:  # one legend entry per kind of band, after the lines
        if c.get_gid() == "band legend" and c.get_label() == band_label:
            c.remove()
    bands = [c for c in ax.collections if c.get_gid() == "band"]
    shade = bands[0].get_facecolor()[0] if len(bands) == 1 else "grey"  # one band: its own colour
    ax.fill_between([], [], color=shade, lw=0, label=band_label, gid="band legend")
    if log:
        ax.set_yscale("log")
    ax.legend()
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
