"""helpers.explore.nb05: dead units of many nets at once, the fixes runner, optimiser paths."""

import functools
import math

import matplotlib
import pytest
import torch

import helpers
from helpers.explore import nb05

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return helpers.lecture_split()


def relu(depth=3):
    return helpers.lecture_net("relu", depth)


def test_dead_units_match_probe_on_each_model(data):
    models = nb05.initial_models(functools.partial(relu, 6), range(40))
    got = nb05.dead_units(models, data.x_train)  # (40, 6)
    want = torch.tensor([helpers.summary(helpers.probe(m, data.x_train))["dead"][:-1] for m in models])
    torch.testing.assert_close(got, want)
    assert torch.equal(nb05.fully_dead(models, data.x_train), (want == 1).any(1))
    assert nb05.fully_dead(models, data.x_train).any()  # 6 layers: some are born dead


def test_dead_units_of_a_history_match_its_tracked_record(data):
    h = helpers.train_many(relu, data, seeds=range(30), epochs=3, lr=0.05, seed=list(range(30)), track=True)
    torch.testing.assert_close(nb05.dead_units(h, data.x_train), h.layers["dead"][:, -1, :-1])


def test_initial_models_are_train_many_members_and_keep_the_random_stream():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    models = nb05.initial_models(relu, [3, 4])
    assert torch.equal(torch.rand(1), before)
    torch.manual_seed(4)
    assert all(torch.equal(a, b) for a, b in zip(models[1].parameters(), relu().parameters()))


def test_he_net_draws_kaiming_normal_weights_and_default_biases():
    torch.manual_seed(0)
    ws = torch.cat([nb05.he_net(3, width=64)[2].weight.flatten() for _ in range(20)])
    assert ws.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.03)
    bias = nb05.he_net(3, width=64)[2].bias
    assert bias.abs().max() <= 1 / 8  # torch's default: U(+-1/sqrt(fan_in))


def test_subset_picks_members(data):
    h = helpers.train_many(relu, data, seeds=range(6), epochs=2, lr=0.01)
    part = nb05.subset(h, slice(2, 5))
    assert len(part) == 3 and torch.equal(part.test_loss, h.test_loss[2:5])
    assert all(torch.equal(a, b) for a, b in zip(part.model(0).parameters(), h.model(2).parameters()))


def test_train_fixes_equals_one_train_many_per_fix(data):
    seeds = [7, 8]
    fixes = {
        "clip": (relu, {"clip_norm": 1.0}),
        "momentum": (relu, {"momentum": 0.9, "lr": 0.003}),
        "schedule": (relu, {"schedule": (("warmup", 1), ("cosine",))}),
        "adam": (relu, {"optimizer": "adam", "lr": 0.003}),
    }
    got = nb05.train_fixes(fixes, data, seeds, lr=0.03, epochs=2)
    assert list(got) == list(fixes)
    for name, (factory, settings) in fixes.items():
        kw = {"lr": 0.03, **settings}
        want = helpers.train_many(factory, data, seeds=seeds, seed=seeds, epochs=2, **kw)
        torch.testing.assert_close(got[name].test_loss, want.test_loss, rtol=1e-4, atol=0)
    with pytest.raises(ValueError, match="fixes"):
        nb05.train_fixes({"x": (relu, {"slope": 0.1})}, data, seeds)


def test_optimizer_path_follows_the_closed_form():
    path = nb05.optimizer_path(torch.optim.SGD, steps=30, lr=0.1)
    want = torch.tensor([-3.0, 1.0]) * (1 - 0.1 * torch.tensor(nb05.CURVATURES)) ** torch.arange(31)[:, None]
    torch.testing.assert_close(path, want, rtol=0, atol=1e-6)
    adam = nb05.optimizer_path(torch.optim.Adam, steps=1, lr=0.3)
    torch.testing.assert_close((adam[1] - adam[0]).abs(), torch.tensor([0.3, 0.3]), rtol=0, atol=1e-5)


def test_explore_draws_two_panels(monkeypatch):
    shown = []
    monkeypatch.setattr(nb05.plt, "show", lambda: shown.append(nb05.plt.gcf()))
    nb05.explore(depth=2, epochs=2, nets=5)
    assert len(shown[0].axes) == 2 and "dead" in shown[0].axes[0].get_title()
    nb05.plt.close("all")
    with pytest.raises(ValueError, match="init"):
        nb05.explore(init="xavier")
