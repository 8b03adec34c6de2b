"""Argument checks shared by the public helpers: each error names the argument and what was expected."""

import torch


def check_positive_int(value, name):
    """Raise unless value is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_positive(value, name):
    """Raise unless value is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")


def check_probability(value, name):
    """Raise unless 0 < value < 1."""
    if not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name}: expected a number strictly between 0 and 1, got {value!r}")


def check_choice(value, choices, name):
    """Raise unless value is one of choices."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices, key=str)}, got {value!r}")


def generator(seed):
    """A torch.Generator from an int seed (or the generator itself)."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an int or a torch.Generator, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def linear_layers(model):
    """The model's nn.Linear and nn.Conv layers in forward order; raises if there are none."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)]
    if not layers:
        raise ValueError(
            f"model: expected at least one nn.Linear or nn.Conv2d layer in {type(model).__name__}"
        )
    return layers
