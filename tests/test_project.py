"""The project's own files agree with each other: one set of pins, one test command."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_torch_is_pinned_exactly():
    deps = pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps


def test_environment_yml_installs_the_project_with_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # conda users get exactly the pyproject pins: pip installs this project, nothing pinned twice
    assert pip == ['-e ".[dev]"']
    conda_only = [d for d in deps if isinstance(d, str) and d not in ("python=3.11", "pip")]
    assert conda_only == []
    assert pyproject()["project"]["requires-python"] == ">=3.11,<3.12"


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
