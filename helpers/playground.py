"""The playground: every knob of the series, a network at init beside the theory, training on request."""

import base64
import io
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from helpers import theory
from helpers.data import lecture_split
from helpers.init import init_weights, predicted_stds
from helpers.many import train_many
from helpers.models import mlp
from helpers.plots import loss_curves, spread, weights_vp
from helpers.stats import probe
from helpers.train import History, train

ACTIVATIONS = {"ReLU": "relu", "leaky ReLU": "leaky_relu", "ELU": "elu", "tanh": "tanh", "sigmoid": "sigmoid"}
ACTIVATIONS["linear (none)"] = "identity"
SCHEMES = {"torch default": "default", "Xavier normal": "xavier_normal", "Xavier uniform": "xavier_uniform"}
SCHEMES |= {"He normal": "kaiming_normal", "He uniform": "kaiming_uniform", "N(0, 1)": "normal"}
SCHEMES["orthogonal"] = "orthogonal"  # Saxe et al. (2014)
NET = {"activation": "tanh", "scheme": "default", "gain": 1.0, "depth": 10, "width": 64, "seed": 0}
DEFAULTS = NET | {"epochs": 5, "lr": 0.003}  # the app starts from tanh with torch's default init
OVERFLOW = (
    "This network explodes: its signals overflow even in double precision (beyond 1e308). Lower the gain."
)
INIT_SIZE, TRAIN_SIZE = (10, 4.2), (10, 3.2)  # inches: the notebook's width


@dataclass
class Init:
    """One network at initialisation on the training inputs; lists have one entry per Linear layer."""

    model: torch.nn.Sequential  # in double precision, its weights' .grad filled by one backward pass
    x: torch.Tensor  # the training inputs, (700, 2)
    act: list  # measured RMS of each layer's nonzero outputs (after the activation; the output layer's z)
    act_pred: list  # the same, predicted by the mean-field recursion (helpers.theory)
    grad: list  # measured RMS of each layer's nonzero weight gradients
    grad_pred: list  # the same, predicted by the backward recursion, anchored at the output layer

    @property
    def finite(self):
        """False when a value overflowed even in double precision (a network that explodes)."""
        return all(math.isfinite(v) for v in self.act + self.act_pred + self.grad + self.grad_pred)


def build(activation="tanh", scheme="default", gain=1.0, depth=10, width=64, seed=0):
    """The lecture's net 2 -> width x depth -> 1 drawn by scheme, weights times gain; (model, weight stds)."""
    torch.manual_seed(seed)
    model = mlp([2] + [width] * depth + [1], activation)
    kwargs = {"nonlinearity": "leaky_relu", "a": 0.01} if activation == "leaky_relu" else {}
    init_weights(model, scheme, **kwargs)
    with torch.no_grad():
        for m in model[::2]:  # the Linear layers
            m.weight.mul_(gain)
    return model, [gain * s for s in predicted_stds(model, scheme, **kwargs)]


def rms(t):
    """Root mean square of the nonzero entries: what a log-scale violin shows."""
    n = int(t.count_nonzero())  # the zeros add nothing to the sum of squares: no need to drop them
    return math.sqrt(t.pow(2).sum().item() / n) if n else 0.0


def predicted(model, stds, activation):
    """Mean-field RMS per layer of the nonzero outputs, and of the weight gradients over the output's."""
    fan_in = [m.in_features for m in model[::2]]
    sw2 = [n * s**2 for n, s in zip(fan_in, stds)]  # sigma_w^2 = fan_in * Var(w), per layer
    b2 = [1 / (3 * n) for n in fan_in]  # torch's bias U(+-1/sqrt(fan_in)) has variance 1/(3 fan_in)
    depth, f = len(stds) - 1, theory.phi(activation)
    q1 = sw2[0] * 1.0 + b2[0]  # layer 1's pre-activations; the inputs have E[x^2] = 1
    q = (
        theory.forward_variances(q1, depth - 1, sw2[1], b2[1], activation)
        if depth > 1
        else torch.tensor([q1], dtype=torch.float64)
    )
    second = theory.variance_map(q, 1.0, 0.0, activation)  # (depth,) E[phi(z)^2] of each hidden layer
    nonzero = theory.gauss_expect(lambda z: (f(z) != 0).double(), q)  # ReLU's exact zeros are not drawn
    q_out = theory.variance_map(q[-1].item(), sw2[-1], b2[-1], activation)
    act = (second / nonzero).sqrt().tolist() + [math.sqrt(q_out)]
    # E[(dL/dz)^2] per unit: chi per hidden layer down from the top one, which gets the single output's
    delta = theory.gradient_variances(q1, depth, sw2[min(1, depth)], b2[-1], activation)  # (depth,)
    delta = torch.cat(
        [
            delta * theory.chi(q[-1].item(), sw2[-1], activation) / fan_in[-1],
            torch.ones(1, dtype=torch.float64),
        ]
    )
    inputs = torch.cat([torch.ones(1, dtype=torch.float64), second])  # E[a^2] of what enters each layer
    grad = (delta * inputs).sqrt()  # dL/dW = dL/dz times the layer's input
    return act, (grad / grad[-1]).tolist()


def measure(activation="tanh", scheme="default", gain=1.0, depth=10, width=64, seed=0, data=None):
    """The network of these settings at initialisation, in double precision: measured and predicted RMS."""
    data = data or lecture_split()
    model, stds = build(activation, scheme, gain, depth, width, seed)
    model, x, y = model.double(), data.x_train.double(), data.y_train.double()
    p = probe(model, x, y)  # one forward and backward pass over the training set
    for m, g in zip(model[::2], p.weight_grads):
        m.weight.grad = g  # what weights_vp(att="grad") reads
    act, grad = [rms(a) for a in p.acts], [rms(g) for g in p.weight_grads]
    act_pred, grad_rel = predicted(model, stds, activation)
    return Init(model, x, act, act_pred, grad, [r * grad[-1] for r in grad_rel])


def times(r):
    """A ratio for a title, to 2 significant digits: 3.2, 450, 88,000, or a power of ten beyond that."""
    return f"{float(f'{r:.2g}'):,g}" if r < 1e5 else f"$10^{{{math.log10(r):.0f}}}$"


def titles(init):
    """Titles that state what the two panels show: how activations and gradients change through depth."""
    depth = len(init.act) - 1
    first, last = init.act[0], init.act[depth - 1]  # the first and the last hidden layer
    act = f"Activations keep their size from layer 1 to {depth}"
    if depth == 1:
        act = f"One hidden layer: activation RMS {first:.2g}"
    elif min(first, last) == 0:
        act = "A hidden layer is dead: all its outputs are exactly 0"
    elif not 0.5 <= last / first <= 2:
        size = f"{'shrink' if last < first else 'grow'} {times(max(last / first, first / last))}x"
        act = f"Activations {size} by layer {depth}"
    # layer 1 against the last hidden layer (the output layer, a single unit, only when there is no other)
    first, last = init.grad[0], init.grad[max(depth - 1, 1)]
    other = f"layer {depth}'s" if depth > 1 else "the output's"
    grad = f"Layer 1's gradient matches {other}"
    if min(first, last) == 0:
        grad = "Some weights get no gradient at all"
    elif not 0.5 <= first / last <= 2:
        size = "below" if first < last else "above"
        grad = f"Layer 1's gradient {times(max(last / first, first / last))}x {size} {other}"
    return act, grad


def draw_init(init, axes=None):
    """Violins of each layer's activations and weight gradients (log scale), measured and predicted.

    The black bar is the median of log10 |value|, which sits below log10 of the RMS; the hollow circle is the
    measured RMS, the one to compare with the predicted RMS (red diamond). The last layer is labelled 'out'.
    """
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=INIT_SIZE)[1]
    act, grad = titles(init)
    weights_vp(init.model, "act", x=init.x, ax=axes[0], log=True, predicted=init.act_pred, title=act)
    weights_vp(init.model, "grad", ax=axes[1], log=True, predicted=init.grad_pred, title=grad)
    n = len(init.act)
    for ax, measured in zip(axes, (init.act, init.grad)):
        shown = [int(t) for t in ax.get_xticks() if 1 <= t <= n and t == int(t)]
        logs = [math.log10(measured[i - 1]) if measured[i - 1] > 0 else math.nan for i in shown]
        ax.scatter(shown, logs, marker="o", s=30, facecolors="none", edgecolors="black", zorder=4)
        ax.collections[-1].set_label("measured RMS")
        ax.plot([], [], color="black", lw=1, label="median of log10 |value|")
        ax.get_legend().remove()
        for c in ax.collections:
            c.set_label(c.get_label().replace("predicted std", "predicted RMS"))
        ax.legend(loc="upper right")
        ticks, names = ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()]
        if len(ticks) and ticks[-1] == n:
            ax.set_xticks(ticks, names[:-1] + ["out"])
    return axes


def describe(init):
    """Two lines of the numbers behind the picture: first and last hidden layers, measured and predicted."""
    d = len(init.act) - 1
    act, pred, grad, g_pred = init.act, init.act_pred, init.grad, init.grad_pred
    return (
        f"activation RMS: layer 1 {act[0]:.2g} (predicted {pred[0]:.2g}), "
        f"layer {d} {act[d - 1]:.2g} (predicted {pred[d - 1]:.2g})\n"
        f"weight-gradient RMS: layer 1 {grad[0]:.2g} (predicted {g_pred[0]:.2g}), "
        f"layer {d} {grad[d - 1]:.2g} (predicted {g_pred[d - 1]:.2g}), output layer {grad[-1]:.2g}"
    )


def training(
    activation="tanh", scheme="default", gain=1.0, depth=10, width=64, seed=0, epochs=5, lr=0.003, data=None
):
    """Train the network of these settings with SGD (batches of 10) epoch by epoch; yields its History."""
    data = data or lecture_split()
    model, _ = build(activation, scheme, gain, depth, width, seed)
    hist = History(name="test MSE")
    for epoch in range(1, epochs + 1):
        run = train(model, data, epochs=1, lr=lr, seed=1000 * seed + epoch - 1, verbose=False)
        hist.test_loss += run.test_loss
        if run.diverged:
            hist.diverged_at = epoch
        yield hist
        if run.diverged:
            return


def train_copy(**settings):
    """The History of a whole training run of these settings (see training)."""
    last = deque(training(**settings), maxlen=1)
    return last[0] if last else History(name="test MSE")


def train_seeds(seeds=range(20), epochs=5, lr=0.003, data=None, **net):
    """One copy of the network of these settings per seed, trained side by side (train_many); ManyHistory.

    Its extra field init_loss, (seeds,), is each net's test MSE before training (epoch 0 of draw_seeds).
    """
    data = data or lecture_split()
    models = [build(**(NET | net | {"seed": s}))[0] for s in seeds]
    with torch.no_grad():
        init = [(m(data.x_test) - data.y_test).pow(2).mean().item() for m in models]
    runs = train_many(models, data, epochs=epochs, lr=lr, seed=list(seeds))
    runs.init_loss = torch.tensor(init)
    return runs


def draw_seeds(runs, constant, ax=None):
    """Median test MSE per epoch from epoch 0 (init), quartiles over seeds; the title says who learns."""
    ax = ax if ax is not None else plt.subplots(figsize=TRAIN_SIZE)[1]
    ax.axhline(constant, color="grey", ls=(0, (2, 3)), lw=1, label="predicts a constant", zorder=1)
    for label, run in runs.items():  # a label naming a scheme ('torch default') takes its colour
        loss, first = run.test_loss, getattr(run, "init_loss", None)
        loss = torch.cat([first[:, None], loss], 1) if first is not None else loss
        start = 0 if first is not None else 1
        band = f"{label}: quartiles over {len(loss)} seeds"
        spread(range(start, start + loss.shape[1]), loss, ax=ax, label=label, log=True, band_label=band)
        ax.lines[-1].set(lw=2.5, marker="o", ms=4, zorder=3)
        [legend] = [c for c in ax.collections if c.get_gid() == "band legend" and c.get_label() == band]
        legend.set(facecolor=ax.lines[-1].get_color(), alpha=0.3)  # each band's own colour in the legend
    learns = [k for k, r in runs.items() if r.test_loss[:, -1].median() < 0.9 * constant]
    stuck = [k for k in runs if k not in learns]
    parts = [f"{' and '.join(learns)} nets learn"] if learns else []
    parts += [f"{' and '.join(stuck)} nets stay at a constant"] if stuck else []
    seeds = len(next(iter(runs.values())).test_loss)
    title = "; ".join(parts) + f" ({seeds} seeds)"
    ax.set(title=title[:1].upper() + title[1:], xlabel="epoch", ylabel="test MSE (log scale)")
    ax.set_ylim(min(0.3, 0.8 * float(min(r.test_loss.min() for r in runs.values()))), 50)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return ax


def draw_training(hist, epochs, constant, ax=None):
    """Test MSE per epoch (log scale) beside a constant prediction's level; the title says how it went."""
    ax = ax if ax is not None else plt.subplots(figsize=TRAIN_SIZE)[1]
    if hist.test_loss:
        loss_curves([hist], ax=ax, log=True, constant=constant)
    last, done = (hist.test_loss or [float("nan")])[-1], len(hist.test_loss)
    if hist.diverged:
        title = f"Training diverged in epoch {hist.diverged_at} (the loss overflowed)"
    elif done < epochs:
        title = f"Stopped after {done} of {epochs} epochs: test MSE {last:.2g}"
    elif last > 0.9 * constant:
        title = f"Stuck: test MSE {last:.2g} after {epochs} epochs, no better than a constant"
    else:
        title = f"Learns: test MSE {last:.2g} after {epochs} epochs (a constant scores {constant:.2g})"
    losses = hist.test_loss or [constant]
    ax.set(title=title, xlabel="epoch", ylabel="test MSE (log scale)", xlim=(0.5, max(epochs, 1) + 0.5))
    ax.set_ylim(min(0.3, 0.8 * min(losses)), max(50, 1.25 * max(losses)))  # one scale for most settings
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    return ax


def png(fig):
    """A figure as a display_data output for an Output widget (rendered here, so any thread may call it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    data = {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": repr(fig)}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def text(s):
    return {"output_type": "stream", "name": "stdout", "text": s + "\n"}


def status(hist, epochs, seconds):
    """The status line during a run: the epoch, its test MSE, the time taken and the time still to go."""
    done = len(hist.test_loss)
    left = seconds / done * (epochs - done)
    loss = hist.test_loss[-1]
    return f"epoch {done} of {epochs}: test MSE {loss:.2g} ({seconds:.0f} s, about {left:.0f} s to go)"


def controls():
    """The app's controls, by setting name; sliders act when let go."""
    box = {"layout": widgets.Layout(width="350px"), "style": {"description_width": "110px"}}
    slide = {"continuous_update": False, **box}
    lrs = [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]
    return {
        "activation": widgets.Dropdown(options=ACTIVATIONS, description="activation", **box),
        "scheme": widgets.Dropdown(options=SCHEMES, description="init scheme", **box),
        "gain": widgets.FloatSlider(min=0.25, max=3, step=0.05, description="gain", **slide),
        "depth": widgets.IntSlider(min=1, max=50, description="hidden layers", **slide),
        "width": widgets.SelectionSlider(
            options=[2, 4, 8, 16, 32, 64, 128, 256], description="width", **slide
        ),
        "seed": widgets.IntSlider(min=0, max=9, description="seed", **slide),
        "epochs": widgets.IntSlider(min=1, max=20, description="epochs", **slide),
        "lr": widgets.SelectionSlider(options=lrs, description="learning rate", **slide),
    }


@dataclass
class Run:
    """One training run of the app, as its thread and the widgets' callbacks share it."""

    cancel: threading.Event  # set to stop the run at the end of its current epoch
    discard: bool = False  # True once the settings changed: the run's result no longer belongs on screen


class Playground(widgets.VBox):
    """The app: controls, the picture at initialisation (redrawn on every change), training on request."""

    def __init__(self, data=None, **settings):
        self.data = data or lecture_split()
        self.constant = (self.data.y_test - self.data.y_train.mean()).pow(2).mean().item()
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"settings: expected some of {list(DEFAULTS)}, got {unknown}")
        self.controls = controls()
        for key, control in self.controls.items():
            control.value = (DEFAULTS | settings)[key]
            control.observe(self.changed, "value")
        self.train_button = widgets.Button(description="Train", icon="play", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(min=0, max=1, description="epochs")
        self.status = widgets.Label("Press Train to train a copy of this network.")
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.at_init, self.trained = widgets.Output(), widgets.Output()
        self.lock, self.run, self.thread = threading.Lock(), None, None  # the current run and its thread
        columns = widgets.Layout(grid_template_columns="repeat(3, 360px)")
        buttons = widgets.HBox([self.train_button, self.stop_button, self.progress, self.status])
        style = widgets.HTML(
            "<style>.playground .widget-label, .playground .widget-readout, .playground select,"
            " .playground button, .playground pre {font-size: 15px}</style>"
        )  # readable from the back of a lecture room
        grid = widgets.GridBox(list(self.controls.values()), layout=columns)
        super().__init__([style, grid, self.at_init, buttons, self.trained])
        self.add_class("playground")
        for widget, name in ((self.at_init, "init"), (self.trained, "training"), (self.status, "status")):
            widget.add_class(f"playground-{name}")  # for styles and the browser test
        self.redraw()

    def __repr__(self):  # what a notebook stores as text/plain and a static page shows
        return "Playground app (live in Jupyter or with `make playground`)"

    def settings(self, keys=DEFAULTS):
        return {k: self.controls[k].value for k in keys}

    def redraw(self):
        """Measure the network of the current settings at initialisation and draw it; returns the Init."""
        init = measure(**self.settings(NET), data=self.data)
        if not init.finite:
            self.at_init.outputs = (text(OVERFLOW),)
            return init
        fig = Figure(figsize=INIT_SIZE)
        draw_init(init, fig.subplots(1, 2))
        self.at_init.outputs = (png(fig), text(describe(init)))
        return init

    def changed(self, change):
        """A control moved: stop a run under way, clear the old training picture, redraw at initialisation."""
        self.stop(discard=True)
        self.redraw()

    def buttons(self, running, status):
        self.train_button.disabled, self.stop_button.disabled = running, not running
        self.status.value = status

    def start(self):
        """Train a copy of the current network in a background thread, so the widgets stay live."""
        self.stop(discard=True)
        settings, run = self.settings(), Run(threading.Event())
        with self.lock:
            self.run = run
            self.progress.max, self.progress.value = settings["epochs"], 0
            self.buttons(True, "Training...")
        self.thread = threading.Thread(target=self.train, args=(settings, run), daemon=True)
        self.thread.start()

    def stop(self, discard=False):
        """Stop a run under way at the end of its epoch; discard=True also clears the training picture."""
        with self.lock:
            if self.run is not None:
                self.run.cancel.set()
                self.run.discard |= discard
            if discard:
                self.trained.outputs, self.progress.value = (), 0
                self.buttons(False, "Press Train to train a copy of this network.")

    def train(self, settings, run):
        """The thread's work: train epoch by epoch, show the progress, stop when cancelled, draw the curve."""
        hist, start = History(name="test MSE"), time.monotonic()
        try:
            for hist in training(**settings, data=self.data):
                with self.lock:
                    if run.cancel.is_set():
                        break
                    self.progress.value = len(hist.test_loss)
                    self.status.value = status(hist, settings["epochs"], time.monotonic() - start)
            outputs = self.curve(hist, settings)
        except Exception as e:  # show it in the app rather than lose it in a thread
            outputs = (text(f"Training failed: {type(e).__name__}: {e}"),)
        with self.lock:
            if not run.discard:
                self.trained.outputs = outputs
                took = f"after {time.monotonic() - start:.0f} s."
                self.buttons(False, f"Stopped {took}" if run.cancel.is_set() else f"Done {took}")
            if self.run is run:
                self.run = None

    def curve(self, hist, settings):
        fig = Figure(figsize=TRAIN_SIZE)
        draw_training(hist, settings["epochs"], self.constant, fig.subplots())
        losses = " ".join(f"{v:.2g}" for v in hist.test_loss) or "none"
        done, epochs = len(hist.test_loss), settings["epochs"]
        stopped = f" (stopped after {done} of {epochs} epochs)" if done < epochs and not hist.diverged else ""
        return png(fig), text(f"test MSE by epoch (SGD, lr {settings['lr']}): {losses}{stopped}")


def app(data=None, **settings):
    """The playground app as a widget: display it, or leave it as a cell's last line."""
    return Playground(data, **settings)


def varying(acts):
    """Per layer, the share of the RMS that changes with the input: RMS(a - mean over inputs) / RMS(a)."""
    sizes = [rms(a) for a in acts]
    return [rms(a - a.mean(0)) / r if r else 0.0 for a, r in zip(acts, sizes)]


def per_example(p):
    """Per layer, the RMS of one example's weight gradient (mean over the examples of its mean square)."""
    out = []
    for a, d in zip(p.inputs, p.output_grads):  # d/dz of the batch mean: one example's is len(x) times it
        sq = (d * len(d)).pow(2).sum(1) * a.pow(2).sum(1) / (d.shape[1] * a.shape[1])
        out.append(sq.mean().sqrt().item())
    return out


def seeds_at_init(seeds=range(20), data=None, **net):
    """Over seeds, in double precision: ratios of the picture at init (last hidden layer d, layer 1).

    act: RMS of layer d over layer 1; varying / out_varying: the input-dependent share of layer d's / the
    output's RMS (see varying); grad, grad_example, grad_pred: layer 1's weight-gradient RMS over layer
    d's for the batch gradient, one example's, and the backward recursion's. Tensors of shape (seeds,).
    """
    data, rows, pred = data or lecture_split(), [], {}
    x, y = data.x_train.double(), data.y_train.double()
    for s in seeds:
        model, stds = build(**(NET | net | {"seed": s}))
        p = probe(model.double(), x, y)
        d = len(p.acts) - 2  # the last hidden layer, 0-based
        act, share = [rms(a) for a in p.acts], varying(p.acts)
        grad, ex = [rms(g) for g in p.weight_grads], per_example(p)
        if tuple(stds) not in pred:  # the recursion sees only the weight stds: the same for every seed
            pred[tuple(stds)] = predicted(model, stds, (NET | net)["activation"])[1]
        pred_s = pred[tuple(stds)]
        rows.append(
            [act[d] / act[0], share[d], share[-1], grad[0] / grad[d], ex[0] / ex[d], pred_s[0] / pred_s[d]]
        )
    keys = ["act", "varying", "out_varying", "grad", "grad_example", "grad_pred"]
    return dict(zip(keys, torch.tensor(rows, dtype=torch.float64).T))
