"""Open every page of the offline site in headless Chromium with the network cut off and check it.

Each page must load, show every figure its notebook stored, and typeset every formula (no raw $...$ left,
no MathJax error). Usage: python tests/browser/check_site.py [SITE_DIR]   (exit 1 on any problem)
"""

import json
import re
import sys
import tempfile
from pathlib import Path

from check_playground import CHROMIUM, FLAGS  # the Chromium set-up that works here
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]


def stored_figures(notebook):
    """Number of PNG/SVG outputs the executed notebook holds."""
    cells = json.loads(notebook.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    return sum(1 for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {})))


def has_math(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return bool(re.search(r"\$[^$\s][^$]*\$", text))


def notebook_of(page):
    stem = page.stem.removeprefix("solutions-")
    folder = ROOT / "notebooks" / ("solutions" if page.stem.startswith("solutions-") else "")
    return folder / f"{stem}.ipynb"


def check(site):
    problems = []
    pages = sorted(site.glob("*.html"))
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
            notebook = notebook_of(path)
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
            if errors:
                problems.append(f"{path.name}: page errors: {errors[:2]}")
        browser.close()
    if outside:
        problems.append(f"requests left the machine: {sorted(set(outside))[:3]}")
    return pages, problems


if __name__ == "__main__":
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    pages, problems = check(site)
    for line in problems:
        print("FAIL", line)
    failed = {line.split(":")[0] for line in problems}  # pages with a problem (or the whole site)
    print(f"site: {len(pages) - len(failed & {p.name for p in pages})} passed, {len(failed)} failed")
    sys.exit(1 if problems or not pages else 0)
