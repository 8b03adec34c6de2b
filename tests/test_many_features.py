"""train_many's per-member settings, schedules, batch orders and architectures, against torch as the oracle.

Each member must end where helpers.train (or the same torch.optim loop with an lr_scheduler) leaves it;
runs are 1-2 epochs so that chaos does not amplify float rounding.
"""

import copy
import math
import time

import pytest
import torch
from torch import nn

import helpers
from helpers import many, schedules

REL = 1e-4  # relative tolerance on losses
ABS = 1e-4  # absolute tolerance on weights, which are O(1)


@pytest.fixture(scope="module")
def data():
    return helpers.lecture_split()


@pytest.fixture(scope="module")
def digits():
    x, y = helpers.digits()
    return helpers.split(x, y, train=0.7)


def nets(n, make=lambda: helpers.lecture_net("relu"), seed=0):
    torch.manual_seed(seed)
    return [make() for _ in range(n)]


def alone(model, data, **kw):
    """helpers.train of a copy of model: (trained copy, History)."""
    model = copy.deepcopy(model)
    return model, helpers.train(model, data, verbose=False, **kw)


def assert_member(h, i, model, hist):
    """Member i of ManyHistory h matches (model, hist) from a one-model run."""
    for (k, a), b in zip(h.model(i).state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=ABS, msg=k)
    torch.testing.assert_close(h.train_loss[i], torch.tensor(hist.train_loss), rtol=REL, atol=0)
    torch.testing.assert_close(h.test_loss[i], torch.tensor(hist.test_loss), rtol=REL, atol=0)


@pytest.mark.parametrize(
    "per_member",
    [
        dict(lr=[0.01, 0.03, 0.003]),
        dict(lr=0.01, momentum=[0.0, 0.9, 0.5]),
        dict(lr=0.01, momentum=[0.5, 0.9, 0.9], nesterov=True),
        dict(lr=0.01, momentum=0.9, weight_decay=[0.0, 1e-2, 1e-1]),
        dict(lr=[0.01, 0.003, 0.001], optimizer="adam", weight_decay=[0.0, 0.0, 1e-2]),
        dict(lr=0.01, clip_norm=[math.inf, 1.0, 0.1]),
        dict(lr=0.01, clip_value=[0.5, 0.1, 0.01]),
    ],
)
def test_per_member_settings_match_train(data, per_member):
    models = nets(3)
    h = helpers.train_many(models, data, epochs=2, seed=3, **per_member)
    for i in range(3):
        mine = {k: v[i] if isinstance(v, list) else v for k, v in per_member.items()}
        mine = {k: v for k, v in mine.items() if not (k == "clip_norm" and v == math.inf)}
        if mine.get("optimizer") != "adam":  # torch.optim.SGD refuses nesterov without momentum
            mine = {k: v for k, v in mine.items() if v or k not in ("momentum", "weight_decay")}
        assert_member(h, i, *alone(models[i], data, epochs=2, seed=3, **mine))


def test_notebook_05_equivalence_checks(data):
    """The checks notebook 05 ran on its own trainer: 2 epochs at lr 0.01, a shared batch order (seed 7)."""
    models = nets(3, seed=3)
    for kw in ({}, {"momentum": 0.9}, {"optimizer": "adam"}, {"clip_norm": 1.0}):
        ours = helpers.train_many(models, data, epochs=2, lr=0.01, seed=7, **kw).model(2)
        theirs, _ = alone(models[2], data, epochs=2, lr=0.01, seed=7, **kw)
        gap = max((a - b).abs().max().item() for a, b in zip(ours.parameters(), theirs.parameters()))
        assert gap < 1e-4, (kw, gap)


def reference(model, data, epochs, batch_size, seed, optimizer, scheduler, loss="mse"):
    """The plain torch loop: a torch.optim optimizer, an lr_scheduler stepped after every batch."""
    model = copy.deepcopy(model)
    opt = optimizer(model.parameters())
    sched, losses = scheduler(opt), []
    for batches in helpers.batch_order(len(data.x_train), batch_size, epochs, seed):
        for idx in batches:
            value = helpers.stats.LOSSES[loss](model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            value.backward()
            opt.step()
            sched.step()
        losses.append(helpers.evaluate(model, data.x_test, data.y_test, loss)[0])
    return model, losses


S = torch.optim.lr_scheduler
PER_EPOCH = 70  # 700 samples in batches of 10
WARMUP_COSINE = lambda t: min(1, (t + 1) / 140) * 0.5 * (1 + math.cos(math.pi * t / 140))  # noqa: E731


@pytest.mark.parametrize(
    "spec, scheduler",
    [
        (("warmup", 1), lambda o: S.LinearLR(o, start_factor=1 / PER_EPOCH, total_iters=PER_EPOCH - 1)),
        (("step", 0.5, 0.3), lambda o: S.StepLR(o, step_size=PER_EPOCH // 2, gamma=0.3)),
        (("cosine",), lambda o: S.CosineAnnealingLR(o, T_max=2 * PER_EPOCH)),
        (("cosine", 1), lambda o: S.CosineAnnealingLR(o, T_max=PER_EPOCH)),
        ((("warmup", 2), ("cosine",)), lambda o: S.LambdaLR(o, WARMUP_COSINE)),
        (lambda t: 0.99**t, lambda o: S.ExponentialLR(o, gamma=0.99)),
    ],
)
def test_schedules_match_lr_scheduler(data, spec, scheduler):
    models = nets(2)
    h = helpers.train_many(models, data, epochs=2, lr=0.03, momentum=0.9, schedule=spec, seed=1)
    sgd = lambda p: torch.optim.SGD(p, lr=0.03, momentum=0.9)  # noqa: E731
    for i in range(2):
        model, losses = reference(models[i], data, 2, 10, 1, sgd, scheduler)
        gap = max((a - b).abs().max() for a, b in zip(h.model(i).parameters(), model.parameters()))
        assert gap < 2 * ABS  # CosineAnnealingLR's lr is recursive: its rounding drifts from the closed form
        torch.testing.assert_close(h.test_loss[i], torch.tensor(losses), rtol=REL, atol=0)


def test_schedule_per_member_and_adam_with_clipping(data):
    models, specs = nets(2), [None, (("warmup", 1), ("step", 1, 0.5))]
    h = helpers.train_many(models, data, epochs=2, lr=0.01, optimizer="adam", clip_norm=0.5, schedule=specs)
    clip = lambda o: S.LambdaLR(o, lambda t: schedules.factor(specs[1], t, PER_EPOCH, 140))  # noqa: E731

    def adam(p):
        return torch.optim.Adam(p, lr=0.01)

    class Clipped(torch.optim.Adam):  # clip_grad_norm_ before every step, as helpers.train does
        def step(self, closure=None):
            torch.nn.utils.clip_grad_norm_(self.param_groups[0]["params"], 0.5)
            return super().step(closure)

    model, losses = reference(models[1], data, 2, 10, 0, lambda p: Clipped(p, lr=0.01), clip)
    assert max((a - b).abs().max() for a, b in zip(h.model(1).parameters(), model.parameters())) < ABS
    torch.testing.assert_close(h.test_loss[1], torch.tensor(losses), rtol=REL, atol=0)
    assert_member(h, 0, *alone(models[0], data, epochs=2, lr=0.01, optimizer="adam", clip_norm=0.5))
    assert adam  # the unclipped optimizer is what the first member would use without clip_norm


def test_notebook_05_warmup_cosine_formula():
    """(('warmup', 2), ('cosine',)) is notebook 05's min(1, t / 140) (1 + cos(pi (t - 1) / T)) / 2."""
    got = schedules.factors([(("warmup", 2), ("cosine",))], 70, 1400)[:, 0]
    t = torch.arange(1, 1401, dtype=torch.float64)
    torch.testing.assert_close(got, (t / 140).clamp(max=1) * 0.5 * (1 + torch.cos(math.pi * (t - 1) / 1400)))


def test_one_batch_order_per_member(data):
    models = nets(3)
    h = helpers.train_many(models, data, epochs=2, lr=0.01, momentum=0.9, seed=[5, 6, 7])
    for i, s in enumerate([5, 6, 7]):
        assert_member(h, i, *alone(models[i], data, epochs=2, lr=0.01, momentum=0.9, seed=s))
    orders = list(many.batch_orders(700, 10, 2, [5, 6]))  # per epoch: (batch, members) index tensors
    for i, s in enumerate([5, 6]):
        for mine, theirs in zip(orders, helpers.batch_order(700, 10, 2, s)):
            assert all(torch.equal(a[:, i], b) for a, b in zip(mine, theirs))


@pytest.mark.parametrize("seed", [0, [1, 2]])
def test_batchnorm_residual_on_digits(digits, seed):
    make = lambda: helpers.mlp([64, 16, 16, 16, 10], norm="batch", residual=True)  # noqa: E731
    models = nets(2, make)
    kw = dict(epochs=1, lr=0.02, momentum=0.9, batch_size=32, loss="cross_entropy")
    h = helpers.train_many(models, digits, seed=seed, **kw)
    for i in range(2):
        s = seed if isinstance(seed, int) else seed[i]
        model, hist = alone(models[i], digits, seed=s, **kw)
        assert_member(h, i, model, hist)  # state_dict: weights and the running mean, var and count
        torch.testing.assert_close(h.test_acc[i], torch.tensor(hist.test_acc))
    assert h.model(0)[1].num_batches_tracked.item() == math.ceil(len(digits.x_train) / 32)


def test_layer_norm_and_deep_mlp_on_digits(digits):
    for make in (
        lambda: helpers.mlp([64, 32, 32, 10], "tanh", norm="layer", residual=True),
        lambda: helpers.mlp([64] + [64] * 9 + [10], bias=False),  # deep and wide: the vmap path
    ):
        models = nets(2, make)
        kw = dict(epochs=1, lr=0.01, momentum=0.9, batch_size=64, loss="cross_entropy")
        h = helpers.train_many(models, digits, **kw)
        assert_member(h, 1, *alone(models[1], digits, **kw))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "identity"])
def test_hand_written_backward_matches_autograd(data, activation):
    models = nets(3, lambda: helpers.mlp([2, 8, 8, 1], activation))
    small, general = (many.build(models, None, models[0], s) for s in (True, False))
    x, y = data.x_train[:20], data.y_train[:20]
    losses, grads = many.gradients_small(small, x, y, "mse")
    want_losses, want = many.gradients_vmap(general, x, y, "mse")
    torch.testing.assert_close(losses, want_losses)
    got, want = small.stacked(grads), general.stacked(want)
    for k in got:
        torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-6)


def test_a_torch_optimizer_class_still_works(digits):
    class HalfSGD(torch.optim.SGD):  # an element-wise change to the update, as notebook 06's ClampSGD
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                p.grad.mul_(0.5)
            return super().step(closure)

    models = nets(2, lambda: helpers.mlp([64, 12, 10]))
    kw = dict(epochs=1, lr=0.05, momentum=0.9, batch_size=64, loss="cross_entropy", optimizer=HalfSGD)
    h = helpers.train_many(models, digits, **kw)
    assert_member(h, 1, *alone(models[1], digits, **kw))


def test_a_billion_models_are_refused_before_building(data):
    built = []

    def factory():
        built.append(1)
        return helpers.lecture_net()

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"models: 1000000000 models need about .* GB"):
        helpers.train_many(factory, data, seeds=range(10**9))
    assert time.perf_counter() - start < 2 and len(built) == 1  # one model measured, none more built


def test_model_and_data_are_checked_first(data):
    with pytest.raises(ValueError, match="model"):  # 3 inputs for 2 features
        helpers.train_many([helpers.mlp([3, 4, 1])], data)
    with pytest.raises(TypeError, match="model"):
        helpers.train_many(["not a module"], data)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(lr=[0.1, 0.2]), "lr: expected a number or a sequence of 3"),
        (dict(lr=0), "lr: expected numbers > 0"),
        (dict(momentum=-0.5), "momentum: expected numbers >= 0"),
        (dict(weight_decay=[0, 0, -1]), "weight_decay: expected numbers >= 0"),
        (dict(clip_norm=0), "clip_norm: expected numbers > 0"),
        (dict(clip_value=[1, 1]), "clip_value: expected a number or a sequence of 3"),
        (dict(schedule=("linear", 3)), "schedule: expected None, a callable"),
        (dict(schedule=("warmup", -1)), "schedule: expected None"),
        (dict(schedule=[None, None]), "schedule: expected one spec or a list of 3"),
        (dict(seed=[1, 2]), "seed: expected an int or a sequence of 3"),
        (dict(optimizer="rmsprop_"), "optimizer"),
        (dict(betas=(0.9, 0.99)), "optimizer_kwargs"),
        (dict(momentum=[0, 0.5, 0.9], optimizer=torch.optim.SGD), "momentum: one value per model"),
        (dict(epochs=0), "epochs"),
        (dict(score_train="no"), "score_train: expected True or False"),
    ],
)
def test_bad_settings_name_the_argument(data, kw, match):
    with pytest.raises(ValueError, match=match):
        helpers.train_many(nets(3), data, epochs=kw.pop("epochs", 1), **kw)


def test_dropout_is_refused(data):
    with pytest.raises(ValueError, match="Dropout is not supported"):
        helpers.train_many([nn.Sequential(nn.Linear(2, 4), nn.Dropout(), nn.Linear(4, 1))], data)


@pytest.mark.parametrize("make", [lambda: helpers.mlp([64, 8, 10]), lambda: helpers.mlp([64, 32, 32, 10])])
def test_score_train_false_trains_the_same_and_keeps_the_test_scores(digits, make):
    models = nets(3, make)  # the hand-written path, then the vmap path
    kw = dict(epochs=2, lr=0.05, batch_size=32, loss="cross_entropy", seed=[0, 1, 2])
    full = helpers.train_many(models, digits, **kw)
    lean = helpers.train_many(models, digits, score_train=False, **kw)
    assert lean.train_loss is None and lean.train_acc is None
    assert torch.equal(lean.test_loss, full.test_loss) and torch.equal(lean.test_acc, full.test_acc)
    assert all(torch.equal(lean.params[k], full.params[k]) for k in full.params)
    assert lean.history(1).train_loss == [] and lean.history(1).test_acc == full.history(1).test_acc


def test_score_train_false_still_names_the_diverging_epoch(data):
    h = helpers.train_many(nets(2), data, epochs=3, lr=[0.01, 1e4], score_train=False)
    assert h.diverged_at[0] is None and h.diverged_at[1] is not None
    assert h.test_loss[1, h.diverged_at[1] - 1 :].isnan().all()
