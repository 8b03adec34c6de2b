"""Open every page of the offline site in headless Chromium with the network cut off and check it.

Each page must load, show every figure its notebook stored, and typeset every formula (no raw $...$ left,
no MathJax error). The classroom form must survive the rendering: every reveal cell's answer sits in a closed
<details> ("Show the answer") that opens on a click, every check cell shows its one-line result and not its
source, every widget shows a figure or a note instead of `interactive(children=...)`, and no link points at a
notebook file. A small fixture notebook with one of each is built into its own site and checked first, so the
checks are exercised even while the lessons hold none of these cells.
Usage: python tests/browser/check_site.py [SITE_DIR]   (exit 1 on any problem)
"""

import base64
import importlib.util
import io
import json
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from check_playground import CHROMIUM, FLAGS  # the Chromium set-up that works here
from matplotlib.figure import Figure
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
WIDGET = "application/vnd.jupyter.widget-view+json"
spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)


def stored_figures(notebook):
    """Number of PNG/SVG outputs the executed notebook holds."""
    cells = json.loads(notebook.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    return sum(1 for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {})))


def has_math(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return bool(re.search(r"\$[^$\s][^$]*\$", text))


def form_cells(notebook):
    """How many reveal cells (collapsed output), check cells and widget outputs the notebook holds."""
    code = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    meta = [(c.get("metadata", {}), c.get("outputs", [])) for c in code]
    reveals = sum(1 for m, outs in meta if outs and m.get("jupyter", {}).get("outputs_hidden"))
    checks = sum(1 for m, _ in meta if "check" in m.get("tags", []))
    widgets = sum(1 for _, outs in meta for o in outs if WIDGET in o.get("data", {}))
    return reveals, checks, widgets


# Run in the page: what the browser shows of the form's cells.
FORM_JS = """() => {
  const shown = e => e.checkVisibility({visibilityProperty: true});  // false inside a closed <details>
  const reveals = [...document.querySelectorAll('details.reveal')];
  const checks = [...document.querySelectorAll('.jp-CodeCell.celltag_check')];
  return {
    reveals: reveals.length,
    bad_reveals: reveals.filter(d => d.open
      || d.querySelector('summary').innerText.trim() !== 'Show the answer'
      || !d.querySelector('.jp-OutputArea-output')
      || [...d.querySelectorAll('.jp-OutputArea-output')].some(shown)).length,
    checks: checks.length,
    check_sources: checks.filter(c => c.querySelector('.jp-InputArea-editor')).length,
    long_checks: checks.filter(c => c.innerText.trim().split('\\n').filter(l => l.trim()).length > 1)
      .map(c => c.innerText.trim().slice(0, 80)),
    widget_notes: document.querySelectorAll('.widget-static').length,
    widget_reprs: (document.body.innerText.match(/\\b(VBox|HBox|interactive|Box)\\(children=/g) || [])
      .length,
    notebook_links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
      .filter(h => /^(?![a-z]+:).*\\.ipynb(#|$)/.test(h)),
  };
}"""


def check_form(page, name, notebook):
    """Problems with the classroom form's cells on one loaded page."""
    reveals, checks, widgets = form_cells(notebook)
    seen = page.evaluate(FORM_JS)
    problems = []
    if seen["reveals"] != reveals or seen["bad_reveals"]:
        problems.append(
            f"{name}: {seen['reveals']} of {reveals} answers in a <details>, {seen['bad_reveals']} of them "
            "open, unnamed 'Show the answer' or empty"
        )
    if reveals and seen["reveals"]:  # the first answer opens on a click
        page.locator("details.reveal > summary").first.click()
        if not page.locator("details.reveal").first.locator(".jp-OutputArea-output").first.is_visible():
            problems.append(f"{name}: 'Show the answer' does not show the answer")
    if seen["checks"] != checks or seen["check_sources"]:
        problems.append(
            f"{name}: {seen['checks']} of {checks} check cells, {seen['check_sources']} show source"
        )
    if seen["long_checks"]:
        problems.append(f"{name}: a check cell prints more than one line: {seen['long_checks'][0]!r}")
    if seen["widget_notes"] != widgets or seen["widget_reprs"]:
        problems.append(
            f"{name}: {seen['widget_notes']} of {widgets} widgets shown as a static figure or note, "
            f"{seen['widget_reprs']} printed as children=(...)"
        )
    if seen["notebook_links"]:
        problems.append(f"{name}: links to a notebook file, not its page: {seen['notebook_links'][:2]}")
    return problems


def check(site, notebooks=ROOT / "notebooks"):
    """(pages, problems) of the site built from the notebooks under `notebooks`."""
    problems = []
    pages = sorted(site.glob("*.html"))
    notebook_of = {name: path for name, _, path in build_site.pages(notebooks)}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        outside = []
        browser.route(
            re.compile(r"^(?!file:).*"), lambda route: (outside.append(route.request.url), route.abort())
        )
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for path in pages:
            errors.clear()
            page.goto(path.as_uri(), wait_until="load", timeout=30_000)
            if path.name == "index.html":
                links = page.locator("ol li a").count()
                if links != len(pages) - 1:
                    problems.append(f"index.html: {links} links for {len(pages) - 1} pages")
                continue
            if path.name not in notebook_of:
                problems.append(f"{path.name}: no notebook makes this page (a stale site? run make site)")
                continue
            notebook = notebook_of[path.name]
            expected = stored_figures(notebook)
            shown = page.evaluate(
                "() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                ".filter(i => i.complete && i.naturalWidth > 0).length"
            )
            if shown < expected:
                problems.append(f"{path.name}: {shown} of {expected} figures shown")
            if has_math(notebook):
                page.wait_for_function(
                    "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                    " && document.querySelectorAll('.MathJax, .MathJax_Display, .mjx-chtml').length > 0",
                    timeout=30_000,
                )
                raw = page.evaluate(
                    "() => [...document.querySelectorAll('.jp-RenderedMarkdown')]"
                    ".some(e => /\\$\\$|\\\\frac|\\\\sigma/.test(e.innerText))"
                )
                if raw:
                    problems.append(f"{path.name}: a formula was left as raw TeX")
                if page.locator(".MathJax_Error, merror").count():
                    problems.append(f"{path.name}: MathJax reported an error")
            problems += check_form(page, path.name, notebook)
            if errors:
                problems.append(f"{path.name}: page errors: {errors[:2]}")
        browser.close()
    if outside:
        problems.append(f"requests left the machine: {sorted(set(outside))[:3]}")
    return pages, problems


def png():
    """A small PNG figure, base64-encoded, as a widget's Output area stores it."""
    fig, buf = Figure(figsize=(2, 1.5)), io.BytesIO()
    fig.subplots().plot([1, 3, 2])
    fig.savefig(buf, format="png", dpi=50)
    return base64.b64encode(buf.getvalue()).decode()


def fixture(folder):
    """notebooks/00_fixture.ipynb under folder: a predict prompt and its reveal, a check cell, two widgets."""
    v4 = nbformat.v4
    out = lambda text: v4.new_output("stream", name="stdout", text=text)  # noqa: E731
    widget = lambda model: v4.new_output(  # noqa: E731
        "display_data",
        {WIDGET: {"model_id": model, "version_major": 2}, "text/plain": "interactive(children=(...))"},
    )
    reveal = v4.new_code_cell("print(answer)", outputs=[out("the answer is B\n")])
    reveal.metadata["jupyter"] = {"outputs_hidden": True}
    check = v4.new_code_cell(
        "assert answer == 'B'\nprint('✓ the answer is B')", outputs=[out("✓ the answer is B\n")]
    )
    check.metadata.update(tags=["check"], jupyter={"source_hidden": True})
    predict = v4.new_markdown_cell("**Predict.** Which is it: A or B?")
    predict.metadata["tags"] = ["predict"]
    cells = [v4.new_markdown_cell("# Fixture\n\nOne cell of each kind."), predict, reveal, check]
    cells += [
        v4.new_code_cell("interact(f)", outputs=[widget("aaa")]),
        v4.new_code_cell("app", outputs=[widget("box")]),
    ]
    nb = v4.new_notebook(cells=cells)
    state = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_out"]}}}
    state["out"] = {
        "model_name": "OutputModel",
        "state": {"outputs": [{"output_type": "display_data", "data": {"image/png": png()}}]},
    }
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2}
    }
    (folder / "notebooks").mkdir()
    nbformat.write(nb, folder / "notebooks" / "00_fixture.ipynb")
    return folder / "notebooks"


def check_fixture():
    """Problems of the fixture's site: the form's checks pass on it, and found each kind of cell."""
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = fixture(Path(tmp))
        build_site.build(Path(tmp) / "site", notebooks)
        _, problems = check(Path(tmp) / "site", notebooks)
        html = (Path(tmp) / "site" / "00_fixture.html").read_text()
        kinds = form_cells(notebooks / "00_fixture.ipynb")
    if kinds != (1, 1, 2) or html.count("<img") < 1:
        problems.append("fixture: expected one reveal, one check cell, two widgets and the widget's figure")
    text = re.sub(r"<[^>]+>", "", html)  # the source as the page shows it, without its highlighting
    if "print(answer)" not in text or "assert answer" in text:
        problems.append("fixture: a reveal's source must show and a check cell's must not")
    return ["fixture " + line for line in problems]


if __name__ == "__main__":
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    in_fixture = check_fixture()
    pages, problems = check(site)
    for line in in_fixture + problems:
        print("FAIL", line)
    failed = {line.split(":")[0] for line in problems}  # pages with a problem (or the whole site)
    print(f"form fixture: {'failed' if in_fixture else 'passed'}")
    print(f"site: {len(pages) - len(failed & {p.name for p in pages})} passed, {len(failed)} failed")
    sys.exit(1 if in_fixture or problems or not pages else 0)
