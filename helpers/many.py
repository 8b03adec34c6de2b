"""Many models at once: N copies of one architecture trained side by side in one vectorised pass.

Every member's parameters live in one (P, N) tensor, member i in column i ("members last"), so element-wise
work (the optimizer, clipping, the small layers' products) runs along one long contiguous axis. Gradients
come from one of two places, both returning (losses (N,), grads (P, N)):
  * flat stacks of small Linear layers and activations: a forward and backward written out by hand;
  * anything else (wide layers, BatchNorm, LayerNorm, Residual blocks): vmap(functional_call) + autograd.
"""

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vmap

from helpers import schedules, updates
from helpers.checks import (
    available_memory,
    check_choice,
    check_flag,
    check_model_and_data,
    check_module,
    check_positive,
    check_positive_int,
    generator,
    is_number,
    linear_layers,
)
from helpers.stats import LOSSES, SATURATION, SLOPE, find_activation
from helpers.train import History, epochs_of, optimizer_class

SMALL = 16  # widest fan-in of the hand-written path; wider layers go through vmap's batched matmul
BROADCAST = 2**18  # products of more elements than this are formed a slice of members at a time
CHUNK = 100  # samples per forward pass when evaluating: keeps the work in cache
MEMORY_FRACTION = 0.5  # refuse an N whose estimated footprint exceeds this share of available memory
PER_MEMBER = ("lr", "momentum", "weight_decay", "clip_norm", "clip_value")  # scalars or one per member
BACKWARD = {  # dL/d(input) of each activation from dL/d(output) g, by the kernels autograd itself runs
    nn.ReLU: lambda m, g, z, a: torch.ops.aten.threshold_backward(g, a, 0),
    nn.LeakyReLU: lambda m, g, z, a: torch.ops.aten.leaky_relu_backward(g, z, m.negative_slope, False),
    nn.ELU: lambda m, g, z, a: torch.ops.aten.elu_backward(g, m.alpha, 1, 1, False, z),
    nn.GELU: lambda m, g, z, a: torch.ops.aten.gelu_backward(g, z, approximate=m.approximate),
    nn.Tanh: lambda m, g, z, a: torch.ops.aten.tanh_backward(g, a),
    nn.Sigmoid: lambda m, g, z, a: torch.ops.aten.sigmoid_backward(g, a),
    nn.Identity: lambda m, g, z, a: g,
}


@dataclass
class ManyHistory:
    """What train_many recorded, one row per model; entries from a member's divergence on are NaN."""

    train_loss: torch.Tensor | None  # (models, epochs) loss over the whole training set; None if not scored
    test_loss: torch.Tensor  # (models, epochs) loss over the whole test set
    train_acc: torch.Tensor | None  # (models, epochs), classification only
    test_acc: torch.Tensor | None
    layers: dict  # statistic -> (models, epochs, layers), track=True only
    diverged_at: list  # per model: epoch (from 1) whose loss became NaN or inf, or None
    params: dict  # parameter name -> (models, ...) final weights
    template: nn.Module  # the architecture, for .model(i)
    buffers: dict | None = None  # buffer name -> (models, ...), e.g. BatchNorm's running statistics

    def __len__(self):
        return len(self.diverged_at)

    @property
    def diverged(self):
        """(models,) bool: which members diverged."""
        return torch.tensor([d is not None for d in self.diverged_at])

    def model(self, i):
        """Member i as an ordinary nn.Module with its final weights (and running statistics)."""
        m = copy.deepcopy(self.template)
        m.load_state_dict({k: v[i] for k, v in {**self.params, **(self.buffers or {})}.items()})
        return m

    def history(self, i):
        """Member i's record as a helpers.History, as helpers.train would have returned it."""
        done = self.test_loss.shape[1] if self.diverged_at[i] is None else self.diverged_at[i] - 1

        def row(t):  # member i's first `done` epochs, or [] for what was not recorded
            return [] if t is None else t[i, :done].tolist()

        return History(
            name=f"model {i}",
            train_loss=row(self.train_loss),
            test_loss=row(self.test_loss),
            train_acc=row(self.train_acc),
            test_acc=row(self.test_acc),
            layers={k: v[i, :done].tolist() for k, v in self.layers.items()},
            diverged_at=self.diverged_at[i],
        )


@dataclass
class Members:
    """N models of one architecture as tensors: all parameters in one (P, N) block, buffers members first.

    small=True (the hand-written path) stores the block as (P, N), each parameter with its dimensions
    reversed: a weight (out, in) as (in, out, N). Otherwise it is the transpose of an (N, P) tensor, so
    that each member's weight (out, in) is one contiguous matrix for vmap's batched matmul.
    """

    base: nn.Module  # the architecture on the meta device, for functional_call and the layer list
    flat: torch.Tensor  # (P, N): column i holds member i's parameters, one after another
    shapes: dict  # parameter name -> its shape in one model
    buffers: dict  # buffer name -> (N, ...): BatchNorm's running statistics
    small: bool  # True: forward and backward by hand (forward_small); False: vmap and autograd

    def __post_init__(self):
        self.grads = torch.zeros_like(self.flat)  # (P, N) in flat's layout, refilled every step
        if self.small:
            self.views, self.grad_views = self.params(self.flat), self.params(self.grads)  # made once

    def params(self, flat=None):
        """name -> members-last view of flat (default self.flat): a weight (out, in) as (in, out, N)."""
        flat = self.flat if flat is None else flat
        rows = flat.split([math.prod(s) for s in self.shapes.values()])
        return {k: r.view(*reversed(s), -1) for (k, s), r in zip(self.shapes.items(), rows)}

    def stacked(self, flat=None):
        """name -> members-first view, as stack_module_state lays it out: a weight as (N, out, in)."""
        if self.small:
            return {k: v.permute(*reversed(range(v.ndim))) for k, v in self.params(flat).items()}
        flat = self.flat if flat is None else flat
        cols = flat.T.split([math.prod(s) for s in self.shapes.values()], 1)  # each (N, size)
        return {k: c.view(-1, *s) for (k, s), c in zip(self.shapes.items(), cols)}


def train_many(
    models,
    data,
    seeds=None,
    epochs=20,
    lr=0.03,
    optimizer="sgd",
    loss="mse",
    batch_size=10,
    seed=0,
    momentum=0.0,
    nesterov=False,
    weight_decay=0.0,
    clip_norm=None,
    clip_value=None,
    schedule=None,
    track=False,
    score_train=True,
    memory_fraction=MEMORY_FRACTION,
    progress=False,
    **optimizer_kwargs,
):
    """Train N copies of one architecture side by side in one vectorised pass; a ManyHistory.

    models: a list of modules (left untouched; get trained copies with .model(i)), or a zero-argument
    factory called after torch.manual_seed(s) for each s in seeds. Member i ends as
    helpers.train(models[i], data, seed=seed[i], lr=lr[i], ...) would leave it, up to float rounding.
    Per member (a number for all, or a sequence of N): lr, momentum, weight_decay, clip_norm and
    clip_value (clipped over the member's own gradient, as clip_grad_norm_/clip_grad_value_), seed (an int:
    every member sees the same batches; N ints: member i sees helpers.batch_order(..., seed[i])'s) and
    schedule (a spec from helpers.schedules, e.g. ("warmup", 2) or (("warmup", 2), ("cosine",)), or N).
    optimizer: 'sgd' (momentum, nesterov, weight_decay as torch.optim.SGD) or 'adam' (weight_decay, and
    betas/eps in optimizer_kwargs, as torch.optim.Adam), or a torch.optim class for an element-wise
    update of your own (scalar settings only; optimizer_kwargs go to it).
    A member whose loss turns NaN or inf is frozen from that batch on and its later entries are NaN; the
    others go on. BatchNorm trains on batch statistics and is evaluated with its running ones (eval mode,
    as helpers.train); Dropout is refused. score_train=False skips scoring the whole training set after each
    epoch (train_loss and train_acc are then None; training itself is unchanged), for a caller who reads only
    the test scores. N whose estimated memory exceeds memory_fraction of what is
    available is refused before a second model is built. progress=True shows a bar (live sessions only).
    """
    n = count_members(models, seeds)
    first = first_model(models, seeds)
    check_model_and_data(first, data, loss)
    settings = check_settings(n, locals())
    check_supported(first)
    check_memory(first, n, data, track, settings["per_member_order"], memory_fraction)
    members = build(models, seeds, first, small_layers(first))
    step_fn, forward = (gradients_small, forward_small) if members.small else (gradients_vmap, forward_vmap)
    opt = make_update(optimizer, members.flat, settings, optimizer_kwargs)
    per_epoch = math.ceil(len(data.x_train) / batch_size)
    rates = settings["lr"] * schedules.factors(settings["schedule"], per_epoch, epochs * per_epoch)  # (t, N)
    alive, t = torch.ones(n, dtype=torch.bool), 0
    record = {k: [] for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    layers, diverged_at = {}, [None] * n
    for epoch, batches in epochs_of(batch_orders(len(data.x_train), batch_size, epochs, seed), progress):
        for idx in batches:  # (batch,) shared or (batch, N): one order per member
            x, y = gather(data.x_train, idx), gather(data.y_train, idx)
            saved = {k: v.clone() for k, v in members.buffers.items()}
            losses, grads = step_fn(members, x, y, loss)  # (N,), (P, N)
            alive = alive & losses.isfinite()
            updates.clip(grads, settings["clip_norm"], settings["clip_value"])
            update(opt, members, grads, rates[t], alive, saved)
            t += 1
        with torch.no_grad():  # (loss, accuracy) on the training set (or None, None) and on the test set
            scores = [
                evaluate_many(forward, members, x, y, loss) if score_train or part == 1 else (None, None)
                for part, (x, y) in enumerate(split_sets(data))
            ]
        alive &= torch.stack([s[0] for s in scores if s[0] is not None]).isfinite().all(0)
        for i in (~alive).nonzero().flatten().tolist():
            diverged_at[i] = diverged_at[i] or epoch
        for key, value in zip(record, [s[k] for k in (0, 1) for s in scores]):
            if value is not None:
                record[key].append(torch.where(alive, value, math.nan))
        if track:
            for key, value in stats_many(members, data.x_train, data.y_train, loss).items():
                layers.setdefault(key, []).append(torch.where(alive[:, None], value, math.nan))
    return ManyHistory(
        **{k: torch.stack(v, 1) if v else None for k, v in record.items()},  # each (models, epochs)
        layers={k: torch.stack(v, 1) for k, v in layers.items()},  # each (models, epochs, layers)
        diverged_at=diverged_at,
        params={k: v.clone(memory_format=torch.contiguous_format) for k, v in members.stacked().items()},
        template=copy.deepcopy(first),
        buffers={k: v.clone() for k, v in members.buffers.items()},
    )


def update(opt, members, grads, lr, alive, saved):
    """One optimizer step; members not alive keep their weights (and running statistics) as they were."""
    if bool(alive.all()):
        opt.step(members.flat, grads, lr)
        return
    before = members.flat.clone()
    opt.step(members.flat, grads, lr)
    members.flat.copy_(torch.where(alive, members.flat, before))
    for k, v in members.buffers.items():  # (N, ...): alive lines up with the first axis
        v.copy_(torch.where(alive.view(-1, *[1] * (v.ndim - 1)), v, saved[k]))


# ---- checks and set-up ----------------------------------------------------------------------------------


def count_members(models, seeds):
    """N: the number of modules, or of seeds for a factory (without building anything)."""
    if isinstance(models, nn.Module):
        raise ValueError("models: expected a list of modules or a zero-argument factory; wrap one in a list")
    if callable(models):
        if seeds is None or not hasattr(seeds, "__len__") or len(seeds) == 0:
            raise ValueError("seeds: a factory needs a non-empty list (or range) of seeds, one per model")
        return len(seeds)
    if seeds is not None:
        raise ValueError("seeds: only used with a factory; a list of modules already has its weights")
    if not hasattr(models, "__len__") or len(models) == 0:
        raise ValueError(f"models: expected a non-empty list of nn.Module, got {models!r:.80}")
    return len(models)


def first_model(models, seeds):
    """Model 0: the first of the list, or the factory's model for seeds[0] (the random stream is kept)."""
    if not callable(models):
        check_module(models[0], "models[0]")
        return models[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeds[0])
        return models()


def build(models, seeds, first, small):
    """Members from a list of modules, or from a factory seeded once per seed (first made already)."""
    if callable(models):
        made = [first]
        with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
            for s in seeds[1:]:
                torch.manual_seed(s)
                made.append(models())
        models = made
    arch, params, buffers = zip(*[parts(m, i) for i, m in enumerate(models)])
    for i, a in enumerate(arch):
        if a != arch[0]:
            raise ValueError(f"models: model {i} has a different architecture from model 0; all must match")
    if small:  # (P, N), each parameter's dimensions reversed
        flat = torch.cat([members_last([p[k] for p in params]).flatten(0, -2) for k in params[0]])
    else:  # (N, P) transposed: member i's parameters one after another, as parameters_to_vector
        flat = torch.stack([torch.cat([t.flatten() for t in p.values()]) for p in params]).T
    stacked = {k: torch.stack([b[k] for b in buffers]) for k in buffers[0]}  # name -> (N, ...)
    shapes = {k: p.shape for k, p in params[0].items()}
    return Members(copy.deepcopy(first).to("meta"), flat, shapes, stacked, small)


def parts(model, i):
    """(architecture, parameters, buffers) of models[i]; the architecture: layer types, parameter shapes."""
    check_module(model, f"models[{i}]")
    params = {k: p.detach() for k, p in model.named_parameters()}
    arch = ([type(m) for m in model.modules()], [(k, p.shape) for k, p in params.items()])
    return arch, params, {k: b.detach() for k, b in model.named_buffers()}


def members_last(tensors):
    """N tensors of one shape, e.g. weights (out, in), as one (in, out, N): dimensions reversed, then N."""
    stacked = torch.stack(tensors, -1)  # (out, in, N)
    return stacked.permute(*reversed(range(stacked.ndim - 1)), -1)


def check_supported(model):
    """Raise for a layer train_many cannot run side by side (Dropout: its output depends on randomness)."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            raise ValueError(
                f"models: {type(m).__name__} is not supported by train_many (its output depends on "
                "randomness); train such models one at a time with helpers.train"
            )


def per_member(value, n, name, allow_none=False, minimum=0.0, strict=False):
    """(1,) float64 from a number, (N,) from a sequence of N numbers; each > minimum (>= if not strict).

    Either broadcasts along the members axis, so a number costs nothing however large N is.
    """
    if value is None and allow_none:
        return None
    values = value.tolist() if torch.is_tensor(value) else value
    values = [values] if is_number(values) else values
    one_each = not is_number(value) and hasattr(values, "__len__") and len(values) == n
    if not (is_number(value) or one_each) or not all(is_number(v) for v in values):
        raise ValueError(
            f"{name}: expected a number or a sequence of {n} numbers (one per model), got {value!r:.80}"
        )
    bad = [v for v in values if v != v or (v <= minimum if strict else v < minimum)]
    if bad:
        rule = f"{'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{name}: expected numbers {rule}, got {bad[0]!r}")
    return torch.tensor(values, dtype=torch.float64)


def check_settings(n, kw):
    """Check train_many's settings before any work; name -> value, per-member ones as (N,) tensors."""
    check_choice(kw["loss"], LOSSES, "loss")
    check_positive_int(kw["epochs"], "epochs")
    check_positive_int(kw["batch_size"], "batch_size")
    check_positive(kw["memory_fraction"], "memory_fraction")
    for flag in ("nesterov", "track", "score_train", "progress"):
        check_flag(kw[flag], flag)
    optimizer_class(kw["optimizer"])
    out = {
        "lr": per_member(kw["lr"], n, "lr", strict=True),
        "momentum": per_member(kw["momentum"], n, "momentum"),
        "weight_decay": per_member(kw["weight_decay"], n, "weight_decay"),
        "clip_norm": per_member(kw["clip_norm"], n, "clip_norm", allow_none=True, strict=True),
        "clip_value": per_member(kw["clip_value"], n, "clip_value", allow_none=True, strict=True),
        "schedule": check_schedules(kw["schedule"], n),
        "nesterov": bool(kw["nesterov"]),
        "per_member_order": not isinstance(kw["seed"], int),
    }
    if out["per_member_order"]:
        seeds = kw["seed"]
        if not hasattr(seeds, "__len__") or len(seeds) != n or isinstance(seeds, str):
            raise ValueError(
                f"seed: expected an int or a sequence of {n} ints (one per model), got {seeds!r:.80}"
            )
        for s in seeds:
            generator(s)
    else:
        generator(kw["seed"])
    for k in ("clip_norm", "clip_value"):
        out[k] = None if out[k] is None else out[k].float()
    return out


def check_schedules(schedule, n):
    """A list of schedule specs: [one for all] or one per member; raises naming `schedule`."""
    specs = list(schedule) if isinstance(schedule, list) else [schedule]
    if len(specs) not in (1, n):
        raise ValueError(f"schedule: expected one spec or a list of {n} (one per model), got {len(specs)}")
    for s in specs:
        schedules.check_schedule(s)
    return specs


def make_update(optimizer, flat, s, kwargs):
    """The optimizer update for the (P, N) block: updates.SGD or updates.Adam, or a torch.optim class."""
    cls = optimizer_class(optimizer)
    if optimizer == "sgd" and not kwargs:
        return updates.SGD(flat, s["momentum"].float(), s["nesterov"], s["weight_decay"].float())
    if optimizer == "adam" and set(kwargs) <= {"betas", "eps"}:
        return updates.Adam(flat, s["weight_decay"].float(), **kwargs)
    if isinstance(optimizer, str) and optimizer not in ("sgd", "adam"):
        raise ValueError(
            f"optimizer: train_many runs 'sgd', 'adam' or a torch.optim class, not {optimizer!r}"
        )
    if isinstance(optimizer, str):
        raise ValueError(
            f"optimizer_kwargs: {sorted(kwargs)} are not taken by optimizer={optimizer!r} in train_many; "
            "use its own arguments (momentum, nesterov, weight_decay; betas and eps for Adam)"
        )
    for k in ("lr", "momentum", "weight_decay"):  # a torch.optim class gets plain numbers
        if not (s[k] == s[k][0]).all():
            raise ValueError(f"{k}: one value per model needs optimizer 'sgd' or 'adam', not {cls.__name__}")
    extra = {k: s[k][0].item() for k in ("momentum", "weight_decay") if s[k].any()}
    extra.update({"nesterov": True} if s["nesterov"] else {})
    return updates.TorchOptimizer(cls, flat, s["lr"][0].item(), **extra, **kwargs)


def bytes_per_model(model, n):
    """Estimated bytes one member needs: 5 copies of its weights, 6 of its units' values on n samples."""
    size = next(model.parameters()).element_size()
    params = sum(p.numel() for p in model.parameters())  # weights, grads, 2 optimizer slots, a spare
    units = sum(m.weight.shape[0] for m in linear_layers(model))  # outputs, activations, their grads
    return size * (5 * params + 6 * n * units)  # measured: 186 MB for 1000 lecture nets, track=True


def check_memory(model, count, data, track, per_member_order, fraction):
    """Raise unless `count` members like model fit in `fraction` of the available memory."""
    n = max(len(data.x_train), len(data.x_test)) if track else CHUNK  # samples whose values are held
    each = bytes_per_model(model, n) + 8 * len(data.x_train) * per_member_order  # + its batch order
    need, free = count * each, available_memory()
    if need > fraction * free:
        raise ValueError(
            f"models: {count} models need about {need / 1e9:.3g} GB ({each / 1e3:.0f} kB each), more than "
            f"{fraction:.0%} of the {free / 1e9:.3g} GB available; train fewer models (or seeds) per call"
        )


def batch_orders(n, batch_size, epochs, seed):
    """Per epoch a list of index tensors: (batch,) for one shared seed, (batch, N) for one seed per member.

    Member i's batches are those of helpers.batch_order(n, batch_size, epochs, seed[i]), drawn epoch by epoch.
    """
    if isinstance(seed, int):
        gens = [generator(seed)]
    else:
        gens = [generator(s) for s in seed]
    for _ in range(epochs):
        perms = [torch.randperm(n, generator=g) for g in gens]
        yield perms[0].split(batch_size) if isinstance(seed, int) else torch.stack(perms, 1).split(batch_size)


def gather(t, idx):
    """Rows idx of t: (batch, ...) for idx (batch,); (batch, ..., N) for idx (batch, N), members last."""
    return t[idx] if idx.ndim == 1 else t[idx].movedim(1, -1)


def split_sets(data):
    """(x, y) of the training and of the test set."""
    return (data.x_train, data.y_train), (data.x_test, data.y_test)


# ---- the hand-written path: flat stacks of small Linear layers and activations ---------------------------


def small_layers(base):
    """True for a plain Sequential of Linear layers (fan-in <= SMALL after the first) and activations."""
    sequential = isinstance(base, nn.Sequential) and type(base).forward is nn.Sequential.forward
    mods = list(base.children()) if sequential else []
    linear = [m for m in mods if isinstance(m, nn.Linear)]
    flat = all(
        isinstance(m, nn.Linear) or (type(m) in BACKWARD and not getattr(m, "inplace", False)) for m in mods
    )
    return bool(linear) and flat and all(m.in_features <= SMALL for m in linear[1:])


def mul_sum(a, b, dim, out=None):
    """(a * b).sum(dim) with broadcasting, a slice of members at a time when the product is large."""
    size = math.prod(max(i, j) for i, j in zip(a.shape, b.shape))  # a and b have the same ndim
    pieces = min(a.shape[-1], size // BROADCAST + 1)
    if pieces == 1:
        return torch.sum(a * b, dim, out=out)
    parts = [
        torch.sum(ai * bi, dim) for ai, bi in zip(a.tensor_split(pieces, -1), b.tensor_split(pieces, -1))
    ]
    return torch.cat(parts, -1, out=out)


def affine(h, w, b=None):
    """h (batch, in, N) through each member's weights w (in, out, N) and bias b (out, N): (batch, out, N)."""
    hs, ws = h[:, :, None].unbind(1), w.unbind(0)  # per input unit: (batch, 1, N) and (out, N)
    z = hs[0] * ws[0] if b is None else torch.addcmul(b, hs[0], ws[0])
    for hi, wi in zip(hs[1:], ws[1:]):  # one fused multiply-add per input unit: no (batch, in, out, N)
        z.addcmul_(hi, wi)
    return z


def forward_small(members, x, keep=None):
    """All members' outputs on x (batch, in) or (batch, in, N) -> (batch, out, N); keep gets layer inputs."""
    h = x
    for name, layer in members.base.named_children():
        if keep is not None:
            keep.append(h)
        if not isinstance(layer, nn.Linear):
            h = layer(h)  # an element-wise activation
            continue
        w, b = members.views[f"{name}.weight"], members.views.get(f"{name}.bias")  # (in, out, N), (out, N)
        if h.ndim == 2:  # the same input for every member: one matrix product (batch, in) @ (in, out * N)
            z = h @ w.flatten(1) if b is None else torch.addmm(b.flatten(), h, w.flatten(1))
            h = z.view(len(h), *w.shape[1:])
        else:
            h = affine(h, w, b)
    return h


def gradients_small(members, x, y, loss):
    """(losses (N,), grads (P, N)) on one batch: forward_small, then its backward by hand."""
    keep = []
    out = forward_small(members, x, keep)  # (batch, out, N)
    losses, g = loss_and_grad(out, y, loss)  # g: dL/d(out), (batch, out, N)
    params, into = members.views, members.grad_views
    children = list(members.base.named_children())
    for i in reversed(range(len(children))):
        name, layer = children[i]
        h = keep[i]  # the layer's input; keep[i + 1] (or out) its output
        if not isinstance(layer, nn.Linear):
            g = BACKWARD[type(layer)](layer, g, h, keep[i + 1] if i + 1 < len(keep) else out)
            continue
        w = params[f"{name}.weight"]  # (in, out, N)
        if f"{name}.bias" in into:
            torch.sum(g, 0, out=into[f"{name}.bias"])  # (out, N)
        if h.ndim == 2:  # shared input: (in, batch) @ (batch, out * N)
            torch.mm(h.T, g.flatten(1), out=into[f"{name}.weight"].view(len(h.T), -1))
        else:
            mul_sum(h[:, :, None], g[:, None], 0, out=into[f"{name}.weight"])  # (in, out, N)
        if i > 0:
            g = affine(g, w.transpose(0, 1))  # dL/dh: g (batch, out, N) through w transposed, (out, in, N)
    return losses, members.grads


def loss_and_grad(out, y, loss):
    """(each member's mean loss (N,), its gradient by out (batch, outputs, N))."""
    if loss == "mse":
        diff = out - (y if y.ndim == 3 else y[..., None])  # y (batch, outputs) shared or (batch, outputs, N)
        return diff.pow(2).mean((0, 1)), diff * (2 / (diff.shape[0] * diff.shape[1]))
    y = y if y.ndim == 2 else y[:, None].expand(-1, out.shape[-1])  # (batch, N) class ids
    logp = out.log_softmax(1)
    onehot = nn.functional.one_hot(y, out.shape[1]).movedim(-1, 1)  # (batch, classes, N)
    return -(logp * onehot).sum(1).mean(0), (logp.exp() - onehot) / len(out)


def member_losses(out, y, loss):
    """Each member's mean loss: out (batch, outputs, N) -> (N,)."""
    if loss == "mse":
        return (out - (y if y.ndim == 3 else y[..., None])).pow(2).mean((0, 1))
    y = y if y.ndim == 2 else y[:, None].expand(-1, out.shape[-1])
    return nn.functional.cross_entropy(out, y, reduction="none").mean(0)


# ---- the general path: vmap(functional_call) and autograd --------------------------------------------------


def forward_vmap(members, x, params=None, keep=None, training=False):
    """All members' outputs on x (batch, in) or (batch, in, N) -> (batch, out, N), for any architecture.

    params: name -> (N, ...) to use (default members.stacked()); keep=(inputs, outputs): lists that receive
    what enters and leaves each Linear layer; training=True runs BatchNorm on batch statistics and
    updates members.buffers in place, as a module in train mode does.
    """
    seen = []  # (input, output) of each Linear layer, for one member inside vmap
    base = members.base.train(training)
    hooks = (
        [m.register_forward_hook(lambda m, a, o: seen.append((a[0], o))) for m in linear_layers(base)]
        if keep is not None
        else []
    )

    def run(params, buffers, xi):
        seen.clear()
        return functional_call(base, (params, buffers), (xi,)), list(seen)

    try:  # params and buffers (N, ...), x shared or per member along its last axis
        out, pairs = vmap(run, in_dims=(0, 0, None if x.ndim == 2 else -1))(
            members.stacked() if params is None else params, members.buffers, x
        )
    finally:
        for h in hooks:
            h.remove()
    for a, o in pairs:  # each (N, batch, width)
        keep[0].append(a.movedim(0, -1))
        keep[1].append(o.movedim(0, -1))
    return out.movedim(0, -1)  # (batch, out, N)


def gradients_vmap(members, x, y, loss):
    """(losses (N,), grads (P, N)) on one batch, by autograd through vmap; members are independent."""
    leaves = {k: v.detach().requires_grad_() for k, v in members.stacked().items()}  # name -> (N, ...)
    losses = member_losses(forward_vmap(members, x, leaves, training=True), y, loss)
    grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
    torch.cat([g.flatten(1) for g in grads], 1, out=members.grads.T)  # (N, P)
    return losses.detach(), members.grads


# ---- evaluation and statistics ---------------------------------------------------------------------------


def evaluate_many(forward, members, x, y, loss):
    """(loss, accuracy or None) of every member on (x, y) in eval mode, each (N,)."""
    out = torch.cat([forward(members, xc) for xc in x.split(CHUNK)])  # (n, outputs, N)
    acc = (out.argmax(1) == y[:, None]).float().mean(0) if loss == "cross_entropy" else None
    return member_losses(out, y, loss), acc


def stats_many(members, x, y, loss):
    """helpers.stats.summary for every member at once, in eval mode: name -> (N, layers)."""
    inputs, outputs = [], []  # per Linear layer, each (n, width, N)
    params = members.stacked(members.flat.detach().requires_grad_())  # name -> (N, ...)
    losses = member_losses(forward_vmap(members, x, params, keep=(inputs, outputs)), y, loss)  # (N,)
    layers = linear_layers(members.base)
    names = [name for name, m in members.base.named_modules() if any(m is layer for layer in layers)]
    weights = [params[f"{name}.weight"] for name in names]  # each (N, fan_out, fan_in)
    grads = torch.autograd.grad(losses.sum(), weights)  # members are independent: each gets its own
    weights, grads = [[t.detach().movedim(0, -1) for t in ts] for ts in (weights, grads)]  # members last
    acts = [a.detach() for a in inputs[1:] + outputs[-1:]]  # what each layer emits
    activation, nan = find_activation(members.base), torch.full_like(losses, math.nan).detach()

    def per_layer(tensors, fn):  # fn: (values, N) -> (N,); returns (N, layers)
        return torch.stack([fn(t.flatten(0, -2)) for t in tensors], 1)

    def hidden(fn):  # fn of each hidden layer's (n, width, N); NaN for the output layer
        return torch.stack([fn(a) for a in acts[:-1]] + [nan], 1)

    def std(t):  # two passes: much faster than Tensor.std along a non-contiguous axis
        return (t - t.mean(0)).pow(2).sum(0).div(len(t) - 1).sqrt()

    slope = SLOPE.get(activation)
    return {
        "weight_mean": per_layer(weights, lambda t: t.mean(0)),
        "weight_std": per_layer(weights, std),
        "weight_norm": per_layer(weights, lambda t: t.norm(dim=0)),
        "act_mean": per_layer(acts, lambda t: t.mean(0)),
        "act_std": per_layer(acts, std),
        "dead": hidden(lambda a: (a == 0).all(0).float().mean(0) * (activation == "relu")),
        "saturated": hidden(lambda a: (slope(a) < SATURATION).float().mean((0, 1)) if slope else nan),
        "grad_mean": per_layer(grads, lambda t: t.mean(0)),
        "grad_std": per_layer(grads, std),
        "grad_norm": per_layer(grads, lambda t: t.norm(dim=0)),
    }
