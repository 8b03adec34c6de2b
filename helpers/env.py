"""What a question on a forum needs about this machine: `python -m helpers.env` prints it.

It also says whether torch takes the same CPU code path as the machine the stored notebook outputs were
recorded on. The suite checks the stored outputs on three paths (AVX512, AVX2 and DEFAULT); a path outside
those (an ARM laptop's, say) may print a figure that differs from the stored one: report it with this output.
"""

import os
import platform
import sys
from importlib import metadata

# The machine the stored outputs were recorded on (checked against constraints.txt by tests/test_project.py).
RECORDED = {"python": "3.11", "torch": "2.13.0+cpu", "cpu_capability": "AVX512"}
TESTED_PATHS = ("AVX512", "AVX2", "DEFAULT")  # make test-portable runs the notebooks on each
PACKAGES = ("numpy", "matplotlib", "ipywidgets", "scikit-learn", "jupyterlab", "ipykernel", "nbval", "voila")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "MPLBACKEND")


def version(package):
    """Installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_capability():
    """The SIMD code path torch's CPU kernels take here ('AVX512', 'AVX2', 'DEFAULT', 'NEON', ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def report():
    """The facts as (label, value) pairs, in the order they are printed."""
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
    rows = [
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("system", f"{platform.system()} {platform.release()} on {platform.machine()}"),
        ("torch", f"{torch.__version__}, {build}"),
        ("cpu code path", cpu_capability()),
        ("torch threads", str(torch.get_num_threads())),
        ("cpu cores", str(os.cpu_count())),
    ]
    rows += [(name, os.environ[name]) for name in THREAD_VARIABLES if name in os.environ]
    rows += [(name, version(name)) for name in PACKAGES]
    return rows


def differences():
    """Sentences on how this machine differs from the one the stored outputs were recorded on."""
    import torch

    notes = []
    path = cpu_capability()
    if path != RECORDED["cpu_capability"]:
        tested = (
            "one of the paths the suite is tested on" if path in TESTED_PATHS else "a path not tested here"
        )
        notes.append(
            f"torch takes the {path} code path here ({tested}); the stored outputs were recorded on "
            f"{RECORDED['cpu_capability']}. Figures are printed at a precision that holds on "
            f"{', '.join(TESTED_PATHS)}; if one differs on yours, please report it with this output."
        )
    if torch.__version__.split("+")[0] != RECORDED["torch"].split("+")[0]:
        notes.append(
            f"torch {torch.__version__} here; the stored outputs were recorded with {RECORDED['torch']} "
            "(`make env` installs the recorded versions from constraints.txt)."
        )
    if torch.version.cuda:
        notes.append("this torch is a CUDA build; the series only needs the CPU build (see the README).")
    if ".".join(platform.python_version_tuple()[:2]) != RECORDED["python"]:
        notes.append(
            f"Python {platform.python_version()} here; the outputs were recorded on {RECORDED['python']}."
        )
    return notes


def main():
    rows = report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    notes = differences()
    print()
    print("\n".join(f"note: {n}" for n in notes) if notes else "same setting as the recorded outputs")


if __name__ == "__main__":
    main()
