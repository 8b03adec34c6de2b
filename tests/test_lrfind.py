"""helpers.lrfind: the LR range test restores the model and measures what a plain torch loop measures."""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

import helpers
from helpers.lrfind import blown_up, lr_range_test, run_length, smoothed, suggest


@pytest.fixture(scope="module")
def data():
    return helpers.lecture_split()


def net(seed=0):
    torch.manual_seed(seed)
    return helpers.lecture_net("relu", 4)


def test_model_restored_bit_for_bit(data):
    model = net()
    model(data.x_train[:5]).sum().backward()  # gradients present before the test
    weights, grads = copy.deepcopy(model.state_dict()), [p.grad.clone() for p in model.parameters()]
    lrs, losses = lr_range_test(model, data)
    assert len(lrs) == len(losses) > 10
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))


def test_restored_even_when_a_step_raises(data):
    model = net()
    weights = copy.deepcopy(model.state_dict())
    calls = []

    def fail_later(module, args, out):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")

    handle = model[0].register_forward_hook(fail_later)
    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, data)
    handle.remove()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in model.parameters())


def test_losses_match_a_plain_torch_loop(data):
    """The first steps, by hand: SGD at the geometric rates on helpers.batch_order's batches."""
    lrs, losses = lr_range_test(net(), data, steps=100, seed=3)
    model, ref = net(), []
    rates = torch.logspace(-4, 0, 100).tolist()
    batches = [i for epoch in helpers.batch_order(700, 10, 2, 3) for i in epoch]
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    for lr, idx in list(zip(rates, batches))[:20]:
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        nn.functional.mse_loss(model(data.x_train[idx]), data.y_train[idx]).backward()
        opt.step()
        with torch.no_grad():
            ref.append(nn.functional.mse_loss(model(data.x_train), data.y_train).item())
    assert lrs[:20] == rates[:20] and losses[:20] == ref


def test_stops_once_the_loss_blows_up(data):
    lrs, losses = lr_range_test(net(), data, lr_max=100.0, steps=200)
    assert len(losses) < 200
    assert not math.isfinite(losses[-1]) or losses[-1] > 4 * min(losses)
    assert all(math.isfinite(v) and v <= 4 * min(losses[: i + 1]) for i, v in enumerate(losses[:-1]))


def test_smoothing_is_a_bias_corrected_moving_average(data):
    _, raw = lr_range_test(net(), data, steps=30, blowup=1e9)
    _, smooth = lr_range_test(net(), data, steps=30, blowup=1e9, smooth=0.9)
    avg, want = 0.0, []
    for i, v in enumerate(raw, 1):
        avg = 0.9 * avg + 0.1 * v
        want.append(avg / (1 - 0.9**i))
    assert smooth == pytest.approx(want, rel=1e-12)
    assert smooth[0] == raw[0]
    assert smoothed(raw, 0.9) == smooth  # the same arithmetic, bit for bit


def lucky_first_batch(data, seed=0):
    """A net, and data whose first batch (batch_order's for seed) the net predicts exactly: loss 0 there."""
    model, first = net(), helpers.batch_order(700, 10, 1, seed)[0][0]
    y = data.y_train.clone()
    with torch.no_grad():
        y[first] = model(data.x_train[first])
    return model, dataclasses.replace(data, y_train=y)


def test_a_lucky_first_batch_does_not_stop_a_smoothed_test(data):
    """The bar ignores the moving average's first steps (settle); smooth=0 keeps the old rule."""
    model, lucky = lucky_first_batch(data)
    kw = {"lr_max": 0.01, "steps": 50, "on": "batch"}
    assert len(lr_range_test(model, lucky, smooth=0.9, **kw)[1]) == 50  # settle = 9 by default
    assert len(lr_range_test(model, lucky, smooth=0.9, settle=0, **kw)[1]) == 2  # the bar set by step 0
    assert len(lr_range_test(model, lucky, **kw)[1]) == 2  # smooth=0: every step counts, as before


def test_run_length_replays_the_stop_rule(data):
    _, raw = lr_range_test(net(), data, lr_max=100.0, steps=200, blowup=1e9)
    curve = smoothed(raw, 0.9)
    for settle in (0, 9):
        _, losses = lr_range_test(net(), data, lr_max=100.0, steps=200, smooth=0.9, settle=settle)
        assert run_length(curve, 4.0, settle) == len(losses) and losses == curve[: len(losses)]
    assert not blown_up([1.0, 0.1, 2.0], settle=2) and blown_up([1.0, 0.1, 2.0]) and blown_up([math.nan])


def test_suggest_is_a_tenth_of_the_best_rate():
    assert suggest([0.01, 0.1, 1.0], [3.0, 1.0, 2.0]) == pytest.approx(0.01)
    assert suggest([0.01, 0.1, 1.0], [3.0, 1.0, 2.0], fraction=0.5) == pytest.approx(0.05)


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"lr_min": 0.0}, "lr_min"),
        ({"lr_min": 1.0, "lr_max": 0.1}, "lr_max"),
        ({"steps": 0}, "steps"),
        ({"smooth": 1.0}, "smooth"),
        ({"blowup": -1}, "blowup"),
        ({"loss": "mae"}, "loss"),
        ({"settle": -1}, "settle"),
        ({"settle": 2.5}, "settle"),
    ],
)
def test_bad_arguments_are_named(data, kw, name):
    with pytest.raises(ValueError, match=name):
        lr_range_test(net(), data, **kw)
    with pytest.raises(ValueError, match="lrs, losses"):
        suggest([], [])


def test_restore_false_leaves_the_trained_weights(data):
    model = net()
    before = copy.deepcopy(model.state_dict())
    lr_range_test(model, data, steps=30, restore=False)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("window", [0, 0.5, -0.1, True, "wide", float("nan")])
def test_steepest_names_a_bad_window(window):
    lrs = [10 ** (-3 + 3 * i / 99) for i in range(100)]
    losses = [1.0 - i / 200 for i in range(60)] + [0.7 + i / 100 for i in range(40)]
    with pytest.raises(ValueError, match="^window: expected a share"):
        helpers.lrfind.steepest(lrs, losses, window=window)
    assert lrs[0] < helpers.lrfind.steepest(lrs, losses) < lrs[59]  # a sane window still answers
