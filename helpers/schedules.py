"""Learning-rate schedules: a small spec -> the factor that multiplies lr at every update.

A spec counts epochs; an update is one batch. W, S, T below are the spec's epochs times the updates
per epoch, t the update's index from 0. Each equals a torch.optim.lr_scheduler stepped after every batch:

    None                    1 throughout
    ("warmup", k)           (t + 1) / W for the first W updates, then 1: LinearLR(start_factor=1/W,
                            total_iters=W-1)
    ("step", every, gamma)  gamma ** (t // S): StepLR(step_size=S, gamma=gamma)
    ("cosine",)             (1 + cos(pi t / T)) / 2 with T all updates of the run: CosineAnnealingLR(T_max=T)
    ("cosine", k)           the same with T from k epochs
    (spec, spec, ...)       the product, e.g. (("warmup", 2), ("cosine",)): LambdaLR of the product
    callable                f(t) -> factor: LambdaLR(f)
"""

import math

import torch

KINDS = {"warmup": 1, "step": 2, "cosine": (0, 1)}  # kind -> how many numbers follow it


def check_schedule(spec, name="schedule"):
    """Raise a ValueError naming `name` unless spec is a schedule spec (see the module docstring)."""
    if spec is None or callable(spec):
        return
    if isinstance(spec, tuple) and spec and all(isinstance(s, tuple) for s in spec):
        for s in spec:
            check_schedule(s, name)
        return
    kind, *args = spec if isinstance(spec, tuple) and spec else (None,)
    counts = KINDS.get(kind)
    ok = counts is not None and len(args) in (counts if isinstance(counts, tuple) else (counts,))
    if not ok or not all(isinstance(a, int | float) and not isinstance(a, bool) and a > 0 for a in args):
        raise ValueError(
            f"{name}: expected None, a callable t -> factor, ('warmup', epochs), ('step', every, gamma), "
            f"('cosine',), ('cosine', epochs) or a tuple of these, with positive numbers; got {spec!r}"
        )


def factor(spec, t, per_epoch, total):
    """The factor that spec gives update t (from 0) of a run of `total` updates, `per_epoch` per epoch."""
    if spec is None:
        return 1.0
    if callable(spec):
        return float(spec(t))
    if isinstance(spec[0], tuple):
        return math.prod(factor(s, t, per_epoch, total) for s in spec)
    kind, *args = spec
    if kind == "warmup":
        return min(1.0, (t + 1) / max(1, round(args[0] * per_epoch)))
    if kind == "step":
        return args[1] ** (t // max(1, round(args[0] * per_epoch)))
    return 0.5 * (1 + math.cos(math.pi * t / (max(1, round(args[0] * per_epoch)) if args else total)))


def factors(specs, per_epoch, total):
    """(total, len(specs)) float64 factors: row t multiplies each lr at update t (one column per spec)."""
    unique = list(dict.fromkeys(specs))  # members usually share a few specs: compute each once
    table = torch.tensor(
        [[factor(s, t, per_epoch, total) for s in unique] for t in range(total)], dtype=torch.float64
    )
    return table[:, [unique.index(s) for s in specs]]
