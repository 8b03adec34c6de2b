"""Bad input to a public helper: a one-line error naming the argument, raised before any work starts."""

# The table of cases keeps one case per line.
# ruff: noqa: E501

import ast
import math
import pathlib

import pytest
import torch
from torch import nn, optim

import helpers
from helpers import checks, exercises, lecture
from helpers.data import Split
from helpers.init import NONLINEARITIES
from helpers.train import History, batch_order

DATA = helpers.lecture_split()
X, Y = DATA.x_train, DATA.y_train
NAN_X = X.clone()
NAN_X[:3, 0] = math.nan
INF_Y = Y.clone()
INF_Y[5] = math.inf
NAN_DATA = Split(NAN_X, Y, DATA.x_test, DATA.y_test)
INF_DATA = Split(X, INF_Y, DATA.x_test, DATA.y_test)
CLASSES = helpers.split(*helpers.spiral(200, classes=3))  # class ids 0, 1, 2
FLOAT_LABELS = Split(CLASSES.x_train, CLASSES.y_train.float(), CLASSES.x_test, CLASSES.y_test.float())
FLAT_Y = Split(X, Y.flatten(), DATA.x_test, DATA.y_test.flatten())
INT_X = Split(X.long(), Y, DATA.x_test.long(), DATA.y_test)
DOUBLE_X = Split(X.double(), Y, DATA.x_test.double(), DATA.y_test)
SHORT_Y = Split(X, Y[:-1], DATA.x_test, DATA.y_test)
NET = helpers.lecture_net()
WIDE_IN = helpers.mlp([3, 4, 1])  # expects 3 features, the data has 2
WIDE_OUT = helpers.mlp([2, 4, 2])  # 2 outputs for 1 label column: MSE would broadcast
NO_PARAMS = nn.Sequential(nn.ReLU())
with torch.random.fork_rng():
    torch.manual_seed(0)
    HIST = helpers.train(helpers.lecture_net(), DATA, epochs=1, track=True, name="tracked")
    UNTRACKED = helpers.train(helpers.lecture_net(), DATA, epochs=1, name="plain")
    FEATURES, LABELS = lecture.tensorGenReg(w=[2, -1], bias=False, deg=2)
    TRAIN_LOADER, TEST_LOADER = lecture.split_loader(FEATURES, LABELS)
SGD = optim.SGD(NET.parameters(), lr=0.1)
OTHER_SGD = optim.SGD(helpers.lecture_net().parameters(), lr=0.1)
CE = nn.MSELoss()
LECTURE = {"train_data": TRAIN_LOADER, "test_data": TEST_LOADER}
HUGE = 10**12


def make_fig():
    import matplotlib.pyplot as plt

    return plt.figure()


# (function, kwargs, exception type, substring of the message; the message must start with its "arg:")
# fmt: off
CASES = [
    # train: model, data, loss
    (helpers.train, {"model": NET, "data": NAN_DATA}, ValueError, "data: x_train contains 3 NaN values"),
    (helpers.train, {"model": NET, "data": INF_DATA}, ValueError, "data: y_train contains 1 inf value"),
    (helpers.train, {"model": NET, "data": (X, Y)}, ValueError, "data: expected a helpers.Split"),
    (helpers.train, {"model": NET, "data": SHORT_Y}, ValueError, "data: expected 700 rows in y_train"),
    (helpers.train, {"model": NET, "data": FLAT_Y}, ValueError, "data: loss='mse' expects y_train of shape"),
    (helpers.train, {"model": NET, "data": INT_X}, ValueError, "data: expected x_train to be a float"),
    (helpers.train, {"model": NET, "data": DOUBLE_X}, ValueError, "data: x_train is torch.float64"),
    (helpers.train, {"model": WIDE_IN, "data": DATA}, ValueError, "model: its first Linear layer takes 3 inputs but data.x_train has 2 features"),
    (helpers.train, {"model": WIDE_OUT, "data": DATA}, ValueError, "model: its last Linear layer gives 2 outputs but data.y_train has 1 column"),
    (helpers.train, {"model": WIDE_OUT, "data": CLASSES, "loss": "cross_entropy"}, ValueError, "model: its last Linear layer gives 2 outputs but the class ids"),
    (helpers.train, {"model": helpers.mlp([2, 3]), "data": FLOAT_LABELS, "loss": "cross_entropy"}, ValueError, "data: loss='cross_entropy' expects integer class ids"),
    (helpers.train, {"model": helpers.lecture_net, "data": DATA}, TypeError, "model: expected an nn.Module"),
    (helpers.train, {"model": helpers.lecture_net, "data": DATA}, TypeError, "did you mean to call it"),
    (helpers.train, {"model": lecture.Sigmoid_class3, "data": DATA}, TypeError, "model: expected an nn.Module, got the class"),
    (helpers.train, {"model": None, "data": DATA}, TypeError, "model: expected an nn.Module"),
    (helpers.train, {"model": [NET], "data": DATA}, TypeError, "model: expected an nn.Module"),
    (helpers.train, {"model": NO_PARAMS, "data": DATA}, ValueError, "model: expected trainable parameters"),
    (helpers.train, {"model": NET, "data": DATA, "loss": "mes"}, ValueError, "loss: expected one of"),
    (helpers.train, {"model": NET, "data": DATA, "loss": "mes"}, ValueError, "(did you mean 'mse'?)"),
    (helpers.train, {"model": NET, "data": DATA, "loss": ["mse"]}, ValueError, "loss: expected one of"),
    # train: optimizer and numbers
    (helpers.train, {"model": NET, "data": DATA, "optimizer": "adma"}, ValueError, "optimizer: expected one of"),
    (helpers.train, {"model": NET, "data": DATA, "optimizer": SGD}, ValueError, "optimizer: expected a name or a torch.optim class"),
    (helpers.train, {"model": NET, "data": DATA, "optimizer": len}, ValueError, "optimizer: expected one of"),
    (helpers.train, {"model": NET, "data": DATA, "momentun": 0.9}, ValueError, "momentun: not an argument of torch.optim.SGD (did you mean 'momentum'?)"),
    (helpers.train, {"model": NET, "data": DATA, "optimizer": "adam", "beta": 0.9}, ValueError, "beta: not an argument of"),
    (helpers.train, {"model": NET, "data": DATA, "momentum": "0.9"}, ValueError, "momentum: expected a number, got '0.9'"),
    (helpers.train, {"model": NET, "data": DATA, "nesterov": "yes"}, ValueError, "nesterov: expected True or False"),
    (helpers.train, {"model": NET, "data": DATA, "momentum": -1.0}, ValueError, "optimizer: SGD rejected its arguments"),
    (helpers.train, {"model": NET, "data": DATA, "lr": "0.1"}, ValueError, "lr: expected a positive number, got '0.1'"),
    (helpers.train, {"model": NET, "data": DATA, "lr": 0}, ValueError, "lr: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "lr": math.inf}, ValueError, "lr: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "lr": math.nan}, ValueError, "lr: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "lr": True}, ValueError, "lr: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "epochs": 2.5}, ValueError, "epochs: expected a positive integer, got 2.5"),
    (helpers.train, {"model": NET, "data": DATA, "epochs": "3"}, ValueError, "epochs: expected a positive integer"),
    (helpers.train, {"model": NET, "data": DATA, "epochs": 0}, ValueError, "epochs: expected a positive integer"),
    (helpers.train, {"model": NET, "data": DATA, "batch_size": 0}, ValueError, "batch_size: expected a positive integer"),
    (helpers.train, {"model": NET, "data": DATA, "batch_size": 10.0}, ValueError, "batch_size: expected a positive integer"),
    (helpers.train, {"model": NET, "data": DATA, "seed": "0"}, ValueError, "seed: expected an int"),
    (helpers.train, {"model": NET, "data": DATA, "seed": 1.5}, ValueError, "seed: expected an int"),
    (helpers.train, {"model": NET, "data": DATA, "clip_norm": -1}, ValueError, "clip_norm: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "clip_value": "1"}, ValueError, "clip_value: expected a positive number"),
    (helpers.train, {"model": NET, "data": DATA, "name": 3}, TypeError, "name: expected a string"),
    (helpers.train, {"model": NET, "data": DATA, "track": "yes"}, ValueError, "track: expected True or False"),
    (helpers.train, {"model": NET, "data": DATA, "progress": "no"}, ValueError, "progress: expected True or False"),
    (helpers.train, {"model": NET, "data": DATA, "verbose": None}, ValueError, "verbose: expected True or False"),
    # compare, evaluate, batch_order, History.stat
    (helpers.compare, {"models": NET, "data": DATA}, TypeError, "models: expected a list of modules, got a single"),
    (helpers.compare, {"models": [NET, helpers.lecture_net], "data": DATA}, TypeError, "models[1]: expected an nn.Module"),
    (helpers.compare, {"models": [], "data": DATA}, ValueError, "models: expected at least one module"),
    (helpers.compare, {"models": [NET], "data": DATA, "names": "a"}, ValueError, "names: expected a list of 1 names"),
    (helpers.compare, {"models": [NET, WIDE_IN], "data": DATA}, ValueError, "model: its first Linear layer takes 3"),
    (helpers.compare, {"models": [NET], "data": DATA, "lr": "0.1"}, ValueError, "lr: expected a positive number"),
    (helpers.evaluate, {"model": NET, "x": NAN_X, "y": Y}, ValueError, "x: x contains 3 NaN values"),
    (helpers.evaluate, {"model": NET, "x": X, "y": Y[:5]}, ValueError, "y: expected 700 rows"),
    (helpers.evaluate, {"model": NET, "x": X, "y": Y, "loss": "mae"}, ValueError, "loss: expected one of"),
    (helpers.evaluate, {"model": helpers.mlp, "x": X, "y": Y}, TypeError, "model: expected an nn.Module"),
    (helpers.evaluate, {"model": WIDE_OUT, "x": X, "y": Y}, ValueError, "model: its last Linear layer gives 2 outputs"),
    (helpers.evaluate, {"model": NET, "x": X.numpy(), "y": Y}, ValueError, "x: expected x to be a tensor"),
    (batch_order, {"n": 10, "batch_size": 0, "epochs": 1, "seed": 0}, ValueError, "batch_size: expected a positive"),
    (batch_order, {"n": 10 ** 6, "batch_size": 10, "epochs": 10 ** 9, "seed": 0}, ValueError, "epochs: the batch order of"),
    (History.stat, {"self": HIST, "name": "grad_sd"}, ValueError, "name: expected one of"),
    (History.stat, {"self": HIST, "name": "grad_sd"}, ValueError, "(did you mean 'grad_std'?)"),
    (History.stat, {"self": UNTRACKED, "name": "grad_std"}, ValueError, "name: 'grad_std' was not recorded"),
    # stats
    (helpers.probe, {"model": NET, "x": NAN_X}, ValueError, "x: x contains 3 NaN values"),
    (helpers.probe, {"model": NET, "x": X, "y": INF_Y}, ValueError, "y: y contains 1 inf value"),
    (helpers.probe, {"model": helpers.lecture_net, "x": X}, TypeError, "model: expected an nn.Module"),
    (helpers.probe, {"model": lecture.Tanh_class2, "x": X}, TypeError, "did you mean to call it, Tanh_class2()?"),
    (helpers.probe, {"model": None, "x": X}, TypeError, "model: expected an nn.Module"),
    (helpers.probe, {"model": [NET], "x": X}, TypeError, "model: expected an nn.Module"),
    (helpers.probe, {"model": NET, "x": X, "y": Y, "loss": "ce"}, ValueError, "loss: expected one of"),
    (helpers.probe, {"model": WIDE_IN, "x": X}, ValueError, "model: its first Linear layer takes 3 inputs but x has 2"),
    (helpers.probe, {"model": WIDE_OUT, "x": X, "y": Y}, ValueError, "model: its last Linear layer gives 2 outputs"),
    (helpers.probe, {"model": NET, "x": X.double()}, ValueError, "x: x is torch.float64"),
    (helpers.probe, {"model": NET, "x": "abc"}, ValueError, "x: expected a tensor or an array"),
    (helpers.probe, {"model": NET, "x": X, "y": Y.flatten()}, ValueError, "y: loss='mse' expects y of shape"),
    (helpers.probe, {"model": NET, "x": X, "y": Y[:3]}, ValueError, "y: expected 700 labels"),
    (helpers.summary, {"p": NET}, TypeError, "p: expected a helpers.Probe"),
    (helpers.summary, {"p": None}, TypeError, "p: expected a helpers.Probe"),
    # init
    (helpers.init_weights, {"model": helpers.lecture_net}, TypeError, "model: expected an nn.Module"),
    (helpers.init_weights, {"model": None}, TypeError, "model: expected an nn.Module"),
    (helpers.init_weights, {"model": [NET]}, TypeError, "model: expected an nn.Module"),
    (helpers.init_weights, {"model": NET, "scheme": "xavier"}, ValueError, "scheme: expected one of"),
    (helpers.init_weights, {"model": NET, "scheme": "kaiming_normal", "nonlinearity": "Relu"}, ValueError, "nonlinearity: expected one of"),
    (helpers.init_weights, {"model": NET, "scheme": "kaiming_normal", "nonlinearity": "gelu"}, ValueError, "nonlinearity: expected one of"),
    (helpers.init_weights, {"model": NET, "scheme": "kaiming_normal", "mode": "fan_avg"}, ValueError, "mode: expected one of"),
    (helpers.init_weights, {"model": NET, "scheme": "kaiming_normal", "a": "0.2"}, ValueError, "a: expected a finite number"),
    (helpers.init_weights, {"model": NET, "scheme": "xavier_normal", "gain": "1"}, ValueError, "gain: expected a finite number"),
    (helpers.init_weights, {"model": NET, "scheme": "normal", "std": -1.0}, ValueError, "std: expected a positive number"),
    (helpers.init_weights, {"model": NET, "scheme": "uniform", "bound": 0}, ValueError, "bound: expected a positive number"),
    (helpers.init_weights, {"model": NET, "scheme": "constant", "value": None}, ValueError, "value: expected a finite number"),
    (helpers.init_weights, {"model": NET, "bias": "0"}, ValueError, "bias: expected a finite number"),
    (helpers.init_weights, {"model": NO_PARAMS, "scheme": "zeros"}, ValueError, "model: expected at least one nn.Linear"),
    (helpers.predicted_std, {"scheme": "he", "fan_in": 4, "fan_out": 4}, ValueError, "scheme: expected one of"),
    (helpers.predicted_std, {"scheme": "kaiming_normal", "fan_in": 4, "fan_out": 4, "nonlinearity": "ReLU"}, ValueError, "nonlinearity: expected one of"),
    (helpers.predicted_std, {"scheme": "kaiming_normal", "fan_in": 4, "fan_out": 4, "mode": "in"}, ValueError, "mode: expected one of"),
    (helpers.predicted_std, {"scheme": "xavier_normal", "fan_in": 0, "fan_out": 4}, ValueError, "fan_in: expected a positive"),
    (helpers.predicted_std, {"scheme": "xavier_normal", "fan_in": 4, "fan_out": "4"}, ValueError, "fan_out: expected a positive"),
    (helpers.predicted_bound, {"scheme": "normal", "fan_in": 4, "fan_out": 4}, ValueError, "scheme: expected a uniform scheme"),
    (helpers.predicted_bound, {"scheme": "kaiming_uniform", "fan_in": 4, "fan_out": 4, "nonlinearity": "lrelu"}, ValueError, "nonlinearity: expected one of"),
    (helpers.predicted_stds, {"model": helpers.lecture_net, "scheme": "default"}, TypeError, "model: expected an nn.Module"),
    (helpers.predicted_stds, {"model": NET, "scheme": "glorot"}, ValueError, "scheme: expected one of"),
    (helpers.predicted_stds, {"model": NET, "scheme": "xavier_normal", "gian": 2}, ValueError, "gian: not an argument of predicted_std (did you mean 'gain'?)"),
    (helpers.predicted_bound, {"scheme": "uniform", "fan_in": 4, "fan_out": 4, "bund": 2}, ValueError, "bund: not an argument of predicted_std"),
    (helpers.fans, {"weight": nn.Linear(2, 3)}, TypeError, "weight: expected a weight tensor, got a Linear"),
    (helpers.fans, {"weight": torch.zeros(3)}, ValueError, "weight: expected a tensor with at least 2 dimensions"),
    # models
    (helpers.mlp, {"widths": 5}, ValueError, "widths: expected a list of layer widths"),
    (helpers.mlp, {"widths": "241"}, ValueError, "widths: expected a list of layer widths"),
    (helpers.mlp, {"widths": [2, 2.5, 1]}, ValueError, "widths: expected a positive integer"),
    (helpers.mlp, {"widths": [2, 4, 1], "activation": "Relu"}, ValueError, "activation: expected one of"),
    (helpers.mlp, {"widths": [2, 4, 1], "activation": "Relu"}, ValueError, "(did you mean 'relu'?)"),
    (helpers.mlp, {"widths": [2, 4, 1], "norm": "batchnorm"}, ValueError, "norm: expected one of"),
    (helpers.mlp, {"widths": [2, 4, 1], "bias": "yes"}, ValueError, "bias: expected True or False"),
    (helpers.mlp, {"widths": [2, 4, 1], "residual": "no"}, ValueError, "residual: expected True or False"),
    (helpers.mlp, {"widths": [2, 10 ** 7, 10 ** 7, 1]}, ValueError, "widths: a network of"),
    (helpers.lecture_net, {"hidden": 0}, ValueError, "hidden: expected a positive integer"),
    (helpers.lecture_net, {"hidden": HUGE}, ValueError, "hidden: 1000000000000 layers of width 4 needs about"),
    (helpers.lecture_net, {"width": 0}, ValueError, "width: expected a positive integer"),
    (helpers.lecture_net, {"activation": "sigmod"}, ValueError, "(did you mean 'sigmoid'?)"),
    (helpers.make_activation, {"name": "swish"}, ValueError, "activation: expected one of"),
    (helpers.Residual, {"block": lambda x: x}, TypeError, "block: expected an nn.Module"),
    # data
    (helpers.regression, {"n": HUGE}, ValueError, "n: 1000000000000 samples of 2 features needs about"),
    (helpers.regression, {"n": 2.5}, ValueError, "n: expected a positive integer"),
    (helpers.regression, {"degree": 0}, ValueError, "degree: expected a positive integer"),
    (helpers.regression, {"degree": 1.5}, ValueError, "degree: expected a positive integer"),
    (helpers.regression, {"degree": "2"}, ValueError, "degree: expected a positive integer"),
    (helpers.regression, {"noise": -0.1}, ValueError, "noise: expected a number >= 0"),
    (helpers.regression, {"weights": "ab"}, ValueError, "weights: expected a tensor or an array"),
    (helpers.regression, {"weights": [math.nan, 1.0]}, ValueError, "weights: expected finite numbers"),
    (helpers.regression, {"bias": "no"}, ValueError, "bias: expected True or False"),
    (helpers.regression, {"seed": 1.5}, ValueError, "seed: expected an int"),
    (helpers.two_circles, {"n": HUGE}, ValueError, "n: 1000000000000 samples needs about"),
    (helpers.two_circles, {"noise": "0.1"}, ValueError, "noise: expected a number >= 0"),
    (helpers.two_circles, {"factor": 0}, ValueError, "factor: expected a number strictly between 0 and 1"),
    (helpers.spiral, {"classes": 0}, ValueError, "classes: expected a positive integer"),
    (helpers.spiral, {"noise": -1}, ValueError, "noise: expected a number >= 0"),
    (helpers.spiral, {"n": HUGE}, ValueError, "n: 1000000000000 samples needs about"),
    (helpers.digits, {"standardise": "yes"}, ValueError, "standardise: expected True or False"),
    (helpers.split, {"x": X, "y": Y[:-1]}, ValueError, "y: expected 700 rows to match x, got 699"),
    (helpers.split, {"x": X, "y": Y, "train": 1.5}, ValueError, "train: expected a number strictly between 0 and 1"),
    (helpers.split, {"x": "abc", "y": Y}, ValueError, "x: expected a tensor or an array"),
    (helpers.split, {"x": 5, "y": 5}, ValueError, "x: expected one row per sample"),
    (helpers.split, {"x": X, "y": Y, "seed": "s"}, ValueError, "seed: expected an int"),
    (helpers.lecture_split, {"seed": None}, ValueError, "seed: expected an int"),
    (Split.constant_mse, {"self": DATA, "part": "valid"}, ValueError, "part: expected one of"),
    (Split.loaders, {"self": DATA, "batch_size": 0}, ValueError, "batch_size: expected a positive integer"),
    (Split.loaders, {"self": DATA, "seed": "0"}, ValueError, "seed: expected an int"),
    # plots
    (helpers.weights_vp, {"model": helpers.lecture_net}, TypeError, "model: expected an nn.Module"),
    (helpers.weights_vp, {"model": None}, TypeError, "model: expected an nn.Module"),
    (helpers.weights_vp, {"model": NET, "att": "grads"}, ValueError, "att: expected one of"),
    (helpers.weights_vp, {"model": NET, "att": "act", "x": NAN_X}, ValueError, "x: x contains 3 NaN values"),
    (helpers.weights_vp, {"model": NET, "ax": "left"}, TypeError, "ax: expected a matplotlib Axes or None"),
    (helpers.weights_vp, {"model": NET, "predicted": "abc"}, ValueError, "predicted: expected 4 numbers"),
    (helpers.weights_vp, {"model": NET, "predicted": [0.1, 0.1, 0.1]}, ValueError, "predicted: expected 4 values, one per layer, got shape (3,)"),
    (helpers.weights_vp, {"model": NET, "max_labels": 0}, ValueError, "max_labels: expected a positive integer"),
    (helpers.weights_vp, {"model": NET, "log": "yes"}, ValueError, "log: expected True or False"),
    (helpers.weights_vp, {"model": NET, "title": 3}, TypeError, "title: expected a string"),
    (helpers.loss_curves, {"histories": HIST}, TypeError, "histories: expected a list of History objects, got one"),
    (helpers.loss_curves, {"histories": [NET]}, TypeError, "histories: expected History objects, item 0 is a"),
    (helpers.loss_curves, {"histories": []}, ValueError, "histories: expected at least one History"),
    (helpers.loss_curves, {"histories": [HIST], "key": "test_los"}, ValueError, "key: expected one of"),
    (helpers.loss_curves, {"histories": [HIST], "key": "test_los"}, ValueError, "(did you mean 'test_loss'?)"),
    (helpers.loss_curves, {"histories": [HIST], "key": "test_acc"}, ValueError, "key: 'test_acc' is empty"),
    (helpers.loss_curves, {"histories": [HIST], "constant": "x"}, ValueError, "constant: expected a finite number"),
    (helpers.layer_trace, {"history": HIST, "stat": "grad_sd"}, ValueError, "stat: expected one of"),
    (helpers.layer_trace, {"history": UNTRACKED, "stat": "grad_std"}, ValueError, "stat: 'grad_std' was not recorded"),
    (helpers.layer_trace, {"history": [HIST]}, TypeError, "history: expected a helpers.History, got list"),
    (helpers.spread, {"x": "abc", "values": [[1.0]]}, ValueError, "x: expected numbers"),
    (helpers.spread, {"x": [1, 2, 3], "values": torch.zeros(4, 2)}, ValueError, "values: expected shape (runs, 3)"),
    (helpers.spread, {"x": [1, 2], "values": [[1, 2]], "ax": make_fig}, TypeError, "ax: expected a matplotlib Axes"),
    # the lecture's names
    (lecture.tensorGenReg, {"num_examples": 0}, ValueError, "num_examples: expected a positive integer"),
    (lecture.tensorGenReg, {"num_examples": HUGE}, ValueError, "num_examples: 1000000000000 examples"),
    (lecture.tensorGenReg, {"deg": 0}, ValueError, "deg: expected a positive integer"),
    (lecture.tensorGenReg, {"delta": -1}, ValueError, "delta: expected a number >= 0"),
    (lecture.tensorGenReg, {"w": []}, ValueError, "w: expected at least 2 weights"),
    (lecture.tensorGenReg, {"w": "ab"}, ValueError, "w: expected a list of numbers"),
    (lecture.split_loader, {"features": FEATURES, "labels": LABELS[:-1]}, ValueError, "labels: expected 1000 rows"),
    (lecture.split_loader, {"features": FEATURES, "labels": LABELS, "rate": 1.2}, ValueError, "rate: expected a number"),
    (lecture.split_loader, {"features": FEATURES, "labels": LABELS, "batch_size": 0}, ValueError, "batch_size: expected"),
    (lecture.mse_cal, {"data_loader": X, "net": NET}, TypeError, "data_loader: expected a DataLoader"),
    (lecture.mse_cal, {"data_loader": TRAIN_LOADER, "net": None}, TypeError, "net: expected a model"),
    (lecture.mse_cal, {"data_loader": TRAIN_LOADER, "net": WIDE_OUT}, ValueError, "net: its last Linear layer gives 2"),
    (lecture.accuracy_cal, {"data_loader": TRAIN_LOADER, "net": WIDE_IN}, ValueError, "net: its first Linear layer takes 3"),
    (lecture.fit, {"net": NET, "criterion": CE, "optimizer": optim.SGD, "batchdata": TRAIN_LOADER}, TypeError, "optimizer: expected an optimizer built on net's"),
    (lecture.fit, {"net": NET, "criterion": CE, "optimizer": OTHER_SGD, "batchdata": TRAIN_LOADER}, ValueError, "optimizer: it was built on another model's"),
    (lecture.fit, {"net": NET, "criterion": "mse", "optimizer": SGD, "batchdata": TRAIN_LOADER}, TypeError, "criterion: expected a loss function"),
    (lecture.fit, {"net": NET, "criterion": CE, "optimizer": SGD, "batchdata": TRAIN_LOADER, "epochs": 0}, ValueError, "epochs: expected a positive"),
    (lecture.fit, {"net": lecture.ReLU_class2, "criterion": CE, "optimizer": SGD, "batchdata": TRAIN_LOADER}, TypeError, "net: expected an nn.Module"),
    (lecture.model_train_test, {"model": NET, **LECTURE, "num_epochs": 0}, ValueError, "num_epochs: expected a positive"),
    (lecture.model_train_test, {"model": NET, **LECTURE, "optimizer": SGD}, TypeError, "optimizer: expected a torch.optim class"),
    (lecture.model_train_test, {"model": NET, **LECTURE, "lr": "0.03"}, ValueError, "lr: expected a positive number"),
    (lecture.model_train_test, {"model": NET, **LECTURE, "eva": "mse"}, TypeError, "eva: expected an evaluation function"),
    (lecture.model_train_test, {"model": lecture.Sigmoid_class3, **LECTURE}, TypeError, "model: expected an nn.Module"),
    (lecture.model_train_test, {"model": WIDE_IN, **LECTURE}, ValueError, "model: its first Linear layer takes 3"),
    (lecture.model_comparison, {"model_l": [NET, NET], "name_l": ["a"], **LECTURE}, ValueError, "name_l: expected 2 names"),
    (lecture.model_comparison, {"model_l": NET, "name_l": ["a"], **LECTURE}, TypeError, "model_l: expected a list of modules"),
    (lecture.model_comparison, {"model_l": [NET], "name_l": ["a"], **LECTURE, "num_epochs": HUGE}, ValueError, "num_epochs: 1000000000000 epochs"),
    (lecture.model_comparison, {"model_l": [WIDE_OUT], "name_l": ["a"], **LECTURE}, ValueError, "model_l[0]: its last Linear"),
    (lecture.weights_vp, {"model": NET, "att": "grads"}, ValueError, "att: expected one of"),
    (lecture.Sigmoid_class3, {"hidden_1": 0}, ValueError, "hidden_1: expected a positive integer"),
    # exercises
    (exercises.check, {"key": 1.2, "answer": 0.5}, TypeError, "key: expected a string like '01.2'"),
    (exercises.check, {"key": "99.9", "answer": 0.5}, ValueError, "key: expected one of"),
    (exercises.solution, {"key": "nope"}, ValueError, "key: expected one of"),
    (exercises.reveal, {"guess": "abc", "measured": 1.0}, ValueError, "guess: expected a number"),
    (exercises.reveal, {"guess": None, "measured": "x"}, ValueError, "measured: expected a number"),
    (exercises.reveal, {"guess": 0.5, "measured": 1.0, "what": 3}, TypeError, "what: expected a string"),
    (exercises.exercise, {"key": "x", "kind": "essay", "expected": 1, "hint": ""}, ValueError, "kind: expected"),
]
# fmt: on


def case_id(case):
    fn, kwargs, exc, match = case
    return f"{getattr(fn, '__qualname__', fn)}-{match.split(':')[0]}"


@pytest.mark.parametrize(("fn", "kwargs", "exc", "match"), CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_names_the_argument(fn, kwargs, exc, match):
    kwargs = {k: v() if v is make_fig else v for k, v in kwargs.items()}
    with pytest.raises(exc) as info:
        fn(**kwargs)
    message = str(info.value)
    arg = match.split(":")[0] if ":" in match else None
    assert match in message
    assert "\n" not in message
    if arg is not None:
        assert message.startswith(f"{arg}:"), message


def test_check_model_and_data_is_silent_on_good_input_and_names_each_problem():
    checks.check_model_and_data(helpers.lecture_net(), DATA, "mse")
    checks.check_model_and_data(helpers.mlp([2, 8, 3]), CLASSES, "cross_entropy")
    checks.check_model_and_data(helpers.mlp([2, 8, 5]), CLASSES, "cross_entropy")  # spare outputs are fine
    conv = nn.Sequential(nn.Conv2d(1, 2, 1))  # no Linear layer: the width checks are skipped
    checks.check_model_and_data(conv, DATA, "mse")
    with pytest.raises(TypeError, match="^model: .*did you mean to call it"):
        checks.check_model_and_data(helpers.lecture_net, DATA, "mse")
    with pytest.raises(ValueError, match="^loss: expected one of \\['cross_entropy', 'mse'\\]"):
        checks.check_model_and_data(helpers.lecture_net(), DATA, "hinge")
    with pytest.raises(ValueError, match="^data: x_train contains 3 NaN values"):
        checks.check_model_and_data(helpers.lecture_net(), NAN_DATA, "mse")
    with pytest.raises(
        ValueError, match="^model: its first Linear layer takes 3 inputs but data.x_train has 2"
    ):
        checks.check_model_and_data(WIDE_IN, DATA, "mse")
    with pytest.raises(ValueError, match="^model: .*cross_entropy needs one output per class \\(3\\)"):
        checks.check_model_and_data(helpers.mlp([2, 8, 2]), CLASSES, "cross_entropy")


def test_checks_come_before_any_work():
    torch.manual_seed(0)
    good, bad = helpers.lecture_net(), helpers.mlp([3, 4, 1])
    before = [p.clone() for p in good.parameters()]
    with pytest.raises(ValueError, match="^model"):
        helpers.compare(
            [good, bad], DATA, epochs=1
        )  # the second model's problem stops the first from training
    with pytest.raises(ValueError, match="^momentun"):
        helpers.train(good, DATA, epochs=1, momentun=0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, good.parameters()))


class Custom(nn.Module):
    """Its layer order cannot be read without running it, so its output width is checked in the loss."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(4, 2)  # registered first, runs last
        self.body = nn.Linear(2, 4)

    def forward(self, x):
        return self.head(self.body(x).relu())


def test_a_custom_model_with_the_wrong_output_width_stops_before_its_first_update():
    torch.manual_seed(0)
    model = Custom()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(
        ValueError, match="^model: its output has shape \\(10, 2\\) but the labels have \\(10, 1\\)"
    ):
        helpers.train(model, DATA, epochs=1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="^model: its output has shape"):
        helpers.probe(model, X, Y)
    with pytest.raises(ValueError, match="^model: its output has shape"):
        helpers.evaluate(model, X, Y)
    with pytest.raises(ValueError, match="^net: its output has shape"):
        lecture.mse_cal(TRAIN_LOADER, model)


def test_the_nonlinearity_names_are_the_ones_torch_accepts():
    for name in NONLINEARITIES:
        torch.nn.init.calculate_gain(name, 0.1)  # torch is the oracle: each of ours is one of its own
    for name in ("gelu", "Relu", "elu"):
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(name)
        with pytest.raises(ValueError, match="^nonlinearity"):
            helpers.predicted_std("kaiming_normal", 4, 4, nonlinearity=name)


def test_numpy_numbers_still_pass():
    import numpy as np

    helpers.batch_order(np.int64(10), np.int64(5), np.int64(1), np.int64(0))
    helpers.init_weights(
        helpers.lecture_net(), "kaiming_normal", a=np.float32(0.1), nonlinearity="leaky_relu"
    )
    helpers.train(
        helpers.lecture_net(), DATA, epochs=np.int64(1), lr=np.float32(0.01), verbose=np.bool_(False)
    )


def test_available_memory_is_positive_and_huge_requests_are_refused(monkeypatch):
    assert checks.available_memory() > 0
    monkeypatch.setattr(checks, "available_memory", lambda: 10**6)
    with pytest.raises(ValueError, match="^n: 100000 samples of 2 features needs about"):
        helpers.regression(100_000)


def test_no_helper_exits_the_process():
    for path in pathlib.Path(helpers.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                assert name not in ("sys.exit", "os._exit", "exit", "quit", "os.abort"), f"{path}: {name}"
