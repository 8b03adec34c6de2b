import math
import time
from types import SimpleNamespace

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers import playground, theory
from helpers.data import lecture_split
from helpers.exercises import nb07
from helpers.train import train


@pytest.fixture(scope="module")
def app():
    return playground.app()


def images(out):
    return [o["data"]["image/png"] for o in out.outputs if o["output_type"] == "display_data"]


def printed(out):
    return "".join(o.get("text", "") for o in out.outputs)


def wait(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_app_builds_with_the_picture_at_init_and_no_training(app):
    assert len(images(app.at_init)) == 1
    assert "layer 10" in printed(app.at_init) and "predicted" in printed(app.at_init)
    assert app.trained.outputs == () and not app.train_button.disabled and app.stop_button.disabled
    assert app.settings() == playground.DEFAULTS
    assert "VBox" not in repr(app) and len(repr(app)) < 80  # what a stored notebook shows as text


def test_a_control_change_redraws_the_picture_at_init(app):
    before = images(app.at_init)
    app.controls["depth"].value = 5
    assert images(app.at_init) != before and "layer 5" in printed(app.at_init)
    app.controls["depth"].value = 10


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="^settings"):
        playground.app(depht=3)


def test_build_scales_every_weight_by_the_gain():
    a, stds = playground.build("relu", "kaiming_normal", 1.0, depth=3, width=16, seed=1)
    b, stds3 = playground.build("relu", "kaiming_normal", 3.0, depth=3, width=16, seed=1)
    for m, n in zip(a[::2], b[::2]):
        torch.testing.assert_close(3 * m.weight, n.weight)
    assert stds3 == pytest.approx([3 * s for s in stds])


def test_layer_one_prediction_is_the_closed_form():
    # ReLU, He normal: layer 1's std is sqrt(2/2) = 1, q_1 = 2 * 1 + 1/6, its nonzero outputs' RMS sqrt(q_1)
    init = playground.measure("relu", "kaiming_normal", 1.0, depth=3, width=64)
    assert init.act_pred[0] == pytest.approx(math.sqrt(2 + 1 / 6), rel=1e-9)


def test_predictions_are_the_ones_exercise_07_checks_against():
    init = playground.measure("relu", "kaiming_normal", 1.2, depth=50, width=64)
    assert init.act_pred[:-1] == pytest.approx(nb07._rms_profile("relu", "kaiming_normal", 1.2, 50), rel=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_gradient_prediction_is_theory_s_chi_product(activation):
    model, stds = playground.build(activation, "xavier_normal", 1.0, depth=6, width=32)
    _, grad = playground.predicted(model, stds, activation)
    q1 = 2 * stds[0] ** 2 + 1 / 6
    sw2, sb2 = 32 * stds[1] ** 2, 1 / 96
    q = theory.forward_variances(q1, 5, sw2, sb2, activation)
    # from layer 4 down to layer 3: chi(q_3) on dL/dz, and E[phi(z_2)^2] / E[phi(z_3)^2] on the input
    a2 = theory.variance_map(q, 1.0, 0.0, activation)
    step = theory.chi(q[2].item(), sw2, activation) * a2[1].item() / a2[2].item()
    assert (grad[2] / grad[3]) ** 2 == pytest.approx(step, rel=1e-9)


def test_wide_network_matches_its_predictions():
    init = playground.measure("tanh", "xavier_normal", 1.0, depth=5, width=256)
    for measured, pred in zip(init.act[:-1], init.act_pred[:-1]):  # the output is one unit: one draw
        assert measured == pytest.approx(pred, rel=0.1)
    ratio = (init.grad[0] / init.grad[-1]) / (init.grad_pred[0] / init.grad_pred[-1])
    assert 0.2 < ratio < 2  # tolerance: batch-averaged gradients sit below the per-example prediction


def test_an_overflowing_network_says_so_instead_of_crashing():
    app = playground.app(activation="identity", scheme="normal", gain=3.0, depth=50, width=256)
    assert images(app.at_init) == [] and "overflow" in printed(app.at_init)


def test_training_yields_epoch_by_epoch_and_reproduces_train():
    settings = dict(activation="relu", scheme="kaiming_normal", depth=2, width=8, epochs=3, lr=0.01)
    seen = [len(h.test_loss) for h in playground.training(**settings)]
    assert seen == [1, 2, 3]
    assert len(playground.train_copy(**settings).test_loss) == 3


def test_train_button_trains_with_progress_then_draws_the_curve():
    app = playground.app(activation="relu", scheme="kaiming_normal", depth=2, width=8, epochs=3)
    app.train_button.click()
    app.thread.join(60)
    assert app.progress.max == 3 and app.progress.value == 3 and app.status.value.startswith("Done after")
    assert len(images(app.trained)) == 1 and "test MSE by epoch" in printed(app.trained)
    assert not app.train_button.disabled and app.stop_button.disabled


def slow_app():
    return playground.app(depth=30, width=128, epochs=20)  # an epoch takes a good fraction of a second


def test_a_control_change_stops_training_and_clears_its_picture():
    app = slow_app()
    app.train_button.click()
    assert app.train_button.disabled and not app.stop_button.disabled
    wait(lambda: app.progress.value >= 1)
    app.controls["seed"].value = 1
    app.thread.join(60)
    assert not app.thread.is_alive() and app.progress.value < 20
    assert app.trained.outputs == () and "Press Train" in app.status.value
    assert not app.train_button.disabled and app.stop_button.disabled


def test_stop_button_stops_training_and_keeps_the_partial_curve():
    app = slow_app()
    app.train_button.click()
    wait(lambda: app.progress.value >= 1)
    app.stop_button.click()
    app.thread.join(60)
    assert app.status.value.startswith("Stopped after") and app.progress.value < 20
    assert "stopped after" in printed(app.trained) and len(images(app.trained)) == 1


def test_train_seeds_trains_the_app_s_network_of_each_seed():
    net = dict(activation="relu", scheme="kaiming_normal", depth=2, width=8)
    runs = playground.train_seeds(seeds=[0, 3], epochs=2, lr=0.01, **net)
    assert runs.test_loss.shape == (2, 2)
    model, _ = playground.build(**net, seed=3)  # member 1 is this net, trained on batch order 3
    one = train(model, lecture_split(), epochs=2, lr=0.01, seed=3, verbose=False)
    assert runs.test_loss[1].tolist() == pytest.approx(one.test_loss, rel=1e-4)


def test_titles_compare_hidden_layers_and_read_well_at_depth_one():
    init = playground.measure("tanh", "default", 1.0, depth=10, width=64)
    act, grad = playground.titles(init)
    assert act == "Activations shrink 5.6x by layer 10"
    assert grad == "Layer 1's gradient 33x below layer 10's"
    assert (init.grad[9] / init.grad[0]) == pytest.approx(33, rel=0.05)  # layer 10 over 1, not the output
    act, grad = playground.titles(playground.measure(depth=1))
    assert act.startswith("One hidden layer") and grad.endswith("the output's")


@pytest.mark.parametrize("activation, scheme", [("relu", "xavier_normal"), ("identity", "normal")])
def test_titles_fit_above_their_panels(activation, scheme):
    init = playground.measure(activation, scheme, 1.0, depth=30, width=64)
    fig = Figure(figsize=playground.INIT_SIZE)
    playground.draw_init(init, fig.subplots(1, 2))
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        box = ax.title.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.x1, ax.get_title()


def test_status_line_shows_the_time_taken_and_to_go():
    hist = playground.History(name="test MSE", test_loss=[15.0, 14.0])
    assert playground.status(hist, 10, 4.0) == "epoch 2 of 10: test MSE 14 (4 s, about 16 s to go)"


def test_draw_seeds_titles_who_learns():
    loss = torch.tensor([[15.0, 14.9], [14.8, 14.9]])
    runs = {"torch default": SimpleNamespace(test_loss=loss)}  # what draw_seeds reads of a ManyHistory
    runs["Xavier normal"] = SimpleNamespace(test_loss=loss / 4)
    ax = playground.draw_seeds(runs, constant=14.8)
    assert ax.get_title() == "Xavier normal nets learn; torch default nets stay at a constant (2 seeds)"


def test_orthogonal_scheme_is_offered_and_predicted():
    init = playground.measure("tanh", "orthogonal", 1.0, depth=5, width=256)
    for measured, pred in zip(init.act[:-1], init.act_pred[:-1]):
        assert measured == pytest.approx(pred, rel=0.1)


def test_draw_init_labels_the_output_layer_and_shows_the_measured_rms():
    init = playground.measure(depth=3)
    for ax in playground.draw_init(init, Figure().subplots(1, 2)):
        labels = ax.get_legend_handles_labels()[1]
        assert {"predicted RMS", "measured RMS"} <= set(labels)
        assert [t.get_text() for t in ax.get_xticklabels()][-1] == "out"


def test_seeds_at_init_measures_the_bias_floor_and_the_gradient_ratios():
    d = playground.seeds_at_init(range(3), depth=4, width=16)
    assert set(d) >= {"act", "varying", "out_varying", "grad", "grad_example", "grad_pred"}
    assert all(len(v) == 3 for v in d.values()) and bool((d["varying"] <= 1).all())
    x = lecture_split().x_train.double()
    assert playground.varying([x, x * 0 + 1]) == pytest.approx([1.0, 0.0], abs=0.01)


def test_train_seeds_records_the_loss_at_init_and_draw_seeds_starts_there():
    runs = {"ReLU": playground.train_seeds([0, 1], epochs=1, activation="relu", depth=2, width=8)}
    assert runs["ReLU"].init_loss.shape == (2,)
    ax = playground.draw_seeds(runs, constant=14.8)
    assert ax.lines[-1].get_xdata()[0] == 0
