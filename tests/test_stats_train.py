import math

import pytest
import torch
from torch import nn

import helpers
from helpers.stats import dead_fraction, saturated_fraction


def test_probe_gradients_match_autograd_and_leave_grad_fields_alone():
    torch.manual_seed(0)
    model = helpers.mlp([2, 5, 3, 1], "tanh")
    x, y = torch.randn(16, 2), torch.randn(16, 1)
    p = helpers.probe(model, x, y)
    assert all(w.grad is None for w in model.parameters())  # probe must not touch .grad
    nn.functional.mse_loss(model(x), y).backward()
    for layer, grad in zip(model[::2], p.weight_grads):
        torch.testing.assert_close(grad, layer.weight.grad)
    # dL/dz of the last layer, by hand: 2 (yhat - y) / batch
    torch.testing.assert_close(p.output_grads[-1], 2 * (model(x) - y).detach() / 16)
    torch.testing.assert_close(p.acts[0], torch.tanh(model[0](x)).detach())
    assert p.loss == pytest.approx(nn.functional.mse_loss(model(x), y).item())


def test_dead_and_saturated_fractions():
    acts = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert dead_fraction(acts) == pytest.approx(1 / 3)
    h = torch.tanh(torch.tensor([[0.0, 3.0], [0.1, -5.0]]))
    assert saturated_fraction(h, "tanh") == pytest.approx(0.5)
    assert math.isnan(saturated_fraction(h, "relu"))


def test_summary_of_a_network_with_a_dead_layer():
    model = helpers.mlp([2, 4, 4, 1], "relu")
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # second hidden layer: every pre-activation negative
    s = helpers.summary(helpers.probe(model, torch.randn(50, 2), torch.randn(50, 1)))
    assert s["dead"][1] == 1.0 and math.isnan(s["dead"][2])
    assert s["grad_norm"][0] == 0.0  # nothing flows back through a dead layer


def test_train_reduces_loss_and_records_every_epoch():
    torch.manual_seed(0)
    data = helpers.lecture_split()
    hist = helpers.train(helpers.lecture_net("tanh", 2), data, epochs=5, track=True)
    assert len(hist.train_loss) == len(hist.test_loss) == 5 and not hist.diverged
    assert hist.train_loss[-1] < 0.7 * helpers.LABEL_VARIANCE
    assert hist.stat("grad_std").shape == (5, 3) and hist.stat("dead").shape == (5, 3)


def test_same_seed_same_batches_same_result():
    data = helpers.lecture_split()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        runs.append(helpers.train(helpers.lecture_net("relu", 2), data, epochs=3).test_loss)
    assert runs[0] == runs[1]


def test_train_matches_a_bare_loop_on_the_same_batches():
    data = helpers.lecture_split()
    torch.manual_seed(0)
    a = helpers.lecture_net("sigmoid", 2)
    b = helpers.lecture_net("sigmoid", 2)
    b.load_state_dict(a.state_dict())
    helpers.train(a, data, epochs=2, seed=5)
    opt = torch.optim.SGD(b.parameters(), lr=0.03)
    for batches in helpers.batch_order(700, 10, 2, seed=5):
        for idx in batches:
            opt.zero_grad()
            nn.functional.mse_loss(b(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_classification_records_accuracy():
    x, y = helpers.two_circles(n=400, seed=0)
    data = helpers.split(x, y)
    torch.manual_seed(0)
    hist = helpers.train(helpers.mlp([2, 16, 2]), data, epochs=30, lr=0.1, loss="cross_entropy")
    assert hist.test_acc[-1] > 0.9


def test_divergence_stops_and_names_the_epoch(capsys):
    torch.manual_seed(0)
    model = helpers.init_weights(helpers.lecture_net("relu", 3), "normal", std=10.0)
    hist = helpers.train(model, helpers.lecture_split(), epochs=10, lr=1.0, name="wild")
    assert hist.diverged and hist.diverged_at == 1
    assert len(hist.train_loss) == hist.diverged_at - 1
    assert "wild: the loss became" in capsys.readouterr().out


def test_compare_trains_each_model_on_the_same_batches():
    torch.manual_seed(0)
    a = helpers.lecture_net("tanh", 1)
    b = helpers.lecture_net("tanh", 1)
    b.load_state_dict(a.state_dict())
    ha, hb = helpers.compare([a, b], helpers.lecture_split(), names=["a", "b"], epochs=2)
    assert ha.test_loss == hb.test_loss and (ha.name, hb.name) == ("a", "b")


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda m, d: helpers.train(m, (d.x_train, d.y_train)), "data"),
        (lambda m, d: helpers.train(m, d, epochs=0), "epochs"),
        (lambda m, d: helpers.train(m, d, lr=-0.1), "lr"),
        (lambda m, d: helpers.train(m, d, batch_size=0), "batch_size"),
        (lambda m, d: helpers.train(m, d, optimizer="lbfgs2"), "optimizer"),
        (lambda m, d: helpers.train(m, d, loss="hinge"), "loss"),
        (lambda m, d: helpers.train(m, d, loss="cross_entropy"), "data"),
        (lambda m, d: helpers.compare([m], d, names=["a", "b"]), "names"),
        (lambda m, d: helpers.probe(m, torch.zeros(0, 2)), "x"),
        (lambda m, d: helpers.probe(m, torch.zeros(3, 2), torch.zeros(4, 1)), "y"),
        (lambda m, d: helpers.train(m, d, epochs=1).stat("nope"), "name"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=f"^{arg}"):
        call(helpers.lecture_net(), helpers.lecture_split())


def test_progress_bar_changes_nothing_but_the_display(capsys):
    data = helpers.lecture_split()
    runs = []
    for progress in (False, True):
        torch.manual_seed(0)
        runs.append(
            helpers.train(helpers.lecture_net("tanh", 1), data, epochs=2, progress=progress).test_loss
        )
    assert runs[0] == runs[1]
    assert "epochs" in capsys.readouterr().err  # the bar, on stderr, only when asked for
    many = [
        helpers.train_many(lambda: helpers.lecture_net(), data, seeds=[0, 1], epochs=2, progress=p)
        for p in (0, 1)
    ]
    torch.testing.assert_close(many[0].test_loss, many[1].test_loss)
