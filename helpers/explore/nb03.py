"""Lesson 03's machinery: lecture nets under several schemes side by side, gradient ratios, wide nets."""

import math

import ipywidgets as widgets
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from helpers.checks import check_positive_int, linear_layers
from helpers.init import init_weights, predicted_stds
from helpers.many import train_many
from helpers.models import lecture_net, mlp
from helpers.plots import PREDICTED, color, loss_curves, panels, spread, weights_vp
from helpers.stats import probe
from helpers.train import train

GAINS = [("1", 1.0), ("5/3 (tanh)", 5 / 3), ("sqrt 2 (relu)", math.sqrt(2)), ("4", 4.0), ("1/2", 0.5)]
SCHEMES = ["default", "xavier_uniform", "xavier_normal", "kaiming_uniform"]
LABELS = {"default": "default", "xavier_uniform": "Xavier uniform", "xavier_normal": "Xavier normal"}


MIXED = {"xavier_hidden": "Xavier on hidden layers only", "xavier_output": "Xavier on the output layer only"}
LABELS.update(MIXED)


def lecture_nets(activation, hidden, scheme, seeds, gain=1.0):
    """One lecture net per seed, its weights redrawn by `scheme`; the biases keep torch's draw of that seed,
    so the nets of one seed under different schemes share their biases. The controls "xavier_hidden" and
    "xavier_output" take Xavier uniform's weights in those layers and the default's in the others."""
    if scheme in MIXED:
        pairs = zip(
            *(lecture_nets(activation, hidden, s, seeds, gain) for s in ("default", "xavier_uniform"))
        )
        return [mix(d, x, scheme) for d, x in pairs]
    nets = []
    for s in seeds:
        torch.default_generator.manual_seed(s)  # torch.manual_seed's draws, without its costly CUDA hook
        nets.append(init_weights(lecture_net(activation, hidden), scheme, gain=gain))
    return nets


def pooled_stds(activation, hidden, scheme, draws=500, seed=0):
    """Per Linear layer, the std of its weights pooled over `draws` redraws of one lecture net by `scheme`
    (init_weights, the draw lecture_nets makes for each seed): (layers,)."""
    torch.default_generator.manual_seed(seed)
    net = lecture_net(activation, hidden)
    drawn = [[] for _ in linear_layers(net)]
    for _ in range(draws):
        for layer, pool in zip(linear_layers(init_weights(net, scheme)), drawn):
            pool.append(layer.weight.detach().flatten().clone())
    return torch.stack([torch.cat(pool).std() for pool in drawn])


def mix(default, xavier, scheme):
    """The Xavier net with the default's output weights ("xavier_hidden") or its hidden weights
    ("xavier_output")."""
    pairs = list(zip(linear_layers(default), linear_layers(xavier)))
    with torch.no_grad():
        for d, x in pairs[-1:] if scheme == "xavier_hidden" else pairs[:-1]:
            x.weight.copy_(d.weight)
    return xavier


def compare_schemes(data, activation, hidden, schemes, seeds=200, epochs=20, gain=1.0, track=False):
    """Train `seeds` lecture nets per scheme (SGD lr 0.03, batches of 10) in one train_many call; the nets of
    seed s see the batch order of seed s under every scheme, so seeds differ in init and in data order while
    the nets of one seed differ only in weights. (test MSE (scheme, seed, epoch), the ManyHistory)."""
    check_positive_int(seeds, "seeds")
    nets = [m for s in schemes for m in lecture_nets(activation, hidden, s, range(seeds), gain)]
    run = train_many(nets, data, epochs=epochs, lr=0.03, track=track, seed=list(range(seeds)) * len(schemes))
    return run.test_loss.view(len(schemes), seeds, epochs), run


def rms(t):
    """Root mean square of all entries: the Frobenius norm over sqrt(number of entries)."""
    return t.norm() / math.sqrt(t.numel())


def ratios(template, params, data):
    """(models,) r = RMS of the first layer's weight gradient (all its entries) over the last layer's, of the
    MSE on the whole training set, for every member of params (name -> (models, ...), as train_many keeps them
    and stack_module_state makes them), in one vectorised pass."""
    names = [n for n, m in template.named_modules() if isinstance(m, nn.Linear)]

    def loss(p):
        return nn.functional.mse_loss(functional_call(template, p, (data.x_train,)), data.y_train)

    g = vmap(grad(loss))({k: v.detach() for k, v in params.items()})
    first, last = (g[f"{n}.weight"].flatten(1).pow(2).mean(1).sqrt() for n in (names[0], names[-1]))
    return first / last


def short_run(data, schemes, seeds=200, epochs=5, activation="sigmoid", hidden=3):
    """r at init and after `epochs` epochs of compare_schemes' training, each (scheme, seed), and the test MSE
    (scheme, seed, epoch); the nets are drawn once for both."""
    nets = [m for s in schemes for m in lecture_nets(activation, hidden, s, range(seeds))]
    r0 = ratios(nets[0], stack_module_state(nets)[0], data).view(len(schemes), seeds)
    run = train_many(nets, data, epochs=epochs, lr=0.03, seed=list(range(seeds)) * len(schemes))
    r = ratios(run.template, run.params, data).view(len(schemes), seeds)
    return r0, r, run.test_loss.view(len(schemes), seeds, epochs)


def full_gradients(model, data):
    """model, its .grad filled with the gradient of the MSE over the whole training set."""
    model.zero_grad()
    nn.functional.mse_loss(model(data.x_train), data.y_train).backward()
    return model


def ratio_at_init(data, scheme, seeds=200, activation="sigmoid", hidden=3, bias=None):
    """(seeds,) r of freshly drawn lecture nets, before any training; bias=0.0 zeroes every bias first."""
    nets = lecture_nets(activation, hidden, scheme, range(seeds))
    params = stack_module_state(nets)[0]
    if bias is not None:
        params = {k: v.detach().fill_(bias) if k.endswith("bias") else v for k, v in params.items()}
    return ratios(nets[0], params, data)


def variance_gap(hidden=3, width=4):
    """Xavier's r over the default's predicted from the weights alone: sqrt of the ratio of the products of
    n_out * sigma^2 along the backward path from the output layer to layer 2 (slopes taken as equal)."""
    net = lecture_net("sigmoid", hidden)
    path = {s: 1.0 for s in ("default", "xavier_uniform")}
    for scheme in path:
        for layer, std in list(zip(net[::2], predicted_stds(net, scheme)))[1:]:
            path[scheme] *= layer.out_features * std**2
    return math.sqrt(path["xavier_uniform"] / path["default"])


def left_constant(loss, constant, level=0.9):
    """Share of seeds whose test MSE is below level x the constant-prediction MSE, (scheme, epoch)."""
    return (loss < level * constant).float().mean(dim=1)


def share_between(share, low, high):
    """'low % to high %' if low <= share <= high, else the share: a claim that reads the same on any CPU."""
    share, span = float(share), f"{100 * low:.0f} % to {100 * high:.0f} %"
    return span if low <= share <= high else f"{100 * share:.0f} %, outside {span}"


def plot_off_plateau(left, names, ax=None):
    """The share of seeds off the plateau per epoch, one line per scheme in `names` (the controls dashed and
    dotted in Xavier's colour)."""
    ax = ax if ax is not None else panels(1)[1]
    for i, name in enumerate(names):
        ls = ["--", ":"][list(MIXED).index(name)] if name in MIXED else "-"
        style = {"color": color("xavier_uniform" if name in MIXED else name), "ls": ls}
        ax.plot(range(1, left.shape[1] + 1), left[i], label=LABELS.get(name, name), **style)
    ax.set(xlabel="epoch", ylabel="share of seeds off the plateau", ylim=(0, 1))
    ax.set_title("Xavier nets leave the plateau, slowly")
    ax.legend()
    return ax


def wide_factors(activation, gain=1.0, width=256, hidden=10, seed=0):
    """Backward factors RMS(delta_l) / RMS(delta_l+1) of a wide Xavier-normal net (zero biases) at init,
    hidden layer 1 first, and the probe they come from (1000 standard-normal inputs, random targets)."""
    p = probe(*wide_net(activation, "xavier_normal", width, hidden, seed, gain))
    d = torch.stack([rms(g) for g in p.output_grads[:-1]])  # hidden layers only, first first
    return d[:-1] / d[1:], p


def plot_factors(factors, ax=None):
    """One line per (activation, gain): the backward factor of each hidden layer, 1 and 1/4 marked."""
    ax = ax if ax is not None else panels(1)[1]
    for (activation, gain), f in factors.items():
        label = f"{activation}, gain {gain:.3g}"
        style = {"ls": "--" if gain != 1 else "-", "color": color(activation)}
        ax.plot(range(1, len(f) + 1), f, marker="o", label=label, **style)
    ax.axhline(1.0, color="grey", lw=1.2)
    ax.axhline(0.25, color=PREDICTED, ls=":", lw=1.5, label="1/4, sigmoid's peak slope")
    ax.set(xlabel="hidden layer l", ylabel="RMS(δ of layer l) / RMS(δ of layer l+1)", ylim=(0, 1.3))
    ax.set_title("Per layer, sigmoid keeps about 1/4, tanh most")
    ax.legend(loc="center right")
    return ax


def plot_training(loss, ahead, constant, names, axes=None):
    """Left: median and quartiles of the test MSE per scheme; right: share of seeds with Xavier ahead."""
    axes = axes if axes is not None else panels(2)[1]
    epochs = range(1, loss.shape[2] + 1)
    for i, name in enumerate(names):
        spread(epochs, loss[i], ax=axes[0], label=LABELS.get(name, name))
    axes[0].axhline(constant, color="grey", ls="--", lw=1.2, label="predicts a constant")
    axes[0].set(xlabel="epoch", ylabel="test MSE", ylim=(0, 1.15 * constant))
    axes[0].set_title("Xavier starts faster")
    axes[0].legend()
    axes[1].plot(epochs, ahead, marker="o", color=color("xavier_uniform"), label="Xavier uniform ahead")
    axes[1].axhline(0.5, color="grey", ls="--", lw=1.2, label="a coin toss")
    axes[1].set(xlabel="epoch", ylabel="share of same-seed pairs", ylim=(0, 1))
    axes[1].set_title("Then the default catches up")
    axes[1].legend()
    return axes


def shrink_per_layer(model, x, y):
    """Geometric mean over neighbouring hidden layers of RMS(delta_l+1) / RMS(delta_l), one MSE backward."""
    d = torch.stack([rms(g) for g in probe(model, x, y).output_grads[:-1]])
    return (d[1:] / d[:-1]).log().mean().exp().item()


def wide_net(activation, scheme, width=256, hidden=10, seed=0, gain=1.0):
    """(model, x, y): a wide net with zero biases and `scheme` weights, 1000 standard-normal inputs x and
    random targets y."""
    torch.manual_seed(seed)
    x, y = torch.randn(1000, width), torch.randn(1000, width)
    model = init_weights(mlp([width] * (hidden + 2), activation), scheme, gain=gain, bias=0.0)
    return model, x, y


def explore(
    data, activation="sigmoid", hidden=3, scheme="xavier_uniform", gain=1.0, epochs=5, seed=0, progress=False
):
    """Train one lecture net from `seed` (SGD lr 0.03); draw it; return (r, final test MSE).

    r is the RMS of the first layer's weight gradient over the last layer's, on the whole training set. The
    gain applies to the Xavier schemes only (the default and kaiming_uniform ignore it: see the title).
    """
    check_positive_int(epochs, "epochs")
    torch.manual_seed(seed)
    gain = gain if scheme.startswith("xavier") else 1.0
    model = init_weights(lecture_net(activation, hidden), scheme, gain=gain)
    predicted = predicted_stds(model, scheme, gain=gain)
    _, axes = panels(3)
    weights_vp(
        model, "weight", ax=axes[0], predicted=predicted, band="bound", title=f"weights, gain {gain:.3g}"
    )
    history = train(model, data, epochs=epochs, lr=0.03, seed=0, verbose=False, progress=progress)
    stds = [rms(m.weight.grad).item() for m in full_gradients(model, data)[::2]]  # first to last layer
    weights_vp(model, "grad", ax=axes[1], log=True, title=f"gradients after {epochs} epochs")
    loss_curves([history], ax=axes[2], constant=data.constant_mse(), title="test MSE")
    axes[2].set_ylim(0, max(1.15 * data.constant_mse(), max(history.test_loss)))
    return stds[0] / stds[-1], history.test_loss[-1]


def show(data, **settings):
    """explore, then one line: r and the final test MSE."""
    r, final = explore(data, **settings)
    print(f"r = first / last layer gradient RMS = {r:.3g}; final test MSE {final:.3g}")


def widget(data):
    """show under controls for activation, depth, scheme, gain, epochs and seed (runs on a button)."""
    return widgets.interact_manual(
        show,
        data=widgets.fixed(data),
        activation=["sigmoid", "tanh", "relu"],
        hidden=widgets.IntSlider(3, 1, 8),
        scheme=SCHEMES,
        gain=GAINS,
        epochs=widgets.IntSlider(5, 1, 20),
        seed=widgets.IntSlider(0, 0, 50),
        progress=widgets.fixed(True),  # a bar while it trains (live sessions only)
    )


def lecture_shrink(data, scheme, seeds=100, hidden=4):
    """(seeds,) shrink per sigmoid layer of lecture nets at init, one backward pass on the training set."""
    nets = lecture_nets("sigmoid", hidden, scheme, range(seeds))
    return torch.tensor([shrink_per_layer(m, data.x_train, data.y_train) for m in nets])


def plot_same_size(losses, constant, names, axes=None):
    """One panel per activation ({activation: (scheme, seed, epoch)}): median and quartiles per scheme."""
    axes = axes if axes is not None else panels(len(losses), sharey=True)[1]
    for ax, (activation, loss) in zip(axes, losses.items()):
        epochs = range(1, loss.shape[2] + 1)
        for i, name in enumerate(names):
            spread(epochs, loss[i], ax=ax, label=LABELS.get(name, name))
        ax.axhline(constant, color="grey", ls="--", lw=1.2, label="predicts a constant")
        verdict = "trains" if loss[:, :, -1].median() < 0.9 * constant else "stuck under every init"
        ax.set(
            xlabel="epoch",
            ylabel="test MSE",
            ylim=(0, 1.15 * constant),
            title=f"{activation}, 4 layers: {verdict}",
        )
    axes[-1].legend()
    return axes


def init_signals(data, scheme, seeds=200, hidden=3):
    """At init, per seed: the mean of sigmoid'(z)^2 over the training set in each hidden layer (seed, hidden),
    and the spread of the last hidden layer, its std over the training inputs averaged over units (seed,)."""
    slopes, spread_last = [], []
    for m in lecture_nets("sigmoid", hidden, scheme, range(seeds)):
        p = probe(m, data.x_train)
        s = [torch.sigmoid(z) * (1 - torch.sigmoid(z)) for z in p.outputs[:-1]]
        slopes.append(torch.stack([v.pow(2).mean() for v in s]))
        spread_last.append(p.acts[-2].std(dim=0).mean())
    return torch.stack(slopes), torch.stack(spread_last)


def deltas(model, x, y):
    """(the MSE's gradient with respect to every Linear layer's output, first first; the last Linear layer's
    input): helpers.probe's output_grads and acts[-2], without computing the weight gradients."""
    outputs, last_input = [], []

    def record(module, args, out):
        outputs.append(out)
        last_input[:] = [args[0].detach()]

    handles = [m.register_forward_hook(record) for m in linear_layers(model)]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return torch.autograd.grad(nn.functional.mse_loss(out, y), outputs), last_input[0]


def mean_factors(activation, gain=1.0, seeds=5):
    """wide_factors averaged over `seeds` nets, (hidden - 1,); and, averaged over those nets, the share of the
    last hidden layer's outputs beyond +-0.9 and that layer's mean output."""
    runs = [deltas(*wide_net(activation, "xavier_normal", seed=s, gain=gain)) for s in range(seeds)]
    d = [torch.stack([rms(g) for g in grads[:-1]]) for grads, _ in runs]  # hidden layers only, first first
    factors = torch.stack([v[:-1] / v[1:] for v in d]).mean(0)
    beyond = sum((last.abs() > 0.9).float().mean().item() for _, last in runs) / seeds
    return factors, beyond, sum(last.mean().item() for _, last in runs) / seeds


def about(share, n):
    """A share of n seeds at the precision its standard error supports: 'under 5 %' or 'over 90 %' at the
    ends, else 'about X % of n (SE Y points)', X to the nearest 10 (the SE of a share of 200 is <= 3.5)."""
    se = 100 * math.sqrt(share * (1 - share) / n)
    if share < 0.05 or share > 0.9:
        return f"{'under 5' if share < 0.05 else 'over 90'} % of {n}"
    return f"about {10 * round(10 * share)} % of {n} (SE {se:.0f} points)"
