"""What the deploy/ scripts need from the machine, checked up front with one clear line each.

- `ensure_project_python(script)`: the scripts import the project's dependencies (httpx,
  cryptography, Quart), which live in the repository's `.venv`. Started with any other Python (the
  `#!/usr/bin/env python3` line picks the system one), a script re-execs itself with
  `.venv/bin/python`; with no venv it says which command creates it instead of a
  `ModuleNotFoundError` traceback.
- `proxy_binary(name)`: nginx lives in /usr/sbin, which a non-root user's PATH on Debian lacks, so
  the sbin directories are searched after PATH; a missing proxy names its Debian package.

Standard library only: this runs before the venv is known to be there.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VENV = REPO / ".venv"
REEXEC_MARK = "SLICERWEB_REEXEC"
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
DEBIAN_PACKAGES = {"nginx": "nginx", "caddy": "caddy", "openssl": "openssl"}


class MissingPrerequisite(RuntimeError):
    """Something the machine lacks; the message is the one line to print."""


def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_project_python(script: str) -> None:
    """Return if running in the project's venv; else exec `script` with it, or raise MissingPrerequisite."""
    if in_project_venv():
        return
    python = VENV / "bin" / "python"
    name = Path(script).name
    if not python.is_file():
        raise MissingPrerequisite(f"{name}: run `make venv` first (in {REPO}): {VENV} does not exist")
    if os.environ.get(REEXEC_MARK):  # exec'd once already and still elsewhere: a broken venv, not a loop
        raise MissingPrerequisite(f"{name}: {python} does not run inside {VENV}; "
                                  f"recreate it: rm -rf {VENV} && make venv")
    os.environ[REEXEC_MARK] = "1"
    os.execv(python, [str(python), str(Path(script).resolve()), *sys.argv[1:]])


def proxy_binary(name: str) -> str:
    """Absolute path of `name` (PATH, then the sbin directories), or raise MissingPrerequisite."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        package = DEBIAN_PACKAGES.get(name, name)
        raise MissingPrerequisite(f"{name} is not installed: install the Debian package '{package}' "
                                  f"(sudo apt-get install {package}, or deploy/install-system-deps --run {name})")
    return found
