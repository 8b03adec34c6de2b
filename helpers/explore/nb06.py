"""Lesson 06's machinery: the deep stacks of blocks, their variances, a gradient trace, the depth explorer."""

import copy
import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_choice, check_positive_int
from helpers.explore import nb01
from helpers.init import init_weights
from helpers.many import train_many
from helpers.models import Residual, mlp
from helpers.plots import loss_curves, panels, spread, weights_vp
from helpers.train import train

STACKS = {  # the lesson's kinds of stack -> deep_net's settings
    "plain": dict(),
    "plain + He": dict(he=True),
    "BatchNorm": dict(norm=True),
    "residual": dict(residual=True),
    "both": dict(norm=True, residual=True),
}


def deep_net(blocks, norm=False, residual=False, width=32, he=False, branch_relu=False):
    """A stem Linear(64, width) + ReLU, `blocks` blocks of two width-`width` layers, a 10-class head.

    A block's branch f is Linear, [BatchNorm], ReLU, Linear, [BatchNorm], then [ReLU] if branch_relu;
    plain blocks compute relu(f(x)), residual ones x + f(x). PyTorch's default initialisation, or He
    (kaiming_normal, zero biases) drawn after it if he=True.
    """
    check_positive_int(blocks, "blocks")
    check_positive_int(width, "width")

    def norm_layer():
        return [nn.BatchNorm1d(width)] if norm else []

    def branch():  # the two Linear layers are created (and drawn) in order
        f = [nn.Linear(width, width), *norm_layer(), nn.ReLU(), nn.Linear(width, width), *norm_layer()]
        return nn.Sequential(*f, *([nn.ReLU()] if branch_relu else []))

    body = [Residual(branch()) if residual else nn.Sequential(branch(), nn.ReLU()) for _ in range(blocks)]
    net = nn.Sequential(nn.Linear(64, width), nn.ReLU(), *body, nn.Linear(width, 10))
    return init_weights(net, "kaiming_normal", bias=0.0) if he else net


@torch.no_grad()
def block_variances(net, x):
    """(1 + blocks,) per-unit variance over the samples, averaged over units, after the stem and blocks."""
    out = []
    for module in net[:-1]:
        x = module(x)
        if not isinstance(module, nn.Linear):
            out.append(x.var(0).mean().item())
    return torch.tensor(out)


def grad_norm_trace(net, data, **train_kwargs):
    """Train net with helpers.train; ((steps, layers) weight-gradient norms before any clipping, losses).

    The norms are read when backward fills each gradient, so clip_norm or clip_value (passed on to
    helpers.train) do not change them; a step whose loss is NaN or inf is the last.
    """
    layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
    row, norms, losses = [None] * len(layers), [], []

    def keep(i):
        return lambda w: row.__setitem__(i, w.grad.norm().item())

    def end_of_step(loss):
        norms.append(list(row))
        losses.append(loss.item())

    hooks = [m.weight.register_post_accumulate_grad_hook(keep(i)) for i, m in enumerate(layers)]
    try:
        train(net, data, **{"verbose": False, **train_kwargs}, callbacks=[end_of_step])
    finally:
        for h in hooks:
            h.remove()
    return torch.tensor(norms), losses


def depth_runs(data, blocks, seeds=range(20), epochs=3, **kwargs):
    """train_many over deep_net(blocks, ...) for each seed, member i on seeds[i]'s batch order; a ManyHistory.

    kwargs: deep_net's (norm, residual, width, he, branch_relu), the rest go to helpers.train_many.
    """
    net_keys = ("norm", "residual", "width", "he", "branch_relu")
    net_kw = {k: kwargs.pop(k) for k in net_keys if k in kwargs}
    seeds = list(seeds)
    return train_many(
        lambda: deep_net(blocks, **net_kw), data, seeds=seeds, epochs=epochs, seed=seeds, **kwargs
    )


def explore(data, blocks=20, kind="residual", lr=0.05, epochs=3, seed=0, progress=False):
    """Train one deep_net of a kind (SGD, momentum 0.9, batches of 64); draw its gradients and accuracy."""
    check_choice(kind, STACKS, "kind")
    torch.manual_seed(seed)
    net = deep_net(blocks, **STACKS[kind])
    h = train(
        net,
        data,
        epochs=epochs,
        lr=lr,
        momentum=0.9,
        batch_size=64,
        loss="cross_entropy",
        seed=seed,
        verbose=False,
        progress=progress,
    )
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), width_ratios=[2, 1])
    net.zero_grad()
    F.cross_entropy(net(data.x_train), data.y_train).backward()
    weights_vp(net, "grad", ax=axes[0], log=True, title=f"{kind}, {blocks} blocks: gradients after training")
    loss_curves([h], "test_acc", ax=axes[1], title="Test accuracy")
    axes[1].axhline(0.1, color="grey", ls="--", lw=1.2)
    plt.show()
    status = (
        f"exploded in epoch {h.diverged_at}" if h.diverged else f"final test accuracy {h.test_acc[-1]:.1f}"
    )
    print(f"{kind}, {blocks} blocks, lr {lr}: {status}")


def widget(data):
    """explore with sliders for depth, lr, epochs and seed, a menu for the kind, and a Run button."""
    return widgets.interactive(
        explore,
        {"manual": True},
        data=widgets.fixed(data),
        blocks=widgets.IntSlider(20, 1, 100),
        kind=widgets.Dropdown(options=list(STACKS), value="residual"),
        lr=widgets.FloatLogSlider(0.05, base=10, min=-3, max=0),
        epochs=widgets.IntSlider(3, 1, 10),
        seed=widgets.IntSlider(0, 0, 20),
        progress=widgets.fixed(True),  # a bar while it trains (live sessions only)
    )


# ---- the rewritten lesson (classroom form) -----------------------------------------------------------------


def he_net(depth=6, width=32):
    """depth hidden ReLU layers of `width` on the 64 pixels, 10 outputs; He (kaiming_normal), zero biases."""
    return init_weights(mlp([64] + [width] * depth + [10]), "kaiming_normal", bias=0.0)


def exploding_net(depth=6, width=64, bound=0.5):
    """depth hidden ReLU layers, weights from U(-bound, bound), zero biases: notebook 01's explosion."""
    return init_weights(mlp([64] + [width] * depth + [10]), "uniform", bound=bound, bias=0.0)


def zero_branches(net):
    """net with the last layer of every Residual branch zeroed (BatchNorm: gamma = 0; Linear: W = b = 0)."""
    for block in (m for m in net.modules() if isinstance(m, Residual)):
        last = [m for m in block.block if isinstance(m, (nn.Linear, nn.BatchNorm1d))][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return net


def groups(make, data, settings, seeds=range(20), **common):
    """One train_many call for several groups of the same seeds; (ManyHistory, {name: member indices}).

    settings: name -> per-group train_many settings (lr, weight_decay, clip_norm, clip_value; a missing
    clip is none); member i of a group starts from seed s and sees batch order s, as helpers.train(seed=s).
    make(name) builds a group's model, so groups may differ in architecture or init as well.
    """
    seeds, names = list(seeds), list(settings)
    models = [seeded(lambda n=name: make(n), s) for name in names for s in seeds]
    base = {k: common.pop(k, v) for k, v in DEFAULTS.items()}  # a setting for all groups, else the default
    per = {k: [settings[n].get(k, base[k]) for n in names for _ in seeds] for k in DEFAULTS}
    for k in ("clip_norm", "clip_value"):  # no member clips: skip clipping (by inf) altogether, same result
        per[k] = None if all(math.isinf(v) for v in per[k]) else per[k]
    runs = train_many(models, data, seed=seeds * len(names), **per, **common)
    return runs, {n: torch.arange(len(seeds)) + g * len(seeds) for g, n in enumerate(names)}


DEFAULTS = dict(lr=0.05, weight_decay=0.0, clip_norm=math.inf, clip_value=math.inf)


def seeded(make, seed):
    """make() called right after torch.manual_seed(seed): the model that seed draws."""
    torch.manual_seed(seed)
    return make()


def outcomes(runs, idx, learned=0.2):
    """name -> dict(exploded, dead, ok: counts; median: final test accuracy, exploded as 0; best: per run)."""
    out = {}
    for name, i in idx.items():
        acc, blown = runs.test_acc[i], runs.diverged[i]
        dead = ~blown & (acc[:, -1] < learned)
        final = acc[:, -1].nan_to_num(0)
        out[name] = dict(
            exploded=int(blown.sum()),
            dead=int(dead.sum()),
            ok=int((~blown & ~dead).sum()),
            median=final.median().item(),
            best=acc.nan_to_num(0).max(1).values,
            broke=blown | dead,
        )
    return out


def grad_norm(model, data):
    """Norm of the whole gradient of model on all training images (cross-entropy); leaves it in .grad."""
    return nb01.grad_norm(model, data.x_train, data.y_train)


def weight_growth(runs, idx, reference):
    """name -> (runs,) median over layers of final weight std / reference std (the He value per layer)."""
    stds = torch.stack([v.flatten(1).std(1) for k, v in runs.params.items() if k.endswith("weight")], 1)
    return {n: (stds[i] / reference).median(1).values for n, i in idx.items()}


@torch.no_grad()
def bn_accuracies(model, data, batch=32):
    """Test accuracy of a BatchNorm model three ways; the model is untouched.

    Eval mode (running statistics), train mode on shuffled batches of `batch` (batch statistics), and
    train mode on batches of one class each. The train-mode passes run on a copy that keeps no running
    statistics (they would only be updated, never used), all full batches in one vmap call.
    """
    m = copy.deepcopy(model)
    x, y = data.x_test, data.y_test
    acc = {"eval": _acc(m.eval(), [(x, y)])}
    torch.func.replace_all_batch_norm_modules_(m).train()  # batch statistics, nothing else changes
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    acc["train, mixed batches"] = _batch_acc(m, x[order], y[order], batch)
    by_class = torch.argsort(y, stable=True)
    acc["train, one-class batches"] = _batch_acc(m, x[by_class], y[by_class], batch)
    return acc


def _batch_acc(model, x, y, size):
    """Accuracy on consecutive batches of `size`, each on its own (a last, shorter one of 2 or more too)."""
    full = len(y) // size * size
    out = torch.func.vmap(model)(x[:full].reshape(-1, size, x.shape[1])).flatten(0, 1)  # batch by batch
    right, seen = (out.argmax(1) == y[:full]).sum().item(), full
    if len(y) - full > 1:  # the last, shorter batch
        right, seen = right + (model(x[full:]).argmax(1) == y[full:]).sum().item(), len(y)
    return right / seen


def _acc(model, batches):
    right = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in batches)
    return right / sum(len(yb) for _, yb in batches)


@torch.no_grad()
def init_profile(make, x, seeds=range(20), dtype=torch.float64):
    """(seeds, 1 + blocks) stream variance after the stem and each block at initialisation, a row a seed.

    Computed in float64 by default: in float32 a vanishing stream's variance stops falling near 1e-17,
    the rounding floor of a variance over nearly equal values: the curve would show that floor, not signal.
    """
    return torch.stack([block_variances(seeded(make, s).to(dtype), x.to(dtype)) for s in seeds])


def start_gradients(make, data, seeds=range(20)):
    """((seeds,), (seeds,)): at initialisation, the whole weight gradient's norm, and the gradient norm of the
    first block's first Linear over the last block's last Linear (below 1: it shrinks toward the input)."""
    norms, ratios = [], []
    for s in seeds:
        net = seeded(make, s)
        norms.append(grad_norm(net, data))
        layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
        ratios.append((layers[1].weight.grad.norm() / layers[-2].weight.grad.norm()).item())
    return torch.tensor(norms), torch.tensor(ratios)


def first_last_ratio(make, data, seeds=range(20)):
    """(seeds,) gradient norm of the first block's first Linear / the last block's last Linear, at init."""
    return start_gradients(make, data, seeds)[1]


def plot_groups(runs, idx, title, ax=None):
    """Test accuracy per epoch of each group: median and quartiles over its seeds, chance as a dashed line."""
    ax = ax if ax is not None else panels(1)[1]
    epochs = range(1, runs.test_acc.shape[1] + 1)
    for name, i in idx.items():
        spread(epochs, runs.test_acc[i].nan_to_num(0), ax=ax, label=name)  # exploded runs count as 0
    ax.axhline(0.1, color="grey", ls="--", lw=1.2, label="chance")
    ax.set(xlabel="epoch", ylabel="test accuracy (exploded = 0)", title=title)
    ax.legend()
    return ax


def plot_profiles(profiles, title, ax=None):
    """Stream variance after each block at initialisation: median and quartiles over seeds, per kind."""
    ax = ax if ax is not None else panels(1)[1]
    for k, (name, v) in enumerate(profiles.items()):
        spread(range(v.shape[1]), v, ax=ax, label=name, log=True)
        ax.lines[-1].set_linestyle(
            STYLES[k % len(STYLES)]
        )  # kinds told apart by line style, not colour alone
    ax.set(xlabel="block (0 = after the stem)", ylabel="variance of the stream", title=title)
    ax.set_xticks(range(0, len(next(iter(profiles.values()))[0]), 2))
    ax.legend()
    return ax


def count_in_words(k, n=20):
    """A count of runs in bands that read the same on any CPU: 'at most 2', '3 to 6', '7 or more'."""
    band = "at most 2" if k <= 2 else "3 to 6" if k <= 6 else "7 or more"
    return f"{band} of {n}"


def count_band(k, n=20):
    """A count of n runs in bands wide enough to read the same on any CPU: '0 of 20', '1 to 7 of 20'
    (up to 35 %), '8 to 12 of 20', '13 to 19 of 20' (65 % or more), '20 of 20'."""
    if k in (0, n):
        return f"{k} of {n}"
    lo, hi = math.floor(0.35 * n), math.ceil(0.65 * n)
    band = f"1 to {lo}" if k <= lo else f"{lo + 1} to {hi - 1}" if k < hi else f"{hi} to {n - 1}"
    return f"{band} of {n}"


def half_in_words(k, n=20):
    """'none', 'fewer than half', 'half', 'more than half' or 'all' (of n)."""
    if k in (0, n):
        return "none" if k == 0 else "all"
    return "more than half" if 2 * k > n else "half" if 2 * k == n else "fewer than half"


def ratio_in_words(r):
    """A weight-growth ratio in bands that read the same on any CPU: 'over 2', '0.9 to 1.5', 'below 0.9'."""
    return "over 2" if r > 2 else "0.9 to 1.5" if 0.9 < r < 1.5 else "below 0.9" if r < 0.9 else f"{r:.2g}"


@torch.no_grad()
def second_moment_growth(make, x, seeds=range(20)):
    """(seeds, layers - 1): E[z^2] of each hidden layer's z over the previous one's, at initialisation.

    Only hidden layers of equal width are compared (the output layer is left out).
    """
    rows = []
    for s in seeds:
        net, h, second = seeded(make, s), x, []
        for m in net:
            h = m(h)
            if isinstance(m, nn.Linear) and m is not net[-1]:
                second.append(h.pow(2).mean().item())
        rows.append(torch.tensor(second[1:]) / torch.tensor(second[:-1]))
    return torch.stack(rows)


def depth_sweep(data, kinds, depths, seeds=range(20), trains=0.7, **kwargs):
    """kind -> (seeds, rungs) final test accuracy (exploded = 0) by depth; a kind stops at its first rung
    whose median falls below `trains`. kinds: name -> deep_net settings; kwargs go to depth_runs."""
    out = {}
    for kind, kw in kinds.items():
        accs = []
        for blocks in depths:
            runs = depth_runs(data, blocks, seeds=seeds, **kw, **kwargs)
            accs.append(runs.test_acc[:, -1].nan_to_num(0))
            if accs[-1].median() < trains:
                break
        out[kind] = torch.stack(accs, 1)
    return out


def plot_sweep(sweep, depths, title, ax=None):
    """Final test accuracy against depth per kind: median and quartiles over seeds, log x axis."""
    ax = ax if ax is not None else panels(1)[1]
    for kind, acc in sweep.items():
        spread(depths[: acc.shape[1]], acc, ax=ax, label=kind)
    ax.axhline(0.1, color="grey", ls="--", lw=1.2, label="chance")
    ax.set(xscale="log", xlabel="blocks (2 layers each)", ylabel="final test accuracy", title=title)
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.minorticks_off()
    ax.legend()
    return ax


def plot_growth(runs, idx, reference, title, ax=None):
    """Weight std / He std per epoch (median over layers): median and quartiles over seeds, per group."""
    ax = ax if ax is not None else panels(1)[1]
    ratio = (runs.layers["weight_std"] / reference).median(2).values  # (N, epochs)
    for name, i in idx.items():
        spread(range(1, ratio.shape[1] + 1), ratio[i], ax=ax, label=name)
    ax.axhline(1, color="grey", ls="--", lw=1.2, label="He value")
    ax.set(xlabel="epoch", ylabel="weight std / He value", title=title)
    ax.legend()
    return ax


STYLES = ("-", "--", ":", "-.")  # plot_profiles' line styles, one per kind


def accuracy_band(a):
    """A median test accuracy in CPU-proof bands: 'above 0.75', '0.4 to 0.75', 'below 0.4'."""
    return "above 0.75" if a > 0.75 else "0.4 to 0.75" if a > 0.4 else "below 0.4"
