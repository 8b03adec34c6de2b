"""Lesson 06's machinery: the deep stacks of blocks, their variances, a gradient trace, the depth explorer."""

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_choice, check_positive_int
from helpers.init import init_weights
from helpers.many import train_many
from helpers.models import Residual
from helpers.plots import loss_curves, weights_vp
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
