"""The environment report: the facts a forum question needs, and the differences from the recorded setting."""

import subprocess
import sys

import torch

from helpers import env


def test_report_names_python_torch_build_code_path_and_threads():
    rows = dict(env.report())
    assert torch.__version__ in rows["torch"] and ("CPU only" in rows["torch"] or "CUDA" in rows["torch"])
    assert rows["cpu code path"] == torch.backends.cpu.get_cpu_capability()
    assert rows["torch threads"] == str(torch.get_num_threads())
    assert all(name in rows for name in env.PACKAGES)


def test_a_different_code_path_is_named_with_the_recorded_one(monkeypatch):
    monkeypatch.setattr(env, "cpu_capability", lambda: "NEON")
    notes = " ".join(env.differences())
    assert "NEON" in notes and "not tested" in notes and env.RECORDED["cpu_capability"] in notes
    monkeypatch.setattr(env, "cpu_capability", lambda: "AVX2")
    assert "one of the paths the suite is tested on" in " ".join(env.differences())


def test_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "helpers.env"], capture_output=True, text=True, check=True
    ).stdout
    assert "cpu code path" in out and "torch" in out


def test_setup_checks_its_arguments_before_seeding():
    import random

    import pytest

    import helpers

    random.seed(7)
    state = random.getstate()
    for kwargs, name in (({"seed": "a"}, "seed"), ({"seed": -1}, "seed"), ({"threads": 0}, "threads")):
        with pytest.raises(ValueError, match=f"^{name}: "):
            helpers.setup(**kwargs)
    assert random.getstate() == state  # nothing was seeded half-way
