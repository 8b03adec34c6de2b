"""Training loops that record losses and, on request, per-layer statistics every epoch."""

import math
from dataclasses import dataclass, field

import torch

from helpers.checks import (
    check_choice,
    check_data,
    check_flag,
    check_inputs,
    check_memory,
    check_model_and_data,
    check_module,
    check_modules,
    check_optimizer_kwargs,
    check_optional_positive,
    check_positive,
    check_positive_int,
    check_str,
    check_targets,
    check_widths,
    generator,
)
from helpers.stats import LOSSES, STATS, probe, summary

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


@dataclass
class History:
    """What one training run recorded, one entry per epoch (after that epoch's updates)."""

    name: str = ""
    train_loss: list = field(default_factory=list)  # loss over the whole training set
    test_loss: list = field(default_factory=list)  # loss over the whole test set
    train_acc: list = field(default_factory=list)  # accuracy, classification only
    test_acc: list = field(default_factory=list)
    layers: dict = field(default_factory=dict)  # statistic -> per epoch -> one float per layer
    diverged_at: int | None = None  # epoch (from 1) whose loss became NaN or inf

    @property
    def diverged(self):
        return self.diverged_at is not None

    def stat(self, name):
        """One per-layer statistic as a tensor of shape (epochs, layers)."""
        check_stat(self, name, "name")
        return torch.tensor(self.layers[name])


def check_stat(history, stat, name):
    """Raise naming `name` unless stat is one of the statistics recorded in history."""
    check_choice(stat, STATS, name)
    if not history.layers:
        raise ValueError(
            f"{name}: {stat!r} was not recorded: History {history.name!r} has no layer statistics "
            "(train with track=True)"
        )
    if stat not in history.layers:
        raise ValueError(
            f"{name}: {stat!r} was not recorded (it needs labels); recorded: {sorted(history.layers)}"
        )


def epochs_of(batches, progress, total=None):
    """(epoch, batches) pairs from 1, under a tqdm.auto bar when progress=True (for live sessions only).

    batches may be a list or a generator (then give `total`, the number of epochs, for a full bar).
    """
    pairs = enumerate(batches, 1)
    if not progress:
        return pairs
    from tqdm.auto import tqdm

    total = len(batches) if total is None and hasattr(batches, "__len__") else total
    return tqdm(pairs, total=total, desc="epochs", leave=False)


def batch_order(n, batch_size, epochs, seed):
    """For each epoch a list of index tensors: the same shuffled batches for every model."""
    check_positive_int(n, "n")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(epochs, "epochs")
    g = generator(seed)
    check_memory(8 * n * epochs, "epochs", f"the batch order of {epochs} epochs of {n} samples")
    n, batch_size, epochs = int(n), int(batch_size), int(epochs)  # NumPy integers pass, torch needs ints
    return [torch.randperm(n, generator=g).split(batch_size) for _ in range(epochs)]


def make_optimizer(optimizer, params, lr, **kwargs):
    """An optimizer from a name ('sgd', 'adam', 'rmsprop') or a torch.optim class."""
    cls = optimizer_class(optimizer)
    check_positive(lr, "lr")
    check_optimizer_kwargs(cls, kwargs)
    try:
        return cls(params, lr=lr, **kwargs)
    except (TypeError, ValueError) as e:  # torch's own range checks, e.g. a negative momentum
        raise ValueError(f"optimizer: {cls.__name__} rejected its arguments: {e}") from e


def optimizer_class(optimizer):
    """The torch.optim class for a name or class; raises naming `optimizer` for anything else."""
    if isinstance(optimizer, str):
        check_choice(optimizer, OPTIMIZERS, "optimizer")
        return OPTIMIZERS[optimizer]
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"optimizer: expected a name or a torch.optim class, got a {type(optimizer).__name__} instance; "
            f"pass the class (torch.optim.{type(optimizer).__name__}) and lr=..."
        )
    raise ValueError(
        f"optimizer: expected one of {sorted(OPTIMIZERS)} or a torch.optim class, got {optimizer!r}"
    )


def train_step(model, loss_fn, optimizer, x, y, clip_norm=None, clip_value=None):
    """One update on a batch; returns the batch loss as a tensor."""
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
    optimizer.step()
    return loss


@torch.no_grad()
def evaluate(model, x, y, loss="mse"):
    """(loss, accuracy) of model on (x, y); accuracy is None for regression."""
    check_module(model)
    check_choice(loss, LOSSES, "loss")
    check_inputs(x, "x", "x")
    check_targets(y, len(x), loss, "y", "y")
    check_widths(model, x, y, loss)
    return scores(model, x, y, loss)


@torch.no_grad()  # an evaluation is not a training step: hooks that record training see no gradients here
def scores(model, x, y, loss):
    """evaluate without the checks (for data already checked)."""
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    acc = (out.argmax(1) == y).float().mean().item() if loss == "cross_entropy" else None
    loss_fn = same_shape(LOSSES[loss]) if loss == "mse" else LOSSES[loss]
    return loss_fn(out, y).item(), acc


def check_split(data, loss):
    """Raise naming `loss` or `data` unless data is a helpers.Split that fits the loss (no model involved)."""
    check_choice(loss, LOSSES, "loss")
    check_data(data, loss)


def check_train_args(epochs, lr, optimizer, batch_size, seed, clip_norm, clip_value, name, flags):
    """Raise naming the first of train's settings that is not what train expects."""
    check_positive_int(epochs, "epochs")
    check_positive(lr, "lr")
    optimizer_class(optimizer)
    check_positive_int(batch_size, "batch_size")
    generator(seed)
    check_optional_positive(clip_norm, "clip_norm")
    check_optional_positive(clip_value, "clip_value")
    check_str(name, "name")
    for flag, value in flags.items():
        check_flag(value, flag)


def check_callbacks(callbacks):
    """callbacks as a list of callables; raises naming `callbacks` otherwise."""
    if callable(callbacks):
        raise ValueError("callbacks: expected a list of callables, got a single one; wrap it in a list")
    if isinstance(callbacks, str) or not hasattr(callbacks, "__iter__"):
        raise ValueError(f"callbacks: expected a list of callables, got {type(callbacks).__name__}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise ValueError(f"callbacks: item {i} is a {type(cb).__name__}, not callable")
    return callbacks


def train(
    model,
    data,
    epochs=20,
    lr=0.03,
    optimizer="sgd",
    loss="mse",
    batch_size=10,
    seed=0,
    track=False,
    clip_norm=None,
    clip_value=None,
    name="",
    verbose=True,
    progress=False,
    callbacks=(),
    **optimizer_kwargs,
):
    """Train model in place for `epochs` full passes over data.x_train; returns a History.

    Batches come from `seed`, so runs with the same seed see the same batches. track=True records
    per-layer statistics (see helpers.stats.summary) on the whole training set after each epoch.
    A NaN or inf loss stops the run; History.diverged_at names the epoch. progress=True shows a bar
    (use it from widgets, not in stored outputs). Each of `callbacks` is called as cb(loss) with the
    batch loss (a 0-d tensor) right after every optimizer step, e.g. a helpers.diagnose.Recorder.
    """
    check_model_and_data(model, data, loss)
    flags = {"track": track, "verbose": verbose, "progress": progress}
    check_train_args(epochs, lr, optimizer, batch_size, seed, clip_norm, clip_value, name, flags)
    callbacks = check_callbacks(callbacks)
    opt = make_optimizer(optimizer, model.parameters(), lr, **optimizer_kwargs)
    hist = History(name=name)
    loss_fn = same_shape(LOSSES[loss]) if loss == "mse" else LOSSES[loss]
    for epoch, batches in epochs_of(batch_order(len(data.x_train), batch_size, epochs, seed), progress):
        for idx in batches:
            value = train_step(
                model, loss_fn, opt, data.x_train[idx], data.y_train[idx], clip_norm, clip_value
            )
            for cb in callbacks:
                cb(value.detach())
            if not math.isfinite(value.item()):
                break
        if not record_epoch(hist, model, data, loss, track) or not math.isfinite(value.item()):
            hist.diverged_at = epoch
            if verbose:
                print(
                    f"{name or 'model'}: the loss became {value.item()} in epoch {epoch}; training stopped."
                )
            break
    return hist


def same_shape(loss_fn):
    """loss_fn that refuses to broadcast: a custom model whose output does not match y raises, not trains."""

    def checked(out, y):
        if out.shape != y.shape:
            raise ValueError(
                f"model: its output has shape {tuple(out.shape)} but the labels have {tuple(y.shape)}"
            )
        return loss_fn(out, y)

    return checked


def record_epoch(hist, model, data, loss, track):
    """Append this epoch's losses (and layer statistics); False if a loss is not finite."""
    train_loss, train_acc = scores(model, data.x_train, data.y_train, loss)
    test_loss, test_acc = scores(model, data.x_test, data.y_test, loss)
    if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
        return False
    hist.train_loss.append(train_loss)
    hist.test_loss.append(test_loss)
    if train_acc is not None:
        hist.train_acc.append(train_acc)
        hist.test_acc.append(test_acc)
    if track:
        was_training = model.training
        model.eval()
        stats = summary(probe(model, data.x_train, data.y_train, loss))
        model.train(was_training)
        for key, values in stats.items():
            hist.layers.setdefault(key, []).append(values)
    return True


def compare(models, data, names=None, **kwargs):
    """Train several models on the same batches (same seed); returns one History per model."""
    models = check_modules(models)
    if isinstance(names, str):
        raise ValueError(f"names: expected a list of {len(models)} names, got the string {names!r}")
    names = list(names) if names is not None else [f"model {i}" for i in range(len(models))]
    if len(names) != len(models):
        raise ValueError(f"names: expected {len(models)} names, one per model, got {len(names)}")
    for i, m in enumerate(models):  # every model is checked before the first one trains
        try:
            check_model_and_data(m, data, kwargs.get("loss", "mse"))
        except ValueError as e:
            raise ValueError(f"{e} (models[{i}])") from None
    return [train(m, data, name=n, **kwargs) for m, n in zip(models, names)]
