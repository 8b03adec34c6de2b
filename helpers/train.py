"""Training loops that record losses and, on request, per-layer statistics every epoch."""

import math
from dataclasses import dataclass, field

import torch

from helpers.checks import check_choice, check_positive, check_positive_int, generator
from helpers.data import Split
from helpers.stats import LOSSES, probe, summary

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
        if name not in self.layers:
            raise ValueError(f"name: expected one of {sorted(self.layers)} (train with track=True)")
        return torch.tensor(self.layers[name])


def epochs_of(batches, progress):
    """(epoch, batches) pairs from 1, under a tqdm.auto bar when progress=True (for live sessions only)."""
    pairs = enumerate(batches, 1)
    if not progress:
        return pairs
    from tqdm.auto import tqdm

    return tqdm(pairs, total=len(batches), desc="epochs", leave=False)


def batch_order(n, batch_size, epochs, seed):
    """For each epoch a list of index tensors: the same shuffled batches for every model."""
    check_positive_int(n, "n")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(epochs, "epochs")
    g = generator(seed)
    return [torch.randperm(n, generator=g).split(batch_size) for _ in range(epochs)]


def make_optimizer(optimizer, params, lr, **kwargs):
    """An optimizer from a name ('sgd', 'adam', 'rmsprop') or a torch.optim class."""
    check_positive(lr, "lr")
    if isinstance(optimizer, str):
        check_choice(optimizer, OPTIMIZERS, "optimizer")
        optimizer = OPTIMIZERS[optimizer]
    return optimizer(params, lr=lr, **kwargs)


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
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    acc = (out.argmax(1) == y).float().mean().item() if loss == "cross_entropy" else None
    return LOSSES[loss](out, y).item(), acc


def check_split(data, loss):
    if not isinstance(data, Split):
        raise ValueError(f"data: expected a helpers.Split (see helpers.split), got {type(data).__name__}")
    if loss == "mse" and data.y_train.ndim != 2:
        raise ValueError(f"data: loss='mse' expects y of shape (n, outputs), got {tuple(data.y_train.shape)}")
    if loss == "cross_entropy" and data.y_train.ndim != 1:
        raise ValueError(
            f"data: loss='cross_entropy' expects class ids of shape (n,), got {tuple(data.y_train.shape)}"
        )


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
    **optimizer_kwargs,
):
    """Train model in place for `epochs` full passes over data.x_train; returns a History.

    Batches come from `seed`, so runs with the same seed see the same batches. track=True records
    per-layer statistics (see helpers.stats.summary) on the whole training set after each epoch.
    A NaN or inf loss stops the run; History.diverged_at names the epoch. progress=True shows a bar
    (use it from widgets, not in stored outputs).
    """
    check_choice(loss, LOSSES, "loss")
    check_split(data, loss)
    opt = make_optimizer(optimizer, model.parameters(), lr, **optimizer_kwargs)
    hist = History(name=name)
    loss_fn = LOSSES[loss]
    for epoch, batches in epochs_of(batch_order(len(data.x_train), batch_size, epochs, seed), progress):
        for idx in batches:
            value = train_step(
                model, loss_fn, opt, data.x_train[idx], data.y_train[idx], clip_norm, clip_value
            )
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


def record_epoch(hist, model, data, loss, track):
    """Append this epoch's losses (and layer statistics); False if a loss is not finite."""
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train, loss)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test, loss)
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
    models = list(models)
    names = list(names) if names is not None else [f"model {i}" for i in range(len(models))]
    if len(names) != len(models):
        raise ValueError(f"names: expected {len(models)} names, one per model, got {len(names)}")
    return [train(m, data, name=n, **kwargs) for m, n in zip(models, names)]
