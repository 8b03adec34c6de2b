"""Models of the series: general MLPs and the lecture's small networks."""

from torch import nn

from helpers.checks import check_choice, check_flag, check_memory, check_module, check_positive_int

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}
NORMS = {None: None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
LAYER_BYTES = 8192  # rough size of one layer's Python objects (a Linear, its activation, their tensors)


class Residual(nn.Module):
    """x + block(x): a shortcut around a block that keeps the width."""

    def __init__(self, block):
        super().__init__()
        check_module(block, "block")
        self.block = block

    def forward(self, x):
        return x + self.block(x)


def make_activation(name):
    """A fresh activation module from its name ('relu', 'tanh', 'sigmoid', ...)."""
    check_choice(name, ACTIVATIONS, "activation")
    return ACTIVATIONS[name]()


def mlp(widths, activation="relu", bias=True, norm=None, residual=False):
    """Linear layers of the given widths [in, hidden..., out], `activation` after each hidden one.

    norm ('batch' or 'layer') goes between each hidden Linear and its activation; residual=True
    wraps every hidden layer whose input and output widths match in a shortcut x + f(x).
    """
    if isinstance(widths, str) or not hasattr(widths, "__iter__"):
        raise ValueError(f"widths: expected a list of layer widths [in, hidden..., out], got {widths!r}")
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths: expected at least [in, out], got {widths}")
    for w in widths:
        check_positive_int(w, "widths")
    check_choice(norm, NORMS, "norm")
    make_activation(activation)  # fail early on an unknown name
    check_flag(bias, "bias")
    check_flag(residual, "residual")
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    check_memory(4 * weights + LAYER_BYTES * len(widths), "widths", f"a network of {weights:,} weights")
    layers = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1]):
        block = [nn.Linear(n_in, n_out, bias=bias)]
        if norm:
            block.append(NORMS[norm](n_out))
        block.append(make_activation(activation))
        if residual and n_in == n_out:
            layers.append(Residual(nn.Sequential(*block)))
        else:
            layers.extend(block)
    layers.append(nn.Linear(widths[-2], widths[-1], bias=bias))
    return nn.Sequential(*layers)


def lecture_net(activation="relu", hidden=3, width=4, bias=True):
    """The lecture's network: 2 inputs, `hidden` layers of `width` units, 1 output."""
    check_positive_int(hidden, "hidden")
    check_positive_int(width, "width")
    check_memory((4 * width * width + LAYER_BYTES) * hidden, "hidden", f"{hidden} layers of width {width}")
    return mlp([2] + [width] * hidden + [1], activation, bias=bias)
