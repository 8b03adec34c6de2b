"""Render the executed notebooks (lessons with their deep dives, then solutions) into an offline static site.

MathJax is copied from the jupyter-server-mathjax package, so formulas typeset with no network. The pages
keep the classroom form: a reveal cell (stored with its output collapsed, after a `predict` prompt) shows its
answer inside a <details> ("Show the answer"), a check cell (tagged `check`) shows its one-line result without
its source, and a widget shows the figure it stored (or a note) instead of `interactive(children=...)`.
Usage: python scripts/build_site.py [OUT_DIR]
"""

import html
import json
import re
import shutil
import sys
from pathlib import Path

import jinja2
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
details.reveal {margin:.3em 0 .3em 0; padding:.2em .6em; border-left:3px solid #E69F00}
details.reveal > summary {cursor:pointer; color:#0072B2; font:15px system-ui, sans-serif}
.celltag_check .jp-OutputArea-output pre {color:#009E73}
.widget-static {font-style:italic; color:#555}
</style>"""
# The lab template, with the form's three changes: check cells without their source, a collapsed output as a
# <details>, and (see static_widgets) no live widgets.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block input_group -%}
{%- set hidden = cell.metadata.get('jupyter', {}).get('source_hidden') -%}
{%- if 'check' not in cell.metadata.get('tags', []) and not hidden -%}
{{ super() }}
{%- endif -%}
{% endblock input_group %}
{% block output_group -%}
{%- if cell.outputs and cell.metadata.get('jupyter', {}).get('outputs_hidden') -%}
<details class="reveal"><summary>Show the answer</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock output_group %}
"""
WIDGET = "application/vnd.jupyter.widget-view+json"
SNAPSHOT = "A snapshot of an interactive figure: its controls work in JupyterLab."
NO_SNAPSHOT = "Interactive in JupyterLab: run this notebook there to use the controls."
# (folder under notebooks/, page-name prefix, title prefix)
KINDS = {"lesson": ("", "", ""), "deeper": ("deeper", "deeper-", "Going deeper: ")}
KINDS["solutions"] = ("solutions", "solutions-", "Solutions: ")


def title(path):
    """The notebook's first markdown heading, or its file name."""
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if m:
                return m.group(1).strip()
    return path.stem


def pages(notebooks=ROOT / "notebooks"):
    """(page name, title, notebook) for every page: each lesson, then its deep dive; the solutions last."""
    found = {
        kind: sorted((notebooks / folder).glob("[0-9][0-9]_*.ipynb"))
        for kind, (folder, _, _) in KINDS.items()
    }
    deeper, order = {p.name: p for p in found["deeper"]}, []
    for p in found["lesson"]:
        order += [("lesson", p)] + ([("deeper", deeper.pop(p.name))] if p.name in deeper else [])
    order += [("deeper", p) for p in deeper.values()] + [("solutions", p) for p in found["solutions"]]
    return [(KINDS[kind][1] + p.stem + ".html", KINDS[kind][2] + title(p), p) for kind, p in order]


def nav(pages, i):
    """Previous / contents / next links for page i."""
    prev = f'<a href="{pages[i - 1][0]}">← {html.escape(pages[i - 1][1])}</a>' if i > 0 else "<span></span>"
    nxt = (
        f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} →</a>'
        if i + 1 < len(pages)
        else "<span></span>"
    )
    return f'<nav class="series-nav">{prev}<a href="index.html">Contents</a>{nxt}</nav>'


def widget_pngs(state, model_id):
    """The PNG figures that a stored widget's Output areas (its own or its children's) last showed."""
    todo, seen, pngs = [model_id], set(), []
    while todo:
        mid = todo.pop(0)
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        model = state[mid]
        if model.get("model_name") == "OutputModel":
            pngs += [
                o["data"]["image/png"]
                for o in model["state"].get("outputs", [])
                if "image/png" in o.get("data", {})
            ]
        todo += re.findall(r"IPY_MODEL_(\w+)", json.dumps(model.get("state", {})))
    return pngs


def static_widgets(nb):
    """Each widget output replaced by the figure it stored, or a note: a static page has no kernel."""
    state = (
        nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    )
    for cell in nb.cells:
        if cell.cell_type != "code" or not any(WIDGET in o.get("data", {}) for o in cell.outputs):
            continue
        has_png = any("image/png" in o.get("data", {}) for o in cell.outputs)
        outputs = []
        for out in cell.outputs:
            if WIDGET not in out.get("data", {}):
                outputs.append(out)
                continue
            pngs = [] if has_png else widget_pngs(state, out["data"][WIDGET].get("model_id"))
            outputs += [
                nbformat.v4.new_output("display_data", {"image/png": p, "text/plain": "<Figure>"})
                for p in pngs
            ]
            note = SNAPSHOT if pngs or has_png else NO_SNAPSHOT
            html_note = f'<p class="widget-static">{note}</p>'
            outputs.append(
                nbformat.v4.new_output("display_data", {"text/html": html_note, "text/plain": note})
            )
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)  # live widgets need a kernel; their manager would come from a CDN
    return nb


def local_links(body, names):
    """Links to a notebook of the series (`../01_x.ipynb`, `solutions/01_x.ipynb`) as links to its page."""

    def page(m):
        prefix = {"deeper": "deeper-", "solutions": "solutions-"}.get(m.group(2) or "", "")
        name = f"{prefix}{m.group(3)}.html"
        return f'href="{name}{m.group(4) or ""}"' if name in names else m.group(0)

    return re.sub(r'href="(\.\./)?(?:(deeper|solutions)/)?(\d\d_[\w-]+)\.ipynb(#[^"]*)?"', page, body)


def exporter():
    return HTMLExporter(
        template_name="lab",
        template_file="site.html.j2",
        extra_loaders=[jinja2.DictLoader({"site.html.j2": TEMPLATE})],
        mathjax_url=MATHJAX,
    )


def render(path, exporter):
    nb = static_widgets(nbformat.read(path, as_version=4))
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"<script[^>]+require\.js[^>]*></script>", "", body)  # only widgets need it, from a CDN
    # the template's mermaid loader (for diagrams, which we don't use) also imports from a CDN
    return re.sub(r"<script type=\"module\">((?!</script>).)*?mermaid.*?</script>", "", body, flags=re.S)


def build(out, notebooks=ROOT / "notebooks"):
    """Write the site of the notebooks under `notebooks` into out; returns the page names."""
    site = pages(notebooks)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", out / "mathjax")
    export, names = exporter(), {n for n, _, _ in site}
    for i, (name, _, path) in enumerate(site):
        body = local_links(render(path, export), names)
        bar = nav([(n, t) for n, t, _ in site], i)
        body = re.sub(r"(<head[^>]*>)", r"\1" + MATHJAX_FONTS, body, count=1)
        body = body.replace("</head>", NAV_STYLE + "</head>", 1)
        body = re.sub(r"(<body[^>]*>)", r"\1" + bar, body, count=1)
        body = body.replace("</body>", bar + "</body>", 1)
        (out / name).write_text(body)
    items = "\n".join(f'<li><a href="{n}">{html.escape(t)}</a></li>' for n, t, _ in site)
    (out / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Why deep networks are hard to train</title>{NAV_STYLE}
<style>body {{font:17px/1.6 system-ui, sans-serif; max-width:760px; margin:3em auto; padding:0 1em}}</style>
</head><body><h1>Why deep networks are hard to train</h1>
<p>Vanishing and exploding gradients, and how initialisation and learning rates fix them.</p>
<ol>{items}</ol></body></html>"""
    )
    return [n for n, _, _ in site]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    names = build(target)
    print(
        f"{len(names)} pages written to {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
    )
