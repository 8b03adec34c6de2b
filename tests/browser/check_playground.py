"""Real-browser check of the playground: notebooks/07_playground.ipynb in JupyterLab, and the Voila app.

For each server: start it on a free localhost port, open the notebook in headless Chromium (Debian's
/usr/bin/chromium driven by Playwright) and let every cell run. Then: change three controls and time how long
the picture at initialisation takes to redraw in the page (printed; fails only above 5 s); press Train and
check that the progress shows and a training curve appears; start a long run and change a control while it
trains, and check that the run stops and leaves no curve. Under Voila (notebooks/app/playground.ipynb, what
`make playground` serves) the page must show the app and nothing else: no exercise boxes, no 'No answer yet',
no second figure. No error may show in the page or in any output. Screenshots go to build/screenshots/.
Run it with `make test-browser`; exit status 0 means both passed.
"""

import argparse
import base64
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import matplotlib.image
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "07_playground.ipynb"  # the lesson, run in JupyterLab
APP_NOTEBOOK = ROOT / "notebooks" / "app" / "playground.ipynb"  # the app alone, served by Voila
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Flags that work here, as root, with no network and no GPU.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
APP = ".playground"  # the app's VBox (helpers.playground.Playground)
INIT, TRAINING, STATUS = f"{APP} .playground-init", f"{APP} .playground-training", f"{APP} .playground-status"
REDRAW_LIMIT = 5.0  # seconds: a redraw slower than this in the browser fails the check
# Three changes of the controls: (what, control label, kind, value).
CHANGES = [
    ("init scheme -> Xavier normal", "init scheme", "dropdown", "Xavier normal"),
    ("activation -> ReLU", "activation", "dropdown", "ReLU"),
    ("hidden layers -> 30", "hidden layers", "slider", "30"),
]


class CheckFailed(Exception):
    """A check failed; the message says which and what was seen."""


def log(msg):
    print(f"[test-browser {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, log_path, timeout):
    """Poll url until it answers (any HTTP status); fail early if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"the server exited with status {proc.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise CheckFailed(f"the server did not answer {url} within {timeout} s; see {log_path}")


def stop(proc, timeout=20):
    """SIGTERM the server (it shuts its kernels down), then end whatever it started and left, by pid."""
    if proc.poll() is not None:
        return
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"server {proc.pid} ignored SIGTERM for {timeout} s; killing it")
        proc.kill()
        proc.wait(5)
    gone, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        log(f"ending leftover process {child.pid} ({child.name()})")
        child.kill()
    psutil.wait_procs(alive, timeout=5)


@contextmanager
def server(name, cmd, url, workdir, timeout):
    """Run a server command in workdir while the block runs; its log goes to build/screenshots/."""
    log_path = SHOTS / f"{name}-server.log"
    with open(log_path, "w") as out:
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), PYTHONUNBUFFERED="1")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(workdir / "workspaces")
        env["JUPYTERLAB_SETTINGS_DIR"] = str(workdir / "settings")
        news = workdir / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text('{"fetchNews": "false"}')  # no "get news?" prompt over the screenshots
        env.pop("MPLBACKEND", None)  # kernels use the inline backend
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_http(url, proc, log_path, timeout)
            yield log_path
        finally:
            stop(proc)
    text = log_path.read_text(errors="replace")
    if "Traceback" in text:
        raise CheckFailed(f"{name}: the server log shows a Python traceback; see {log_path}")


def pixels(src):
    """RGB array of an <img> data URL."""
    if not src or not src.startswith("data:image/png;base64,"):
        raise CheckFailed(f"expected the figure as an inline PNG, got {str(src)[:60]!r}")
    return matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")[..., :3]


def changed_fraction(a, b):
    """Fraction of pixels that differ between two images, over the area they share."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float((np.abs(a[:h, :w] - b[:h, :w]).max(axis=-1) > 0.02).mean())


def image(page, where):
    """The data URL of the picture under selector `where`, or None while there is none."""
    return page.evaluate(
        "(sel) => { const i = document.querySelector(sel + ' img'); return i && i.getAttribute('src'); }",
        where,
    )


def text_of(page, where):
    return page.evaluate(
        "(sel) => { const e = document.querySelector(sel); return e ? e.innerText : ''; }", where
    )


def wait_for(page, what, predicate, timeout):
    """Poll predicate() (returns a value or None) until it gives a value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(50)
    raise CheckFailed(f"timed out after {timeout} s waiting for {what}")


def check_no_errors(page, errors, where):
    """No error output, stderr output or traceback on the page, and no uncaught script error."""
    if errors:
        raise CheckFailed(f"{where}: the page raised a script error: {errors[0]}")
    found = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].map((e) => e.innerText.slice(0, 300))""", STDERR
    )
    if found:
        raise CheckFailed(f"{where}: an output shows an error or stderr: {found[0]!r}")
    body = page.evaluate("() => document.body.innerText")
    for needle in (
        "Traceback (most recent call last)",
        "There was an error when executing cell",  # Voila
        "Error displaying widget",
        "Training failed",
    ):
        if needle in body:
            raise CheckFailed(f"{where}: the page shows {needle!r}")


def check_app_alone(page, where):
    """The Voila page holds the app and nothing else: no exercise boxes, no other output, no other figure."""
    body = page.evaluate("() => document.body.innerText")
    for needle in ("No answer yet", "Exercise", "✗", "✓"):
        if needle in body:
            raise CheckFailed(f"{where}: the page shows {needle!r}; it should show the app alone")
    counts = page.evaluate(
        """(sel) => ({
            apps: document.querySelectorAll(sel).length,
            imgs: document.querySelectorAll('img').length,
            appImgs: document.querySelectorAll(sel + ' img').length,
        })""",
        APP,
    )
    if counts["apps"] != 1 or counts["imgs"] != counts["appImgs"]:
        raise CheckFailed(f"{where}: expected one app and no picture outside it, got {counts}")


def change(page, label, kind, value):
    """Set one control of the app, found by its label, the way a user would."""
    control = page.locator(f"{APP} .widget-inline-hbox").filter(
        has=page.locator("label.widget-label", has_text=label)
    )
    if kind == "dropdown":
        control.locator("select").select_option(label=value)
    else:  # a slider: type into its readout, as a user can
        readout = control.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(value)
        page.keyboard.press("Enter")


def redraw(page, label, kind, value, timeout):
    """Change a control and wait for the new picture at initialisation; returns seconds to the new picture."""
    before = image(page, INIT)
    start = time.monotonic()
    change(page, label, kind, value)
    page.wait_for_function(
        """([sel, old]) => { const i = document.querySelector(sel + ' img');
            return i && i.getAttribute('src') !== old; }""",
        arg=[INIT, before],
        polling=20,
        timeout=timeout * 1000,
    )
    return time.monotonic() - start


def status_shows(page, *words):
    """The app's status line if it holds one of words, else None."""
    status = text_of(page, STATUS)
    return status if any(w in status for w in words) else None


def button(page, name):
    return page.locator(f"{APP} button", has_text=name)


def progress_width(page):
    """The progress bar's fill, 0 to 100 (%)."""
    return page.evaluate(
        """(sel) => { const b = document.querySelector(sel + ' .progress-bar');
            return b ? parseFloat(b.style.width || '0') : -1; }""",
        APP,
    )


def check_training(page, name, timeout):
    """Train pressed: progress moves, a curve appears; a control change during a long run stops it."""
    button(page, "Train").click()
    seen = wait_for(
        page, f"{name}: training to report an epoch", lambda: status_shows(page, "epoch", "Done"), timeout
    )
    wait_for(page, f"{name}: the training curve", lambda: image(page, TRAINING), timeout)
    if progress_width(page) < 99:
        raise CheckFailed(f"{name}: training finished with the progress bar at {progress_width(page)} %")
    log(f"{name}: Train: progress shown ({seen!r}), curve drawn, status {text_of(page, STATUS)!r}")
    page.locator(APP).screenshot(path=SHOTS / f"{name}-4-trained.png")
    change(page, "epochs", "slider", "20")
    wait_for(page, f"{name}: the old curve to go", lambda: image(page, TRAINING) is None, timeout)
    change(page, "width", "slider", "256")  # slow epochs: the run will be under way when we change a control
    page.wait_for_timeout(500)
    button(page, "Train").click()
    wait_for(page, f"{name}: the long run to start", lambda: status_shows(page, "epoch"), timeout)
    progress = progress_width(page)
    page.locator(APP).screenshot(path=SHOTS / f"{name}-5-training.png")
    start = time.monotonic()
    change(page, "seed", "slider", "1")
    wait_for(page, f"{name}: the run to stop", lambda: status_shows(page, "Press Train"), timeout)
    stopped = time.monotonic() - start
    page.wait_for_timeout(3000)  # a run that went on would report epochs or draw its curve by now
    status = text_of(page, STATUS)
    if "Press Train" not in status or image(page, TRAINING) is not None or progress_width(page) != 0:
        raise CheckFailed(f"{name}: after a control change the run went on: status {status!r}")
    if not button(page, "Train").is_enabled():
        raise CheckFailed(f"{name}: the Train button stays disabled after the run stopped")
    log(f"{name}: a control change at {progress:.0f} % of a 20-epoch run stopped it in {stopped:.1f} s")
    page.locator(APP).screenshot(path=SHOTS / f"{name}-6-stopped.png")


def exercise_app(page, name, errors, timeout, startup):
    """Wait for the app, time three redraws, train, stop a run by a change; screenshots as it goes."""
    app = page.locator(APP)
    wait_for(page, f"{name}: the app's picture at initialisation", lambda: image(page, INIT), startup)
    app.scroll_into_view_if_needed()
    check_no_errors(page, errors, f"{name}, after running every cell")
    if name == "voila":
        check_app_alone(page, name)
    page.screenshot(path=SHOTS / f"{name}-page.png", full_page=True)
    app.screenshot(path=SHOTS / f"{name}-0-defaults.png")
    seconds = []
    for step, (what, label, kind, value) in enumerate(CHANGES, 1):
        before = pixels(image(page, INIT))
        seconds.append(redraw(page, label, kind, value, timeout))
        moved = changed_fraction(before, pixels(image(page, INIT)))
        log(f"{name}: {what}: picture at init redrawn in {seconds[-1]:.2f} s; {moved:.0%} of it changed")
        if moved < 0.005:
            raise CheckFailed(f"{name}: after {what} the picture barely changed ({moved:.1%})")
        check_no_errors(page, errors, f"{name}, after {what}")
        app.screenshot(path=SHOTS / f"{name}-{step}-{label.replace(' ', '-')}.png")
    median = sorted(seconds)[len(seconds) // 2]
    log(f"{name}: redraw in the browser: median {median:.2f} s of {len(seconds)} (limit {REDRAW_LIMIT} s)")
    if median > REDRAW_LIMIT:
        raise CheckFailed(f"{name}: the picture took {median:.1f} s to redraw (limit {REDRAW_LIMIT} s)")
    check_training(page, name, timeout)
    check_no_errors(page, errors, f"{name}, after training")


def browse(pw, profile, url, name, prepare, timeout, startup):
    """Open url in a fresh headless Chromium profile, run prepare(page), then exercise the app."""
    context = pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 1440, "height": 1000},
    )
    try:
        page = context.new_page()
        page.set_default_timeout(timeout * 1000)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="commit")  # Voila streams the page while it runs the cells
        try:
            prepare(page)
            exercise_app(page, name, errors, timeout, startup)
        except Exception:
            page.screenshot(path=SHOTS / f"{name}-FAILED.png", full_page=True)
            raise
    finally:
        context.close()


def run_all_cells_in_lab(page, startup):
    """Wait for JupyterLab and the kernel, run all cells, wait until none is pending."""
    wait_for(
        page,
        "JupyterLab to open the notebook with an idle kernel",
        lambda: page.evaluate(
            """() => {
                const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const s = w && w.sessionContext && w.sessionContext.session;
                const k = s && s.kernel;
                return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
            }"""
        ),
        startup,
    )
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    wait_for(
        page,
        "every cell to finish",
        lambda: page.evaluate(
            """() => {
                const w = window.jupyterapp.shell.currentWidget;
                const code = w.content.widgets.filter((c) => c.model.type === 'code');
                const ran = code.every((c) => c.model.executionCount !== null);
                const done = ran && !w.content.node.querySelector('.jp-InputPrompt[data-prompt="*"]');
                return done && w.sessionContext.session.kernel.status === 'idle';
            }"""
        ),
        startup,
    )


def check_lab(pw, workdir, timeout, startup):
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--expose-app-in-browser",
        f"--ServerApp.root_dir={workdir / 'notebooks'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.port_retries=0",  # fail loudly rather than serve on another port
    ] + (["--allow-root"] if os.geteuid() == 0 else [])
    with server("lab", cmd, f"http://127.0.0.1:{port}/api/status?token={token}", workdir, startup):
        url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}&reset"
        run_all = lambda page: run_all_cells_in_lab(page, startup)  # noqa: E731
        browse(pw, workdir / "profile-lab", url, "lab", run_all, timeout, startup)


def check_voila(pw, workdir, timeout, startup):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(workdir / "notebooks" / "app" / APP_NOTEBOOK.name),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
    ]
    with server("voila", cmd, f"http://127.0.0.1:{port}/voila/static/", workdir, startup):
        url = f"http://127.0.0.1:{port}/"
        browse(pw, workdir / "profile-voila", url, "voila", lambda page: None, timeout, startup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["lab", "voila"], help="check one of the two (default: both)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a redraw may take (default 120)")
    parser.add_argument(
        "--startup", type=float, default=300, help="seconds to start a server or run all cells (default 300)"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"test-browser: {CHROMIUM} is missing; as root: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("test-browser: Playwright for Python is missing; run `make env` (it is in the dev extras)")
    # An interrupted or timed-out run still stops the servers it started (the `finally` blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("test-browser: terminated"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SHOTS.glob("lab-*"), *SHOTS.glob("voila-*")]:  # this script's files from an earlier run
        old.unlink()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="test-browser-") as tmp:
        workdir = Path(tmp)
        (workdir / "notebooks").mkdir()
        # Work on a copy: JupyterLab saves what it runs, and the stored notebook must stay as it is.
        shutil.copy(NOTEBOOK, workdir / "notebooks" / NOTEBOOK.name)
        (workdir / "notebooks" / "app").mkdir()
        shutil.copy(APP_NOTEBOOK, workdir / "notebooks" / "app" / APP_NOTEBOOK.name)
        failures = []
        with sync_playwright() as pw:
            for name, check in (("lab", check_lab), ("voila", check_voila)):
                if args.only not in (None, name):
                    continue
                t = time.monotonic()
                try:
                    check(pw, workdir, args.timeout, args.startup)
                    log(f"{name}: passed in {time.monotonic() - t:.0f} s")
                except Exception as e:  # report every failure, then fail once
                    log(f"{name}: FAILED: {type(e).__name__}: {e}")
                    failures.append(name)
    log(f"screenshots and server logs in {SHOTS.relative_to(ROOT)}/; total {time.monotonic() - start:.0f} s")
    if failures:
        sys.exit(f"test-browser: FAILED ({', '.join(failures)})")
    log("passed")


if __name__ == "__main__":
    main()
