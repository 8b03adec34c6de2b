"""What recording costs: helpers.train on the lecture net with and without a helpers.diagnose.Recorder.

Lecture setting as benchmarks/run.py (3 hidden layers of width 4, ReLU, 700 samples, batches of 10, 20
epochs, SGD lr 0.03, one torch thread). The two runs are timed in turn, round after round (interleaved,
alternating which goes first, so a busy CPU slows them alike); the figure is the median of the per-round
ratios. `python benchmarks/diagnose.py` prints it; benchmarks/run.py reports it as `diagnose_overhead`.
"""

import statistics
import time

import torch

import helpers
from helpers.diagnose import Recorder

EPOCHS, BATCH, LR = 20, 10, 0.03


def run(data, record, every):
    """Seconds for one training run of a fresh lecture net (seed 0), with or without a Recorder."""
    torch.manual_seed(0)
    model = helpers.lecture_net("relu")
    kw = dict(epochs=EPOCHS, lr=LR, batch_size=BATCH, verbose=False)
    start = time.perf_counter()
    if record:
        with Recorder(model, every=every) as rec:
            helpers.train(model, data, callbacks=[rec], **kw)
    else:
        helpers.train(model, data, **kw)
    return time.perf_counter() - start


def overhead(repeats=5, every=10):
    """Median over rounds of (seconds with a Recorder) / (seconds without), side by side."""
    torch.set_num_threads(1)
    data = helpers.lecture_split()
    run(data, True, every)  # warm up both paths
    run(data, False, every)
    ratios = []
    for r in range(repeats):
        order = (False, True) if r % 2 == 0 else (True, False)
        seconds = {record: run(data, record, every) for record in order}
        ratios.append(seconds[True] / seconds[False])
    return statistics.median(ratios)


if __name__ == "__main__":
    for every in (1, 10):
        print(f"every={every}: recording costs {overhead(every=every):.2f}x the time of training alone")
