"""Give every cell of the lessons slideshow metadata for RISE (jupyterlab-rise), by one rule.

A markdown cell whose first line is a heading (`#`, `##`, `###`) opens a slide: one slide per idea. So does
the first cell, an exercise ("**Exercise 2.** ...") and the recap ("In this notebook we ..."), which the
classroom form wants as slides of their own even without a heading. Check cells (tagged `check`) are skipped:
they assert a claim for the regression run and are no part of the talk. Every other cell, code and the prose
between, is a fragment, so an experiment unfolds step by step.
Usage: python scripts/slides.py [NOTEBOOK ...]   (default: every lesson, deep dive and solution)
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HEADING = re.compile(r"#{1,3}\s")  # `####` and deeper stay on their section's slide
OWN_SLIDE = re.compile(r"(\*\*|__)?(exercises?\b|recap\b|in this notebook,? we\b)", re.I)


def first_line(cell):
    text = cell.source.strip()
    return text.splitlines()[0].strip() if text else ""


def slide_type(cell, first):
    """'slide', 'fragment' or 'skip' for one cell; first is True for the notebook's first cell."""
    if "check" in cell.metadata.get("tags", []):
        return "skip"
    if first:
        return "slide"
    if cell.cell_type == "markdown" and (
        HEADING.match(first_line(cell)) or OWN_SLIDE.match(first_line(cell))
    ):
        return "slide"
    return "fragment"


def tag(path):
    """Set the slideshow metadata of every cell of one notebook; True if anything changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for i, cell in enumerate(nb.cells):
        kind = slide_type(cell, i == 0)
        if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def notebooks():
    folders = [ROOT / "notebooks", ROOT / "notebooks" / "deeper", ROOT / "notebooks" / "solutions"]
    return [p for folder in folders for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or notebooks()
    changed = [p.name for p in paths if tag(p)]
    print(f"slideshow metadata set in {len(changed)} of {len(paths)} notebooks")
