"""Paths and the child-process environment, shared by fixtures and test helpers (no pytest imports)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_DIR = REPO / "app"


def subprocess_env() -> dict[str, str]:
    """Environment for child processes: this checkout's package first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APP_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def settled_audit(path: Path, *, quiet: float = 0.3, timeout: float = 15.0) -> list[dict[str, object]]:
    """Another process's audit log once it has stopped growing (its writer batches denials off the
    request path, so a line may land a few milliseconds after the response)."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        current = path.stat().st_size if path.exists() else 0
        if current == size:
            break
        size = current
        time.sleep(quiet)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
