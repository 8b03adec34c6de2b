"""Lesson 02's machinery: the Glorot condition measured in many random nets at once, and its explorer.

Every net here has no biases, weights N(0, std_l^2), an activation after each layer but the last, and loss
L = sum(r * output) with r ~ N(0, 1), so that the gradient arriving at the output has variance 1.
"""

import functools
import math

import ipywidgets as widgets
import torch
from torch import nn

from helpers import theory
from helpers.models import mlp
from helpers.plots import panels, spread, weights_vp

KEYS = {"z": "Var[$z_l$]  (forward)", "g": "Var[$\\delta_l$]  (backward)"}


@functools.cache
def unit_draws(widths, seeds=100, batch=16, seed=0):
    """N(0, 1) weights of `seeds` nets (each (seeds, in, out)), inputs x and output gradients r."""
    g = torch.Generator().manual_seed(seed)
    ws = [torch.randn(seeds, a, b, generator=g) for a, b in zip(widths[:-1], widths[1:])]
    x = torch.randn(seeds, batch, widths[0], generator=g)  # (seeds, batch, width)
    r = torch.randn(seeds, batch, widths[-1], generator=g)  # dL/d(output)
    return ws, x, r


def _var(ts):
    return torch.stack([t.detach().var(dim=(1, 2)) for t in ts], 1)  # (seeds, len(ts))


def signal(widths, stds, activation="identity", seeds=100, batch=16, seed=0, keys=("z", "g", "dW", "dx")):
    """Per-net variances of z_l, delta_l = dL/dz_l and dL/dW_l: 'z', 'g', 'dW' (seeds, layers), 'dx'.

    keys: the ones to compute; the others are skipped ('z' alone needs no backward pass, and 'dW' costs a
    third of the work). What is computed does not depend on what is skipped.
    """
    ws, x, r = unit_draws(tuple(widths), seeds, batch, seed)  # every rule rescales the same draws
    f = theory.phi(activation)
    backward = bool(set(keys) - {"z"})
    h = x.clone().requires_grad_(backward)
    inputs, zs = [h], []
    with torch.set_grad_enabled(backward):
        for i, (w, s) in enumerate(zip(ws, stds)):
            zs.append(s * (inputs[-1] @ w))  # = h @ (s w), without copying the weights
            inputs.append(f(zs[-1]) if i < len(ws) - 1 else zs[-1])  # no activation after the last layer
    out = {"z": _var(zs)}
    if backward:
        wanted = zs + ([h] if "dx" in keys else [])
        gs = list(torch.autograd.grad((r * inputs[-1]).sum(), wanted))
        if "dx" in keys:
            out["dx"] = _var([gs.pop()])[:, 0] / _var([r])[:, 0]
        out["g"] = _var(gs)
        if "dW" in keys:
            dw = [a.detach().transpose(1, 2) @ g for a, g in zip(inputs, gs)]  # a sum over the batch
            out["dW"] = _var(dw)
    return {k: out[k] for k in keys}


def predict(widths, stds, activation="identity", batch=16):
    """Mean-field variances of z_l, delta_l, dL/dW_l and of each layer's output, as `signal` measures them."""
    f, df = theory.phi(activation), theory.derivative(activation)
    sq = lambda fn: lambda z: fn(z) ** 2  # noqa: E731
    s2 = torch.tensor(stds, dtype=torch.float64) ** 2
    fwd, bwd = torch.tensor(widths[:-1]) * s2, torch.tensor(widths[1:]) * s2  # n_in s^2, n_out s^2
    z = [fwd[0].item()]  # an input of variance 1
    for k in range(1, len(stds)):
        z.append(theory.variance_map(z[-1], fwd[k].item(), activation=activation))
    z = torch.tensor(z, dtype=torch.float64)
    emitted = theory.gauss_expect(sq(f), z)  # E[phi(z_l)^2]: what each layer hands on
    slope = torch.cat([theory.gauss_expect(sq(df), z[:-1]), torch.ones(1, dtype=torch.float64)])
    g = torch.cat([(bwd[1:] * slope[:-1]).flip(0).cumprod(0).flip(0), torch.ones(1, dtype=torch.float64)])
    inputs = torch.cat([torch.ones(1, dtype=torch.float64), emitted[:-1]])
    act = torch.cat([emitted[:-1], z[-1:]])  # the last layer emits z_L itself
    return {"z": z, "g": g, "dW": batch * g * inputs, "act": act, "dx": (g[0] * bwd[0]).item()}


def one_layer(n_in, n_out, sigma2, seeds=100, batch=64):
    """(forward, backward): medians over `seeds` layers of Var[o] / Var[x] and Var[dL/dx] / Var[dL/do]."""
    s = signal([n_in, n_out], [math.sqrt(sigma2)], seeds=seeds, batch=batch, keys=("z", "dx"))
    x = unit_draws((n_in, n_out), seeds, batch, 0)[1]
    return (s["z"][:, 0] / x.var(dim=(1, 2))).median().item(), s["dx"].median().item()


def stds_for(widths, rule):
    """Per-layer weight std of a rule: 'fan-in' (LeCun), 'fan-out' or 'Glorot' (2 / (n_in + n_out))."""
    fan = {"fan-in": lambda a, b: a, "fan-out": lambda a, b: b, "Glorot": lambda a, b: (a + b) / 2}[rule]
    return [1 / math.sqrt(fan(a, b)) for a, b in zip(widths[:-1], widths[1:])]


def end_to_end(widths, rules=("fan-in", "fan-out", "Glorot"), seeds=20, batch=64):
    """rule -> ((fwd, bwd) measured, (fwd, bwd) predicted): Var[z_L] / Var[x], Var[dL/dx] / Var[dL/dz_L]."""
    out = {}
    for rule in rules:
        s, p = (
            signal(widths, stds_for(widths, rule), seeds=seeds, batch=batch, keys=("z", "dx")),
            predict(widths, stds_for(widths, rule)),
        )
        x = unit_draws(tuple(widths), seeds, batch, 0)[1]
        fwd = (s["z"][:, -1] / x.var(dim=(1, 2))).median().item()
        out[rule] = ((fwd, s["dx"].median().item()), (p["z"][-1].item(), p["dx"]))
    return out


def two_passes(cs, activation="tanh", width=100, depth=20):
    """Measured medians and theory's Var[z_L] and Var[delta_1] / Var[delta_L] for each c = n sigma^2."""
    rows = []
    for c in cs:
        m = signal([width] * (depth + 1), [math.sqrt(c / width)] * depth, activation, keys=("z", "g"))
        q = theory.forward_variances(c, depth - 1, c, activation=activation)[-1].item()  # q_1 = c Var[x]
        g = theory.gradient_variances(c, depth, c, activation=activation)[0].item()
        rows.append([m["z"][:, -1].median(), m["g"][:, 0].median(), q, g])
    return dict(zip(("z", "g", "z_theory", "g_theory"), torch.tensor(rows, dtype=torch.float64).T))


def gradient_crossing(depth=20, activation="tanh", low=1.0, high=3.0):
    """The c = n sigma^2 at which theory's Var[delta_1] / Var[delta_depth] is 1, by bisection (input Var 1).

    It must lie between low and high: below 1 at low, above 1 at high (tanh: c = 1 and c = 3).
    """
    ratio = lambda c: theory.gradient_variances(c, depth, c, activation=activation)[0].item()  # noqa: E731
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if ratio(mid) < 1 else (low, mid)
    return (low + high) / 2


def plot_layers(measured, predicted, axes, colors=None):
    """Forward and backward variance per layer: measured medians (quartile bands), predictions dotted.

    colors maps a label to a scheme's name in helpers.plots (e.g. 'xavier_normal'); others take the cycle's.
    """
    colors = colors or {}
    for ax, (key, ylabel) in zip(axes, KEYS.items()):
        for label, m in measured.items():
            layers = torch.arange(1, m[key].shape[1] + 1)
            band = f"quartiles over {len(m[key])} nets"
            spread(layers, m[key], ax=ax, label=label, color=colors.get(label), log=True, band_label=band)
            ax.plot(layers, predicted[label][key], ls=":", color="black", lw=2)
        ax.plot([], [], ls=":", color="black", lw=2, label="predicted")
        ax.set(xlabel="layer $l$", ylabel=ylabel, xticks=[1, 5, 10, 15, 20])
    axes[0].legend()
    axes[1].get_legend().remove()  # one legend for both panels, on the left
    return axes


def plot_two_passes(cs, res, ax=None):
    """Var[z_L] and Var[delta_1] / Var[delta_L] against c: theory as lines, measured medians as dots."""
    ax = ax or panels(1)[1]
    for key, label in (
        ("z", "forward: Var[$z_{20}$]"),
        ("g", "backward: Var[$\\delta_1$] / Var[$\\delta_{20}$]"),
    ):
        (line,) = ax.plot(cs, res[key + "_theory"], label=f"{label}, theory")
        ax.scatter(cs, res[key], color=line.get_color(), zorder=3, label=f"{label}, median of 100 nets")
    ax.axhline(1, color="grey", ls="--", lw=1.2, label="kept at 1")
    ax.set(xlabel="c = n σ²", ylabel="variance, or ratio of variances", yscale="log")
    ax.legend()
    return ax


def deep_net(widths, stds, activation="identity", seed=0, batch=32):
    """One random bias-free net after one backward pass of L = sum(r * output): (model, inputs x)."""
    torch.manual_seed(seed)
    model = mlp(widths, activation, bias=False)
    for m, s in zip((m for m in model if isinstance(m, nn.Linear)), stds):
        nn.init.normal_(m.weight, 0.0, s)
    x, r = torch.randn(batch, widths[0]), torch.randn(batch, widths[-1])
    (r * model(x)).sum().backward()  # fills .grad with dL/dW
    return model, x


def violins(widths, stds, activation="identity", axes=None, titles=("activations", "weight gradients")):
    """Violins of one net's activations and weight gradients, with the predicted std per layer as diamonds."""
    axes = axes if axes is not None else panels(2)[1]
    model, x = deep_net(widths, stds, activation)
    p = predict(widths, stds, activation, batch=len(x))
    for ax, att, key, title in zip(axes, ("act", "grad"), ("act", "dW"), titles):
        weights_vp(model, att, x=x, ax=ax, log=True, predicted=p[key].sqrt(), max_labels=5, title=title)
        top = ax.get_ylim()[1]
        ax.set_ylim(top - 4.5, top)  # the top 4.5 decades: the bulk, not the tail towards 0
        if len(stds) == 20:
            ax.set_xticks([1, 5, 10, 15, 20])
    return model, x, p


def explore(activation="tanh", c=1.0, depth=20, width=100):
    """violins for a square net of the given depth and width at c = n sigma^2; prints Var of the output."""
    widths, stds = [width] * (depth + 1), [math.sqrt(c / width)] * depth
    model, x, p = violins(
        widths, stds, activation, titles=(f"{activation}, c = {c}: activations", "weight gradients")
    )
    out = model(x).var().item()
    print(f"output variance: predicted {p['z'][-1].item():.2g}, measured in this one net {out:.2g}")
    return out


def widget():
    """explore with a menu for the activation and sliders for c (up to 3), depth and width."""
    return widgets.interactive(
        explore,
        activation=widgets.Dropdown(options=["identity", "tanh"], value="tanh"),
        c=widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.05, continuous_update=False),
        depth=widgets.IntSlider(value=20, min=2, max=60, continuous_update=False),
        width=widgets.IntSlider(value=100, min=10, max=300, step=10, continuous_update=False),
    )


def unit_correlation(low, high, width=100, depth=1, seeds=20, batch=500):
    """(depth,) mean correlation of two units per layer of linear nets, weights U(low, high) / sqrt(width)."""
    g = torch.Generator().manual_seed(0)
    h, out = torch.randn(seeds, batch, width, generator=g), []
    off_diagonal = ~torch.eye(width, dtype=torch.bool)
    for _ in range(depth):
        w = (low + (high - low) * torch.rand(seeds, width, width, generator=g)) / math.sqrt(width)
        h = h @ w
        h = h / h.std(dim=(1, 2), keepdim=True)  # the scale is not the point here: keep it at 1
        out.append(torch.stack([torch.corrcoef(o.T)[off_diagonal].mean() for o in h]).mean())
    return torch.stack(out)


def unit_gap(net):
    """Largest difference between two units (rows of weights) of the same hidden layer."""
    hidden = [m.weight.detach() for m in net if isinstance(m, nn.Linear)][:-1]
    return max((w - w[0]).abs().max().item() for w in hidden)


def ranks(v):
    """The rank of each entry of v (0 for the smallest), as floats."""
    return v.argsort().argsort().double()


def rank_correlation(a, b):
    """Spearman's rank correlation of two 1-D tensors (no ties)."""
    return torch.corrcoef(torch.stack([ranks(a), ranks(b)]))[0, 1].item()
