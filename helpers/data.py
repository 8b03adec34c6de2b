"""Data sets of the series: the lecture's regression data, toy classification sets, 8x8 digits."""

import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.checks import (
    check_choice,
    check_flag,
    check_memory,
    check_nonnegative,
    check_positive_int,
    check_probability,
    generator,
)

FLOAT = 4  # bytes per float32


def as_tensor(value, name, dtype=None):
    """value as a tensor (from a tensor, array or nested list); raises naming `name` otherwise."""
    try:
        t = torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{name}: expected a tensor or an array of numbers, got {type(value).__name__}"
        ) from None
    if t.ndim == 0:
        raise ValueError(f"{name}: expected one row per sample, got a single number {value!r}")
    return t


def regression_bytes(n, features):
    """Rough peak bytes regression() needs for n samples: x, its power, y and the noise, in float32."""
    return 3 * FLOAT * n * (features + 2)


def regression(n=1000, weights=(2.0, -1.0), bias=False, degree=2, noise=0.01, seed=0):
    """Lecture data: y = sum_i w_i * x_i**degree (+ intercept) + noise, with x ~ N(0, 1).

    With bias=True the last weight is the intercept and a column of ones is appended to X.
    """
    check_positive_int(n, "n")
    check_flag(bias, "bias")
    check_positive_int(degree, "degree")
    check_nonnegative(noise, "noise")
    weights = as_tensor(weights, "weights", torch.float32).flatten()
    if len(weights) < (2 if bias else 1):
        raise ValueError(f"weights: expected at least {2 if bias else 1} values, got {len(weights)}")
    if not weights.isfinite().all():
        raise ValueError(f"weights: expected finite numbers, got {weights.tolist()}")
    g = generator(seed)
    check_memory(regression_bytes(n, len(weights)), "n", f"{n} samples of {len(weights)} features")
    w, b = (weights[:-1], weights[-1]) if bias else (weights, torch.tensor(0.0))
    x = torch.randn(n, len(w), generator=g)  # (n, features)
    y = (x**degree) @ w[:, None] + b + noise * torch.randn(n, 1, generator=g)  # (n, 1)
    if bias:
        x = torch.cat([x, torch.ones(n, 1)], dim=1)
    return x, y


def two_circles(n=1000, noise=0.1, factor=0.5, seed=0):
    """Two concentric noisy circles in 2-D; label 1 for the inner circle."""
    check_positive_int(n, "n")
    check_nonnegative(noise, "noise")
    check_probability(factor, "factor")
    g = generator(seed)
    check_memory(12 * FLOAT * n, "n", f"{n} samples")
    y = torch.arange(n) % 2  # alternate outer (0) and inner (1)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    radius = torch.where(y == 1, factor, 1.0)
    x = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
    return x + noise * torch.randn(n, 2, generator=g), y


def spiral(n=1000, classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms in 2-D, one class per arm."""
    check_positive_int(n, "n")
    check_positive_int(classes, "classes")
    check_nonnegative(noise, "noise")
    g = generator(seed)
    check_memory(12 * FLOAT * n, "n", f"{n} samples")
    y = torch.arange(n) % classes
    r = torch.rand(n, generator=g)
    angle = 4 * r + 2 * math.pi * y / classes + noise * torch.randn(n, generator=g)
    return r[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1), y


def digits(standardise=True):
    """scikit-learn's bundled 8x8 digits (1797 images, offline) as (X: (1797, 64), y: (1797,))."""
    check_flag(standardise, "standardise")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32)
    if standardise:
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)  # constant border pixels stay 0
    return x, torch.tensor(d.target)


@dataclass
class Split:
    """Train and test tensors of one data set."""

    x_train: torch.Tensor  # (n_train, features)
    y_train: torch.Tensor  # (n_train, outputs) for regression, (n_train,) class ids
    x_test: torch.Tensor  # (n_test, features)
    y_test: torch.Tensor

    def constant_mse(self, part="test"):
        """MSE on `part` ('train' or 'test') of always predicting the training mean: "learned nothing"."""
        check_choice(part, ("train", "test"), "part")
        y = self.y_train if part == "train" else self.y_test
        return ((y - self.y_train.mean(0)) ** 2).mean().item()

    def loaders(self, batch_size=10, seed=0):
        """(train_loader, test_loader); the train loader shuffles with its own seeded generator."""
        check_positive_int(batch_size, "batch_size")
        train = DataLoader(
            TensorDataset(self.x_train, self.y_train),
            batch_size,
            shuffle=True,
            generator=generator(seed),
        )
        return train, DataLoader(TensorDataset(self.x_test, self.y_test), batch_size)


def split(x, y, train=0.7, seed=0):
    """Shuffle and split (x, y) into a Split with the first `train` fraction for training."""
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    if len(x) == 0:
        raise ValueError("x: expected at least 2 samples, got an empty tensor")
    if len(x) != len(y):
        raise ValueError(f"y: expected {len(x)} rows to match x, got {len(y)}")
    check_probability(train, "train")
    n_train = round(train * len(x))
    if not 0 < n_train < len(x):
        raise ValueError(f"train: a fraction {train} of {len(x)} samples leaves a side empty")
    order = torch.randperm(len(x), generator=generator(seed))
    tr, te = order[:n_train], order[n_train:]
    return Split(x[tr], y[tr], x[te], y[te])


def lecture_split(seed=0):
    """The shared setting: 1000 samples of y = 2*x1**2 - x2**2 + 0.01*noise, 700 train / 300 test."""
    return split(*regression(seed=seed), train=0.7, seed=seed)
