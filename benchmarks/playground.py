"""How fast the playground redraws its picture at initialisation after a control change, headless.

The app draws with matplotlib's object API onto Agg canvases (no pyplot, no display), so it runs the same
here as in a kernel, minus the trip of the PNG to the browser (tests/browser/check_playground.py times that).
"""

import statistics
import time

import helpers
from helpers import playground


def redraw_seconds(repeats=5):
    """Median seconds from a control change to the new picture (PNG rendered), at the app's defaults."""
    helpers.setup()
    app = playground.app()
    scheme = app.controls["scheme"]
    times = []
    for i in range(repeats):  # alternate between two schemes so that every change is a real one
        start = time.perf_counter()
        scheme.value = "xavier_normal" if i % 2 == 0 else "default"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    print(f"playground redraw: {redraw_seconds():.2f} s (median of 5)")
