"""Optimizer updates for many models at once: each column of a (P, N) block is one model's parameters.

SGD and Adam follow torch.optim.SGD (dampening 0) and torch.optim.Adam (amsgrad off) operation by
operation, with every hyperparameter a tensor of one value per member (N,) that broadcasts along the
last axis; clip() does clip_grad_norm_ and clip_grad_value_ per member.
"""

import math

import torch


@torch.no_grad()
def clip(grads, clip_norm, clip_value):
    """Clip each member's gradient (P, N) in place; the norm is over that member's own parameters."""
    if clip_norm is not None:  # (N,): as clip_grad_norm_, the whole gradient scaled down to norm max_norm
        grads.mul_((clip_norm / (grads.norm(dim=0) + 1e-6)).clamp(max=1.0))
    if clip_value is not None:  # (N,): as clip_grad_value_
        grads.clamp_(-clip_value, clip_value)


class SGD:
    """torch.optim.SGD on a (P, N) block: momentum, nesterov and weight decay, one value per member."""

    def __init__(self, params, momentum, nesterov, weight_decay):
        self.momentum, self.nesterov = momentum, nesterov  # (N,), bool
        self.weight_decay = weight_decay if weight_decay.any() else None  # (N,)
        self.buf = torch.zeros_like(params) if momentum.any() else None  # (P, N) momentum buffer

    @torch.no_grad()
    def step(self, params, grads, lr):
        """One update of params (P, N) in place from grads (P, N) at rates lr (N,), float64."""
        if self.weight_decay is not None:
            grads = grads.addcmul(params, self.weight_decay)  # g + wd * p
        if self.buf is not None:  # buf starts at 0, so step 1 gives buf = g as torch's clone does
            self.buf.mul_(self.momentum).add_(grads)
            grads = grads.addcmul(self.buf, self.momentum) if self.nesterov else self.buf
        params.addcmul_(grads, lr.float(), value=-1)  # p - lr * g


class Adam:
    """torch.optim.Adam on a (P, N) block: lr and weight decay one value per member, shared betas and eps."""

    def __init__(self, params, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        self.weight_decay = weight_decay if weight_decay.any() else None  # (N,)
        self.betas, self.eps, self.t = betas, eps, 0
        self.m, self.v = torch.zeros_like(params), torch.zeros_like(params)  # (P, N) moment estimates

    @torch.no_grad()
    def step(self, params, grads, lr):
        """One update of params (P, N) in place from grads (P, N) at rates lr (N,), float64."""
        (b1, b2), self.t = self.betas, self.t + 1
        if self.weight_decay is not None:
            grads = grads.addcmul(params, self.weight_decay)
        self.m.lerp_(grads, 1 - b1)
        self.v.mul_(b2).addcmul_(grads, grads, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        step = (lr / (1 - b1**self.t)).float()  # (N,) lr over the bias correction, in double as torch
        params.addcdiv_(self.m * -step, denom)


class TorchOptimizer:
    """A torch.optim class run on the (P, N) block as one tensor: its update must act element by element."""

    def __init__(self, cls, params, lr, **kwargs):
        self.opt = cls([params], lr=lr, **kwargs)

    @torch.no_grad()
    def step(self, params, grads, lr):
        """One update of params in place; lr (N,) holds one value for all members."""
        self.opt.param_groups[0]["lr"] = lr[0].item()
        params.grad = grads
        self.opt.step()
        params.grad = None
