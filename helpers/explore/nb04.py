"""Lesson 04's explorer: how ||h_l|| / ||x|| spreads over many deep bias-free (leaky) ReLU nets."""

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from matplotlib.ticker import NullFormatter
from torch.func import jacrev

from helpers import theory
from helpers.checks import check_choice, generator, linear_layers
from helpers.init import init_weights, lsuv
from helpers.many import train_many
from helpers.models import lecture_net, mlp
from helpers.plots import COLORS, color, panels, spread

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


# ---- lesson 04's experiments (the notebook calls each in one line) ----------------------------------------

# Schemes helpers.plots has no colour for yet (they belong in plots.COLORS): Okabe-Ito yellow, Tol's wine.
EXTRA_COLORS = {"orthogonal": "#F0E442", "lsuv": "#882255"}
PLAIN_TICKS = (0.25, 0.5, 1, 2, 4)  # the zigzag figure's y ticks, as plain numbers
ZIGZAG = [100, 400] * 10 + [100]  # 20 layers whose widths alternate: fan_in and fan_out disagree 4-fold


def zs_and_grads(net, x, top):
    """(z_l, dL/dz_l) of every Linear layer; L = mean over the batch of top . output (top: (batch, out))."""
    zs = []
    hooks = [m.register_forward_hook(lambda m, i, o: zs.append(o)) for m in linear_layers(net)]
    out = net(x)
    for h in hooks:
        h.remove()
    loss = (out * top).sum() / len(x) if top is not None else F.mse_loss(out, torch.zeros_like(out))
    return [z.detach() for z in zs], torch.autograd.grad(loss, zs)


def mode_rms(mode, top="random", seeds=10, widths=ZIGZAG):
    """(forward, backward): RMS of z_l and of dL/dz_l, each (seeds, layers), under kaiming_normal_(mode).

    top='random': the gradient arriving at the output is a fixed random vector, independent of the output
    (as theory.signal_norms); top='mse': MSE against zero targets, whose top gradient is the output itself.
    """
    check_choice(top, ("random", "mse"), "top")
    x = torch.randn(64, widths[0], generator=generator(3))
    v = torch.randn(64, widths[-1], generator=generator(4)) if top == "random" else None
    fwd, bwd = [], []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = init_weights(mlp(widths, bias=False), "kaiming_normal", mode=mode)
        zs, grads = zs_and_grads(net, x, v)
        fwd.append(torch.stack([z.pow(2).mean().sqrt() for z in zs]))
        bwd.append(torch.stack([g.pow(2).mean().sqrt() for g in grads]))
    return torch.stack(fwd), torch.stack(bwd)


def plot_modes(rms, title_fwd="Forward: fan_in is flat", title_bwd="Backward: fan_out is flat"):
    """Two panels: RMS of z relative to layer 1 and of dL/dz relative to the last layer, per mode."""
    fig, axes = panels(2)
    for mode, (fwd, bwd) in rms.items():
        band = f"quartiles over {len(fwd)} seeds (lines: medians)"
        spread(
            range(1, fwd.shape[1] + 1), fwd / fwd[:, :1], ax=axes[0], label=mode, log=True, band_label=band
        )
        spread(
            range(1, bwd.shape[1] + 1), bwd / bwd[:, -1:], ax=axes[1], label=mode, log=True, band_label=band
        )
    axes[0].set(xlabel="layer", ylabel="RMS of z / layer 1's", title=title_fwd)
    axes[1].set(xlabel="layer", ylabel="RMS of dL/dz / last layer's", title=title_bwd)
    for ax in axes:  # plain numbers on the log axis: 0.25, 0.5, 1, 2, 4
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(PLAIN_TICKS, [f"{t:g}" for t in PLAIN_TICKS])
    axes[0].legend(loc="lower left")
    axes[1].get_legend().remove()
    return axes


def end_to_end(rms):
    """{mode: (forward layer 20 / layer 1, backward layer 1 / layer 20)}, medians over seeds."""
    ratio = {}
    for mode, (fwd, bwd) in rms.items():
        ratio[mode] = ((fwd[:, -1] / fwd[:, 0]).median().item(), (bwd[:, 0] / bwd[:, -1]).median().item())
    return ratio


def plot_depth(cs, acts, deltas):
    """Forward norms ||h_l|| and backward norms ||dL/dz_l|| of theory.signal_norms, with the predictions."""
    fig, axes = panels(2, sharey=True)
    layers = torch.arange(acts.shape[-1])
    width = acts[0, :, 0].pow(2).mean().item()  # E||x||^2 = width
    for c, name, a, d in zip(cs, ("xavier_normal", "kaiming_normal", "normal"), acts, deltas):
        label = {1.0: "Xavier, c = 1", 2.0: "He, c = 2"}.get(c, f"c = {c:g}")
        band = f"quartiles over {acts.shape[1]} nets (lines: medians)"
        spread(layers, a, ax=axes[0], label=label, color=name, log=True, band_label=band)
        axes[0].plot(layers, (width * (c / 2) ** layers) ** 0.5, ls="--", color=color(name), lw=1)
        spread(layers[1:], d, ax=axes[1], label=label, color=name, log=True, band_label=band)
        axes[1].plot(
            layers[1:],
            (width / 2 * (c / 2) ** (len(layers) - 1 - layers[1:])) ** 0.5,
            ls="--",
            color=color(name),
            lw=1,
        )
    axes[0].set(xlabel="layer", ylabel="norm (dashed: mean-square prediction)", title="Forward ||h||")
    axes[1].set(xlabel="layer", title="Backward ||dL/dz||")
    axes[1].get_legend().remove()
    return axes


def lecture_runs(
    data, seeds=100, lr=0.001, epochs=20, schemes=("default", "kaiming_uniform", "kaiming_normal")
):
    """{scheme: test MSE (seeds, epochs)} of ReLU_class3 under each scheme, same seeds and batches for all."""
    per_seed = [lecture_nets(seed, schemes) for seed in range(seeds)]
    nets = [per_seed[s][i] for i in range(len(schemes)) for s in range(seeds)]  # scheme by scheme
    runs = train_many(nets, data, epochs=epochs, lr=lr)  # SGD, MSE, batches of 10
    return dict(zip(schemes, runs.test_loss.view(len(schemes), seeds, -1)))


def lecture_nets(seed, schemes=("default", "kaiming_uniform", "kaiming_normal")):
    """ReLU_class3 under each scheme from one seed: the weights differ, torch's biases are shared."""
    nets = []
    for scheme in schemes:
        torch.manual_seed(seed)
        nets.append(init_weights(lecture_net("relu", hidden=3), scheme))
    return nets


def same_biases(seed=0):
    """True if lecture_nets(seed) share every bias across the schemes (only their weights differ)."""
    biases = [[m.bias for m in linear_layers(net)] for net in lecture_nets(seed)]
    return all(torch.equal(a, b) for other in biases[1:] for a, b in zip(biases[0], other))


def deep_net(scheme, seed, hidden=20, width=64, **kwargs):
    """The deep bias-free ReLU net on the digits: 64 -> hidden layers of width -> 10, weights by scheme."""
    torch.manual_seed(seed)
    return init_weights(mlp([64] + [width] * hidden + [10], bias=False), scheme, **kwargs)


def deep_runs(digits, scheme, optimizer="sgd", lr=0.01, seeds=20, hidden=20, epochs=5, nets=None):
    """Test accuracy (seeds, epochs) of deep_net(scheme) on the digits; batches of 64, SGD momentum 0.9."""
    nets = nets or [deep_net(scheme, s, hidden) for s in range(seeds)]
    kw = {"momentum": 0.9} if optimizer == "sgd" else {}
    runs = train_many(
        nets,
        digits,
        epochs=epochs,
        lr=lr,
        optimizer=optimizer,
        batch_size=64,
        loss="cross_entropy",
        score_train=False,
        **kw,
    )  # only the test set is scored after each epoch
    return runs.test_acc.nan_to_num(0.0)  # a diverged member scores 0


ARMS = ("Xavier normal, SGD", "He normal, SGD", "Xavier normal, Adam", "He normal, Adam")


def deep_arms(digits, epochs=3, seeds=20, hidden=20):
    """{arm: test accuracy (seeds, epochs)} of Xavier and He normal, each with SGD (lr 0.01, momentum 0.9)
    and with Adam (lr 0.001), in the order of ARMS.

    One train_many call per optimizer (it cannot mix them); seed s draws the same normals for both schemes.
    """
    out = {}
    for opt, lr in (("sgd", 0.01), ("adam", 1e-3)):
        nets = [deep_net(s, i, hidden) for s in ("xavier_normal", "kaiming_normal") for i in range(seeds)]
        acc = deep_runs(digits, None, optimizer=opt, lr=lr, epochs=epochs, nets=nets)
        name = "SGD" if opt == "sgd" else "Adam"
        out[f"Xavier normal, {name}"], out[f"He normal, {name}"] = acc[:seeds], acc[seeds:]
    return {k: out[k] for k in ARMS}


def output_rms_ratio(digits, a="xavier_normal", b="kaiming_normal", seed=0, hidden=20):
    """RMS of scheme a's output over scheme b's, same seed, on the training images."""
    out = [deep_net(s, seed, hidden)(digits.x_train).detach().pow(2).mean().sqrt() for s in (a, b)]
    return (out[0] / out[1]).item()


def plot_accuracy(accs, chance, title):
    """Median and quartiles of test accuracy per epoch for each run in accs ({label: (seeds, epochs)}).

    A label names its scheme ('Xavier normal, SGD') and takes its colour; runs with Adam are dashed.
    """
    ax = panels(1)[1]
    for label, acc in accs.items():
        spread(
            range(1, acc.shape[1] + 1),
            acc,
            ax=ax,
            label=label,
            color=EXTRA_COLORS.get(label.lower().split(",")[0].strip()),
            band_label=f"quartiles over {len(acc)} seeds (lines: medians)",
        )
        if "adam" in label.lower():
            ax.get_lines()[-1].set_linestyle("--")
    ax.axhline(chance, color=color("zeros"), ls=":", lw=1.5, label="always the most common class")
    ax.set(
        xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title=title, xticks=range(1, acc.shape[1] + 1)
    )
    ax.legend()
    return ax


def deep_nets(scheme, seeds=20, hidden=20, x=None):
    """deep_net for seeds 0..seeds-1; 'orthogonal' uses gain sqrt(2); 'lsuv' fits each net to the batch x."""
    if scheme == "lsuv":
        return [lsuv(deep_net("orthogonal", s, hidden), x) for s in range(seeds)]
    kwargs = {"gain": 2**0.5} if scheme == "orthogonal" else {}
    return [deep_net(scheme, s, hidden, **kwargs) for s in range(seeds)]


def jacobian_svals(scheme, activation="relu", depth=20, width=64, seeds=20, dtype=torch.float32):
    """(seeds, width) singular values of the input-output Jacobian of bias-free nets at a random input.

    Weights 'normal' (N(0, gain^2 / width)) or 'orthogonal' (times gain), gain sqrt(2) for ReLU, else 1.
    dtype=torch.float64 draws the same weights and input, then computes the Jacobian and its SVD in float64.
    """
    gain = 2**0.5 if activation == "relu" else 1.0
    kwargs = {"gain": gain} if scheme == "orthogonal" else {"std": gain / width**0.5}
    out = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = init_weights(mlp([width] * (depth + 1), activation, bias=False), scheme, **kwargs).to(dtype)
        out.append(torch.linalg.svdvals(jacrev(net)(torch.randn(width).to(dtype))))
    return torch.stack(out)


def input_share(depth=15, width=100, seeds=20, batch=64):
    """(seeds, depth): share of each layer's mean square that varies with the input, in float64.

    PyTorch's default nets (weights and biases U(+-1/sqrt(fan_in))), width x width, ReLU after every layer;
    the share is sum over units of the variance across `batch` random inputs over the sum of mean squares.
    """
    x = torch.randn(batch, width, generator=generator(5), dtype=torch.float64)
    shares = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = mlp([width] * (depth + 2)).double()  # one Linear more: every layer shown has its ReLU
        hs = [net[: 2 * i + 2](x).detach() for i in range(depth)]  # h_1 .. h_depth, after each ReLU
        shares.append(torch.stack([h.var(0).sum() / h.pow(2).mean(0).sum() for h in hs]))
    return torch.stack(shares)
