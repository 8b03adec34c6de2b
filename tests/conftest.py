import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _one_thread_and_close_figures():
    torch.set_num_threads(1)
    yield
    matplotlib.pyplot.close("all")
