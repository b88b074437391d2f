"""What the audit needs before it can start, each missing piece as one line naming the fix.
Tools only some areas need (nginx, caddy, wrk, testssl.sh) are reported by those areas instead."""

from __future__ import annotations

import importlib.util

PYTHON_PACKAGES = {"hypothesis": "hypothesis", "schemathesis": "schemathesis", "httpx": "httpx",
                   "slicerweb": "slicerweb", "pytest": "pytest"}


def missing() -> list[str]:
    lines = []
    for module, package in PYTHON_PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            lines.append(f"missing Python package {package!r}: run `make venv` (installs .[test]) and retry")
    return lines
