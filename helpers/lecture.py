"""The classic lecture's helper names and signatures, as thin wrappers over this package.

`from helpers.lecture import *` lets the lecture's code cells run unchanged. Unlike the original,
model_comparison trains exactly num_epochs passes and every model sees the same batches.
"""

import inspect

import torch
import torch.nn.functional as F
from torch import nn, optim

from helpers import data, models, plots
from helpers.checks import (
    check_choice,
    check_flag,
    check_memory,
    check_module,
    check_modules,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_probability,
    check_widths,
)
from helpers.train import train_step

ATTS = ("grad", "weight", "weights")


def check_loader(loader, name):
    """Raise naming `name` unless loader is a DataLoader over a TensorDataset (as split_loader makes)."""
    if not isinstance(loader, torch.utils.data.DataLoader):
        raise TypeError(f"{name}: expected a DataLoader from split_loader, got {type(loader).__name__}")
    if not isinstance(loader.dataset, torch.utils.data.TensorDataset):
        raise TypeError(f"{name}: expected a DataLoader over a TensorDataset (from split_loader)")


def check_callable(value, name, example):
    """Raise naming `name` unless value can be called (a loss, an evaluation function)."""
    if not callable(value):
        raise TypeError(f"{name}: expected {example}, got {type(value).__name__}")


def check_optimizer_class(optimizer):
    """Raise unless optimizer is a torch.optim class (the lecture builds it on each model's parameters)."""
    if isinstance(optimizer, optim.Optimizer):
        raise TypeError(
            f"optimizer: expected a torch.optim class such as optim.SGD, got a {type(optimizer).__name__} "
            "instance; pass the class and lr=..."
        )
    if not (isinstance(optimizer, type) and issubclass(optimizer, optim.Optimizer)):
        raise TypeError(f"optimizer: expected a torch.optim class such as optim.SGD, got {optimizer!r}")


def check_net_fits(net, x, y, name="net"):
    """Raise naming `name` when net's first/last Linear layer does not fit the loader's x and y."""
    if not isinstance(net, nn.Module):
        return
    if y is not None and not (y.ndim == 2 and y.is_floating_point()):
        y = None  # class ids: the output width is not the labels' width
    try:
        check_widths(net, x, y, "mse", "the data's x", "the data's y")
    except ValueError as e:
        raise ValueError(str(e).replace("model:", f"{name}:", 1)) from None


def tensorGenReg(num_examples=1000, w=[2, -1, 1], bias=True, delta=0.01, deg=1):  # noqa: B006
    """Regression data from torch's global seed; with bias=True the last weight is the intercept."""
    check_positive_int(num_examples, "num_examples")
    check_flag(bias, "bias")
    check_nonnegative(delta, "delta")
    check_positive_int(deg, "deg")
    try:
        weights = torch.as_tensor(w, dtype=torch.float32).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"w: expected a list of numbers, got {w!r}") from None
    if len(weights) < (2 if bias else 1):
        raise ValueError(f"w: expected at least {2 if bias else 1} weights, got {len(weights)}")
    need = data.regression_bytes(num_examples, len(weights))
    check_memory(need, "num_examples", f"{num_examples} examples of {len(weights)} features")
    return data.regression(num_examples, w, bias, deg, delta, seed=torch.default_generator)


def split_loader(features, labels, batch_size=10, rate=0.7):
    """(train_loader, test_loader) split at `rate`, train shuffled, from torch's global seed."""
    features, labels = data.as_tensor(features, "features"), data.as_tensor(labels, "labels")
    if len(labels) != len(features):
        raise ValueError(f"labels: expected {len(features)} rows to match features, got {len(labels)}")
    check_positive_int(batch_size, "batch_size")
    check_probability(rate, "rate")
    if not 0 < round(rate * len(features)) < len(features):
        raise ValueError(f"rate: a fraction {rate} of {len(features)} samples leaves a side empty")
    s = data.split(features, labels, train=rate, seed=torch.default_generator)
    return s.loaders(batch_size, seed=torch.default_generator)


def mse_cal(data_loader, net):
    """MSE of net over a loader's whole dataset."""
    check_loader(data_loader, "data_loader")
    check_callable(net, "net", "a model (anything callable on x)")
    x, y = data_loader.dataset[:]
    check_net_fits(net, x, y)
    out = net(x)
    if out.shape != y.shape:  # F.mse_loss would broadcast (n, k) against (n, 1) and return a wrong number
        raise ValueError(
            f"net: its output has shape {tuple(out.shape)} but the data's y has {tuple(y.shape)}"
        )
    return F.mse_loss(out, y)


def accuracy_cal(data_loader, net):
    """Classification accuracy of net over a loader's whole dataset."""
    check_loader(data_loader, "data_loader")
    check_callable(net, "net", "a model (anything callable on x)")
    x, y = data_loader.dataset[:]
    check_net_fits(net, x, None)
    return (net(x).argmax(1) == y.flatten()).float().mean()


def fit(net, criterion, optimizer, batchdata, epochs=3, cla=False):
    """Train net for `epochs` passes over batchdata."""
    check_module(net, "net")
    check_callable(criterion, "criterion", "a loss function such as nn.MSELoss()")
    if not isinstance(optimizer, optim.Optimizer):
        got = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else type(optimizer).__name__
        raise TypeError(
            "optimizer: expected an optimizer built on net's parameters, e.g. "
            f"optim.SGD(net.parameters(), lr=0.03), got {got}"
        )
    own = {id(p) for p in net.parameters()}
    if not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("optimizer: it was built on another model's parameters; use net.parameters()")
    if not hasattr(batchdata, "__iter__"):
        raise TypeError(f"batchdata: expected a DataLoader or a list of (x, y) batches, got {batchdata!r}")
    check_positive_int(epochs, "epochs")
    check_flag(cla, "cla")
    for _ in range(epochs):
        for x, y in batchdata:
            train_step(net, criterion, optimizer, x, y.flatten().long() if cla else y)


def check_run_args(train_data, test_data, num_epochs, criterion, optimizer, lr, cla, eva):
    """Raise naming the first argument of model_train_test / model_comparison that is not as expected."""
    check_loader(train_data, "train_data")
    check_loader(test_data, "test_data")
    check_positive_int(num_epochs, "num_epochs")
    check_callable(criterion, "criterion", "a loss function such as nn.MSELoss()")
    check_optimizer_class(optimizer)
    check_positive(lr, "lr")
    check_flag(cla, "cla")
    check_callable(eva, "eva", "an evaluation function such as mse_cal")


def model_train_test(
    model,
    train_data,
    test_data,
    num_epochs=20,
    criterion=nn.MSELoss(),  # noqa: B008
    optimizer=optim.SGD,
    lr=0.03,
    cla=False,
    eva=mse_cal,
):
    """Train for num_epochs passes; returns (train_l, test_l), one evaluation per epoch."""
    check_module(model)
    check_run_args(train_data, test_data, num_epochs, criterion, optimizer, lr, cla, eva)
    x, y = train_data.dataset[:]
    check_net_fits(model, x, y if not cla else None, "model")
    train_l, test_l = [], []
    opt = optimizer(model.parameters(), lr=lr)
    for _ in range(num_epochs):
        fit(model, criterion, opt, train_data, epochs=1, cla=cla)
        train_l.append(eva(train_data, model).detach())
        test_l.append(eva(test_data, model).detach())
    return train_l, test_l


def model_comparison(
    model_l,
    name_l,
    train_data,
    test_data,
    num_epochs=20,
    criterion=nn.MSELoss(),  # noqa: B008
    optimizer=optim.SGD,
    lr=0.03,
    cla=False,
    eva=mse_cal,
):
    """Train each model on the same batches; returns train_l, test_l of shape (models, num_epochs)."""
    model_l = check_modules(model_l, "model_l")
    if isinstance(name_l, str) or not hasattr(name_l, "__len__") or len(name_l) != len(model_l):
        raise ValueError(f"name_l: expected {len(model_l)} names, one per model, got {name_l!r}")
    check_run_args(train_data, test_data, num_epochs, criterion, optimizer, lr, cla, eva)
    check_memory(8 * len(model_l) * num_epochs, "num_epochs", f"{num_epochs} epochs of losses")
    x, y = train_data.dataset[:]
    for i, m in enumerate(model_l):
        check_net_fits(m, x, y if not cla else None, f"model_l[{i}]")
    train_l = torch.zeros(len(model_l), num_epochs)
    test_l = torch.zeros(len(model_l), num_epochs)
    opts = [optimizer(m.parameters(), lr=lr) for m in model_l]
    for epoch in range(num_epochs):
        batches = list(train_data)  # one shuffle per epoch, shared by every model
        for i, (model, opt) in enumerate(zip(model_l, opts)):
            fit(model, criterion, opt, batches, epochs=1, cla=cla)
            train_l[i, epoch] = eva(train_data, model).detach()
            test_l[i, epoch] = eva(test_data, model).detach()
    return train_l, test_l


def weights_vp(model, att="grad"):
    """Violins of each Linear layer's weight gradients (att='grad') or weights (att='weight')."""
    check_choice(att, ATTS, "att")
    return plots.weights_vp(model, "grad" if att == "grad" else "weight")


def lecture_class(name, activation, depth):
    """A lecture class: (in_features=2, hidden_1=4, ..., out_features=1, bias=True)."""
    names = ["in_features"] + [f"hidden_{i}" for i in range(1, depth + 1)] + ["out_features"]
    defaults = [2] + [4] * depth + [1]
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind, default=d) for n, d in zip(names, defaults)]
    signature = inspect.Signature(
        [inspect.Parameter("self", kind)] + params + [inspect.Parameter("bias", kind, default=True)]
    )

    def __init__(self, *args, **kwargs):
        a = signature.bind(self, *args, **kwargs)
        a.apply_defaults()
        for n in names:
            check_positive_int(a.arguments[n], n)
        nn.Sequential.__init__(
            self, *models.mlp([a.arguments[n] for n in names], activation, a.arguments["bias"])
        )

    __init__.__signature__ = signature
    return type(name, (nn.Sequential,), {"__init__": __init__, "__doc__": f"The lecture's {name}."})


_KINDS = {"Sigmoid": "sigmoid", "tanh": "tanh", "Tanh": "tanh", "ReLU": "relu"}
for _prefix, _act in _KINDS.items():
    for _depth in range(1, 5):
        globals()[f"{_prefix}_class{_depth}"] = lecture_class(f"{_prefix}_class{_depth}", _act, _depth)

__all__ = [
    "F",
    "accuracy_cal",
    "fit",
    "mse_cal",
    "model_comparison",
    "model_train_test",
    "nn",
    "optim",
    "split_loader",
    "tensorGenReg",
    "torch",
    "weights_vp",
] + [f"{p}_class{d}" for p in _KINDS for d in range(1, 5)]
