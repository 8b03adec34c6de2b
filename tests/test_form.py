"""Every lesson and deep dive keeps the classroom form (see LESSON-FORM.md).

The measures are those of the form's own tool (../shared/tools/lessonform.py, with --strict), written again
here so that the project's test runs anywhere; a test checks that both measure today's notebooks alike. One
measure is added: the widest figure in inches at the dpi it was stored at (the tool assumes 150 dpi).
"""

import base64
import json
import re
import struct
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "lessonform.py"
# Every core lesson and deep dive, relative to notebooks/; each is held to every limit of the form.
REWRITTEN = sorted(
    str(p.relative_to(ROOT / "notebooks"))
    for p in [
        *(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"),
        *(ROOT / "notebooks" / "deeper").glob("*.ipynb"),
    ]
)
LIMITS = {
    "words": 2000,  # prose before the exercises: about 15 minutes spoken
    "code": 150,  # teaching code lines (cells not tagged `check`)
    "cell": 25,  # the longest teaching cell
    "slide_lines": 40,  # source lines on one slide
    "slide_figs": 1,  # figures on one slide
    "buried": 0,  # markdown cells with a heading after their first line
    "fig_in": 10.0,  # the widest figure, inches at 150 dpi (as the tool measures it)
    "width_in": 10.2,  # the widest figure, inches at its stored dpi (10 in and the tight bounding box's pad)
    "unrevealed": 0,  # predict prompts whose reveal is not stored collapsed
    "loud_checks": 0,  # check cells on a slide, with their source shown, or over 10 lines
}
DEEPER_WORDS = 2500
TAIL = re.compile(r"#+\s*(\d+\s*[·.]\s*)?(exercises|references|going deeper)", re.I)


def source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def lines(cell):
    return [line for line in source(cell).splitlines() if line.strip()]


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def kind(cell):
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def hidden(cell, what):
    return bool(cell.get("metadata", {}).get("jupyter", {}).get(what))


def pngs(cell):
    return [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


def png_width(b64):
    """(width in pixels, dots per inch stored in its pHYs chunk or None) of a base64 PNG."""
    raw = base64.b64decode(b64)
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, None
    width, i = struct.unpack(">I", raw[16:20])[0], 8
    while i + 8 <= len(raw):
        size, kind_ = struct.unpack(">I4s", raw[i : i + 8])
        if kind_ == b"pHYs":
            per_metre, _, unit = struct.unpack(">IIB", raw[i + 8 : i + 17])
            return width, per_metre * 0.0254 if unit == 1 else None
        if kind_ == b"IDAT":
            break
        i += 12 + size
    return width, None


def measure(path):
    """The form's measures of one notebook, as lessonform.py takes them (plus width_in)."""
    cells = json.loads(Path(path).read_text())["cells"]
    words, tail = 0, False
    for c in cells:
        if c["cell_type"] == "markdown":
            first = source(c).lstrip().splitlines()[0] if source(c).strip() else ""
            tail = tail or bool(TAIL.match(first))
            if not tail:
                words += len(re.sub(r"\$[^$]*\$", " x ", source(c)).split())
    teach = [c for c in cells if c["cell_type"] == "code" and "check" not in tags(c)]
    slides = []  # [source lines, figures] of each slide; skipped cells and notes are on none
    for c in cells:
        if kind(c) in ("skip", "notes"):
            continue
        if kind(c) in ("slide", "subslide") or not slides:
            slides.append([0, 0])
        slides[-1][0] += len(lines(c))
        slides[-1][1] += len(pngs(c))
    heading = re.compile(r"#{1,4}\s")
    buried = [c for c in cells if c["cell_type"] == "markdown" and any(map(heading.match, lines(c)[1:]))]
    sizes = [png_width(p) for c in cells for p in pngs(c)]
    unrevealed = 0
    for i, c in enumerate(cells):
        if "predict" in tags(c) or re.search(r"predict,? then run", source(c), re.I):
            reveal = next((d for d in cells[i + 1 :] if d["cell_type"] == "code"), None)
            unrevealed += reveal is None or not hidden(reveal, "outputs_hidden")
    checks = [c for c in cells if "check" in tags(c)]
    loud = [c for c in checks if kind(c) != "skip" or len(lines(c)) > 10 or not hidden(c, "source_hidden")]
    refs = any(
        c["cell_type"] == "markdown" and re.match(r"#+\s*references", source(c).strip(), re.I) for c in cells
    )
    return {
        "words": words,
        "code": sum(len(lines(c)) for c in teach),
        "cell": max((len(lines(c)) for c in teach), default=0),
        "slides": len(slides),
        "slide_lines": max((s[0] for s in slides), default=0),
        "slide_figs": max((s[1] for s in slides), default=0),
        "buried": len(buried),
        "fig_in": round(max((w / 150.0 for w, _ in sizes), default=0), 1),
        "width_in": round(max((w / (dpi or 150.0) for w, dpi in sizes), default=0), 2),
        "unrevealed": unrevealed,
        "loud_checks": len(loud),
        "refs": refs,
    }


def outside_the_form(path):
    """The limits a notebook passes, as 'name value > limit' (empty when it keeps the form)."""
    m = measure(path)
    limits = dict(LIMITS, words=DEEPER_WORDS if "deeper" in Path(path).parts else LIMITS["words"])
    over = [f"{k} {m[k]} > {v}" for k, v in limits.items() if m[k] > v]
    return over + ([] if m["refs"] else ["no References section"])


@pytest.mark.parametrize("name", REWRITTEN)
def test_rewritten_lesson_keeps_the_classroom_form(name):
    assert outside_the_form(ROOT / "notebooks" / name) == [], f"{name} left the classroom form"


def check_cell_problems(path):
    """What breaks the form's check and predict cells: asserts outside a quiet check cell, answers on show."""
    cells, problems = nbformat.read(path, as_version=4).cells, []
    for i, c in enumerate(cells):
        asserts = c.cell_type == "code" and (re.search(r"^\s*assert\b", c.source, re.M) or "✓" in c.source)
        if asserts and "check" not in tags(c):
            problems.append(f"cell {i} asserts a claim but is not tagged `check`")
        if "check" in tags(c):
            if not hidden(c, "source_hidden"):
                problems.append(f"cell {i}: a check cell's source must be hidden")
            if kind(c) != "skip":
                problems.append(f"cell {i}: a check cell must be `skip` on the slides")
            if len(lines(c)) > 10:
                problems.append(f"cell {i}: a check cell must have at most 10 lines")
        if "predict" in tags(c):
            reveal = next((d for d in cells[i + 1 :] if d.cell_type == "code"), None)
            if reveal is None or not hidden(reveal, "outputs_hidden"):
                problems.append(
                    f"cell {i}: the reveal after a `predict` prompt must be stored with its output collapsed"
                )
    return problems


@pytest.mark.parametrize("name", REWRITTEN)
def test_rewritten_lesson_checks_quietly_and_reveals_on_request(name):
    assert check_cell_problems(ROOT / "notebooks" / name) == [], name


# The mechanism: a notebook in the form passes, and each way out of it is caught.


def figure_png(width):
    """A stored figure `width` inches wide at 100 dpi, as the notebooks' inline backend stores it."""
    import io

    fig, buf = Figure(figsize=(width, 3), dpi=100), io.BytesIO()
    fig.subplots().plot([1, 2])
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def lesson(path, words=600, code_lines=8, heading_inside=False, fig_width=7.5, check=None, reveal=True):
    """A small lesson in the form, written to path; the arguments take it out of the form one way each."""
    v4 = nbformat.v4
    md = lambda text, kind="slide": v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": kind}})  # noqa: E731
    prose = " ".join(["word"] * (words // 3))
    code = v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(code_lines)))
    code.outputs = [
        v4.new_output("display_data", {"image/png": figure_png(fig_width), "text/plain": "<Figure>"})
    ]
    code.metadata["slideshow"] = {"slide_type": "fragment"}
    checked = v4.new_code_cell("assert x0 == 0\nprint('✓ x0 is 0')", outputs=[])
    checked.metadata.update(tags=["check"], slideshow={"slide_type": "skip"}, jupyter={"source_hidden": True})
    checked.metadata.update(check or {})
    predict = md("**Predict.** Is x0 zero? (a) yes (b) no", "fragment")
    predict.metadata["tags"] = ["predict"]
    answer = v4.new_code_cell("x0", metadata={"slideshow": {"slide_type": "fragment"}})
    if reveal:
        answer.metadata["jupyter"] = {"outputs_hidden": True}
    cells = [
        md("# A lesson\n\nWhat you will learn."),
        md("## One idea" + ("\n\n### buried" if heading_inside else "")),
    ]
    cells += [
        md(prose, "fragment"),
        code,
        checked,
        md(prose, "fragment"),
        predict,
        answer,
        md(f"## Recap\n\n{prose}"),
    ]
    cells += [md("## Exercises\n\n" + prose * 3), md("## References\n\nHe et al. (2015).")]
    nbformat.write(v4.new_notebook(cells=cells), path)
    return path


def test_a_lesson_in_the_form_passes(tmp_path):
    path = lesson(tmp_path / "00_good.ipynb")
    m = measure(path)
    assert outside_the_form(path) == [], m
    assert (
        m["words"] > 500
        and m["code"] == 9  # and the reveal's line
        and m["slides"] == 5
        and m["width_in"] == pytest.approx(7.6, abs=0.2)
    )


@pytest.mark.parametrize(
    "change, caught",
    [
        ({"words": 2100}, "words"),
        ({"code_lines": 30}, "cell 30 > 25"),
        ({"heading_inside": True}, "buried 1 > 0"),
        ({"fig_width": 12}, "width_in"),
        ({"fig_width": 16}, "fig_in"),
        ({"reveal": False}, "unrevealed 1 > 0"),
        ({"check": {"jupyter": {}}}, "loud_checks 1 > 0"),
        ({"check": {"slideshow": {"slide_type": "fragment"}}}, "loud_checks 1 > 0"),
    ],
)
def test_each_way_out_of_the_form_is_caught(tmp_path, change, caught):
    assert any(
        line.startswith(caught) for line in outside_the_form(lesson(tmp_path / "00_bad.ipynb", **change))
    )


def test_a_deep_dive_may_run_to_2500_words(tmp_path):
    (tmp_path / "deeper").mkdir()
    assert outside_the_form(lesson(tmp_path / "deeper" / "00_more.ipynb", words=2400)) == []
    assert outside_the_form(lesson(tmp_path / "00_more.ipynb", words=2400))[0].startswith("words")


def test_a_lesson_without_references_or_with_two_figures_on_a_slide_is_caught(tmp_path):
    path = lesson(tmp_path / "00_bad.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = "## Further reading"
    nb.cells.insert(4, nbformat.v4.new_code_cell("x0", outputs=nb.cells[3].outputs))  # a second figure
    nbformat.write(nb, path)
    assert outside_the_form(path) == ["slide_figs 2 > 1", "no References section"]


@pytest.mark.skipif(not TOOL.exists(), reason="the form's tool lives outside this repository")
def test_the_measures_are_the_tools_on_todays_notebooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lessonform", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert {
        k: v for k, v in LIMITS.items() if k != "width_in"
    } == tool.LIMITS and DEEPER_WORDS == tool.DEEPER_WORDS
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (ROOT / "notebooks/deeper").glob("*.ipynb")
    )
    for path in paths:
        mine = measure(path)
        del mine["width_in"]
        assert mine == tool.measure(str(path)), path.name


def test_check_and_predict_cells_out_of_the_form_are_caught(tmp_path):
    assert check_cell_problems(lesson(tmp_path / "good.ipynb")) == []
    bad = [
        ({"check": {"tags": []}}, "asserts a claim but is not tagged"),
        ({"check": {"jupyter": {}}}, "source must be hidden"),
        ({"check": {"slideshow": {"slide_type": "fragment"}}}, "must be `skip`"),
        ({"reveal": False}, "output collapsed"),
    ]
    for change, caught in bad:
        problems = check_cell_problems(lesson(tmp_path / "bad.ipynb", **change))
        assert len(problems) == 1 and caught in problems[0], (change, problems)
    path = lesson(tmp_path / "long.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[4].source += "\n" + "\n".join(f"assert {i} == {i}" for i in range(10))
    nbformat.write(nb, path)
    assert check_cell_problems(path) == ["cell 4: a check cell must have at most 10 lines"]


def test_the_slides_rule_follows_the_form():
    import importlib.util

    spec = importlib.util.spec_from_file_location("slides", ROOT / "scripts" / "slides.py")
    slides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slides)
    v4 = nbformat.v4
    check = v4.new_code_cell("assert True", metadata={"tags": ["check"]})
    cases = [
        (v4.new_markdown_cell("# Title"), True, "slide"),
        (v4.new_markdown_cell("Some prose."), True, "slide"),
        (v4.new_markdown_cell("## A section\n\nIts first idea."), False, "slide"),
        (v4.new_markdown_cell("\n### A subsection"), False, "slide"),
        (v4.new_markdown_cell("#### A paragraph heading"), False, "fragment"),
        (v4.new_markdown_cell("Prose, then\n## a buried heading"), False, "fragment"),
        (v4.new_markdown_cell("**Exercise 2.** Change the gain."), False, "slide"),
        (v4.new_markdown_cell("In this notebook we measured ..."), False, "slide"),
        (v4.new_code_cell("x = 1"), False, "fragment"),
        (check, False, "skip"),
    ]
    assert [slides.slide_type(cell, first) for cell, first, _ in cases] == [kind for _, _, kind in cases]
