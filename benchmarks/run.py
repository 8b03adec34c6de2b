"""How fast the series trains: every path side by side on the lecture setting; `make bench`.

Lecture setting: a 3-hidden-layer width-4 ReLU net, 700 training samples, batches of 10, 20 epochs,
SGD lr 0.03, one torch thread everywhere. Rows are timed in turn, round after round (interleaved, so
a busy CPU slows them alike); each figure is the median over rounds and each ratio the median of the
per-round ratios to the bare loop. Peak memory: how far the resident set peaks above where it was
(/proc/self/status VmHWM after a reset, Linux) while a row runs once in a fresh subprocess. Notebooks run once
each in a fresh kernel (nbclient), kernel start included. Prints a markdown table; writes latest.json.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

import helpers
from helpers.checks import linear_layers
from helpers.explore import nb04
from helpers.lecture import model_train_test

ROOT = Path(__file__).resolve().parent.parent
EPOCHS, BATCH, LR = 20, 10, 0.03
MANY = (1, 10, 100, 1000)
ONE_BY_ONE = (1, 10)  # measured; larger N are extrapolated linearly from the largest of these
SEEDS = 20  # the digits rows: this many seeds by train_many against one by helpers.train
DIGITS = dict(epochs=10, lr=0.01, momentum=0.9, batch_size=64, loss="cross_entropy")
RATIOS = {  # key in latest.json -> (row, baseline row, target)
    "many_1000_over_bare_one": ("train_many, N=1000", "bare loop", 3),
    "deep_20_over_one": (f"train_many, {SEEDS} deep digits nets", "helpers.train, deep digits net", 6),
    "bn_residual_20_over_one": (
        f"train_many, {SEEDS} BatchNorm residual digits nets",
        "helpers.train, BatchNorm residual digits net",
        6,
    ),
}
FLOOR = (f"torch.bmm floor, {SEEDS} deep digits nets", "helpers.train, deep digits net")  # no target: context
QUICK = {row for pair in RATIOS.values() for row in pair[:2]} | {
    FLOOR[0]
}  # --quick: just the rows of the ratios


def nets(n, make=lambda: helpers.lecture_net("relu")):
    """n models from make(), model i initialised from seed i."""
    out = []
    for i in range(n):
        torch.manual_seed(i)
        out.append(make())
    return out


def deep_net():
    """20 bias-free Linear layers of width 64 with ReLU, on the 64 pixels of the digits, 10 classes."""
    return helpers.mlp([64] + [64] * 19 + [10], bias=False)


def bn_residual_net():
    """64 -> 32, then 7 residual blocks Linear-BatchNorm-ReLU of width 32, then 10 classes."""
    return helpers.mlp([64] + [32] * 8 + [10], norm="batch", residual=True)


def bare(model, data):
    """The floor for one model: forward, loss, backward, step on the same batches, nothing else."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for batches in helpers.batch_order(len(data.x_train), BATCH, EPOCHS, seed=0):
        for idx in batches:
            loss = F.mse_loss(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def digits_split():
    """The digits with 1400 training images, the rest for testing."""
    x, y = helpers.digits()
    return helpers.split(x, y, train=1400 / len(x))


def digit_rows():
    """The digits rows: name -> (N, make, run); one seed by helpers.train against SEEDS by train_many."""
    data = digits_split()
    table = {}
    for label, make in [("deep digits net", deep_net), ("BatchNorm residual digits net", bn_residual_net)]:
        table[f"helpers.train, {label}"] = (
            1,
            make,
            lambda ms: helpers.train(ms[0], data, verbose=False, **DIGITS),
        )
        table[f"train_many, {SEEDS} {label}s"] = (
            SEEDS,
            make,
            lambda ms: helpers.train_many(ms, data, **DIGITS),
        )
    table[f"torch.bmm floor, {SEEDS} deep digits nets"] = (SEEDS, deep_net, lambda ms: bmm_floor(ms, data))
    return table


def bmm_floor(models, data):
    """The arithmetic floor for many deep nets: batched matmuls, cross-entropy, momentum SGD; nothing else."""
    layers = zip(*map(linear_layers, models))  # per layer: that layer of every member
    weights = [torch.stack([m.weight.detach().T for m in ms]).requires_grad_() for ms in layers]
    velocity = [torch.zeros_like(w) for w in weights]
    for batches in helpers.batch_order(len(data.x_train), DIGITS["batch_size"], DIGITS["epochs"], seed=0):
        for idx in batches:
            h = data.x_train[idx].expand(len(models), -1, -1)  # (members, batch, 64)
            for i, w in enumerate(weights):
                h = torch.bmm(h, w) if i == len(weights) - 1 else torch.relu(torch.bmm(h, w))
            y = data.y_train[idx].repeat(len(models))
            loss = F.cross_entropy(h.flatten(0, 1), y, reduction="sum") / len(idx)
            with torch.no_grad():
                for w, v, g in zip(weights, velocity, torch.autograd.grad(loss, weights)):
                    w.sub_(v.mul_(DIGITS["momentum"]).add_(g), alpha=DIGITS["lr"])


def rows(max_models):
    """name -> (N, make, run): run(N fresh models from make) is the call that is timed."""
    table = lecture_rows(max_models)
    table = {k: (n, lambda: helpers.lecture_net("relu"), run) for k, (n, run) in table.items()}
    return table | digit_rows()


def lecture_rows(max_models):
    """The lecture setting's rows: name -> (N, run)."""
    data = helpers.lecture_split()
    train_loader, test_loader = data.loaders(BATCH, seed=0)
    kw = dict(epochs=EPOCHS, lr=LR, batch_size=BATCH)
    table = {
        "bare loop": (1, lambda ms: bare(ms[0], data)),
        "lecture loop (model_train_test)": (
            1,
            lambda ms: model_train_test(ms[0], train_loader, test_loader, num_epochs=EPOCHS),
        ),
        "helpers.train": (1, lambda ms: helpers.train(ms[0], data, verbose=False, **kw)),
        "helpers.train, track=True": (
            1,
            lambda ms: helpers.train(ms[0], data, track=True, verbose=False, **kw),
        ),
    }
    for n in [n for n in MANY if n <= max_models]:
        table[f"train_many, N={n}"] = (n, lambda ms: helpers.train_many(ms, data, **kw))
    if max_models >= 1000:
        table["train_many, N=1000, track=True"] = (
            1000,
            lambda ms: helpers.train_many(ms, data, track=True, **kw),
        )
    for n in ONE_BY_ONE:
        table[f"helpers.train one after another, N={n}"] = (
            n,
            lambda ms: [helpers.train(m, data, verbose=False, **kw) for m in ms],
        )
    return table


def status_kb(key):
    """A memory figure of this process from /proc/self/status, in kB (VmRSS now, VmHWM its peak)."""
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":"))


def peak_memory(name, max_models):
    """Growth of the peak RSS in MB while row `name` runs once, measured in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--memory-of", name, "--max-models", str(max_models)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return [float(v) for v in out.stdout.split()[-2:]]  # (growth, the process's resident set before)


def warm_up(table):
    """Run the bare loop and train_many once untimed: torch allocates and initialises lazily."""
    for name in [name for name in ("bare loop", "train_many, N=10") if name in table]:
        n, make, run = table[name]
        run(nets(n, make))


def time_rows(table, repeats):
    """name -> list of seconds, one per round; rows interleaved within each round."""
    times = {name: [] for name in table}
    warm_up(table)
    names = list(table)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no row always first
            n, make, run = table[name]
            models = nets(n, make)
            start = time.perf_counter()
            run(models)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{repeats} done", file=sys.stderr)
    return times


START = "(kernel start, import helpers, setup)"


def execute_seconds(nb, cwd, timeout):
    """Wall seconds to execute nb top to bottom in a fresh kernel, or None if it failed or hung."""
    import tempfile

    import nbclient
    from jupyter_client import KernelManager

    with tempfile.TemporaryDirectory() as tmp:  # IPC sockets: no TCP port races with other kernels
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(tmp, "kernel"))
        start = time.perf_counter()
        try:
            client = nbclient.NotebookClient(nb, km=km, timeout=timeout)
            client.execute(cwd=str(cwd), stderr=subprocess.DEVNULL)  # kernel chatter stays out
        except Exception as e:  # a broken or hung notebook is reported, not fatal
            print(f"{type(e).__name__}: {str(e)[:200]}", file=sys.stderr)
            return None
        return time.perf_counter() - start


def time_notebooks(timeout=300, starts=3):
    """name -> wall seconds to execute each lesson and deep dive in a fresh kernel (None if it failed).

    START is the median of a few runs of a notebook that only starts the kernel, imports helpers and calls
    helpers.setup(): the fixed cost every notebook pays before its first experiment.
    """
    import nbformat

    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import helpers\n\nhelpers.setup()")])
    runs = [execute_seconds(empty, ROOT / "notebooks", timeout) for _ in range(starts)]
    out = {START: statistics.median(r for r in runs if r is not None) if any(runs) else None}
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    paths += sorted((ROOT / "notebooks" / "deeper").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        name = str(path.relative_to(ROOT / "notebooks"))
        out[name] = execute_seconds(nbformat.read(path, as_version=4), path.parent, timeout)
        print(f"{name}: {'failed' if out[name] is None else f'{out[name]:.1f} s'}", file=sys.stderr)
    return out


def measure_extras(repeats):
    """The playground's redraw time and helpers.diagnose's overhead (their own side-by-side timings)."""
    import diagnose  # benchmarks/diagnose.py and playground.py: run.py's own folder is on the path
    import playground

    return {
        "playground_redraw_seconds": playground.redraw_seconds(repeats),
        "diagnose_overhead": diagnose.overhead(repeats),
        "lesson_04_arms_over_bare": lesson_04_arms(repeats),
    }


def lesson_04_arms(repeats):
    """Median over rounds of (lesson 04's four-arm call) / (the bare loop), timed in turn.

    It runs after the rounds of rows: its 80 deep nets (about 170 MB) slowed the row timed after them.
    """
    data, lesson = helpers.lecture_split(), helpers.split(*helpers.digits(), train=1400 / 1797, seed=0)
    ratios = []
    for _ in range(repeats):
        model = nets(1)[0]
        start = time.perf_counter()
        bare(model, data)
        middle = time.perf_counter()
        nb04.deep_arms(lesson, epochs=3)  # the call of 04's section 5: 80 nets of 20 layers, 3 epochs
        ratios.append((time.perf_counter() - middle) / (middle - start))
    return statistics.median(ratios)


def machine():
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


def report(table, times, memory, baseline, notebooks, repeats, extras):
    """(markdown text, json dict) from the measurements."""
    base = times["bare loop"]
    result = {"rows": []}
    lines = [
        f"Lecture setting: 3 hidden layers of 4 ReLU units, 700 samples, batch {BATCH}, {EPOCHS} epochs, "
        f"SGD lr {LR}; torch.set_num_threads(1); median of {repeats} interleaved rounds.",
        f"Machine: {machine()}; load average at the end: {os.getloadavg()[0]:.1f}.",
        (
            "Peak memory: how far the resident set peaks (VmHWM) above where it stood while the row runs "
            f"once, in a fresh process holding {baseline:.0f} MB (imports, data, a warm-up run)."
            if baseline is not None
            else "Peak memory: not measured."
        ),
        "",
        "| what | models | seconds | × bare loop (one model) | peak memory growth (MB) |",
        "|---|---:|---:|---:|---:|",
    ]

    def add(name, n, seconds, ratio, mb, extrapolated=False):
        mark = " (extrapolated)" if extrapolated else ""
        mem = "" if mb is None else f"{mb:.1f}"
        lines.append(f"| {name}{mark} | {n} | {seconds:.2f} | {ratio:.1f} | {mem} |")
        result["rows"].append(
            dict(
                name=name,
                models=n,
                seconds=seconds,
                ratio_to_bare_one=ratio,
                peak_mb=mb,
                extrapolated=extrapolated,
            )
        )

    for name, (n, _, _) in table.items():
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        add(name, n, statistics.median(times[name]), ratio, memory.get(name))
    largest = f"helpers.train one after another, N={ONE_BY_ONE[-1]}"
    if largest in times:
        per_model = statistics.median(times[largest]) / ONE_BY_ONE[-1]
        per_ratio = statistics.median(t / b for t, b in zip(times[largest], base)) / ONE_BY_ONE[-1]
        for n in MANY:
            if n > ONE_BY_ONE[-1]:
                add(f"helpers.train one after another, N={n}", n, per_model * n, per_ratio * n, None, True)
    for key, (row, baseline_row, _) in RATIOS.items():  # each the median of the per-round ratios
        pairs = zip(times.get(row, []), times.get(baseline_row, []))
        result[key] = statistics.median([a / b for a, b in pairs] or [math.nan])
        result[key] = None if math.isnan(result[key]) else result[key]
    if FLOOR[0] in times and FLOOR[1] in times:  # what batching can win at all on this CPU
        result["deep_20_floor_over_one"] = statistics.median(
            a / b for a, b in zip(times[FLOOR[0]], times[FLOOR[1]])
        )
        lines += [
            "",
            f"The arithmetic floor (bare torch.bmm) for the {SEEDS} deep nets: "
            f"{result['deep_20_floor_over_one']:.1f}x one net by helpers.train.",
        ]
    if "helpers.train, track=True" in times:
        train_ratios = zip(times["helpers.train, track=True"], times["helpers.train"])
        result["stats_overhead"] = statistics.median(a / b for a, b in train_ratios)
        lines += [
            "",
            f"Per-layer statistics (track=True) cost {result['stats_overhead']:.2f}x helpers.train alone.",
        ]
    result["baseline_mb"] = baseline
    start = notebooks.get(START)
    lessons = {k: v for k, v in notebooks.items() if k != START and "/" not in k}
    if notebooks:
        lines += ["", "| notebook | seconds (fresh kernel, wall) | beyond the start |", "|---|---:|---:|"]
        for name, s in notebooks.items():
            net = "" if s is None or start is None or name == START else f"{s - start:.1f}"
            lines.append(f"| {name} | {'failed' if s is None else f'{s:.1f}'} | {net} |")
    done = [s for s in lessons.values() if s is not None]
    result["notebooks"] = notebooks
    result["series_seconds"] = sum(done) if lessons and len(done) == len(lessons) else None
    result["slowest_notebook_seconds"] = max(done) if done else None
    result["start_seconds"] = start
    bare_seconds = statistics.median(base)
    for key in ("series", "slowest_notebook"):  # seconds differ between machines; multiples travel better
        seconds = result[f"{key}_seconds"]
        result[f"{key}_over_bare"] = None if seconds is None else seconds / bare_seconds
    slowest_net = None if not done or start is None else max(done) - start
    result["slowest_notebook_beyond_start_over_bare"] = (
        None if slowest_net is None else slowest_net / bare_seconds
    )
    if result["series_seconds"] is not None:
        lines += [f"| whole series (core lessons) | {result['series_seconds']:.1f} | |"]
        lines += [
            "",
            f"In multiples of the bare loop ({bare_seconds:.2f} s here): the core lessons together "
            f"{result['series_over_bare']:.0f}x, the slowest core lesson "
            f"{result['slowest_notebook_over_bare']:.0f}x"
            + (
                ""
                if slowest_net is None
                else f", or {result['slowest_notebook_beyond_start_over_bare']:.0f}x beyond the "
                f"{start:.1f} s every notebook spends starting its kernel and importing helpers"
            )
            + ".",
        ]
    result.update(extras)
    for key, text in (
        ("playground_redraw_seconds", "The playground redraws {:.2f} s after a control change (headless)."),
        ("diagnose_overhead", "Recording with helpers.diagnose costs {:.2f}x training without it."),
        (
            "lesson_04_arms_over_bare",
            "Lesson 04's four-arm experiment (80 nets of 20 layers, 3 epochs) alone: {:.1f}x the bare loop.",
        ),
    ):
        if result.get(key) is not None:
            lines += ["", text.format(result[key])]
    lines += ["", "| target (2-core laptop) | measured | met |", "|---|---:|:---:|"]
    for what, value, limit, unit in [
        ("train_many N=1000 vs bare loop, one model", result["many_1000_over_bare_one"], 3, "x"),
        (
            f"train_many {SEEDS} deep digits nets vs helpers.train, one",
            result["deep_20_over_one"],
            6,
            "x",
        ),
        (
            f"train_many {SEEDS} BatchNorm residual nets vs helpers.train, one",
            result["bn_residual_20_over_one"],
            6,
            "x",
        ),
        ("track=True vs helpers.train", result.get("stats_overhead"), 1.5, "x"),
        (
            "slowest core lesson beyond the kernel's start vs bare loop",
            result["slowest_notebook_beyond_start_over_bare"],
            20,
            "x",
        ),
        ("playground redraw", result.get("playground_redraw_seconds"), 1, " s"),
        ("helpers.diagnose recording vs training alone", result.get("diagnose_overhead"), 1.5, "x"),
    ]:
        if value is not None:
            lines.append(
                f"| {what} ≤ {limit}{unit} | {value:.3g}{unit} | {'yes' if value <= limit else 'no'} |"
            )
    result.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine(), threads=1, repeats=repeats
    )
    return "\n".join(lines), result


def select(table, quick, names):
    """The rows to time: all, the ratios' rows (quick), or those whose name contains one of names."""
    keep = {"bare loop"}  # every ratio in the table is to the bare loop
    keep |= QUICK if quick else set()
    keep |= {k for k in table for part in (names or "").split(",") if part and part in k}
    return table if not (quick or names) else {k: v for k, v in table.items() if k in keep}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="rounds of timings (median reported)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--max-models", type=int, default=1000, help="largest N for train_many (quick runs)")
    parser.add_argument(
        "--quick", action="store_true", help="only the rows of the three ratios; no notebooks"
    )
    parser.add_argument("--rows", help="only the rows whose name contains one of these, comma-separated")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "latest.json"))
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one row in this subprocess
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = rows(args.max_models)
    if args.memory_of:
        warm_up(table)
        n, make, run = table[args.memory_of]
        models = nets(n, make)
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak (VmHWM) to the current RSS
        before = status_kb("VmRSS")
        run(models)
        print((status_kb("VmHWM") - before) / 1024, before / 1024)  # kB -> MB
        return
    table = select(table, args.quick, args.rows)
    memory = {} if args.no_memory else {name: peak_memory(name, args.max_models) for name in table}
    baseline = statistics.median(m[1] for m in memory.values()) if memory else None
    memory = {name: m[0] for name, m in memory.items()}
    times = time_rows(table, args.repeats)
    full = not (args.quick or args.rows)
    notebooks = time_notebooks() if full and not args.no_notebooks else {}
    extras = measure_extras(args.repeats) if full or "extras" in (args.rows or "") else {}
    text, result = report(table, times, memory, baseline, notebooks, args.repeats, extras)
    print(text)
    if args.quick or args.rows:  # a partial run updates its rows and ratios in the last full record
        result = merged(Path(args.out), result)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def merged(path, result):
    """The record at path (if any) with result's rows replaced or added and its other keys updated."""
    old = json.loads(path.read_text()) if path.exists() else {"rows": []}
    rows = {r["name"]: r for r in old["rows"]} | {r["name"]: r for r in result["rows"]}
    new = {k: v for k, v in result.items() if v is not None and k not in ("rows", "notebooks")}
    return old | new | {"rows": list(rows.values())}


if __name__ == "__main__":
    main()
