"""Notebook 05 (dead ReLUs): dead units of many nets at once, the dead-units explorer, optimiser paths."""

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.func import stack_module_state

import helpers
from helpers.checks import check_choice, check_module, check_positive, check_positive_int
from helpers.many import ManyHistory

CURVATURES = (1.0, 16.0)  # the 2-D quadratic of section 7: a shallow direction w1 and a steep one w2
INITS = ("default", "he")


def he_net(hidden, width=4):
    """lecture_net("relu", hidden, width) with He (kaiming_normal_) weights; biases keep torch's default."""
    return helpers.init_weights(helpers.lecture_net("relu", hidden, width), "kaiming_normal")


def initial_models(factory, seeds):
    """factory() after torch.manual_seed(s) for each s, as train_many builds them; keeps the random stream."""
    with torch.random.fork_rng(devices=[]):
        return [(torch.manual_seed(s), factory())[1] for s in seeds]


@torch.no_grad()
def dead_units(models, x):
    """(models, hidden layers): the fraction of each hidden layer's units that output 0 on every row of x.

    models: a ManyHistory (its final weights) or a list of nets of one architecture, each a Sequential of
    Linear layers and element-wise activations (as helpers.lecture_net); all are run at once.
    """
    many = isinstance(models, ManyHistory)
    template, params = (models.template, models.params) if many else stacked(models)
    h, dead = x.expand(len(next(iter(params.values()))), *x.shape), []  # (models, batch, features)
    for name, layer in template.named_children():
        if isinstance(layer, nn.Linear):
            h = h @ params[f"{name}.weight"].transpose(1, 2) + params[f"{name}.bias"][:, None]
        else:
            h = layer(h)
            dead.append((h == 0).all(1).float().mean(-1))  # (models,)
    return torch.stack(dead, 1)


def fully_dead(models, x):
    """(models,) bool: nets with a hidden layer whose units all output 0 on every row of x."""
    return (dead_units(models, x) == 1).any(1)


def stacked(models):
    """(first model, name -> (models, ...) parameters) of a list of modules of one architecture."""
    if isinstance(models, nn.Module) or not models:
        raise ValueError("models: expected a ManyHistory or a non-empty list of nets")
    for m in models:
        check_module(m, "models")
    return models[0], stack_module_state(list(models))[0]


def subset(h, index):
    """The members `index` (a slice, or a list or tensor of indices) of a ManyHistory, as a ManyHistory."""
    rows = torch.arange(len(h))[index]
    scores = ("train_loss", "test_loss", "train_acc", "test_acc")
    return replace(
        h,
        **{k: None if getattr(h, k) is None else getattr(h, k)[rows] for k in scores},
        layers={k: v[rows] for k, v in h.layers.items()},
        diverged_at=[h.diverged_at[i] for i in rows.tolist()],
        params={k: v[rows] for k, v in h.params.items()},
        buffers={k: v[rows] for k, v in (h.buffers or {}).items()},
    )


def train_fixes(fixes, data, seeds, lr=0.03, **kw):
    """name -> ManyHistory of each fix, trained from the same seeds with the same batches (seed=seeds).

    fixes: name -> (factory, settings), settings a dict of train_many's lr, momentum, clip_norm, schedule
    and optimizer; what a fix leaves out is plain SGD at `lr`. Fixes that share a factory and an optimizer
    are trained in one train_many call, with one lr, momentum, clip_norm and schedule per member. kw: the
    other arguments of train_many, the same for every fix (epochs, batch_size, ...).
    """
    base = {"lr": lr, "momentum": 0.0, "clip_norm": math.inf, "schedule": None}
    groups = {}  # (factory, optimizer) -> names, in the order of fixes
    for name, (factory, settings) in fixes.items():
        unknown = set(settings) - set(base) - {"optimizer"}
        if unknown:
            raise ValueError(
                f"fixes: {name!r} sets {sorted(unknown)}; expected some of {[*base, 'optimizer']}"
            )
        groups.setdefault((factory, settings.get("optimizer", "sgd")), []).append(name)
    out = {}
    for (factory, optimizer), names in groups.items():
        each = {k: [fixes[n][1].get(k, v) for n in names for _ in seeds] for k, v in base.items()}
        if all(c == math.inf for c in each["clip_norm"]):
            each["clip_norm"] = None  # no clipping at all: skip the work
        h = helpers.train_many(
            factory, data, seeds=list(seeds) * len(names), seed=list(seeds) * len(names), optimizer=optimizer,
            **each, **kw
        )  # fmt: skip
        out.update({n: subset(h, slice(i * len(seeds), (i + 1) * len(seeds))) for i, n in enumerate(names)})
    return {name: out[name] for name in fixes}


def explore(depth=3, lr=0.03, epochs=20, nets=100, init="default", progress=False):
    """Train `nets` lecture ReLU nets; plot the share fully dead and the dead units per layer, by epoch."""
    check_choice(init, INITS, "init")
    for value, name in ((depth, "depth"), (epochs, "epochs"), (nets, "nets")):
        check_positive_int(value, name)
    check_positive(lr, "lr")
    data = helpers.lecture_split()
    factory = (lambda: he_net(depth)) if init == "he" else (lambda: helpers.lecture_net("relu", depth))
    h = helpers.train_many(
        factory,
        data,
        seeds=range(nets),
        epochs=epochs,
        lr=lr,
        seed=list(range(nets)),
        track=True,
        progress=progress,
    )
    start = dead_units(initial_models(factory, range(nets)), data.x_train)  # epoch 0: (nets, layers)
    dead = torch.cat([start[:, None], h.layers["dead"][..., :-1]], 1)  # (nets, epochs + 1, layers)
    share = (dead[:, -1] == 1).any(1).float().mean()  # the number is in the title: it varies between CPUs
    plot_deaths(dead, f"{depth} layers, lr {lr:.3g}, {init} init: {share:.0%} dead")
    plt.show()


def plot_deaths(dead, title):
    """Two panels by epoch: the fraction of nets fully dead, the mean fraction of dead units per layer."""
    epochs, layers = range(dead.shape[1]), dead.shape[2]
    fig, axes = helpers.plots.panels(2)
    axes[0].plot(epochs, (dead == 1).any(2).float().mean(0), marker="o", ms=3)
    axes[0].set(xlabel="epoch", ylabel="fraction of nets fully dead", ylim=(0, 1), title=title)
    colors = plt.get_cmap("viridis")(torch.linspace(0, 0.9, layers).numpy())
    for layer in range(layers):
        axes[1].plot(epochs, dead[:, :, layer].nanmean(0), color=colors[layer], label=f"layer {layer + 1}")
    axes[1].set(
        xlabel="epoch", ylabel="mean fraction of units dead", ylim=(0, 1), title="Dead units per layer"
    )
    for ax in axes:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[1].legend(ncol=2)
    return axes


def quadratic(w, curvatures=CURVATURES):
    """f(w) = sum_i c_i w_i^2 / 2: a valley with curvature c_i along coordinate i, its minimum 0 at w = 0."""
    return 0.5 * (torch.tensor(curvatures) * w**2).sum()


def optimizer_path(optimizer, steps=60, start=(-3.0, 1.0), curvatures=CURVATURES, **kw):
    """(steps + 1, 2): the points a torch.optim class (kw: its settings) visits on the quadratic."""
    check_positive_int(steps, "steps")
    w = torch.tensor(start, requires_grad=True)
    opt = optimizer([w], **kw)
    points = [w.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        quadratic(w, curvatures).backward()
        opt.step()
        points.append(w.detach().clone())
    return torch.stack(points)
