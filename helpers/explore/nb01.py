"""Lesson 01's machinery: random-matrix products, mean-field violins, saturation and depth sweeps."""

import math

import ipywidgets as widgets
import torch
from torch import nn

from helpers import theory
from helpers.init import init_weights, predicted_stds
from helpers.many import train_many
from helpers.models import mlp
from helpers.plots import PREDICTED, color, panels, spread, weights_vp
from helpers.stats import probe, summary


def lyapunov(n, s=1.0):
    """Top Lyapunov exponent of products of n x n N(0, s^2) matrices (Newman 1986): ln-growth per factor."""
    return 0.5 * (
        math.log(2) + torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64)).item()
    ) + math.log(s)


def log10_largest(s, n=4, k=101, seeds=1000, seed=0):
    """(seeds,) log10 of the largest |entry| of a product of k random n x n N(0, s^2) matrices."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(seeds, n, n, generator=g, dtype=torch.float64) * s  # float64: 1e-40 and 1e+30 fit
    for _ in range(k - 1):
        m = m @ (torch.randn(seeds, n, n, generator=g, dtype=torch.float64) * s)
    return m.abs().amax((1, 2)).log10()


def product_sweep(scales, n=4, k=101, seeds=1000):
    """(seeds, len(scales)) log10 largest |entry| per scale, and the predicted k (lambda + ln s) / ln 10.

    Every scale reuses the same draws (log10_largest's seed), and scaling each of the k factors by s scales
    the product by exactly s^k: so one set of products at s = 1 serves every scale, k log10 s added.
    """
    base = log10_largest(1.0, n, k, seeds)  # (seeds,)
    measured = base[:, None] + k * torch.tensor([math.log10(float(s)) for s in scales], dtype=torch.float64)
    predicted = torch.tensor([k * lyapunov(n, float(s)) / math.log(10) for s in scales])
    return measured, predicted


def plot_products(scales, measured, predicted, n=4, ax=None):
    """Median and quartiles against the scale, the prediction dashed, s* and 1/sqrt(n) marked."""
    ax = spread(scales, measured, ax=ax, label="measured median")
    ax.plot(scales, predicted, "--", color=PREDICTED, lw=2.5, label="predicted k(λ + ln s)/ln 10")
    ax.axvline(math.exp(-lyapunov(n)), color="black", lw=1.2, label=f"s* = {math.exp(-lyapunov(n)):.2f}")
    ax.axvline(n**-0.5, color="grey", ls=":", lw=1.5, label=f"1/√n = {n**-0.5:.2f}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="scale s of each factor",
        ylabel="log10 largest |entry|",
        title="Explode above s*, vanish below",
    )
    ax.legend(loc="upper left")
    return ax


def mean_field(activation, widths, weight_var, bias_var, x2):
    """Per layer: predicted mean and std of each layer's output, and weight-gradient std relative to the last.

    Mean field (each pre-activation Gaussian, z_l ~ N(0, q_l)), with helpers.theory's quadrature (plain
    Gauss-Hermite with 81 nodes mis-estimates ReLU's E[phi'^2] by about 14 %).
    """
    f, df = theory.phi(activation), theory.derivative(activation)
    q, h2, mean, std = [], [x2], [], []  # Var z_l, E[h_l^2] (h_0: the input), each layer's output
    for i in range(len(widths) - 1):
        q.append(widths[i] * weight_var[i] * h2[-1] + bias_var[i])
        last = i == len(widths) - 2  # the output layer has no activation
        m1, m2 = (
            (0.0, q[i])
            if last
            else (theory.gauss_expect(f, q[i]), theory.gauss_expect(lambda z: f(z) ** 2, q[i]))
        )
        h2.append(m2)
        mean.append(m1)
        std.append(math.sqrt(max(m2 - m1**2, 0.0)))
    var_delta = [1.0]  # Var delta_l relative to the output layer's, built from the top down
    for i in range(len(widths) - 3, -1, -1):
        e = theory.gauss_expect(lambda z: df(z) ** 2, q[i])
        var_delta.insert(0, widths[i + 2] * weight_var[i + 1] * e * var_delta[0])
    grad = [math.sqrt(v * e) for v, e in zip(var_delta, h2)]  # std of delta_l h_(l-1)^T
    return mean, std, [g / grad[-1] for g in grad]


def make_stack(activation="sigmoid", init="default", depth=10, width=32, seed=0, bound=0.5):
    """A digits MLP 64 -> depth x width -> 10; init 'default' (torch), 'uniform' (U(+-bound)) or a scheme."""
    torch.manual_seed(seed)
    model = mlp([64] + [width] * depth + [10], activation)
    if init == "uniform":
        init_weights(model, "uniform", bound=bound)  # biases keep torch's default
    elif init != "default":
        init_weights(model, init)  # a scheme of helpers.init_weights, e.g. 'kaiming_normal'
    return model


def stack_predictions(model, activation, init, x):
    """(weight std, output mean, output std, weight-gradient std relative to the last) per layer."""
    widths = [m.in_features for m in model if isinstance(m, nn.Linear)] + [model[-1].out_features]
    w_std = predicted_stds(model, init, bound=0.5)  # exact: how the weights were drawn
    bias_var = [1 / (3 * n) for n in widths[:-1]]  # torch's default bias: U(+-1/sqrt(fan_in))
    mean, std, grad = mean_field(activation, widths, [s**2 for s in w_std], bias_var, x.pow(2).mean().item())
    return w_std, mean, std, grad


def predicted_band(ax, mean, std):
    """Draw a predicted mean +-1 std band over each layer's violin (every layer shown)."""
    for i, (m, s) in enumerate(zip(mean, std), 1):
        ax.fill_between([i - 0.4, i + 0.4], m - s, m + s, color=PREDICTED, alpha=0.18, lw=0)
        ax.hlines([m - s, m + s], i - 0.4, i + 0.4, color=PREDICTED, lw=1.2)
    ax.fill_between([], [], color=PREDICTED, alpha=0.35, lw=0, label="predicted mean ±1 std")
    ax.legend(loc="upper right")
    return ax


def layer_grad_stds(model, x, y):
    """Per Linear layer, the std of its weight gradient for the cross-entropy of (x, y)."""
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return [m.weight.grad.std().item() for m in model if isinstance(m, nn.Linear)]


def show_stack(activation="sigmoid", init="default", depth=10, x=None, y=None, seed=0):
    """Violins of weights, activations and log10 |weight gradients| per layer, the prediction on top.

    Returns (measured, predicted) first / last layer weight-gradient std.
    """
    model = make_stack(activation, init, depth, seed=seed)
    w_std, mean, std, grad_rel = stack_predictions(model, activation, init, x)
    grads = layer_grad_stds(model, x, y)
    fig, axes = panels(3, height=4.0)
    band = "bound" if init in ("default", "uniform") else "std"  # uniform draws fill +-sqrt(3) std
    weights_vp(model, "weight", ax=axes[0], predicted=w_std, band=band, title="Weights")
    if depth + 1 <= 20:  # the band is drawn per layer, so only where every layer is shown
        predicted_band(weights_vp(model, "act", x=x, ax=axes[1], title="Activations"), mean, std)
    else:
        weights_vp(model, "act", x=x, ax=axes[1], title="Activations")
    weights_vp(
        model, "grad", ax=axes[2], log=True, predicted=[g * grads[-1] for g in grad_rel], title="Gradients"
    )
    fig.suptitle(
        f"{depth} {activation} layers, {init} init: layer 1 gets {grads[0] / grads[-1]:.0e} of the last's"
    )
    return grads[0] / grads[-1], grad_rel[0]


def widget(x, y):
    """show_stack with menus for the activation and the init and a slider for the depth."""
    return widgets.interactive(
        show_stack,
        {"manual": True},
        activation=widgets.Dropdown(options=["sigmoid", "tanh", "relu"], value="sigmoid"),
        init=widgets.Dropdown(options=["default", "uniform"], value="default"),
        depth=widgets.IntSlider(value=10, min=1, max=30, continuous_update=False),
        x=widgets.fixed(x),
        y=widgets.fixed(y),
        seed=widgets.fixed(0),
    )


_PROBED = {}  # (activation, depth, seeds) -> (x, y, stats): the probes of one set of nets, made once


def probed_stacks(activation, x, y, seeds=100, depth=10):
    """One probe per seed of the default-init stack: 'factor' (seeds,), 'rows', 'centred' (seeds, depth).

    factor: geometric-mean factor by which the weight-gradient std shrinks per hidden layer going back;
    rows: share of the rows of each layer's weight gradient delta_l^T h_(l-1) that have one sign (layers
    2..depth+1); centred: the same with each unit's batch mean taken out of h_(l-1) (the control).
    Cached per (activation, depth, seeds) and the very tensors x and y, so that per_layer_factor and
    one_sign_rows share the probes of one set of nets.
    """
    key = (activation, depth, seeds)
    if key in _PROBED and _PROBED[key][0] is x and _PROBED[key][1] is y:
        return _PROBED[key][2]
    factor, rows, centred = [], [], []
    for seed in range(seeds):
        p = probe(make_stack(activation, "default", depth, seed=seed), x, y, "cross_entropy")
        g = torch.tensor([t.std().item() for t in p.weight_grads])
        factor.append((g[2:depth] / g[1 : depth - 1]).log().mean().exp().item())  # hidden layers 2..depth
        for out, centre in ((rows, False), (centred, True)):
            hs = [h - h.mean(0) if centre else h for h in p.inputs[1:]]  # layers 2..depth+1
            grads = [d.T @ h for d, h in zip(p.output_grads[1:], hs)]  # (n_out, n_in) each
            out.append([((g > 0).all(1) | (g < 0).all(1)).float().mean().item() for g in grads])
    stats = {"factor": torch.tensor(factor), "rows": torch.tensor(rows), "centred": torch.tensor(centred)}
    _PROBED[key] = (x, y, stats)
    return stats


def per_layer_factor(activation, init, depth, x, y, seeds=100):
    """(seeds,) geometric-mean factor by which the weight-gradient std shrinks per hidden layer going back."""
    if init == "default":
        return probed_stacks(activation, x, y, seeds, depth)["factor"]
    out = []
    for seed in range(seeds):
        g = torch.tensor(
            summary(probe(make_stack(activation, init, depth, seed=seed), x, y, "cross_entropy"))["grad_std"]
        )
        out.append((g[2:depth] / g[1 : depth - 1]).log().mean().exp().item())  # hidden layers 2..depth
    return torch.tensor(out)


def one_sign_rows(activation, x, y, seeds=100, depth=10, centred=False):
    """(seeds, depth) share of the rows of each layer's weight gradient delta_l^T h_(l-1) that have one sign.

    centred=True is the control: each unit's batch mean is taken out of h_(l-1) before the product.
    """
    return probed_stacks(activation, x, y, seeds, depth)["centred" if centred else "rows"]


def sample_spread(activation, x, depth=10, seed=0):
    """(depth,) per hidden layer: each unit's output std across the samples of x over its mean |output|."""
    p = probe(make_stack(activation, "default", depth, seed=seed), x)
    return torch.tensor([(h.std(0).mean() / h.abs().mean()).item() for h in p.inputs[1:]])


def tanh_stack(scale, depth=10, width=500, samples=200, seed=0):
    """(x, weights): inputs (samples, width) and `depth` weight matrices N(0, scale^2) of a tanh stack.

    scale 'xavier' is Xavier normal, std 1/sqrt(width) for these square layers.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, width, generator=g)
    std = width**-0.5 if scale == "xavier" else scale
    return x, [torch.randn(width, width, generator=g) * std for _ in range(depth)]


def tanh_acts(scale, depth=10, width=500, samples=200, seed=0):
    """(depth, samples * width) outputs of each layer of the bias-free tanh stack of tanh_stack."""
    h, weights = tanh_stack(scale, depth, width, samples, seed)
    acts = []
    for w in weights:
        h = torch.tanh(h @ w)  # (samples, width)
        acts.append(h.flatten())
    return torch.stack(acts)


def tanh_grad_stds(scale, depth=10, width=500, samples=200, seed=0):
    """(depth,) weight-gradient std per layer of tanh_stack's net, for a fixed random readout of its top."""
    h, weights = tanh_stack(scale, depth, width, samples, seed)
    weights = [w.requires_grad_() for w in weights]
    for w in weights:
        h = torch.tanh(h @ w)
    readout = torch.randn(h.shape, generator=torch.Generator().manual_seed(seed + 1))  # (samples, width)
    grads = torch.autograd.grad((h * readout).sum() / samples, weights)
    return torch.tensor([g.std().item() for g in grads])


def tanh_steps(scale, depth=10, width=500, samples=200, seed=0):
    """Per step back, geometric mean over the layers: the factor on rms(delta_l) and on rms(h_(l-1)).

    delta_l is the gradient at z_l for tanh_grad_stds's read-out; h_(l-1) is what layer l receives.
    """
    h, weights = tanh_stack(scale, depth, width, samples, seed)
    weights = [w.requires_grad_() for w in weights]
    hs, zs = [], []
    for w in weights:
        hs.append(h)
        zs.append(h @ w)
        h = torch.tanh(zs[-1])
    readout = torch.randn(h.shape, generator=torch.Generator().manual_seed(seed + 1))
    deltas = torch.autograd.grad((h * readout).sum() / samples, zs)
    d, a = (torch.stack([t.detach().pow(2).mean().sqrt() for t in ts]) for ts in (deltas, hs))
    return (d[:-1] / d[1:]).log().mean().exp().item(), (a[:-1] / a[1:]).log().mean().exp().item()


def init_ratio(activation, depth, x, y, seeds=20):
    """Median over seeds of layer 1's weight-gradient std over the last layer's, at initialisation."""
    r = [layer_grad_stds(make_stack(activation, "default", depth, seed=s), x, y) for s in range(seeds)]
    return torch.tensor([g[0] / g[-1] for g in r]).median().item()


def show_saturation(scales=(0.01, "xavier", 1.0), depth=10, width=500, samples=200):
    """One panel per weight scale: per-layer violins of a deep tanh net's outputs (CS231n's histograms).

    Returns {scale: (depth, samples * width) outputs}.
    """
    fig, axes = panels(len(scales), height=3.8)
    acts = {s: tanh_acts(s, depth, width, samples) for s in scales}
    for ax, (scale, a) in zip(axes, acts.items()):
        parts = ax.violinplot(list(a[:, :SHOWN].numpy()), range(1, depth + 1), showextrema=False)
        for body in parts["bodies"]:
            body.set(facecolor=color("tanh"), edgecolor=color("tanh"), alpha=0.6)
        name = {0.01: "std 0.01: dies", "xavier": "Xavier (1/√n): lives", 1.0: "std 1: saturates"}.get(
            scale, scale
        )
        ax.set(xlabel="layer", title=name, ylim=(-1.1, 1.1), xticks=range(1, depth + 1, 3))
    axes[0].set_ylabel("tanh output")
    fig.suptitle("10 tanh layers of 500 units: only the middle scale keeps a spread signal")
    return acts


SHOWN = 10_000  # values per violin: its outline is smooth by then, and drawing stays fast
DIGIT_FAMILIES = {"sigmoid, default init": ("sigmoid", "default"), "relu, default init": ("relu", "default")}


def depth_sweep(data, families=DIGIT_FAMILIES, depths=(1, 2, 3, 4, 6, 8, 12), seeds=20, keep=(), lr=0.2):
    """{family: (seeds, depths) test accuracy after 5 epochs (NaN: diverged)}, and the runs of `keep` depths.

    SGD (lr 0.2 unless given), momentum 0.9, batches of 128, cross-entropy; seed s draws run s's weights
    and batch order.
    """
    sweep, runs = {}, {}
    for name, (act, init) in families.items():
        acc = []
        for depth in depths:
            run = train_many(
                [make_stack(act, init, depth, seed=s) for s in range(seeds)],
                data,
                seed=list(range(seeds)),
                epochs=5,
                lr=lr,
                momentum=0.9,
                loss="cross_entropy",
                batch_size=128,
            )
            acc.append(run.test_acc[:, -1])
            if depth in keep:
                runs[name, depth] = run
        sweep[name] = torch.stack(acc, 1)
    return sweep, runs


def depth_pairs(data, plan, seeds=20):
    """depth_sweep at each family's own depths: {family: (seeds, its depths)}, {(family, depth): run}.

    plan maps a family of DIGIT_FAMILIES to its depths, e.g. {"sigmoid, default init": (2, 3)}; every run
    is kept. A run is the one depth_sweep would train at that depth (same seeds, same batches).
    """
    sweep, runs = {}, {}
    for name, depths in plan.items():
        acc, kept = depth_sweep(data, {name: DIGIT_FAMILIES[name]}, depths, seeds, keep=depths)
        sweep.update(acc)
        runs.update(kept)
    return sweep, runs


def plot_sweep(sweep, depths, ax=None):
    """Share of seeds above 50 % test accuracy against depth, one line per family."""
    fig, ax = panels(1) if ax is None else (None, ax)
    for name, acc in sweep.items():
        ax.plot(
            depths, (acc > 0.5).float().mean(0), "o-", lw=2.5, color=color(name.split(",")[0]), label=name
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(depths, [str(d) for d in depths])
    n = len(next(iter(sweep.values())))
    ax.set(
        xlabel="hidden layers",
        ylabel=f"share of {n} seeds above 50 %",
        title="Sigmoid fails first, ReLU later",
    )
    ax.legend()
    return ax


def share(k, n):
    """k of n seeds in words, at the precision 20 seeds and float rounding across CPUs support."""
    f = k / n
    return "all" if f == 1 else "most" if f >= 0.6 else "half" if f > 0.4 else "some" if f > 0.1 else "few"


def final_losses(runs, family, depths):
    """(seeds, depths) final training loss of depth_sweep's kept runs of one family (NaN: diverged)."""
    return torch.stack([runs[family, d].train_loss[:, -1] for d in depths], 1)


def deepest_working(acc, depths):
    """The largest depth up to which more than half of the seeds reach a test accuracy above 50 %."""
    ok = ((acc > 0.5).float().mean(0) > 0.5).tolist()
    return depths[ok.index(False) - 1] if False in ok else depths[-1]


# ---- the deep dive ----------------------------------------------------------------------------------------


def plot_slopes(ax=None):
    """sigmoid' and tanh' on [-8, 8] in float64, log scale; returns {name: (slope at 0, 4, 8)}."""
    x = torch.tensor([0.0, 4.0, 8.0], dtype=torch.float64)
    grid = torch.linspace(-8, 8, 1601, dtype=torch.float64)  # float64: tanh'(8) = 4.5e-07 keeps its digits
    fig, ax = panels(1) if ax is None else (None, ax)
    out = {}
    for name in ("sigmoid", "tanh"):
        d = theory.derivative(name)
        ax.plot(grid, d(grid), lw=2.5, color=color(name), label=f"{name}'")
        out[name] = d(x).tolist()
    ax.set(
        yscale="log",
        xlabel="x",
        ylabel="slope (log scale)",
        title="Slopes peak at 1/4 and 1, vanish in the tails",
    )
    ax.legend()
    return out


def lecture_runs(data, activation, hiddens=(1, 2, 3, 4), seeds=100, lr=0.03, epochs=20):
    """{hidden: ManyHistory} of the lecture's nets (width 4) on its regression data, SGD, batches of 10."""
    from helpers.models import lecture_net

    return {
        h: train_many(
            lambda h=h: lecture_net(activation, hidden=h), data, seeds=range(seeds), epochs=epochs, lr=lr
        )
        for h in hiddens
    }


def init_grad_stds(factory, x, y, seeds=100, loss="mse"):
    """(seeds, layers) weight-gradient std per layer at initialisation, seed s for net s."""
    out = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        out.append(summary(probe(factory(), x, y, loss))["grad_std"])
    return torch.tensor(out)


def largest_rise(run):
    """(seeds,) the largest rise of the test loss from one epoch to the next."""
    return run.test_loss.diff(dim=1).max(1).values


def watch(activation, data, seed=0, epochs=30, lr=0.1, batch_size=32, optimizer=torch.optim.SGD):
    """Train a 2-16-16-16-16-2 MLP (SGD unless given): (epochs, 5) mean weight-gradient std, test accuracy."""
    torch.manual_seed(seed)
    model = mlp([2, 16, 16, 16, 16, 2], activation)
    layers = [m for m in model if isinstance(m, nn.Linear)]
    opt = optimizer(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)  # the batch order
    stds = torch.zeros(epochs, len(layers))  # (epochs, layers)
    for epoch in range(epochs):
        batches = torch.randperm(len(data.x_train), generator=g).split(batch_size)
        for idx in batches:
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            stds[epoch] += torch.stack([m.weight.grad.std() for m in layers]) / len(batches)
            opt.step()
    with torch.no_grad():
        accuracy = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    return stds, accuracy


def plot_watch(watched, ax=None):
    """Layer-1 and layer-5 gradient std per epoch for each activation (log scale)."""
    fig, ax = panels(1) if ax is None else (None, ax)
    for act, (stds, _) in watched.items():
        epochs = range(1, len(stds) + 1)
        ax.plot(epochs, stds[:, -1], lw=2.5, color=color(act), label=f"{act}: layer 5")
        ax.plot(epochs, stds[:, 0], lw=2.5, ls="--", color=color(act), label=f"{act}: layer 1")
    ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel="weight-gradient std",
        title="Sigmoid's first layer gets almost nothing",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def dead_share(model, x):
    """Share of the last hidden layer's units that output 0 on every row of x."""
    with torch.no_grad():
        return (model[:-1](x) == 0).all(0).float().mean().item()


def grad_norm(model, x, y):
    """Norm of the whole gradient (every parameter) of the cross-entropy of (x, y)."""
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()


def large_relu_report(data, depths=(6, 8, 12), seeds=20):
    """Per depth, for ReLU stacks with U(+-0.5) weights: median gradient norm at init (and the default's),
    median dead share of the last hidden layer at init and after 5 epochs, and how many seeds hit NaN."""
    x, y = data.x_train, data.y_train
    _, runs = depth_sweep(data, {"big": ("relu", "uniform")}, depths, seeds, keep=depths)
    report = {}
    for depth in depths:
        nets = {
            init: [make_stack("relu", init, depth, seed=s) for s in range(seeds)]
            for init in ("uniform", "default")
        }
        run = runs["big", depth]
        alive = [i for i, epoch in enumerate(run.diverged_at) if epoch is None]
        report[depth] = {
            "norm": torch.tensor([grad_norm(n, x, y) for n in nets["uniform"]]).median().item(),
            "norm_default": torch.tensor([grad_norm(n, x, y) for n in nets["default"]]).median().item(),
            "dead_init": torch.tensor([dead_share(n, x) for n in nets["uniform"]]),  # (seeds,)
            "dead_after": torch.tensor([dead_share(run.model(i), x) for i in alive]),  # (alive,)
            "nan": seeds - len(alive),
        }
    return report


def describe_rises(rise, threshold=5):
    """One line per run family: the median largest one-epoch rise and how many seeds rose above threshold.

    A median from 3 to 5 and a count of 20 to 40 (of 100) are printed as those ranges: they move with float
    rounding from one CPU's code path to another's.
    """
    lines = []
    for name, r in rise.items():
        m, k = r.median().item(), int((r > threshold).sum())
        med = "between 3 and 5" if 3 < m < 5 else f"{m:.1f}"
        count = "a fifth to two fifths" if 20 <= k <= 40 else f"{k} of {len(r)}"
        lines.append(f"{name:21s} median largest one-epoch rise {med}; a rise above {threshold} in {count}")
    return "\n".join(lines)
