"""The learning-rate range test (Smith, 2017): one SGD step per batch at geometrically growing rates."""

import copy
import math

import torch

from helpers.checks import check_choice, check_model_and_data, check_positive, check_positive_int
from helpers.stats import LOSSES
from helpers.train import batch_order


def lr_range_test(
    model, data, lr_min=1e-4, lr_max=1.0, steps=100, seed=0, batch_size=10, smooth=0.0, blowup=4.0, loss="mse"
):
    """(lrs, losses): one SGD step per batch while the rate grows geometrically from lr_min to lr_max.

    losses[i] is the loss on the whole training set after the step at lrs[i], averaged over the steps so far
    with weights smooth**age (an exponential moving average, bias-corrected; smooth=0 keeps it as measured).
    The test stops once that loss is not finite or exceeds `blowup` times its lowest value. The batches are
    helpers.batch_order's for `seed`. Afterwards the model's weights, buffers and .grad are as they were,
    even if a step raised.
    """
    check_args(model, data, lr_min, lr_max, steps, batch_size, smooth, blowup, loss)
    saved = copy.deepcopy(model.state_dict())
    saved_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    lrs = torch.logspace(math.log10(lr_min), math.log10(lr_max), steps).tolist()
    epochs = math.ceil(steps / math.ceil(len(data.x_train) / batch_size))
    batches = [idx for epoch in batch_order(len(data.x_train), batch_size, epochs, seed) for idx in epoch]
    opt, loss_fn, losses, average = torch.optim.SGD(model.parameters(), lr=lr_min), LOSSES[loss], [], 0.0
    try:
        for i, (lr, idx) in enumerate(zip(lrs, batches), 1):
            opt.param_groups[0]["lr"] = lr
            opt.zero_grad()
            loss_fn(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
            with torch.no_grad():
                average = smooth * average + (1 - smooth) * loss_fn(model(data.x_train), data.y_train).item()
            losses.append(average / (1 - smooth**i))
            if not math.isfinite(losses[-1]) or losses[-1] > blowup * min(losses):
                break  # the loss has blown up: larger rates will not tell us more
    finally:  # put everything back, even if a step raised
        model.load_state_dict(saved)
        for p, g in zip(model.parameters(), saved_grads):
            p.grad = g
    return lrs[: len(losses)], losses


def suggest(lrs, losses, fraction=0.1):
    """The rule of thumb: `fraction` (a tenth) of the rate at which the range test's loss was lowest."""
    check_positive(fraction, "fraction")
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(
            f"lrs, losses: expected non-empty lists of one length, got {len(lrs)}, {len(losses)}"
        )
    return lrs[min(range(len(losses)), key=losses.__getitem__)] * fraction


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
