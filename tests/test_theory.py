"""helpers.theory: each closed form against a Monte-Carlo or autograd measurement, with stated tolerances."""

import math

import pytest
import torch
from torch import nn

import helpers
from helpers import theory


def within(measured, predicted, se, k=4.0):
    """True when measured is within k standard errors of predicted."""
    return abs(measured - predicted) <= k * se


# --- gauss_expect ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", theory.ACTIVATIONS)
def test_gauss_expect_matches_sampling(activation):
    g = torch.Generator().manual_seed(0)
    q, n = 2.5, 200_000
    z = math.sqrt(q) * torch.randn(n, generator=g, dtype=torch.float64)
    f, df = theory.phi(activation), theory.derivative(activation)
    for fn in (f, lambda t: f(t) ** 2, lambda t: df(t) ** 2):
        sample = fn(z)
        se = sample.std().item() / math.sqrt(n) + 1e-12  # + 1e-12: linear's phi'^2 has no spread
        assert within(sample.mean().item(), theory.gauss_expect(fn, q), se), activation


def test_gauss_expect_closed_forms_zero_and_arrays():
    q = torch.tensor([0.0, 0.01, 1.0, 30.0, 1e4])
    torch.testing.assert_close(theory.gauss_expect(lambda z: z**2, q), q.double())
    torch.testing.assert_close(theory.gauss_expect(lambda z: torch.relu(z) ** 2, q), q.double() / 2)
    torch.testing.assert_close(theory.gauss_expect(torch.relu, q), (q.double() / (2 * math.pi)).sqrt())
    slope = theory.derivative("relu")
    assert theory.gauss_expect(lambda z: slope(z) ** 2, 3.0) == pytest.approx(0.5, abs=1e-12)
    assert theory.gauss_expect(torch.sigmoid, 0.0) == 0.5  # q = 0: fn(0)
    assert isinstance(theory.gauss_expect(torch.tanh, 1), float)


def test_plain_hermite_is_exact_when_smooth_and_off_on_a_kink():
    tanh2 = lambda z: torch.tanh(z) ** 2  # noqa: E731
    assert theory.gauss_expect(tanh2, 1.0, method="hermite") == pytest.approx(
        theory.gauss_expect(tanh2, 1.0), rel=1e-9
    )
    step = lambda z: (z > 0).double()  # noqa: E731  ReLU's slope: why the default splits at 0
    assert abs(theory.gauss_expect(step, 1.0, method="hermite") - 0.5) > 0.05
    assert theory.gauss_expect(step, 1.0) == pytest.approx(0.5, abs=1e-12)


# --- variance map, chi and gradients against wide random nets ----------------------------------------


def wide_nets(activation, sigma_w2, sigma_b2, width=500, depth=10, batch=32, nets=16, seed=0):
    """Mean square of z_l and of dL/dz_l (relative to the top) in `nets` random nets, with autograd."""
    g = torch.Generator().manual_seed(seed)
    f = theory.phi(activation)
    x = torch.randn(nets, batch, width, generator=g)  # (nets, batch, width)
    h, zs = x.clone().requires_grad_(), []
    for _ in range(depth):
        w = torch.randn(nets, width, width, generator=g) * math.sqrt(sigma_w2 / width)  # (nets, out, in)
        b = torch.randn(nets, 1, width, generator=g) * math.sqrt(sigma_b2)
        zs.append(h @ w.mT + b)  # (nets, batch, width)
        h = f(zs[-1])
    v = torch.randn(nets, batch, width, generator=g)
    grads = torch.autograd.grad((v * zs[-1]).sum(), zs)
    q = torch.stack([z.detach().pow(2).mean() for z in zs]).double()
    g2 = torch.stack([d.pow(2).mean() for d in grads]).double()
    return x.pow(2).mean().item(), q, g2 / g2[-1]


# Tolerances: over 8 seeds the largest error of any layer was 1.8 % (q) and 3.5 % (gradients); finite
# width 500 and 16 nets set the noise. Ordered (sigma_w2 1.5) and chaotic (4.0) tanh, and sigmoid.
@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2"), [("tanh", 1.5, 0.05), ("tanh", 4.0, 0.0), ("sigmoid", 4.0, 0.0)]
)
def test_forward_and_gradient_variances_match_wide_nets(activation, sigma_w2, sigma_b2):
    x2, q, g = wide_nets(activation, sigma_w2, sigma_b2)
    q1 = sigma_w2 * x2 + sigma_b2  # layer 1 sees the input itself
    predicted_q = theory.forward_variances(q1, 9, sigma_w2, sigma_b2, activation)
    predicted_g = theory.gradient_variances(q1, 10, sigma_w2, sigma_b2, activation)
    assert predicted_q.shape == (10,) and predicted_g.shape == (10,) and predicted_g[-1] == 1
    assert (q / predicted_q - 1).abs().max() < 0.05
    assert (g / predicted_g - 1).abs().max() < 0.1
    assert theory.variance_map(q1, sigma_w2, sigma_b2, activation) == pytest.approx(predicted_q[1].item())
    if activation == "tanh":  # the two phases: gradients vanish downwards when ordered, grow when chaotic
        assert (predicted_g[0] < 0.5) == (sigma_w2 == 1.5) and (predicted_g[0] > 5) == (sigma_w2 == 4.0)


def test_chi_closed_forms_and_fixed_point():
    assert theory.chi(1.7, 2.0, "relu") == pytest.approx(1.0)  # He: sigma_w2 = 2 keeps gradients level
    assert theory.chi(0.3, 2.0, "leaky_relu", slope=0.2) == pytest.approx(1.04)
    assert theory.chi(5.0, 1.3, "linear") == pytest.approx(1.3)
    assert theory.chi(0.0, 1.0, "tanh") == pytest.approx(1.0)  # tanh'(0) = 1: the edge of chaos at q* = 0
    assert theory.chi(0.0, 1.0, "sigmoid") == pytest.approx(1 / 16)
    q_star = theory.fixed_point(1.5, 0.05)
    assert theory.variance_map(q_star, 1.5, 0.05) == pytest.approx(q_star, rel=1e-10)
    assert theory.forward_variances(1.0, 30, 1.5, 0.05)[-1].item() == pytest.approx(q_star, rel=1e-3)


def test_predicted_act_std_matches_a_wide_net():
    g = torch.Generator().manual_seed(1)
    width, std, bias_std = 800, 1.2 / math.sqrt(800), 0.3
    h, stds = torch.randn(64, width, generator=g), []
    for _ in range(5):
        w = std * torch.randn(width, width, generator=g)
        h = torch.tanh(h @ w.T + bias_std * torch.randn(width, generator=g))
        stds.append(h.std().item())
    predicted = theory.predicted_act_std(std, width, 5, "tanh", bias_std=bias_std)
    assert (torch.tensor(stds, dtype=torch.float64) / predicted - 1).abs().max() < 0.05  # one net: 5 %
    relu = theory.predicted_act_std(0.1, 100, 3, "relu")  # sigma_w2 = 1: q halves per layer
    first = math.sqrt(0.5 - 1 / (2 * math.pi))  # std of relu(z), z ~ N(0, 1)
    torch.testing.assert_close(relu, first * 0.5 ** (torch.arange(3.0).double() / 2))


# --- products of random matrices ---------------------------------------------------------------------


def test_matrix_product_growth_matches_sampled_products():
    n, depth, scale, draws = 8, 10, 1.3, 20_000
    g = torch.Generator().manual_seed(2)
    x = torch.randn(draws, n, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)  # (draws, n) unit vectors
    for _ in range(depth):
        w = torch.randn(draws, n, n, generator=g, dtype=torch.float64) * scale / math.sqrt(n)
        x = (w @ x[..., None])[..., 0]
    growth = theory.matrix_product_growth(n, depth, scale)
    log_norm, square = x.norm(dim=1).log(), x.norm(dim=1) ** 2
    assert within(log_norm.mean().item(), depth * growth.lyapunov, growth.log_std / math.sqrt(draws))
    assert growth.typical == pytest.approx(math.exp(depth * growth.lyapunov))
    assert within(log_norm.std().item(), growth.log_std, growth.log_std / math.sqrt(draws / 2), k=5)
    var_square = scale ** (4 * depth) * ((1 + 2 / n) ** depth - 1)  # E[(chi2_n / n)^2] = 1 + 2/n
    assert within(square.mean().item(), growth.mean_square, math.sqrt(var_square / draws))
    assert growth.typical < math.sqrt(growth.mean_square)  # typical lags: here by exp(-L / (2n))-ish


# --- the deep ReLU experiment of lesson 04 ----------------------------------------------------------


def test_signal_norms_equals_an_nn_linear_loop_with_backward():
    cs, width, depth, seeds, slope = [0.5, 2.5], 20, 8, 5, 0.1
    acts, deltas = theory.signal_norms(cs, width, depth, seeds, slope=slope, seed=3)
    assert acts.shape == (2, seeds, depth + 1) and deltas.shape == (2, seeds, depth)
    g = torch.Generator().manual_seed(3)  # the documented draw order: x, v, then each layer's weights
    x, v = torch.randn(seeds, width, generator=g), torch.randn(seeds, width, generator=g)
    ws = [torch.randn(seeds, width, width, generator=g) for _ in range(depth)]
    for i, c in enumerate(cs):
        for s in (0, 3):
            layers = [nn.Linear(width, width, bias=False) for _ in range(depth)]
            with torch.no_grad():
                for layer, w in zip(layers, ws):
                    layer.weight.copy_(math.sqrt(c / width) * w[s])
            h, zs, norms = x[s], [], [x[s].norm()]
            for layer in layers:
                zs.append(layer(h))
                zs[-1].retain_grad()
                h = nn.functional.leaky_relu(zs[-1], slope)
                norms.append(h.norm())
            (v[s] * h).sum().backward()
            torch.testing.assert_close(acts[i, s], torch.stack(norms).detach(), rtol=1e-4, atol=1e-6)
            grads = torch.stack([z.grad.norm() for z in zs])
            torch.testing.assert_close(deltas[i, s], grads, rtol=1e-4, atol=1e-6)
    one, _ = theory.signal_norms(2.5, width, depth, seeds, slope=slope, seed=3, backward=False)
    torch.testing.assert_close(one, acts[1])  # a float c: no leading axis, the same nets


def test_signal_norms_mean_square_follows_c_over_2_per_layer():
    width, depth, seeds, cs = 50, 10, 4000, [1.0, 2.0, 3.0]
    acts, deltas = theory.signal_norms(cs, width, depth, seeds, seed=1)
    for i, c in enumerate(cs):
        f = theory.relu_mean_square_factor(c)
        ratio = (acts[i, :, -1] / acts[i, :, 0]).double() ** 2  # independent of x: E = f^L exactly
        var = f ** (2 * depth) * ((1 + 5 / width) ** depth - 1)  # per layer E[R^2] = f^2 (1 + 5/n)
        assert within(ratio.mean().item(), f**depth, math.sqrt(var / seeds)), c
        d2 = deltas[i].double() ** 2  # (seeds, depth): backward, E||dL/dz_l||^2 = (n/2) f^(depth - l)
        predicted = width / 2 * f ** torch.arange(depth - 1, -1, -1, dtype=torch.float64)
        se = d2.std(0) / math.sqrt(seeds)
        assert ((d2.mean(0) - predicted).abs() < 4 * se).all(), c


def test_relu_typical_log_norm_drifts_down_at_he_init():
    width, depth, seeds = 100, 50, 200  # the lesson's setting
    acts, _ = theory.signal_norms(2.0, width, depth, seeds, backward=False)
    log_r = (acts[:, 1:] / acts[:, :-1]).double().log()  # (seeds, depth): i.i.d. per layer and net
    se = log_r.std().item() / math.sqrt(log_r.numel())
    exact = theory.relu_log_growth(width, 2.0)
    assert within(log_r.mean().item(), exact, se)
    assert log_r.mean().item() < -5 * se  # the mean square is level, the typical norm falls
    assert exact == pytest.approx(-1.25 / width, rel=0.02)  # second-order approximation, good at width 100
    assert theory.relu_log_growth(10, 2.0) == pytest.approx(-1.25 / 10 * 1.23, rel=0.01)  # 23 % off at 10
    assert theory.relu_log_growth(100, 3.0) == pytest.approx(exact + 0.5 * math.log(1.5))


# --- born dead --------------------------------------------------------------------------------------


def torch_nets_dead_units(width, hidden, seeds, bias=True):
    """(seeds, hidden, width): which units of real lecture nets (torch's default init) are dead everywhere."""
    x, dead = helpers.lecture_split().x_train, []
    with torch.no_grad(), torch.random.fork_rng():
        for s in range(seeds):
            torch.manual_seed(s)
            net, h, units = helpers.lecture_net("relu", hidden, width, bias=bias), x, []
            for m in net[:-1]:
                h = m(h)
                if isinstance(m, nn.ReLU):
                    units.append((h == 0).all(0))
            dead.append(torch.stack(units))
    return torch.stack(dead)


def se_fraction(p, n):
    return math.sqrt(max(p * (1 - p), 1 / n) / n)  # 1/n: a floor for fractions near 0


def test_born_dead_exact_for_bias_free_width_one_nets():
    # Layer 1 never dies (inputs of both signs); a later unit of width 1 sees relu(...) >= 0, so it is
    # dead everywhere exactly when its one weight is negative: p = 1/2, independently per layer.
    seeds, hidden = 1000, 3
    measured = torch_nets_dead_units(1, hidden, seeds, bias=False).all(2).any(1).float().mean().item()
    predicted = theory.born_dead_probability(1, hidden)
    assert predicted == 0.75 and within(measured, predicted, se_fraction(predicted, seeds))


@pytest.fixture(scope="module")
def lecture_nets():
    return torch_nets_dead_units(4, 6, 1000)  # (1000, 6, 4): width-4 nets, 6 hidden layers, with biases


@pytest.fixture(scope="module")
def lecture_estimate():
    return theory.estimate_born_dead(4, 6, seeds=4000, seed=1)


def test_estimate_born_dead_draws_like_torch(lecture_nets, lecture_estimate):
    est, n = lecture_estimate, len(lecture_nets)
    unit, layer = lecture_nets.float().mean((0, 2)), lecture_nets.all(2).float().mean(0)
    for a, b in zip(unit.tolist(), est.unit.tolist()):
        assert within(a, b, math.hypot(se_fraction(b, 4 * n), se_fraction(b, 4 * est.seeds)))
    for a, b in zip(layer.tolist(), est.layer.tolist()):
        assert within(a, b, math.hypot(se_fraction(b, n), se_fraction(b, est.seeds)))


def test_born_dead_formula_with_per_layer_p_matches_torch_nets(lecture_nets, lecture_estimate):
    predicted = theory.born_dead_probability(4, 6, p=lecture_estimate.unit)  # (6,) measured per-unit p
    measured, n = lecture_nets.all(2).any(1).float().mean().item(), len(lecture_nets)
    se = math.hypot(se_fraction(predicted, n), se_fraction(predicted, lecture_estimate.seeds))
    assert within(measured, predicted, se)
    # The default p = 1/2 is the deep limit: right for deep layers, twice too high for these 6 layers.
    assert theory.born_dead_probability(4, 6) > 1.5 * measured


def test_born_dead_deep_layers_reach_p_one_half():
    est = theory.estimate_born_dead(4, 10, seeds=2000, seed=2)
    for p in est.layer[6:].tolist():  # layers 7-10: each entirely dead with probability (1/2)^4
        assert within(p, 1 / 16, se_fraction(1 / 16, est.seeds))
    for p in est.unit[6:].tolist():  # and each unit with probability 1/2, nearly independently
        assert within(p, 0.5, se_fraction(0.5, 4 * est.seeds))


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: theory.variance_map(1.0, 1.0, activation="swish"), "activation"),
        (lambda: theory.chi(1.0, 1.0, activation="Tanh"), "activation"),
        (lambda: theory.gauss_expect(torch.tanh, -1.0), "q"),
        (lambda: theory.gauss_expect(torch.tanh, torch.tensor([[1.0]])), "q"),
        (lambda: theory.gauss_expect(torch.tanh, 1.0, nodes=0), "nodes"),
        (lambda: theory.chi(-0.5, 1.0), "q"),
        (lambda: theory.chi(1.0, -1.0), "sigma_w2"),
        (lambda: theory.variance_map(1.0, 1.0, sigma_b2=-0.1), "sigma_b2"),
        (lambda: theory.forward_variances(1.0, 0, 1.0), "depth"),
        (lambda: theory.gradient_variances(-1.0, 3, 1.0), "q0"),
        (lambda: theory.matrix_product_growth(0, 3), "n"),
        (lambda: theory.matrix_product_growth(4, 3, scale=0.0), "scale"),
        (lambda: theory.signal_norms(-1.0), "c"),
        (lambda: theory.signal_norms([2.0, 0.0]), "c"),
        (lambda: theory.signal_norms(2.0, width=0), "width"),
        (lambda: theory.signal_norms(2.0, depth=2.5), "depth"),
        (lambda: theory.born_dead_probability(4, 3, p=[0.5]), "p"),
        (lambda: theory.born_dead_probability(4, 3, p=1.5), "p"),
        (lambda: theory.born_dead_probability(4, 3, p="half"), "p"),
        (lambda: theory.estimate_born_dead(4, 0), "hidden"),
        (lambda: theory.relu_log_growth(0), "width"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        call()


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match="activation: expected one of .*'gelu'.*'tanh'"):
        theory.forward_variances(1.0, 3, 1.0, activation="softplus")
