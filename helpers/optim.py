"""Optimizers the lessons build to show what goes wrong: SGD with small gradients clamped upward."""

import torch


def raise_small(g, floor, keep_sign=True):
    """g with its small components raised: sign(g) * max(|g|, floor), or g.clamp(min=floor) if not keep_sign.

    A zero component counts as positive, so with keep_sign it becomes +floor.
    """
    if not keep_sign:
        return g.clamp(min=floor)
    return torch.where(g >= 0, 1.0, -1.0) * g.abs().clamp(min=floor)


class ClampSGD(torch.optim.SGD):
    """torch.optim.SGD that replaces every gradient by raise_small(grad, floor, keep_sign) before the step."""

    def __init__(self, params, floor=0.0, keep_sign=True, **kwargs):
        if not (isinstance(floor, (int, float)) and not isinstance(floor, bool) and floor >= 0):
            raise ValueError(f"floor: expected a number >= 0, got {floor!r}")
        super().__init__(params, **kwargs)
        self.floor, self.keep_sign = float(floor), bool(keep_sign)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.copy_(raise_small(p.grad, self.floor, self.keep_sign))
        return super().step(closure)
