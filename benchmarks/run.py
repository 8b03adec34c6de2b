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
from helpers.lecture import model_train_test

ROOT = Path(__file__).resolve().parent.parent
EPOCHS, BATCH, LR = 20, 10, 0.03
MANY = (1, 10, 100, 1000)
ONE_BY_ONE = (1, 10)  # measured; larger N are extrapolated linearly from the largest of these


def nets(n):
    """n lecture nets, net i initialised from seed i."""
    out = []
    for i in range(n):
        torch.manual_seed(i)
        out.append(helpers.lecture_net("relu"))
    return out


def bare(model, data):
    """The floor for one model: forward, loss, backward, step on the same batches, nothing else."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for batches in helpers.batch_order(len(data.x_train), BATCH, EPOCHS, seed=0):
        for idx in batches:
            loss = F.mse_loss(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def rows(max_models):
    """name -> (N, run): run(N fresh lecture nets) is the call that is timed."""
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
        n, run = table[name]
        run(nets(n))


def time_rows(table, repeats):
    """name -> list of seconds, one per round; rows interleaved within each round."""
    times = {name: [] for name in table}
    warm_up(table)
    names = list(table)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no row always first
            n, run = table[name]
            models = nets(n)
            start = time.perf_counter()
            run(models)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{repeats} done", file=sys.stderr)
    return times


def time_notebooks(timeout=300):
    """notebook name -> wall seconds to execute it top to bottom in a fresh kernel (None if it failed)."""
    import tempfile

    import nbclient
    import nbformat
    from jupyter_client import KernelManager

    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as tmp:  # IPC sockets: no TCP port races with other kernels
            km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(tmp, "kernel"))
            start = time.perf_counter()
            try:
                nbclient.NotebookClient(nb, km=km, timeout=timeout).execute(cwd=str(path.parent))
                out[path.name] = time.perf_counter() - start
            except Exception as e:  # a broken or hung notebook is reported, not fatal
                out[path.name] = None
                print(f"{path.name}: failed: {type(e).__name__}", file=sys.stderr)
        if out[path.name] is not None:
            print(f"{path.name}: {out[path.name]:.1f} s", file=sys.stderr)
    return out


def machine():
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


def report(table, times, memory, baseline, notebooks, repeats):
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

    for name, (n, _) in table.items():
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        add(name, n, statistics.median(times[name]), ratio, memory.get(name))
    largest = f"helpers.train one after another, N={ONE_BY_ONE[-1]}"
    per_model = statistics.median(times[largest]) / ONE_BY_ONE[-1]
    per_ratio = statistics.median(t / b for t, b in zip(times[largest], base)) / ONE_BY_ONE[-1]
    for n in MANY:
        if n > ONE_BY_ONE[-1]:
            add(f"helpers.train one after another, N={n}", n, per_model * n, per_ratio * n, None, True)
    ratios = {r["name"]: r["ratio_to_bare_one"] for r in result["rows"]}
    train_ratios = zip(times["helpers.train, track=True"], times["helpers.train"])
    result["stats_overhead"] = statistics.median(a / b for a, b in train_ratios)
    result["many_1000_over_bare_one"] = ratios.get("train_many, N=1000")
    lines += [
        "",
        f"Per-layer statistics (track=True) cost {result['stats_overhead']:.2f}x helpers.train alone.",
    ]
    result["baseline_mb"] = baseline
    if notebooks:
        lines += ["", "| notebook | seconds (fresh kernel, wall) |", "|---|---:|"]
        lines += [f"| {name} | {'failed' if s is None else f'{s:.1f}'} |" for name, s in notebooks.items()]
    done = [s for s in notebooks.values() if s is not None]
    result["notebooks"] = notebooks
    result["series_seconds"] = sum(done) if notebooks and len(done) == len(notebooks) else None
    result["slowest_notebook_seconds"] = max(done) if done else None
    if result["series_seconds"] is not None:
        lines += [f"| whole series | {result['series_seconds']:.1f} |"]
    lines += ["", "| target (2-core laptop) | measured | met |", "|---|---:|:---:|"]
    for what, value, limit, unit in [
        ("train_many N=1000 vs bare loop, one model", result["many_1000_over_bare_one"], 10, "x"),
        ("track=True vs helpers.train", result["stats_overhead"], 1.5, "x"),
        ("whole series", result["series_seconds"], 180, " s"),
        ("slowest notebook", result["slowest_notebook_seconds"], 45, " s"),
    ]:
        if value is not None:
            lines.append(
                f"| {what} ≤ {limit}{unit} | {value:.3g}{unit} | {'yes' if value <= limit else 'no'} |"
            )
    result.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine(), threads=1, repeats=repeats
    )
    return "\n".join(lines), result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="rounds of timings (median reported)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--max-models", type=int, default=1000, help="largest N for train_many (quick runs)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "latest.json"))
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one row in this subprocess
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = rows(args.max_models)
    if args.memory_of:
        warm_up(table)
        n, run = table[args.memory_of]
        models = nets(n)
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak (VmHWM) to the current RSS
        before = status_kb("VmRSS")
        run(models)
        print((status_kb("VmHWM") - before) / 1024, before / 1024)  # kB -> MB
        return
    memory = {} if args.no_memory else {name: peak_memory(name, args.max_models) for name in table}
    baseline = statistics.median(m[1] for m in memory.values()) if memory else None
    memory = {name: m[0] for name, m in memory.items()}
    times = time_rows(table, args.repeats)
    notebooks = {} if args.no_notebooks else time_notebooks()
    text, result = report(table, times, memory, baseline, notebooks, args.repeats)
    print(text)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
