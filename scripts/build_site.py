"""Render the executed notebooks (lessons, then solutions) into an offline static site under build/site/.

MathJax is copied from the jupyter-server-mathjax package, so formulas typeset with no network.
Usage: python scripts/build_site.py [OUT_DIR]
"""

import html
import json
import re
import shutil
import sys
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
# The packaged MathJax ships only the STIX-Web fonts: tell it so before it loads.
MATHJAX_FONTS = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web",
  imageFont: null, scale: 110}});
</script>"""
NAV_STYLE = """<style>
.series-nav {display:flex; justify-content:space-between; align-items:center; gap:1em; max-width:1100px;
  margin:0 auto; padding:.8em 1.2em; font:15px system-ui, sans-serif; border-bottom:1px solid #ddd}
.series-nav a {color:#0072B2; text-decoration:none} .series-nav a:hover {text-decoration:underline}
</style>"""


def title(path):
    """The notebook's first markdown heading, or its file name."""
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if m:
                return m.group(1).strip()
    return path.stem


def nav(pages, i):
    """Previous / contents / next links for page i."""
    prev = f'<a href="{pages[i - 1][0]}">← {html.escape(pages[i - 1][1])}</a>' if i > 0 else "<span></span>"
    nxt = (
        f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} →</a>'
        if i + 1 < len(pages)
        else "<span></span>"
    )
    return f'<nav class="series-nav">{prev}<a href="index.html">Contents</a>{nxt}</nav>'


def render(path, exporter):
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)  # live widgets need a kernel; their manager would come from a CDN
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"<script[^>]+require\.js[^>]*></script>", "", body)  # only widgets need it, from a CDN
    # the template's mermaid loader (for diagrams, which we don't use) also imports from a CDN
    return re.sub(r"<script type=\"module\">((?!</script>).)*?mermaid.*?</script>", "", body, flags=re.S)


def build(out):
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    solutions = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
    pages = [(p.stem + ".html", title(p), p) for p in lessons]
    pages += [("solutions-" + p.stem + ".html", "Solutions: " + title(p), p) for p in solutions]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", out / "mathjax")
    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX)
    for i, (name, _, path) in enumerate(pages):
        body = render(path, exporter)
        bar = nav([(n, t) for n, t, _ in pages], i)
        body = re.sub(r"(<head[^>]*>)", r"\1" + MATHJAX_FONTS, body, count=1)
        body = body.replace("</head>", NAV_STYLE + "</head>", 1)
        body = re.sub(r"(<body[^>]*>)", r"\1" + bar, body, count=1)
        body = body.replace("</body>", bar + "</body>", 1)
        (out / name).write_text(body)
    items = "\n".join(f'<li><a href="{n}">{html.escape(t)}</a></li>' for n, t, _ in pages)
    (out / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Why deep networks are hard to train</title>{NAV_STYLE}
<style>body {{font:17px/1.6 system-ui, sans-serif; max-width:760px; margin:3em auto; padding:0 1em}}</style>
</head><body><h1>Why deep networks are hard to train</h1>
<p>Vanishing and exploding gradients, and how initialisation and learning rates fix them.</p>
<ol>{items}</ol></body></html>"""
    )
    return [n for n, _, _ in pages]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    names = build(target)
    print(
        f"{len(names)} pages written to {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
    )
