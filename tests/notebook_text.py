"""What a stored notebook shows a student: every source line and text output (tests look for answers)."""

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lesson_text(name):
    """Every source line and text output of notebooks/<name>, as one string."""
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    parts = ["".join(c["source"]) for c in cells]
    for c in cells:
        for o in c.get("outputs", []):
            parts.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)
