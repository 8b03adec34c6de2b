"""Many models at once: N copies of one architecture trained side by side in one vectorised pass."""

import copy
import math
import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from helpers.checks import check_choice, linear_layers
from helpers.models import ACTIVATIONS
from helpers.stats import LOSSES, SATURATION, SLOPE, find_activation
from helpers.train import History, batch_order, check_split, epochs_of, make_optimizer

SMALL = 16  # widest fan-in for the multiply-add loop; wider layers go through vmap's batched matmul
BROADCAST = 2**16  # below this many products per layer one broadcast beats a loop of fused adds
MEMORY_FRACTION = 0.5  # refuse an N whose estimated footprint exceeds this share of available memory


@dataclass
class ManyHistory:
    """What train_many recorded, one row per model; entries from a member's divergence on are NaN."""

    train_loss: torch.Tensor  # (models, epochs) loss over the whole training set
    test_loss: torch.Tensor  # (models, epochs) loss over the whole test set
    train_acc: torch.Tensor | None  # (models, epochs), classification only
    test_acc: torch.Tensor | None
    layers: dict  # statistic -> (models, epochs, layers), track=True only
    diverged_at: list  # per model: epoch (from 1) whose loss became NaN or inf, or None
    params: dict  # parameter name -> (models, ...) final weights
    template: nn.Module  # the architecture, for .model(i)

    def __len__(self):
        return len(self.diverged_at)

    @property
    def diverged(self):
        """(models,) bool: which members diverged."""
        return torch.tensor([d is not None for d in self.diverged_at])

    def model(self, i):
        """Member i as an ordinary nn.Module with its final weights."""
        m = copy.deepcopy(self.template)
        m.load_state_dict({k: v[i] for k, v in self.params.items()})
        return m

    def history(self, i):
        """Member i's record as a helpers.History, as helpers.train would have returned it."""
        done = self.train_loss.shape[1] if self.diverged_at[i] is None else self.diverged_at[i] - 1
        acc = self.train_acc is not None
        return History(
            name=f"model {i}",
            train_loss=self.train_loss[i, :done].tolist(),
            test_loss=self.test_loss[i, :done].tolist(),
            train_acc=self.train_acc[i, :done].tolist() if acc else [],
            test_acc=self.test_acc[i, :done].tolist() if acc else [],
            layers={k: v[i, :done].tolist() for k, v in self.layers.items()},
            diverged_at=self.diverged_at[i],
        )


def build(models, seeds):
    """A list of modules from a list, or from a zero-argument factory seeded once per seed."""
    if isinstance(models, nn.Module):
        raise ValueError("models: expected a list of modules or a zero-argument factory; wrap one in a list")
    if callable(models):
        seeds = list(seeds) if seeds is not None else []
        if not seeds:
            raise ValueError("seeds: a factory needs a non-empty list of seeds, one per model")
        made = []
        with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
            for s in seeds:
                torch.manual_seed(s)
                made.append(models())
        models = made
    elif seeds is not None:
        raise ValueError("seeds: only used with a factory; a list of modules already has its weights")
    models = list(models)
    if not models or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models: expected a non-empty list of nn.Module, got {models!r:.80}")
    return models


def check_architecture(models):
    """Raise unless every model has model 0's layers and parameter shapes, and no unsupported layer."""
    first = models[0]
    for m in first.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm | nn.modules.dropout._DropoutNd):
            raise ValueError(
                f"models: {type(m).__name__} is not supported by train_many (its output depends on the "
                "batch or on randomness); train such models one at a time with helpers.train"
            )
    if any(True for _ in first.buffers()):
        raise ValueError("models: layers with buffers (running statistics) are not supported by train_many")
    arch = [(type(m), [(n, p.shape) for n, p in m.named_parameters(recurse=False)]) for m in first.modules()]
    for i, model in enumerate(models[1:], 1):
        mine = [
            (type(m), [(n, p.shape) for n, p in m.named_parameters(recurse=False)]) for m in model.modules()
        ]
        if mine != arch:
            raise ValueError(f"models: model {i} has a different architecture from model 0; all must match")


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable from /proc/meminfo)."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def bytes_per_model(model, n):
    """Estimated bytes one member needs: 5 copies of its weights, 6 of its units' values on n samples."""
    size = next(model.parameters()).element_size()
    params = sum(p.numel() for p in model.parameters())  # weights, grads, 2 optimizer slots, a spare
    units = sum(m.weight.shape[0] for m in linear_layers(model))  # outputs, activations, their grads
    return size * (5 * params + 6 * n * units)  # measured: 186 MB for 1000 lecture nets, track=True


def check_memory(models, data, fraction):
    n = max(len(data.x_train), len(data.x_test))
    need, free = len(models) * bytes_per_model(models[0], n), available_memory()
    if need > fraction * free:
        raise ValueError(
            f"models: {len(models)} models need about {need / 1e9:.2f} GB "
            f"({bytes_per_model(models[0], n) / 1e3:.0f} kB each), more than {fraction:.0%} of the "
            f"{free / 1e9:.2f} GB available; train fewer models (or seeds) per call"
        )


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
    track=False,
    memory_fraction=MEMORY_FRACTION,
    progress=False,
    **optimizer_kwargs,
):
    """Train N copies of one architecture on the same batches in one vectorised pass; a ManyHistory.

    models: a list of modules (left untouched; get trained copies with .model(i)), or a zero-argument
    factory called after torch.manual_seed(s) for each s in seeds. Member i ends as helpers.train(models[i],
    data, seed=seed, ...) would leave it: same batches, same updates (SGD, momentum and Adam act element
    by element), up to float rounding. A member whose loss turns NaN or inf is frozen from that batch on
    (its weights are the ones that produced it) and its later entries are NaN; the others go on.
    Memory: about 4 * (5 * P + 6 * n * U) bytes per float32 model (P parameters, U units, n the larger of
    the train and test set): 220 kB for the lecture net; N needing more than memory_fraction of available
    memory is refused. BatchNorm and Dropout are not supported (they couple samples or need randomness).
    Plain stacks of small Linear layers and activations run through a hand-vectorised forward (about
    twice as fast); every other architecture through vmap(functional_call). Both give the same numbers.
    progress=True shows a bar over the epochs (for live sessions and widgets, not stored outputs).
    """
    check_choice(loss, LOSSES, "loss")
    check_split(data, loss)
    models = build(models, seeds)
    check_architecture(models)
    check_memory(models, data, memory_fraction)
    # Each parameter is stored models-last, e.g. a weight as (fan_in, fan_out, models): element-wise
    # work on tiny layers then runs along a long contiguous axis. stacked() gives (models, ...) views.
    leaves = {
        k: v.detach().permute(*reversed(range(v.ndim))).contiguous().requires_grad_()
        for k, v in stack_module_state(models)[0].items()
    }
    base = copy.deepcopy(models[0]).to("meta")  # the architecture only, for functional_call
    forward = forward_small if small_layers(base) else forward_vmap
    n = len(models)
    opt = make_optimizer(optimizer, list(leaves.values()), lr, **optimizer_kwargs)
    alive = torch.ones(n, dtype=torch.bool)
    record = {k: [] for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    layers, diverged_at = {}, [None] * n
    for epoch, batches in epochs_of(batch_order(len(data.x_train), batch_size, epochs, seed), progress):
        for idx in batches:
            out = forward(base, leaves, data.x_train[idx])  # (batch, outputs, models)
            losses = member_losses(out, data.y_train[idx], loss)  # (models,)
            ok = alive & losses.isfinite()
            opt.zero_grad()
            torch.where(ok, losses, 0.0).sum().backward()  # members are independent: grads stay apart
            if bool(ok.all()):
                opt.step()
            else:
                step_frozen(opt, leaves, ok)
            alive = ok
        with torch.no_grad():
            scores = [evaluate_many(forward, base, leaves, x, y, loss) for x, y in split_sets(data)]
        alive &= torch.stack([s[0] for s in scores]).isfinite().all(0)
        for i in (~alive).nonzero().flatten().tolist():
            diverged_at[i] = diverged_at[i] or epoch
        for key, value in zip(record, [s[k] for k in (0, 1) for s in scores]):
            if value is not None:
                record[key].append(torch.where(alive, value, math.nan))
        if track:
            for key, value in stats_many(base, leaves, data.x_train, data.y_train, loss).items():
                layers.setdefault(key, []).append(torch.where(alive[:, None], value, math.nan))
    return ManyHistory(
        **{k: torch.stack(v, 1) if v else None for k, v in record.items()},  # each (models, epochs)
        layers={k: torch.stack(v, 1) for k, v in layers.items()},  # each (models, epochs, layers)
        diverged_at=diverged_at,
        params={k: v.detach() for k, v in stacked(leaves).items()},
        template=copy.deepcopy(models[0]),
    )


def stacked(leaves):
    """Views of models-last parameters as stack_module_state lays them out: name -> (models, ...)."""
    return {k: v.permute(*reversed(range(v.ndim))) for k, v in leaves.items()}


def small_layers(base):
    """True if base is a flat stack of Linear layers (fan-in after the first <= SMALL) and activations."""
    kinds = tuple(ACTIVATIONS.values())
    sequential = isinstance(base, nn.Sequential) and type(base).forward is nn.Sequential.forward
    mods = list(base.children()) if sequential else []
    linear = [m for m in mods if isinstance(m, nn.Linear)]
    flat = all(isinstance(m, nn.Linear) or type(m) in kinds for m in mods)
    return bool(linear) and flat and all(m.in_features <= SMALL for m in linear[1:])


def forward_small(base, leaves, x):
    """All members' outputs on x (batch, in) -> (batch, out, models), for small_layers models."""
    h = x
    for name, m in base.named_children():
        if not isinstance(m, nn.Linear):
            h = m(h)  # an element-wise activation
            continue
        w, b = leaves[f"{name}.weight"], leaves.get(f"{name}.bias")  # (in, out, models), (out, models)
        if h.ndim == 2:  # the same input for every member: one matrix product
            out = (h @ w.flatten(1)).unflatten(1, w.shape[1:])
        elif h.shape[0] * w.numel() <= BROADCAST:  # (batch, in, models): one product, summed over in
            out = (h[:, :, None] * w).sum(1)
        else:  # large: a fused multiply-add per input unit keeps intermediates at (batch, out, models)
            hs, ws = h.unbind(1), w.unbind(0)  # (batch, models) and (out, models) per input unit
            out = hs[0][:, None] * ws[0]
            for hi, wi in zip(hs[1:], ws[1:]):
                out = torch.addcmul(out, hi[:, None], wi)
        h = out if b is None else out + b  # (batch, out, models)
    return h


def forward_vmap(base, leaves, x, keep=None):
    """All members' outputs on x (batch, in) -> (batch, out, models), for any supported architecture.

    keep=(inputs, outputs): lists that receive what enters and leaves each Linear layer.
    """
    seen = []  # (input, output) of each Linear layer, for one member inside vmap
    layers = linear_layers(base) if keep is not None else []
    hooks = [m.register_forward_hook(lambda m, a, o: seen.append((a[0], o))) for m in layers]

    def run(p):
        seen.clear()
        return functional_call(base, p, (x,)), list(seen)

    try:
        out, pairs = vmap(run)(stacked(leaves))  # (models, batch, out), [((models, batch, width), ...)]
    finally:
        for h in hooks:
            h.remove()
    for a, o in pairs:
        keep[0].append(a.movedim(0, -1))
        keep[1].append(o.movedim(0, -1))
    return out.movedim(0, -1)


def member_losses(out, y, loss):
    """Each member's mean loss: out (batch, outputs, models) -> (models,)."""
    if loss == "mse":
        return (out - y[..., None]).pow(2).mean((0, 1))
    return nn.functional.cross_entropy(out, y[:, None].expand(-1, out.shape[-1]), reduction="none").mean(0)


def split_sets(data):
    return (data.x_train, data.y_train), (data.x_test, data.y_test)


def step_frozen(opt, leaves, ok):
    """An optimizer step that leaves the members where ok is False exactly as they were."""
    before = [p.detach().clone() for p in leaves.values()]
    opt.step()
    with torch.no_grad():
        for p, b in zip(leaves.values(), before):
            p.copy_(torch.where(ok, p, b))  # ok (models,) lines up with the last axis


def evaluate_many(forward, base, leaves, x, y, loss, chunk=100):
    """(loss, accuracy or None) of every member on (x, y), each (models,); chunks keep work in cache."""
    out = torch.cat([forward(base, leaves, xc) for xc in x.split(chunk)])  # (n, outputs, models)
    acc = (out.argmax(1) == y[:, None]).float().mean(0) if loss == "cross_entropy" else None
    return member_losses(out, y, loss), acc


def stats_many(base, leaves, x, y, loss):
    """helpers.stats.summary for every member at once: name -> (models, layers)."""
    inputs, outputs = [], []  # per Linear layer, each (n, width, models)
    losses = member_losses(forward_vmap(base, leaves, x, keep=(inputs, outputs)), y, loss)  # (models,)
    names = [name for name, m in base.named_modules() if m in linear_layers(base)]
    weights = [leaves[f"{name}.weight"] for name in names]  # each (fan_in, fan_out, models)
    grads = torch.autograd.grad(losses.sum(), weights)  # members are independent: each gets its own
    acts = [a.detach() for a in inputs[1:] + outputs[-1:]]  # what each layer emits
    activation, nan = find_activation(base), torch.full_like(losses, math.nan)

    def per_layer(tensors, fn):  # fn: (values, models) -> (models,); returns (models, layers)
        return torch.stack([fn(t.detach().flatten(0, -2)) for t in tensors], 1)

    def hidden(fn):  # fn of each hidden layer's (n, width, models); NaN for the output layer
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
