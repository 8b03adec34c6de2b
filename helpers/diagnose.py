"""The training clinic: record any training run layer by layer and name what is wrong, with the evidence.

A Recorder hooks every Linear/Conv layer of any nn.Module (and the activation module that runs after it),
whatever loop trains it: call rec.step(loss) after each optimizer step. Every `every` steps it keeps, per
layer, the activation spread, the dead (ReLU) and saturated (tanh, sigmoid) fractions, the weight-gradient
spread, the update-to-weight ratio std(dW)/std(W) (about 1e-3 is healthy: Karpathy, "Building makemore
part 3: activations & gradients, BatchNorm") and a histogram of the activations, which dashboard() draws
over time as fast.ai's "colorful dimension" (Practical Deep Learning part 2, lesson 16). verdict() names
the likely problem. The thresholds below were set on seeds 100-119 of the planted failures; the tests use
seeds 0-19.
"""

import math
import weakref
from collections import Counter
from dataclasses import dataclass, field

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import (
    check_choice,
    check_model_and_data,
    check_module,
    check_positive,
    check_positive_int,
    check_str,
    generator,
)
from helpers.data import digits, lecture_split, split
from helpers.models import mlp
from helpers.plots import STYLE
from helpers.stats import SATURATION, SLOPE
from helpers.train import batch_order, train

NAMES = (  # what a verdict can say, in the order the rules are tried: causes before their consequences
    "one badly initialised layer",
    "exploding gradients",
    "dead units",
    "saturation",
    "vanishing gradients",
    "learning rate too high",
    "learning rate too low",
    "healthy",
)
DEPTH = 100.0  # vanishing/exploding: a spread that shrinks or grows by over two decades across the depth
UPDATE_HIGH = 1e-2  # median std(dW)/std(W) a decade above Karpathy's healthy 1e-3: steps too large
UPDATE_LOW = 1e-4  # a decade below: steps too small (the median over the run, so converging late is fine)
DEAD = 0.5  # more than half of a layer's ReLU units zero on a whole batch
SATURATED = 0.5  # more than half of a layer's tanh/sigmoid outputs where the slope is < 5 % of its peak
RISE = 1.5  # mean loss of the last fifth of the steps half again that of the first (batch losses are noisy)
OUTLIER = 10.0  # one layer's gain std(W) * sqrt(fan_in) a decade off the median gain of the other layers
STATS = ("act_std", "dead", "saturated", "grad_std", "weight_std", "update_ratio")
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
KINDS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.LeakyReLU: "leaky_relu"}
KINDS |= {nn.ELU: "elu", nn.GELU: "gelu", nn.SiLU: "silu", nn.Softplus: "softplus"}
WATCHED = weakref.WeakKeyDictionary()  # layer -> the open Recorder whose hooks are on it


def watched_layers(model):
    """The Linear/Conv layers of model, in registration order; raises if none or if already watched."""
    check_module(model)
    layers = [m for m in model.modules() if isinstance(m, LAYERS)]
    if not layers:
        raise ValueError(
            f"model: expected at least one nn.Linear or nn.Conv layer in {type(model).__name__}, found none"
        )
    if any(m in WATCHED for m in layers):
        raise ValueError(
            "model: a Recorder is already attached to it; call close() on that one (or "
            "helpers.diagnose.detach(model)) first, or use `with Recorder(model) as rec:`"
        )
    return layers


def detach(model):
    """Close every Recorder attached to model's layers (e.g. one whose name was lost in a notebook)."""
    check_module(model)
    for rec in {WATCHED[m] for m in model.modules() if m in WATCHED}:
        rec.close()


class Recorder:
    """Per-layer statistics of a training run, from hooks; call step(loss) after every optimizer step.

    Every `every` steps (from step 0) the first forward pass with gradients on is recorded, its backward
    pass and the update that follows. Activations are read from activation modules (nn.ReLU, nn.Tanh, ...)
    that run right after a layer; a layer followed by a functional activation is read before it.
    """

    def __init__(self, model, every=10, bins=40):
        check_positive_int(every, "every")
        check_positive_int(bins, "bins")
        self.layers = watched_layers(model)
        self.activations = [m for m in model.modules() if type(m) in KINDS]
        self.every, self.bins = int(every), int(bins)
        self.kinds = [None] * len(self.layers)  # the activation after each layer, seen in the first record
        self.fan_in = [m.weight[0].numel() for m in self.layers]
        self.loss = []  # one float per step
        self.steps = []  # the step (from 0) of each record
        self.stats = {s: [] for s in STATS}  # stat -> per record -> one float per layer
        self.hists = []  # per record: (layers, bins) activation counts
        self.ranges = [None] * len(self.layers)  # each layer's histogram range, fixed at its first record
        self.count, self.recording, self.open, self.handles = 0, True, True, []
        for m in self.layers:
            WATCHED[m] = self
        self.reset()
        self.arm()

    def arm(self):
        """Register the forward, activation and gradient hooks (on record steps only: idle steps run bare)."""
        if self.handles or not self.open:
            return
        self.handles = [m.register_forward_hook(self.layer_hook(i)) for i, m in enumerate(self.layers)]
        self.handles += [
            m.register_forward_hook(self.activation_hook(KINDS[type(m)])) for m in self.activations
        ]
        grads = [(i, m.weight) for i, m in enumerate(self.layers) if m.weight.requires_grad]
        self.handles += [w.register_post_accumulate_grad_hook(self.grad_hook(i)) for i, w in grads]

    def disarm(self):
        """Remove the hooks until the next record step."""
        for h in self.handles:
            h.remove()
        self.handles = []

    def reset(self):
        """Forget the tensors of the step that just ended."""
        self.acts = [None] * len(self.layers)  # (tensor, activation) per layer
        self.before = [None] * len(self.layers)  # weights before this step's update
        self.grads = [None] * len(self.layers)  # 0-d std of the weight gradient
        self.last = None  # the layer an activation module would follow

    def live(self):
        return self.recording and torch.is_grad_enabled()

    def layer_hook(self, i):
        def hook(module, args, out):
            first = self.live() and self.acts[i] is None
            if first:
                self.acts[i] = (out.detach(), None)
                self.before[i] = module.weight.detach().clone()
            self.last = i if first else None

        return hook

    def activation_hook(self, kind):
        def hook(module, args, out):
            i = self.last
            if self.live() and i is not None and self.acts[i][1] is None:
                self.acts[i] = (out.detach(), kind)
            self.last = None

        return hook

    def grad_hook(self, i):
        def hook(weight):
            if self.recording and self.acts[i] is not None:
                self.grads[i] = weight.grad.detach().std()

        return hook

    def step(self, loss):
        """Log this step's loss (call after optimizer.step()); on a record step, keep the layer statistics."""
        value = loss_value(loss)
        if self.recording and any(a is not None for a in self.acts):
            self.commit()
        self.loss.append(value)
        self.count += 1
        self.recording = self.count % self.every == 0
        self.reset()
        self.arm() if self.recording else self.disarm()

    __call__ = step  # so that helpers.train(..., callbacks=[rec]) works

    @torch.no_grad()
    def commit(self):
        """Turn this step's tensors into one record of per-layer floats and histograms."""
        rows = [self.layer_stats(i) for i in range(len(self.layers))]  # (layers, stats)
        for s, column in zip(STATS, zip(*rows)):
            self.stats[s].append(list(column))
        self.hists.append(torch.stack([self.histogram(i) for i in range(len(self.layers))]))
        self.steps.append(self.count)

    def layer_stats(self, i):
        """This step's statistics of layer i, in the order of STATS (NaN where not measured)."""
        a, kind = self.acts[i] or (None, None)
        if a is not None and self.kinds[i] is None:
            self.kinds[i] = kind
        conv = not isinstance(self.layers[i], nn.Linear)
        before = self.before[i]
        w_std = before.std() if before is not None else None
        ratio = (self.layers[i].weight.detach() - before).std() / w_std if before is not None else None
        values = [
            a.float().std() if a is not None else None,
            dead_fraction(a, conv) if kind == "relu" else None,
            saturated_fraction(a, kind) if kind in SLOPE else None,
            self.grads[i],
            w_std,
            ratio,
        ]
        return [math.nan if v is None else float(v) for v in values]

    def histogram(self, i):
        """(bins,) counts of layer i's activations; values outside the layer's range pile up at its edges."""
        a, kind = self.acts[i] or (None, None)
        if a is None:
            return torch.zeros(self.bins)
        if self.ranges[i] is None:
            self.ranges[i] = histogram_range(a, kind)
        return histogram_counts(a, *self.ranges[i], self.bins)

    def stat(self, name):
        """One statistic as a tensor of shape (records, layers)."""
        check_choice(name, STATS, "name")
        check_recorded(self)
        return torch.tensor(self.stats[name], dtype=torch.float64)

    def verdict(self):
        """The likely problems of this run, with their evidence (see helpers.diagnose.verdict)."""
        return verdict(self)

    def dashboard(self, title=None):
        """One figure of this run (see helpers.diagnose.dashboard)."""
        return dashboard(self, title)

    def close(self):
        """Remove every hook for good; the records stay."""
        self.open = False
        self.disarm()
        for m in self.layers:
            if WATCHED.get(m) is self:
                del WATCHED[m]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def record_many(models, data, seeds, epochs=3, lr=0.005, every=6, batch_size=10):
    """One Recorder per model: N plain Sequential nets trained side by side by SGD on the MSE, model i on
    the batches of seeds[i], as `Recorder(model, every)` with helpers.train(model, data, epochs, lr,
    seed=seeds[i], batch_size) would record them, up to float rounding (one batched matrix product a layer
    rounds differently from N small ones). The models end trained; a run stops where its loss turns NaN/inf.
    Models of different architectures (e.g. ReLU and tanh) are trained in one batch per architecture.
    """
    models, seeds = check_many(models, seeds, data)
    check_positive_int(epochs, "epochs")
    check_positive(lr, "lr")
    check_positive_int(every, "every")
    check_positive_int(batch_size, "batch_size")
    groups = {}  # architecture -> indices of its models
    for i, m in enumerate(models):
        groups.setdefault(architecture(m), []).append(i)
    recs = [None] * len(models)
    for group in groups.values():
        done = record_batch(
            [models[i] for i in group], data, [seeds[i] for i in group], epochs, lr, every, batch_size
        )
        for i, rec in zip(group, done):
            recs[i] = rec
    return recs


def architecture(model):
    """The module types and parameter shapes of a model: what must match to train it in one batch."""
    return tuple(type(m) for m in model), tuple(p.shape for p in model.parameters())


def record_batch(models, data, seeds, epochs, lr, every, batch_size):
    """record_many for models of one architecture."""
    recs = [Recorder(m, every=every) for m in models]
    for rec in recs:
        rec.close()  # no hooks: the records are filled from the batched pass below
    mods = list(models[0])  # the layers and activation modules, in order
    linear = [k for k, m in enumerate(mods) if isinstance(m, nn.Linear)]
    after = [k + 1 if k + 1 < len(mods) and type(mods[k + 1]) in KINDS else k for k in linear]
    kinds = [KINDS.get(type(mods[k])) if k not in linear else None for k in after]
    for rec in recs:
        rec.kinds = list(kinds)
    params = [  # per Linear layer: weights (N, out, in) and biases (N, 1, out)
        [torch.stack([m[k].weight.detach() for m in models]).requires_grad_() for k in linear],
        [torch.stack([m[k].bias.detach()[None] for m in models]).requires_grad_() for k in linear],
    ]
    orders = [batch_order(len(data.x_train), batch_size, epochs, s) for s in seeds]
    running = torch.arange(len(models))  # the runs still going
    for epoch in range(epochs):
        for b in range(len(orders[0][epoch])):
            idx = torch.stack([orders[i][epoch][b] for i in running.tolist()])  # (runs, batch)
            outs = batched_forward(mods, params, running, data.x_train[idx])  # each (runs, batch, width)
            losses = (outs[-1] - data.y_train[idx]).pow(2).mean((1, 2))  # (runs,)
            losses.sum().backward()  # the runs are independent: each gets its own gradient
            recording = recs[running[0]].recording
            with torch.no_grad():
                if recording:
                    before = [w.detach()[running] for w in params[0]]  # (runs, out, in) copies
                    grads = [w.grad[running] for w in params[0]]
                for p in params[0] + params[1]:
                    p.index_add_(0, running, p.grad[running], alpha=-lr)
                    p.grad = None
                if recording:
                    acts = [outs[k].detach() for k in after]
                    batch_records(
                        [recs[i] for i in running.tolist()], acts, kinds, before, grads, params[0], running
                    )
            for i, value in zip(running.tolist(), losses.tolist()):
                recs[i].step(value)
            running = running[losses.isfinite()]
            if not len(running):
                break
        if len(running):
            running = running[finite_scores(mods, params, running, data)]
        if not len(running):
            break
    with torch.no_grad():
        for i, m in enumerate(models):
            for j, k in enumerate(linear):
                m[k].weight.copy_(params[0][j][i])
                m[k].bias.copy_(params[1][j][i, 0])
    return recs


def batched_forward(mods, params, running, x):
    """The output of every module for the runs still going, each (runs, batch, width); x (runs, batch, in)."""
    outs, h, j = [], x, 0
    for m in mods:
        if isinstance(m, nn.Linear):
            w, b = params[0][j], params[1][j]
            h, j = torch.baddbmm(b[running], h, w[running].transpose(1, 2)), j + 1
        else:
            h = m(h)
        outs.append(h)
    return outs


@torch.no_grad()
def finite_scores(mods, params, running, data):
    """(runs,) True where a run's loss on the whole training and test sets is finite (else train stops)."""
    ok = torch.ones(len(running), dtype=torch.bool)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        out = batched_forward(mods, params, running, x.expand(len(running), *x.shape))[-1]
        ok &= (out - y).pow(2).mean((1, 2)).isfinite()
    return ok


def std(t):
    """(runs,) std of each run's values: t (runs, ...)."""
    return t.flatten(1).std(1)


@torch.no_grad()
def batch_records(recs, acts, kinds, before, grads, weights, running):
    """One record in each of recs (the runs still going), as Recorder.commit would make it from one run.

    acts: per layer (runs, batch, width); before and grads: per layer (runs, out, in); weights: the updated
    (N, out, in) weights of all runs.
    """
    nan = torch.full((len(recs),), math.nan)
    rows = []  # per layer (runs, stats)
    for a, kind, w0, g, w in zip(acts, kinds, before, grads, weights):
        w_std = std(w0)
        rows.append(
            torch.stack(
                [
                    std(a),
                    (a == 0).all(1).float().mean(1) if kind == "relu" else nan,
                    (SLOPE[kind](a) < SATURATION).float().mean((1, 2)) if kind in SLOPE else nan,
                    std(g),
                    w_std,
                    std(w[running] - w0) / w_std,
                ],
                1,
            )
        )
    values = torch.stack(rows, 1).tolist()  # (runs, layers, stats)
    hists = batch_histograms(recs, acts, kinds)  # (runs, layers, bins)
    for r, rec in enumerate(recs):
        for s, column in zip(STATS, zip(*values[r])):
            rec.stats[s].append(list(column))
        rec.hists.append(hists[r])
        rec.steps.append(rec.count)


def batch_histograms(recs, acts, kinds):
    """(runs, layers, bins) counts as Recorder.histogram makes them (ranges fixed at the first record)."""
    out = []
    for j, (a, kind) in enumerate(zip(acts, kinds)):
        for r, rec in enumerate(recs):
            if rec.ranges[j] is None:
                rec.ranges[j] = histogram_range(a[r], kind)
        out.append(
            torch.stack([histogram_counts(a[r], *rec.ranges[j], rec.bins) for r, rec in enumerate(recs)])
        )
    return torch.stack(out, 1)


def histogram_counts(a, lo, hi, bins):
    """(bins,) counts of a's values on [lo, hi]; NaN and values beyond the range pile up at its edges."""
    a = a.float().nan_to_num(nan=hi, posinf=hi, neginf=lo).clamp(lo, hi)
    return torch.histc(a, bins, lo, hi)


def check_many(models, seeds, data):
    """(models, seeds) as lists of one plain Sequential architecture (Linear layers, activation modules)."""
    models, seeds = list(models), list(seeds)
    if not models or len(seeds) != len(models):
        raise ValueError(f"seeds: expected one seed per model ({len(models)}), got {len(seeds)}")
    for i, m in enumerate(models):
        check_model_and_data(m, data, "mse")
        kinds = [type(layer) for layer in m] if isinstance(m, nn.Sequential) else None
        if kinds is None or any(k is not nn.Linear and k not in KINDS for k in kinds):
            raise ValueError(
                f"models[{i}]: expected an nn.Sequential of nn.Linear layers and activation modules; "
                "use a Recorder with helpers.train for any other model"
            )
        generator(seeds[i])
    return models, seeds


def loss_value(loss):
    """loss (a number or a one-element tensor) as a float; raises naming `loss` otherwise."""
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return float(loss.detach())
    if isinstance(loss, int | float) and not isinstance(loss, bool):
        return float(loss)
    shape = f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""
    raise ValueError(
        f"loss: expected the batch loss (a number or 0-d tensor), got {type(loss).__name__}{shape}"
    )


def dead_fraction(a, conv):
    """Fraction of units zero for every sample (and position) of the batch; a unit is a channel for Conv."""
    units = a.movedim(1 if conv else -1, 0).reshape(a.shape[1 if conv else -1], -1)  # (units, rest)
    return (units == 0).all(1).float().mean()


def saturated_fraction(a, kind):
    """Fraction of outputs where the tanh/sigmoid slope is below 5 % of its peak (as helpers.stats)."""
    return (SLOPE[kind](a.float()) < SATURATION).float().mean()


def histogram_range(a, kind):
    """(lo, hi) of a layer's histogram: the range of a bounded activation, else 4 std around 0."""
    if kind == "sigmoid":
        return 0.0, 1.0
    if kind == "tanh":
        return -1.0, 1.0
    a = a.float()
    r = float(4 * a.std() + a.mean().abs()) if a.numel() > 1 else 1.0
    r = r if math.isfinite(r) and r > 0 else 1.0
    return (0.0, r) if kind == "relu" else (-r, r)


def check_recorded(rec, name="rec"):
    """Raise naming `name` unless rec is a Recorder with at least one recorded step."""
    if not isinstance(rec, Recorder):
        raise TypeError(f"{name}: expected a helpers.diagnose.Recorder, got {type(rec).__name__}")
    if not rec.steps:
        raise ValueError(
            f"{name}: no step recorded yet; run a forward and backward pass, optimizer.step(), then "
            "rec.step(loss) (or pass callbacks=[rec] to helpers.train)"
        )


# The verdict ------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One named problem and why."""

    name: str  # one of NAMES
    evidence: str  # the measured numbers and the thresholds that fired, in a sentence


@dataclass
class Verdict:
    """What a run's records say, the likeliest cause first."""

    findings: list = field(default_factory=list)  # Finding objects; one 'healthy' when nothing fired

    @property
    def names(self):
        return [f.name for f in self.findings]

    @property
    def name(self):
        """The first (likeliest) finding's name."""
        return self.findings[0].name

    def __str__(self):
        lines = [f"Verdict: {self.name}"] + [f"  - {f.name}: {f.evidence}" for f in self.findings]
        return "\n".join(lines)


def verdict(rec):
    """A Verdict from rec's records: what each rule of RULES finds, in order (one per name), or 'healthy'."""
    check_recorded(rec)
    findings = {}
    for f in (rule(rec) for rule in RULES):
        if f is not None:
            findings.setdefault(f.name, f)  # e.g. units dead at step 0 need not be reported again as late
    return Verdict(list(findings.values()) or [healthy(rec)])


def at_start(rec, stat):
    """(layers,) values of a statistic at the first record (step 0 for a run recorded from the start)."""
    return rec.stat(stat)[0]


def hidden(rec):
    """Indices of the layers followed by an activation module."""
    return [i for i, k in enumerate(rec.kinds) if k is not None]


def fmt(x):
    return f"{x:.3g}"


def times(x):
    """A ratio as 'Nx' (3 significant digits); below 1e-9 (a layer of zeros) as '<1e-9x', not '0x'."""
    return "<1e-9x" if 0 <= x < 1e-9 else f"{fmt(x)}x"


def one_bad_layer(rec):
    """A single layer (not the output layer) whose gain std(W)*sqrt(fan_in) is 10x off the others' median.

    The output layer is left out: shrinking it on purpose is good practice (makemore part 3).
    """
    gains = at_start(rec, "weight_std")[:-1] * torch.tensor(rec.fan_in[:-1], dtype=torch.float64).sqrt()
    if len(gains) < 3 or not gains.isfinite().all() or not (gains > 0).all():
        return None
    off = [(i, g / gains[torch.arange(len(gains)) != i].median()) for i, g in enumerate(gains)]
    bad = [(i, r) for i, r in off if max(r, 1 / r) > OUTLIER]
    if len(bad) != 1:
        return None
    i, r = bad[0]
    return Finding(
        "one badly initialised layer",
        f"at step {rec.steps[0]} layer {i + 1}'s weight gain std(W)*sqrt(fan_in) is {fmt(gains[i])}, "
        f"{fmt(r)}x the median of the other layers (threshold: {OUTLIER:g}x either way)",
    )


def first_over(values, limit):
    """(layer, value) of the first layer whose value in values (layers,) exceeds limit, else None."""
    return next(((i, v) for i, v in enumerate(values.tolist()) if v > limit), None)


def late(rec, stat):
    """(layers,) median of a statistic over the second half of the records, ignoring NaN."""
    values = rec.stat(stat)
    return values[len(values) // 2 :].nanmedian(0).values


def dead_finding(rec, values, when):
    """A 'dead units' Finding if a layer's dead fraction in values (layers,) exceeds DEAD, else None."""
    hit = first_over(values, DEAD)
    if hit is None:
        return None
    i, v = hit
    return Finding(
        "dead units",
        f"{when} {v:.0%} of layer {i + 1}'s {rec.layers[i].weight.shape[0]} ReLU units are zero on the whole "
        f"batch (threshold {DEAD:.0%})",
    )


def saturated_finding(rec, values, when):
    """A 'saturation' Finding if a layer's saturated fraction in values (layers,) exceeds SATURATED."""
    hit = first_over(values, SATURATED)
    if hit is None:
        return None
    i, v = hit
    return Finding(
        "saturation",
        f"{when} {v:.0%} of layer {i + 1}'s {rec.kinds[i]} outputs sit where the slope is below "
        f"{SATURATION:.0%} of its peak (threshold {SATURATED:.0%})",
    )


def dead_at_start(rec):
    return dead_finding(rec, at_start(rec, "dead"), f"at step {rec.steps[0]}")


def dead_late(rec):
    return dead_finding(rec, late(rec, "dead"), "in the second half of the run (median)")


def saturated_at_start(rec):
    return saturated_finding(rec, at_start(rec, "saturated"), f"at step {rec.steps[0]}")


def saturated_late(rec):
    return saturated_finding(rec, late(rec, "saturated"), "in the second half of the run (median)")


def depth_ratios(rec):
    """At step 0: (gradient std first/last layer, activation std last/first hidden layer), NaN if unknown."""
    g = at_start(rec, "grad_std")
    grad = g[0] / g[-1] if len(g) > 1 and g[-1] > 0 else torch.tensor(math.nan)
    a = at_start(rec, "act_std")[hidden(rec)]
    act = a[-1] / a[0] if len(a) > 1 and a[0] > 0 else torch.tensor(math.nan)
    return float(grad), float(act)


def spread_finding(rec, name, beyond, threshold):
    """A Finding called `name` where a step-0 depth ratio (gradient or activation) passes its threshold."""
    grad, act = depth_ratios(rec)
    parts = []
    if beyond(grad):
        parts.append(f"the first layer's weight-gradient std is {times(grad)} the last layer's")
    if beyond(act):
        parts.append(f"the last hidden layer's activation std is {times(act)} the first's")
    if not parts:
        return None
    return Finding(name, f"at step {rec.steps[0]} {' and '.join(parts)} (threshold {threshold})")


def vanishing(rec):
    """Gradient or activation spread shrinking by more than DEPTH across the layers at step 0."""
    return spread_finding(rec, "vanishing gradients", lambda r: r < 1 / DEPTH, f"1/{DEPTH:g}")


def exploding(rec):
    """Gradient or activation spread growing by more than DEPTH across the layers at step 0."""
    return spread_finding(rec, "exploding gradients", lambda r: r > DEPTH, f"{DEPTH:g}x")


def update_median(rec):
    """Median over layers of each layer's median update ratio over the run; steps without update left out."""
    u = rec.stat("update_ratio")  # (records, layers)
    u = u.where((u > 0) & u.isfinite(), torch.tensor(math.nan, dtype=u.dtype))  # a layer that did not move
    return float(u.nanmedian(0).values.nanmedian())


def loss_trend(rec):
    """(first, last): mean loss over the first and the last fifth of the steps."""
    n = max(1, len(rec.loss) // 5)
    return sum(rec.loss[:n]) / n, sum(rec.loss[-n:]) / n


def died(rec):
    """(layer, at start, late) of the first layer alive at step 0 whose units died during the run, or None."""
    start, end = at_start(rec, "dead").tolist(), late(rec, "dead").tolist()
    return next(((i, a, b) for i, (a, b) in enumerate(zip(start, end)) if a <= DEAD < b), None)


def lr_too_high(rec):
    """A NaN/inf or rising loss, a median update ratio above UPDATE_HIGH, or units killed during the run."""
    bad = next((s for s, v in enumerate(rec.loss) if not math.isfinite(v)), None)
    if bad is not None:
        return Finding("learning rate too high", f"the loss became {rec.loss[bad]} at step {bad}")
    u, (first, last), killed = update_median(rec), loss_trend(rec), died(rec)
    parts = []
    if u > UPDATE_HIGH:
        parts.append(f"the median update ratio std(dW)/std(W) is {fmt(u)} (threshold {UPDATE_HIGH:g})")
    if len(rec.loss) >= 10 and last > RISE * first and not u < UPDATE_LOW:  # tiny steps cannot raise it
        parts.append(
            f"the loss rose from {fmt(first)} to {fmt(last)} over the run (first and last fifth of the "
            f"steps; threshold {RISE:g}x)"
        )
    if killed:
        i, a, b = killed
        parts.append(
            f"layer {i + 1}'s dead fraction went from {a:.0%} at step {rec.steps[0]} to {b:.0%} "
            f"(threshold {DEAD:.0%}): steps large enough to push units off for good"
        )
    return Finding("learning rate too high", "; ".join(parts)) if parts else None


def lr_too_low(rec):
    """A median update ratio below UPDATE_LOW."""
    u = update_median(rec)
    if not u < UPDATE_LOW:
        return None
    return Finding(
        "learning rate too low",
        f"the median update ratio std(dW)/std(W) is {fmt(u)} (threshold {UPDATE_LOW:g}; "
        "about 1e-3 is healthy)",
    )


def healthy(rec):
    """The 'healthy' finding, with the numbers that stayed within their limits."""
    grad, act = depth_ratios(rec)
    first, last = loss_trend(rec)
    dead = late(rec, "dead").nan_to_num(0).max()
    sat = late(rec, "saturated").nan_to_num(0).max()
    return Finding(
        "healthy",
        f"median update ratio {fmt(update_median(rec))} (limits {UPDATE_LOW:g} to {UPDATE_HIGH:g}), "
        f"gradient std first/last layer {fmt(grad)}x and activation std last/first hidden {fmt(act)}x "
        f"(limit {DEPTH:g}x), at most {dead:.0%} dead and {sat:.0%} saturated per layer, "
        f"loss from {fmt(first)} to {fmt(last)}",
    )


RULES = (  # causes seen at step 0 first, then what training did
    one_bad_layer,
    exploding,  # a deep net whose signal explodes can also start with units dead on the whole batch
    dead_at_start,
    saturated_at_start,  # saturated units also pass vanishing gradients back
    vanishing,
    lr_too_high,
    dead_late,
    saturated_late,
    lr_too_low,
)


# The dashboard ----------------------------------------------------------------------------------------


def dashboard(rec, title=None):
    """A 10 x 6.4 inch figure of a run: activations over time, loss, update ratio, gradients, dead/saturated.

    The first panel is fast.ai's "colorful dimension": each layer's activation histogram per record as a
    column, log counts as colour, layers stacked from the first (bottom) to the last (top).
    """
    check_recorded(rec)
    if title is not None:
        check_str(title, "title")
    with mpl.rc_context(STYLE | {"legend.fontsize": 11, "axes.titlesize": 12}):
        fig, axes = plt.subplots(2, 3, figsize=(10, 6.4))
        colorful_dimension(rec, axes[0, 0])
        loss_panel(rec, axes[0, 1])
        trace(rec, "update_ratio", axes[0, 2], "Update / weight std", log=True)
        axes[0, 2].axhspan(UPDATE_LOW, UPDATE_HIGH, color="grey", alpha=0.12, lw=0, label="healthy band")
        axes[0, 2].axhline(1e-3, color="black", ls="--", lw=1.2, label="1e-3")
        axes[0, 2].legend(loc="best")
        trace(rec, "grad_std", axes[1, 0], "Weight-gradient std", log=True)
        trace(rec, "act_std", axes[1, 1], "Activation std", log=True)
        fractions_panel(rec, axes[1, 2])
        for ax in axes.flat:  # tick labels are made when drawn, maybe outside this style: fix their size now
            ax.tick_params(which="both", labelsize=12)
        fig.suptitle(title or f"Verdict: {verdict(rec).name}", fontsize=14, fontweight="bold")
    return fig


def layer_colors(n):
    return plt.get_cmap("viridis")(torch.linspace(0, 0.9, n).numpy())


def trace(rec, stat, ax, title, log=False):
    """One line per layer of a statistic over the recorded steps."""
    values = rec.stat(stat)  # (records, layers)
    if log:  # zeros (a dead layer's gradient) have no place on a log axis: leave gaps
        values = values.where(values > 0, torch.tensor(math.nan, dtype=values.dtype))
    n = values.shape[1]
    for i, c in enumerate(layer_colors(n)):
        label = f"layer {i + 1}" if n <= 4 or i in (0, n - 1) else None
        ax.plot(rec.steps, values[:, i].numpy(), color=c, label=label, **sparse(values[:, i]))
    if log and (values > 0).any():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title)
    return ax


def sparse(series):
    """Line keywords that draw a dot at each point of a series with under 3 finite values (a line needs 2)."""
    return {"marker": "o", "ms": 3} if int(torch.as_tensor(series).isfinite().sum()) < 3 else {}


def colorful_dimension(rec, ax):
    """Activation histograms over time, log counts as colour, one band of rows per layer."""
    h = torch.stack(rec.hists)  # (records, layers, bins)
    image = h.permute(1, 2, 0).reshape(-1, h.shape[0]).log1p()  # (layers * bins, records)
    extent = (rec.steps[0], rec.steps[-1] + rec.every, 0, h.shape[1])
    ax.imshow(image.numpy(), aspect="auto", origin="lower", extent=extent, cmap="viridis")
    ax.set_yticks([i + 0.5 for i in range(h.shape[1])], [str(i + 1) for i in range(h.shape[1])])
    for i in range(1, h.shape[1]):
        ax.axhline(i, color="white", lw=0.8)
    ax.grid(False)
    ax.set_xlabel("step")
    ax.set_ylabel("layer (activation value ↑)")
    ax.set_title("Activations over time")
    return ax


def loss_panel(rec, ax):
    """The loss at every step (log scale when positive)."""
    loss = torch.tensor(rec.loss, dtype=torch.float64)
    ax.plot(range(len(loss)), loss.numpy(), color="#0072B2", lw=1, **sparse(loss))
    finite = loss[loss.isfinite()]
    if len(finite) and finite.min() > 0 and finite.max() > 10 * finite.min():  # spans decades
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("Loss")
    return ax


def fractions_panel(rec, ax):
    """Dead (ReLU) and saturated (tanh, sigmoid) fraction per layer over the recorded steps."""
    for stat, ls in (("dead", "-"), ("saturated", ":")):
        values = rec.stat(stat)
        for i, c in enumerate(layer_colors(values.shape[1])):
            if not values[:, i].isnan().all():
                ax.plot(rec.steps, values[:, i].numpy(), color=c, ls=ls, **sparse(values[:, i]))
    ax.axhline(DEAD, color="black", ls="--", lw=1.2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("step")
    ax.set_title("Dead (—) / saturated (⋯)")
    return ax


# Planted failures: the clinic's mysteries ----------------------------------------------------------------


DATASETS = ("lecture", "digits")


def planted_model(problem, data, seed):
    """A fresh model with `problem` planted in it, for data 'lecture' (2 -> 1) or 'digits' (64 -> 10).

    The healthy baseline is the series' fix: 4 hidden layers of 16 units, ReLU with Kaiming init for even
    seeds, tanh with Xavier's gain 5/3 for odd ones, zero biases.
    """
    n_in, n_out = (2, 1) if data == "lecture" else (64, 10)
    depth = 8 if problem in ("vanishing gradients", "exploding gradients") else 4
    act = "relu" if seed % 2 == 0 else "tanh"
    act = {"vanishing gradients": "sigmoid", "saturation": "tanh"}.get(problem, act)
    act = "relu" if problem in ("dead units", "exploding gradients") else act
    with torch.random.fork_rng():  # the caller's global RNG is left as it was
        torch.manual_seed(seed)
        model = mlp([n_in] + [16] * depth + [n_out], act)
        layers = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            plant(problem, layers, GAINS.get(problem) or GAINS[act], seed)
    return model


GAINS = {  # weights N(0, gain^2 / fan_in) of each planted model
    "relu": math.sqrt(2),  # Kaiming
    "tanh": 5 / 3,  # torch.nn.init.calculate_gain('tanh')
    "vanishing gradients": 0.5,  # sigmoid: each layer multiplies the backward signal by about 0.5/4
    "exploding gradients": 4.0,  # ReLU: each layer multiplies the signal by about 4/sqrt(2)
    "saturation": 6.0,  # tanh: pre-activations of std about 5
}


def plant(problem, layers, gain, seed):
    """Re-initialise a fresh model's Linear layers (in place) so that it has `problem`."""
    for m in layers:
        m.weight.normal_(0, gain / math.sqrt(m.in_features))
        m.bias.zero_()
    if problem == "dead units":
        for m in layers[:-1]:
            m.bias.fill_(-2.0)
    if problem == "one badly initialised layer":
        layers[len(layers) // 2].weight.mul_(100.0 if seed % 4 < 2 else 0.01)


LR = {"lecture": 0.005, "digits": 0.03}  # healthy SGD rates of the two settings (width 16, Kaiming)
LR_FACTOR = {"learning rate too high": 30.0, "learning rate too low": 1e-3}


def planted_run(problem="healthy", data="lecture", seed=0, epochs=3, every=5):
    """A Recorder of a short SGD run with `problem` planted (one of NAMES), for the clinic and its tests.

    'lecture' trains with helpers.train on helpers.lecture_split() (MSE, batches of 10); 'digits' with a
    plain DataLoader loop on the 8x8 digits (cross-entropy, batches of 32). seed sets the init and the
    batches; the Recorder keeps every `every`-th step.
    """
    check_choice(problem, NAMES, "problem")
    check_choice(data, DATASETS, "data")
    generator(seed)
    check_positive_int(epochs, "epochs")
    check_positive_int(every, "every")
    model = planted_model(problem, data, seed)
    lr = LR[data] * LR_FACTOR.get(problem, 1.0)
    with Recorder(model, every=every) as rec:
        if data == "lecture":
            train(model, lecture_split(), epochs, lr, seed=seed, verbose=False, callbacks=[rec])
        else:
            plain_loop(model, digits_split(), epochs, lr, rec, seed)
    return rec


def digits_split():
    """The digits, 70 % for training (split seed 0), cached."""
    if not hasattr(digits_split, "cache"):
        digits_split.cache = split(*digits(), train=0.7, seed=0)
    return digits_split.cache


def plain_loop(model, data, epochs, lr, rec, seed, batch_size=32):
    """Any loop: a shuffled DataLoader, torch.optim.SGD, cross-entropy, rec.step(loss) after each step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loader, _ = data.loaders(batch_size, seed)
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.step(loss)
            if not torch.isfinite(loss):
                return


def confusion_table(problems=NAMES, datasets=DATASETS, seeds=range(20)):
    """{data: {planted: Counter(named: runs)}}: what the verdict named first for each planted problem."""
    for p in problems:
        check_choice(p, NAMES, "problems")
    for d in datasets:
        check_choice(d, DATASETS, "datasets")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed, got none")
    return {
        d: {p: Counter(planted_run(p, d, s).verdict().name for s in seeds) for p in problems}
        for d in datasets
    }


def confusion_markdown(table):
    """A markdown table per data set of confusion_table's counts: rows planted, columns named."""
    out = []
    for d, rows in table.items():
        out += [f"{d}:", "| planted \\ named | " + " | ".join(NAMES) + " |", "|---" * (len(NAMES) + 1) + "|"]
        out += [
            f"| {p} | " + " | ".join(str(c.get(n, 0) or "") for n in NAMES) + " |" for p, c in rows.items()
        ]
    return "\n".join(out)
