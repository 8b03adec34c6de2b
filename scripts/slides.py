"""Give every cell of the lessons slideshow metadata for RISE (jupyterlab-rise), by one rule.

A markdown cell opening with a heading starts a new slide: one slide per idea. Code cells and the prose that
follows them within a section appear as fragments, so an experiment unfolds step by step. Exercises and the
recap are slides of their own.
Usage: python scripts/slides.py [NOTEBOOK ...]   (default: every lesson and solution)
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def slide_type(cell, first):
    """'slide', 'fragment' or '-' for one cell."""
    if first:
        return "slide"
    if cell.cell_type == "markdown" and re.match(r"\s*#{1,3}\s", cell.source):
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
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")
    )


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or notebooks()
    changed = [p.name for p in paths if tag(p)]
    print(f"slideshow metadata set in {len(changed)} of {len(paths)} notebooks")
