"""The classic lecture's code cells, in its own words (comments translated), run against helpers.lecture."""

import matplotlib.pyplot as plt
import torch

import helpers
from helpers.lecture import *


def test_lecture_cells_run_unchanged():
    # data: a degree-2 polynomial, no intercept
    torch.manual_seed(420)
    features, labels = tensorGenReg(w=[2, -1], bias=False, deg=2)
    train_loader, test_loader = split_loader(features, labels)
    assert len(train_loader.dataset) == 700 and len(test_loader.dataset) == 300

    # a single model
    torch.manual_seed(420)
    relu_model3 = ReLU_class3()
    train_l, test_l = model_train_test(
        relu_model3,
        train_loader,
        test_loader,
        num_epochs=5,
        criterion=nn.MSELoss(),
        optimizer=optim.SGD,
        lr=0.001,
    )
    assert len(train_l) == len(test_l) == 5

    # the nn.init toolbox, both patterns
    torch.manual_seed(420)
    sigmoid_model3 = Sigmoid_class3()
    sigmoid_model3_init = Sigmoid_class3()
    for m in sigmoid_model3_init.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight)

    relu_model3.apply(init_weights)

    # several models side by side
    model_l = [sigmoid_model3, sigmoid_model3_init]
    name_l = ["sigmoid_model3", "sigmoid_model3_init"]
    num_epochs = 4
    train_l, test_l = model_comparison(
        model_l=model_l,
        name_l=name_l,
        train_data=train_loader,
        test_data=test_loader,
        num_epochs=num_epochs,
        criterion=nn.MSELoss(),
        optimizer=optim.SGD,
        lr=0.03,
        cla=False,
        eva=mse_cal,
    )
    assert train_l.shape == test_l.shape == (2, num_epochs)
    for i, name in enumerate(name_l):
        plt.plot(list(range(num_epochs)), train_l[i], label=name)
    plt.legend(loc=1)
    weights_vp(sigmoid_model3, att="grad")
    weights_vp(sigmoid_model3_init, att="weight")


def test_lecture_classes_take_the_lecture_signature():
    m = tanh_class2(in_features=3, hidden_1=5, hidden_2=6, out_features=2, bias=False)
    shapes = [tuple(p.shape) for p in m.parameters()]
    assert shapes == [(5, 3), (6, 5), (2, 6)]
    assert type(Tanh_class4(2, 4, 4, 4, 4, 1)(torch.zeros(1, 2))) is torch.Tensor
    assert isinstance(ReLU_class1()[1], nn.ReLU)


def test_model_train_test_runs_exactly_num_epochs_passes():
    torch.manual_seed(0)
    features, labels = tensorGenReg(w=[2, -1], bias=False, deg=2)
    train_loader, test_loader = split_loader(features, labels)
    model = Sigmoid_class1()
    steps = []
    model.register_forward_hook(
        lambda mod, args, out: steps.append(len(args[0])) if torch.is_grad_enabled() else None
    )
    model_train_test(model, train_loader, test_loader, num_epochs=3)
    batch_calls = [s for s in steps if s == 10]
    assert len(batch_calls) == 3 * 70  # 3 passes of 70 batches, not 3*2/2 or 3*4/2


def test_lecture_data_follows_the_global_seed_and_matches_helpers():
    torch.manual_seed(420)
    a = tensorGenReg(w=[2, -1], bias=False, deg=2)
    torch.manual_seed(420)
    b = tensorGenReg(w=[2, -1], bias=False, deg=2)
    assert torch.equal(a[0], b[0])
    torch.manual_seed(420)
    c = helpers.regression(seed=torch.default_generator)
    assert torch.equal(a[1], c[1])
    acc = accuracy_cal(
        split_loader(torch.randn(20, 2), torch.zeros(20, 1).long())[0], lambda x: torch.zeros(len(x), 2)
    )
    assert acc.item() == 1.0
