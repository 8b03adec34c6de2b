"""The learning-rate range test (Smith, 2017): one SGD step per batch at geometrically growing rates."""

import copy
import math

import torch

from helpers.checks import check_choice, check_model_and_data, check_positive, check_positive_int
from helpers.stats import LOSSES
from helpers.train import batch_order


def lr_range_test(
    model,
    data,
    lr_min=1e-4,
    lr_max=1.0,
    steps=100,
    seed=0,
    batch_size=10,
    smooth=0.0,
    blowup=4.0,
    loss="mse",
    on="train",
    restore=True,
    settle=None,
):
    """(lrs, losses): one SGD step per batch while the rate grows geometrically from lr_min to lr_max.

    losses[i] is a loss measured at step i, averaged over the steps so far with weights smooth**age (an
    exponential moving average, bias-corrected; smooth=0 keeps it as measured). on="train": the loss on the
    whole training set after the step at lrs[i]; on="batch": the loss of step i's own batch before its step
    (what fast.ai's lr_find smooths: no extra forward pass, so long tests stay cheap).
    The test stops once that loss is not finite or exceeds `blowup` times its lowest value from step `settle`
    on (steps count from 0). settle=None takes the average's effective window less one, round(smooth / (1 -
    smooth)): 0 for smooth=0 (every step counts, as before), 32 for smooth=0.97. The first values of a
    smoothed curve average only a few batches, and one lucky small batch among them would set a bar that
    ordinary later losses soon pass; before step `settle` only a non-finite loss stops the test. The batches
    are helpers.batch_order's for `seed`. Afterwards the model's weights, buffers and .grad are as they were,
    even if a step raised; restore=False leaves them as the last step made them (to inspect the net).
    """
    check_args(model, data, lr_min, lr_max, steps, batch_size, smooth, blowup, loss)
    settle = settle_steps(settle, smooth)
    check_choice(on, ("train", "batch"), "on")
    saved = copy.deepcopy(model.state_dict())
    saved_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    lrs = torch.logspace(math.log10(lr_min), math.log10(lr_max), steps).tolist()
    epochs = math.ceil(steps / math.ceil(len(data.x_train) / batch_size))
    batches = [idx for epoch in batch_order(len(data.x_train), batch_size, epochs, seed) for idx in epoch]
    params, loss_fn, losses, average = list(model.parameters()), LOSSES[loss], [], smoother(smooth)
    try:
        for lr, idx in zip(lrs, batches):
            value = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            grads = torch.autograd.grad(value, params)
            with torch.no_grad():  # torch.optim.SGD's step, p - lr * g (without importing torch.optim's
                for p, g in zip(params, grads):  # machinery, which costs a second or two on first use)
                    p.add_(g, alpha=-lr)
            if on == "train":
                with torch.no_grad():
                    value = loss_fn(model(data.x_train), data.y_train)
            losses.append(average(value.item()))
            if blown_up(losses, blowup, settle):
                break  # larger rates will not tell us more
    finally:  # put everything back, even if a step raised
        if restore:
            model.load_state_dict(saved)
            for p, g in zip(model.parameters(), saved_grads):
                p.grad = g
    return lrs[: len(losses)], losses


def settle_steps(settle, smooth):
    """settle, or for None the moving average's effective window 1 / (1 - smooth) less one step."""
    if settle is None:
        return round(smooth / (1 - smooth))
    if isinstance(settle, bool) or not isinstance(settle, int) or settle < 0:
        raise ValueError(f"settle: expected a whole number of steps >= 0 or None, got {settle!r}")
    return settle


def blown_up(losses, blowup=4.0, settle=0):
    """True if the last of `losses` is not finite or above `blowup` times the lowest from step `settle` on."""
    last = losses[-1]
    return not math.isfinite(last) or (len(losses) > settle and last > blowup * min(losses[settle:]))


def run_length(losses, blowup=4.0, settle=0):
    """How many steps a range test with these (smoothed) losses would run before blown_up stops it."""
    stop = (i + 1 for i in range(len(losses)) if blown_up(losses[: i + 1], blowup, settle))
    return next(stop, len(losses))


def smoother(smooth):
    """A function taking the next value and returning the bias-corrected moving average of all so far."""
    state = [0.0, 0]  # the running average (not yet corrected) and how many values it has seen

    def add(value):
        state[0], state[1] = smooth * state[0] + (1 - smooth) * value, state[1] + 1
        return state[0] / (1 - smooth ** state[1])

    return add


def smoothed(values, smooth):
    """The bias-corrected exponential moving average lr_range_test applies to the losses it measures."""
    average = smoother(smooth)
    return [average(value) for value in values]


def suggest(lrs, losses, fraction=0.1, skip=0.0):
    """The rule of thumb: `fraction` (a tenth) of the rate at which the range test's loss was lowest."""
    check_positive(fraction, "fraction")
    return lowest(lrs, losses, skip)[0] * fraction


def lowest(lrs, losses, skip=0.0):
    """(rate, loss) at the bottom of the valley, ignoring the first `skip` share of the steps.

    A smoothed curve's first points average only a few batches: skip=0.1 keeps one noisy batch out.
    """
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(
            f"lrs, losses: expected non-empty lists of one length, got {len(lrs)}, {len(losses)}"
        )
    if isinstance(skip, bool) or not isinstance(skip, int | float) or not 0 <= skip < 1:
        raise ValueError(f"skip: expected a share from 0 up to (not including) 1, got {skip!r}")
    first = int(skip * len(lrs))
    i = min(range(first, len(losses)), key=losses.__getitem__)
    return lrs[i], losses[i]


def steepest(lrs, losses, skip=0.0, window=0.05):
    """The rate at which the loss falls fastest per decade of rate, left of the valley's bottom.

    The slope at step i is taken between steps i - k and i + k, k = window * len(lrs) (at least 1): a
    smoothed curve still wiggles from batch to batch, and a wide difference keeps those wiggles out.
    """
    if isinstance(window, bool) or not isinstance(window, int | float) or not 0 < window < 0.5:
        raise ValueError(f"window: expected a share of the steps between 0 and 0.5, got {window!r}")
    end = lrs.index(lowest(lrs, losses, skip)[0])
    k = max(1, int(window * len(lrs)))
    first = max(k, int(skip * len(lrs)))
    if end - first < 1:
        raise ValueError("lrs, losses: the valley's bottom comes too early to find a slope before it")
    logs = [math.log10(r) for r in lrs]
    slope = {
        i: (losses[min(i + k, len(lrs) - 1)] - losses[i - k]) / (logs[min(i + k, len(lrs) - 1)] - logs[i - k])
        for i in range(first, end)
    }
    return lrs[min(slope, key=slope.__getitem__)]


def check_args(model, data, lr_min, lr_max, steps, batch_size, smooth, blowup, loss):
    """Raise naming the first argument of lr_range_test that is not what it expects."""
    check_choice(loss, LOSSES, "loss")
    check_model_and_data(model, data, loss)
    for value, name in ((lr_min, "lr_min"), (lr_max, "lr_max"), (blowup, "blowup")):
        check_positive(value, name)
    if not lr_min < lr_max:
        raise ValueError(f"lr_max: expected a rate above lr_min={lr_min!r}, got {lr_max!r}")
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    if isinstance(smooth, bool) or not isinstance(smooth, int | float) or not 0 <= smooth < 1:
        raise ValueError(f"smooth: expected a number from 0 up to (not including) 1, got {smooth!r}")
