"""helpers.explore.nb06: lesson 06's deep stacks, their variances, the gradient trace and the explorer."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import helpers
from helpers.explore import nb06

SGD = dict(lr=0.05, momentum=0.9, batch_size=64, loss="cross_entropy")


@pytest.fixture(scope="module")
def data():
    x, y = helpers.digits()
    return helpers.split(x, y, train=0.7, seed=0)


def reference_net(blocks, norm=False, residual=False, branch_relu=False, width=32):
    """The stacks as the lesson first wrote them out, layer by layer."""

    def branch():
        bn = (lambda: [nn.BatchNorm1d(width)]) if norm else (lambda: [])
        tail = [nn.ReLU()] if branch_relu else []
        return nn.Sequential(nn.Linear(width, width), *bn(), nn.ReLU(), nn.Linear(width, width), *bn(), *tail)

    body = [
        helpers.Residual(branch()) if residual else nn.Sequential(branch(), nn.ReLU()) for _ in range(blocks)
    ]
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), *body, nn.Linear(width, 10))


@pytest.mark.parametrize(
    "kw", [{}, dict(norm=True), dict(residual=True), dict(norm=True, residual=True, branch_relu=True)]
)
def test_deep_net_is_the_lessons_stack_weight_for_weight(kw):
    torch.manual_seed(3)
    ours = nb06.deep_net(4, **kw)
    torch.manual_seed(3)
    ref = reference_net(4, **kw)
    assert str(ours) == str(ref)
    for (k, a), b in zip(ours.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k


def test_he_stacks_have_he_weights_and_zero_biases():
    net = nb06.deep_net(20, he=True)
    layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
    inner = torch.cat([m.weight.flatten() for m in layers if m.weight.shape == (32, 32)])
    assert inner.std().item() == pytest.approx(math.sqrt(2 / 32), rel=0.05)  # 40,960 draws
    assert all((m.bias == 0).all() for m in layers)


def test_block_variances_read_the_stream_after_the_stem_and_every_block():
    torch.manual_seed(0)
    net, x = nb06.deep_net(3, residual=True), torch.randn(200, 64)
    v = nb06.block_variances(net, x)
    with torch.no_grad():
        h = net[1](net[0](x))
        expected = [h.var(0).mean()]
        for block in net[2:-1]:
            h = block(h)
            expected.append(h.var(0).mean())
    assert v.shape == (4,)
    torch.testing.assert_close(v, torch.stack(expected))


def hand_trace(data, clip, steps, seed=0):
    """The lesson's former loop: per-step weight-gradient norms before clipping, and the losses."""
    torch.manual_seed(seed)
    net = helpers.init_weights(helpers.mlp([64, 64, 64, 64, 10]), "uniform", bound=0.5, bias=0.0)
    opt = torch.optim.SGD(net.parameters(), lr=SGD["lr"], momentum=SGD["momentum"])
    layers = [m for m in net if isinstance(m, nn.Linear)]
    norms, losses = [], []
    for idx in [b for epoch in helpers.batch_order(len(data.x_train), 64, 1, seed) for b in epoch][:steps]:
        loss = F.cross_entropy(net(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        norms.append([m.weight.grad.norm().item() for m in layers])
        losses.append(loss.item())
        if clip:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
    return torch.tensor(norms), losses


@pytest.mark.parametrize("clip", [None, 1.0])
def test_grad_norm_trace_matches_a_hand_written_loop(data, clip):
    torch.manual_seed(0)
    net = helpers.init_weights(helpers.mlp([64, 64, 64, 64, 10]), "uniform", bound=0.5, bias=0.0)
    norms, losses = nb06.grad_norm_trace(net, data, epochs=1, seed=0, clip_norm=clip, **SGD)
    ref_norms, ref_losses = hand_trace(data, clip, steps=len(losses))
    assert norms.shape == (20, 4) and len(losses) == 20  # 1258 images in batches of 64: 20 steps
    torch.testing.assert_close(norms, ref_norms)
    assert losses == pytest.approx(ref_losses)
    assert all(not m.weight._post_accumulate_grad_hooks for m in net if isinstance(m, nn.Linear))


def test_grad_norm_trace_stops_at_the_first_nan(data):
    torch.manual_seed(0)
    net = helpers.init_weights(helpers.mlp([64] + [64] * 6 + [10]), "uniform", bound=0.5, bias=0.0)
    norms, losses = nb06.grad_norm_trace(net, data, epochs=3, seed=0, **SGD)  # the lesson's explosion
    assert not math.isfinite(losses[-1]) and all(math.isfinite(v) for v in losses[:-1])
    assert len(norms) == len(losses) < 60


def test_depth_runs_trains_each_seed_as_helpers_train_would(data):
    runs = nb06.depth_runs(data, 2, seeds=[4, 7], epochs=1, norm=True, residual=True, **SGD)
    for i, seed in enumerate([4, 7]):
        torch.manual_seed(seed)
        net = nb06.deep_net(2, norm=True, residual=True)
        hist = helpers.train(net, data, epochs=1, seed=seed, verbose=False, **SGD)
        assert runs.test_loss[i, 0].item() == pytest.approx(hist.test_loss[0], rel=1e-4)
        for (k, a), b in zip(runs.model(i).state_dict().items(), net.state_dict().values()):
            torch.testing.assert_close(a.float(), b.float(), rtol=1e-4, atol=1e-4, msg=k)


def test_explore_draws_gradients_and_accuracy_and_says_how_it_ended(data, capsys):
    nb06.explore(data, blocks=2, kind="both", epochs=1)
    fig = plt.gcf()
    assert len(fig.axes) == 2 and "both, 2 blocks" in fig.axes[0].get_title()
    assert capsys.readouterr().out.startswith("both, 2 blocks, lr 0.05: final test accuracy")
    with pytest.raises(ValueError, match="kind"):
        nb06.explore(data, kind="dense")


def test_widget_waits_for_its_button(data):
    w = nb06.widget(data)
    names = [c.description for c in w.children if hasattr(c, "description")]
    assert {"blocks", "kind", "lr", "epochs", "seed"} <= set(names)
    assert w.manual and w.result is None  # nothing trained until the button is pressed
    assert list(w.children[1].options) == list(nb06.STACKS)


def test_groups_train_each_group_as_train_many_would(data):
    settings = {"a": dict(lr=0.1), "b": dict(lr=0.01, weight_decay=1e-3, clip_norm=1.0)}
    runs, idx = nb06.groups(lambda name: nb06.he_net(2, 8), data, settings, seeds=[3, 5], epochs=1, **SGD_KW)
    assert [i.tolist() for i in idx.values()] == [[0, 1], [2, 3]]
    torch.manual_seed(5)
    alone = helpers.train_many(
        [nb06.he_net(2, 8)], data, seed=[5], epochs=1, lr=0.01, weight_decay=1e-3, clip_norm=1.0, **SGD_KW
    )
    assert torch.allclose(runs.test_loss[3], alone.test_loss[0], rtol=1e-4)


SGD_KW = dict(momentum=0.9, batch_size=64, loss="cross_entropy")


def test_outcomes_count_exploded_dead_and_trained(data):
    runs, idx = nb06.groups(
        lambda name: nb06.he_net(2, 8), data, {"x": {}}, seeds=range(3), epochs=1, **SGD_KW
    )
    runs.test_acc[0, -1], runs.diverged_at[1] = 0.05, 1
    runs.test_acc[1, -1] = math.nan
    o = nb06.outcomes(runs, idx)["x"]
    assert (o["exploded"], o["dead"], o["ok"]) == (1, 1, 1) and o["broke"].tolist() == [True, True, False]


def test_zero_branches_make_every_block_the_identity():
    for norm in (False, True):
        net = nb06.zero_branches(nb06.deep_net(3, norm=norm, residual=True)).eval()
        x = torch.randn(10, 64)
        stem = net[1](net[0](x))
        assert torch.equal(net[2:-1](stem), stem)


def test_init_profile_and_first_last_ratio_have_one_row_a_seed(data):
    v = nb06.init_profile(lambda: nb06.deep_net(2, residual=True), data.x_train, seeds=range(3))
    assert v.shape == (3, 3) and (v > 0).all()
    r = nb06.first_last_ratio(lambda: nb06.deep_net(2, residual=True), data, seeds=range(3))
    assert r.shape == (3,) and (r > 0).all()


def test_second_moment_growth_matches_the_he_prediction_of_one():
    g = nb06.second_moment_growth(lambda: nb06.exploding_net(bound=math.sqrt(6 / 64)), torch.randn(500, 64))
    assert g.shape == (20, 5) and abs(g.median() - 1) < 0.15


def test_bn_accuracies_leave_the_model_and_its_running_stats_alone(data):
    net = nb06.depth_runs(data, 1, seeds=[0], epochs=1, norm=True, **SGD).model(0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    acc = nb06.bn_accuracies(net, data)
    assert set(acc) == {"eval", "train, mixed batches", "train, one-class batches"}
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_words_read_in_bands():
    assert [nb06.count_in_words(k) for k in (0, 2, 3, 6, 7)] == [
        "at most 2 of 20",
        "at most 2 of 20",
        "3 to 6 of 20",
        "3 to 6 of 20",
        "7 or more of 20",
    ]
    assert [nb06.ratio_in_words(r) for r in (3, 1.1, 0.5, 1.8)] == [
        "over 2",
        "0.9 to 1.5",
        "below 0.9",
        "1.8",
    ]


def test_depth_sweep_stops_a_kind_below_the_bar_and_plots(data):
    sweep = nb06.depth_sweep(data, {"plain": {}}, [1, 2], seeds=range(2), epochs=1, trains=1.1, **SGD)
    assert sweep["plain"].shape == (2, 1)  # the bar 1.1 stops it at the first rung
    nb06.plot_sweep(sweep, [1, 2], "t")
    plt.close("all")


def test_count_band_and_half_in_words_read_in_bands():
    assert [nb06.count_band(k) for k in (0, 1, 7, 8, 12, 13, 19, 20)] == [
        "0 of 20",
        "1 to 7 of 20",
        "1 to 7 of 20",
        "8 to 12 of 20",
        "8 to 12 of 20",
        "13 to 19 of 20",
        "13 to 19 of 20",
        "20 of 20",
    ]
    assert [nb06.half_in_words(k) for k in (0, 3, 10, 11, 20)] == [
        "none",
        "fewer than half",
        "half",
        "more than half",
        "all",
    ]


def test_start_gradients_vanish_toward_the_input_only_without_he(data):
    norms, ratio = nb06.start_gradients(lambda: nb06.deep_net(10), data, seeds=range(3))
    he_norms, he_ratio = nb06.start_gradients(lambda: nb06.deep_net(10, he=True), data, seeds=range(3))
    assert norms.shape == ratio.shape == (3,)
    assert (ratio < 1e-4).all() and (he_ratio > 0.1).all() and (norms < he_norms).all()
    torch.testing.assert_close(ratio, nb06.first_last_ratio(lambda: nb06.deep_net(10), data, seeds=range(3)))


def test_init_profile_is_float64_and_past_float32s_floor(data):
    v = nb06.init_profile(lambda: nb06.deep_net(10), data.x_train, seeds=range(2))
    assert (v[:, 1:] < v[:, :-1]).all()  # in float64 it falls block after block, past 1e-17
    v32 = nb06.init_profile(lambda: nb06.deep_net(3), data.x_train, seeds=range(2), dtype=torch.float32)
    assert v32.shape == (2, 4)
