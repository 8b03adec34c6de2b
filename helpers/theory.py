"""Closed forms and mean-field predictions that the lessons draw over their measurements.

Sources: Poole et al. 2016 (variance map), Schoenholz et al. 2017 (chi, depth scales), Saxe et al. 2014
(deep linear nets), Hanin & Rolnick 2018 (log-norm drift of ReLU nets), Lu et al. 2019 (born-dead ReLU nets).
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers.checks import check_choice, check_positive, check_positive_int, generator

ACTIVATIONS = ("linear", "identity", "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu")
METHODS = ("halves", "hermite")
TAIL = 12.0  # the quadrature stops at 12 standard deviations: the Gaussian mass beyond is below 1e-32


def _check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


def _check_nonnegative(value, name):
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")


def _variances(q, name):
    """q as a 1-D float64 tensor, and whether it was a scalar; raises on negative or non-finite values."""
    try:
        t = torch.as_tensor(q.detach() if isinstance(q, torch.Tensor) else np.asarray(q), dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if isinstance(q, bool) or t is None or t.ndim > 1 or not (torch.isfinite(t) & (t >= 0)).all():
        raise ValueError(f"{name}: expected a variance >= 0 or a 1-D array of them, got {q!r}")
    return t.reshape(-1), t.ndim == 0


def phi(activation="tanh", slope=0.01):
    """The activation as a function of a tensor (torch's own); slope is leaky_relu's negative slope."""
    check_choice(activation, ACTIVATIONS, "activation")
    _check_number(slope, "slope")
    return {
        "linear": lambda z: z,
        "identity": lambda z: z,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, slope),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "elu": F.elu,
        "gelu": F.gelu,
    }[activation]


def derivative(activation="tanh", slope=0.01):
    """phi' as a function of a tensor, by autograd through phi (elementwise, so the gradient of the sum)."""
    f = phi(activation, slope)

    def df(z):
        with torch.enable_grad():
            z = torch.as_tensor(z).detach().requires_grad_()
            return torch.autograd.grad(f(z).sum(), z)[0]

    return df


@functools.cache
def _nodes(nodes, method):
    if method == "hermite":  # z = x * sqrt(q), weights for exp(-x^2 / 2), normalised to sum 1
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        return torch.from_numpy(x), torch.from_numpy(w / w.sum())
    t, w = np.polynomial.legendre.leggauss(nodes)  # on [-1, 1], mapped to [0, 1]
    return torch.from_numpy((t + 1) / 2), torch.from_numpy(w / 2)


def gauss_expect(fn, q, nodes=101, method="halves"):
    """E[fn(z)] for z ~ N(0, q): a float, or a float64 tensor for a 1-D q (fn must act elementwise).

    method 'hermite' is plain Gauss-Hermite quadrature, exact for polynomials but poor on kinks (ReLU's
    slope: 12 % off with 101 nodes) and on tanh at large q (tanh'^2: 2 % off at q = 10). The default
    'halves' integrates z > 0 and z < 0 apart, with Gauss-Legendre nodes in t where z = sinh(t), which
    resolves both the activation's unit scale and the Gaussian's scale sqrt(q): about 1e-13 for every
    activation here, from q = 1e-4 to 1e4.
    """
    if not callable(fn):
        raise ValueError(f"fn: expected a function of a tensor, got {fn!r}")
    check_positive_int(nodes, "nodes")
    check_choice(method, METHODS, "method")
    qs, scalar = _variances(q, "q")
    x, w = _nodes(nodes, method)
    at_zero = torch.as_tensor(fn(torch.zeros(1, dtype=torch.float64)), dtype=torch.float64)  # the q = 0 limit
    s = torch.where(qs > 0, qs, 1.0).sqrt()[:, None]  # (len(q), 1): the Gaussian's std (1 where q = 0)
    if method == "hermite":
        z = s * x  # (len(q), nodes)
        out = (torch.as_tensor(fn(z), dtype=torch.float64) * w).sum(-1)
    else:
        end = torch.asinh(TAIL * s)  # (len(q), 1): t at 12 standard deviations
        t, dt = end * x, end * w  # (len(q), nodes)
        z = torch.sinh(t)
        density = torch.exp(-0.5 * (z / s) ** 2) / (s * math.sqrt(2 * math.pi)) * torch.cosh(t)  # dz/dt
        both = torch.as_tensor(fn(z), dtype=torch.float64) + torch.as_tensor(fn(-z), dtype=torch.float64)
        out = (both * density * dt).sum(-1)
    out = torch.where(qs > 0, out, at_zero)
    return out.item() if scalar else out


def variance_map(q, sigma_w2, sigma_b2=0.0, activation="tanh", slope=0.01):
    """Next layer's pre-activation variance sigma_w2 * E[phi(z)^2] + sigma_b2, z ~ N(0, q) (Poole et al.).

    sigma_w2 = fan_in * Var(w) and sigma_b2 = Var(b); q may be a 1-D array, as in gauss_expect.
    """
    check_choice(activation, ACTIVATIONS, "activation")
    _check_nonnegative(sigma_w2, "sigma_w2")
    _check_nonnegative(sigma_b2, "sigma_b2")
    f = phi(activation, slope)
    return sigma_w2 * gauss_expect(lambda z: f(z) ** 2, q) + sigma_b2


def forward_variances(q0, depth, sigma_w2, sigma_b2=0.0, activation="tanh", slope=0.01):
    """(depth + 1,) predicted pre-activation variances q_0 = q0, q_l = variance_map(q_(l-1)), in float64."""
    _check_nonnegative(q0, "q0")
    check_positive_int(depth, "depth")
    variance_map(q0, sigma_w2, sigma_b2, activation, slope)  # checks the rest before the loop
    q = [float(q0)]
    for _ in range(depth):
        q.append(variance_map(q[-1], sigma_w2, sigma_b2, activation, slope))
    return torch.tensor(q, dtype=torch.float64)


def fixed_point(sigma_w2, sigma_b2=0.0, activation="tanh", slope=0.01, q0=1.0, steps=1000):
    """q* = variance_map(q*), by iterating the map from q0 until it stops moving (Poole et al. 2016)."""
    _check_nonnegative(q0, "q0")
    check_positive_int(steps, "steps")
    q = float(q0)
    for _ in range(steps):  # slow near the edge of chaos, where the map's slope at q* tends to 1
        q, last = variance_map(q, sigma_w2, sigma_b2, activation, slope), q
        if abs(q - last) <= 1e-13 * q:
            break
    return q


def chi(q, sigma_w2, activation="tanh", slope=0.01):
    """sigma_w2 * E[phi'(z)^2], z ~ N(0, q): the per-layer growth of the mean squared gradient.

    Schoenholz et al. 2017 call it chi_1 at the fixed point q*; chi > 1 there means exploding gradients,
    chi < 1 vanishing, chi = 1 is the 'edge of chaos'. Assumes square layers (fan_in = fan_out).
    """
    check_choice(activation, ACTIVATIONS, "activation")
    _check_nonnegative(sigma_w2, "sigma_w2")
    df = derivative(activation, slope)
    return sigma_w2 * gauss_expect(lambda z: df(z) ** 2, q)


def gradient_variances(q0, depth, sigma_w2, sigma_b2=0.0, activation="tanh", slope=0.01):
    """(depth,) predicted E[(dL/dz_l)^2] relative to the top layer's, layers 1 (input side) to depth.

    q0 is layer 1's pre-activation variance. Backward, dL/dz_l = phi'(z_l) * W_(l+1)^T dL/dz_(l+1), so each
    step down multiplies the mean square by chi(q_l) (mean field, with Schoenholz et al.'s assumption that
    the backward weights are independent of the forward ones; exact as the width grows).
    """
    q = forward_variances(q0, depth, sigma_w2, sigma_b2, activation, slope)[: depth - 1]  # q_1..q_(depth-1)
    factors = torch.cat([chi(q, sigma_w2, activation, slope), torch.ones(1, dtype=torch.float64)])
    return factors.flip(0).cumprod(0).flip(0)  # product of chi(q_k) for k = l..depth-1


def predicted_act_std(std, width, depth, activation="tanh", bias_std=0.0, input_var=1.0, slope=0.01):
    """(depth,) predicted std of phi(z_l) over units and inputs, layers 1..depth of square width x width.

    Weights have std `std`, biases `bias_std`, and the input's entries mean square input_var.
    """
    _check_nonnegative(std, "std")
    check_positive_int(width, "width")
    _check_nonnegative(bias_std, "bias_std")
    _check_nonnegative(input_var, "input_var")
    sigma_w2, sigma_b2 = width * std**2, bias_std**2
    q1 = sigma_w2 * input_var + sigma_b2  # layer 1's pre-activation variance
    q = forward_variances(q1, depth, sigma_w2, sigma_b2, activation, slope)[:depth]  # (depth,)
    f = phi(activation, slope)
    return (gauss_expect(lambda z: f(z) ** 2, q) - gauss_expect(f, q) ** 2).clamp(min=0).sqrt()


@dataclass
class Growth:
    """How the norm of a unit vector grows through a product of random Gaussian matrices."""

    mean_square: float  # E[||x_L||^2]: the mean-square growth
    typical: float  # exp(E[log ||x_L||]): the typical (median-like) growth of the norm
    lyapunov: float  # E[log ||x_L||] / L: the log-growth per layer
    log_std: float  # std of log ||x_L|| over draws


def matrix_product_growth(n, depth, scale=1.0):
    """Growth of ||W_L ... W_1 x|| for a unit x and i.i.d. N(0, scale^2 / n) entries (Saxe et al. 2014).

    Each layer multiplies ||x||^2 by scale^2 * chi2_n / n, independently of x's direction, so all four
    numbers are exact: E[log chi2_n] = digamma(n/2) + log 2, Var[log chi2_n] = trigamma(n/2).
    The typical growth lags sqrt(mean_square) by about exp(-L / (2n)): a product of many random factors
    is ruled by its median, not its mean.
    """
    check_positive_int(n, "n")
    check_positive_int(depth, "depth")
    check_positive(scale, "scale")
    half = torch.tensor(n / 2, dtype=torch.float64)
    rate = math.log(scale) + 0.5 * (torch.special.digamma(half).item() + math.log(2 / n))
    return Growth(
        mean_square=scale ** (2 * depth),
        typical=math.exp(depth * rate),
        lyapunov=rate,
        log_std=math.sqrt(depth * torch.special.polygamma(1, half).item() / 4),
    )


def relu_mean_square_factor(c, slope=0.0):
    """(c/2) * (1 + slope^2): how much E[||h||^2] grows per layer with weights N(0, c / fan_in)."""
    _check_nonnegative(c, "c")
    _check_number(slope, "slope")
    return c / 2 * (1 + slope**2)


def relu_log_growth(width, c=2.0):
    """E[log(||h_l|| / ||h_(l-1)||)] per layer of a bias-free ReLU net, weights N(0, c / width), exact.

    ||h_l||^2 / ||h_(l-1)||^2 = (c / width) * chi2_K with K ~ Binomial(width, 1/2) live units (Hanin &
    Rolnick 2018); we average digamma(K/2) + log 2 over K >= 1 (K = 0, probability 2^-width, is a dead
    layer with log 0 = -inf). For large width it is about log(c/2)/2 - 1.25 / width: at c = 2 the norm
    drifts down like exp(-1.25 L / width) while its mean square stays put (-0.01271 exact at width 100).
    """
    check_positive_int(width, "width")
    check_positive(c, "c")
    k = torch.arange(1, width + 1, dtype=torch.float64)
    log_binom = torch.lgamma(torch.tensor(width + 1.0, dtype=torch.float64)) - torch.lgamma(k + 1)
    log_p = log_binom - torch.lgamma(width - k + 1) - width * math.log(2)  # P(K = k), k >= 1
    p = log_p.exp() / log_p.exp().sum()
    e_log_chi2 = (p * (torch.special.digamma(k / 2) + math.log(2))).sum().item()
    return 0.5 * (math.log(c / width) + e_log_chi2)


def signal_norms(c, width=100, depth=50, seeds=200, slope=0.0, seed=0, backward=True):
    """(acts, deltas): norms ||h_l|| and ||dL/dz_l|| in `seeds` deep random leaky-ReLU nets at once.

    Bias-free width x width layers, weights N(0, c / width); slope is the activation's slope for z < 0
    (0: ReLU, 1: linear). Draws, from one generator: the inputs x (seeds, width), then v (seeds, width),
    then each layer's N(0, 1) weights (seeds, width, width), shared by every c. The loss is
    L = v . h_depth, so dL/dh_depth = v, a random unit-variance vector; autograd gives dL/dz_l.
    acts is (seeds, depth + 1) with acts[:, 0] = ||x||, deltas (seeds, depth) with deltas[:, l - 1] for
    layer l; a list of c adds a leading axis. deltas is None when backward=False.
    """
    cs = list(c) if isinstance(c, list | tuple) else [c]
    for value in cs:
        check_positive(value, "c")
    check_positive_int(width, "width")
    check_positive_int(depth, "depth")
    check_positive_int(seeds, "seeds")
    _check_number(slope, "slope")
    g = generator(seed)
    x = torch.randn(seeds, width, generator=g)  # (seeds, width): one input per net
    v = torch.randn(seeds, width, generator=g)  # (seeds, width): dL/dh at the top
    scale = torch.tensor(cs).div(width).sqrt().view(-1, 1, 1)  # (cs, 1, 1): the weights' std
    with torch.set_grad_enabled(backward):
        h = x.expand(len(cs), seeds, width).clone().requires_grad_(backward)  # (cs, seeds, width)
        zs, acts = [], [h.detach().norm(dim=-1)]
        for _ in range(depth):
            w = torch.randn(seeds, width, width, generator=g)  # (seeds, out, in)
            zs.append(scale * torch.einsum("csi,soi->cso", h, w))  # (cs, seeds, width)
            h = F.leaky_relu(zs[-1], slope)
            acts.append(h.detach().norm(dim=-1))
        deltas = None
        if backward:
            grads = torch.autograd.grad((v * h).sum(), zs)  # nets are independent: one sum, one pass
            deltas = torch.stack([d.norm(dim=-1) for d in grads], -1)  # (cs, seeds, depth)
    acts = torch.stack(acts, -1)  # (cs, seeds, depth + 1)
    if not isinstance(c, list | tuple):
        acts, deltas = acts[0], None if deltas is None else deltas[0]
    return acts, deltas


def born_dead_probability(width, hidden, p=0.5):
    """P(some hidden layer is dead on every input) = 1 - prod_l (1 - p_l^width), an idealisation.

    Assumes each unit of hidden layer l is dead on the whole data set with probability p_l, independently
    of the other units and layers (Lu et al. 2019 bound the same event as depth grows). p: one number per
    hidden layer, or a float for layers 2..hidden with layer 1 never dead (it sees inputs of both signs).
    The default 1/2 is the deep limit of torch's default init, where the biases outweigh the shrunken
    signal and a unit is off everywhere when its own bias is negative (lecture data, widths 1-8: 0.49-0.51
    per unit from layer 7 on). Shallower layers are not there yet (width 4: 0.16, 0.33, 0.43 at layers
    2-4), so a float p over-predicts short nets (4 hidden layers of 4: 0.18, measured 0.05); with the
    per-layer p of estimate_born_dead the formula matches the measurement (0.047 against 0.050).
    Without biases the units of a layer share their input and die together, and a dead layer kills all
    the layers after it: the formula fails then, except at width 1, where it is exact: 1 - 2^-(hidden-1).
    """
    check_positive_int(width, "width")
    check_positive_int(hidden, "hidden")
    try:
        ps = torch.as_tensor(p, dtype=torch.float64).reshape(-1).tolist()
    except (TypeError, ValueError, RuntimeError):
        ps = []
    if isinstance(p, int | float) and not isinstance(p, bool):
        ps = [0.0] + ps * (hidden - 1)  # layer 1 never dead
    if isinstance(p, bool) or len(ps) != hidden or not all(0 <= value <= 1 for value in ps):
        raise ValueError(f"p: expected a probability, or {hidden} of them (one per hidden layer), got {p!r}")
    return 1 - math.prod(1 - value**width for value in ps)


@dataclass
class BornDead:
    """Dead-at-birth counts over many freshly initialised ReLU nets (dead: zero on every input)."""

    unit: torch.Tensor  # (hidden,): fraction of units dead, per hidden layer
    layer: torch.Tensor  # (hidden,): fraction of nets whose hidden layer l is entirely dead
    net: float  # fraction of nets with at least one entirely dead hidden layer
    seeds: int  # how many nets


def estimate_born_dead(width, hidden, seeds=2000, x=None, bias=True, seed=0):
    """Monte Carlo: `seeds` ReLU nets like lecture_net("relu", hidden, width) with torch's default init.

    Draws every weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn.Linear's reset does, all
    nets at once; x defaults to the lecture's training inputs. The output layer cannot be dead: not drawn.
    """
    check_positive_int(width, "width")
    check_positive_int(hidden, "hidden")
    check_positive_int(seeds, "seeds")
    if x is None:
        from helpers.data import lecture_split

        x = lecture_split().x_train
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x: expected a non-empty batch of shape (batch, features), got {tuple(x.shape)}")
    g = generator(seed)
    h, units = x.expand(seeds, *x.shape), []  # h: (seeds, batch, fan_in)
    for _ in range(hidden):
        bound = 1 / math.sqrt(h.shape[-1])
        w = (2 * torch.rand(seeds, h.shape[-1], width, generator=g) - 1) * bound  # (seeds, fan_in, width)
        b = (2 * torch.rand(seeds, 1, width, generator=g) - 1) * bound  # (seeds, 1, width), drawn either way
        h = torch.relu(torch.baddbmm(b if bias else torch.zeros_like(b), h, w))  # (seeds, batch, width)
        units.append((h == 0).all(1))  # (seeds, width): dead on every input
    dead = torch.stack(units)  # (hidden, seeds, width)
    return BornDead(
        unit=dead.float().mean((1, 2)),
        layer=dead.all(2).float().mean(1),
        net=dead.all(2).any(0).float().mean().item(),
        seeds=seeds,
    )
