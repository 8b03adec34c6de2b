"""Helpers for the series on initialisation, vanishing gradients and learning rates."""

import random

import numpy as np
import torch

from helpers import diagnose, exercises, playground, theory
from helpers.checks import check_positive_int
from helpers.data import Split, digits, lecture_split, regression, spiral, split, two_circles
from helpers.init import SCHEMES, fans, init_weights, predicted_bound, predicted_std, predicted_stds
from helpers.many import ManyHistory, train_many
from helpers.models import Residual, lecture_net, make_activation, mlp
from helpers.plots import layer_trace, loss_curves, spread, use_style, weights_vp
from helpers.stats import Probe, probe, summary
from helpers.train import History, batch_order, compare, evaluate, train

LABEL_VARIANCE = 10.0  # Var[2*x1**2 - x2**2] = 4*2 + 1*2 for x ~ N(0, 1): the constant-prediction MSE


def setup(seed=0, threads=1):
    """Seed Python, NumPy and torch, use `threads` CPU threads, set the series' plot style and backend.

    It also builds one throwaway optimizer: torch.optim's first use imports torch._dynamo (about a second on a
    laptop), and the setup cell, run before class, is the place to wait for it, not the first live experiment.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected an int from 0 to 2**32 - 1 (NumPy's range), got {seed!r}")
    check_positive_int(threads, "threads")
    inline_figures()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    use_style()
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # the one-time import (see above)


def inline_figures():
    """In a Jupyter kernel, draw figures inline whatever MPLBACKEND says (Agg would show nothing)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        shell.run_line_magic("matplotlib", "inline")


__all__ = [
    "LABEL_VARIANCE",
    "SCHEMES",
    "History",
    "ManyHistory",
    "Probe",
    "Residual",
    "Split",
    "batch_order",
    "compare",
    "exercises",
    "playground",
    "theory",
    "diagnose",
    "digits",
    "evaluate",
    "fans",
    "init_weights",
    "layer_trace",
    "lecture_net",
    "lecture_split",
    "loss_curves",
    "make_activation",
    "mlp",
    "predicted_bound",
    "predicted_std",
    "predicted_stds",
    "probe",
    "regression",
    "setup",
    "split",
    "spiral",
    "spread",
    "summary",
    "train",
    "train_many",
    "two_circles",
    "use_style",
    "weights_vp",
]
