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


def test_train_fixes_with_one_shared_order(data):
    fixes = {"a": (relu, {"lr": 0.01}), "b": (relu, {"momentum": 0.9, "lr": 0.003})}
    got = nb05.train_fixes(fixes, data, [3, 4], epochs=2, order=5)
    want = helpers.train_many(relu, data, seeds=[3, 4], seed=5, epochs=2, lr=0.01)
    torch.testing.assert_close(got["a"].test_loss, want.test_loss, rtol=1e-4, atol=0)


def test_born_dead_by_width_follows_half_to_the_width():
    got = nb05.born_dead_by_width(widths=(2, 4), hidden=6, seeds=2000, deep=3)
    for width, (unit, layer) in got.items():
        assert 0.4 < unit < 0.55
        assert layer == pytest.approx(0.5**width, rel=0.3)


def test_fates_counts_dead_and_stuck_members(data):
    h = helpers.train_many(
        functools.partial(relu, 4), data, seeds=range(8), epochs=2, lr=[0.01] * 4 + [1.0] * 4
    )
    rows = nb05.fates({"all": h}, data.x_train, data.constant_mse("train"))["all"]
    assert rows["dead"] == nb05.fully_dead(h, data.x_train).float().mean().item()
    train = h.train_loss[:, -1].nan_to_num(math.inf)
    assert rows["stuck"] == (train > 0.9 * data.constant_mse("train")).float().mean().item()
    assert rows["q"][0] <= rows["q"][1] <= rows["q"][2]


def test_momentum_push_and_noise_match_the_closed_forms():
    assert nb05.total_push(0.003, 0.9) == pytest.approx(0.03, rel=1e-4)
    assert nb05.total_push(0.03, 0.0) == pytest.approx(0.03, rel=1e-6)
    mean, std = nb05.momentum_steps(0.003, 0.9, coords=40_000)
    assert mean == pytest.approx(0.03, rel=0.01)
    assert std == pytest.approx(0.003 / math.sqrt(1 - 0.81), rel=0.03)  # lr sigma / sqrt(1 - beta^2)


def test_share_is_a_coarse_range():
    assert (
        nb05.share(0.05) == "under 0.1" and nb05.share(0.99) == "above 0.95" and nb05.share(math.nan) == "-"
    )
    assert nb05.share(0.6) == "0.45 to 0.8"


def test_lr_fixes_share_the_factory():
    rows = nb05.lr_fixes(relu)
    assert all(f is relu for f, _ in rows.values()) and rows["constant 0.0135"][1]["lr"] == 0.0135


def test_constant_row_has_the_warmup_cosine_mean():
    from helpers import schedules

    mean = schedules.factors([(("warmup", 2), ("cosine",))], 70, 1400).mean().item() * 0.03
    assert mean == pytest.approx(0.0135, rel=0.01)


def test_depth_grid_and_width_training_shapes(data):
    dead, born = nb05.depth_lr_grid(data, depths=(1, 2), lrs=(0.01, 0.03), nets=4, epochs=1)
    assert dead.shape == (2, 2) and born.shape == (2,) and dead[0].max() == 0
    wide = nb05.width_training(data, widths=(4, 8), nets=3, epochs=1)
    assert set(wide) == {4, 8} and wide[8][1].shape == (4,)


def test_range_tests_rows(data):
    rows = nb05.range_tests(data, seeds=[0])
    assert rows.shape == (1, 4) and 0 < rows[0, 2] <= rows[0, 0] and rows[0, 3] in (0, 1)


def test_plots_draw(data):
    nb05.plot_born_dead({4: (0.5, 0.06), 16: (0.5, 0.0)}, 4000)
    sgd = nb05.optimizer_path(torch.optim.SGD, steps=3, lr=0.1)
    nb05.plot_paths({"SGD": sgd, "again": sgd})
    nb05.plt.close("all")


def test_count_rounds_to_the_nearest_five_without_ties():
    assert [nb05.count(k / 100) for k in (5, 7, 8, 58, 61, 63, 65, 100)] == [5, 5, 10, 60, 60, 65, 65, 100]
    assert nb05.count(0.65 - 1e-8) == 65  # a float32 share just under its count


def test_mean_factor_is_the_schedules_mean():
    assert nb05.mean_factor() == pytest.approx(0.4509, abs=1e-3)
    assert nb05.mean_factor(("warmup", 2)) == pytest.approx(1 - 1 / 20 + 1 / 2800, abs=1e-6)


def test_death_epochs_and_nonfinite(data):
    h = helpers.train_many(
        functools.partial(relu, 4), data, seeds=range(6), epochs=3, lr=[0.03] * 3 + [50.0] * 3, track=True
    )
    deaths = nb05.death_epochs({"h": h})["h"]
    assert deaths.shape == (3,) and int(deaths[-1]) <= 6
    final = h.layers["dead"][:, -1, :-1]
    assert int(deaths[-1]) == int((final == 1).any(1).sum())
    assert nb05.nonfinite(h) == int((~h.test_loss[:, -1].isfinite()).sum())


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_steps_is_torch_optim_sgd(momentum):
    torch.manual_seed(0)
    grads = [torch.randn(50) for _ in range(30)]
    w = torch.zeros(50, requires_grad=True)
    opt, want = torch.optim.SGD([w], lr=0.03, momentum=momentum), []
    for g in grads:
        w.grad = g.clone()
        opt.step()
        want.append(w.detach().clone())
    for a, b in zip(nb05.sgd_steps(grads, 0.03, momentum), want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
