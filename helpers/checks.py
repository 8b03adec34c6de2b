"""Argument checks shared by the public helpers: each error names the argument and what was expected."""

import difflib
import inspect
import numbers
import os

import numpy as np
import torch
from torch import nn

MEMORY_FRACTION = 0.5  # refuse a request whose estimated footprint exceeds this share of available memory


def check_positive_int(value, name):
    """Raise unless value is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def is_number(value):
    """True for a real number (int, float, NumPy scalar), False for bools, strings and tensors."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(value, name):
    """Raise unless value is a finite real number."""
    if not is_number(value) or value != value or abs(value) == float("inf"):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


def check_positive(value, name):
    """Raise unless value is a finite number > 0."""
    if not is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")


def check_nonnegative(value, name):
    """Raise unless value is a finite number >= 0."""
    if not is_number(value) or not 0 <= value < float("inf"):
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")


def check_optional_positive(value, name):
    """Raise unless value is None or a positive number."""
    if value is not None:
        check_positive(value, name)


def check_probability(value, name):
    """Raise unless 0 < value < 1."""
    if not is_number(value) or not 0 < value < 1:
        raise ValueError(f"{name}: expected a number strictly between 0 and 1, got {value!r}")


def check_flag(value, name):
    """Raise unless value is True or False (NumPy bools, 0 and 1 pass too)."""
    if not (isinstance(value, bool | np.bool_) or (isinstance(value, numbers.Integral) and value in (0, 1))):
        raise ValueError(f"{name}: expected True or False, got {value!r}")


def check_str(value, name):
    """Raise unless value is a string."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a string, got {type(value).__name__} {value!r}")


def did_you_mean(value, choices):
    """' (did you mean 'x'?)' for a near miss among string choices, else ''."""
    if not isinstance(value, str):
        return ""
    same = [c for c in choices if isinstance(c, str) and c.lower() == value.lower()]
    if same:
        return f" (did you mean {same[0]!r}?)"
    close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(value, choices, name):
    """Raise unless value is one of choices; a near miss gets a suggestion."""
    if not any(value is c or (c is not None and isinstance(value, type(c)) and value == c) for c in choices):
        raise ValueError(
            f"{name}: expected one of {sorted(choices, key=str)}, got {value!r}{did_you_mean(value, choices)}"
        )


def generator(seed):
    """A torch.Generator from an int seed (or the generator itself)."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed: expected an int or a torch.Generator, got {seed!r}")
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"seed: expected an int between -2**63 and 2**64 - 1, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def linear_layers(model):
    """The model's nn.Linear and nn.Conv layers in forward order; raises if there are none."""
    check_module(model)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    if not layers:
        raise ValueError(
            f"model: expected at least one nn.Linear or nn.Conv2d layer in {type(model).__name__}"
        )
    return layers


def check_module(model, name="model"):
    """Raise TypeError unless model is an nn.Module instance; a class or function gets a hint to call it."""
    if isinstance(model, nn.Module):
        return
    if callable(model):
        kind = "class" if isinstance(model, type) else "function"
        label = getattr(model, "__name__", type(model).__name__)
        call = f", {label}()" if label.isidentifier() else ""
        raise TypeError(
            f"{name}: expected an nn.Module, got the {kind} {label!r} itself; did you mean to call it{call}?"
        )
    raise TypeError(
        f"{name}: expected an nn.Module (e.g. helpers.mlp([2, 4, 1])), got {type(model).__name__}"
    )


def check_modules(models, name="models"):
    """A list of the nn.Module instances in models; raises for a single module or a non-module item."""
    if isinstance(models, nn.Module):
        raise TypeError(
            f"{name}: expected a list of modules, got a single {type(models).__name__}; wrap it in a list"
        )
    if isinstance(models, str) or not hasattr(models, "__iter__"):
        raise TypeError(f"{name}: expected a list of modules, got {type(models).__name__}")
    models = list(models)
    if not models:
        raise ValueError(f"{name}: expected at least one module, got an empty list")
    for i, m in enumerate(models):
        check_module(m, f"{name}[{i}]")
    return models


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable from /proc/meminfo)."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(nbytes, name, what, fraction=MEMORY_FRACTION):
    """Raise unless an allocation of about nbytes fits in `fraction` of the available memory."""
    free = available_memory()
    if nbytes > fraction * free:
        raise ValueError(
            f"{name}: {what} needs about {nbytes / 1e9:.3g} GB, more than {fraction:.0%} of the "
            f"{free / 1e9:.3g} GB available"
        )


def loss_names():
    from helpers.stats import LOSSES

    return LOSSES


def is_integer_dtype(t):
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def check_finite(t, label, name):
    """Raise if the float tensor t holds NaN or inf, saying how many (label says which tensor)."""
    if t.is_floating_point() or t.is_complex():
        nan, inf = int(t.isnan().sum()), int(t.isinf().sum())
        if nan or inf:
            found = " and ".join(f"{k} {w}" for k, w in ((nan, "NaN"), (inf, "inf")) if k)
            raise ValueError(f"{name}: {label} contains {found} value{'s' if nan + inf > 1 else ''}")


def check_inputs(x, label, name):
    """Raise unless x is a non-empty float tensor of shape (n, features, ...) without NaN or inf."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected {label} to be a tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: expected {label} of shape (n, features), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected {label} to be a float tensor, got {x.dtype}; use .float()")
    check_finite(x, label, name)


def check_targets(y, n, loss, label, name):
    """Raise unless y holds n targets that fit the loss: (n, outputs) floats or (n,) class ids."""
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: expected {label} to be a tensor, got {type(y).__name__}")
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{name}: expected {n} rows in {label} to match the inputs, got {tuple(y.shape)}")
    if loss == "mse":
        if y.ndim != 2:
            raise ValueError(
                f"{name}: loss='mse' expects {label} of shape (n, outputs), got {tuple(y.shape)}"
            )
        if not y.is_floating_point():
            raise ValueError(f"{name}: loss='mse' expects float {label}, got {y.dtype}; use .float()")
        check_finite(y, label, name)
    elif loss == "cross_entropy":
        if y.ndim != 1:
            raise ValueError(
                f"{name}: loss='cross_entropy' expects class ids of shape (n,) in {label}, "
                f"got {tuple(y.shape)}"
            )
        if not is_integer_dtype(y):
            raise ValueError(
                f"{name}: loss='cross_entropy' expects integer class ids in {label}, "
                f"got {y.dtype}; use .long()"
            )
        if int(y.min()) < 0:
            raise ValueError(f"{name}: class ids in {label} must be >= 0, got {int(y.min())}")


def in_order(model):
    """True when model's layers run in registration order: nested Sequentials (and Residuals) only."""
    from helpers.models import Residual

    containers = [m for m in model.modules() if next(m.children(), None) is not None]
    return all(isinstance(m, nn.Sequential | Residual) for m in containers)


def check_widths(model, x, y, loss, x_label="x", y_label="y", y_more=None):
    """Raise naming `model` when its first/last Linear layer does not fit x's features or y's outputs.

    Skipped for models without a Linear first (last) layer and for custom modules, whose
    layer order cannot be known without running them.
    """
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)]
    if not layers or not in_order(model):
        return
    first, last = layers[0], layers[-1]
    if isinstance(first, nn.Linear) and not isinstance(first.weight, nn.parameter.UninitializedParameter):
        if x.ndim == 2 and first.in_features != x.shape[1]:
            raise ValueError(
                f"model: its first Linear layer takes {first.in_features} inputs but {x_label} has "
                f"{x.shape[1]} features"
            )
    if y is None or not isinstance(last, nn.Linear):
        return
    if isinstance(last.weight, nn.parameter.UninitializedParameter):
        return
    if loss == "mse" and last.out_features != y.shape[1]:
        raise ValueError(
            f"model: its last Linear layer gives {last.out_features} outputs but {y_label} has "
            f"{y.shape[1]} column{'s' if y.shape[1] != 1 else ''}"
        )
    if loss == "cross_entropy":
        classes = max(int(t.max()) + 1 for t in (y, y if y_more is None else y_more))
        if last.out_features < classes:
            raise ValueError(
                f"model: its last Linear layer gives {last.out_features} outputs but the class ids in "
                f"{y_label} go up to {classes - 1}; cross_entropy needs one output per class ({classes})"
            )


def check_dtype(model, x, name, label):
    """Raise naming `name` when the float tensor x (called label) has another dtype than model's weights."""
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    if p is not None and x.is_floating_point() and x.dtype != p.dtype:
        raise ValueError(
            f"{name}: {label} is {x.dtype} but the model's weights are {p.dtype}; convert one of them "
            f"(e.g. .float())"
        )


def check_data(data, loss):
    """Raise ValueError naming `data` unless it is a helpers.Split whose tensors fit the loss."""
    from helpers.data import Split

    if not isinstance(data, Split):
        raise ValueError(f"data: expected a helpers.Split (see helpers.split), got {type(data).__name__}")
    for part in ("train", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        check_inputs(x, f"x_{part}", "data")
        if x.ndim != 2:
            raise ValueError(f"data: expected x_{part} of shape (n, features), got {tuple(x.shape)}")
        check_targets(y, len(x), loss, f"y_{part}", "data")
    if data.x_test.shape[1] != data.x_train.shape[1]:
        raise ValueError(
            f"data: x_train has {data.x_train.shape[1]} features but x_test has {data.x_test.shape[1]}"
        )
    if loss == "mse" and data.y_test.shape[1] != data.y_train.shape[1]:
        raise ValueError(
            f"data: y_train has {data.y_train.shape[1]} columns but y_test has {data.y_test.shape[1]}"
        )


def check_model_and_data(model, data, loss):
    """Raise a clear error when model, data (a helpers.Split) and loss do not fit together; no forward pass.

    TypeError naming `model` if it is not an nn.Module instance; ValueError naming `loss` for an unknown
    name, `data` for a non-Split, a non-float or non-2-D x, NaN or inf, mismatched lengths or targets that
    do not fit the loss, and `model` when it has no trainable parameters or its first (last) Linear layer
    does not fit x's features (y's columns, or the number of classes).
    """
    check_module(model)
    check_choice(loss, loss_names(), "loss")
    check_data(data, loss)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"model: expected trainable parameters, {type(model).__name__} has none")
    check_dtype(model, data.x_train, "data", "x_train")
    check_widths(model, data.x_train, data.y_train, loss, "data.x_train", "data.y_train", data.y_test)


def check_optimizer_kwargs(cls, kwargs):
    """Raise ValueError naming an optimizer keyword cls does not take, or a value of the wrong type."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    known = [k for k in params if k not in ("self", "params", "lr")]
    where = "torch.optim" if getattr(torch.optim, cls.__name__, None) is cls else cls.__module__
    for key, value in kwargs.items():
        if key not in known:
            raise ValueError(
                f"{key}: not an argument of {where}.{cls.__name__}{did_you_mean(key, known)}; "
                f"it takes {', '.join(known)}"
            )
        default = params[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"{key}: expected True or False, got {value!r}")
        if is_number(default) and not is_number(value):
            raise ValueError(f"{key}: expected a number, got {value!r}")
