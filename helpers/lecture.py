"""The classic lecture's helper names and signatures, as thin wrappers over this package.

`from helpers.lecture import *` lets the lecture's code cells run unchanged. Unlike the original,
model_comparison trains exactly num_epochs passes and every model sees the same batches.
"""

import inspect

import torch
import torch.nn.functional as F
from torch import nn, optim

from helpers import data, models, plots
from helpers.train import train_step


def tensorGenReg(num_examples=1000, w=[2, -1, 1], bias=True, delta=0.01, deg=1):  # noqa: B006
    """Regression data from torch's global seed; with bias=True the last weight is the intercept."""
    return data.regression(num_examples, w, bias, deg, delta, seed=torch.default_generator)


def split_loader(features, labels, batch_size=10, rate=0.7):
    """(train_loader, test_loader) split at `rate`, train shuffled, from torch's global seed."""
    s = data.split(features, labels, train=rate, seed=torch.default_generator)
    return s.loaders(batch_size, seed=torch.default_generator)


def mse_cal(data_loader, net):
    """MSE of net over a loader's whole dataset."""
    x, y = data_loader.dataset[:]
    return F.mse_loss(net(x), y)


def accuracy_cal(data_loader, net):
    """Classification accuracy of net over a loader's whole dataset."""
    x, y = data_loader.dataset[:]
    return (net(x).argmax(1) == y.flatten()).float().mean()


def fit(net, criterion, optimizer, batchdata, epochs=3, cla=False):
    """Train net for `epochs` passes over batchdata."""
    for _ in range(epochs):
        for x, y in batchdata:
            train_step(net, criterion, optimizer, x, y.flatten().long() if cla else y)


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
    """Violins of each Linear layer's weight gradients (att='grad') or weights (anything else)."""
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
