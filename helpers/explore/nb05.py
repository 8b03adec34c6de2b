"""Notebook 05 (dead ReLUs): dead units of many nets at once, the dead-units explorer, optimiser paths."""

import functools
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


def train_fixes(fixes, data, seeds, lr=0.03, order=None, **kw):
    """name -> ManyHistory of each fix, trained from the same seeds with the same batches.

    order: None gives member i its own batch order (train_many's seed=seeds[i]); an int gives every member
    that one order (cheaper, and the rows then differ only in their settings and initial weights).
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
            factory, data, seeds=list(seeds) * len(names), optimizer=optimizer,
            seed=list(seeds) * len(names) if order is None else order,
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


# ---- the rewritten lesson (classroom form) and its deep dive ----

RANGE_TEST = {"lr_min": 1e-3, "lr_max": 3.0, "steps": 1500, "batch_size": 32, "smooth": 0.97, "on": "batch"}


def plot_two_fates(histories, constant):
    """Three panels: test loss of each run, then each run's dead units per layer (one shared y axis)."""
    fig, axes = helpers.plots.panels(3)
    helpers.loss_curves(histories, ax=axes[0], constant=constant, title="One init, two fates")
    for ax, h in zip(axes[1:], histories):
        helpers.layer_trace(h, "dead", ax=ax, log=False, title=f"Dead units, {h.name}")
        ax.set(ylim=(-0.05, 1.05), ylabel="share of the layer dead")
    return axes


def born_dead_by_width(widths=(4, 8, 16), hidden=8, seeds=1000, deep=4, seed=10):
    """{width: (unit, layer)}: shares of units and of whole layers born dead, over the last `deep` layers."""
    out = {}
    for w in widths:
        b = helpers.theory.estimate_born_dead(w, hidden, seeds=seeds, seed=seed)
        out[w] = (b.unit[-deep:].mean().item(), b.layer[-deep:].mean().item())
    return out


def plot_born_dead(result, draws, title="Born dead: about (1/2)^width per layer"):
    """Share of dead layers against width (log y), beside (1/2)^width; a zero is drawn as 'below 1/draws'."""
    fig, ax = helpers.plots.panels(1)
    widths = sorted(result)
    wide = torch.linspace(widths[0], 32, 50)
    ax.plot(wide, 0.5**wide, color=helpers.plots.PREDICTED, label="(1/2)^width")
    seen = [(w, result[w][1]) for w in widths if result[w][1] > 0]
    ax.plot(*zip(*seen), "o", ms=8, color=helpers.plots.BLUE, label=f"measured ({draws} layers each)")
    for w in [w for w in widths if result[w][1] == 0]:  # none seen: 3/draws is the 95 % upper bound
        ax.plot(w, 3 / draws, "v", ms=9, color=helpers.plots.BLUE, label=f"none in {draws}: 95 % bound")
    ax.set(yscale="log", xlabel="width of each hidden layer", ylabel="share of deep layers dead at birth")
    ax.set(title=title)
    ax.legend()
    return ax


def fates(ends, x, constant_train):
    """name -> {dead, stuck, q}: fully dead share, share ending at the constant level, test MSE quartiles.

    stuck: training MSE above 0.9 of the constant prediction's (dead, diverged or not yet trained).
    """
    out = {}
    for name, h in ends.items():
        train, test = (loss[:, -1].nan_to_num(math.inf) for loss in (h.train_loss, h.test_loss))
        relu = any(isinstance(m, nn.ReLU) for m in h.template)
        out[name] = {
            "dead": fully_dead(h, x).float().mean().item() if relu else math.nan,
            "stuck": (train > 0.9 * constant_train).float().mean().item(),
            "q": test.quantile(torch.tensor([0.25, 0.5, 0.75])).tolist(),
        }
    return out


def plot_lr_deaths(rows, lrs, born, h03, x, constant):
    """Left: share fully dead against lr, born-dead level dotted. Right: test MSE at 0.03, dead and alive."""
    fig, axes = helpers.plots.panels(2)
    dead = [rows[f"SGD, lr {lr}"]["dead"] for lr in lrs]
    axes[0].plot(lrs, dead, "o-", color=helpers.plots.color("relu"), label="ends fully dead")
    axes[0].axhline(born, color=helpers.plots.GREY, ls=":", lw=2, label="dead at birth")
    axes[0].set(xscale="log", xticks=lrs, xticklabels=[str(lr) for lr in lrs], ylim=(0, 1))
    axes[0].minorticks_off()
    axes[0].set(xlabel="learning rate", ylabel="share of the nets", title="A large rate kills")
    axes[0].legend()
    test, dead = h03.test_loss[:, -1], fully_dead(h03, x)
    bins = torch.linspace(0, 20, 41).numpy()
    axes[1].hist(test[~dead].numpy(), bins=bins, alpha=0.7, color=helpers.plots.BLUE, label="alive")
    axes[1].hist(test[dead].numpy(), bins=bins, alpha=0.7, color=helpers.plots.VERMILLION, label="fully dead")
    axes[1].axvline(constant, color=helpers.plots.GREY, ls="--", label="predicts a constant")
    axes[1].set(xlabel="test MSE after 20 epochs, lr 0.03", ylabel="nets", title="Survivors are crippled too")
    axes[1].legend()
    return axes


def plot_fixes(rows, titles=("Deaths: a large rate and momentum kill", "Test MSE: median and quartiles")):
    """Two panels sharing the rows: shares fully dead (bars) and stuck (ticks); test MSE median, quartiles."""
    names = list(rows)
    fig, axes = helpers.plots.panels(2, height=0.45 * len(names) + 1.2, sharey=True)
    ys = range(len(names))
    axes[0].barh(ys, [rows[k]["dead"] for k in names], color=helpers.plots.VERMILLION, alpha=0.6,
                 label="fully dead")  # fmt: skip
    axes[0].scatter([rows[k]["stuck"] for k in names], ys, color="black", marker="|", s=250, zorder=3,
                    label="stuck (train MSE > 0.9 of the constant)")  # fmt: skip
    axes[0].set(yticks=list(ys), yticklabels=names, xlim=(0, 1), xlabel="share of nets")
    axes[0].set_title(titles[0])
    axes[0].invert_yaxis()
    med = torch.tensor([rows[k]["q"] for k in names])  # (rows, 3)
    err = torch.stack([med[:, 1] - med[:, 0], med[:, 2] - med[:, 1]]).clamp(min=0).numpy()
    axes[1].errorbar(med[:, 1].numpy(), ys, xerr=err, fmt="o", capsize=3, label="median, quartiles")
    axes[1].set(xlim=(0, 21), xlabel="test MSE at the end (all nets)", title=titles[1])
    axes[0].legend(loc="lower right")
    axes[1].legend(loc="best")
    return axes


def sgd_steps(grads, lr, momentum):
    """The weights torch.optim.SGD visits from 0, given each step's gradient: v <- m v + g; w <- w - lr v.

    Its arithmetic, written out (tests check it against torch.optim.SGD): torch.optim's first use imports
    torch._dynamo, which costs a second or two of the lesson's run time.
    """
    w, v, out = torch.zeros_like(grads[0]), torch.zeros_like(grads[0]), []
    for g in grads:
        v = v.mul(momentum).add(g) if momentum else g  # torch's buffer starts as the first gradient itself
        w = w.add(v, alpha=-lr)
        out.append(w)
    return out


def momentum_steps(lr, momentum, noise=1.0, steps=100, coords=20_000, seed=0):
    """(mean, std) of torch.optim.SGD's last step per coordinate, gradient 1 + noise * N(0, 1) every step."""
    g = torch.Generator().manual_seed(seed)
    grads = [1 + noise * torch.randn(coords, generator=g) for _ in range(steps)]
    *_, before, after = sgd_steps(grads, lr, momentum)
    step = before - after
    return step.mean().item(), step.std().item()


def total_push(lr, momentum, steps=500):
    """How far torch.optim.SGD moves a weight in all, from one gradient of 1 followed by zeros."""
    grads = [torch.ones(1, dtype=torch.float32)] + [torch.zeros(1)] * (steps - 1)
    return -sgd_steps(grads, lr, momentum)[-1].item()


def plot_range_test(lrs, losses, constant, floor, steep, skip=0.1):
    """The smoothed range-test loss against the rate (from the `skip` share on), with the constant level,
    the valley's floor and the steepest fall."""
    fig, ax = helpers.plots.panels(1)
    first = int(skip * len(lrs))
    ax.plot(lrs[first:], losses[first:], label="batch loss, smoothed")
    ax.axhline(constant, color=helpers.plots.GREY, ls="--", label="predicts a constant")
    ax.axvline(floor, color=helpers.plots.VERMILLION, ls=":", lw=2, label=f"valley floor, lr {floor:.2g}")
    ax.axvline(steep, color=helpers.plots.GREEN, ls=":", lw=2, label=f"steepest fall, lr {steep:.2g}")
    ax.set(xscale="log", xlabel="learning rate (grows every batch)", ylabel="training MSE")
    ax.set(title="A long, smoothed range test shows a valley", ylim=(0, 2 * constant))
    ax.legend()
    return ax


WARMUP_COSINE = (("warmup", 2), ("cosine",))  # factor min(1, (t + 1) / 140) * (1 + cos(pi t / 1400)) / 2


def mean_factor(spec=WARMUP_COSINE, epochs=20, per_epoch=70):
    """The mean over every update of a schedule's factor (70 updates an epoch: 700 examples in 10s)."""
    return helpers.schedules.factors([spec], per_epoch, epochs * per_epoch).mean().item()


def lr_fixes(factory, lr=0.03):
    """Section 4's rows for train_fixes: name -> (factory, settings); plain SGD at the base rate otherwise."""
    same_mean = round(lr * mean_factor(), 4)  # 0.0135: warm-up + cosine's mean rate over 20 epochs
    return {
        "warm-up 2 epochs": (factory, {"schedule": ("warmup", 2)}),
        "warm-up + cosine": (factory, {"schedule": WARMUP_COSINE}),
        f"constant {same_mean}": (factory, {"lr": same_mean}),
        "momentum 0.9": (factory, {"momentum": 0.9}),
        "momentum 0.9, lr 0.003": (factory, {"momentum": 0.9, "lr": 0.003}),
        "clip norm at 1": (factory, {"clip_norm": 1.0}),
    }


SHARES = (
    (0.1, "under 0.1"),
    (0.2, "0.1 to 0.2"),
    (0.45, "0.2 to 0.45"),
    (0.8, "0.45 to 0.8"),
    (0.95, "0.8 to 0.95"),
)


def share(f):
    """A share of nets as a coarse range, wider than the differences between CPU code paths."""
    return "-" if math.isnan(f) else next((text for edge, text in SHARES if f < edge), "above 0.95")


def count(f, n=100, step=5):
    """A share of n nets as a count rounded to the nearest `step` (5): a few nets flip between CPU paths."""
    return step * round(round(f * n) / step)


def nonfinite(h):
    """How many members of a ManyHistory ended with a NaN or infinite loss (diverged)."""
    return int((~h.test_loss[:, -1].isfinite()).sum())


def death_epochs(ends):
    """name -> (epochs,) how many nets are fully dead after each epoch (histories trained with track=True)."""
    return {k: (h.layers["dead"][..., :-1] == 1).any(-1).sum(0) for k, h in ends.items()}


# ---- the deep dive ----


def depth_lr_grid(data, depths=range(1, 7), lrs=(0.001, 0.003, 0.01, 0.03), nets=100, epochs=20):
    """(dead (depths, lrs), born (depths,)): shares of `nets` ReLU lecture nets dead after training, at birth.

    Per depth one train_many call: every rate starts from the same nets (seeds 1000 * depth + i) and sees the
    same batches (one shared order), so the columns differ only in the rate.
    """
    dead, born = [], []
    for depth in depths:
        seeds = [1000 * depth + i for i in range(nets)]
        factory = functools.partial(helpers.lecture_net, "relu", depth)
        lr = torch.tensor(lrs).repeat_interleave(nets)  # (lrs * nets,)
        h = helpers.train_many(factory, data, seeds=seeds * len(lrs), epochs=epochs, lr=lr, seed=0)
        dead.append(fully_dead(h, data.x_train).view(len(lrs), nets).float().mean(1))
        born.append(fully_dead(initial_models(factory, seeds), data.x_train).float().mean())
    return torch.stack(dead), torch.stack(born)


def plot_depth_grid(dead, born, depths, lrs):
    """Share fully dead against depth, one line per rate, with the born-dead share."""
    fig, ax = helpers.plots.panels(1)
    for j, lr in enumerate(lrs):
        ax.plot(list(depths), dead[:, j], "o-", label=f"lr {lr}")
    ax.plot(list(depths), born, "k:", lw=2, label="dead at birth")
    ax.set(xlabel="hidden layers (width 4)", ylabel="share of 100 nets fully dead", ylim=(0, 1))
    ax.set(title="Dying rises with the rate; depth adds birth deaths")
    ax.legend()
    return ax


def width_training(data, widths=(4, 8, 16, 32), hidden=4, lr=0.03, nets=100, epochs=20):
    """{width: (share fully dead, (hidden,) mean share of each layer's units dead)} after training at `lr`."""
    out = {}
    for width in widths:
        factory = functools.partial(helpers.lecture_net, "relu", hidden, width)
        h = helpers.train_many(factory, data, seeds=range(nets), epochs=epochs, lr=lr, seed=0)
        out[width] = (fully_dead(h, data.x_train).float().mean().item(), dead_units(h, data.x_train).mean(0))
    return out


def plot_width_training(result):
    """Share fully dead after training against width, beside the born-dead prediction."""
    fig, ax = helpers.plots.panels(1)
    widths = sorted(result)
    ax.plot(widths, [result[w][0] for w in widths], "o-", label="fully dead after 20 epochs at lr 0.03")
    born = [helpers.theory.born_dead_probability(w, 4) for w in widths]
    ax.plot(
        widths,
        born,
        ":",
        color=helpers.plots.PREDICTED,
        lw=2,
        label="born dead, idealised (1/2 per unit; over-predicts short nets)",
    )
    ax.set(xscale="log", xticks=widths, xticklabels=[str(w) for w in widths], ylim=(0, 1))
    ax.minorticks_off()  # only the widths trained are labelled
    ax.set(
        xlabel="width (4 hidden layers)",
        ylabel="share of 100 nets",
        title="Wider nets: fewer die in training, but not none",
    )
    ax.legend()
    return ax


def range_tests(data, seeds=range(20), hidden=4):
    """(seeds, 4): each initialisation's valley floor rate, floor / constant level, steepest-fall rate, and
    1 if the net ends the test fully dead (its weights are kept after the test to look), else 0."""
    from helpers.lrfind import lowest, lr_range_test, steepest

    constant, rows = data.constant_mse("train"), []
    for s in seeds:
        torch.manual_seed(s)
        net = helpers.lecture_net("relu", hidden)
        lrs, losses = lr_range_test(net, data, seed=s, restore=False, **RANGE_TEST)
        floor_lr, floor = lowest(lrs, losses, skip=0.1)
        dead = float(fully_dead([net], data.x_train).item())
        rows.append([floor_lr, floor / constant, steepest(lrs, losses, skip=0.1), dead])
    return torch.tensor(rows)


def plot_paths(runs):
    """One panel per optimiser: its path on the quadratic's contours, the minimum starred."""
    fig, axes = helpers.plots.panels(len(runs), sharex=True, sharey=True)
    g1, g2 = torch.meshgrid(torch.linspace(-3.5, 1.5, 200), torch.linspace(-1.5, 1.5, 200), indexing="xy")
    levels = 0.5 * (CURVATURES[0] * g1**2 + CURVATURES[1] * g2**2)
    for ax, (name, pts) in zip(axes, runs.items()):
        ax.contour(g1, g2, levels, levels=torch.logspace(-2, 1.5, 10).numpy(), colors=helpers.plots.GREY)
        ax.plot(pts[:, 0], pts[:, 1], "o-", ms=2.5, lw=1.2)
        ax.plot(0, 0, "k*", ms=10)
        ax.set(title=name, xlabel="$w_1$ (curvature 1)", ylabel="$w_2$ (curvature 16)")
    return axes


def plot_death_epochs(deaths, born, n=100):
    """Nets fully dead after each epoch, one line per row, with the born-dead count dotted."""
    fig, ax = helpers.plots.panels(1)
    for name, counts in deaths.items():
        ax.plot(range(1, len(counts) + 1), counts, "o-", ms=3, label=name)
    ax.axhline(born, color=helpers.plots.GREY, ls=":", lw=2, label="dead at birth")
    ax.set(xlabel="epoch", ylabel=f"nets fully dead (of {n})", ylim=(0, n))
    ax.set(title="Deaths keep coming while the rate is high")
    ax.legend()
    return ax
