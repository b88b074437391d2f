"""Paths and the child-process environment, shared by fixtures and test helpers (no pytest imports)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_DIR = REPO / "app"


def subprocess_env() -> dict[str, str]:
    """Environment for child processes: this checkout's package first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APP_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def settled_audit(path: Path, *, until: Callable[[list[dict[str, object]]], bool] | None = None,
                  quiet: float = 0.3, timeout: float = 15.0) -> list[dict[str, object]]:
    """Another process's audit log once `until(events)` holds, or (without `until`) once it has stopped
    growing: its writer batches denials off the request path and fsyncs them, so a line may land some
    time after the response (seconds when the disk is busy)."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        if until is not None:
            if until(_audit_events(path)):
                break
        else:
            current = path.stat().st_size if path.exists() else 0
            if current == size:
                break
            size = current
        time.sleep(quiet)
    return _audit_events(path)


def _audit_events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[:text.rfind("\n") + 1]  # a batch being appended may end mid-line
    return [json.loads(line) for line in complete.splitlines() if line.strip()]
