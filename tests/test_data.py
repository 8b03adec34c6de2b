import pytest
import torch

import helpers


def test_regression_matches_formula_and_label_variance():
    x, y = helpers.regression(n=20000, seed=1)
    assert x.shape == (20000, 2) and y.shape == (20000, 1)
    expected = 2 * x[:, :1] ** 2 - x[:, 1:] ** 2
    assert (y - expected).std().item() == pytest.approx(0.01, rel=0.05)  # the noise level
    assert y.var().item() == pytest.approx(helpers.LABEL_VARIANCE, rel=0.05)


def test_regression_with_bias_appends_ones_and_uses_last_weight_as_intercept():
    x, y = helpers.regression(n=500, weights=[2, -1, 1], bias=True, degree=1, noise=0.0, seed=0)
    assert x.shape == (500, 3) and torch.all(x[:, 2] == 1)
    torch.testing.assert_close(y, x @ torch.tensor([[2.0], [-1.0], [1.0]]))


def test_generators_are_reproducible_from_seed():
    for make in (helpers.regression, helpers.two_circles, helpers.spiral):
        a, b = make(seed=3), make(seed=3)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], make(seed=4)[0])


def test_two_circles_radii_and_spiral_classes():
    x, y = helpers.two_circles(n=2000, noise=0.0, factor=0.5, seed=0)
    r = x.norm(dim=1)
    torch.testing.assert_close(r[y == 1], torch.full_like(r[y == 1], 0.5))
    torch.testing.assert_close(r[y == 0], torch.ones_like(r[y == 0]))
    _, y = helpers.spiral(n=300, classes=3, seed=0)
    assert torch.bincount(y).tolist() == [100, 100, 100]


def test_digits_are_bundled_and_standardised():
    x, y = helpers.digits()
    assert x.shape == (1797, 64) and y.shape == (1797,) and set(y.tolist()) == set(range(10))
    used = x.std(0) > 0
    torch.testing.assert_close(x[:, used].mean(0), torch.zeros(int(used.sum())), atol=1e-4, rtol=0)


def test_split_sizes_disjoint_and_loaders():
    s = helpers.lecture_split()
    assert len(s.x_train) == 700 and len(s.x_test) == 300
    rows = {tuple(r.tolist()) for r in torch.cat([s.x_train, s.x_test])}
    assert len(rows) == 1000
    train, test = s.loaders(batch_size=10)
    assert len(train) == 70 and len(test) == 30
    first = next(iter(train))[0]
    assert first.shape == (10, 2)


def test_constant_mse_is_the_loss_of_predicting_the_training_mean():
    s = helpers.lecture_split()
    mean = s.y_train.mean()
    assert s.constant_mse("train") == pytest.approx(((s.y_train - mean) ** 2).mean().item())
    assert s.constant_mse() == pytest.approx(
        torch.nn.functional.mse_loss(mean.expand_as(s.y_test), s.y_test).item()
    )
    with pytest.raises(ValueError, match="^part"):
        s.constant_mse("valid")


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda: helpers.regression(n=0), "n"),
        (lambda: helpers.regression(degree=-1), "degree"),
        (lambda: helpers.regression(weights=[], bias=False), "weights"),
        (lambda: helpers.regression(seed="x"), "seed"),
        (lambda: helpers.two_circles(factor=1.5), "factor"),
        (lambda: helpers.spiral(classes=0), "classes"),
        (lambda: helpers.split(torch.zeros(0, 2), torch.zeros(0, 1)), "x"),
        (lambda: helpers.split(torch.zeros(10, 2), torch.zeros(9, 1)), "y"),
        (lambda: helpers.split(torch.zeros(10, 2), torch.zeros(10, 1), train=1.0), "train"),
        (lambda: helpers.lecture_split().loaders(batch_size=0), "batch_size"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=f"^{arg}"):
        call()
