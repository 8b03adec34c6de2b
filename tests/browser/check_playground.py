"""Real-browser check of notebooks/07_playground.ipynb, in JupyterLab and as a Voilà app.

For each server: start it on a free localhost port, open the notebook in headless Chromium (Debian's
/usr/bin/chromium driven by Playwright), let every cell run, change three controls of the app and check
that the pictures' pixels change and that no error shows in the page or in any output. Screenshots go to
build/screenshots/. Run it with `make test-browser`; exit status 0 means both passed.
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
NOTEBOOK = ROOT / "notebooks" / "07_playground.ipynb"
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
APP = ".widget-vbox:has(> .widget-gridbox)"  # the app: a VBox of the controls' grid and two outputs
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


def figures(page):
    """The data URLs of the app's two pictures (at initialisation, training), or None while drawing."""
    return page.evaluate(
        """(sel) => {
            const app = document.querySelector(sel);
            if (!app) return null;
            const imgs = [...app.querySelectorAll('img')].map((i) => i.getAttribute('src'));
            return imgs.length === 2 ? imgs : null;
        }""",
        APP,
    )


def wait_for(page, what, predicate, timeout):
    """Poll predicate() (returns a value or None) until it gives a value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(200)
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
    ):
        if needle in body:
            raise CheckFailed(f"{where}: the page shows {needle!r}")


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


def exercise_app(page, name, errors, timeout, startup):
    """Wait for the app, change three controls, check that the pictures change; screenshots as it goes."""
    app = page.locator(APP)
    before = wait_for(page, f"{name}: the app's two pictures", lambda: figures(page), startup)
    app.scroll_into_view_if_needed()
    check_no_errors(page, errors, f"{name}, after running every cell")
    page.screenshot(path=SHOTS / f"{name}-page.png", full_page=True)
    app.screenshot(path=SHOTS / f"{name}-0-defaults.png")
    for step, (what, label, kind, value) in enumerate(CHANGES, 1):
        start, first = time.monotonic(), []
        change(page, label, kind, value)

        def redrawn(old=before, first=first, start=start):
            now = figures(page)
            if now and now[0] != old[0] and not first:
                first.append(time.monotonic() - start)
            return now if now and now[0] != old[0] and now[1] != old[1] else None

        after = wait_for(page, f"{name}: both pictures to redraw after {what}", redrawn, timeout)
        both = time.monotonic() - start
        page.wait_for_timeout(300)  # let a second, queued redraw land before comparing
        after = figures(page) or after
        moved = [changed_fraction(pixels(a), pixels(b)) for a, b in zip(before, after)]
        log(
            f"{name}: {what}: picture at init redrawn in {first[0]:.1f} s, training in {both:.1f} s; "
            f"{moved[0]:.0%} / {moved[1]:.0%} of their pixels changed"
        )
        if moved[0] < 0.005 or moved[1] == 0:  # each change above changes both pictures visibly
            raise CheckFailed(f"{name}: after {what} the pictures barely changed ({moved})")
        check_no_errors(page, errors, f"{name}, after {what}")
        app.screenshot(path=SHOTS / f"{name}-{step}-{label.replace(' ', '-')}.png")
        before = after


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
        str(workdir / "notebooks" / NOTEBOOK.name),
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
