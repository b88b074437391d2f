"""First start of the SlicerWeb module: install its pinned Python dependencies into Slicer's Python.

Imports nothing of SlicerWeb (its dependencies may be missing) and nothing of Slicer: the module
passes `slicer.util.pip_install`, which runs `PythonSlicer -m pip install ...` and raises
`subprocess.CalledProcessError` when pip fails (Base/Python/slicer/packaging.py ~526-590, ~784),
for example on a computer without network access.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"
# import name of each requirement (pynrrd imports as nrrd, pillow as PIL)
IMPORT_NAMES = {"quart": "quart", "hypercorn": "hypercorn", "authlib": "authlib", "pydicom": "pydicom",
                "pynrrd": "nrrd", "pillow": "PIL", "httpx": "httpx"}


def missing(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> list[str]:
    """Requirements whose package cannot be imported in this Python."""
    return [name for name, module in IMPORT_NAMES.items() if find_spec(module) is None]


def offline_hint() -> str:
    return (f"Install them once while online: in Slicer's Python console, "
            f"slicer.util.pip_install(['-r', r'{REQUIREMENTS}']); or, from a folder of wheels copied to this "
            f"computer: PythonSlicer -m pip install --no-index --find-links WHEEL_FOLDER -r \"{REQUIREMENTS}\"")


def ensure(pip_install: Callable[[list[str]], object],
           find_spec: Callable[[str], Any] = importlib.util.find_spec) -> str | None:
    """Install what is missing; None when every dependency imports, else the message to show the user."""
    absent = missing(find_spec)
    if not absent:
        return None
    try:
        pip_install(["-r", str(REQUIREMENTS)])
    except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
        failure = (f"pip exited with status {exc.returncode}; its output is in Slicer's log"
                   if isinstance(exc, subprocess.CalledProcessError) else str(exc))
        return (f"SlicerWeb needs Python packages that Slicer does not have ({', '.join(absent)}) and could not "
                f"install them ({failure}). Is this computer offline? {offline_hint()}")
    importlib.invalidate_caches()
    still = missing(find_spec)
    if still:
        return f"pip ran, but these SlicerWeb dependencies still do not import: {', '.join(still)}. {offline_hint()}"
    return None
