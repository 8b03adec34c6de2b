"""The project's own files agree with each other: ranges in pyproject, one lock, one test command."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def constraints():
    """Package name (normalised) -> exact version pinned in constraints.txt."""
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pins}


def test_pyproject_declares_ranges_not_pins():
    project = pyproject()["project"]
    python = SpecifierSet(project["requires-python"])
    assert all(v in python for v in ("3.11", "3.12", "3.13")) and "3.10" not in python
    torch = next(Requirement(d) for d in project["dependencies"] if d.startswith("torch"))
    assert not any(s.operator == "==" for s in torch.specifier), "torch: a range, not an exact pin"
    assert "2.3" in torch.specifier and "2.2" not in torch.specifier  # numpy>=2 needs torch built against it


def test_constraints_pin_every_requirement_inside_its_range():
    project, pins = pyproject()["project"], constraints()
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    for line in requirements:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt: no exact version for {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} outside {req}"


def test_recorded_setting_agrees_with_the_lock_and_environment_yml():
    from helpers.env import RECORDED

    assert constraints()["torch"] == RECORDED["torch"].split("+")[0]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert f"python={RECORDED['python']}" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # conda users get exactly the locked versions: pip installs this project under constraints.txt
    assert "-c constraints.txt" in pip and '-e ".[dev]"' in pip
    conda_only = [d for d in deps if isinstance(d, str) and d not in (f"python={RECORDED['python']}", "pip")]
    assert conda_only == []
    assert re.search(r"-c constraints\.txt -e", (ROOT / "Makefile").read_text()), "make env installs the lock"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert re.search(r"^make test$", (ROOT / ".ci/run").read_text(), re.M)
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
    for command in re.findall(r"^make ([\w-]+)", readme, re.M):
        assert command in targets, f"README names `make {command}`, which the Makefile lacks"


def notebooks():
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")
    )


def test_every_lesson_has_a_solutions_notebook():
    lessons = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    solutions = {p.name for p in (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")}
    assert lessons and lessons == solutions


def test_every_cell_carries_slideshow_metadata_by_the_rule():
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("slides", ROOT / "scripts" / "slides.py")
    slides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slides)
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
        assert kinds == [slides.slide_type(c, i == 0) for i, c in enumerate(nb.cells)], (
            f"{path.name}: run `python scripts/slides.py`"
        )
        assert kinds.count("slide") >= 4, f"{path.name}: one slide per idea"


def test_lessons_end_with_checked_exercises():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        number = path.name[:2]
        assert text.count(f'helpers.exercises.check(\\"{number}.') >= 2, f"{path.name}: two checked exercises"


def test_links_between_notebooks_lead_somewhere():
    import nbformat

    link = re.compile(r"\]\(([^)#\s]+\.ipynb)(?:#[^)]*)?\)")  # markdown links to a notebook, anchors dropped
    missing = []
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                missing += [
                    f"{path.relative_to(ROOT)} -> {t}"
                    for t in link.findall(cell.source)
                    if not (path.parent / t).resolve().exists()
                ]
    deep_dives = sorted((ROOT / "notebooks" / "deeper").glob("*.ipynb"))
    for dive in deep_dives:  # each deep dive is reached from its lesson
        lesson = ROOT / "notebooks" / dive.name
        assert f"deeper/{dive.name}" in lesson.read_text(), f"{lesson.name} does not link its deep dive"
    assert missing == [], missing
