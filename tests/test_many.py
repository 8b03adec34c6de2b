"""train_many against helpers.train as the oracle: same weights, losses and layer statistics."""

import copy

import pytest
import torch
from torch import nn

import helpers
from helpers import many

EPOCHS = 4
WEIGHT_TOL = 1e-3  # weights are O(1); float rounding of batched vs single products grows over 280 updates
LOSS_TOL = 1e-4  # relative


@pytest.fixture(scope="module")
def data():
    return helpers.lecture_split()


def nets(n, activation="relu", seed=0):
    torch.manual_seed(seed)
    return [helpers.lecture_net(activation) for _ in range(n)]


def alone(model, data, **kw):
    """helpers.train of a copy of model: (trained copy, History)."""
    model = copy.deepcopy(model)
    return model, helpers.train(model, data, verbose=False, **kw)


def max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    "kw",
    [
        dict(optimizer="sgd", lr=0.03),
        dict(optimizer="sgd", lr=0.01, momentum=0.9),
        dict(optimizer="adam", lr=0.01),
    ],
)
def test_members_match_train_alone(data, kw):
    models = nets(3)
    h = helpers.train_many(models, data, epochs=EPOCHS, seed=1, **kw)
    assert h.train_loss.shape == (3, EPOCHS) and h.test_loss.shape == (3, EPOCHS)
    for i in (0, 2):
        model, hist = alone(models[i], data, epochs=EPOCHS, seed=1, **kw)
        assert max_diff(model, h.model(i)) < WEIGHT_TOL
        torch.testing.assert_close(h.train_loss[i], torch.tensor(hist.train_loss), rtol=LOSS_TOL, atol=0)
        torch.testing.assert_close(h.test_loss[i], torch.tensor(hist.test_loss), rtol=LOSS_TOL, atol=0)
        assert h.history(i).train_loss == pytest.approx(hist.train_loss, rel=LOSS_TOL)
    assert all(p.grad is None for p in models[0].parameters()), "the given modules are left untouched"


def test_factory_seeds_give_the_same_initial_weights(data):
    state = torch.random.get_rng_state()
    h = helpers.train_many(lambda: helpers.lecture_net("tanh"), data, seeds=range(3, 9, 4), epochs=2)
    assert torch.equal(torch.random.get_rng_state(), state), "the global random stream is left alone"
    torch.manual_seed(7)
    model, hist = alone(helpers.lecture_net("tanh"), data, epochs=2)
    assert max_diff(model, h.model(1)) < WEIGHT_TOL
    torch.testing.assert_close(h.test_loss[1], torch.tensor(hist.test_loss), rtol=LOSS_TOL, atol=0)


def test_classification_accuracy_matches_train():
    x, y = helpers.two_circles(n=200)
    d = helpers.split(x, y)
    torch.manual_seed(0)
    models = [helpers.mlp([2, 8, 2], "tanh") for _ in range(2)]
    h = helpers.train_many(models, d, epochs=3, lr=0.1, loss="cross_entropy")
    _, hist = alone(models[1], d, epochs=3, lr=0.1, loss="cross_entropy")
    torch.testing.assert_close(h.test_acc[1], torch.tensor(hist.test_acc))
    torch.testing.assert_close(h.train_loss[1], torch.tensor(hist.train_loss), rtol=LOSS_TOL, atol=0)


def test_generic_architecture_residual_and_layer_norm(data):
    torch.manual_seed(0)
    models = [helpers.mlp([2, 4, 4, 1], "tanh", norm="layer", residual=True) for _ in range(2)]
    h = helpers.train_many(models, data, epochs=2, track=True)
    model, hist = alone(models[1], data, epochs=2, track=True)
    assert max_diff(model, h.model(1)) < WEIGHT_TOL
    for stat in ("act_std", "grad_norm", "saturated"):
        torch.testing.assert_close(h.layers[stat][1], hist.stat(stat), rtol=1e-3, atol=1e-5, equal_nan=True)
    torch.testing.assert_close(h.train_loss[1], torch.tensor(hist.train_loss), rtol=LOSS_TOL, atol=0)


def test_a_diverging_member_does_not_poison_the_others(data):
    models = nets(3, "identity")
    with torch.no_grad():
        for p in models[1].parameters():
            p.mul_(3)  # a deep linear net with 3x weights explodes at lr 0.03
    h = helpers.train_many(models, data, epochs=3, momentum=0.5, track=True)
    _, hist = alone(models[1], data, epochs=3, momentum=0.5)
    assert hist.diverged_at is not None and h.diverged_at == [None, hist.diverged_at, None]
    assert h.train_loss[1, hist.diverged_at - 1 :].isnan().all()
    assert h.layers["weight_std"][1, hist.diverged_at - 1 :].isnan().all()
    assert h.history(1).diverged_at == hist.diverged_at and h.history(1).train_loss == hist.train_loss
    others = helpers.train_many([models[0], models[2]], data, epochs=3, momentum=0.5, track=True)
    # the same numbers as without the diverging member, up to the rounding of differently shaped sums
    torch.testing.assert_close(others.train_loss, h.train_loss[[0, 2]], rtol=1e-5, atol=0)
    torch.testing.assert_close(
        others.layers["grad_norm"], h.layers["grad_norm"][[0, 2]], rtol=1e-4, atol=1e-7
    )
    assert h.diverged.tolist() == [False, True, False]


WIDE = [2, 20, 20, 1]  # fan-in above many.SMALL: trained through vmap rather than the multiply-add loop


@pytest.mark.parametrize("widths", [[2, 4, 4, 4, 1], WIDE])
def test_layer_statistics_match_summary(data, widths):
    torch.manual_seed(0)
    models = [helpers.mlp(widths) for _ in range(3)]
    with torch.no_grad():
        models[2][0].bias.fill_(-3.0)  # first-layer units start dead for most inputs
    h = helpers.train_many(models, data, epochs=2, track=True)
    for i in range(3):
        expected = helpers.summary(helpers.probe(h.model(i), data.x_train, data.y_train))
        assert set(expected) <= set(h.layers)
        for stat in ("weight_std", "act_mean", "act_std", "dead", "saturated", "grad_norm", "grad_mean"):
            want = torch.tensor(expected[stat])
            torch.testing.assert_close(h.layers[stat][i, -1], want, rtol=1e-4, atol=1e-6, equal_nan=True)
    assert h.layers["dead"].shape == (3, 2, len(widths) - 1)
    assert h.layers["dead"][2, -1, 0] > 0  # the test means something: some units are dead
    assert h.history(2).layers["dead"][-1] == pytest.approx(h.layers["dead"][2, -1].tolist(), nan_ok=True)


def test_both_forward_paths_agree(data, monkeypatch):
    torch.manual_seed(0)
    models = [helpers.lecture_net("tanh") for _ in range(5)]
    assert many.small_layers(models[0]) and not many.small_layers(helpers.mlp(WIDE))
    assert not many.small_layers(helpers.mlp([2, 4, 4, 1], residual=True))

    class Doubled(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    assert not many.small_layers(Doubled(nn.Linear(2, 1)))  # its own forward: only vmap runs it right
    small, general = (many.build(models, None, models[0], s) for s in (True, False))
    out_small = many.forward_small(small, data.x_test)  # (n, 1, models)
    torch.testing.assert_close(out_small, many.forward_vmap(general, data.x_test))
    torch.testing.assert_close(out_small[:, :, 3], models[3](data.x_test))
    grads = many.gradients_small(small, data.x_test, data.y_test, "mse")[1].clone()
    by_hand, by_autograd = (
        small.stacked(grads),
        general.stacked(many.gradients_vmap(general, data.x_test, data.y_test, "mse")[1]),
    )
    for k in by_hand:  # the two paths lay the (P, N) block out differently: compare name -> (N, ...)
        torch.testing.assert_close(by_hand[k], by_autograd[k])
    monkeypatch.setattr(many, "BROADCAST", 1)  # large products: formed one member at a time
    torch.testing.assert_close(many.gradients_small(small, data.x_test, data.y_test, "mse")[1], grads)


def test_memory_is_checked(data, monkeypatch):
    monkeypatch.setattr(many, "available_memory", lambda: 10**6)
    with pytest.raises(ValueError, match="models: 100 models need"):
        helpers.train_many(lambda: helpers.lecture_net(), data, seeds=range(100))
    assert 200_000 < many.bytes_per_model(helpers.lecture_net(), 700) < 240_000  # the docstring's 220 kB


@pytest.mark.parametrize(
    "models, seeds, match",
    [
        ([], None, "models: expected a non-empty list"),
        ([helpers.lecture_net(), helpers.lecture_net(width=5)], None, "models: model 1 has a different"),
        ([helpers.lecture_net(), helpers.lecture_net("tanh")], None, "models: model 1 has a different"),
        (lambda: helpers.lecture_net(), None, "seeds: a factory needs"),
        ([helpers.lecture_net()], [0], "seeds: only used with a factory"),
        (helpers.lecture_net(), None, "models: expected a list"),
        ([nn.Sequential(nn.Linear(2, 4), nn.Dropout(), nn.Linear(4, 1))], None, "Dropout is not supported"),
    ],
)
def test_bad_input_names_the_argument(data, models, seeds, match):
    with pytest.raises(ValueError, match=match):
        helpers.train_many(models, data, seeds=seeds, epochs=1)


def test_bad_data_and_loss(data):
    with pytest.raises(ValueError, match="loss"):
        helpers.train_many(nets(1), data, loss="hinge")
    with pytest.raises(ValueError, match="data"):
        helpers.train_many(nets(1), (data.x_train, data.y_train))
